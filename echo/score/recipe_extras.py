"""What a recipe's own scoring script (egs/<corpus>/local/score.py) shares: its options, the decoded
sets it reads, and the section it appends to exp/<tag>/RESULTS.md.

A recipe scores something asr.sh's WER/CER does not (tones, final punctuation) and writes it beside
them; the corpus-specific scoring stays in the recipe:

    args = score_parser(__doc__).parse_args(argv)
    rows = []
    for name, refs, hyps, hyp_path in decoded_sets(args):
        ...  # score refs against hyps, write hyp_path.parent/score_<x>/, add a table row
    replace_section(args.exp / "RESULTS.md", MARK, table_section(title, notes, columns, rows))
"""
import argparse
import sys
from collections.abc import Iterator
from pathlib import Path

from echo.data.datadir import read_kv_dict
from echo.io import atomic


def score_parser(description: str, data_help: str = "where <set>/text is") -> argparse.ArgumentParser:
    """--exp exp/<tag>, --sets "test ...", --data dump."""
    p = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--exp", type=Path, required=True, help="experiment dir exp/<tag> with decode_<set>/text")
    p.add_argument("--sets", default="test", help="space-separated test sets (default: test)")
    p.add_argument("--data", type=Path, default=Path("dump"), help=f"{data_help} (default: dump)")
    return p


def decoded_sets(args: argparse.Namespace) -> Iterator[tuple[str, dict[str, str], dict[str, str], Path]]:
    """(set name, refs, hyps, hypothesis file) for each of args.sets, refs from <data>/<set>/text and
    hyps from <exp>/decode_<set>/text (an empty hypothesis is allowed). Exits naming the file when one
    is missing, or when the two do not hold the same utterances."""
    for name in args.sets.split():
        ref, hyp = args.data / name / "text", args.exp / f"decode_{name}" / "text"
        for path in (ref, hyp):
            if not path.is_file():
                sys.exit(f"local/score.py: {path} is missing (decode with asr.sh stage 4 first)")
        refs, hyps = read_kv_dict(ref), read_kv_dict(hyp, allow_empty=True)
        missing, extra = sorted(set(refs) - set(hyps)), sorted(set(hyps) - set(refs))
        if missing or extra:
            sys.exit(f"local/score.py: {hyp} and {ref} differ: {len(missing)} utterances without a hypothesis "
                     f"(e.g. {missing[:3]}), {len(extra)} without a reference (e.g. {extra[:3]})")
        yield name, refs, hyps, hyp


def replace_section(results_md: Path, mark: str, section: str) -> None:
    """Appends `mark` and `section` to RESULTS.md, replacing whatever followed `mark` there before (an
    earlier run of the same script), atomically."""
    text = results_md.read_text(encoding="utf-8") if results_md.is_file() else ""
    text = text.split(mark)[0].rstrip("\n")
    atomic.write_text(results_md, f"{text}\n\n{mark}\n{section}" if text else f"{mark}\n{section}")


def table_section(title: str, notes: list[str], columns: list[str], rows: list[str]) -> str:
    """A RESULTS.md section: "### title", the notes, and a Markdown table of `columns` whose `rows`
    ("|a|b|") the caller formats."""
    header = "|" + "|".join(columns) + "|"
    rule = "|" + "|".join("---" for _ in columns) + "|"
    return "\n".join([f"### {title}", "", *notes, "", header, rule, *rows, ""])


def percent(x: float | None) -> str:
    """A rate for a RESULTS.md table: one decimal, or "n/a" where it is undefined."""
    return "n/a" if x is None else f"{x:.1f}"
