"""Every F0 extractor and both pitch-feature kinds on awkward input (silence, clipping, DC offset, 30 ms,
NaN), and a feature dump with Kaldi's pitch (f0_method: kaldi, pitch_features: kaldi)."""
from pathlib import Path

import kaldiio
import numpy as np
import pytest

from echo.bin.dump_feats import main as dump_feats
from echo.features.config import F0_METHODS, PITCH_FEATURES, FeatureConfig, FeatureError
from echo.features.extract import extract_features

RATE = 16000
FSDD = Path(__file__).resolve().parents[2] / "shared/data/fsdd"
CONFIGS = [(m, p) for m in F0_METHODS for p in PITCH_FEATURES]


def tone(freq=150.0, seconds=0.5, amp=0.3):
    t = np.arange(int(seconds * RATE)) / RATE
    x = sum(amp * 0.6 ** k * np.sin(2 * np.pi * freq * (k + 1) * t) for k in range(5))
    return (x + 0.001 * np.random.default_rng(0).standard_normal(len(t))).astype(np.float32)


def run(wave, method, kind):
    conf = FeatureConfig(f0_method=method, append_pitch=True, pitch_features=kind)
    feats, f0 = extract_features(np.asarray(wave, np.float32), conf)
    assert feats.shape == (len(f0), 83) and np.isfinite(feats).all() and np.isfinite(f0).all()
    return feats, f0


@pytest.mark.parametrize("method,kind", CONFIGS)
def test_silence_and_constant_are_unvoiced(method, kind):
    for wave in (np.zeros(RATE), np.full(RATE, 0.5)):
        feats, f0 = run(wave, method, kind)
        assert not f0.any()
        assert np.ptp(feats[:, 80:], axis=0).max() < 1.0      # pitch features flat, whichever kind


@pytest.mark.parametrize("method,kind", CONFIGS)
def test_clipping_and_dc_offset_keep_the_pitch(method, kind):
    clipped = np.clip(10 * tone(), -1.0, 1.0)
    offset = tone() + 0.5
    for wave in (clipped, offset):
        _, f0 = run(wave, method, kind)
        assert (f0 > 0).mean() > 0.8
        assert np.median(f0[f0 > 0]) == pytest.approx(150.0, rel=0.03)


@pytest.mark.parametrize("method,kind", CONFIGS)
def test_30_ms_utterance_gives_one_frame(method, kind):
    feats, f0 = run(tone(seconds=0.030), method, kind)
    assert len(f0) == 1


@pytest.mark.parametrize("method,kind", CONFIGS)
def test_nan_and_too_short_are_clear_errors(method, kind):
    bad = tone()
    bad[100] = np.nan
    with pytest.raises(FeatureError, match="1 NaN/Inf"):
        run(bad, method, kind)
    with pytest.raises(FeatureError, match="shorter than one frame"):
        run(tone(seconds=0.020), method, kind)


def test_kaldi_features_are_kaldis_post_processing():
    """pitch_features: kaldi is [POV, normalised log pitch, delta] (Kaldi's scales); echo's is different."""
    wave = tone(seconds=1.0)
    kaldi, f0 = run(wave, "kaldi", "kaldi")
    echo, _ = run(wave, "kaldi", "echo")
    np.testing.assert_array_equal(kaldi[:, :80], echo[:, :80])
    assert np.all(kaldi[5:-5, 80] < -0.5)             # POV feature 2*((1.0001-nccf)^0.15-1): strongly voiced
    assert np.abs(kaldi[5:-5, 81]).max() < 0.05       # steady pitch: normalised log pitch near 0
    assert not np.allclose(kaldi[:, 80:], echo[:, 80:])


def test_dump_with_kaldi_pitch(tmp_path):
    recordings = FSDD / "recordings"
    if not recordings.is_dir():
        pytest.skip(f"FSDD not found at {FSDD}")
    names = ["0_jackson_0", "1_george_2", "5_yweweler_6"]
    data = tmp_path / "data"
    data.mkdir()
    utts = sorted(f"{n.split('_')[1]}-{n}" for n in names)
    (data / "wav.scp").write_text("".join(f"{u} {recordings / (u.split('-')[1] + '.wav')}\n" for u in utts))
    (data / "utt2spk").write_text("".join(f"{u} {u.split('-')[0]}\n" for u in utts))
    (data / "spk2utt").write_text("".join(f"{u.split('-')[0]} {u}\n" for u in utts))
    (data / "text").write_text("".join(f"{u} digit\n" for u in utts))
    conf_path = tmp_path / "pitch.yaml"
    conf_path.write_text("f0_method: kaldi\nappend_pitch: true\npitch_features: kaldi\n")
    out = tmp_path / "dump"
    dump_feats(["--data", str(data), "--out", str(out), "--conf", str(conf_path), "--nj", "2"])
    feats = dict(kaldiio.load_scp_sequential(str(out / "feats.scp")))
    f0 = dict(kaldiio.load_scp_sequential(str(out / "f0.scp")))
    assert sorted(feats) == utts
    conf = FeatureConfig.from_yaml(out / "conf" / "feats.yaml")
    assert (conf.f0_method, conf.pitch_features, conf.feats_dim) == ("kaldi", "kaldi", 83)
    for utt in utts:
        assert feats[utt].shape == (len(f0[utt]), 83)
        assert 0.2 < (f0[utt] > 0).mean() < 1.0 and np.all((f0[utt] == 0) | (f0[utt] > 50))


def test_dio_fallback_gives_short_utterances_their_pitch():
    """On 2_theo_34 (0.16 s) DIO finds no voiced frame; Kaldi's tracker or Harvest, as fallback, do.
    Where DIO finds enough voicing the fallback changes nothing."""
    path = FSDD / "recordings" / "2_theo_34.wav"
    if not path.is_file():
        pytest.skip(f"FSDD not found at {FSDD}")
    from echo.features.audio import load_audio
    wave = load_audio(str(path), RATE)
    f0 = {fb: extract_features(wave, FeatureConfig(dio_fallback=fb))[1] for fb in ("none", "kaldi", "harvest", "swift")}
    assert not f0["none"].any()
    assert all((f0[fb] > 0).mean() > 0.3 for fb in ("kaldi", "harvest", "swift"))
    voiced = f0["kaldi"] > 0
    assert np.median(f0["kaldi"][voiced]) == pytest.approx(np.median(f0["harvest"][f0["harvest"] > 0]), rel=0.1)
    steady = tone()
    np.testing.assert_array_equal(extract_features(steady, FeatureConfig(dio_fallback="kaldi"))[1],
                                  extract_features(steady, FeatureConfig())[1])
    with pytest.raises(FeatureError, match="dio_fallback 'crepe' is not available"):
        FeatureConfig(dio_fallback="crepe")
    with pytest.raises(FeatureError, match="SwiftF0 covers 46.875-2093.75 Hz"):
        FeatureConfig(f0_method="swift", f0_floor=40.0)
