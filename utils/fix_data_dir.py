#!/usr/bin/env python3
"""Make a Kaldi data dir valid: sort, drop repeated keys, malformed lines and utterances missing
from any file, rebuild spk2utt. The original files are kept in DIR/.backup/.

    utils/fix_data_dir.py DIR

Prints how many lines each file lost.
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from echo.data import datadir  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data_dir")
    args = parser.parse_args()
    report = datadir.fix_data_dir(args.data_dir)
    for name, (before, after) in report.items():
        lost = f"lost {before - after}" if before >= after else f"gained {after - before}"
        print(f"fix_data_dir.py: {args.data_dir}/{name}: {before} -> {after} lines ({lost})")
    print(f"fix_data_dir.py: originals are in {Path(args.data_dir) / '.backup'}")


if __name__ == "__main__":
    datadir.run_cli(main)
