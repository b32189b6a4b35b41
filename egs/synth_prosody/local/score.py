#!/usr/bin/env python3
"""Final-punctuation accuracy of the decoded synth_prosody sets, beside the WER and CER of asr.sh's stage 5.

    local/score.py --exp exp/<tag> [--sets "test"] [--data dump]

For each set, scores exp/<tag>/decode_<set>/text against <data>/<set>/text and writes
  exp/<tag>/decode_<set>/score_punct/result.{txt,json}: accuracy of the final "." / "?" (statement or
      question; 50% by guessing), its recall for each mark and the confusion (echo.score.punct);
  exp/<tag>/decode_<set>/score_wer_words/: the WER of the words alone, the final mark removed from
      both sides (sclite layout, echo.score.wer), so that words and intonation are judged apart.
A "### Final punctuation" section at the end of exp/<tag>/RESULTS.md lists them (replaced, not
repeated, when scored again). asr.sh's own WER counts the mark as one more word.
"""
import argparse
import os
import sys
from pathlib import Path

from echo.data.datadir import read_kv_dict
from echo.score.punct import score_final_punct, strip_final_punct, write_punct_result
from echo.score.sclite import write_result
from echo.score.wer import score

MARK = "<!-- synth_prosody: local/score.py -->"


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
    p.add_argument("--data", type=Path, default=Path("dump"), help="where <set>/text and utt2spk are (default: dump)")
    args = p.parse_args(argv)
    rows = []
    fmt = lambda x: "n/a" if x is None else f"{x:.1f}"  # noqa: E731
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
        punct = score_final_punct(refs, hyps)
        out = write_punct_result(punct, hyp.parent / "score_punct", title=str(hyp))
        print(f"{punct.summary_line()} {out}")
        utt2spk_path = args.data / name / "utt2spk"
        utt2spk = read_kv_dict(utt2spk_path) if utt2spk_path.is_file() else None
        words = score({u: strip_final_punct(t) for u, t in refs.items()},
                      {u: strip_final_punct(t) for u, t in hyps.items()}, utt2spk, unit="word")
        write_result(words, hyp.parent / "score_wer_words", title=f"{hyp} (final mark removed)")
        print(f"{words.summary_line()} (words only) {hyp.parent / 'score_wer_words' / 'result.txt'}")
        rows.append(f"|decode_{name}|{punct.snt}|{punct.accuracy:.1f}|{fmt(punct.recall('.'))}|"
                    f"{fmt(punct.recall('?'))}|{fmt(words.total.err_rate)}|")
    replace_section(args.exp / "RESULTS.md", "\n".join([
        "### Final punctuation", "",
        "Accuracy of the final mark (statement `.` or question `?`; guessing: 50%), its recall per mark, and the",
        "WER of the words alone (the mark removed from both sides).", "",
        "|dataset|Snt|Acc|Recall .|Recall ?|WER (words)|", "|---|---|---|---|---|---|", *rows, ""]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
