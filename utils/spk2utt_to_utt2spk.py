#!/usr/bin/env python3
"""spk2utt to utt2spk (sorted by utterance in C byte order).

    utils/spk2utt_to_utt2spk.py [spk2utt] > utt2spk     (reads stdin without a file)
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from echo.data import datadir  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("spk2utt", nargs="?", default="/dev/stdin")
    args = parser.parse_args()
    spk2utt = datadir.read_kv_dict(args.spk2utt)
    for utt, spk in datadir.spk2utt_to_utt2spk(spk2utt).items():
        print(utt, spk)


if __name__ == "__main__":
    datadir.run_cli(main)
