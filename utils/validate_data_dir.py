#!/usr/bin/env python3
"""Check a Kaldi data dir: files, line format, C-order sorted unique keys, agreeing utterance lists.

    utils/validate_data_dir.py [--no-feats] [--no-wav] [--no-text] DIR

Exit 0 with a one-line summary when valid; exit 1 with every problem as FILE:LINE: reason (key K).
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from echo.data import datadir  # noqa: E402
from echo.data.validate import validate_data_dir  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data_dir")
    parser.add_argument("--no-feats", action="store_true", help="feats.scp is not required")
    parser.add_argument("--no-wav", action="store_true", help="wav.scp is not required")
    parser.add_argument("--no-text", action="store_true", help="text is not required")
    args = parser.parse_args()
    print(validate_data_dir(args.data_dir, no_feats=args.no_feats, no_wav=args.no_wav,
                                    no_text=args.no_text))


if __name__ == "__main__":
    datadir.run_cli(main)
