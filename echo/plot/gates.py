"""Gate statistics and learned pitch parameters over training, read back from train.log.

After each epoch's validation the trainer logs, for a model with gates or learnable pitch parameters,

    2026-11-24 13:01:47 INFO epoch 3 done: train loss ...
    2026-11-24 13:01:47 INFO gates {'mean': 0.61, 'open_frac': 0.72, 'voicing_corr': 0.18} pitch {'theta0': ...}

gate mean, fraction of frames whose gate is above 0.5 and the gate's correlation with voicing (averaged
over layers, on the validation set), and θ0, g, s, mean α and mean λ. A resumed run may log an epoch
twice; the last one counts.
"""
from __future__ import annotations

import ast
import math
import re
from pathlib import Path

from echo.plot.ablation import MaxNLocator, config_colors, plt, save_figure

EPOCH_DONE = re.compile(r" INFO epoch (\d+) done:")
GATES = re.compile(r" INFO gates (\{.*?\}) pitch (\{.*?\})\s*$")
PANELS = (   # (section, key, title)
    ("gates", "mean", "gate mean"),
    ("gates", "open_frac", "fraction of gates > 0.5"),
    ("gates", "voicing_corr", "gate–voicing correlation"),
    ("pitch", "theta0", "θ0"),
    ("pitch", "theta_gain", "g in θ = θ0·(1 + g·F/220 Hz)"),
    ("pitch", "theta_slope", "s in θ = θ0 + s·F (per Hz)"),
    ("pitch", "radius_alpha", "radius α (mean over heads)"),
    ("pitch", "bias_lambda", "pitch-bias λ (mean)"),
)


def _literal(text: str) -> dict:
    """A logged dict repr; nan and inf (not Python literals) become NaN and ±inf."""
    text = re.sub(r"(?<![\w.])nan(?![\w.])", "None", text)
    text = re.sub(r"(?<![\w.])inf(?![\w.])", "1e999", text)
    d = ast.literal_eval(text)
    return {k: (math.nan if v is None else float(v)) for k, v in d.items()}


def parse_gate_log(train_log) -> list[dict]:
    """train.log -> [{"epoch": N, "gates": {...}, "pitch": {...}}, ...] by epoch; [] when it logs none."""
    by_epoch, epoch = {}, None
    path = Path(train_log)
    if not path.is_file():
        return []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        m = EPOCH_DONE.search(line)
        if m:
            epoch = int(m.group(1))
            continue
        m = GATES.search(line)
        if m and epoch is not None:
            try:
                by_epoch[epoch] = {"epoch": epoch, "gates": _literal(m.group(1)), "pitch": _literal(m.group(2))}
            except (ValueError, SyntaxError) as e:
                raise ValueError(f"{path}: cannot read the gate statistics of epoch {epoch}: {line!r}") from e
    return [by_epoch[e] for e in sorted(by_epoch)]


def plot_gate_stats(logs: dict[str, list[dict]], out_path, title: str = "") -> Path | None:
    """logs: {run label: parse_gate_log(...)} -> one panel per statistic that some run logs, a line per
    run. None when no run logs any."""
    panels = []
    for section, key, name in PANELS:
        lines = {}
        for label, records in logs.items():
            pts = [(r["epoch"], r[section][key]) for r in records
                   if key in r[section] and math.isfinite(r[section][key])]
            if pts:
                lines[label] = pts
        if lines:
            panels.append((name, lines))
    if not panels:
        return None
    colors = config_colors(list(logs))
    cols = min(4, len(panels))
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.0 * cols, 3.1 * rows), squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    for ax, (name, lines) in zip(axes.flat, panels):
        for label, pts in lines.items():
            xs, ys = zip(*pts)
            ax.plot(xs, ys, "-o", ms=2.5, lw=1.2, color=colors[label], label=label)
        if name.startswith(("gate mean", "fraction")):
            ax.set_ylim(-0.02, 1.02)
        elif name.startswith("gate–voicing"):
            ax.axhline(0.0, color="gray", lw=0.7)
            ax.set_ylim(-1.02, 1.02)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
    fig.suptitle(title or "gates (validation set) and learned pitch parameters over training", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, out_path, dpi=90)

