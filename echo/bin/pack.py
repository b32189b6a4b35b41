"""Pack a trained experiment into one model file that decodes on its own (stage 5 writes exp/<tag>/model.echo).

    python -m echo.bin.pack --exp exp/<tag> [--checkpoint valid.loss.ave_5best.pt] \\
        [--decode-config conf/decode.yaml] --out model.echo

The file holds the weights and model config, the token list (with the sentencepiece model), the CMVN
statistics, the feature config, the decoding options, echo's version and the training data's name; see
echo/io/packed.py for its layout. It loads with torch.load(weights_only=True). Transcribe with it:
python -m echo.bin.transcribe --model model.echo audio/ (or echo-transcribe).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from echo.decode.options import check_options, read_config
from echo.io import atomic
from echo.io.packed import pack_experiment, write_packed


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m echo.bin.pack", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--exp", required=True, type=Path, help="experiment dir exp/<tag> (stage 3's output)")
    p.add_argument("--checkpoint", help="checkpoint in --exp (or a path); default: the n-best average the "
                                        "trainer wrote, else the latest epoch<N>.pt")
    p.add_argument("--decode-config", type=Path,
                   help="decoding options to ship (conf/decode.yaml); default: echo's defaults")
    p.add_argument("--out", required=True, type=Path, help="the packed model file, e.g. exp/<tag>/model.echo")
    return p


def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    decode_opts = check_options(read_config(args.decode_config)) if args.decode_config else {}
    try:
        obj = pack_experiment(args.exp, args.checkpoint, decode_opts)
    except (FileNotFoundError, ValueError, atomic.CorruptFileError) as e:
        raise SystemExit(f"echo.bin.pack: {e}") from None
    write_packed(obj, args.out)
    n_params = sum(v.numel() for v in obj["model"]["state"].values())
    size = args.out.stat().st_size
    print(f"{args.out}: {obj['model']['checkpoint']} of {args.exp} ({n_params} parameters, "
          f"{len(obj['tokens']['list'])} {obj['tokens']['type']} tokens, {size / 1e6:.1f} MB), "
          f"packed format version {obj['format_version']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
