"""Writers for `result.txt` in NIST sclite's layout and `result.json` with the same numbers.

result.txt holds, like `sclite -i rm -o all stdout`:
  - the SYSTEM SUMMARY PERCENTAGES by SPEAKER box: SPKR, # Snt, # Wrd, Corr, Sub, Del, Ins, Err,
    S.Err per speaker, then Sum/Avg, Mean, S.D. and Median;
  - the alignment of every utterance, grouped by speaker:

        id: (utt1)
        Scores: (#C #S #D #I) 3 1 0 1
        REF:  the CAT sat *** down
        HYP:  the BAT sat ON  down
        Eval:     S       I

    correct units in their own case, errors upper-cased, `***` where one side has nothing.
"""
from __future__ import annotations

import json
from pathlib import Path

from echo.score.wer import SPACE, ScoreResult, UttScore, join_units
from echo.io import atomic


def _fmt(v, width: int, decimals: int = 1) -> str:
    if v is None:
        return "n/a".rjust(width)
    if isinstance(v, (int, str)):
        return str(v).rjust(width)
    return f"{v:.{decimals}f}".rjust(width)


def summary_box(result: ScoreResult, title: str = "") -> list[str]:
    """The per-speaker table, one string a line."""
    names = list(result.speakers) + ["Sum/Avg", " Mean", " S.D.", "Median"]
    w = max(len(n) for n in names + ["SPKR"])
    unit = "Wrd" if result.unit == "word" else "Chr"

    def row(name, snt, wrd, rates):
        cells = " ".join(_fmt(r, 6) for r in rates)
        return f"| {name:<{w}} | {_fmt(snt, 5)} {_fmt(wrd, 6)} | {cells} |"

    header = (f"| {'SPKR':<{w}} | {'# Snt':>5} {'# ' + unit:>6} | "
              + " ".join(f"{h:>6}" for h in ("Corr", "Sub", "Del", "Ins", "Err", "S.Err")) + " |")
    inner = len(header) - 2
    sep = "|" + "-" * (w + 2) + "+" + "-" * 14 + "+" + "-" * (inner - w - 18) + "|"
    double = "|" + "=" * inner + "|"

    def rates(c):
        return [c.corr_rate, c.sub_rate, c.del_rate, c.ins_rate, c.err_rate, c.snt_err_rate]

    lines = [
        "SYSTEM SUMMARY PERCENTAGES by SPEAKER".center(inner + 2),
        "",
        "," + "-" * inner + ".",
        "|" + title.center(inner)[:inner] + "|",
        "|" + "-" * inner + "|",
        header,
        sep,
    ]
    for spk, c in result.speakers.items():
        lines.append(row(spk, c.snt, c.wrd, rates(c)))
        lines.append(sep)
    lines[-1] = double
    t = result.total
    lines.append(row("Sum/Avg", t.snt, t.wrd, rates(t)))
    lines.append(double)
    stats = result.speaker_stats()
    rate_keys = ("corr_rate", "sub_rate", "del_rate", "ins_rate", "err_rate", "snt_err_rate")
    for label, key in ((" Mean", "mean"), (" S.D.", "sd"), ("Median", "median")):
        snt, wrd = stats["snt"][key], stats["wrd"][key]
        lines.append(row(label, snt, wrd, [stats[k][key] for k in rate_keys]))
    lines.append("`" + "-" * inner + "'")
    return lines


def _upper(unit: str | None) -> str | None:
    return unit if unit is None or unit == SPACE else unit.upper()


def alignment_lines(u: UttScore) -> list[str]:
    """`id:`, `Scores:`, `REF:`, `HYP:` and `Eval:` lines of one utterance."""
    ref_cells, hyp_cells, eval_cells = [], [], []
    for ref, hyp, op in u.columns:
        if op != "C":  # errors are upper-cased on both lines, as sclite does
            ref, hyp = _upper(ref), _upper(hyp)
        r = "*" * 3 if ref is None else ref
        h = "*" * 3 if hyp is None else hyp
        width = max(len(r), len(h))
        ref_cells.append(r.ljust(width))
        hyp_cells.append(h.ljust(width))
        eval_cells.append(("" if op == "C" else op).ljust(width))
    c = u.counts
    return [
        f"id: ({u.utt_id})",
        f"Scores: (#C #S #D #I) {c.cor} {c.sub} {c.dele} {c.ins}",
        ("REF:  " + " ".join(ref_cells)).rstrip(),
        ("HYP:  " + " ".join(hyp_cells)).rstrip(),
        ("Eval: " + " ".join(eval_cells)).rstrip(),
        "",
    ]


def result_text(result: ScoreResult, title: str = "") -> str:
    n = result.normalizer
    lines = summary_box(result, title)
    lines += [
        "",
        result.summary_line(),
        f"normalisation: lowercase={n.lowercase} remove_punctuation={n.remove_punctuation} "
        f"remove_space={n.remove_space}",
        "",
        "DUMP OF SYSTEM ALIGNMENT STRUCTURE",
        "",
        "Speakers:",
    ]
    lines += [f"  {i:4d}:  {spk}" for i, spk in enumerate(result.speakers)]
    lines.append("")
    spk = None
    for u in result.utts:
        if u.spk != spk:
            spk = u.spk
            lines += [f"Speaker sentences {list(result.speakers).index(spk):4d}:  {spk}   "
                      f"#utts: {result.speakers[spk].snt}", ""]
        lines += alignment_lines(u)
    return "\n".join(lines) + "\n"


def write_result(result: ScoreResult, out_dir: str | Path, title: str = "") -> None:
    """Write out_dir/result.txt, out_dir/result.json and sclite's ref.trn / hyp.trn (each atomically)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    trn = {side: "".join(f"{join_units(getattr(u, side), result.unit)} ({u.spk}-{u.utt_id})\n" for u in result.utts)
           for side in ("ref", "hyp")}
    atomic.write_text(out_dir / "ref.trn", trn["ref"])
    atomic.write_text(out_dir / "hyp.trn", trn["hyp"])
    atomic.write_text(out_dir / "result.json", json.dumps(result.as_dict(), indent=1, ensure_ascii=False) + "\n")
    atomic.write_text(out_dir / "result.txt", result_text(result, title))
