"""THE feature function: the same code computes features at dump time and at inference time."""
from __future__ import annotations

import numpy as np

from echo.features.config import FeatureConfig, FeatureError
from echo.features.fbank import compute_fbank, num_frames
from echo.features.kaldi_pitch import process_kaldi_pitch
from echo.features.pitch import compute_f0, kaldi_pitch_frames, pitch_features


def extract_features(wave: np.ndarray, conf: FeatureConfig) -> tuple[np.ndarray, np.ndarray]:
    """(N,) float waveform at conf.sample_rate → (feats (T, D) float32, f0 (T,) float32 Hz, 0 = unvoiced).

    D = n_mels, or n_mels + 3 with conf.append_pitch (conf.pitch_features says which 3).
    T = 1 + (N - win) // hop; F0 frame t is centred on fbank frame t. Raises FeatureError for non-1-D,
    non-finite or too short input.
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
    kaldi_raw = kaldi_pitch_frames(wave, conf, T) if conf.uses_kaldi_pitch else None
    f0 = compute_f0(wave, conf, T, kaldi_raw)
    if conf.append_pitch:
        extra = process_kaldi_pitch(kaldi_raw) if conf.pitch_features == "kaldi" else pitch_features(f0)
        feats = np.concatenate([feats, extra], axis=1)
    return feats, f0
