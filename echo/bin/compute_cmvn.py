"""Global mean and standard deviation of a dump dir's features, for CMVN at load time.

    python -m echo.bin.compute_cmvn --dump dump/train            # writes dump/train/cmvn.npz

Streams feats.scp in order (one matrix in memory at a time) and accumulates in float64. Every
dimension is normalised, the 3 pitch dims included. std is floored (--std-floor) so a constant
dimension cannot blow up. The .npz (mean, std, count, and the hash of the feats.scp it came from) is
written atomically; it is the last output of stage 1, so training takes it as the mark of a complete dump.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import kaldiio

from echo.data.datadir import DataDirError
from echo.features.cmvn import DEFAULT_STD_FLOOR, CMVN, CMVNAccumulator
from echo.features.config import FeatureError
from echo.io.assets import sha256_file


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dump", required=True, help="dump dir with feats.scp (the training set)")
    p.add_argument("--out", default=None, help="output .npz (default: DUMP/cmvn.npz)")
    p.add_argument("--std-floor", type=float, default=DEFAULT_STD_FLOOR, help="lower bound of std")
    return p


def compute_cmvn(feats_scp, std_floor: float = DEFAULT_STD_FLOOR) -> CMVN:
    acc = CMVNAccumulator()
    for utt, feats in kaldiio.load_scp_sequential(str(feats_scp)):
        try:
            acc.add(feats)
        except FeatureError as e:
            raise FeatureError(f"{feats_scp}: utt {utt}: {e}") from None
    return acc.finish(std_floor)


def main(argv=None) -> None:
    args = get_parser().parse_args(argv)
    dump = Path(args.dump)
    feats_scp = dump / "feats.scp"
    if not feats_scp.is_file():
        raise DataDirError(f"{feats_scp}: missing (run echo.bin.dump_feats first; an interrupted dump has none)")
    out = Path(args.out) if args.out else dump / "cmvn.npz"
    out.unlink(missing_ok=True)   # statistics of an earlier dump must not outlive a failure below
    cmvn = compute_cmvn(feats_scp, args.std_floor)
    cmvn.source_sha256 = sha256_file(feats_scp)
    cmvn.save(out)
    print(f"compute_cmvn: {cmvn.count} frames, {cmvn.dim} dims from {feats_scp} -> {out}")


if __name__ == "__main__":
    try:
        main()
    except (DataDirError, FeatureError) as e:
        sys.exit(f"compute_cmvn: {e}")
