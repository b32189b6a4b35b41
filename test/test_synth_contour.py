"""echo.synth.contour: syllables resynthesised with WORLD follow the drawn tone contour, as the recipe's own
F0 extractor (echo.features, pyworld DIO at 10 ms on 16 kHz audio) measures it; the corpus option renders
reproducibly and differently from espeak-ng's own contours."""
import dataclasses

import numpy as np
import pytest
import soundfile
import soxr

from echo.data.datadir import read_kv_dict
from echo.features.extract import extract_features
from echo.synth.contour import (FRAME_PERIOD_MS, ContourStyle, draw_contour, resynthesise_syllable,
                                syllable_tones, varied_utterance)
from echo.synth.corpus import Speaker, Utterance, render
from echo.synth.espeak import SAMPLE_RATE, synthesize

from synth_helpers import ROOT, load_local, recipe_feature_config

RECIPE = ROOT / "egs" / "synth_tones"
make_corpus = load_local(RECIPE)


def measured_vs_drawn(tone: int, seed: int, variant: str = "m3"):
    """(measured F0, drawn F0) in Hz on the extractor's frames where both are voiced."""
    rng = np.random.default_rng(seed)
    wave = synthesize(f"ma{tone}", voice=f"{make_corpus.LANGUAGE}+{variant}", pitch=50, pitch_range=80, rate=150)
    style = ContourStyle.draw(rng)
    out, drawn = resynthesise_syllable(wave.astype(np.float64), SAMPLE_RATE, tone, 120.0, style, rng)
    conf = recipe_feature_config(RECIPE)
    x = soxr.resample(out, SAMPLE_RATE, conf.sample_rate).astype(np.float32)
    f0 = extract_features(x, conf)[1]
    # extractor frame t is centred at t·hop + win/2; the drawn contour is on WORLD frames k·5 ms
    centres_ms = (np.arange(len(f0)) * conf.window_shift + conf.window_size / 2) / conf.sample_rate * 1000
    k = np.round(centres_ms / FRAME_PERIOD_MS).astype(int)
    on = (k < len(drawn))
    drawn_at = np.where(on, drawn[np.minimum(k, len(drawn) - 1)], 0.0)
    both = (f0 > 0) & (drawn_at > 0)
    return f0[both], drawn_at[both], drawn


@pytest.mark.parametrize("tone", [1, 2, 3, 4])
@pytest.mark.parametrize("seed", [0, 1])
def test_resynthesised_syllable_follows_the_drawn_contour(tone, seed):
    measured, drawn, full = measured_vs_drawn(tone, seed)
    drawn_span_10ms = np.count_nonzero(full) * FRAME_PERIOD_MS / 10.0
    assert len(measured) >= 0.7 * drawn_span_10ms           # the extractor finds most of the span voiced
    error_st = 12 * np.abs(np.log2(measured / drawn))
    # measured here: medians 0.01-0.09 semitones, 96-100 % of frames within 1 semitone
    assert np.median(error_st) < 0.25 and np.mean(error_st < 1.0) > 0.9, (tone, seed, error_st.round(2))


def test_drawn_contours_keep_each_tone_recognisable():
    style = ContourStyle(2.5, 0.0)
    for seed in range(20):
        rng = np.random.default_rng(seed)
        c = {tone: np.log2(draw_contour(tone, 40, 150.0, style, rng)) * 12 for tone in (1, 2, 3, 4)}
        assert abs(c[1][-1] - c[1][0]) < 2.5                      # level
        assert c[2][-1] - c[2][0] > 1.5                           # rising
        assert c[3].min() < c[3][0] - 0.5 and c[3][-1] >= c[3].min() - 1e-9   # dipping (or half third)
        assert c[4][0] - c[4][-1] > 5                             # falling
        assert c[1].mean() > c[3].mean() and c[3].min() < min(c[1].min(), c[2].min())   # high above low


def test_utterance_option_is_reproducible_and_changes_the_contours():
    spk = Speaker(make_corpus.LANGUAGE, "m3", 50)
    kw = dict(utt_id="x", speaker=spk, text="ma1 ma4", say="ma1 ma4", rate=150, pitch_range=80, gain=0.5,
              lead_s=0.1, trail_s=0.1, noise_dbfs=-70.0, seed=5)
    varied = Utterance(contour_variation=True, **kw)
    a, b = render(varied, 16000), render(varied, 16000)
    assert np.array_equal(a, b)
    other = render(Utterance(contour_variation=True, **{**kw, "seed": 6}), 16000)
    plain = render(Utterance(**kw), 16000)
    assert len(a) != len(plain) or not np.array_equal(a, plain)
    assert len(a) != len(other) or not np.array_equal(a, other)
    with pytest.raises(ValueError, match="tone number"):
        syllable_tones("ma1 ma")


def test_varied_utterance_returns_one_contour_per_syllable():
    rng = np.random.default_rng(3)
    speak = lambda s: synthesize(s, voice=f"{make_corpus.LANGUAGE}+m3", pitch=50, pitch_range=80, rate=150)
    wave, contours = varied_utterance("ma1 shi2 yu3", speak, SAMPLE_RATE, rng)
    assert len(contours) == 3 and all((c > 0).sum() > 10 for c in contours)
    assert np.isfinite(wave).all() and 0.3 * SAMPLE_RATE < len(wave) < 3 * SAMPLE_RATE


def test_corpus_option_varies_the_chosen_sets_and_keeps_every_other_draw():
    pool = make_corpus.speakers(make_corpus.TRAIN_VARIANTS)
    for name, index in (("train", 0), ("dev", 1), ("test", 2)):
        plain = make_corpus.draw_set(name, 5, pool, 7, index)
        for option in ("none", "train", "all"):
            varied = make_corpus.draw_set(name, 5, pool, 7, index, contour_variation=option)
            on = option == "all" or (option == "train" and name != "test")
            assert all(u.contour_variation == on for u in varied)
            assert [dataclasses.replace(u, contour_variation=False) for u in varied] == plain
    with pytest.raises(SystemExit):
        make_corpus.main(["--contour-variation", "sometimes"])


def test_mix_varies_about_half_of_train_and_dev_and_no_test_utterance():
    pool = make_corpus.speakers(make_corpus.TRAIN_VARIANTS)
    for name, index in (("train", 0), ("dev", 1), ("test", 2)):
        plain = make_corpus.draw_set(name, 200, pool, 7, index)
        mixed = make_corpus.draw_set(name, 200, pool, 7, index, contour_variation="mix")
        assert [dataclasses.replace(u, contour_variation=False) for u in mixed] == plain
        n_varied = sum(u.contour_variation for u in mixed)
        if name == "test":
            assert n_varied == 0
        else:   # Binomial(200, 0.5): 100 ± 7
            assert 75 <= n_varied <= 125, n_varied
        assert mixed == make_corpus.draw_set(name, 200, pool, 7, index, contour_variation="mix")


def test_contour_test_writes_the_test_utterances_again_on_drawn_contours(tmp_path):
    make_corpus.main(["--num-train", "1", "--num-dev", "0", "--num-test", "2", "--nj", "1", "--fs", "16000",
                      "--contour-test", "--data", str(tmp_path / "data")])
    test, varied = tmp_path / "data" / "test", tmp_path / "data" / "test_contours"
    assert read_kv_dict(varied / "text") == read_kv_dict(test / "text")
    assert read_kv_dict(varied / "utt2spk") == read_kv_dict(test / "utt2spk")
    plain_wav, varied_wav = read_kv_dict(test / "wav.scp"), read_kv_dict(varied / "wav.scp")
    for utt in plain_wav:
        a, b = soundfile.read(plain_wav[utt])[0], soundfile.read(varied_wav[utt])[0]
        assert "test_contours" in varied_wav[utt] and (len(a) != len(b) or not np.array_equal(a, b))
