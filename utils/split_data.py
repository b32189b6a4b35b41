#!/usr/bin/env python3
"""Split a data dir into N data dirs for parallel jobs (Kaldi's split_data.sh).

    utils/split_data.py [--per-utt] DIR N      # -> DIR/split{N}/{1..N} or DIR/split{N}utt/{1..N}

Per speaker by default (a speaker's utterances stay in one part); --per-utt splits the utterance
list evenly. An existing split is reused only while DIR's files are unchanged.
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from echo.data import datadir  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-utt", action="store_true", help="split utterances, not speakers")
    parser.add_argument("data_dir")
    parser.add_argument("num_parts", type=int)
    args = parser.parse_args()
    datadir.split_data(args.data_dir, args.num_parts, per_utt=args.per_utt)


if __name__ == "__main__":
    datadir.run_cli(main)
