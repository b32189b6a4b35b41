"""Speed perturbation: utils/perturb_data_dir_speed.py (echo.data.perturb) and the audio it names
(echo.features.audio.change_speed, applied when the audio is read, as sox's `speed` would)."""
import subprocess
import sys
from pathlib import Path

import kaldiio
import numpy as np
import pytest
import soundfile as sf

from echo.bin import dump_feats
from echo.data.datadir import DataDirError, read_kv_dict, write_kv
from echo.data.validate import validate_data_dir
from echo.data.perturb import perturb_data_dir_speed
from echo.features.audio import change_speed, load_audio, parse_speed, speed_entry
from echo.features.config import FeatureConfig

ROOT = Path(__file__).resolve().parents[1]
RATE = 16000


def harmonic_tone(f0, seconds, rate=RATE):
    """A voice-like tone: F0 and its first 5 harmonics, falling in amplitude."""
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 6))).astype(np.float32)


def make_data_dir(tmp_path, segments=False):
    d = tmp_path / "src"
    d.mkdir()
    paths = {}
    for spk, f0 in (("spkA", 120.0), ("spkB", 200.0)):
        paths[spk] = tmp_path / f"{spk}.flac"
        sf.write(paths[spk], harmonic_tone(f0, 1.0), RATE)
    utts = {"spkA-u1": "spkA", "spkB-u1": "spkB"}
    write_kv(d / "utt2spk", utts)
    write_kv(d / "spk2utt", {s: [u] for u, s in utts.items()})
    write_kv(d / "text", {u: "hello world" for u in utts})
    write_kv(d / "utt2dur", {u: "1.000" for u in utts})
    if segments:
        write_kv(d / "wav.scp", {f"{s}-rec": str(p) for s, p in paths.items()})
        write_kv(d / "segments", {f"{s}-u1": f"{s}-rec 0.2 0.8" for s in paths})
    else:
        write_kv(d / "wav.scp", {f"{s}-u1": str(p) for s, p in paths.items()})
    return d


def test_ids_durations_and_utt2spk_are_perturbed(tmp_path):
    src = make_data_dir(tmp_path)
    dest = tmp_path / "sp"
    r = subprocess.run([sys.executable, str(ROOT / "utils/perturb_data_dir_speed.py"), "0.9", str(src), str(dest)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    validate_data_dir(dest, no_feats=True)
    assert read_kv_dict(dest / "utt2spk") == {"sp0.9-spkA-u1": "sp0.9-spkA", "sp0.9-spkB-u1": "sp0.9-spkB"}
    assert read_kv_dict(dest / "text") == {"sp0.9-spkA-u1": "hello world", "sp0.9-spkB-u1": "hello world"}
    assert read_kv_dict(dest / "utt2uniq") == {"sp0.9-spkA-u1": "spkA-u1", "sp0.9-spkB-u1": "spkB-u1"}
    assert float(read_kv_dict(dest / "utt2dur")["sp0.9-spkA-u1"]) == pytest.approx(1 / 0.9, abs=1e-4)
    entry = read_kv_dict(dest / "wav.scp")["sp0.9-spkA-u1"]
    assert entry == f"sox {tmp_path}/spkA.flac -t wav - speed 0.9 |"
    # The audio, read through the entry, is 1/0.9 as long.
    assert len(load_audio(entry, RATE)) == pytest.approx(RATE / 0.9, abs=2)


def test_segments_scale_and_cut_the_same_audio(tmp_path):
    src = make_data_dir(tmp_path, segments=True)
    dest = tmp_path / "sp"
    perturb_data_dir_speed("1.1", src, dest)
    seg = read_kv_dict(dest / "segments")["sp1.1-spkA-u1"].split()
    assert seg[0] == "sp1.1-spkA-rec"
    assert float(seg[1]) == pytest.approx(0.2 / 1.1, abs=1e-4) and float(seg[2]) == pytest.approx(0.8 / 1.1, abs=1e-4)
    wav = read_kv_dict(dest / "wav.scp")["sp1.1-spkA-rec"]
    cut = load_audio(wav, RATE, float(seg[1]), float(seg[2]))
    whole = load_audio(wav, RATE)
    assert len(cut) == pytest.approx(0.6 / 1.1 * RATE, abs=3)
    first = int(round(float(seg[1]) * RATE))   # the cut is that stretch of the whole perturbed recording
    assert np.abs(cut[200:-200] - whole[first + 200:first + len(cut) - 200]).max() < 0.02


def test_f0_of_a_perturbed_tone_scales_by_the_factor(tmp_path):
    """Through the dump stage: f0.scp of the sp1.1 copy is 1.1 times the original's."""
    src = make_data_dir(tmp_path)
    conf = tmp_path / "feats.yaml"
    FeatureConfig(f0_floor=60, f0_ceil=400, append_pitch=True).to_yaml(conf)
    medians = {}
    for factor in ("0.9", "1.1"):
        perturb_data_dir_speed(factor, src, tmp_path / f"sp{factor}")
    for name in ("src", "sp0.9", "sp1.1"):
        dump_feats.main(["--data", str(tmp_path / name), "--out", str(tmp_path / "dump" / name), "--conf", str(conf)])
        for utt, f0 in kaldiio.load_scp(str(tmp_path / "dump" / name / "f0.scp")).items():
            medians[utt] = float(np.median(f0[f0 > 0]))
    for spk, f0 in (("spkA", 120.0), ("spkB", 200.0)):
        assert medians[f"{spk}-u1"] == pytest.approx(f0, rel=0.02)
        for factor in (0.9, 1.1):
            assert medians[f"sp{factor}-{spk}-u1"] == pytest.approx(f0 * factor, rel=0.02)
    frames = read_kv_dict(tmp_path / "dump/sp0.9/utt2num_frames")
    assert int(frames["sp0.9-spkA-u1"]) == 1 + (round(RATE / 0.9) - 400) // 160   # 25 ms window, 10 ms shift


def test_change_speed_is_the_one_resampling():
    wave = harmonic_tone(150.0, 1.0, 22050)
    assert len(change_speed(wave, 22050, 1.0, RATE)) == RATE          # plain resampling
    assert len(change_speed(wave, 22050, 0.8, RATE)) == pytest.approx(RATE / 0.8, abs=2)
    with pytest.raises(ValueError, match="positive"):
        change_speed(wave, 22050, 0.0)


def test_kaldi_spellings_are_recognised_and_others_run_as_pipes(tmp_path):
    path = tmp_path / "a b.wav"
    sf.write(path, harmonic_tone(100.0, 0.5), RATE)
    assert parse_speed(speed_entry(str(path), "0.9")) == (str(path), 0.9)
    kaldi = f"sox -t wav {tmp_path}/x.wav -t wav - speed 1.1 |"        # utils/perturb_data_dir_speed.sh
    assert parse_speed(kaldi) == (f"{tmp_path}/x.wav", 1.1)
    piped = speed_entry(f"cat '{path}' |", "1.1")
    assert parse_speed(piped) == (f"cat '{path}' |", 1.1)
    assert len(load_audio(piped, RATE)) == pytest.approx(0.5 * RATE / 1.1, abs=2)
    twice = speed_entry(speed_entry(str(path), "0.9"), "1.1")
    assert parse_speed(twice)[1] == pytest.approx(0.99)
    other = "sox a.wav -t wav - tempo 0.9 |"
    assert parse_speed(other) == (other, 1.0)


def test_perturbing_a_dumped_dir_is_refused(tmp_path):
    src = make_data_dir(tmp_path)
    (src / "feats.scp").write_text("spkA-u1 x.ark:1\n")
    with pytest.raises(DataDirError, match="before dumping"):
        perturb_data_dir_speed("0.9", src, tmp_path / "sp")
