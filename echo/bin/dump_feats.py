"""Dump fbank (+pitch) features and F0 of a Kaldi data dir to ark/scp, in nj parallel jobs (stage 1).

    python -m echo.bin.dump_feats --data data/train --out dump/train --conf conf/fbank.yaml --nj 4

What it writes, and how bad utterances and reruns are handled: echo/features/dump.py.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from echo.data.datadir import DataDirError
from echo.data.validate import validate_data_dir
from echo.features.config import FeatureConfig, FeatureError
from echo.features.dump import DumpError, dump_data_dir, dump_part
from echo.io import jobs


def str2bool(value: str) -> bool:
    if value.lower() in ("true", "1", "yes"):
        return True
    if value.lower() in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {value!r}")


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="Kaldi data dir (wav.scp, utt2spk, optional segments, text)")
    p.add_argument("--out", required=True, help="dump dir to write, e.g. dump/train")
    p.add_argument("--conf", required=True, help="feature config YAML (echo.features.config.FeatureConfig)")
    p.add_argument("--nj", type=int, default=1, help="parallel jobs (through utils/run.py)")
    p.add_argument("--max-jobs", type=int, default=None, help="at most this many jobs at once (utils/run.py)")
    p.add_argument("--cmd", default=None,
                   help='job runner with the run.pl interface (default: utils/run.py of this repository), '
                        'e.g. "utils/run.py --backend slurm"')
    p.add_argument("--skip-bad", type=str2bool, default=False,
                   help="true: drop bad utterances (listed in OUT/bad_utts) and succeed; false: fail listing them")
    p.add_argument("--write-utt2dur", action="store_true", help="also write utt2dur (seconds, after segmenting)")
    p.add_argument("--job-part", type=int, default=None,
                   help="internal: worker mode for job JOB; --data is the split part, --out the dump dir")
    return p


def main(argv=None) -> None:
    args = get_parser().parse_args(argv)
    data_dir, out_dir = Path(args.data), Path(args.out)
    if args.job_part is not None:   # worker: the master checks bad_utts.JOB after all jobs end
        with jobs.job_lock(out_dir):
            dump_part(data_dir, out_dir, FeatureConfig.from_yaml(args.conf), args.job_part, args.write_utt2dur)
        return
    conf = FeatureConfig.from_yaml(args.conf)
    print(validate_data_dir(data_dir, no_feats=True, no_text=True), flush=True)   # as Kaldi's make_fbank.sh
    try:
        dump_data_dir(data_dir, out_dir, conf, args.nj, args.cmd, args.max_jobs, args.skip_bad, args.write_utt2dur)
    except DumpError as e:
        raise SystemExit(f"dump_feats: {e}") from None


if __name__ == "__main__":
    try:
        main()
    except (DataDirError, FeatureError) as e:
        sys.exit(f"dump_feats: {e}")
