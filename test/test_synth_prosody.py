"""egs/synth_prosody: questions end rising and statements falling in F0, and the corpus is well formed.

The F0 check renders the same words as a statement and as a question exactly as the corpus does
(echo.synth.corpus.render), takes F0 with the recipe's feature config (echo.features, pyworld DIO)
and measures the end of the sentence: espeak-ng gives a question a fall-rise on its last stressed
syllable and a statement a fall.
"""
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from echo.data.datadir import read_kv, validate_data_dir
from echo.features.config import FeatureConfig
from echo.features.extract import extract_features
from echo.score.punct import final_punct, strip_final_punct
from echo.synth.corpus import Speaker, Utterance, render

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "egs" / "synth_prosody"


def load_make_corpus():
    spec = importlib.util.spec_from_file_location("synth_prosody_make_corpus", RECIPE / "local" / "make_corpus.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_corpus = load_make_corpus()
SIZES = ["--num-train", "12", "--num-dev", "3", "--num-test", "6"]


def recipe_feature_config() -> FeatureConfig:
    conf = {}
    for name in ("fbank.yaml", "pitch.yaml"):
        conf.update(yaml.safe_load((RECIPE / "conf" / name).read_text()))
    return FeatureConfig(**conf)


# --- intonation in F0 ------------------------------------------------------------------------------

END_FRAMES = 30  # the last 300 ms of voicing: the final stressed syllable and what follows it


def sentence_end(say: str, speaker: Speaker) -> tuple[float, float]:
    """(rise, fall) at the end of a sentence: the last voiced frames' log F0 (median of 3) minus the
    lowest and minus the highest log F0 of the last END_FRAMES voiced frames (each median of 5 frames,
    so that one stray F0 frame cannot decide)."""
    utt = Utterance(utt_id="x", speaker=speaker, text=say, say=say, rate=165, pitch_range=65, gain=0.5,
                    lead_s=0.2, trail_s=0.2, noise_dbfs=-70.0, seed=1)
    conf = recipe_feature_config()
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

@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    data = tmp_path_factory.mktemp("synth_prosody") / "data"
    make_corpus.main(SIZES + ["--seed", "5", "--nj", "2", "--data", str(data)])
    return data


def test_data_dirs_are_valid_and_voices_split(corpus):
    def variants(name):
        rows = (corpus / "local" / f"{name}.synth.tsv").read_text().splitlines()
        header = rows[0].split("\t")
        return {dict(zip(header, r.split("\t")))["voice"].split("+")[1] for r in rows[1:]}

    vocabulary = set(" ".join(make_corpus.SUBJECTS + make_corpus.VERBS + make_corpus.ADJECTIVES + make_corpus.NOUNS
                              + make_corpus.TAILS + ("the", "a") + make_corpus.MARKS).split())
    for name, count in (("train", 12), ("dev", 3), ("test", 6)):
        d = corpus / name
        validate_data_dir(d, no_feats=True)
        utts = [u for u, _ in read_kv(d / "wav.scp")]
        assert len(utts) == count and utts == sorted(utts, key=str.encode)
        for _, text in read_kv(d / "text"):
            assert text.split()[-1] in make_corpus.MARKS and set(text.split()) <= vocabulary, text
    assert not set(make_corpus.TRAIN_VARIANTS) & set(make_corpus.TEST_VARIANTS)
    assert variants("train") | variants("dev") <= set(make_corpus.TRAIN_VARIANTS)
    assert variants("test") <= set(make_corpus.TEST_VARIANTS)


def test_same_seed_gives_byte_identical_audio_whatever_nj(corpus, tmp_path):
    again = tmp_path / "data"
    make_corpus.main(SIZES + ["--seed", "5", "--nj", "1", "--data", str(again)])
    for name in ("train", "dev", "test"):
        assert (again / name / "text").read_text() == (corpus / name / "text").read_text()
        ours = {u: Path(p).read_bytes() for u, p in read_kv(again / name / "wav.scp")}
        theirs = {u: Path(p).read_bytes() for u, p in read_kv(corpus / name / "wav.scp")}
        assert ours == theirs


@pytest.mark.skipif(not (ROOT / "utils" / "parse_options.sh").is_file(), reason="utils/parse_options.sh missing")
def test_data_sh_takes_kaldi_options(tmp_path):
    for name in ("local", "utils"):
        (tmp_path / name).symlink_to(RECIPE / name)
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    run = subprocess.run(["local/data.sh", "--num-train", "2", "--num-dev", "1", "--num-test", "1", "--nj", "1"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    for name, count in (("train", 2), ("dev", 1), ("test", 1)):
        assert len(read_kv(tmp_path / "data" / name / "text")) == count
    bad = subprocess.run(["local/data.sh", "--no-such-option", "1"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0


def test_local_score_writes_punctuation_and_word_results(tmp_path):
    (tmp_path / "dump" / "test").mkdir(parents=True)
    (tmp_path / "exp" / "x" / "decode_test").mkdir(parents=True)
    (tmp_path / "dump" / "test" / "text").write_text("u1 the cat sat .\nu2 the cat sat ?\n")
    (tmp_path / "dump" / "test" / "utt2spk").write_text("u1 s1\nu2 s2\n")
    (tmp_path / "exp" / "x" / "decode_test" / "text").write_text("u1 the cat sat ?\nu2 a cat sat ?\n")
    run = subprocess.run([sys.executable, str(RECIPE / "local" / "score.py"), "--exp", "exp/x"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "%PunctAcc 50.00 [ 1 / 2 final marks right ]" in run.stdout
    assert "%WER 16.67 [ 1 / 6, 0 ins, 0 del, 1 sub ] (words only)" in run.stdout
    results = (tmp_path / "exp" / "x" / "RESULTS.md").read_text()
    assert "|decode_test|2|50.0|0.0|100.0|16.7|" in results


def test_f0_rule_tells_most_questions_from_statements(tmp_path, capsys, monkeypatch):
    """local/f0_rule.py: the mark follows from F0 alone on most unseen-voice utterances."""
    import json
    spec = importlib.util.spec_from_file_location("synth_prosody_f0_rule", RECIPE / "local" / "f0_rule.py")
    f0_rule = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(f0_rule)
    make_corpus.main(["--num-train", "0", "--num-dev", "0", "--num-test", "24", "--seed", "3", "--nj", "2",
                      "--data", str(tmp_path / "data")])
    capsys.readouterr()
    monkeypatch.chdir(RECIPE)  # the rule reads the recipe's conf/
    f0_rule.main([str(tmp_path / "data" / "test")])
    out = json.loads(capsys.readouterr().out)
    assert out["utterances"] == 24 and out["accuracy"] > 80, out
