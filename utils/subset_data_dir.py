#!/usr/bin/env python3
"""Make a data dir from part of another (Kaldi's subset_data_dir.sh).

    utils/subset_data_dir.py --first N     SRC DEST   # first N utterances (C order)
    utils/subset_data_dir.py --last N      SRC DEST
    utils/subset_data_dir.py --utt-list F  SRC DEST   # utterances listed in F (first word a line)
    utils/subset_data_dir.py --spk-list F  SRC DEST   # every utterance of the speakers in F

Every per-utt file is filtered, spk2utt rebuilt, wav.scp limited to the recordings still used.
DEST is replaced as a whole.
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from echo.data import datadir  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    choice = parser.add_mutually_exclusive_group(required=True)
    choice.add_argument("--first", type=int, metavar="N")
    choice.add_argument("--last", type=int, metavar="N")
    choice.add_argument("--utt-list", metavar="FILE")
    choice.add_argument("--spk-list", metavar="FILE")
    parser.add_argument("src")
    parser.add_argument("dest")
    args = parser.parse_args()
    dest = datadir.subset_data_dir(args.src, args.dest, first=args.first, last=args.last,
                                   utt_list=args.utt_list, spk_list=args.spk_list)
    n = len(datadir.read_kv(Path(dest) / "utt2spk"))
    print(f"subset_data_dir.py: {n} utterances of {args.src} written to {dest}")


if __name__ == "__main__":
    datadir.run_cli(main)
