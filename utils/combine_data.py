#!/usr/bin/env python3
"""Combine data dirs into one (Kaldi's combine_data.sh).

    utils/combine_data.py DEST SRC1 SRC2 ...

A file is combined only when every source has it (a note says which were left out); an utterance
id in two sources is an error. DEST is replaced as a whole.
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from echo.data import datadir  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dest")
    parser.add_argument("srcs", nargs="+")
    args = parser.parse_args()
    for note in datadir.combine_data(args.dest, args.srcs):
        print(f"combine_data.py: {note}", file=sys.stderr)
    n = len(datadir.read_kv(Path(args.dest) / "utt2spk"))
    print(f"combine_data.py: {n} utterances from {len(args.srcs)} dirs written to {args.dest}")


if __name__ == "__main__":
    datadir.run_cli(main)
