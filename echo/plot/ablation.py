"""Figures of an ablation (exp/ablation/images/), drawn by echo/ablation/figures.py.

From the numbers: every config's learning curves overlaid (the seed's comparison of "with and without
F0") and each test metric as mean ± std over seeds per config. histories: {config: [history of seed 0,
history of seed 1, ...]}, a history being the per-epoch dicts of exp/<tag>/epoch<N>.json, e.g.
{"epoch": 3, "step": 339, "valid.loss": 3.4, "valid.acc": 0.85, ...}.

From the trained experiments and one test utterance: its spectrogram and F0 (echo/plot/spectrogram.py),
rotary similarity maps with untrained and learned θ (echo/plot/rotary.py), gate statistics by epoch
(echo/plot/gates.py) and attention maps with and without the pitch bias (echo/plot/attention.py).
"""
from __future__ import annotations

import math
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")   # files only
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator, ScalarFormatter  # noqa: E402
from echo.io import atomic

CURVE_PANELS = (   # key -> title
    ("valid.loss", "validation loss"),
    ("valid.acc", "validation token accuracy"),
    ("valid.cer", "validation greedy-CTC CER"),
    ("train.loss", "training loss"),
)


def save_figure(fig, out_path, dpi: int = 100) -> Path:
    """Write `fig` to out_path (PNG) through a temporary file and close it."""
    try:
        return atomic.atomic_write(out_path, lambda f: fig.savefig(f, dpi=dpi, format="png"))
    finally:
        plt.close(fig)


def config_colors(configs) -> dict[str, tuple]:
    cmap = plt.get_cmap("tab10" if len(configs) <= 10 else "tab20")
    return {c: cmap(i % cmap.N) for i, c in enumerate(configs)}


def _series(history: list[dict], key: str) -> dict[int, float]:
    return {int(h["epoch"]): float(h[key]) for h in history
            if isinstance(h.get(key), (int, float)) and math.isfinite(h[key])}


def plot_learning_curves(histories: dict[str, list[list[dict]]], out_path, title: str = "") -> Path | None:
    """One panel per key of CURVE_PANELS that some run has; per config the mean over seeds by epoch (line)
    and the range over seeds (band). None when no run has a finished epoch yet."""
    panels = []
    for key, name in CURVE_PANELS:
        per_config = {}
        for config, runs in histories.items():
            series = [s for s in (_series(h, key) for h in runs) if s]
            if series:
                per_config[config] = series
        if per_config:
            panels.append((key, name, per_config))
    if not panels:
        return None
    colors = config_colors(list(histories))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 3.9), squeeze=False)
    for ax, (key, name, per_config) in zip(axes[0], panels):
        for config, series in per_config.items():
            epochs = sorted(set().union(*series))
            values = [[s[e] for s in series if e in s] for e in epochs]
            mean = np.array([np.mean(v) for v in values])
            lo, hi = np.array([min(v) for v in values]), np.array([max(v) for v in values])
            ax.plot(epochs, mean, "-o", ms=2.5, lw=1.3, color=colors[config], label=f"{config} ({len(series)})")
            if len(series) > 1:
                ax.fill_between(epochs, lo, hi, color=colors[config], alpha=0.15, lw=0)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        if key.endswith("loss") and all(v > 0 for s in per_config.values() for run in s for v in run.values()):
            ax.set_yscale("log")
            ax.yaxis.set_major_formatter(ScalarFormatter())
            ax.yaxis.set_minor_formatter(ScalarFormatter())
            ax.tick_params(axis="y", which="minor", labelsize=7)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3, which="both")
    axes[0][0].legend(fontsize=7, title="config (seeds)", title_fontsize=7)
    fig.suptitle(title or "learning curves: mean over seeds, band = range over seeds", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, out_path)


def plot_metrics(values: dict[str, dict[str, list[float]]], out_path, title: str = "",
                 higher_better: dict[str, bool] | None = None) -> Path | None:
    """values: {metric label: {config: [one value per seed]}} -> one bar chart per metric: the mean per
    config, an error bar of ± the sample std over seeds, and each seed as a dot."""
    metrics = [m for m, per in values.items() if any(per.values())]
    if not metrics:
        return None
    higher_better = higher_better or {}
    configs = list(dict.fromkeys(c for m in metrics for c in values[m]))
    colors = config_colors(configs)
    n = len(metrics)
    fig, axes = plt.subplots(1, n, figsize=(max(3.6, 0.55 * len(configs) + 1.6) * n, 4.0), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        per = values[metric]
        xs = np.arange(len(configs))
        for x, config in zip(xs, configs):
            vals = per.get(config) or []
            if not vals:
                continue
            std = float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0
            ax.bar(x, float(np.mean(vals)), color=colors[config], alpha=0.75, yerr=std, capsize=3)
            ax.plot([x] * len(vals), vals, "k.", ms=4)
        ax.set_xticks(xs, configs, rotation=45, ha="right", fontsize=8)
        arrow = "higher is better" if higher_better.get(metric) else "lower is better"
        ax.set_title(f"{metric} ({arrow})", fontsize=10)
        ax.grid(alpha=0.3, axis="y")
    fig.suptitle(title or "test metrics: mean ± std over seeds (dots: seeds)", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, out_path)


# ---------------------------------------------------------------- figures of trained experiments
# `run` below is an echo.ablation.runs.Run: .name, .seed, .path (exp/ablation/<config>_seed<k>),
# .train_config (its config.yaml), .checkpoint (the model it was decoded with), .dump (the test dump dir),
# .decode_info; `first` maps each config to its lowest-seed run.

def pick_utterance(dump: Path, utt: str | None = None) -> str:
    """`utt`, else the first utterance (C order) of the dump with at least a third of its frames voiced."""
    import kaldiio

    from echo.data.datadir import read_kv
    entries = read_kv(dump / "f0.scp")
    if utt is not None:
        if utt not in dict(entries):
            raise ValueError(f"utterance {utt} is not in {dump / 'f0.scp'}")
        return utt
    for u, rx in entries[:200]:
        f0 = kaldiio.load_mat(rx)
        if len(f0) >= 40 and (f0 > 0).mean() >= 1 / 3:
            return u
    return entries[0][0]


def load_utterance(dump: Path, utt: str, cmvn: Path | None):
    """(feats (T, D) tensor, CMVN applied; f0 (T,) tensor) of one utterance of a dump dir."""
    from echo.data.dataset import EchoDataset
    ds = EchoDataset(dump, cmvn=cmvn if cmvn is not None and cmvn.is_file() else None)
    item = ds[ds.utt_ids.index(utt)]
    return item["feats"], item["f0"]


def spectrogram_figure(run, utt: str, images: Path, max_frames: int) -> Path:
    """spectrogram.png: the utterance of the run's test dump, with the run's feature config."""
    from echo.data.datadir import read_kv_dict, read_segments
    from echo.features.audio import load_audio
    from echo.features.config import FeatureConfig
    from echo.plot.spectrogram import plot_spectrogram

    conf = FeatureConfig.from_yaml(run.path / "feats.yaml") if (run.path / "feats.yaml").is_file() else FeatureConfig()
    dump = run.dump
    feats, f0 = load_utterance(dump, utt, None)
    segments = read_segments(dump / "segments") if (dump / "segments").is_file() else {}
    reco, start, end = segments.get(utt, (utt, 0.0, None))
    wave = load_audio(read_kv_dict(dump / "wav.scp")[reco], conf.sample_rate, start, end)
    n = min(len(f0), max_frames)
    wave = wave[: int(n * conf.frame_shift_ms / 1000 * conf.sample_rate) + conf.window_size]
    title = f"{utt} ({run.decode_info.get('data', dump)}, {conf.f0_method} F0)"
    return plot_spectrogram(wave, conf.sample_rate, f0[:n].numpy(), images / "spectrogram.png", conf.frame_shift_ms,
                            feats[:n].numpy(), title=title, n_mels=conf.n_mels)


def rotary_figures(first: dict, dump: Path, utt: str, images: Path, max_frames: int) -> list[Path]:
    """rotary.png: standard θ against F0-driven θ (untrained: θ0 = 10000, g = 1) for the utterance's F0;
    rotary_<config>.png with the learned rotary of each config whose θ follows F0."""
    import torch

    from echo.model.subsampling import Conv2dSubsampling
    from echo.plot.rotary import plot_rotary
    from echo.model.echo import load_model

    _, f0 = load_utterance(dump, utt, None)
    f0 = f0[:max_frames].numpy()
    model_cfg = next(iter(first.values())).train_config.get("model", {})
    head_dim = model_cfg.get("d_model", 144) // model_cfg.get("n_heads", 4)
    sub = Conv2dSubsampling(8, 2, model_cfg.get("subsampling", 4), 1)
    out = [plot_rotary(f0, images / "rotary.png", f"{utt}: untrained θ0 = 10000 (standard), 220 (mel), g = 1",
                       head_dim=head_dim, window=sub.window, stride=sub.stride)]
    for config, run in first.items():
        if (run.train_config.get("model") or {}).get("theta_mode", "none") == "none":
            continue
        if run.checkpoint is None or not run.checkpoint.is_file():
            continue
        model = load_model(run.checkpoint)
        with torch.no_grad():   # the learned θ0 and g are read as plain numbers
            out.append(plot_rotary(f0, images / f"rotary_{config}.png", f"{utt}: learned rotary of {run.name}",
                                   window=model.encoder.subsampling.window, stride=model.encoder.subsampling.stride,
                                   rotary=model.encoder.rotary))
    return out


def gates_figure(first: dict, images: Path) -> Path | None:
    """gates.png: gate statistics and learned pitch parameters by epoch of every config that logs them."""
    from echo.plot.gates import parse_gate_log, plot_gate_stats

    logs = {c: parse_gate_log(r.path / "train.log") for c, r in first.items()}
    logs = {c: v for c, v in logs.items() if v}
    if not logs:
        return None
    seeds = {first[c].seed for c in logs}
    return plot_gate_stats(logs, images / "gates.png",
                           f"validation-set gates and learned pitch parameters by epoch (seed {min(seeds)})")


def attention_figure(first: dict, utt: str, images: Path, max_frames: int) -> Path | None:
    """attention.png: the first config (in order) whose model has a pitch bias, with its bias and with
    λ = 0, their difference, and the reference (baseline) model's attention when there is one."""
    import torch

    from echo.model.pitch import PitchTrack
    from echo.plot.attention import attention_maps, has_pitch_bias, plot_attention, without_pitch_bias
    from echo.model.echo import load_model

    candidates = [r for r in first.values() if (r.train_config.get("model") or {}).get("pitch_bias")]
    candidates = [r for r in candidates if r.checkpoint is not None and r.checkpoint.is_file()]
    if not candidates:
        return None
    run = candidates[0]
    model = load_model(run.checkpoint)
    if not has_pitch_bias(model):
        return None
    feats, f0 = load_utterance(run.dump, utt, run.path / "cmvn.npz")
    feats, f0 = feats[:max_frames], f0[:max_frames]
    with_bias = attention_maps(model, feats, f0)
    with without_pitch_bias(model):
        no_bias = attention_maps(model, feats, f0)
    rows = [(f"{run.name}: with its pitch bias", with_bias, False), ("the same weights, λ = 0", no_bias, False),
            ("difference (with − without)", [a - b for a, b in zip(with_bias, no_bias)], True)]
    base = first.get("baseline")
    if base is not None and base is not run and base.checkpoint is not None and base.checkpoint.is_file():
        base_model = load_model(base.checkpoint)
        b_feats, b_f0 = load_utterance(base.dump, utt, base.path / "cmvn.npz")
        rows.append((f"{base.name} (no pitch)", attention_maps(base_model, b_feats[:max_frames], b_f0[:max_frames]),
                     False))
    sub = model.encoder.subsampling
    track = PitchTrack.from_f0(f0[None], torch.tensor([len(f0)]), sub.window, sub.stride)
    lambdas = model.pitch_parameters().get("bias_lambda", float("nan"))
    return plot_attention(rows, images / "attention.png", track.f0[0].numpy(),
                          f"{utt}: self-attention (mean over heads) per encoder layer\n"
                          f"with and without the pitch bias of {run.name} (mean λ {lambdas:.3f})")
