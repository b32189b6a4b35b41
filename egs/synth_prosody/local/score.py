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
import sys

from echo.data.datadir import read_kv_dict
from echo.score.punct import score_final_punct, strip_final_punct, write_punct_result
from echo.score.recipe_extras import decoded_sets, percent, replace_section, score_parser, table_section
from echo.score.sclite import write_result
from echo.score.wer import score

MARK = "<!-- synth_prosody: local/score.py -->"


def main(argv=None) -> int:
    args = score_parser(__doc__, data_help="where <set>/text and utt2spk are").parse_args(argv)
    rows = []
    for name, refs, hyps, hyp in decoded_sets(args):
        punct = score_final_punct(refs, hyps)
        out = write_punct_result(punct, hyp.parent / "score_punct", title=str(hyp))
        print(f"{punct.summary_line()} {out}")
        utt2spk_path = args.data / name / "utt2spk"
        utt2spk = read_kv_dict(utt2spk_path) if utt2spk_path.is_file() else None
        words = score({u: strip_final_punct(t) for u, t in refs.items()},
                      {u: strip_final_punct(t) for u, t in hyps.items()}, utt2spk, unit="word")
        write_result(words, hyp.parent / "score_wer_words", title=f"{hyp} (final mark removed)")
        print(f"{words.summary_line()} (words only) {hyp.parent / 'score_wer_words' / 'result.txt'}")
        rows.append(f"|decode_{name}|{punct.snt}|{punct.accuracy:.1f}|{percent(punct.recall('.'))}|"
                    f"{percent(punct.recall('?'))}|{percent(words.total.err_rate)}|")
    replace_section(args.exp / "RESULTS.md", MARK, table_section("Final punctuation", [
        "Accuracy of the final mark (statement `.` or question `?`; guessing: 50%), its recall per mark, and the",
        "WER of the words alone (the mark removed from both sides)."],
        ["dataset", "Snt", "Acc", "Recall .", "Recall ?", "WER (words)"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
