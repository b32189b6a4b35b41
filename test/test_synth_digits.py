"""egs/synth_digits/local: the offline espeak-ng digit corpus (a few utterances only)."""
from pathlib import Path

import numpy as np
import pytest
import soundfile

from echo.data.datadir import read_kv, read_kv_dict
from echo.data.validate import validate_data_dir

from synth_helpers import (ROOT, SEED, SETS, assert_data_sh_takes_kaldi_options, assert_same_seed_same_corpus_with_one_job,
                           assert_test_voices_unseen, assert_valid_data_dirs, corpus_fixture, load_local,
                           needs_parse_options, wav_bytes)

RECIPE = ROOT / "egs" / "synth_digits"
make_corpus = load_local(RECIPE)
SIZES = ["--num-train", "8", "--num-dev", "3", "--num-test", "5"]
corpus = corpus_fixture(make_corpus, SIZES)


def test_data_dirs_are_valid_sorted_and_speaker_prefixed(corpus):
    assert_valid_data_dirs(corpus, {"train": 8, "dev": 3, "test": 5})


def test_transcripts_are_1_to_7_lowercase_digit_words(corpus):
    for name in SETS:
        for _, text in read_kv(corpus / name / "text"):
            words = text.split()
            assert 1 <= len(words) <= 7
            assert set(words) <= set(make_corpus.WORDS) and text == text.lower()


def test_wavs_are_16k_16bit_mono_with_the_listed_duration(corpus):
    durations = read_kv_dict(corpus / "train" / "utt2dur")
    for utt, path in read_kv(corpus / "train" / "wav.scp"):
        info = soundfile.info(path)
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
        assert abs(info.duration - float(durations[utt])) < 1e-3
        assert Path(path).parent == (corpus / "wav" / "train").resolve()
        wave, _ = soundfile.read(path)
        assert 0.2 < np.abs(wave).max() < 0.95  # the drawn peak gain, no clipping


def test_test_voices_are_never_heard_in_training(corpus):
    assert_test_voices_unseen(make_corpus, corpus)


def test_same_seed_gives_byte_identical_audio_whatever_nj(corpus, tmp_path):
    assert_same_seed_same_corpus_with_one_job(make_corpus, SIZES, corpus, tmp_path)
    other = tmp_path / "other"
    make_corpus.main(["--num-train", "3", "--num-dev", "0", "--num-test", "0", "--seed", "6", "--nj", "1",
                      "--data", str(other)])
    assert set(wav_bytes(other, "train").values()).isdisjoint(wav_bytes(corpus, "train").values())


def test_rerun_replaces_a_previous_corpus(tmp_path):
    data = tmp_path / "data"
    make_corpus.main(["--num-train", "4", "--num-dev", "0", "--num-test", "0", "--nj", "1", "--fs", "8000",
                      "--data", str(data)])
    (data / "train" / "split2").mkdir()
    make_corpus.main(["--num-train", "2", "--num-dev", "0", "--num-test", "0", "--nj", "1", "--seed", "9",
                      "--data", str(data)])
    assert len(list((data / "wav" / "train").glob("*.wav"))) == 2  # no stale audio
    assert not (data / "train" / "split2").exists()
    validate_data_dir(data / "train", no_feats=True)
    assert all(soundfile.info(p).samplerate == 16000 for _, p in read_kv(data / "train" / "wav.scp"))


@needs_parse_options
def test_data_sh_takes_kaldi_options(tmp_path):
    assert_data_sh_takes_kaldi_options(RECIPE, tmp_path, "--seed", "3")


def test_foreign_accents_revoice_a_share_of_train_and_keep_every_other_draw():
    pool = make_corpus.speakers(make_corpus.TRAIN_VARIANTS)
    plain = make_corpus.draw_set("train", 200, pool, 7, 0)
    accented = make_corpus.with_foreign_accents(plain, ["de", "ja"], 0.5, 7, 0)
    changed = [(p, a) for p, a in zip(plain, accented) if p != a]
    assert 75 <= len(changed) <= 125, len(changed)  # Binomial(200, 0.5): 100 ± 7
    assert {a.speaker.language for _, a in changed} == {"de", "ja"}
    for p, a in changed:  # only the language, the id's speaker prefix and what espeak-ng is given change
        assert a.phonemes and a.say.startswith("[[") and a.utt_id == f"{a.speaker.spk_id}-train{p.utt_id[-5:]}"
        assert a.say.count(" ") == p.text.count(" ")
        assert (a.text, a.speaker.variant, a.speaker.pitch, a.rate, a.seed) == (p.text, p.speaker.variant,
                                                                                p.speaker.pitch, p.rate, p.seed)
    assert make_corpus.with_foreign_accents(plain, ["de", "ja"], 0.0, 7, 0) == plain
    assert accented == make_corpus.with_foreign_accents(plain, ["de", "ja"], 0.5, 7, 0)


def test_every_foreign_voice_says_every_digit_word_whole():
    # at a phoneme its table lacks espeak-ng drops the rest of the word, silently: then the word and the word
    # without its last phoneme would sound the same
    from echo.synth.espeak import synthesize

    def say(phonemes, language):
        return synthesize(f"[[{''.join(phonemes)}]]", voice=language, phonemes=True)
    for language in make_corpus.FOREIGN_ACCENTS:
        for word in make_corpus.WORDS:
            phonemes = make_corpus.accented(word, language)
            if len(phonemes) > 1:
                assert not np.array_equal(say(phonemes, language), say(phonemes[:-1], language)), (language, word)
    assert make_corpus.accented("six", "el") == ("s", "'i", "k", "s")  # Greek has no /I/ in espeak-ng
    assert make_corpus.accented("six", "en-us") == ("s", "'I", "k", "s")
    # the check sees a cut word: English /I/ unsubstituted, the Greek voice stops at it either way
    assert np.array_equal(say(("s", "'I", "k", "s"), "el"), say(("s", "'I", "k"), "el"))


def test_foreign_accent_corpus_keeps_the_test_set_and_names_the_languages(corpus, tmp_path):
    data = tmp_path / "data"
    make_corpus.main(SIZES + ["--seed", str(SEED), "--nj", "1", "--data", str(data), "--foreign-accents", "fr,el",
                              "--foreign-share", "1"])
    assert_valid_data_dirs(data, {"train": 8, "dev": 3, "test": 5})
    for name in ("train", "dev"):  # every utterance said by a French or Greek voice
        assert {spk.split("_")[0] for spk in read_kv_dict(data / name / "spk2utt")} <= {"fr", "el"}
        assert sorted(t for _, t in read_kv(data / name / "text")) == sorted(t for _, t in read_kv(corpus / name / "text"))
    assert wav_bytes(data, "test") == wav_bytes(corpus, "test")  # the unseen English voices, as without
    with pytest.raises(SystemExit):
        make_corpus.main(["--foreign-accents", "klingon"])
