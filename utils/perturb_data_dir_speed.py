#!/usr/bin/env python3
"""Speed-perturb a data dir (Kaldi's perturb_data_dir_speed.sh; echo.data.perturb).

    utils/perturb_data_dir_speed.py 0.9 data/train data/train_sp0.9

Ids get the prefix sp0.9-, segments and durations are divided by 0.9, and wav.scp entries get sox's
`speed 0.9` effect, which echo applies itself when it reads the audio (no sox, no audio written).
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from echo.data import datadir  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("factor", help="speed factor, e.g. 0.9 (also the id prefix sp0.9-)")
    parser.add_argument("src")
    parser.add_argument("dest")
    args = parser.parse_args()
    from echo.data.perturb import perturb_data_dir_speed
    print(f"perturb_data_dir_speed.py: {perturb_data_dir_speed(args.factor, args.src, args.dest)}")


if __name__ == "__main__":
    datadir.run_cli(main)
