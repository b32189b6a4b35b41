"""Kaldi-compatible log-mel filterbank features (kaldi-native-fbank).

Frames follow Kaldi's snip_edges=true convention: frame t covers samples [t*hop, t*hop + win), so an
utterance of N samples has T = 1 + (N - win) // hop frames (0 when N < win), and frame t is centred at
sample t*hop + win/2. pitch.py uses the same centres, which is what lets F0 and fbank align one to one.
"""
from __future__ import annotations

import kaldi_native_fbank as knf
import numpy as np

from echo.features.config import FeatureConfig

# Kaldi reads 16-bit PCM as integers, so its fbank sees samples in [-32768, 32767]; we scale our
# float waveform the same way so the features (and the energy floor) match Kaldi's.
INT16_SCALE = 32768.0


def num_frames(num_samples: int, conf: FeatureConfig) -> int:
    """Frame count for num_samples samples (snip_edges=true)."""
    if num_samples < conf.window_size:
        return 0
    return 1 + (num_samples - conf.window_size) // conf.window_shift


def fbank_options(conf: FeatureConfig) -> knf.FbankOptions:
    opts = knf.FbankOptions()
    opts.frame_opts.samp_freq = float(conf.sample_rate)
    opts.frame_opts.frame_length_ms = float(conf.frame_length_ms)
    opts.frame_opts.frame_shift_ms = float(conf.frame_shift_ms)
    opts.frame_opts.dither = float(conf.dither)
    opts.frame_opts.snip_edges = True
    opts.mel_opts.num_bins = int(conf.n_mels)
    return opts


def compute_fbank(wave: np.ndarray, conf: FeatureConfig) -> np.ndarray:
    """(N,) float waveform in [-1, 1] at conf.sample_rate → (T, n_mels) float32 log-mel fbank."""
    computer = knf.OnlineFbank(fbank_options(conf))
    computer.accept_waveform(float(conf.sample_rate), np.asarray(wave, dtype=np.float32) * INT16_SCALE)
    computer.input_finished()
    frames = computer.num_frames_ready
    feats = np.empty((frames, conf.n_mels), dtype=np.float32)
    for t in range(frames):
        feats[t] = computer.get_frame(t)
    return feats
