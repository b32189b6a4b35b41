"""Feature config, fbank, F0 (DIO, Harvest), pitch features, extract_features and CMVN."""
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from echo.features.audio import load_audio
from echo.features.cmvn import CMVN, CMVNAccumulator
from echo.features.config import F0_METHODS, FeatureConfig, FeatureError
from echo.features.extract import extract_features
from echo.features.fbank import compute_fbank, num_frames
from echo.features.pitch import match_length, pitch_features

FSDD = Path(__file__).resolve().parents[2] / "shared/data/fsdd"


def tone(freq, seconds, rate=16000, amp=0.5, noise=0.005, seed=0):
    """A sine with a little white noise (Harvest declares a mathematically pure sine unvoiced)."""
    t = np.arange(int(round(seconds * rate))) / rate
    x = amp * np.sin(2 * np.pi * freq * t) + noise * np.random.default_rng(seed).standard_normal(len(t))
    return x.astype(np.float32)


# ------------------------------------------------------------------------------------------ config

def test_config_yaml_round_trip_and_errors(tmp_path):
    conf = FeatureConfig(n_mels=40, f0_method="harvest", append_pitch=True, frame_shift_ms=20.0)
    conf.to_yaml(tmp_path / "f.yaml")
    assert FeatureConfig.from_yaml(tmp_path / "f.yaml") == conf
    assert conf.feats_dim == 43 and FeatureConfig().feats_dim == 80
    assert (FeatureConfig().window_size, FeatureConfig().window_shift) == (400, 160)

    (tmp_path / "bad.yaml").write_text("n_mels: 80\nnum_bins: 23\n")
    with pytest.raises(FeatureError, match=r"bad.yaml: unknown feature option\(s\) num_bins"):
        FeatureConfig.from_yaml(tmp_path / "bad.yaml")
    (tmp_path / "yin.yaml").write_text("f0_method: yin\n")
    with pytest.raises(FeatureError, match="yin.yaml: f0_method 'yin' is not available; valid methods: dio, harvest, kaldi"):
        FeatureConfig.from_yaml(tmp_path / "yin.yaml")
    with pytest.raises(FeatureError, match="pitch_features 'praat' is not available; valid: echo, kaldi"):
        FeatureConfig(pitch_features="praat")
    with pytest.raises(FeatureError, match="Kaldi's pitch tracker works at 4 kHz"):
        FeatureConfig(f0_method="kaldi", sample_rate=48000, f0_ceil=3000)
    with pytest.raises(FeatureError, match="f0_floor < f0_ceil"):
        FeatureConfig(f0_floor=300, f0_ceil=200)


# ------------------------------------------------------------------------------------------ fbank

def test_fbank_frame_count_and_dims():
    conf = FeatureConfig()
    for n in (400, 401, 559, 560, 16000, 16001):
        feats = compute_fbank(np.zeros(n, np.float32) + 0.01, conf)
        assert feats.shape == (1 + (n - 400) // 160, 80) == (num_frames(n, conf), 80)
    assert num_frames(399, conf) == 0


@pytest.mark.parametrize("shift,length", [(5.0, 25.0), (12.5, 25.0), (10.0, 50.0)])
def test_other_framings_keep_f0_and_fbank_frames_equal(shift, length):
    conf = FeatureConfig(frame_shift_ms=shift, frame_length_ms=length)
    for n in (conf.window_size, conf.window_size + 1, 5000, 16000):
        feats, f0 = extract_features(tone(150, n / 16000), conf)
        assert len(feats) == len(f0) == 1 + (n - conf.window_size) // conf.window_shift
    assert np.median(f0[f0 > 0]) == pytest.approx(150, rel=0.02)


def test_fbank_tone_peaks_in_its_mel_bin():
    conf = FeatureConfig()
    feats = compute_fbank(tone(1000, 0.5, noise=0.0), conf)
    # Kaldi's mel bins are centred on a uniform mel grid from 20 Hz to 8 kHz.
    mel = lambda f: 1127.0 * np.log(1 + f / 700.0)  # noqa: E731
    centres = mel(20) + (np.arange(80) + 1) * (mel(8000) - mel(20)) / 81
    expected = int(np.argmin(abs(centres - mel(1000))))
    assert abs(int(np.median(feats.argmax(axis=1))) - expected) <= 1
    # Louder input, higher log energy: log-mel scales by 2*log(gain) (a 20x gain → +6.0)
    louder = compute_fbank(20 * tone(1000, 0.5, amp=0.02, noise=0.0), conf)
    quiet = compute_fbank(tone(1000, 0.5, amp=0.02, noise=0.0), conf)
    assert np.median(louder[:, expected] - quiet[:, expected]) == pytest.approx(2 * np.log(20), abs=0.01)


# ------------------------------------------------------------------------------------------ F0

@pytest.mark.parametrize("method", F0_METHODS)
@pytest.mark.parametrize("freq", [120.0, 240.0])
def test_f0_of_a_tone(method, freq):
    feats, f0 = extract_features(tone(freq, 1.0), FeatureConfig(f0_method=method))
    assert f0.shape == (len(feats),) and f0.dtype == np.float32
    voiced = f0 > 0
    assert voiced.mean() > 0.9
    assert np.median(f0[voiced]) == pytest.approx(freq, rel=0.02)


@pytest.mark.parametrize("method", F0_METHODS)
def test_silence_and_noise_are_unvoiced(method):
    conf = FeatureConfig(f0_method=method)
    _, f0 = extract_features(np.zeros(16000, np.float32), conf)
    assert not f0.any()
    noise = (0.1 * np.random.default_rng(3).standard_normal(32000)).astype(np.float32)
    _, f0 = extract_features(noise, conf)
    # Harvest is built never to miss voicing and so calls some noise frames voiced; DIO almost none.
    assert (f0 > 0).mean() <= (0.05 if method == "dio" else 0.25)


@pytest.mark.parametrize("method", F0_METHODS)
def test_f0_frames_align_with_fbank_frames(method):
    """F0 frame t and fbank frame t are centred on the same sample (t*hop + win/2).

    A 150 Hz tone over samples [8000, 16000) is centred on sample 12000, i.e. on frame
    (12000 - 200) / 160 = 73.75. Both the loud fbank frames and the voiced F0 frames must be centred
    there; pyworld's own framing (frame k at sample k*hop) would put the voiced run 1.25 frames later.
    """
    x = np.concatenate([np.zeros(8000, np.float32), tone(150, 0.5, noise=0.0), np.zeros(8000, np.float32)])
    feats, f0 = extract_features(x, FeatureConfig(f0_method=method))
    loud = np.flatnonzero(feats.max(axis=1) > feats.max() - 10)
    voiced = np.flatnonzero(f0 > 0)
    assert abs((loud[0] + loud[-1]) / 2 - 73.75) <= 0.5
    assert abs((voiced[0] + voiced[-1]) / 2 - 73.75) <= 0.8
    assert voiced[0] >= 47 and voiced[-1] <= 100    # nothing voiced in the silences


@pytest.mark.parametrize("rate", [8000, 44100])
def test_frame_count_does_not_depend_on_input_rate(tmp_path, rate):
    conf = FeatureConfig()
    ref_feats, ref_f0 = extract_features(tone(200, 1.5, rate=16000), conf)
    path = tmp_path / f"tone{rate}.wav"
    sf.write(path, tone(200, 1.5, rate=rate), rate)
    feats, f0 = extract_features(load_audio(str(path), conf.sample_rate), conf)
    assert feats.shape == ref_feats.shape
    assert np.median(f0[f0 > 0]) == pytest.approx(np.median(ref_f0[ref_f0 > 0]), rel=0.01)


def test_real_speech_f0_is_plausible():
    path = FSDD / "recordings" / "3_jackson_0.wav"
    if not path.is_file():
        pytest.skip("FSDD not available")
    feats, f0 = extract_features(load_audio(str(path), 16000), FeatureConfig(append_pitch=True))
    voiced = f0[f0 > 0]
    assert feats.shape[1] == 83 and len(voiced) > 10
    assert 70 < np.median(voiced) < 250   # an adult male speaker


def test_match_length():
    f0 = np.arange(1, 11, dtype=np.float32)
    assert np.array_equal(match_length(f0, 8), f0[:8])
    assert np.array_equal(match_length(f0, 12), np.concatenate([f0, [0, 0]]))
    with pytest.raises(FeatureError, match="F0 has 10 frames but fbank has 13"):
        match_length(f0, 13)


# ------------------------------------------------------------------------------------------ pitch features

def test_pitch_features():
    f0 = np.zeros(300, np.float32)
    f0[20:140] = 100.0
    f0[160:280] = 200.0
    p = pitch_features(f0)
    assert p.shape == (300, 3) and p.dtype == np.float32
    # normalised log-F0 = log-F0 minus the mean over the voiced frames of a centred 151-frame window.
    # Frame 130: window 55..205 holds 85 frames at 100 Hz and 46 at 200 Hz; frame 170: 45 and 86.
    assert p[130, 0] == pytest.approx(-46 / 131 * np.log(2), abs=1e-5)
    assert p[170, 0] == pytest.approx(45 / 131 * np.log(2), abs=1e-5)
    assert p[60, 0] == pytest.approx(0, abs=1e-6)   # window 0..135: only 100 Hz frames
    # interpolated over the unvoiced gap: no jump to log(0)
    assert np.all(np.isfinite(p)) and np.all(np.abs(p[:, 0]) < np.log(2))
    # voicing probability: 1 inside voiced runs, 0 far from them, soft at the boundary
    assert p[60, 1] == 1.0 and p[5, 1] == 0.0 and p[290, 1] == 0.0 and 0 < p[20, 1] < 1
    # delta log-F0: 0 on flat stretches, positive where F0 rises (interpolated gap 140..160)
    assert abs(p[60, 2]) < 1e-6 and p[150, 2] > 0
    assert not pitch_features(np.zeros(50, np.float32)).any()   # no voiced frame: all zeros


def test_pitch_features_follow_a_glide():
    f0 = np.geomspace(100, 200, 200).astype(np.float32)   # log-F0 rises linearly
    p = pitch_features(f0)
    step = np.log(2) / 199
    assert np.allclose(p[10:-10, 2], step, rtol=1e-3)
    assert abs(p[100, 0]) < 0.01   # the centre of a linear ramp equals its window mean


def test_append_pitch():
    x = tone(150, 1.0)
    plain, f0 = extract_features(x, FeatureConfig())
    with_pitch, f0b = extract_features(x, FeatureConfig(append_pitch=True))
    assert with_pitch.shape == (len(plain), 83)
    assert np.array_equal(with_pitch[:, :80], plain) and np.array_equal(f0, f0b)
    assert np.array_equal(with_pitch[:, 80:], pitch_features(f0))


# ------------------------------------------------------------------------------------------ bad input

def test_extract_features_rejects_bad_waves():
    conf = FeatureConfig()
    with pytest.raises(FeatureError, match=r"shorter than one frame: 399 samples \(24.9 ms\) < 400"):
        extract_features(np.zeros(399, np.float32), conf)
    with pytest.raises(FeatureError, match="empty"):
        extract_features(np.zeros(0, np.float32), conf)
    bad = tone(100, 0.1)
    bad[7] = np.nan
    with pytest.raises(FeatureError, match="1 NaN/Inf"):
        extract_features(bad, conf)
    with pytest.raises(FeatureError, match="1-D"):
        extract_features(np.zeros((2, 1600), np.float32), conf)
    # exactly one frame is fine, for both extractors
    for method in F0_METHODS:
        feats, f0 = extract_features(tone(100, 0.025), FeatureConfig(f0_method=method))
        assert feats.shape == (1, 80) and f0.shape == (1,)


# ------------------------------------------------------------------------------------------ CMVN

def test_cmvn_accumulator_matches_numpy_and_applies(tmp_path):
    rng = np.random.default_rng(1)
    mats = [(1000 + 5 * rng.standard_normal((n, 4))).astype(np.float32) for n in (3, 50, 1, 200)]
    mats[0][:, 3] = 7.0
    for m in mats:
        m[:, 3] = 7.0                       # a constant dim: std floored, not 0
    acc = CMVNAccumulator()
    for m in mats:
        acc.add(m)
    cmvn = acc.finish(std_floor=1e-3)
    allx = np.concatenate(mats).astype(np.float64)
    assert cmvn.count == 254
    assert np.allclose(cmvn.mean, allx.mean(0), rtol=0, atol=1e-9)
    assert np.allclose(cmvn.std[:3], allx.std(0)[:3], rtol=1e-9) and cmvn.std[3] == 1e-3

    cmvn.save(tmp_path / "cmvn.npz")
    with np.load(tmp_path / "cmvn.npz") as z:
        assert z["mean"].dtype == np.float64 and z["std"].shape == (4,) and int(z["count"]) == 254
    loaded = CMVN.load(tmp_path / "cmvn.npz")
    out = loaded(mats[2])
    assert np.allclose(out, (mats[2] - allx.mean(0)) / cmvn.std, atol=1e-4)
    out_t = loaded(torch.from_numpy(mats[2]))
    assert out_t.dtype == torch.float32 and np.allclose(out_t.numpy(), out, atol=1e-4)
    normed = np.concatenate([loaded(m) for m in mats])
    assert np.allclose(normed[:, :3].mean(0), 0, atol=1e-3) and np.allclose(normed[:, :3].std(0), 1, atol=1e-3)
    with pytest.raises(FeatureError, match="features have 5 dims but CMVN has 4"):
        loaded(np.zeros((2, 5)))
    with pytest.raises(FeatureError, match="no frames"):
        CMVNAccumulator().finish()


def test_feature_configs_merge_in_order_and_name_the_bad_file(tmp_path):
    from echo.bin import feats_config

    (tmp_path / "fbank.yaml").write_text("n_mels: 40\nf0_method: dio\n")
    (tmp_path / "pitch.yaml").write_text("f0_method: harvest\nappend_pitch: true\n")
    out = tmp_path / "dump" / "conf" / "feats.yaml"
    feats_config.main([str(tmp_path / "fbank.yaml"), str(tmp_path / "pitch.yaml"), "--out", str(out)])
    assert FeatureConfig.from_yaml(out) == FeatureConfig(n_mels=40, f0_method="harvest", append_pitch=True)
    (tmp_path / "pitch.yaml").write_text("f0_metod: harvest\n")
    with pytest.raises(SystemExit, match=r"pitch.yaml: unknown feature option\(s\) f0_metod"):
        feats_config.main([str(tmp_path / "fbank.yaml"), str(tmp_path / "pitch.yaml"), "--out", str(out)])
