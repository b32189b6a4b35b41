"""One utterance as the model hears it: its spectrogram with the F0 contour on top, its log-mel
features, and the F0 track with the voiced frames shaded.

The F0 is the one the model reads (dump/<set>/f0.scp: Hz per fbank frame, 0 = unvoiced), drawn on the
linear-frequency spectrogram where it should run along the lowest harmonic: a quick visual check that
the tracker follows the voice (octave errors show up as a line on the second harmonic or halfway below).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from echo.plot.ablation import plt, save_figure


def plot_spectrogram(wave: np.ndarray, sample_rate: int, f0: np.ndarray, out_path, frame_shift_ms: float = 10.0,
                     feats: np.ndarray | None = None, title: str = "", max_freq: float | None = None,
                     n_mels: int | None = None) -> Path:
    """wave (N,) float at sample_rate; f0 (T,) Hz per feature frame (0 = unvoiced); feats (T, D) log-mel
    fbank [+ pitch features], whose first n_mels columns (default: all, or D − 3 when D is 83) are drawn.
    Frame t is centred at t·shift + window/2 ≈ t·shift (the fbank's convention, 25 ms window)."""
    wave = np.asarray(wave, dtype=np.float64)
    f0 = np.asarray(f0, dtype=np.float64)
    if wave.ndim != 1 or wave.size == 0:
        raise ValueError(f"wave must be a non-empty 1-D array, got shape {wave.shape}")
    shift = frame_shift_ms / 1000.0
    t_f0 = np.arange(len(f0)) * shift + 0.0125
    voiced = f0 > 0
    if max_freq is None:   # a few harmonics above the highest F0, where the contour can be checked by eye
        max_freq = min(sample_rate / 2, max(1000.0, 8 * float(f0.max(initial=0.0))))

    rows = 3 if feats is not None else 2
    fig, axes = plt.subplots(rows, 1, figsize=(9, 2.4 * rows + 0.6), sharex=True,
                             gridspec_kw={"height_ratios": [1.4] + [1.0] * (rows - 1)})
    ax = axes[0]
    nfft = 1 << int(np.ceil(np.log2(0.032 * sample_rate)))   # ≥ 32 ms: resolves harmonics of low voices
    ax.specgram(wave + 1e-9, NFFT=nfft, Fs=sample_rate, noverlap=nfft - max(1, int(sample_rate * 0.004)),
                cmap="magma", scale="dB", mode="magnitude")
    ax.plot(t_f0, np.where(voiced, f0, np.nan), color="cyan", lw=1.4, label="F0")
    ax.plot(t_f0, np.where(voiced, 2 * f0, np.nan), color="cyan", lw=0.7, ls=":", label="2·F0")
    ax.set_ylim(0, max_freq)
    ax.set_ylabel("Hz")
    ax.legend(loc="upper right", fontsize=7)
    ax.set_title(title or "spectrogram with F0", fontsize=10)

    if feats is not None:
        feats = np.asarray(feats)
        n_mels = n_mels or (feats.shape[1] - 3 if feats.shape[1] == 83 else feats.shape[1])
        ax = axes[1]
        ax.imshow(feats[:, :n_mels].T, origin="lower", aspect="auto", cmap="viridis",
                  extent=(0, len(feats) * shift, 0, n_mels), interpolation="nearest")
        ax.set_ylabel("mel bin")
        ax.set_title(f"log-mel features ({n_mels} bins, as the model reads them)", fontsize=9)

    ax = axes[-1]
    top = float(f0[voiced].max()) * 1.15 if voiced.any() else 1.0
    ax.fill_between(t_f0, 0, top, where=voiced, step="mid", color="tab:green", alpha=0.15, lw=0,
                    label=f"voiced ({int(voiced.sum())}/{len(f0)} frames)")
    ax.plot(t_f0, np.where(voiced, f0, np.nan), ".-", color="tab:blue", ms=2, lw=1, label="F0 (Hz)")
    if voiced.any():
        mean = float(f0[voiced].mean())
        ax.axhline(mean, color="gray", ls="--", lw=0.8, label=f"voiced mean {mean:.0f} Hz")
    ax.set_ylim(0, top)
    ax.set_ylabel("F0 (Hz)")
    ax.set_xlabel("time (s)")
    ax.legend(loc="upper right", fontsize=7)
    ax.set_xlim(0, max(len(wave) / sample_rate, len(f0) * shift))
    fig.tight_layout()
    return save_figure(fig, out_path, dpi=100)
