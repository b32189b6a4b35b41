"""How positions see each other under the rotary embedding: the seed's picture, for standard θ and
F0-driven θ side by side.

For frames i and j the similarity of their rotated unit vectors is S_ij = (1/K) Σ_k cos(φ_{i,k} − φ_{j,k})
(1 on the diagonal); with a radius it is the dot product r_i·r_j·S_ij. A bright wide band means a position
still resembles far neighbours; a narrow one means it sees only nearby frames.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import torch

matplotlib.use("Agg")   # files only
import matplotlib.pyplot as plt  # noqa: E402

from echo.model.pitch import PitchTrack  # noqa: E402
from echo.model.rotary import PitchRotary, Rotation  # noqa: E402
from echo.io import atomic

COLUMNS = (   # title -> PitchRotary switches
    ("θ0 (no F0)", dict(theta_mode="none")),
    ("utterance θ(F̄)", dict(theta_mode="utterance")),
    ("frame θ(F0_t)", dict(theta_mode="frame")),
    ("frame θ + F0 radius", dict(theta_mode="frame", radius_mode="f0")),
)


def similarity(rotation: Rotation, radius: torch.Tensor | None = None) -> np.ndarray:
    """Rotation of one utterance (1, 1, T, K) [+ radius (1, 1, T, 1)] -> (T, T) S_ij (× r_i r_j)."""
    cos, sin = rotation.cos[0, 0].double(), rotation.sin[0, 0].double()
    sim = (cos @ cos.T + sin @ sin.T) / cos.shape[1]
    if radius is not None:
        r = radius[0, 0, :, 0].double()
        sim = sim * r[:, None] * r[None, :]
    return sim.numpy()


def rotary_similarities(f0: np.ndarray, head_dim: int = 36, freqs: str = "standard", theta0: float | None = None,
                        theta_gain: float = 1.0, max_omega: float | None = None, window: int = 7, stride: int = 4,
                        rotary: PitchRotary | None = None) -> tuple[PitchTrack, dict[str, np.ndarray]]:
    """F0 (T,) Hz at the fbank rate -> the pitch track at the encoder rate and one (T', T') similarity per
    column of COLUMNS. A trained model's rotary (its learned θ0 and g) can be passed instead of the knobs."""
    f0_t = torch.as_tensor(np.asarray(f0, dtype=np.float32))[None]
    track = PitchTrack.from_f0(f0_t, torch.tensor([f0_t.shape[1]]), window, stride)
    if rotary is not None:
        head_dim, freqs, max_omega = rotary.head_dim, rotary.freqs, rotary.max_omega
        theta0 = float(rotary.log_theta0.exp())
        theta_gain = float(rotary.theta_gain) if rotary.theta_gain is not None else theta_gain
    theta0 = theta0 if theta0 is not None else (10000.0 if freqs == "standard" else 220.0)
    out = {}
    with torch.no_grad():
        for title, switches in COLUMNS:
            module = PitchRotary(head_dim, 1, freqs, theta0, theta_gain=theta_gain, max_omega=max_omega, **switches)
            rotation, _, radius_k = module(track.f0.shape[1], track)
            out[title] = similarity(rotation, radius_k)
    return track, out


def plot_rotary(f0: np.ndarray, out_path, title: str = "", frame_shift_ms: float = 10.0, head_dim: int = 36,
                theta_gain: float = 1.0, window: int = 7, stride: int = 4, families=("standard", "mel"),
                theta0: dict | None = None, max_omega: float | None = None, rotary: PitchRotary | None = None) -> Path:
    """Draw the F0 track and, per frequency family (or for a trained model's rotary only), the similarity
    matrices of COLUMNS; write a PNG atomically to out_path."""
    theta0 = theta0 or {}
    rows = []
    for family in ((rotary.freqs,) if rotary is not None else families):
        track, sims = rotary_similarities(f0, head_dim, family, theta0.get(family), theta_gain, max_omega, window,
                                          stride, rotary)
        rows.append((family, sims))
    n_cols = len(COLUMNS)
    fig = plt.figure(figsize=(3.2 * n_cols, 1.6 + 3.2 * len(rows)))
    grid = fig.add_gridspec(1 + len(rows), n_cols, height_ratios=[0.45] + [1.0] * len(rows))
    ax = fig.add_subplot(grid[0, :])
    t_in = np.arange(len(f0)) * frame_shift_ms / 1000
    f0 = np.asarray(f0, dtype=float)
    ax.plot(t_in, np.where(f0 > 0, f0, np.nan), lw=1, label="F0 (fbank frames)")
    t_out = (np.arange(track.f0.shape[1]) * stride + (window - 1) / 2) * frame_shift_ms / 1000
    pooled = track.f0[0].numpy()
    ax.plot(t_out, np.where(pooled > 0, pooled, np.nan), "o", ms=3, label="pooled, voiced (encoder frames)")
    ax.axhline(float(track.mean_f0[0]), color="gray", ls="--", lw=0.8, label=f"voiced mean {float(track.mean_f0[0]):.0f} Hz")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("F0 (Hz)")
    ax.legend(loc="upper right", fontsize=7)
    ax.set_title(title or "rotary similarity of encoder frames")
    for r, (family, sims) in enumerate(rows):
        for c, (name, sim) in enumerate(sims.items()):
            a = fig.add_subplot(grid[1 + r, c])
            bound = max(1.0, float(np.abs(sim).max()))
            im = a.imshow(sim, cmap="magma", vmin=-bound, vmax=bound, origin="upper", interpolation="nearest")
            a.set_title(f"{family}: {name}", fontsize=9)
            a.set_xlabel("frame j")
            if c == 0:
                a.set_ylabel("frame i")
            fig.colorbar(im, ax=a, fraction=0.046, pad=0.03)
    fig.tight_layout()
    try:
        atomic.atomic_write(out_path, lambda f: fig.savefig(f, dpi=110, format="png"))
    finally:
        plt.close(fig)
    return out_path
