"""Word and character error rates from jiwer alignments, per utterance, per speaker and in total.

    refs, hyps = {"u1": "the cat sat"}, {"u1": "the bat sat down"}
    result = score(refs, hyps, utt2spk={"u1": "spk1"}, unit="word")
    result.total.err_rate   # 66.67 (1 substitution + 1 insertion over 3 reference words)

Normalisation is explicit (`TextNormalizer`) and applied to both sides before alignment; nothing
else is done to the text. The alignment is jiwer's (Levenshtein with unit costs), so S/D/I counts
agree with jiwer.wer and with sclite up to ties between equally cheap alignments.
"""
from __future__ import annotations

import statistics
import unicodedata
from dataclasses import asdict, dataclass, field

import jiwer

UNITS = ("word", "char")
SPACE = "<space>"  # how a space is shown when characters are the unit


@dataclass
class TextNormalizer:
    """What is done to reference and hypothesis alike before scoring.

    Whitespace is always collapsed to single spaces and stripped. `remove_space` drops spaces
    altogether, for the CER of languages written without spaces between words.
    """

    lowercase: bool = False
    remove_punctuation: bool = False  # every Unicode punctuation character (categories P*)
    remove_space: bool = False

    def __call__(self, text: str) -> str:
        if self.lowercase:
            text = text.lower()
        if self.remove_punctuation:
            text = "".join(c for c in text if not unicodedata.category(c).startswith("P"))
        text = " ".join(text.split())
        if self.remove_space:
            text = text.replace(" ", "")
        return text


@dataclass
class Counts:
    """Error counts of a set of utterances; rates are percentages of the reference units."""

    snt: int = 0  # utterances
    wrd: int = 0  # reference units (words or characters)
    cor: int = 0
    sub: int = 0
    dele: int = 0
    ins: int = 0
    snt_err: int = 0  # utterances with at least one error

    def add(self, other: "Counts") -> None:
        for name in ("snt", "wrd", "cor", "sub", "dele", "ins", "snt_err"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    @property
    def err(self) -> int:
        return self.sub + self.dele + self.ins

    def _rate(self, n: int, total: int) -> float | None:
        # A rate over zero reference units is undefined; None says so rather than inventing a number.
        return 100.0 * n / total if total else None

    @property
    def corr_rate(self):
        return self._rate(self.cor, self.wrd)

    @property
    def sub_rate(self):
        return self._rate(self.sub, self.wrd)

    @property
    def del_rate(self):
        return self._rate(self.dele, self.wrd)

    @property
    def ins_rate(self):
        return self._rate(self.ins, self.wrd)

    @property
    def err_rate(self):
        return self._rate(self.err, self.wrd)

    @property
    def snt_err_rate(self):
        return self._rate(self.snt_err, self.snt)

    def as_dict(self) -> dict:
        return dict(snt=self.snt, wrd=self.wrd, cor=self.cor, sub=self.sub, dele=self.dele, ins=self.ins,
                    err=self.err, snt_err=self.snt_err,
                    corr_rate=self.corr_rate, sub_rate=self.sub_rate, del_rate=self.del_rate,
                    ins_rate=self.ins_rate, err_rate=self.err_rate, snt_err_rate=self.snt_err_rate)


@dataclass
class UttScore:
    """One utterance: its counts and the aligned columns (ref unit | None, hyp unit | None, op)."""

    utt_id: str
    spk: str
    ref: list[str]
    hyp: list[str]
    columns: list[tuple[str | None, str | None, str]]  # op in "C" (correct), "S", "D", "I"
    counts: Counts


@dataclass
class ScoreResult:
    unit: str
    normalizer: TextNormalizer
    utts: list[UttScore]  # grouped by speaker, each group and the speakers in C byte order
    speakers: dict[str, Counts]
    total: Counts = field(default_factory=Counts)

    def summary_line(self) -> str:
        """Kaldi's one-line summary, e.g. `%WER 2.50 [ 5 / 200, 1 ins, 1 del, 3 sub ]`."""
        name = "WER" if self.unit == "word" else "CER"
        t = self.total
        rate = "n/a" if t.err_rate is None else f"{t.err_rate:.2f}"
        return f"%{name} {rate} [ {t.err} / {t.wrd}, {t.ins} ins, {t.dele} del, {t.sub} sub ]"

    def speaker_stats(self) -> dict[str, dict]:
        """Mean, S.D. and median over speakers of each rate (sclite's last three rows)."""
        keys = ("snt", "wrd", "corr_rate", "sub_rate", "del_rate", "ins_rate", "err_rate", "snt_err_rate")
        out = {}
        for key in keys:
            values = [v for v in (getattr(c, key) for c in self.speakers.values()) if v is not None]
            out[key] = dict(
                mean=statistics.fmean(values) if values else None,
                sd=statistics.stdev(values) if len(values) > 1 else (0.0 if values else None),
                median=statistics.median(values) if values else None,
            )
        return out

    def as_dict(self) -> dict:
        return dict(
            unit=self.unit,
            normalization=asdict(self.normalizer),
            total=self.total.as_dict(),
            speakers={spk: c.as_dict() for spk, c in self.speakers.items()},
            speaker_stats=self.speaker_stats(),
            utterances=[
                dict(utt_id=u.utt_id, spk=u.spk, ref=join_units(u.ref, self.unit), hyp=join_units(u.hyp, self.unit),
                     cor=u.counts.cor, sub=u.counts.sub, dele=u.counts.dele, ins=u.counts.ins)
                for u in self.utts
            ],
        )


def join_units(units: list[str], unit: str) -> str:
    return " ".join(units) if unit == "word" else "".join(" " if u == SPACE else u for u in units)


def _c_key(s: str) -> bytes:
    return s.encode("utf-8")


def score(refs: dict[str, str], hyps: dict[str, str], utt2spk: dict[str, str] | None = None,
          unit: str = "word", normalizer: TextNormalizer | None = None) -> ScoreResult:
    """Align every reference with its hypothesis and count errors.

    refs, hyps: utt_id -> text; both must hold the same utterances (the caller decides what a
    missing hypothesis means). utt2spk: utt_id -> speaker; without it every utterance belongs to
    the speaker "all".
    """
    if unit not in UNITS:
        raise ValueError(f"unit must be one of {UNITS}, got {unit!r}")
    normalizer = normalizer or TextNormalizer()
    missing = sorted(set(refs) - set(hyps), key=_c_key)
    extra = sorted(set(hyps) - set(refs), key=_c_key)
    if missing or extra:
        raise ValueError(f"references and hypotheses differ: {len(missing)} without a hypothesis "
                         f"(e.g. {missing[:3]}), {len(extra)} without a reference (e.g. {extra[:3]})")
    utt2spk = utt2spk or {}
    no_spk = [u for u in refs if utt2spk and u not in utt2spk]
    if no_spk:
        raise ValueError(f"{len(no_spk)} utterances have no speaker in utt2spk (e.g. {sorted(no_spk)[:3]})")
    spk_of = {u: utt2spk.get(u, "all") for u in refs}
    order = sorted(refs, key=lambda u: (_c_key(spk_of[u]), _c_key(u)))
    if not order:
        raise ValueError("nothing to score: no utterances")

    ref_texts = [normalizer(refs[u]) for u in order]
    hyp_texts = [normalizer(hyps[u]) for u in order]
    if unit == "word":
        out = jiwer.process_words(ref_texts, hyp_texts)
    else:
        out = jiwer.process_characters(ref_texts, hyp_texts)

    utts, speakers, total = [], {}, Counts()
    for utt_id, ref, hyp, chunks in zip(order, out.references, out.hypotheses, out.alignments):
        if unit == "char":
            ref = [SPACE if c == " " else c for c in ref]
            hyp = [SPACE if c == " " else c for c in hyp]
        columns = _columns(ref, hyp, chunks)
        counts = Counts(snt=1, wrd=len(ref))
        for _, _, op in columns:
            if op == "C":
                counts.cor += 1
            elif op == "S":
                counts.sub += 1
            elif op == "D":
                counts.dele += 1
            else:
                counts.ins += 1
        counts.snt_err = int(counts.err > 0)
        spk = spk_of[utt_id]
        utts.append(UttScore(utt_id, spk, list(ref), list(hyp), columns, counts))
        speakers.setdefault(spk, Counts()).add(counts)
        total.add(counts)
    return ScoreResult(unit, normalizer, utts, speakers, total)


def _columns(ref: list[str], hyp: list[str], chunks) -> list[tuple[str | None, str | None, str]]:
    """Expand jiwer's alignment chunks into one column per aligned pair."""
    columns = []
    for c in chunks:
        if c.type == "equal":
            columns += [(ref[c.ref_start_idx + k], hyp[c.hyp_start_idx + k], "C")
                        for k in range(c.ref_end_idx - c.ref_start_idx)]
        elif c.type == "substitute":
            columns += [(ref[c.ref_start_idx + k], hyp[c.hyp_start_idx + k], "S")
                        for k in range(c.ref_end_idx - c.ref_start_idx)]
        elif c.type == "delete":
            columns += [(ref[k], None, "D") for k in range(c.ref_start_idx, c.ref_end_idx)]
        elif c.type == "insert":
            columns += [(None, hyp[k], "I") for k in range(c.hyp_start_idx, c.hyp_end_idx)]
        else:  # jiwer's chunk types are exactly these four
            raise ValueError(f"unknown alignment chunk type {c.type!r}")
    return columns
