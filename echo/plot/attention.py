"""Self-attention of one utterance in each encoder layer of a trained model, with and without its pitch
bias B_ij = −λ_h·|ẑ_i − ẑ_j|: what the bias does to where frames look.

    model = load_model("exp/ablation/pitch_bias_seed0/valid.loss.ave_5best.pt")
    with_bias = attention_maps(model, feats, f0)
    with without_pitch_bias(model):
        no_bias = attention_maps(model, feats, f0)     # the same weights, λ = 0 in every layer
    plot_attention([("with bias", with_bias, False), ("λ = 0", no_bias, False),
                    ("difference", [a - b for a, b in zip(with_bias, no_bias)], True)], "attention.png")

Columns are the variants, rows the layers.

Maps are softmax probabilities averaged over heads, (T', T') at the encoder's frame rate.
"""
from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
import torch

from echo.plot.ablation import plt, save_figure


def has_pitch_bias(model) -> bool:
    return any(layer.attn.bias_lambda_raw is not None for layer in model.encoder.layers)


@contextlib.contextmanager
def without_pitch_bias(model):
    """Inside the block every layer's λ is 0 (the model as if trained without the bias); restored after."""
    saved = []
    with torch.no_grad():
        for layer in model.encoder.layers:
            raw = layer.attn.bias_lambda_raw
            if raw is not None:
                saved.append((raw, raw.detach().clone()))
                raw.zero_()
    try:
        yield model
    finally:
        with torch.no_grad():
            for raw, value in saved:
                raw.copy_(value)


@torch.no_grad()
def attention_maps(model, feats: torch.Tensor, f0: torch.Tensor | None) -> list[np.ndarray]:
    """feats (T, D) (normalised as in training), f0 (T,) Hz -> per encoder layer the (H, T', T') softmax
    attention probabilities of the utterance (Encoder.attention_logits, eval mode)."""
    was_training = model.training
    model.eval()
    try:
        lens = torch.tensor([feats.shape[0]])
        f0_b = f0[None] if f0 is not None else None
        out = []
        for layer in range(len(model.encoder.layers)):
            logits = model.encoder.attention_logits(feats[None], lens, f0_b, layer=layer)
            out.append(logits.float().softmax(-1)[0].numpy())
        return out
    finally:
        model.train(was_training)


def plot_attention(columns: list[tuple[str, list[np.ndarray], bool]], out_path, f0_track: np.ndarray | None = None,
                   title: str = "", frame_ms: float = 40.0) -> Path:
    """columns: (label, one map per layer, signed), side by side; a row per layer. A map is (H, T', T')
    (averaged over heads here) or (T', T'); a signed column (a difference) is drawn on a diverging scale
    centred on 0. f0_track (T',): the pooled F0 at the encoder rate, drawn on top (0 = unvoiced)."""
    n_layers = max(len(maps) for _, maps, _ in columns)
    n_cols = len(columns)
    strip = f0_track is not None
    fig = plt.figure(figsize=(max(7.0, 3.0 * n_cols + 0.6), 2.8 * n_layers + (1.9 if strip else 0.8)))
    grid = fig.add_gridspec(n_layers + strip, n_cols, height_ratios=([0.45] if strip else []) + [1.0] * n_layers)
    if strip:
        ax = fig.add_subplot(grid[0, :])
        f0_track = np.asarray(f0_track, dtype=float)
        ax.plot(np.arange(len(f0_track)), np.where(f0_track > 0, f0_track, np.nan), "o-", ms=2.5, lw=1)
        ax.set_xlim(-0.5, len(f0_track) - 0.5)
        ax.set_ylabel("F0 (Hz)", fontsize=8)
        ax.set_xlabel(f"encoder frame ({frame_ms:.0f} ms)", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.suptitle(title or "self-attention per encoder layer (mean over heads)", fontsize=9)
    for c, (label, maps, signed) in enumerate(columns):
        maps = [m.mean(0) if m.ndim == 3 else m for m in maps]
        bound = max(float(np.abs(m).max()) for m in maps) if signed else None
        for r, m in enumerate(maps):
            ax = fig.add_subplot(grid[strip + r, c])
            if signed:
                im = ax.imshow(m, cmap="RdBu_r", vmin=-bound, vmax=bound, interpolation="nearest")
            else:
                im = ax.imshow(m, cmap="viridis", vmin=0.0, interpolation="nearest")
            if r == 0:
                ax.set_title(label, fontsize=8)
            if c == 0:
                ax.set_ylabel(f"layer {r}\nquery frame", fontsize=8)
            if r == len(maps) - 1:
                ax.set_xlabel("key frame", fontsize=8)
            ax.tick_params(labelsize=6)
            fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03).ax.tick_params(labelsize=6)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.45 / fig.get_figheight()))   # room for a two-line title
    return save_figure(fig, out_path, dpi=90)
