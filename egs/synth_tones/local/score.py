#!/usr/bin/env python3
"""Tone error rate of the decoded synth_tones sets, beside the WER and CER of asr.sh's stage 5.

    local/score.py --exp exp/<tag> [--sets "test"] [--data dump]

For each set, scores exp/<tag>/decode_<set>/text against <data>/<set>/text with echo.score.tones and
writes exp/<tag>/decode_<set>/score_tone/result.{txt,json}: the tone error rate (TER: syllable right,
tone wrong, over the syllables whose base is right; 75% when guessing among four tones), the
syllable error rate without tones (SylER) and the tone confusion. A "### TER" section at the end of
exp/<tag>/RESULTS.md lists them (replaced, not repeated, when scored again).
"""
import sys

from echo.score.recipe_extras import decoded_sets, percent, replace_section, score_parser, table_section
from echo.score.tones import score_tones, write_tone_result

MARK = "<!-- synth_tones: local/score.py -->"


def main(argv=None) -> int:
    args = score_parser(__doc__).parse_args(argv)
    rows = []
    for name, refs, hyps, hyp in decoded_sets(args):
        result = score_tones(refs, hyps)
        out = write_tone_result(result, hyp.parent / "score_tone", title=str(hyp))
        print(f"{result.summary_line()} {out}")
        t = result.total
        rows.append(f"|decode_{name}|{t.snt}|{t.syllables}|{percent(t.syllable_error_rate)}|{t.base_correct}|"
                    f"{t.tone_errors}|{percent(t.tone_error_rate)}|")
    replace_section(args.exp / "RESULTS.md", MARK, table_section("TER", [
        "Tone error rate: syllable right, tone wrong, over the syllables whose base is right (guessing: 75%).",
        "SylER: syllable error rate with the tones removed."],
        ["dataset", "Snt", "Syl", "SylER", "Right bases", "Tone errors", "TER"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
