"""echo.score.tones (tone error rate) and echo.score.punct (final punctuation), on hand-counted cases."""
import json
import random

import jiwer
import pytest

from echo.score.punct import final_punct, score_final_punct, strip_final_punct, write_punct_result
from echo.score.tones import align, has_adjacent_tone3, score_tones, split_tone, write_tone_result


# --- tones -----------------------------------------------------------------------------------------

def test_split_tone():
    assert split_tone("shi4") == ("shi", 4)
    assert split_tone("ma5") == ("ma", 5)
    assert split_tone("ma") == ("ma", None)
    assert split_tone("<unk>") == ("<unk>", None)
    assert split_tone("ma6") == ("ma6", None)  # not a Mandarin tone


def test_tone_wrong_syllable_right_and_an_insertion():
    r = score_tones({"u1": "ma1 shi4 yu2"}, {"u1": "ma1 shi2 yu2 ni3"})
    t = r.total
    # bases ma shi yu | ma shi yu ni: three matches and one insertion
    assert (t.syllables, t.sub, t.dele, t.ins) == (3, 0, 0, 1)
    assert t.syllable_error_rate == pytest.approx(100 / 3)
    # of the three right bases, shi4 -> shi2 has the wrong tone
    assert (t.base_correct, t.tone_errors) == (3, 1)
    assert t.tone_error_rate == pytest.approx(100 / 3)
    assert t.confusion == {(1, 1): 1, (4, 2): 1, (2, 2): 1}
    assert r.summary_line().startswith("%TER 33.33 [ 1 / 3 syllables with the right base ] %SylER 33.33 [ 1 / 3, 1 ins")


def test_a_wrong_base_is_a_syllable_error_not_a_tone_error():
    # ma1 -> ba1 keeps the tone but not the syllable; li2 -> li3 keeps the syllable but not the tone
    r = score_tones({"u1": "ma1 li2"}, {"u1": "ba1 li3"})
    t = r.total
    assert (t.sub, t.dele, t.ins, t.syllable_error_rate) == (1, 0, 0, 50.0)
    assert (t.base_correct, t.tone_errors, t.tone_error_rate) == (1, 1, 100.0)


def test_alignment_prefers_fewer_tone_errors_among_equally_good_base_alignments():
    # bases "ma ma ma" vs "ma ma": any one ma may be the deleted one; deleting ma1 leaves no tone error
    pairs = align([split_tone(s) for s in "ma1 ma2 ma4".split()], [split_tone(s) for s in "ma2 ma4".split()])
    assert pairs == [(("ma", 1), None), (("ma", 2), ("ma", 2)), (("ma", 4), ("ma", 4))]
    t = score_tones({"a": "ma1 ma2 ma4"}, {"a": "ma2 ma4"}).total
    assert (t.dele, t.base_correct, t.tone_errors) == (1, 2, 0)
    # but a tone never buys a base error: "ma1 li1" vs "li1 ma1" costs 2 base edits either way
    t = score_tones({"a": "ma1 li1"}, {"a": "li1 ma1"}).total
    assert t.syllable_errors == 2


def test_totals_over_utterances_and_the_empty_cases():
    refs = {"b": "ma1 ni3", "a": "yu2 xi4 qi1", "c": "shi4 wu3"}
    hyps = {"b": "ma1 ni2", "a": "yu2", "c": ""}
    r = score_tones(refs, hyps)
    assert list(r.utts) == ["a", "b", "c"]  # C byte order
    t = r.total
    # a: 2 deletions, yu2 right; b: ni3 -> ni2; c: 2 deletions
    assert (t.snt, t.syllables, t.dele, t.ins, t.sub) == (3, 7, 4, 0, 0)
    assert (t.base_correct, t.tone_errors) == (3, 1)
    assert t.syllable_error_rate == pytest.approx(400 / 7) and t.tone_error_rate == pytest.approx(100 / 3)
    # nothing recognised: no tone is scored, and the rate says so instead of inventing 0
    assert score_tones({"a": "ma1"}, {"a": ""}).total.tone_error_rate is None
    # a hypothesis token without a tone matches the base and is a tone error
    t = score_tones({"a": "ma1 li2"}, {"a": "ma li2"}).total
    assert (t.base_correct, t.tone_errors, t.confusion[(1, None)]) == (2, 1, 1)


def test_syllable_error_rate_equals_jiwer_wer_on_toneless_syllables():
    rng = random.Random(0)
    bases, refs, hyps = ["ma", "li", "shi", "yu"], {}, {}
    for i in range(200):
        refs[f"u{i}"] = " ".join(f"{rng.choice(bases)}{rng.randint(1, 4)}" for _ in range(rng.randint(1, 5)))
        hyps[f"u{i}"] = " ".join(f"{rng.choice(bases)}{rng.randint(1, 4)}" for _ in range(rng.randint(0, 5)))
    t = score_tones(refs, hyps).total
    toneless = {u: " ".join(split_tone(s)[0] for s in x.split()) for u, x in hyps.items()}
    ref_toneless = {u: " ".join(split_tone(s)[0] for s in x.split()) for u, x in refs.items()}
    out = jiwer.process_words([ref_toneless[u] for u in refs], [toneless[u] for u in refs])
    assert t.syllable_errors == out.substitutions + out.deletions + out.insertions
    # random tones on right bases are wrong about 3 times in 4
    assert 60 < t.tone_error_rate < 90


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="utterance u7: reference syllables without a tone digit"):
        score_tones({"u7": "ma1 li"}, {"u7": "ma1 li1"})
    with pytest.raises(ValueError, match="1 without a hypothesis"):
        score_tones({"u1": "ma1", "u2": "ma1"}, {"u1": "ma1"})


def test_adjacent_third_tones():
    assert has_adjacent_tone3("ni3 hao3")
    assert not has_adjacent_tone3("ni3 ma1 hao3") and not has_adjacent_tone3("ma3")


def test_write_tone_result(tmp_path):
    r = score_tones({"u1": "ma1 shi4 yu2"}, {"u1": "ma1 shi2 yu2 ni3"})
    path = write_tone_result(r, tmp_path / "score_tone", title="exp/x/decode_test/text")
    text = path.read_text()
    assert "%TER 33.33" in text and "exp/x/decode_test/text" in text
    data = json.loads((tmp_path / "score_tone" / "result.json").read_text())
    assert data["total"]["tone_errors"] == 1 and data["total"]["confusion"] == {"1>1": 1, "2>2": 1, "4>2": 1}
    assert not list((tmp_path / "score_tone").glob(".*tmp"))


# --- final punctuation -----------------------------------------------------------------------------

def test_final_punct_and_strip():
    assert final_punct("the cat sat down ?") == "?"
    assert final_punct("the cat sat down.") == "."
    assert final_punct("the cat sat down") is None
    assert final_punct("") is None
    assert strip_final_punct("the cat sat down ?") == "the cat sat down"
    assert strip_final_punct("the cat sat down?") == "the cat sat down"
    assert strip_final_punct("the cat sat down") == "the cat sat down"


def test_final_punct_accuracy_hand_counted():
    refs = {"u1": "the cat sat down .", "u2": "the cat sat down ?", "u3": "you saw it ?",
            "u4": "you saw it .", "u5": "we went home ?"}
    hyps = {"u1": "the cat sat down ?",   # . -> ?  wrong
            "u2": "the cat sat down?",    # ? glued: right
            "u3": "you saw it ?",         # right
            "u4": "you saw",              # no mark: wrong
            "u5": "we went ?"}            # words wrong, mark right
    r = score_final_punct(refs, hyps)
    assert (r.snt, r.correct) == (5, 3) and r.accuracy == 60.0
    assert r.confusion == {(".", "?"): 1, ("?", "?"): 3, (".", None): 1}
    assert r.errors == ["u1", "u4"]
    assert r.recall("?") == 100.0 and r.recall(".") == 0.0
    assert r.summary_line() == "%PunctAcc 60.00 [ 3 / 5 final marks right ] recall: . 0.00 ? 100.00"


def test_final_punct_bad_input_and_files(tmp_path):
    with pytest.raises(ValueError, match="utterance u2: reference 'no mark here' does not end"):
        score_final_punct({"u1": "a .", "u2": "no mark here"}, {"u1": "a .", "u2": "x ."})
    with pytest.raises(ValueError, match="without a reference"):
        score_final_punct({"u1": "a ."}, {"u1": "a .", "u9": "b ."})
    r = score_final_punct({"u1": "a .", "u2": "b ?"}, {"u1": "a .", "u2": "b ."})
    write_punct_result(r, tmp_path)
    assert "%PunctAcc 50.00" in (tmp_path / "result.txt").read_text()
    data = json.loads((tmp_path / "result.json").read_text())
    assert data["confusion"] == {".>.": 1, "?>.": 1} and data["errors"] == ["u2"]
    assert data["total"] == {"snt": 2, "correct": 1, "accuracy": 50.0, "recall": {".": 100.0, "?": 0.0}}
