"""Average the n best epochs of an experiment into one model.

    python -m echo.bin.average --exp-dir exp/mytag --metric valid.acc --nbest 5
    → exp/mytag/valid.acc.ave_5best.pt (+ .json listing the epochs averaged)

The epochs are ranked by the validation metric in each epoch<N>.json sidecar (lower is better for
loss and cer, higher for acc); only epochs whose epoch<N>.pt still exists are candidates.
echo.bin.train does this itself at the end of training (train.nbest_average, train.best_metric).
"""
from __future__ import annotations

import argparse
import sys

from echo.train.checkpoint import average_nbest, nbest_epochs


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m echo.bin.average", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--exp-dir", required=True, help="experiment dir holding epoch<N>.pt and epoch<N>.json")
    p.add_argument("--metric", default="valid.loss", choices=["valid.loss", "valid.acc", "valid.cer"],
                   help="ranking criterion (default: valid.loss)")
    p.add_argument("--nbest", type=int, default=5, help="how many epochs to average (default: 5)")
    args = p.parse_args(argv)
    if args.nbest < 1:
        p.error("--nbest must be >= 1")
    try:
        best = nbest_epochs(args.exp_dir, args.metric, args.nbest)
        out = average_nbest(args.exp_dir, args.metric, args.nbest)
    except (FileNotFoundError, RuntimeError, ValueError) as e:
        print(f"average: {e}", file=sys.stderr)
        return 1
    print(f"{out}: average of epochs {' '.join(str(e) for e, _ in best)} "
          f"({args.metric} {', '.join(f'{v:.4g}' for _, v in best)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
