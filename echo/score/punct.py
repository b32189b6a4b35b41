"""Accuracy of the sentence-final punctuation mark: statement "." against question "?".

In egs/synth_prosody the same words are spoken as a statement and as a question, and only the
intonation tells which; the transcript keeps the mark as its last token ("you saw the red car ?").
This scores that one decision per utterance:

    refs = {"u1": "the cat sat down .", "u2": "the cat sat down ?"}
    hyps = {"u1": "the cat sat down ?", "u2": "the cat sat down ?"}
    r = score_final_punct(refs, hyps)
    r.accuracy              # 50.0
    r.confusion             # {(".", "?"): 1, ("?", "?"): 1}

A mark glued to the last word ("down?") counts the same as a separate token. A hypothesis that ends
in neither mark is wrong, and is listed in the confusion as None. Words are scored separately (WER);
`strip_final_punct` gives the transcript without its mark for a WER of the words alone.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from echo.io import atomic

FINAL_MARKS = (".", "?")


def final_punct(text: str) -> str | None:
    """The final "." or "?" of a transcript (a token of its own or glued to the last word), else None."""
    text = text.rstrip()
    return text[-1] if text and text[-1] in FINAL_MARKS else None


def strip_final_punct(text: str) -> str:
    """The transcript without its final mark: "the cat sat down ?" -> "the cat sat down"."""
    text = text.rstrip()
    if text and text[-1] in FINAL_MARKS:
        text = text[:-1].rstrip()
    return text


@dataclass
class PunctResult:
    snt: int
    correct: int
    confusion: dict[tuple[str, str | None], int]  # (reference mark, hypothesis mark or None) -> count
    errors: list[str]                              # utt ids with the wrong (or no) final mark, C order

    @property
    def accuracy(self) -> float:
        return 100.0 * self.correct / self.snt

    def recall(self, mark: str) -> float | None:
        """Percentage of references ending in `mark` whose hypothesis ends in it too."""
        n = sum(c for (r, _), c in self.confusion.items() if r == mark)
        return 100.0 * self.confusion.get((mark, mark), 0) / n if n else None

    def summary_line(self) -> str:
        recalls = " ".join(f"{m} {r:.2f}" for m in FINAL_MARKS if (r := self.recall(m)) is not None)
        return (f"%PunctAcc {self.accuracy:.2f} [ {self.correct} / {self.snt} final marks right ] "
                f"recall: {recalls}")

    def as_dict(self) -> dict:
        """{"total": {snt, correct, accuracy, recall: {mark: %}}, "confusion": {"ref>hyp": n}, "errors": [utt]}
        (the totals under "total", as in the WER/CER and tone result.json files)."""
        return dict(total=dict(snt=self.snt, correct=self.correct, accuracy=self.accuracy,
                               recall={m: self.recall(m) for m in FINAL_MARKS}),
                    confusion={f"{r}>{'none' if h is None else h}": n for (r, h), n in sorted(
                        self.confusion.items(), key=lambda kv: (kv[0][0], kv[0][1] or ""))},
                    errors=self.errors)


def score_final_punct(refs: dict[str, str], hyps: dict[str, str]) -> PunctResult:
    """Compare the final mark of each hypothesis with its reference's.

    refs, hyps: utt_id -> transcript, the same utterances on both sides. Raises ValueError naming
    the utterance when a reference does not end in "." or "?".
    """
    missing, extra = sorted(set(refs) - set(hyps)), sorted(set(hyps) - set(refs))
    if missing or extra:
        raise ValueError(f"references and hypotheses differ: {len(missing)} without a hypothesis "
                         f"(e.g. {missing[:3]}), {len(extra)} without a reference (e.g. {extra[:3]})")
    if not refs:
        raise ValueError("nothing to score: no utterances")
    confusion, errors, correct = {}, [], 0
    for u in sorted(refs, key=lambda u: u.encode("utf-8")):
        ref = final_punct(refs[u])
        if ref is None:
            raise ValueError(f"utterance {u}: reference {refs[u]!r} does not end in one of {FINAL_MARKS}")
        hyp = final_punct(hyps[u])
        confusion[(ref, hyp)] = confusion.get((ref, hyp), 0) + 1
        if hyp == ref:
            correct += 1
        else:
            errors.append(u)
    return PunctResult(len(refs), correct, confusion, errors)


def write_punct_result(result: PunctResult, out_dir: Path, title: str = "") -> Path:
    """Writes OUT/result.txt (summary and confusion) and OUT/result.json; returns result.txt."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    hyp_marks = list(FINAL_MARKS) + [None]
    lines = [f"# final punctuation of {title}" if title else "# final punctuation", result.summary_line(), "",
             "ref\\hyp " + " ".join(f"{'none' if h is None else h:>6}" for h in hyp_marks)]
    for r in FINAL_MARKS:
        lines.append(f"{r:>7} " + " ".join(f"{result.confusion.get((r, h), 0):>6}" for h in hyp_marks))
    for name, content in (("result.txt", "\n".join(lines) + "\n"),
                          ("result.json", json.dumps(result.as_dict(), indent=1) + "\n")):
        atomic.write_text(out_dir / name, content)
    return out_dir / "result.txt"
