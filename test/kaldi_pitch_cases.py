"""The inputs and options behind test/fixtures/kaldi_pitch/reference.json: waveforms made by NumPy alone
(PCG64 noise and sines, identical across NumPy versions) and FSDD recordings read from /work/shared, so
test_kaldi_pitch.py rebuilds exactly what make_reference.py gave Kaldi (torchaudio 2.0.2).

Only numpy and soundfile are imported here: make_reference.py runs this file in its own venv.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

FSDD = Path(os.environ.get("ECHO_FSDD", Path(__file__).resolve().parents[2] / "shared" / "data" / "fsdd"))
FSDD_FILES = ["0_george_3.wav", "1_jackson_7.wav", "2_lucas_12.wav", "3_nicolas_20.wav", "4_theo_31.wav",
              "5_yweweler_40.wav", "6_george_44.wav", "7_jackson_2.wav", "8_lucas_9.wav", "9_nicolas_48.wav",
              "3_theo_5.wav", "6_yweweler_17.wav"]


def harmonic(f0: np.ndarray, rate: int, num_harmonics: int = 12, tilt: float = 0.7) -> np.ndarray:
    """A glottal-like harmonic complex following the per-sample F0 contour f0 (Hz), 0 = silent."""
    phase = 2 * np.pi * np.cumsum(f0) / rate
    out = np.zeros_like(f0)
    for k in range(1, num_harmonics + 1):
        alias_free = (k * f0 < rate / 2).astype(np.float64)
        out += tilt ** (k - 1) * np.sin(k * phase) * alias_free
    return out * (f0 > 0)


def synthetic(name: str, rate: int) -> np.ndarray:
    """Deterministic test signals, the same at any rate up to sampling."""
    rng = np.random.default_rng(abs(hash_name(name)) % (2 ** 32))
    n = int(1.2 * rate)
    t = np.arange(n) / rate
    if name == "glide":        # 100 -> 220 Hz over a voiced stretch with silences and noise around it
        f0 = np.where((t > 0.15) & (t < 1.0), 100 + 120 * (t - 0.15) / 0.85, 0.0)
        x = 0.3 * harmonic(f0, rate) + 0.01 * rng.standard_normal(n)
    elif name == "vibrato":    # 180 Hz +- 20 Hz at 5 Hz, two voiced stretches
        f0 = 180 + 20 * np.sin(2 * np.pi * 5 * t)
        f0 = np.where((t < 0.5) | (t > 0.7), f0, 0.0)
        x = 0.2 * harmonic(f0, rate, tilt=0.8) + 0.003 * rng.standard_normal(n)
    elif name == "low":        # 65 Hz, near Kaldi's min_f0
        x = 0.3 * harmonic(np.full(n, 65.0), rate) + 0.01 * rng.standard_normal(n)
    elif name == "high":       # 340 Hz, near Kaldi's max_f0
        x = 0.3 * harmonic(np.full(n, 340.0), rate, num_harmonics=5) + 0.01 * rng.standard_normal(n)
    elif name == "noise":      # unvoiced throughout
        x = 0.1 * rng.standard_normal(n)
    elif name == "steps":      # 120 / 150 / 110 Hz steps, with a DC offset
        f0 = np.select([t < 0.4, t < 0.8], [120.0, 150.0], 110.0)
        x = 0.25 * harmonic(f0, rate) + 0.05 + 0.01 * rng.standard_normal(n)
    else:
        raise KeyError(name)
    return x


def hash_name(name: str) -> int:
    return int.from_bytes(name.encode(), "little") % 1000003


SYNTHETIC = ["glide", "vibrato", "low", "high", "noise", "steps"]


def read_fsdd(name: str) -> np.ndarray:
    import soundfile
    x, rate = soundfile.read(FSDD / "recordings" / name, dtype="float64")
    assert rate == 8000, (name, rate)
    return x


def upsample2(x: np.ndarray) -> np.ndarray:
    """8 kHz → 16 kHz by zero-padding the spectrum (NumPy's FFT; exact enough to be reproducible)."""
    spec = np.fft.rfft(x)
    out = np.fft.irfft(np.concatenate([spec, np.zeros(len(x) - len(spec) + 1)]), 2 * len(x))
    return out * 2


def waveform(source: str, rate: int) -> np.ndarray:
    """source is 'synth:<name>', 'fsdd:<file>' or 'fsddcat' (all FSDD files end to end, about 5 s)."""
    kind, _, name = source.partition(":")
    if kind == "synth":
        return synthetic(name, rate)
    if kind == "fsdd":
        x = read_fsdd(name)
    elif kind == "fsddcat":
        x = np.concatenate([read_fsdd(f) for f in FSDD_FILES])
    else:
        raise KeyError(source)
    return x if rate == 8000 else upsample2(x)


def cases() -> list[dict]:
    """(source, rate, options) triples: defaults at 16 and 8 kHz, and the non-default options."""
    out = []
    for name in SYNTHETIC:
        out.append({"source": f"synth:{name}", "rate": 16000, "options": {}})
    for f in FSDD_FILES:
        out.append({"source": f"fsdd:{f}", "rate": 8000, "options": {}})
    for f in FSDD_FILES[:4]:
        out.append({"source": f"fsdd:{f}", "rate": 16000, "options": {}})
    for name in ("glide", "vibrato", "low", "high"):
        out.append({"source": f"synth:{name}", "rate": 8000, "options": {}})
    out += [
        {"source": "synth:glide", "rate": 16000, "options": {"min_f0": 70, "max_f0": 300}},
        {"source": "synth:high", "rate": 16000, "options": {"min_f0": 100, "max_f0": 500}},
        {"source": f"fsdd:{FSDD_FILES[1]}", "rate": 8000, "options": {"min_f0": 60, "max_f0": 250}},
        {"source": "synth:vibrato", "rate": 16000, "options": {"snip_edges": False}},
        {"source": f"fsdd:{FSDD_FILES[2]}", "rate": 8000, "options": {"snip_edges": False}},
        {"source": f"fsdd:{FSDD_FILES[3]}", "rate": 16000, "options": {"snip_edges": False}},
        {"source": "synth:steps", "rate": 16000, "options": {"frame_shift": 5.0, "frame_length": 20.0}},
        {"source": "synth:glide", "rate": 16000, "options": {"penalty_factor": 0.5, "soft_min_f0": 5.0}},
        {"source": "synth:vibrato", "rate": 16000, "options": {"frames_per_chunk": 10}},
        {"source": "fsddcat", "rate": 8000, "options": {}},
        {"source": "fsddcat", "rate": 16000, "options": {"frames_per_chunk": 50}},
    ]
    return out
