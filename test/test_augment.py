"""On-the-fly augmentation (echo.data.augment, echo.data.onthefly): each switch does what it says, measured
on the audio; off draws no random number and gives the dumped features; a run killed mid-epoch with
augmentation on resumes to the weights of an uninterrupted one."""
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml

from echo.bin import train
from echo.bin.compute_cmvn import main as compute_cmvn
from echo.bin.dump_feats import main as dump_feats
from echo.data import augment as A
from echo.data.dataset import EchoDataset
from echo.data.onthefly import AugmentedDataset, training_dataset
from echo.features.config import FeatureConfig
from echo.features.pitch import compute_f0
from echo.features.fbank import num_frames
from echo.text.tokenizer import build_token_list
from test_train import KILLER   # SIGKILLs the trainer at its N-th checkpoint write

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
RATE = 16000
WORDS = ["ay", "bee", "see"]
TINY_MODEL = dict(d_model=32, n_heads=2, enc_layers=1, dec_layers=1, ff_dim=64, conv_channels=8)


def harmonic_tone(f0: float, seconds: float, rate: int = RATE) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 6))).astype(np.float32)


# ---------------------------------------------------------------- single effects, measured

def test_noise_at_the_drawn_snr_and_colours():
    rng = np.random.default_rng(0)
    speech = harmonic_tone(150, 1.0)
    for colour in ("white", "pink", "brown"):
        noise = A.coloured_noise(len(speech), colour, rng)
        for snr in (0.0, 10.0, 20.0):
            mixed = A.mix_at_snr(speech, noise, snr)
            measured = 10 * np.log10(A.power(speech) / A.power(mixed - speech))
            assert abs(measured - snr) < 1.0, (colour, snr, measured)
    # the colours' spectral slopes: power per octave band falls ~0, 3 and 6 dB per octave
    n = 1 << 16
    for colour, slope in (("white", 0.0), ("pink", -3.0), ("brown", -6.0)):
        spec = np.abs(np.fft.rfft(A.coloured_noise(n, colour, np.random.default_rng(1)))) ** 2
        bands = [spec[lo:2 * lo].sum() for lo in (256, 512, 1024, 2048)]   # octaves
        per_octave = np.mean(np.diff(10 * np.log10(bands)))
        # white: +3 dB per octave band (twice the bins) is the flat spectrum
        assert abs(per_octave - (slope + 3.0)) < 1.0, (colour, per_octave)


def test_speed_changes_duration_and_f0_through_change_speed():
    conf = FeatureConfig(n_mels=16)
    tone = harmonic_tone(150, 1.0)
    for factor in (0.9, 1.1):
        aug = A.Augmenter(A.AugmentConfig(enabled=True, speed_factors=[factor]))
        out = aug(tone, np.random.default_rng(0))
        assert abs(len(out) - len(tone) / factor) <= 2
        f0 = compute_f0(out, conf, num_frames(len(out), conf))
        voiced = f0[f0 > 0]
        assert len(voiced) > 0.8 * len(f0)
        assert np.median(voiced) == pytest.approx(150 * factor, rel=0.02)


def schroeder_rt60(rir: np.ndarray, rate: int) -> float:
    """RT60 from the Schroeder backward integral of the tail: the -5 to -25 dB slope (T20) × 3."""
    tail = rir[int(np.argmax(np.abs(rir))) + 1:]
    edc = np.cumsum(tail[::-1] ** 2)[::-1]
    edc_db = 10 * np.log10(edc / edc[0])
    i5, i25 = np.argmax(edc_db <= -5), np.argmax(edc_db <= -25)
    return 3 * (i25 - i5) / rate


def test_simulated_room_decays_at_its_sabine_rt60_and_drr():
    for room, absorption in (((4.0, 5.0, 3.0), 0.3), ((8.0, 10.0, 3.5), 0.2), ((3.0, 3.0, 2.5), 0.6)):
        rt60 = A.sabine_rt60(room, absorption)
        rir = A.simulated_rir(rt60, 5.0, RATE, np.random.default_rng(0))
        assert schroeder_rt60(rir, RATE) == pytest.approx(rt60, rel=0.15), (room, absorption)
        drr = 10 * np.log10(rir[0] ** 2 / np.sum(rir[1:] ** 2))
        assert drr == pytest.approx(5.0, abs=0.1)
    assert A.sabine_rt60((5.0, 5.0, 3.0), 0.3) == pytest.approx(0.161 * 75 / (110 * 0.3))
    # reverberation smears a click over the room's tail, keeps the length and the power
    click = np.zeros(RATE, dtype=np.float32)
    click[1000] = 1.0
    wet = A.reverberate(click, A.simulated_rir(0.5, 0.0, RATE, np.random.default_rng(1)))
    assert len(wet) == len(click) and A.power(wet) == pytest.approx(A.power(click), rel=1e-4)
    assert np.argmax(np.abs(wet)) == 1000 and np.sum(wet[1200:] ** 2) > 0.3 * np.sum(wet ** 2)


def test_band_limit_removes_energy_above_4khz_and_gain_scales():
    noise = A.coloured_noise(RATE, "white", np.random.default_rng(0))
    narrow = A.telephone_band(noise, RATE)
    assert len(narrow) == len(noise)
    spec = lambda x: np.abs(np.fft.rfft(x)) ** 2   # noqa: E731  (1 Hz bins: 1 s at 16 kHz)
    above = spec(narrow)[4100:].sum() / spec(noise)[4100:].sum()
    below = spec(narrow)[300:3800].sum() / spec(noise)[300:3800].sum()
    assert above < 1e-3 and below > 0.95
    assert A.power(A.apply_gain(noise, -6.0)) == pytest.approx(A.power(noise) * 10 ** -0.6, rel=1e-5)
    aug = A.Augmenter(A.AugmentConfig(enabled=True, gain_db=[-10.0, -10.0]))
    assert np.allclose(aug(noise, np.random.default_rng(0)), noise * 10 ** -0.5, atol=1e-6)


def test_bad_augment_config_names_the_key():
    with pytest.raises(ValueError, match="augment.noise_prob"):
        A.AugmentConfig(noise_prob=1.5)
    with pytest.raises(ValueError, match="augment.snr_db"):
        A.AugmentConfig(snr_db=[20, 5])
    with pytest.raises(ValueError, match="noise_types"):
        A.AugmentConfig(noise_types=["pink", "traffic"])


# ---------------------------------------------------------------- an audio dump

def make_audio_dump(root: Path, name: str, n_utts: int, seed: int) -> Path:
    """data/<name> of harmonic 'words' (one F0 per word, two speakers), dumped to dump/<name> (16 mels)."""
    rng = np.random.default_rng(seed)
    data, wavs = root / "data" / name, root / "wav" / name
    data.mkdir(parents=True)
    wavs.mkdir(parents=True)
    wav_scp, text = [], []
    for u in range(n_utts):
        utt = f"spk{u % 2}-{name}{u:03d}"   # written sorted below
        ws = rng.choice(len(WORDS), size=2)
        wave = np.concatenate([np.zeros(800, np.float32)] + [harmonic_tone(120 + 60 * w, 0.25) for w in ws]
                              + [np.zeros(800, np.float32)])
        sf.write(wavs / f"{utt}.wav", wave + 0.01 * rng.standard_normal(len(wave)).astype(np.float32), RATE)
        wav_scp.append(f"{utt} {wavs / f'{utt}.wav'}\n")
        text.append(f"{utt} {' '.join(WORDS[w] for w in ws)}\n")
    wav_scp, text = sorted(wav_scp), sorted(text)
    (data / "wav.scp").write_text("".join(wav_scp))
    (data / "text").write_text("".join(text))
    utts = [line.split()[0] for line in wav_scp]
    (data / "utt2spk").write_text("".join(f"{u} {u.split('-')[0]}\n" for u in utts))
    (data / "spk2utt").write_text("".join(f"spk{s} {' '.join(u for u in utts if u.startswith(f'spk{s}-'))}\n"
                                          for s in (0, 1)))
    conf = root / "feats.yaml"
    if not conf.is_file():
        FeatureConfig(n_mels=16).to_yaml(conf)
    out = root / "dump" / name
    dump_feats(["--data", str(data), "--out", str(out), "--conf", str(conf), "--nj", "1"])
    return out


@pytest.fixture(scope="module")
def audio_dumps(tmp_path_factory):
    root = tmp_path_factory.mktemp("augdump")
    train_dir = make_audio_dump(root, "train", 10, 0)
    valid_dir = make_audio_dump(root, "valid", 3, 1)
    compute_cmvn(["--dump", str(train_dir)])
    build_token_list([" ".join(WORDS)], "word", root / "tok")
    return root, train_dir, valid_dir


def rng_states():
    return random.getstate(), np.random.get_state()[1].copy(), torch.get_rng_state().clone()


def same_states(a, b):
    return a[0] == b[0] and np.array_equal(a[1], b[1]) and torch.equal(a[2], b[2])


def test_off_draws_nothing_and_gives_the_dumped_features(audio_dumps):
    root, train_dir, _ = audio_dumps
    cmvn = train_dir / "cmvn.npz"
    before = rng_states()
    off = training_dataset(train_dir, None, cmvn, {}, seed=0)
    assert type(off) is EchoDataset                       # the default path is the dumped one, untouched
    # features on the fly with no switch on: exactly the dumped features, and still no draw
    fly = AugmentedDataset(train_dir, None, cmvn, A.AugmentConfig(enabled=True), seed=0)
    for i in range(len(off)):
        a, b = off[i], fly[i]
        assert a["utt_id"] == b["utt_id"]
        assert torch.allclose(a["feats"], b["feats"], atol=1e-5) and torch.equal(a["f0"], b["f0"])
    assert same_states(before, rng_states())


def test_draws_depend_on_seed_epoch_and_index_only(audio_dumps):
    root, train_dir, _ = audio_dumps
    conf = A.AugmentConfig(enabled=True, speed_factors=[0.9, 1.0, 1.1], noise_prob=0.7, reverb_prob=0.5,
                           bandlimit_prob=0.5, gain_db=[-6.0, 6.0])
    ds = AugmentedDataset(train_dir, None, train_dir / "cmvn.npz", conf, seed=3)
    before = rng_states()
    first = [ds[i]["feats"] for i in (4, 0, 7)]
    assert same_states(before, rng_states())             # never the global generators
    again = [ds[i]["feats"] for i in (7, 4, 0)]            # another order, as another worker would ask
    assert all(torch.equal(a, b) for a, b in zip(first, [again[1], again[2], again[0]]))
    clean = AugmentedDataset(train_dir, None, train_dir / "cmvn.npz", A.AugmentConfig(enabled=True))
    assert not torch.equal(first[0], clean[4]["feats"]) if first[0].shape == clean[4]["feats"].shape else True
    ds.set_epoch(2)
    assert any(not torch.equal(a, ds[i]["feats"]) if a.shape == ds[i]["feats"].shape else True
               for a, i in zip(first, (4, 0, 7)))
    # F0 follows the augmented audio: speed 1.1 raises the tracked F0 by 10 %
    fast = AugmentedDataset(train_dir, None, None, A.AugmentConfig(enabled=True, speed_factors=[1.1]))
    plain = AugmentedDataset(train_dir, None, None, A.AugmentConfig(enabled=True))
    f_fast, f_plain = fast[0]["f0"], plain[0]["f0"]
    mean_log = lambda f: float(np.log(f[f > 0].numpy()).mean())   # noqa: E731  (two words, two F0s)
    assert mean_log(f_fast) - mean_log(f_plain) == pytest.approx(np.log(1.1), abs=0.02)
    assert len(f_fast) == pytest.approx(len(f_plain) / 1.1, abs=2)


# ---------------------------------------------------------------- resume mid-epoch with augmentation on


def test_sigkill_mid_epoch_with_augmentation_resumes_to_the_uninterrupted_run(audio_dumps, tmp_path):
    root, train_dir, valid_dir = audio_dumps
    conf = tmp_path / "train.yaml"
    conf.write_text(yaml.safe_dump({
        "model": {**TINY_MODEL, "dropout": 0.1},
        "optim": {"lr": 3e-3, "warmup_steps": 5},
        "batch": {"batch_frames": 160},      # 2-3 utterances of ~60 frames a batch
        "train": {"max_epoch": 2, "log_interval": 2, "save_interval_steps": 2, "keep_nbest": 2, "nbest_average": 0},
        "augment": {"enabled": True, "speed_factors": [0.9, 1.0, 1.1], "noise_prob": 0.8, "reverb_prob": 0.5,
                    "bandlimit_prob": 0.3, "gain_db": [-6.0, 6.0], "babble_speakers": [1, 2]}}))

    def args(tag, workers):
        return ["--config", str(conf), "--train", str(train_dir), "--valid", str(valid_dir), "--token-dir",
                str(root / "tok"), "--tag", tag, "--exp-dir", str(tmp_path / "exp"), "--num-workers", str(workers)]

    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    n_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train.main(args("full", 0))          # uninterrupted, in this process, without workers
    finally:
        torch.set_num_threads(n_threads)
    script = tmp_path / "killer.py"
    script.write_text(KILLER)
    killed = subprocess.run([PYTHON, str(script), "3", *args("resumed", 1)], env=env, capture_output=True,
                            text=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    ck = torch.load(tmp_path / "exp" / "resumed" / "checkpoint.pt", weights_only=True)
    assert 0 < ck["position"] < ck["batches_per_epoch"]          # killed mid-epoch
    resumed = subprocess.run([PYTHON, "-m", "echo.bin.train", *args("resumed", 0)], env=env, capture_output=True,
                             text=True, timeout=120, cwd=ROOT)
    assert resumed.returncode == 0 and "resumed from" in resumed.stderr, resumed.stderr[-2000:]
    a = torch.load(tmp_path / "exp" / "full" / "checkpoint.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "exp" / "resumed" / "checkpoint.pt", weights_only=True)["model"]
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-5), k


def test_user_noise_and_rir_data_dirs(tmp_path):
    """A noise data dir (MUSAN-style) is mixed at the drawn SNR; a given RIR replaces the simulated rooms."""
    hum = harmonic_tone(50, 0.5)          # a short recording: tiled to the utterance
    sf.write(tmp_path / "hum.wav", hum, RATE)
    noise_dir = tmp_path / "noise"
    noise_dir.mkdir()
    (noise_dir / "wav.scp").write_text(f"hum {tmp_path / 'hum.wav'}\n")
    rir = np.zeros(800, np.float32)
    rir[0], rir[400] = 1.0, 0.5           # the direct path and one echo 25 ms later
    sf.write(tmp_path / "echo.wav", rir, RATE)
    (tmp_path / "rirs.scp").write_text(f"echo {tmp_path / 'echo.wav'}\n")
    speech = harmonic_tone(200, 1.0)
    noisy = A.Augmenter(A.AugmentConfig(enabled=True, noise_prob=1.0, noise_types=["file"], noise_dir=str(noise_dir),
                                        snr_db=[10.0, 10.0]))(speech, np.random.default_rng(0))
    assert 10 * np.log10(A.power(speech) / A.power(noisy - speech)) == pytest.approx(10.0, abs=0.1)
    added = noisy - speech                # the hum itself: its spectrum peaks at 50 Hz (1 Hz bins)
    assert abs(int(np.argmax(np.abs(np.fft.rfft(added)))) - 50) <= 1
    wet = A.Augmenter(A.AugmentConfig(enabled=True, reverb_prob=1.0, rir_dir=str(tmp_path / "rirs.scp")))(
        speech, np.random.default_rng(0))
    expected = speech.astype(np.float64).copy()
    expected[400:] += 0.5 * speech[:-400]
    expected *= np.sqrt(A.power(speech) / A.power(expected))
    assert np.allclose(wet, expected, atol=1e-4)
    with pytest.raises(ValueError, match="no audio listed"):
        A.Augmenter(A.AugmentConfig(rir_dir=str(tmp_path / "empty")))
