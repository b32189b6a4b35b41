"""The table and figures of an ablation: exp/ablation/ABLATION.md and exp/ablation/images/*.png.

    python -m echo.bin.ablation_report exp/ablation [--configs "baseline theta_frame"] [--seeds 2]
        [--command "./ablation.sh ..."] [--reference baseline] [--utt UTT_ID] [--no-images]

Reads every experiment exp/ablation/<config>_seed<k>/ (as egs/TEMPLATE/ablation.sh makes them):
- metrics: every exp/ablation/<run>/decode_<set>/score_<name>/result.json, generically: sclite's
  {"total": {"err_rate": ...}} gives WER (score_wer), CER (score_cer), "WER words" (score_wer_words);
  any other "*error_rate" key (TER and SylER of score_tone) or "accuracy" (punct acc of score_punct),
  at the top level or under "total", becomes a column too; all are percentages;
- #params from decode_info.json (else counted from the checkpoint), updates from the epoch<N>.json
  sidecars, training time from train.log (the span of each training session, resumed ones added up),
  the feature layout from feats.yaml and what each config changes from config.yaml.
One row per config: mean ± sample std (n − 1) over its seeds, the best mean of each column in bold;
then how each config differs from the reference config, and every run's own numbers.

Figures (matplotlib, PNG), drawn from one test utterance (--utt, else the first in C order with a
third of its frames voiced): curves.png (validation loss/accuracy/CER of every config overlaid),
metrics.png (test metrics per config), spectrogram.png (spectrogram, F0 and voicing), rotary.png
(similarity of encoder frames under standard θ and F0-driven θ; rotary_<config>.png with a trained
model's learned θ0 and g), gates.png (gate statistics and learned pitch parameters by epoch), and
attention.png (self-attention per layer of a pitch-bias model, with its bias and with λ = 0).
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from echo.ablation.report import write_report


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m echo.bin.ablation_report", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("ablation_dir", type=Path, help="exp/ablation: holds <config>_seed<k>/ experiments")
    p.add_argument("--configs", help="space-separated configs to report, in this order (default: all found)")
    p.add_argument("--seeds", type=int, help="report seeds 0..N-1 only (default: all found)")
    p.add_argument("--command", help="the command that made the experiments, quoted in ABLATION.md")
    p.add_argument("--reference", help="config the differences are taken from (default: baseline, else the first)")
    p.add_argument("--utt", help="test utterance of the figures (default: the first, C order, a third voiced)")
    p.add_argument("--no-images", action="store_true", help="write ABLATION.md only")
    p.add_argument("--out", type=Path, help="default: ABLATION_DIR/ABLATION.md")
    p.add_argument("--curve-target", action="append", default=[], metavar="KEY=VALUE",
                   help="learning curves: report the updates to reach KEY <= VALUE (e.g. valid.cer=0.1; "
                        "repeatable; lower-is-better keys of epoch<N>.json)")
    args = p.parse_args(argv)
    curve_targets = {}
    for item in args.curve_target:
        key, sep, value = item.partition("=")
        try:
            curve_targets[key] = float(value) if sep and key else float("nan")
        except ValueError:
            curve_targets[key] = float("nan")
        if not math.isfinite(curve_targets[key]):
            p.error(f"--curve-target must be KEY=NUMBER, got {item!r}")
        if key.endswith("acc"):
            p.error(f"--curve-target {key}: only lower-is-better metrics (valid.loss, valid.cer, ...)")
    if args.seeds is not None and args.seeds < 1:
        p.error("--seeds must be >= 1")
    configs = args.configs.split() if args.configs else None
    out = write_report(args.ablation_dir, configs, args.seeds, args.command, args.reference, args.utt,
                       not args.no_images, args.out, curve_targets)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
