"""THE feature function: the same code computes features at dump time and at inference time."""
from __future__ import annotations

import numpy as np

from echo.features.config import FeatureConfig, FeatureError
from echo.features.fbank import compute_fbank, num_frames
from echo.features.pitch import compute_f0, pitch_features


def extract_features(wave: np.ndarray, conf: FeatureConfig) -> tuple[np.ndarray, np.ndarray]:
    """(N,) float waveform at conf.sample_rate → (feats (T, D) float32, f0 (T,) float32 Hz, 0 = unvoiced).

    D = n_mels, or n_mels + 3 with conf.append_pitch. T = 1 + (N - win) // hop; F0 frame t is
    centred on fbank frame t. Raises FeatureError for non-1-D, non-finite or too short input.
    """
    wave = np.asarray(wave)
    if wave.ndim != 1:
        raise FeatureError(f"expected a 1-D (mono) waveform, got shape {wave.shape}")
    if wave.size == 0:
        raise FeatureError("audio is empty (0 samples)")
    if not np.all(np.isfinite(wave)):
        raise FeatureError(f"audio has {int(np.count_nonzero(~np.isfinite(wave)))} NaN/Inf samples")
    T = num_frames(len(wave), conf)
    if T == 0:
        raise FeatureError(f"audio is shorter than one frame: {len(wave)} samples "
                           f"({len(wave) / conf.sample_rate * 1000:.1f} ms) < {conf.window_size} samples "
                           f"({conf.frame_length_ms} ms)")
    feats = compute_fbank(wave, conf)
    if len(feats) != T:
        raise FeatureError(f"fbank returned {len(feats)} frames, expected {T} for {len(wave)} samples")
    f0 = compute_f0(wave, conf, T)
    if conf.append_pitch:
        feats = np.concatenate([feats, pitch_features(f0)], axis=1)
    return feats, f0
