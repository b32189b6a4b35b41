#!/usr/bin/env python3
"""The README's table: WER of each held-out-speaker rotation, with the mean and the worst over rotations.

    local/rotations.py exp/heldout_george exp/heldout_lucas ...      # one experiment per rotation

Each experiment is a finished `./run.sh` (stage 5 done): its held-out speaker is read from the utterances of
decode_fsdd_heldout/score_wer/result.json (every one is that speaker's), its WERs from the `total` of
decode_<set>/score_wer/result.json for fsdd_heldout, fsdd_test and synth_test. Prints a Markdown table; the
mean and the worst rows are over the rotations given. An experiment without a scored fsdd_heldout is an
error naming it (a half-finished rotation must not lower the mean).
"""
import argparse
import json
import statistics
import sys
from pathlib import Path

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


def table(rows: list[tuple[str, dict[str, float | None]]]) -> str:
    cell = lambda x: "—" if x is None else f"{x:.1f}"   # noqa: E731
    lines = ["|held-out speaker|" + "|".join(f"{s} WER" for s in SETS) + "|", "|---" * (len(SETS) + 1) + "|"]
    lines += [f"|{spk}|" + "|".join(cell(w[s]) for s in SETS) + "|" for spk, w in rows]
    for name, agg in (("mean", statistics.fmean), ("worst", max)):
        vals = [[w[s] for _, w in rows if w[s] is not None] for s in SETS]
        lines.append(f"|**{name}** ({len(rows)} rotations)|" + "|".join(cell(agg(v) if v else None) for v in vals) + "|")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("exps", nargs="+", type=Path, help="exp/<tag> of each rotation")
    args = p.parse_args(argv)
    rows = [rotation(e) for e in args.exps]
    seen = [spk for spk, _ in rows]
    if len(set(seen)) != len(seen):
        raise SystemExit(f"the same speaker is held out twice: {seen}")
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
