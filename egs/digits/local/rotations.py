#!/usr/bin/env python3
"""The README's table: WER of each held-out-speaker rotation, with the mean and the worst over rotations.

    local/rotations.py exp/heldout_george exp/heldout_lucas ...      # one experiment per rotation
    local/rotations.py ../digits_h_*/exp/pitch --against ../digits_h_*/exp/aug   # a change, rotation by rotation

Each experiment is a finished `./run.sh` (stage 5 done): its held-out speaker is read from the utterances of
decode_fsdd_heldout/score_wer/result.json (every one is that speaker's), its WERs from the `total` of
decode_<set>/score_wer/result.json for fsdd_heldout, fsdd_test and synth_test. Prints a Markdown table; the
mean and the worst rows are over the rotations given. An experiment without a scored fsdd_heldout is an
error naming it (a half-finished rotation must not lower the mean).

With --against, each cell reads "before → after" (the --against experiments before, the others after; the
same held-out speakers on both sides, else an error), and a last row gives the paired change of the mean with
its standard error over rotations and how many rotations got better: on a new speaker one run's WER moves by a
few points from epoch to epoch (README), so a change is only worth reporting next to its spread.
"""
import argparse
import json
import statistics
import sys
from pathlib import Path

from echo.ablation.report import mean_std

SETS = ("fsdd_heldout", "fsdd_test", "synth_test")


def rotation(exp: Path) -> tuple[str, dict[str, float | None]]:
    """(held-out speaker, {set: WER in % or None where the set was not decoded})."""
    heldout = exp / "decode_fsdd_heldout" / "score_wer" / "result.json"
    if not heldout.is_file():
        raise SystemExit(f"{exp}: no scored fsdd_heldout ({heldout} missing): is stage 5 of this rotation done?")
    speakers = {u["spk"] for u in json.loads(heldout.read_text(encoding="utf-8"))["utterances"]}
    if len(speakers) != 1:
        raise SystemExit(f"{heldout}: expected the utterances of one held-out speaker, found {sorted(speakers)}")
    wers = {}
    for s in SETS:
        f = exp / f"decode_{s}" / "score_wer" / "result.json"
        wers[s] = json.loads(f.read_text(encoding="utf-8"))["total"]["err_rate"] if f.is_file() else None
    return speakers.pop(), wers


def paired(before: list[float], after: list[float]) -> str:
    """'Δ ± SE (k/n better)': the mean paired change after - before, its standard error over the n pairs."""
    d = [a - b for b, a in zip(before, after)]
    mean, std = mean_std(d)
    se = std / len(d) ** 0.5 if std is not None else float("nan")
    return f"{mean:+.1f} ± {se:.1f} ({sum(x < 0 for x in d)}/{len(d)} better)"


def table(after: dict[str, dict], before: dict[str, dict] | None = None) -> str:
    """A row per rotation (WER per set, or `before → after` with `before`), the mean and the worst over the
    rotations scored on that set (on both sides), and with `before` the paired change per set."""
    spks = list(after)
    if before is not None and sorted(before) != sorted(spks):
        raise SystemExit(f"--against holds out {sorted(before)}, the experiments {sorted(spks)}: "
                         "compare the same rotations")

    def cell(b, a):
        if a is None or (before is not None and b is None):
            return "—"
        return f"{a:.1f}" if before is None else f"{b:.1f} → {a:.1f}"

    # per set, the rotations scored on it (on both sides): the mean, worst and change are over these
    scored = {s: [k for k in spks if after[k][s] is not None and (before is None or before[k][s] is not None)]
              for s in SETS}

    def over_scored(s, f):
        b = [before[k][s] for k in scored[s]] if before is not None else None
        return f(b, [after[k][s] for k in scored[s]]) if scored[s] else "—"

    lines = ["|held-out speaker|" + "|".join(f"{s} WER" for s in SETS) + "|", "|---" * (len(SETS) + 1) + "|"]
    lines += [f"|{k}|" + "|".join(cell(before and before[k][s], after[k][s]) for s in SETS) + "|" for k in spks]
    for name, agg in (("mean", statistics.fmean), ("worst", max)):
        cells = [over_scored(s, lambda b, a: cell(b and agg(b), agg(a))) for s in SETS]
        lines.append(f"|**{name}** ({len(spks)} rotations)|" + "|".join(cells) + "|")
    if before is not None:
        lines.append("|**change** (paired, ± SE)|" + "|".join(over_scored(s, paired) for s in SETS) + "|")
    return "\n".join(lines)


def unique(rows: list[tuple[str, dict]], what: str) -> dict[str, dict]:
    seen = [spk for spk, _ in rows]
    if len(set(seen)) != len(seen):
        raise SystemExit(f"the same speaker is held out twice{what}: {seen}")
    return dict(rows)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("exps", nargs="+", type=Path, help="exp/<tag> of each rotation")
    p.add_argument("--against", nargs="+", type=Path, metavar="EXP",
                   help="exp/<tag> of each rotation before the change: cells become 'before → after'")
    args = p.parse_args(argv)
    after = unique([rotation(e) for e in args.exps], "")
    before = unique([rotation(e) for e in args.against], " in --against") if args.against else None
    print(table(after, before))
    return 0


if __name__ == "__main__":
    sys.exit(main())
