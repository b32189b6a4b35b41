#!/usr/bin/env python3
"""Errors per speaker and per voice, beside the WER/CER of asr.sh's stage 5, so a user sees who fails.

    local/score.py --exp exp/<tag> [--sets "synth_test fsdd_test fsdd_heldout"] [--data dump]

Reads the per-utterance counts of exp/<tag>/decode_<set>/score_wer/result.json (sclite's per-speaker
table, echo.bin.score) and appends a "### WER per speaker / voice" section to exp/<tag>/RESULTS.md
(replaced, not repeated, when scored again): FSDD rows are speakers; synthetic speakers
(<language>_<variant>_pNN: an espeak-ng voice at one pitch) are pooled into their voice variant, and
Speech Commands' speakers (sc-<hash>, hundreds of people saying a digit or two each) into one row.
Rows of a set run from the worst to the best, so the failing voices come first.
"""
import json
import re
import sys

from echo.score.recipe_extras import decoded_sets, percent, replace_section, score_parser, table_section

MARK = "<!-- digits: local/score.py -->"
SYNTH_SPEAKER = re.compile(r"[^_]+_(?P<variant>.+)_p\d\d")
SPEECH_COMMANDS_SPEAKERS = "Speech Commands speakers (pooled)"


def group_of(spk: str) -> str:
    if spk.startswith("sc-"):
        return SPEECH_COMMANDS_SPEAKERS
    m = SYNTH_SPEAKER.fullmatch(spk)
    return f"voice {m['variant']}" if m else spk


def per_group(result: dict) -> dict[str, dict]:
    """{speaker or voice: {snt, wrd, err, snt_err}} from a result.json's utterances."""
    out: dict[str, dict] = {}
    for u in result["utterances"]:
        g = out.setdefault(group_of(u["spk"]), dict(snt=0, wrd=0, err=0, snt_err=0))
        err = u["sub"] + u["dele"] + u["ins"]
        g["snt"] += 1
        g["wrd"] += u["cor"] + u["sub"] + u["dele"]
        g["err"] += err
        g["snt_err"] += int(err > 0)
    return out


def main(argv=None) -> int:
    args = score_parser(__doc__).parse_args(argv)
    rows = []
    for name, _, _, hyp in decoded_sets(args):
        path = hyp.parent / "score_wer" / "result.json"
        if not path.is_file():
            sys.exit(f"local/score.py: {path} is missing (asr.sh stage 5 writes it)")
        groups = per_group(json.loads(path.read_text(encoding="utf-8")))
        wer = {k: (100 * g["err"] / g["wrd"] if g["wrd"] else None) for k, g in groups.items()}
        for k in sorted(groups, key=lambda k: (-(wer[k] or 0), k)):
            g = groups[k]
            rows.append(f"|decode_{name}|{k}|{g['snt']}|{g['wrd']}|{g['err']}|{percent(wer[k])}|")
            print(f"{name} {k}: WER {percent(wer[k])} % ({g['err']}/{g['wrd']})")
    replace_section(args.exp / "RESULTS.md", MARK, table_section("WER per speaker / voice", [
        "FSDD rows are speakers; synthetic speakers are pooled into their espeak-ng voice variant (all pitches),",
        "Speech Commands' speakers into one row.",
        "Worst first within each set. Err = substitutions + deletions + insertions."],
        ["dataset", "speaker / voice", "Snt", "Wrd", "Err", "WER"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
