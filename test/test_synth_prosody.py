"""egs/synth_prosody: questions end rising and statements falling in F0, and the corpus is well formed.

The F0 check renders the same words as a statement and as a question exactly as the corpus does
(echo.synth.corpus.render), takes F0 with the recipe's feature config (echo.features, pyworld DIO)
and measures the end of the sentence: espeak-ng gives a question a fall-rise on its last stressed
syllable and a statement a fall.
"""
import json

import numpy as np
import pytest

from echo.data.datadir import read_kv
from echo.features.extract import extract_features
from echo.score.punct import final_punct, strip_final_punct
from echo.synth.corpus import Speaker, Utterance, render

from synth_helpers import (ROOT, SETS, assert_data_sh_takes_kaldi_options, assert_same_seed_same_corpus_with_one_job,
                           assert_test_voices_unseen, assert_valid_data_dirs, corpus_fixture, load_local,
                           needs_parse_options, recipe_feature_config, run_local_score,
                           write_decoded_test_set)

RECIPE = ROOT / "egs" / "synth_prosody"
make_corpus = load_local(RECIPE)
SIZES = ["--num-train", "12", "--num-dev", "3", "--num-test", "6"]


# --- intonation in F0 ------------------------------------------------------------------------------

END_FRAMES = 30  # the last 300 ms of voicing: the final stressed syllable and what follows it


def sentence_end(say: str, speaker: Speaker) -> tuple[float, float]:
    """(rise, fall) at the end of a sentence: the last voiced frames' log F0 (median of 3) minus the
    lowest and minus the highest log F0 of the last END_FRAMES voiced frames (each median of 5 frames,
    so that one stray F0 frame cannot decide)."""
    utt = Utterance(utt_id="x", speaker=speaker, text=say, say=say, rate=165, pitch_range=65, gain=0.5,
                    lead_s=0.2, trail_s=0.2, noise_dbfs=-70.0, seed=1)
    conf = recipe_feature_config(RECIPE)
    f0 = extract_features(render(utt, conf.sample_rate).astype(np.float32) / 32768.0, conf)[1]
    logf0 = np.log(f0[f0 > 0])
    assert len(logf0) > END_FRAMES + 10, f"{say!r} ({speaker.voice}): {len(logf0)} voiced frames"
    smooth = np.median(np.lib.stride_tricks.sliding_window_view(logf0, 5), axis=1)[-END_FRAMES:]
    end = float(np.median(smooth[-3:]))
    return end - float(smooth.min()), end - float(smooth.max())


# Voices from both sides of the split, in turn through the three accents, at -p 55.
PROSODY_VOICES = [("en-us", "m4"), ("en", "f2"), ("en-gb-scotland", "shelby"),           # training voices
                  ("en-us", "m7"), ("en", "norbert"), ("en-gb-scotland", "miguel"),      # test voices
                  ("en-us", "f5"), ("en", "grandma")]
SENTENCES = ("the man saw the red car today", "you sold a book", "we found the dog at night",
             "my sister painted the chair again")


@pytest.mark.parametrize("accent,variant", PROSODY_VOICES)
def test_questions_end_rising_and_statements_falling(accent, variant):
    assert variant in make_corpus.TRAIN_VARIANTS + make_corpus.TEST_VARIANTS and accent in make_corpus.ACCENTS
    speaker = Speaker(accent, variant, 55)
    for words in SENTENCES:
        q_rise, q_fall = sentence_end(words + "?", speaker)
        s_rise, s_fall = sentence_end(words + ".", speaker)
        report = dict(voice=speaker.voice, words=words, q_rise=round(q_rise, 3), q_fall=round(q_fall, 3),
                      s_rise=round(s_rise, 3), s_fall=round(s_fall, 3))
        assert q_rise > 0.08, report          # the question ends at least 8% above its low point
        assert s_fall < -0.08, report         # the statement ends at least 8% below its high point
        assert s_rise < -s_fall / 3, report   # ... in the lowest third of its final range
        assert q_rise - s_rise > 0.08, report


def test_statement_and_question_differ_only_in_the_mark():
    utts = make_corpus.draw_set("train", 2000, make_corpus.speakers(make_corpus.TRAIN_VARIANTS), 777, 0)
    assert [final_punct(u.text) for u in utts] == [".", "?"] * 1000
    for u in utts:
        words = strip_final_punct(u.text)
        assert u.say == words + final_punct(u.text)     # espeak-ng hears the mark glued to the last word
        assert u.text == f"{words} {final_punct(u.text)}"  # the transcript has it as a token of its own
        assert 4 <= len(words.split()) <= 9 and words == words.lower()
    # each sentence is said once as a statement and once as a question, mostly by another speaker
    statements = [strip_final_punct(u.text) for u in utts[0::2]]
    assert statements == [strip_final_punct(u.text) for u in utts[1::2]]
    assert sum(a.speaker != b.speaker for a, b in zip(utts[0::2], utts[1::2])) > 950
    assert len(set(statements)) > 900  # and the sentences differ


# --- the corpus ------------------------------------------------------------------------------------

corpus = corpus_fixture(make_corpus, SIZES)


def test_data_dirs_are_valid_and_voices_split(corpus):
    vocabulary = set(" ".join(make_corpus.SUBJECTS + make_corpus.VERBS + make_corpus.ADJECTIVES + make_corpus.NOUNS
                              + make_corpus.TAILS + ("the", "a") + make_corpus.MARKS).split())
    assert_valid_data_dirs(corpus, {"train": 12, "dev": 3, "test": 6})
    for name in SETS:
        for _, text in read_kv(corpus / name / "text"):
            assert text.split()[-1] in make_corpus.MARKS and set(text.split()) <= vocabulary, text
    assert_test_voices_unseen(make_corpus, corpus)


def test_same_seed_gives_byte_identical_audio_whatever_nj(corpus, tmp_path):
    assert_same_seed_same_corpus_with_one_job(make_corpus, SIZES, corpus, tmp_path)


@needs_parse_options
def test_data_sh_takes_kaldi_options(tmp_path):
    assert_data_sh_takes_kaldi_options(RECIPE, tmp_path)


def test_local_score_writes_punctuation_and_word_results(tmp_path):
    exp = write_decoded_test_set(tmp_path, "u1 the cat sat .\nu2 the cat sat ?\n", "u1 the cat sat ?\nu2 a cat sat ?\n")
    (tmp_path / "dump" / "test" / "utt2spk").write_text("u1 s1\nu2 s2\n")
    run = run_local_score(RECIPE, tmp_path)
    assert "%PunctAcc 50.00 [ 1 / 2 final marks right ]" in run.stdout
    assert "%WER 16.67 [ 1 / 6, 0 ins, 0 del, 1 sub ] (words only)" in run.stdout
    results = (exp / "RESULTS.md").read_text()
    assert "|decode_test|2|50.0|0.0|100.0|16.7|" in results


def test_f0_rule_tells_most_questions_from_statements(tmp_path, capsys, monkeypatch):
    """local/f0_rule.py: the mark follows from F0 alone on most unseen-voice utterances."""
    f0_rule = load_local(RECIPE, "f0_rule")
    make_corpus.main(["--num-train", "0", "--num-dev", "0", "--num-test", "24", "--seed", "3", "--nj", "2",
                      "--data", str(tmp_path / "data")])
    capsys.readouterr()
    monkeypatch.chdir(RECIPE)  # the rule reads the recipe's conf/
    f0_rule.main([str(tmp_path / "data" / "test")])
    out = json.loads(capsys.readouterr().out)
    assert out["utterances"] == 24 and out["accuracy"] > 80, out
