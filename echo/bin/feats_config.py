"""Merge feature configs into the one a dump uses (stage 1 of asr.sh), checked before any audio is read.

    python -m echo.bin.feats_config conf/fbank.yaml conf/pitch.yaml --out dump/conf/feats.yaml

Later files override earlier ones key by key; unknown keys and bad values are errors naming the file.
The output lists every option (defaults included) and is written atomically.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from echo.features.config import FeatureConfig, FeatureError


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m echo.bin.feats_config", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("configs", nargs="+", type=Path, help="feature config YAML files, later ones override")
    p.add_argument("--out", required=True, type=Path, help="the merged config to write")
    args = p.parse_args(argv)
    try:
        FeatureConfig.from_yaml(*args.configs).to_yaml(args.out)
    except FeatureError as e:
        sys.exit(f"feats_config: {e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
