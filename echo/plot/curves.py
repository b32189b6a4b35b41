"""Learning curves of a training run: exp/<tag>/images/curves.png (loss, accuracy, CER), redrawn every epoch.

history: the list of per-epoch dicts that train.py keeps in checkpoint.pt, e.g.
    {"epoch": 3, "train.loss": 1.2, "train.loss_ctc": ..., "train.loss_att": ..., "train.acc": 0.7,
     "valid.loss": 1.4, "valid.loss_ctc": ..., "valid.loss_att": ..., "valid.acc": 0.65, "valid.cer": 0.3}
"""
from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")   # files only: no display on a training node
import matplotlib.pyplot as plt  # noqa: E402

PANELS = {   # title -> (y label, keys drawn)
    "loss": ("loss", ("train.loss", "valid.loss", "train.loss_ctc", "valid.loss_ctc",
                      "train.loss_att", "valid.loss_att")),
    "acc": ("token accuracy", ("train.acc", "valid.acc")),
    "cer": ("greedy-CTC CER", ("valid.cer",)),
}


def plot_curves(history: list[dict], out_dir, name: str = "curves.png") -> Path | None:
    """Draw the panels of PANELS side by side from `history` into out_dir/name (written atomically);
    None when the history has nothing to draw yet."""
    panels = []
    for title, (ylabel, keys) in PANELS.items():
        lines = []
        for key in keys:
            points = [(h["epoch"], h[key]) for h in history
                      if h.get(key) is not None and math.isfinite(h[key])]
            if points:
                lines.append((key, points))
        if lines:
            panels.append((title, ylabel, lines))
    if not panels:
        return None
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 3.6), squeeze=False)
    for ax, (title, ylabel, lines) in zip(axes[0], panels):
        for key, points in lines:
            xs, ys = zip(*points)
            ax.plot(xs, ys, "-" if key.startswith("train") else "--", marker="o", markersize=2.5, label=key)
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.subplots_adjust(left=0.06, right=0.98, bottom=0.14, top=0.9, wspace=0.3)   # tight_layout costs 0.1 s
    path, tmp = out_dir / name, out_dir / f".{name}.tmp.png"
    fig.savefig(tmp, dpi=80)
    plt.close(fig)
    tmp.replace(path)
    return path
