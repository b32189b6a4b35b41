"""Tone error rate for toned syllables (Mandarin pinyin with tone digits: "ma1 shi4 yu2").

A toned syllable is a base syllable and a tone: "shi4" = ("shi", 4). Reference and hypothesis are
aligned on their *base* syllables, so that a wrong tone never moves the alignment: the alignment
has the fewest base-syllable edits (Levenshtein, unit costs: the same count as jiwer's WER over
toneless syllables) and, among those, the fewest tone mismatches, so that "ma1 ma2 ma4" against
"ma2 ma4" deletes ma1 rather than blaming two tones. (jiwer has no way to break ties by a second
cost, hence the small dynamic programme below.) Then

- syllable error rate (SylER): substitutions + deletions + insertions of base syllables over the
  reference syllables: what a tone-deaf recogniser is judged on;
- tone error rate (TER): over the aligned pairs whose base syllable is right, the fraction whose tone
  is wrong ("syllable right, tone wrong"). Guessing tones at random gives 75% with four tones.

    refs = {"u1": "ma1 shi4 yu2"}
    hyps = {"u1": "ma1 shi2 yu2 ni3"}
    r = score_tones(refs, hyps)
    r.total.syllable_error_rate   # 33.33: one insertion over three reference syllables
    r.total.tone_error_rate       # 33.33: shi4 -> shi2, over three right base syllables

Every syllable of a reference must carry a tone digit 1-5 (5 = neutral); a hypothesis token without
one (a model's <unk>, say) can still match a base syllable, and then counts as a tone error.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional
from echo.io import atomic

TONED_SYLLABLE = re.compile(r"^(?P<base>\S+?)(?P<tone>[1-5])$")


def split_tone(syllable: str) -> tuple[str, int | None]:
    """"shi4" -> ("shi", 4); a token without a final tone digit -> (token, None)."""
    m = TONED_SYLLABLE.match(syllable)
    return (m["base"], int(m["tone"])) if m else (syllable, None)


def has_adjacent_tone3(text: str) -> bool:
    """True when two neighbouring syllables both carry tone 3 ("ma3 ni3"): espeak-ng (like a Mandarin
    speaker) applies third-tone sandhi and says the first as tone 2, so such a transcript cannot be
    recovered from the audio."""
    tones = [split_tone(s)[1] for s in text.split()]
    return any(a == 3 and b == 3 for a, b in zip(tones, tones[1:]))


@dataclass
class ToneCounts:
    """Counts over a set of utterances; rates are percentages (None when the denominator is 0)."""

    snt: int = 0
    syllables: int = 0       # reference syllables
    sub: int = 0             # base syllable substituted
    dele: int = 0
    ins: int = 0
    base_correct: int = 0    # aligned pairs with the right base syllable (the tone's denominator)
    tone_errors: int = 0     # ... of which the tone is wrong
    confusion: dict[tuple[int, int | None], int] = field(default_factory=dict)  # (ref tone, hyp tone) -> n

    def add(self, other: "ToneCounts") -> None:
        for name in ("snt", "syllables", "sub", "dele", "ins", "base_correct", "tone_errors"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for key, n in other.confusion.items():
            self.confusion[key] = self.confusion.get(key, 0) + n

    @staticmethod
    def _rate(n: int, total: int) -> float | None:
        return 100.0 * n / total if total else None

    @property
    def syllable_errors(self) -> int:
        return self.sub + self.dele + self.ins

    @property
    def syllable_error_rate(self) -> float | None:
        return self._rate(self.syllable_errors, self.syllables)

    @property
    def tone_error_rate(self) -> float | None:
        return self._rate(self.tone_errors, self.base_correct)

    def as_dict(self) -> dict:
        return dict(snt=self.snt, syllables=self.syllables, sub=self.sub, dele=self.dele, ins=self.ins,
                    syllable_errors=self.syllable_errors, syllable_error_rate=self.syllable_error_rate,
                    base_correct=self.base_correct, tone_errors=self.tone_errors,
                    tone_error_rate=self.tone_error_rate,
                    confusion={f"{r}>{'-' if h is None else h}": n for (r, h), n in sorted(
                        self.confusion.items(), key=lambda kv: (kv[0][0], -1 if kv[0][1] is None else kv[0][1]))})


@dataclass
class ToneResult:
    utts: dict[str, ToneCounts]  # utt_id -> counts, in C byte order of the ids
    total: ToneCounts

    def summary_line(self) -> str:
        t = self.total
        fmt = lambda x: "n/a" if x is None else f"{x:.2f}"  # noqa: E731
        return (f"%TER {fmt(t.tone_error_rate)} [ {t.tone_errors} / {t.base_correct} syllables with the right base ] "
                f"%SylER {fmt(t.syllable_error_rate)} [ {t.syllable_errors} / {t.syllables}, {t.ins} ins, "
                f"{t.dele} del, {t.sub} sub ]")

    def confusion_table(self) -> str:
        """Reference tone (rows) against hypothesis tone (columns) over right base syllables."""
        seen = {t for pair in self.total.confusion for t in pair if t is not None}
        ref_tones = hyp_tones = sorted(seen | {1, 2, 3, 4})
        has_none = any(h is None for _, h in self.total.confusion)
        cols = [str(h) for h in hyp_tones] + (["none"] if has_none else [])
        lines = ["ref\\hyp " + " ".join(f"{c:>6}" for c in cols)]
        for r in ref_tones:
            row = [self.total.confusion.get((r, h), 0) for h in hyp_tones]
            if has_none:
                row.append(self.total.confusion.get((r, None), 0))
            lines.append(f"{r:>7} " + " ".join(f"{n:>6}" for n in row))
        return "\n".join(lines)

    def as_dict(self) -> dict:
        return dict(total=self.total.as_dict(), utterances={u: c.as_dict() for u, c in self.utts.items()})


Syllable = tuple[str, Optional[int]]  # ("shi", 4); tone None for a token without a digit


def align(ref: list[Syllable], hyp: list[Syllable]) -> list[tuple[Syllable | None, Syllable | None]]:
    """Pairs (ref, hyp), (ref, None) for a deletion, (None, hyp) for an insertion, in order.

    Minimises (base-syllable edits, tone mismatches among matched bases), in that order.
    """
    n, m = len(ref), len(hyp)
    # cost[i][j]: best (base edits, tone mismatches) aligning ref[:i] with hyp[:j]
    cost = [[(0, 0)] * (m + 1) for _ in range(n + 1)]
    for i in range(1, n + 1):
        cost[i][0] = (i, 0)
    for j in range(1, m + 1):
        cost[0][j] = (j, 0)
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            (rb, rt), (hb, ht) = ref[i - 1], hyp[j - 1]
            b, t = cost[i - 1][j - 1]
            diagonal = (b, t + (rt != ht)) if rb == hb else (b + 1, t)
            up, left = cost[i - 1][j], cost[i][j - 1]
            cost[i][j] = min(diagonal, (up[0] + 1, up[1]), (left[0] + 1, left[1]))
    pairs, i, j = [], n, m
    while i or j:  # trace back, preferring the diagonal on ties (as sclite does)
        if i and j:
            (rb, rt), (hb, ht) = ref[i - 1], hyp[j - 1]
            b, t = cost[i - 1][j - 1]
            if cost[i][j] == ((b, t + (rt != ht)) if rb == hb else (b + 1, t)):
                pairs.append((ref[i - 1], hyp[j - 1]))
                i, j = i - 1, j - 1
                continue
        if i and cost[i][j] == (cost[i - 1][j][0] + 1, cost[i - 1][j][1]):
            pairs.append((ref[i - 1], None))
            i -= 1
        else:
            pairs.append((None, hyp[j - 1]))
            j -= 1
    return pairs[::-1]


def score_tones(refs: dict[str, str], hyps: dict[str, str]) -> ToneResult:
    """Align each reference with its hypothesis on base syllables and count tone errors.

    refs, hyps: utt_id -> space-separated toned syllables; both must hold the same utterances.
    Raises ValueError naming the utterance when a reference syllable has no tone digit.
    """
    missing, extra = sorted(set(refs) - set(hyps)), sorted(set(hyps) - set(refs))
    if missing or extra:
        raise ValueError(f"references and hypotheses differ: {len(missing)} without a hypothesis "
                         f"(e.g. {missing[:3]}), {len(extra)} without a reference (e.g. {extra[:3]})")
    if not refs:
        raise ValueError("nothing to score: no utterances")
    order = sorted(refs, key=lambda u: u.encode("utf-8"))
    ref_syls = {u: [split_tone(s) for s in refs[u].split()] for u in order}
    hyp_syls = {u: [split_tone(s) for s in hyps[u].split()] for u in order}
    for u in order:
        bad = [f"{b}" for b, t in ref_syls[u] if t is None]
        if bad:
            raise ValueError(f"utterance {u}: reference syllables without a tone digit 1-5: {bad} "
                             f"(reference {refs[u]!r})")
    utts, total = {}, ToneCounts()
    for u in order:
        c = ToneCounts(snt=1, syllables=len(ref_syls[u]))
        for ref, hyp in align(ref_syls[u], hyp_syls[u]):
            if ref is None:
                c.ins += 1
            elif hyp is None:
                c.dele += 1
            elif ref[0] != hyp[0]:
                c.sub += 1
            else:
                c.base_correct += 1
                c.tone_errors += int(ref[1] != hyp[1])
                c.confusion[(ref[1], hyp[1])] = c.confusion.get((ref[1], hyp[1]), 0) + 1
        utts[u] = c
        total.add(c)
    return ToneResult(utts, total)


def write_tone_result(result: ToneResult, out_dir: Path, title: str = "") -> Path:
    """Writes OUT/result.txt (summary and tone confusion) and OUT/result.json; returns result.txt."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    text = "\n".join([f"# tone scoring of {title}" if title else "# tone scoring", result.summary_line(), "",
                      "Tone confusion over syllables with the right base (rows: reference, columns: hypothesis):",
                      result.confusion_table(), ""])
    for name, content in (("result.txt", text), ("result.json", json.dumps(result.as_dict(), indent=1) + "\n")):
        atomic.write_text(out_dir / name, content)
    return out_dir / "result.txt"
