"""F0 per fbank frame (pyworld DIO+StoneMask or Harvest, Kaldi's tracker, SwiftF0) and pitch features.

Kaldi's tracker (kaldi_pitch.py) frames exactly as fbank does (snip_edges: frame t starts at t*hop with
the same window length), so its frame t is fbank frame t; it can give one frame more (its 4 kHz signal
is rounded up), which is trimmed. It gives a pitch on every frame: a frame counts as voiced (F0 > 0)
where Kaldi's probability of voicing from the NCCF is at least KALDI_VOICED_POV.

Alignment: fbank frame t is centred at sample t*hop + win//2 (snip_edges=true, see fbank.py), while
pyworld puts its frame k at sample k*hop of whatever signal it is given. We therefore hand pyworld the
waveform from sample win//2 on, so its frame t lands on fbank frame t's centre exactly, with the frame
period equal to the fbank shift. pyworld then returns 1 or 2 frames more than fbank (frames centred past
fbank's last frame, whose window would run past the end); those are trimmed. A larger difference is a
framing bug and an error naming both sizes.
"""
from __future__ import annotations

import numpy as np
import pyworld

from echo.features.config import FeatureConfig, FeatureError
from echo.features.kaldi_pitch import compute_kaldi_pitch, nccf_to_pov

MAX_LENGTH_MISMATCH = 2     # frames of F0 we pad (unvoiced) or trim to match the fbank frame count
NORM_WINDOW = 151           # frames in the moving window of the log-F0 normalisation (Kaldi's default)
POV_SMOOTH = 5              # frames in the moving average that turns the 0/1 voicing into a soft value
DELTA_WINDOW = 2            # regression half-width of delta log-F0 (Kaldi's ComputeDeltas default)
# DIO analyses a copy decimated to about this rate (pyworld's `speed` = decimation factor, 1..12). F0 up
# to 1 kHz is still far below its Nyquist rate. On FSDD speech at 16 kHz, speed=4 agreed with speed=1 on
# 99% of voicing decisions (0.1% gross F0 errors), was as close to Harvest, and ran 2.5x faster
# (dio+fbank about 240x instead of about 90x real time per core; test/bench/bench_features.py).
DIO_ANALYSIS_RATE = 4000
# A Kaldi frame is voiced where its probability of voicing (kaldi_pitch.nccf_to_pov, fitted by Kaldi's
# authors on the Keele database) is at least this: an NCCF of about 0.81 or more.
KALDI_VOICED_POV = 0.5
SWIFT_VOICED_CONFIDENCE = 0.5
# DIO's voicing fallback (conf.dio_fallback) runs where DIO calls fewer than this share of frames voiced;
# its result replaces DIO's only if it finds more voiced frames.
DIO_FALLBACK_BELOW = 0.05


def match_length(f0: np.ndarray, num_frames: int, max_diff: int = MAX_LENGTH_MISMATCH) -> np.ndarray:
    """Pad with unvoiced (0) or trim f0 to num_frames; more than max_diff frames apart is an error."""
    diff = len(f0) - num_frames
    if abs(diff) > max_diff:
        raise FeatureError(f"F0 has {len(f0)} frames but fbank has {num_frames} "
                           f"(more than {max_diff} apart: extractor and fbank framing disagree)")
    if diff > 0:
        return f0[:num_frames]
    if diff < 0:
        return np.concatenate([f0, np.zeros(-diff, dtype=f0.dtype)])
    return f0


def kaldi_pitch_frames(wave: np.ndarray, conf: FeatureConfig, num_frames: int) -> np.ndarray:
    """(N,) waveform → (num_frames, 2) float32 [NCCF, pitch Hz] from Kaldi's tracker, on fbank's frames.

    A missing last frame (never more than MAX_LENGTH_MISMATCH) repeats the one before, since every Kaldi
    frame must have a pitch > 0."""
    raw = compute_kaldi_pitch(np.asarray(wave, dtype=np.float32), conf.sample_rate,
                              frame_length=conf.frame_length_ms, frame_shift=conf.frame_shift_ms,
                              min_f0=conf.f0_floor, max_f0=conf.f0_ceil)
    if len(raw) == 0 or abs(len(raw) - num_frames) > MAX_LENGTH_MISMATCH:
        raise FeatureError(f"Kaldi pitch has {len(raw)} frames but fbank has {num_frames} "
                           f"(more than {MAX_LENGTH_MISMATCH} apart: extractor and fbank framing disagree)")
    return raw[np.minimum(np.arange(num_frames), len(raw) - 1)]


def f0_from_kaldi(raw: np.ndarray) -> np.ndarray:
    """(T, 2) [NCCF, pitch] → (T,) float32 F0 in Hz, 0 where Kaldi's probability of voicing is low."""
    return np.where(nccf_to_pov(raw[:, 0]) >= KALDI_VOICED_POV, raw[:, 1], 0.0).astype(np.float32)


def compute_f0(wave: np.ndarray, conf: FeatureConfig, num_frames: int, kaldi_raw: np.ndarray | None = None
               ) -> np.ndarray:
    """(N,) waveform at conf.sample_rate → (num_frames,) float32 F0 in Hz, 0 where unvoiced.

    kaldi_raw: kaldi_pitch_frames' output when the caller has it already (f0_method kaldi)."""
    if conf.f0_method == "kaldi":
        return f0_from_kaldi(kaldi_raw if kaldi_raw is not None else kaldi_pitch_frames(wave, conf, num_frames))
    if conf.f0_method == "swift":
        return swift_f0_frames(wave, conf, num_frames)
    f0 = _pyworld_f0(wave, conf, num_frames, conf.f0_method)
    if conf.f0_method == "dio" and conf.dio_fallback != "none" and np.mean(f0 > 0) < DIO_FALLBACK_BELOW:
        if conf.dio_fallback == "kaldi":
            other = f0_from_kaldi(kaldi_raw if kaldi_raw is not None else kaldi_pitch_frames(wave, conf, num_frames))
        elif conf.dio_fallback == "swift":
            other = swift_f0_frames(wave, conf, num_frames)
        else:
            other = _pyworld_f0(wave, conf, num_frames, "harvest")
        if np.count_nonzero(other) > np.count_nonzero(f0):
            return other
    return f0


_SWIFT = {}


def swift_f0_frames(wave: np.ndarray, conf: FeatureConfig, num_frames: int) -> np.ndarray:
    """(N,) waveform → (num_frames,) float32 F0 from SwiftF0 on fbank's frames, 0 where unvoiced.

    SwiftF0 frame k is centred at k * 16 ms; its log-F0 is interpolated to fbank's frame centres
    (t*hop + win/2), and a frame is voiced where the nearest SwiftF0 frame's confidence is >= 0.5 (its
    authors' threshold). One onnxruntime thread, as every dump job runs on one core."""
    if "detector" not in _SWIFT:
        from swift_f0 import SwiftF0      # imports onnxruntime: only when asked for
        _SWIFT["detector"] = SwiftF0(threads=1)
    r = _SWIFT["detector"].detect(np.asarray(wave, dtype=np.float32), conf.sample_rate,
                                  fmin=conf.f0_floor, fmax=conf.f0_ceil)
    centres = (np.arange(num_frames) * conf.window_shift + conf.window_size / 2) / conf.sample_rate
    period = r.timestamps[1] - r.timestamps[0] if len(r.timestamps) > 1 else 0.016
    f0 = np.exp(np.interp(centres, r.timestamps, np.log(np.maximum(r.pitch_hz, 1.0))))
    nearest = np.clip(np.round(centres / period).astype(int), 0, len(r.timestamps) - 1)
    voiced = (r.confidence[nearest] >= SWIFT_VOICED_CONFIDENCE) & np.isfinite(f0)
    return np.where(voiced, f0, 0.0).astype(np.float32)


def _pyworld_f0(wave: np.ndarray, conf: FeatureConfig, num_frames: int, method: str) -> np.ndarray:
    """compute_f0 for pyworld's DIO (+StoneMask) or Harvest."""
    fs = conf.sample_rate
    x = np.ascontiguousarray(wave[conf.window_size // 2:], dtype=np.float64)   # pyworld needs float64
    period_ms = 1000.0 * conf.window_shift / fs     # exactly the fbank hop, in ms as pyworld wants
    if method == "dio":
        speed = min(12, max(1, fs // DIO_ANALYSIS_RATE))
        f0, times = pyworld.dio(x, fs, f0_floor=conf.f0_floor, f0_ceil=conf.f0_ceil, frame_period=period_ms,
                                speed=speed)
        f0 = pyworld.stonemask(x, f0, times, fs)    # refines DIO's coarse estimate, keeps voicing
    elif method == "harvest":
        f0, _ = pyworld.harvest(x, fs, f0_floor=conf.f0_floor, f0_ceil=conf.f0_ceil, frame_period=period_ms)
    else:  # FeatureConfig already rejects this; kept so a hand-built config cannot slip through
        raise FeatureError(f"unknown f0_method {method!r}")
    f0 = np.where(np.isfinite(f0) & (f0 > 0), f0, 0.0)
    # pyworld's extra frames are those centred past fbank's last one: up to ceil((win - win//2) / hop),
    # which is 2 for 25 ms / 10 ms (more for a shift under half the window, e.g. 3 for 25 ms / 5 ms).
    tail = -(-(conf.window_size - conf.window_size // 2) // conf.window_shift)
    return match_length(f0, num_frames, max(MAX_LENGTH_MISMATCH, tail)).astype(np.float32)


def _window_sum(x: np.ndarray, width: int) -> np.ndarray:
    """Sum of x over a centred window of `width` frames, clipped at the edges. (T,) → (T,)"""
    half = width // 2
    c = np.concatenate([[0.0], np.cumsum(x, dtype=np.float64)])
    t = np.arange(len(x))
    return c[np.minimum(t + half + 1, len(x))] - c[np.maximum(t - half, 0)]


def pitch_features(f0: np.ndarray) -> np.ndarray:
    """(T,) F0 in Hz (0 = unvoiced) → (T, 3) float32 Kaldi-style pitch features:

    0. normalised log-F0: log-F0, linearly interpolated over unvoiced frames, minus its mean over the
       voiced frames of a centred NORM_WINDOW-frame window (over all frames where the window has none);
    1. voicing probability: pyworld's 0/1 voicing decision smoothed by a POV_SMOOTH-frame moving
       average, so it is soft (between 0 and 1) near voicing boundaries;
    2. delta log-F0: regression delta (half-width DELTA_WINDOW) of the interpolated log-F0.
    Kaldi scales these (2, 2, 10); we do not, since global CMVN normalises every dimension anyway.
    An utterance with no voiced frame gets all zeros.
    """
    f0 = np.asarray(f0, dtype=np.float64)
    T = len(f0)
    out = np.zeros((T, 3), dtype=np.float64)
    voiced = f0 > 0
    if not voiced.any():
        return out.astype(np.float32)
    t = np.arange(T)
    logf0 = np.interp(t, t[voiced], np.log(f0[voiced]))   # holds the nearest voiced value at the edges

    v = voiced.astype(np.float64)
    voiced_count = _window_sum(v, NORM_WINDOW)
    voiced_mean = _window_sum(v * logf0, NORM_WINDOW) / np.maximum(voiced_count, 1.0)
    all_mean = _window_sum(logf0, NORM_WINDOW) / _window_sum(np.ones(T), NORM_WINDOW)
    out[:, 0] = logf0 - np.where(voiced_count > 0, voiced_mean, all_mean)

    out[:, 1] = _window_sum(v, POV_SMOOTH) / _window_sum(np.ones(T), POV_SMOOTH)

    padded = np.pad(logf0, DELTA_WINDOW, mode="edge")
    norm = 2.0 * sum(n * n for n in range(1, DELTA_WINDOW + 1))
    out[:, 2] = sum(n * (padded[DELTA_WINDOW + n:DELTA_WINDOW + n + T] - padded[DELTA_WINDOW - n:DELTA_WINDOW - n + T])
                    for n in range(1, DELTA_WINDOW + 1)) / norm
    return out.astype(np.float32)
