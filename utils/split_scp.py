#!/usr/bin/env python3
"""Split a file into contiguous pieces of nearly equal size (Kaldi's split_scp.pl).

    utils/split_scp.py [--utt2spk UTT2SPK] IN_FILE OUT_1 OUT_2 ... OUT_N

Concatenating the outputs gives the input back. With --utt2spk the lines of one speaker (which
must be contiguous in the input) never straddle two outputs.
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from echo.data import datadir  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--utt2spk", help="keep each speaker's lines in one output")
    parser.add_argument("in_file")
    parser.add_argument("outputs", nargs="+")
    args = parser.parse_args()
    n = len(args.outputs)
    rows = datadir.read_kv(args.in_file, allow_empty=True)
    # Groups of consecutive lines that must stay together: one line each, or one speaker each.
    groups: list[list[tuple[str, str]]] = []
    if args.utt2spk:
        utt2spk = datadir.read_kv_dict(args.utt2spk)
        seen = set()
        for key, value in rows:
            if key not in utt2spk:
                raise datadir.DataDirError(f"{args.in_file}: utterance not in {args.utt2spk} (key {key})")
            spk = utt2spk[key]
            if groups and utt2spk[groups[-1][-1][0]] == spk:
                groups[-1].append((key, value))
                continue
            if spk in seen:
                raise datadir.DataDirError(f"{args.in_file}: lines of speaker {spk} are not contiguous "
                                           f"(key {key}); sort by speaker or use utt ids prefixed by it")
            seen.add(spk)
            groups.append([(key, value)])
    else:
        groups = [[row] for row in rows]
    if n > len(groups):
        what = "speakers" if args.utt2spk else "lines"
        raise datadir.DataDirError(f"{args.in_file}: cannot split {len(groups)} {what} into {n} files")
    # Cut after the group whose cumulative size is closest to each ideal boundary k*total/n,
    # leaving at least one group for every remaining output.
    sizes = [len(g) for g in groups]
    total, cuts, done, start = sum(sizes), [], 0, 0
    for k in range(1, n):
        best, cum = None, done
        for i in range(start, len(groups) - (n - k)):
            cum += sizes[i]
            if best is None or abs(cum - k * total / n) < abs(best[1] - k * total / n):
                best = (i + 1, cum)
        cuts.append(best[0])
        start, done = best[0], best[1]
    bounds = [0] + cuts + [len(groups)]
    for out, a, b in zip(args.outputs, bounds, bounds[1:]):
        datadir.write_kv(out, [row for g in groups[a:b] for row in g], sort=False)


if __name__ == "__main__":
    datadir.run_cli(main)
