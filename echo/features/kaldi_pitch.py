"""Kaldi's pitch extractor and its post-processing, in NumPy.

A port of Kaldi's `compute-kaldi-pitch-feats` and `process-kaldi-pitch-feats` (src/feat/pitch-functions.cc,
src/feat/resample.cc; Ghahremani, BabaAli, Povey, Riedhammer, Trmal, Khudanpur, "A pitch extraction
algorithm tuned for automatic speech recognition", ICASSP 2014). Kaldi is Copyright 2013-2014 Pegah
Ghahremani, Wei Shi, Yanqing Sun, Junjie Wang, Daniel Povey, Korbinian Riedhammer, Xin Lei and others,
licensed under the Apache License, Version 2.0 (http://www.apache.org/licenses/LICENSE-2.0); this file
is a new implementation written from that algorithm and its option semantics, distributed under the
same license terms. Changes from Kaldi: vectorised over frames (NumPy), double precision where Kaldi uses
float, an exhaustive Viterbi step instead of Kaldi's bounded search (same optimum), and the online
(`simulate_first_pass_online`) mode is not provided.

`compute_kaldi_pitch` is a drop-in for torchaudio 2.0's `torchaudio.functional.compute_kaldi_pitch`
(removed in torchaudio 2.1): same argument names and defaults, (..., time) in, (..., frames, 2) out with
[NCCF, pitch in Hz] per frame. The algorithm:

1. low-pass (windowed sinc, `lowpass_cutoff`) and resample to `resample_frequency` (4 kHz);
2. per frame, the normalised cross-correlation (NCCF) of the first `frame_length` of the window with
   itself shifted by every integer lag from 1/max_f0 to 1/min_f0 (plus filter margins), once with a
   "ballast" term in the denominator (for the pitch search: it penalises quiet frames) and once without
   (reported, and used for the voicing features);
3. the NCCF resampled (windowed sinc) onto log-spaced lags whose pitch steps by `delta_pitch`;
4. Viterbi over frames: local cost 1 - nccf * (1 - soft_min_f0 * lag), transition cost
   penalty_factor * (log(1 + delta_pitch) * state jump)^2; the best path gives lag and NCCF per frame.
"""
from __future__ import annotations

import math
from math import gcd

import numpy as np

__all__ = ["compute_kaldi_pitch", "process_kaldi_pitch", "KaldiPitchError"]

_F32 = np.float32
_RECOMPUTE_TOLERANCE = 0.01     # relative change of signal energy that makes Kaldi redo the first frames
_FRAME_BATCH = 512              # frames whose NCCF is computed at once (bounds memory: ~7 MB per batch)


class KaldiPitchError(ValueError):
    """Bad options or input for the Kaldi pitch extractor."""


def _filter(t: np.ndarray, cutoff: float, num_zeros: int) -> np.ndarray:
    """Hann-windowed sinc low-pass of `cutoff` Hz with `num_zeros` zero crossings each side, at times t (s)."""
    t = np.asarray(t, dtype=np.float64)
    inside = np.abs(t) < num_zeros / (2.0 * cutoff)
    window = np.where(inside, 0.5 * (1.0 + np.cos(2.0 * np.pi * cutoff / num_zeros * t)), 0.0)
    safe_t = np.where(t == 0.0, 1.0, t)
    sinc = np.where(t == 0.0, 2.0 * cutoff, np.sin(2.0 * np.pi * cutoff * t) / (np.pi * safe_t))
    return sinc * window


def _num_resampled(num_in: int, rate_in: int, rate_out: int, cutoff: float, num_zeros: int, flush: bool) -> int:
    """Samples a streaming resampler has output after num_in inputs (Kaldi's GetNumOutputSamples).

    Time is counted in ticks of 1/lcm(rate_in, rate_out); without `flush` the last half-filter of input
    is held back. The window width is a float32 in Kaldi, so it is here (it decides a floor)."""
    tick_freq = rate_in * rate_out // gcd(rate_in, rate_out)
    ticks = num_in * (tick_freq // rate_in)
    if not flush:
        width = _F32(num_zeros / (2.0 * _F32(cutoff)))
        ticks -= int(math.floor(_F32(width * _F32(tick_freq))))
    if ticks <= 0:
        return 0
    per_out = tick_freq // rate_out
    last = ticks // per_out
    if last * per_out == ticks:
        last -= 1
    return last + 1


def _resample(x: np.ndarray, rate_in: int, rate_out: int, cutoff: float, num_zeros: int) -> np.ndarray:
    """(N,) → (M,) the whole signal low-passed and resampled, zeros assumed outside it (Kaldi's flushed
    LinearResample). Output sample i sits at time i / rate_out."""
    n_out = _num_resampled(len(x), rate_in, rate_out, cutoff, num_zeros, flush=True)
    g = gcd(rate_in, rate_out)
    phases, step = rate_out // g, rate_in // g        # output i = phase (i % phases) + step input samples per cycle
    width = num_zeros / (2.0 * cutoff)
    i = np.arange(phases)
    first = np.ceil((i / rate_out - width) * rate_in).astype(np.int64)
    taps = int(np.max(np.floor((i / rate_out + width) * rate_in).astype(np.int64) - first)) + 1
    j = first[:, None] + np.arange(taps)[None, :]                        # (phases, taps) input indices
    weights = _filter(j / rate_in - i[:, None] / rate_out, cutoff, num_zeros) / rate_in
    pad_left = max(0, -int(first.min()))
    cycles = -(-n_out // phases)
    need = int(first.max()) + taps + (cycles - 1) * step + pad_left
    xp = np.zeros(max(need, len(x) + pad_left), dtype=np.float64)
    xp[pad_left:pad_left + len(x)] = x
    out = np.empty((cycles, phases), dtype=np.float64)
    for p in range(phases):   # one strided dot product per phase (1 phase for 16 -> 4 kHz, 40 for 44.1 kHz)
        start = first[p] + pad_left
        frames = np.lib.stride_tricks.sliding_window_view(xp[start:], taps)[::step][:cycles]
        out[:, p] = frames @ weights[p]
    return out.reshape(-1)[:n_out]


def _select_lags(min_f0: float, max_f0: float, delta_pitch: float) -> np.ndarray:
    """Log-spaced lags (s) from 1/max_f0 to 1/min_f0, each (1 + delta_pitch) times the last, accumulated in
    float32 exactly as Kaldi does (the count, and so every state index, depends on it)."""
    lag, max_lag = _F32(1.0 / _F32(max_f0)), _F32(1.0 / _F32(min_f0))
    ratio = 1.0 + float(_F32(delta_pitch))
    lags = []
    while lag <= max_lag:
        lags.append(lag)
        lag = _F32(float(lag) * ratio)
    return np.array(lags, dtype=_F32)


class _Geometry:
    """Frame and lag layout at the resampled rate, shared by the NCCF and the frame counting."""

    def __init__(self, sample_rate, frame_length, frame_shift, min_f0, max_f0, resample_frequency,
                 upsample_filter_width, snip_edges):
        self.window = int(resample_frequency * frame_length / 1000.0)
        self.shift = int(resample_frequency * frame_shift / 1000.0)
        if self.window <= 0 or self.shift <= 0:
            raise KaldiPitchError(f"frame_length={frame_length} ms and frame_shift={frame_shift} ms must be at "
                                  f"least one sample at resample_frequency={resample_frequency}")
        margin = upsample_filter_width / (2.0 * resample_frequency)
        self.first_lag = int(math.ceil(resample_frequency * (1.0 / max_f0 - margin)))
        self.last_lag = int(math.floor(resample_frequency * (1.0 / min_f0 + margin)))
        self.full = self.window + self.last_lag          # samples one frame's NCCF reads
        self.snip_edges = snip_edges

    def num_frames(self, num_samples: int, finished: bool) -> int:
        """Kaldi's NumFramesAvailable: frames computable from num_samples resampled samples."""
        length = self.window if finished else self.full
        if num_samples < length:
            return 0
        if self.snip_edges:
            return (num_samples - length) // self.shift + 1
        if finished:
            return int(_F32(_F32(num_samples) / _F32(self.shift)) + _F32(0.5))
        return int(_F32(_F32(num_samples - length // 2) / _F32(self.shift)) + _F32(0.5))

    def frame_starts(self, num_frames: int) -> np.ndarray:
        t = np.arange(num_frames, dtype=np.int64)
        if self.snip_edges:
            return t * self.shift
        return ((t + 0.5) * self.shift).astype(np.int64) - self.full // 2


def _nccf(signal: np.ndarray, starts: np.ndarray, geo: _Geometry, ballast: np.ndarray):
    """NCCF per frame and integer lag. signal (M,), starts (F,), ballast (F,) →
    (nccf with ballast (F, L), nccf without (F, L), mean of e1*e2 over lags (F,)), L = last - first + 1."""
    pad_left = max(0, -int(starts.min()))
    end = int(starts.max()) + geo.full + pad_left
    xp = np.zeros(max(end, len(signal) + pad_left), dtype=np.float64)
    xp[pad_left:pad_left + len(signal)] = signal
    frames = np.lib.stride_tricks.sliding_window_view(xp, geo.full)[starts + pad_left]      # (F, full)
    # Kaldi subtracts the mean of the first `window` samples from the whole extended window.
    frames = frames - frames[:, :geo.window].mean(axis=1, keepdims=True)
    head = frames[:, :geo.window]
    e1 = np.einsum("fn,fn->f", head, head)
    sq = np.concatenate([np.zeros((len(frames), 1)), np.cumsum(frames * frames, axis=1)], axis=1)
    lags = np.arange(geo.first_lag, geo.last_lag + 1)
    e2 = sq[:, lags + geo.window] - sq[:, lags]                                            # (F, L)
    shifted = np.lib.stride_tricks.sliding_window_view(frames, geo.window, axis=1)[:, lags]  # (F, L, window)
    inner = np.matmul(shifted, head[:, :, None])[:, :, 0]
    norm = e1[:, None] * e2
    with np.errstate(divide="ignore", invalid="ignore"):
        pitch = np.where(norm + ballast[:, None] > 0, inner / np.sqrt(norm + ballast[:, None]), 0.0)
        pov = np.where(norm > 0, inner / np.sqrt(norm), 0.0)
    return pitch, pov, norm.mean(axis=1)


def _lag_resampler(lags: np.ndarray, geo: _Geometry, resample_frequency: float, upsample_filter_width: int):
    """(L_measured, L_log) matrix taking NCCF at integer lags to the log-spaced lags (Kaldi's
    ArbitraryResample with cutoff at half the resampled rate)."""
    cutoff = resample_frequency * 0.5
    points = lags.astype(np.float64) - geo.first_lag / resample_frequency
    k = np.arange(geo.last_lag - geo.first_lag + 1)
    return _filter(points[None, :] - k[:, None] / resample_frequency, cutoff,
                   upsample_filter_width) / resample_frequency


def _viterbi(nccf_pitch: np.ndarray, lags: np.ndarray, soft_min_f0: float, penalty_factor: float,
             delta_pitch: float, torchaudio_compat: bool = False) -> np.ndarray:
    """(F, S) NCCF on the log-spaced lags → (F,) best state per frame.

    Exhaustive min over previous states (S^2 per frame, one vectorised step); Kaldi's bounded search finds
    the same minimum. Forward costs are renormalised to a minimum of 0 every frame, as in Kaldi.

    torchaudio_compat reproduces torchaudio <= 2.0's build of this code, whose Vector::Swap swapped the
    tensors but not the cached data pointers: every frame's backpointers were computed from one buffer
    that only ever received the local costs of odd frames (never a transition minimum), and the final
    state was chosen from the last frame's buffer. Its pitch lags behind real pitch movement.
    """
    num_frames, num_states = nccf_pitch.shape
    # float32 as in Kaldi (costs are renormalised every frame, so they stay small); it halves the memory
    # traffic of the S x S step, which is most of the time spent here.
    local = (1.0 - nccf_pitch + soft_min_f0 * nccf_pitch * lags.astype(np.float64)[None, :]).astype(_F32)
    step = math.log(1.0 + delta_pitch) ** 2 * penalty_factor
    s = np.arange(num_states)
    transition = ((s[:, None] - s[None, :]) ** 2 * step).astype(_F32)   # [state, previous state]
    back = np.empty((num_frames, num_states), dtype=np.int16 if num_states < 2 ** 15 else np.int32)
    forward = np.zeros(num_states, dtype=_F32)      # what the backpointers are computed from
    final = forward
    total = np.empty((num_states, num_states), dtype=_F32)
    for t in range(num_frames):
        np.add(transition, forward, out=total)
        best = total.argmin(axis=1)
        back[t] = best
        if not torchaudio_compat:
            forward = total[s, best] + local[t]
            forward -= forward.min()
            final = forward
        elif t % 2 == 0:
            final = total[s, best] + local[t]
            final -= final.min()
        else:
            forward = forward + local[t]
            forward -= forward.min()
            final = forward
    path = np.empty(num_frames, dtype=np.int64)
    state = int(final.argmin())
    for t in range(num_frames - 1, -1, -1):
        path[t] = state
        state = back[t, state]
    return path


def _chunk_schedule(num_samples, sample_rate, frame_shift, frames_per_chunk, geo, resample_args):
    """Which frames Kaldi computes in which AcceptWaveform call, and the signal energy it knew then.

    Returns [(first_frame, end_frame, resampled samples seen)] for each call, the final flushing call last.
    The NCCF ballast of a frame scales with the mean-square energy of the resampled signal seen so far."""
    chunk = int(_F32(frames_per_chunk * sample_rate * _F32(frame_shift) / _F32(1000.0))) if frames_per_chunk else 0
    ends = list(range(chunk, num_samples, chunk)) if chunk > 0 else []
    calls, done = [], 0
    for end in ends + [num_samples]:
        seen = _num_resampled(end, *resample_args, flush=False)
        frames = max(done, geo.num_frames(seen, finished=False))
        calls.append((done, frames, seen))
        done = frames
    total = _num_resampled(num_samples, *resample_args, flush=True)
    calls.append((done, max(done, geo.num_frames(total, finished=True)), total))
    return calls


def _ballast_per_frame(signal, calls, geo, nccf_ballast, recompute_frame):
    """Ballast per frame as Kaldi uses it in the end, and the frames it rescales (see _kaldi_rescale).

    Returns (ballast (F,), mean square per frame (F,), final mean square of the frames Kaldi recomputes,
    number of frames it recomputes)."""
    csum = np.concatenate([[0.0], np.cumsum(signal)])
    csq = np.concatenate([[0.0], np.cumsum(signal * signal)])
    num_frames = calls[-1][1]
    mean_square = np.zeros(num_frames)
    recompute = None
    for first, end, seen in calls:
        if seen > 0:
            mean_square[first:end] = csq[seen] / seen - (csum[seen] / seen) ** 2
        # Kaldi re-estimates the energy once frame recompute_frame - 1 is reached, or at the end if fewer.
        if recompute is None and first <= recompute_frame - 1 < end:
            recompute = (seen, recompute_frame)
    if recompute is None and num_frames < recompute_frame:
        recompute = (calls[-1][2], num_frames)
    ballast = (mean_square * geo.window) ** 2 * nccf_ballast
    return ballast, mean_square, recompute


def _kaldi_rescale(nccf_resampled, avg_norm, mean_square, recompute, signal, geo, nccf_ballast):
    """Kaldi's RecomputeBacktraces: once it knows the signal energy better, it scales the ballasted NCCF
    of the first frames by sqrt((old ballast + mean e1*e2) / (new ballast + mean e1*e2)) instead of
    recomputing it, if any of their energies was more than 1 % off."""
    if recompute is None:
        return nccf_resampled
    seen, count = recompute
    if count == 0 or seen == 0:
        return nccf_resampled
    mean = signal[:seen].sum() / seen
    new_ms = float(np.dot(signal[:seen], signal[:seen]) / seen - mean * mean)
    old_ms = mean_square[:count]
    close = np.abs(old_ms - new_ms) <= _RECOMPUTE_TOLERANCE * np.maximum(np.abs(old_ms), abs(new_ms))
    if close.all():
        return nccf_resampled
    old_b = (old_ms * geo.window) ** 2 * nccf_ballast
    new_b = (new_ms * geo.window) ** 2 * nccf_ballast
    scale = np.sqrt((old_b + avg_norm[:count]) / (new_b + avg_norm[:count]))
    out = nccf_resampled.copy()
    out[:count] *= scale[:, None]
    return out


def _check_options(sample_rate, frame_length, frame_shift, min_f0, max_f0, lowpass_cutoff,
                   resample_frequency, delta_pitch, lowpass_filter_width, upsample_filter_width):
    if not float(sample_rate).is_integer() or sample_rate <= 0:
        raise KaldiPitchError(f"sample_rate must be a positive whole number of Hz, got {sample_rate}")
    if not float(resample_frequency).is_integer() or resample_frequency <= 0:
        raise KaldiPitchError(f"resample_frequency must be a positive whole number of Hz, got {resample_frequency}")
    if not 0 < min_f0 < max_f0:
        raise KaldiPitchError(f"need 0 < min_f0 < max_f0, got {min_f0}, {max_f0}")
    if not 0 < lowpass_cutoff * 2 <= sample_rate or lowpass_cutoff * 2 > resample_frequency:
        raise KaldiPitchError(f"lowpass_cutoff={lowpass_cutoff} must be positive and at most half of both "
                              f"sample_rate={sample_rate} and resample_frequency={resample_frequency}")
    if max_f0 * 2 > resample_frequency or delta_pitch <= 0:
        raise KaldiPitchError(f"need max_f0={max_f0} <= resample_frequency/2 and delta_pitch={delta_pitch} > 0")
    if lowpass_filter_width < 1 or upsample_filter_width < 1 or frame_shift <= 0 or frame_length <= 0:
        raise KaldiPitchError("filter widths must be >= 1 and frame_length, frame_shift positive")


def _pitch_1d(wave, sample_rate, frame_length, frame_shift, min_f0, max_f0, soft_min_f0, penalty_factor,
              lowpass_cutoff, resample_frequency, delta_pitch, nccf_ballast, lowpass_filter_width,
              upsample_filter_width, frames_per_chunk, recompute_frame, snip_edges, torchaudio_compat) -> np.ndarray:
    rate_in, rate_out = int(sample_rate), int(resample_frequency)
    resample_args = (rate_in, rate_out, lowpass_cutoff, lowpass_filter_width)
    geo = _Geometry(sample_rate, frame_length, frame_shift, min_f0, max_f0, resample_frequency,
                    upsample_filter_width, snip_edges)
    calls = _chunk_schedule(len(wave), sample_rate, frame_shift, frames_per_chunk, geo, resample_args)
    num_frames = calls[-1][1]
    if num_frames == 0:
        return np.zeros((0, 2), dtype=_F32)
    signal = _resample(wave, *resample_args)
    ballast, mean_square, recompute = _ballast_per_frame(signal, calls, geo, nccf_ballast, recompute_frame)
    lags = _select_lags(min_f0, max_f0, delta_pitch)
    to_log_lags = _lag_resampler(lags, geo, resample_frequency, upsample_filter_width)
    starts = geo.frame_starts(num_frames)
    pitch_parts, pov_parts, norm_parts = [], [], []
    for b in range(0, num_frames, _FRAME_BATCH):
        sl = slice(b, b + _FRAME_BATCH)
        nccf_pitch, nccf_pov, avg_norm = _nccf(signal, starts[sl], geo, ballast[sl])
        pitch_parts.append(nccf_pitch @ to_log_lags)
        pov_parts.append(nccf_pov @ to_log_lags)
        norm_parts.append(avg_norm)
    nccf_pitch = np.concatenate(pitch_parts)
    nccf_pov = np.concatenate(pov_parts)
    nccf_pitch = _kaldi_rescale(nccf_pitch, np.concatenate(norm_parts), mean_square, recompute, signal, geo,
                                nccf_ballast)
    path = _viterbi(nccf_pitch, lags, soft_min_f0, penalty_factor, delta_pitch, torchaudio_compat)
    out = np.empty((num_frames, 2), dtype=_F32)
    out[:, 0] = nccf_pov[np.arange(num_frames), path]
    out[:, 1] = _F32(1.0) / lags[path]
    return out


def compute_kaldi_pitch(waveform, sample_rate: float, frame_length: float = 25.0, frame_shift: float = 10.0,
                        min_f0: float = 50, max_f0: float = 400, soft_min_f0: float = 10.0,
                        penalty_factor: float = 0.1, lowpass_cutoff: float = 1000,
                        resample_frequency: float = 4000, delta_pitch: float = 0.005, nccf_ballast: float = 7000,
                        lowpass_filter_width: int = 1, upsample_filter_width: int = 5,
                        max_frames_latency: int = 0, frames_per_chunk: int = 0,
                        simulate_first_pass_online: bool = False, recompute_frame: int = 500,
                        snip_edges: bool = True, *, torchaudio_compat: bool = False) -> np.ndarray:
    """(..., time) waveform → (..., frames, 2) float32 [NCCF, pitch in Hz] per frame (Kaldi's
    compute-kaldi-pitch-feats; torchaudio 2.0's compute_kaldi_pitch). Frame lengths and shifts in ms.

    Every frame gets a pitch (Kaldi has no unvoiced state); the NCCF says how voiced it is, and
    `process_kaldi_pitch` turns both into features. A waveform shorter than one frame gives 0 frames.
    Accepts NumPy arrays or anything np.asarray takes (a CPU torch tensor included); returns NumPy.
    `max_frames_latency` only matters for `simulate_first_pass_online`, which is not supported.

    torchaudio_compat=True gives what torchaudio 2.0's compute_kaldi_pitch gave, which differs from Kaldi:
    its Viterbi read a stale buffer (see _viterbi), so its pitch lags behind pitch movement. Use it only
    to reproduce features of a model trained on torchaudio's output.
    """
    if simulate_first_pass_online:
        raise KaldiPitchError("simulate_first_pass_online=True (Kaldi's online first-pass output) is not "
                              "supported; the offline result is what compute-kaldi-pitch-feats gives by default")
    if frames_per_chunk < 0 or max_frames_latency < 0 or recompute_frame < 0:
        raise KaldiPitchError("frames_per_chunk, max_frames_latency and recompute_frame must be >= 0")
    _check_options(sample_rate, frame_length, frame_shift, min_f0, max_f0, lowpass_cutoff, resample_frequency,
                   delta_pitch, lowpass_filter_width, upsample_filter_width)
    wave = np.asarray(waveform, dtype=np.float64)
    if wave.ndim == 0:
        raise KaldiPitchError("waveform must have a time axis, got a scalar")
    if not np.all(np.isfinite(wave)):
        raise KaldiPitchError(f"waveform has {int(np.count_nonzero(~np.isfinite(wave)))} NaN/Inf samples")
    args = (sample_rate, frame_length, frame_shift, min_f0, max_f0, soft_min_f0, penalty_factor, lowpass_cutoff,
            resample_frequency, delta_pitch, nccf_ballast, lowpass_filter_width, upsample_filter_width,
            frames_per_chunk, recompute_frame, snip_edges, torchaudio_compat)
    flat = wave.reshape(-1, wave.shape[-1])
    if len(flat) == 0:
        raise KaldiPitchError(f"no waveform in a batch of shape {wave.shape}")
    results = [_pitch_1d(row, *args) for row in flat]
    return np.stack(results).reshape(wave.shape[:-1] + results[0].shape)


def nccf_to_pov_feature(nccf: np.ndarray) -> np.ndarray:
    """Kaldi's POV feature (1.0001 - n)^0.15 - 1 of the NCCF clipped to [-1, 1]: roughly Gaussian."""
    n = np.clip(np.asarray(nccf, dtype=np.float64), -1.0, 1.0)
    return (1.0001 - n) ** 0.15 - 1.0


def nccf_to_pov(nccf: np.ndarray) -> np.ndarray:
    """Kaldi's probability of voicing from |NCCF| (a sigmoid of a curve fitted on the Keele database)."""
    n = np.minimum(np.abs(np.asarray(nccf, dtype=np.float64)), 1.0)
    r = -5.2 + 5.4 * np.exp(7.5 * (n - 1.0)) + 4.8 * n - 2.0 * np.exp(-10.0 * n) + 4.2 * np.exp(20.0 * (n - 1.0))
    return 1.0 / (1.0 + np.exp(-r))


def _moving_sum(x: np.ndarray, left: int, right: int) -> np.ndarray:
    """Sum of x over frames [t - left, t + right] that exist, per frame t. (T,) → (T,)"""
    c = np.concatenate([[0.0], np.cumsum(x)])
    t = np.arange(len(x))
    return c[np.minimum(t + right + 1, len(x))] - c[np.maximum(t - left, 0)]


def _deltas(x: np.ndarray, window: int) -> np.ndarray:
    """Kaldi's first-order ComputeDeltas: regression over +-window frames, edge frames replicated."""
    T = len(x)
    padded = np.concatenate([np.full(window, x[0]), x, np.full(window, x[-1])])
    num = sum(n * (padded[window + n:window + n + T] - padded[window - n:window - n + T])
              for n in range(1, window + 1))
    return num / (2.0 * sum(n * n for n in range(1, window + 1)))


def process_kaldi_pitch(pitch_feats, pitch_scale: float = 2.0, pov_scale: float = 2.0, pov_offset: float = 0.0,
                        delta_pitch_scale: float = 10.0, delta_pitch_noise_stddev: float = 0.005,
                        normalization_left_context: int = 75, normalization_right_context: int = 75,
                        delta_window: int = 2, delay: int = 0, add_pov_feature: bool = True,
                        add_normalized_log_pitch: bool = True, add_delta_pitch: bool = True,
                        add_raw_log_pitch: bool = False, seed: int = 0) -> np.ndarray:
    """(..., T, 2) [NCCF, pitch Hz] from compute_kaldi_pitch → (..., T + delay, D) float32 features, Kaldi's
    process-kaldi-pitch-feats with its option names and defaults. Columns, in this order, each if asked:

    - POV feature: pov_scale * ((1.0001 - nccf)^0.15 - 1) + pov_offset;
    - normalised log pitch: pitch_scale * (log pitch minus its mean over the frames [t - left, t + right],
      each weighted by its probability of voicing from the NCCF);
    - delta log pitch: delta_pitch_scale * (regression delta over +-delta_window frames + Gaussian noise of
      delta_pitch_noise_stddev; Kaldi adds it so that unvoiced stretches do not give a constant). The noise
      comes from NumPy's generator seeded with `seed`, so the output is reproducible (Kaldi's is not);
    - raw log pitch.
    Output frame t is input frame max(0, t - delay).
    """
    feats = np.asarray(pitch_feats, dtype=np.float64)
    if feats.ndim < 2 or feats.shape[-1] != 2:
        raise KaldiPitchError(f"expected (..., frames, 2) [nccf, pitch] features, got shape {feats.shape}")
    if not (add_pov_feature or add_normalized_log_pitch or add_delta_pitch or add_raw_log_pitch):
        raise KaldiPitchError("at least one of the pitch features must be chosen")
    if delay < 0 or delta_window < 1 or normalization_left_context < 0 or normalization_right_context < 0:
        raise KaldiPitchError("delay and the contexts must be >= 0, delta_window >= 1")
    if not np.all(np.isfinite(feats)) or np.any(feats[..., 1] <= 0):
        raise KaldiPitchError("pitch features must be finite with every pitch > 0 (as compute_kaldi_pitch gives)")
    rng = np.random.default_rng(seed)
    flat = feats.reshape((-1,) + feats.shape[-2:])
    rows = []
    for one in flat:
        nccf, log_pitch = one[:, 0], np.log(one[:, 1])
        cols = []
        if add_pov_feature:
            cols.append(pov_scale * nccf_to_pov_feature(nccf) + pov_offset)
        if add_normalized_log_pitch:
            pov = nccf_to_pov(nccf)
            left, right = normalization_left_context, normalization_right_context
            mean = _moving_sum(pov * log_pitch, left, right) / _moving_sum(pov, left, right)
            cols.append(pitch_scale * (log_pitch - mean))
        if add_delta_pitch:
            noise = rng.standard_normal(len(nccf)) * delta_pitch_noise_stddev if len(nccf) else 0.0
            delta = _deltas(log_pitch, delta_window) if len(nccf) else np.zeros(0)
            cols.append(delta_pitch_scale * (delta + noise))
        if add_raw_log_pitch:
            cols.append(log_pitch)
        out = np.stack(cols, axis=1)
        if delay and len(out):
            out = out[np.maximum(np.arange(len(out) + delay) - delay, 0)]
        rows.append(out)
    return np.stack(rows).reshape(feats.shape[:-2] + rows[0].shape).astype(_F32)
