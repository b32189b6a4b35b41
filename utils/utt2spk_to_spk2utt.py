#!/usr/bin/env python3
"""utt2spk to spk2utt (speakers and their utterances in C byte order).

    utils/utt2spk_to_spk2utt.py [utt2spk] > spk2utt     (reads stdin without a file)
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from echo.data import datadir  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("utt2spk", nargs="?", default="/dev/stdin")
    args = parser.parse_args()
    utt2spk = datadir.read_kv_dict(args.utt2spk)
    for spk, utts in datadir.utt2spk_to_spk2utt(utt2spk).items():
        print(spk, " ".join(utts))


if __name__ == "__main__":
    datadir.run_cli(main)
