#!/usr/bin/env python3
"""Tone error rate of the decoded synth_tones sets, beside the WER and CER of asr.sh's stage 5.

    local/score.py --exp exp/<tag> [--sets "test"] [--data dump]

For each set, scores exp/<tag>/decode_<set>/text against <data>/<set>/text with echo.score.tones and
writes exp/<tag>/decode_<set>/score_tone/result.{txt,json}: the tone error rate (TER: syllable right,
tone wrong, over the syllables whose base is right; 75% when guessing among four tones), the
syllable error rate without tones (SylER) and the tone confusion. A "### TER" section at the end of
exp/<tag>/RESULTS.md lists them (replaced, not repeated, when scored again).
"""
import argparse
import os
import sys
from pathlib import Path

from echo.data.datadir import read_kv_dict
from echo.score.tones import score_tones, write_tone_result

MARK = "<!-- synth_tones: local/score.py -->"


def replace_section(results_md: Path, section: str) -> None:
    """Appends `section` to RESULTS.md, replacing what an earlier run of this script appended."""
    text = results_md.read_text(encoding="utf-8") if results_md.is_file() else ""
    text = text.split(MARK)[0].rstrip("\n")
    tmp = results_md.with_name(f".{results_md.name}.tmp{os.getpid()}")
    tmp.write_text(f"{text}\n\n{MARK}\n{section}" if text else f"{MARK}\n{section}", encoding="utf-8")
    tmp.replace(results_md)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--exp", type=Path, required=True, help="experiment dir exp/<tag> with decode_<set>/text")
    p.add_argument("--sets", default="test", help="space-separated test sets (default: test)")
    p.add_argument("--data", type=Path, default=Path("dump"), help="where <set>/text is (default: dump)")
    args = p.parse_args(argv)
    rows = []
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
        result = score_tones(refs, hyps)
        out = write_tone_result(result, hyp.parent / "score_tone", title=str(hyp))
        print(f"{result.summary_line()} {out}")
        t = result.total
        fmt = lambda x: "n/a" if x is None else f"{x:.1f}"  # noqa: E731
        rows.append(f"|decode_{name}|{t.snt}|{t.syllables}|{fmt(t.syllable_error_rate)}|{t.base_correct}|"
                    f"{t.tone_errors}|{fmt(t.tone_error_rate)}|")
    replace_section(args.exp / "RESULTS.md", "\n".join([
        "### TER", "",
        "Tone error rate: syllable right, tone wrong, over the syllables whose base is right (guessing: 75%).",
        "SylER: syllable error rate with the tones removed.", "",
        "|dataset|Snt|Syl|SylER|Right bases|Tone errors|TER|", "|---|---|---|---|---|---|---|", *rows, ""]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
