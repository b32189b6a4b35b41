"""On-the-fly audio augmentation for multi-condition training: speed, reverberation, additive noise,
telephone band-limit and gain, applied to the waveform before features are computed (so F0 and pitch
features follow the augmented audio).

Order, per utterance: speed → reverberation → noise → band-limit → gain (a talker in a room, noise in
the room, then the channel and the recording level). Each switch is a field of AugmentConfig, the
`augment:` section of the training config; everything is off by default. Random numbers come only from
the numpy Generator passed in, which the on-the-fly dataset seeds with (seed, epoch, utterance index):
a draw never depends on the worker process that makes it, nor on where a run was resumed.

Speed is sox's `speed` through echo.features.audio.change_speed (the one resampler of echo; the data-dir
copies of utils/perturb_data_dir_speed.py are read through it too); the band-limit resamples to 8 kHz
and back with it.

Reverberation: pyroomacoustics has no wheel for this platform (PyPI ships an sdist that compiles C++
with Eigen), so rooms are simulated here with the statistical model of a room impulse response
(Schroeder; Polack 1988): a direct-path impulse, then a diffuse tail of Gaussian noise under an
exponential envelope exp(-6.91 t / RT60) (60 dB of decay at RT60), starting after a pre-delay. The room
is drawn (width, length, height in metres, wall absorption α) and its RT60 follows from Sabine's formula,
RT60 = 0.161 V / (S α); the direct-to-reverberant ratio is drawn too. This has the energy decay of a
room, which is what hurts recognition, without early-reflection geometry. A user's measured RIRs
(a Kaldi data dir or an scp of wav files, `rir_dir`) replace the simulation when given.

Noise: white, pink (1/f power) and brown (1/f²) noise are made by shaping white Gaussian noise in the
frequency domain; babble sums `babble_speakers` other training utterances; `noise_dir` (a Kaldi data dir
or wav.scp of real noise, MUSAN-style) gives recorded noise at a random offset. The SNR, drawn uniformly in
dB, is the ratio of the mean power of the utterance (silences included) to that of the noise.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from echo.features.audio import change_speed

NOISE_TYPES = ("white", "pink", "brown", "babble", "file")
TELEPHONE_RATE = 8000
SABINE = 0.161           # s/m: RT60 = SABINE · V / (S · α), sound at 343 m/s


@dataclass
class AugmentConfig:
    enabled: bool = False            # features on the fly from audio (needs wav.scp in the train dump dir)
    speed_factors: list = field(default_factory=list)   # e.g. [0.9, 1.0, 1.1]: one drawn per utterance
    noise_prob: float = 0.0          # probability that an utterance gets additive noise
    noise_types: list = field(default_factory=lambda: ["white", "pink", "brown", "babble"])  # drawn uniformly
    snr_db: list = field(default_factory=lambda: [5.0, 20.0])   # SNR ~ U[lo, hi] dB
    babble_speakers: list = field(default_factory=lambda: [3, 6])  # other utterances summed, U{lo..hi}
    noise_dir: str = ""              # Kaldi data dir (or wav.scp file) of real noise; adds type "file"
    reverb_prob: float = 0.0         # probability of reverberation
    room_size_m: list = field(default_factory=lambda: [3.0, 10.0])   # each of width, length ~ U; height U[2.5, 4]
    absorption: list = field(default_factory=lambda: [0.15, 0.6])    # wall absorption coefficient α ~ U
    drr_db: list = field(default_factory=lambda: [0.0, 10.0])        # direct-to-reverberant energy ratio ~ U
    rir_dir: str = ""                # Kaldi data dir (or wav.scp file) of measured RIRs; replaces simulation
    bandlimit_prob: float = 0.0      # probability of the telephone band (resampled to 8 kHz and back)
    gain_db: list = field(default_factory=lambda: [0.0, 0.0])        # gain ~ U[lo, hi] dB; [0, 0]: off

    def __post_init__(self):
        for name in ("noise_prob", "reverb_prob", "bandlimit_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"augment.{name} must lie in [0, 1], got {getattr(self, name)}")
        if any(f <= 0 for f in self.speed_factors):
            raise ValueError(f"augment.speed_factors must be positive, got {self.speed_factors}")
        bad = [t for t in self.noise_types if t not in NOISE_TYPES]
        if bad:
            raise ValueError(f"augment.noise_types: unknown {bad} (valid: {', '.join(NOISE_TYPES)})")
        if "file" in self.noise_types and not self.noise_dir:
            raise ValueError("augment.noise_types has 'file' but augment.noise_dir is empty")
        for name in ("snr_db", "babble_speakers", "room_size_m", "absorption", "drr_db", "gain_db"):
            v = getattr(self, name)
            if len(v) != 2 or v[0] > v[1]:
                raise ValueError(f"augment.{name} must be [low, high] with low <= high, got {v}")
        if not (0 < self.absorption[0] and self.absorption[1] <= 1):
            raise ValueError(f"augment.absorption must lie in (0, 1], got {self.absorption}")

    @property
    def noise_kinds(self) -> list[str]:
        return list(self.noise_types) + (["file"] if self.noise_dir and "file" not in self.noise_types else [])

    @property
    def changes_audio(self) -> bool:
        return bool(self.speed_factors and set(self.speed_factors) != {1.0}) or self.noise_prob > 0 or \
            self.reverb_prob > 0 or self.bandlimit_prob > 0 or self.gain_db != [0.0, 0.0]


# ---- the single effects (each a pure function of its inputs)

def power(x: np.ndarray) -> float:
    return float(np.mean(np.square(x, dtype=np.float64)))


def mix_at_snr(speech: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """speech (N,) + noise (N,) scaled so that 10·log10(P_speech / P_noise) = snr_db."""
    ps, pn = power(speech), power(noise)
    if pn == 0 or ps == 0:
        return speech.astype(np.float32)
    scale = np.sqrt(ps / (pn * 10 ** (snr_db / 10)))
    return (speech + scale * noise).astype(np.float32)


def coloured_noise(n: int, colour: str, rng: np.random.Generator) -> np.ndarray:
    """(n,) Gaussian noise whose power falls as 1/f^0 (white), 1/f (pink) or 1/f² (brown)."""
    white = rng.standard_normal(n)
    if colour == "white":
        return white.astype(np.float32)
    exponent = {"pink": 0.5, "brown": 1.0}[colour]     # amplitude ∝ f^-exponent
    spec = np.fft.rfft(white)
    f = np.arange(len(spec), dtype=np.float64)
    f[0] = 1.0                                         # keep DC finite (then removed below)
    spec = spec / f ** exponent
    spec[0] = 0.0
    return np.fft.irfft(spec, n).astype(np.float32)


def fit_length(x: np.ndarray, n: int, rng: np.random.Generator | None = None) -> np.ndarray:
    """x tiled (when shorter) and cut to n samples, from a random offset when rng is given."""
    if len(x) < n:
        x = np.tile(x, -(-n // len(x)))
    start = int(rng.integers(0, len(x) - n + 1)) if rng is not None and len(x) > n else 0
    return x[start:start + n]


def sabine_rt60(room: tuple[float, float, float], absorption: float) -> float:
    """RT60 (s) of a shoebox room (metres) whose surfaces all absorb `absorption` of the energy."""
    w, l, h = room
    volume, surface = w * l * h, 2 * (w * l + w * h + l * h)
    return SABINE * volume / (surface * absorption)


def simulated_rir(rt60: float, drr_db: float, rate: int, rng: np.random.Generator,
                  predelay_s: float = 0.003) -> np.ndarray:
    """A room impulse response (Polack's statistical model): a unit direct path at t=0, then Gaussian noise
    under exp(-6.91 t / rt60) from predelay_s on, scaled so that direct / tail energy = drr_db, cut where
    the envelope is 60 dB down. → (M,) float32, M = rt60 · rate + predelay samples."""
    n_tail = max(int(rt60 * rate), 1)
    t = np.arange(n_tail) / rate
    tail = rng.standard_normal(n_tail) * np.exp(-6.91 * t / rt60)
    tail *= np.sqrt(1.0 / (np.sum(tail ** 2) * 10 ** (drr_db / 10)))
    rir = np.zeros(int(predelay_s * rate) + n_tail)
    rir[0] = 1.0
    rir[-n_tail:] += tail
    return rir.astype(np.float32)


def reverberate(wave: np.ndarray, rir: np.ndarray) -> np.ndarray:
    """wave convolved with rir, aligned on the RIR's strongest tap (the direct path) and cut to len(wave),
    at the power of the dry signal (reverberation is not a gain)."""
    peak = int(np.argmax(np.abs(rir)))
    n = len(wave) + len(rir) - 1
    size = 1 << (n - 1).bit_length()
    wet = np.fft.irfft(np.fft.rfft(wave, size) * np.fft.rfft(rir, size), size)[peak:peak + len(wave)]
    p_dry, p_wet = power(wave), power(wet)
    if p_wet > 0:
        wet *= np.sqrt(p_dry / p_wet)
    return wet.astype(np.float32)


def telephone_band(wave: np.ndarray, rate: int) -> np.ndarray:
    """wave through an 8 kHz channel: resampled to 8 kHz and back (energy above 4 kHz removed), same length."""
    if rate <= TELEPHONE_RATE:
        return wave
    narrow = change_speed(wave, rate, 1.0, TELEPHONE_RATE)
    return fit_length(change_speed(narrow, TELEPHONE_RATE, 1.0, rate), len(wave))


def apply_gain(wave: np.ndarray, gain_db: float) -> np.ndarray:
    return (wave * 10 ** (gain_db / 20)).astype(np.float32)


# ---- the pipeline

class Augmenter:
    """augmenter(wave, rate, rng, exclude) → the augmented (N',) float32 waveform, N' = N / speed factor.

    babble_pool: utterances (echo.io.utts.Utterance) to draw babble from (the training set); `exclude`,
    an index into it, is never mixed into itself. Real noise and RIRs are read from conf.noise_dir and
    conf.rir_dir with the same utterance iterator.
    """

    def __init__(self, conf: AugmentConfig, babble_pool=(), sample_rate: int = 16000):
        from echo.io.utts import utterances
        self.conf, self.rate = conf, sample_rate
        self.babble_pool = list(babble_pool)
        self.noises = _audio_list(conf.noise_dir, utterances) if conf.noise_dir else []
        self.rirs = _audio_list(conf.rir_dir, utterances) if conf.rir_dir else []
        self.noise_kinds = conf.noise_kinds
        if "babble" in self.noise_kinds and conf.noise_prob > 0 and len(self.babble_pool) < 2:
            raise ValueError("augment: babble noise needs a pool of other training utterances")

    def __call__(self, wave: np.ndarray, rng: np.random.Generator, exclude: int | None = None) -> np.ndarray:
        c = self.conf
        if c.speed_factors:
            factor = float(c.speed_factors[int(rng.integers(len(c.speed_factors)))])
            wave = change_speed(wave, self.rate, factor)
        if c.reverb_prob > 0 and rng.random() < c.reverb_prob:
            wave = reverberate(wave, self.room_rir(rng))
        if c.noise_prob > 0 and rng.random() < c.noise_prob:
            kind = self.noise_kinds[int(rng.integers(len(self.noise_kinds)))]
            snr = float(rng.uniform(*c.snr_db))
            wave = mix_at_snr(wave, self.noise(kind, len(wave), rng, exclude), snr)
        if c.bandlimit_prob > 0 and rng.random() < c.bandlimit_prob:
            wave = telephone_band(wave, self.rate)
        if c.gain_db != [0.0, 0.0]:
            wave = apply_gain(wave, float(rng.uniform(*c.gain_db)))
        return wave

    def room_rir(self, rng: np.random.Generator) -> np.ndarray:
        if self.rirs:
            rir = self.rirs[int(rng.integers(len(self.rirs)))].load(self.rate)
            return rir / max(float(np.max(np.abs(rir))), 1e-9)
        c = self.conf
        room = (rng.uniform(*c.room_size_m), rng.uniform(*c.room_size_m), rng.uniform(2.5, 4.0))
        rt60 = sabine_rt60(room, float(rng.uniform(*c.absorption)))
        return simulated_rir(rt60, float(rng.uniform(*c.drr_db)), self.rate, rng)

    def noise(self, kind: str, n: int, rng: np.random.Generator, exclude: int | None) -> np.ndarray:
        if kind in ("white", "pink", "brown"):
            return coloured_noise(n, kind, rng)
        if kind == "file":
            return fit_length(self.noises[int(rng.integers(len(self.noises)))].load(self.rate), n, rng)
        lo, hi = self.conf.babble_speakers
        count = int(rng.integers(lo, hi + 1))
        others = [i for i in rng.choice(len(self.babble_pool), size=min(count + 1, len(self.babble_pool)),
                                        replace=False).tolist() if i != exclude][:count]
        total = np.zeros(n, dtype=np.float64)
        for i in others:
            voice = self.babble_pool[i].load(self.rate)
            total += fit_length(voice, n, rng) / np.sqrt(max(power(voice), 1e-12))   # each talker at equal level
        return total.astype(np.float32)


def _audio_list(path: str, utterances) -> list:
    """The utterances of a Kaldi data dir, or of a bare wav.scp file; an error naming it when empty."""
    p = Path(path)
    if p.is_file():   # a bare scp: use its parent's iterator on a one-file view
        from echo.data.datadir import read_kv
        from echo.io.utts import Utterance
        utts = [Utterance(k, v) for k, v in read_kv(p)]
    elif (p / "wav.scp").is_file():
        utts = utterances(p)
    else:
        raise ValueError(f"{path}: no audio listed (expected a data dir with wav.scp, or a wav.scp file)")
    if not utts:
        raise ValueError(f"{path}: no audio listed (expected a data dir with wav.scp, or a wav.scp file)")
    return utts
