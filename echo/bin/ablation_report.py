"""The table and figures of an ablation: exp/ablation/ABLATION.md and exp/ablation/images/*.png.

    python -m echo.bin.ablation_report exp/ablation [--configs "baseline theta_frame"] [--seeds 2]
        [--command "./ablation.sh ..."] [--reference baseline] [--utt UTT_ID] [--no-images]

Reads every experiment exp/ablation/<config>_seed<k>/ (as egs/TEMPLATE/ablation.sh makes them):
- metrics: every exp/ablation/<run>/decode_<set>/score_<name>/result.json, generically: sclite's
  {"total": {"err_rate": ...}} gives WER (score_wer), CER (score_cer), "WER words" (score_wer_words);
  any other "*error_rate" key (TER and SylER of score_tone) or "accuracy" (punct acc of score_punct),
  at the top level or under "total", becomes a column too; all are percentages;
- #params from decode_info.json (else counted from the checkpoint), updates from the epoch<N>.json
  sidecars, training time from train.log (the span of each training session, resumed ones added up),
  the feature layout from feats.yaml and what each config changes from config.yaml.
One row per config: mean ± sample std (n − 1) over its seeds, the best mean of each column in bold;
then how each config differs from the reference config, and every run's own numbers.

Figures (matplotlib, PNG), drawn from one test utterance (--utt, else the first in C order with a
third of its frames voiced): curves.png (validation loss/accuracy/CER of every config overlaid),
metrics.png (test metrics per config), spectrogram.png (spectrogram, F0 and voicing), rotary.png
(similarity of encoder frames under standard θ and F0-driven θ; rotary_<config>.png with a trained
model's learned θ0 and g), gates.png (gate statistics and learned pitch parameters by epoch), and
attention.png (self-attention per layer of a pitch-bias model, with its bias and with λ = 0).
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import re
import statistics
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from echo.io import atomic

MECHANISMS = ("theta_utterance", "theta_frame", "radius_f0", "radius_logf0", "pitch_bias", "f0_gate", "value_rotary")
# fbank_pitch on another F0 tracker (issue 16): the features change, the model is fbank_pitch's
TRACKER_VARIANTS = ("fbank_pitch_f0_harvest", "fbank_pitch_f0_kaldi", "fbank_pitch_f0_swift", "fbank_pitch_dio_fallback",
                    "fbank_pitch_kaldi_feats")
# the first round's configs, then (issue 18) each mechanism on the pitch features' track, and on top of fbank_pitch
DEFAULT_ORDER = ("baseline", "fbank_pitch", *MECHANISMS, "all_on", *(f"{m}_featsrc" for m in MECHANISMS),
                 *(f"fbank_pitch_{m}" for m in MECHANISMS), "fbank_pitch_all_on", *TRACKER_VARIANTS)
RUN_DIR = re.compile(r"^(?P<config>[A-Za-z0-9_.-]+)_seed(?P<seed>\d+)$")
TIMESTAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) ")
EPOCH_JSON = re.compile(r"^epoch(\d+)\.json$")
PRETTY = {"tone_error_rate": "TER", "syllable_error_rate": "SylER"}
FIRST_SCORES = ("wer", "cer")   # these columns come first, in this order


# ---------------------------------------------------------------- reading one experiment

def score_metrics(result_json: Path) -> dict[str, tuple[float, bool]]:
    """decode_<set>/score_<name>/result.json -> {label: (value in %, higher is better)}."""
    name = result_json.parent.name.removeprefix("score_")
    data = json.loads(result_json.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{result_json}: expected a JSON object")
    total = data["total"] if isinstance(data.get("total"), dict) else data
    out = {}
    head, _, rest = name.partition("_")
    for key, value in total.items():
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            continue
        if key == "err_rate":
            out[head.upper() + (f" {rest.replace('_', ' ')}" if rest else "")] = (float(value), False)
        elif key.endswith("error_rate"):
            out[PRETTY.get(key, f"{name} {key}")] = (float(value), False)
        elif key == "accuracy" or key.endswith("_accuracy"):
            out[f"{name} {'acc' if key == 'accuracy' else key}"] = (float(value), True)
    return out


def decode_metrics(exp_dir: Path) -> dict[tuple[str, str], tuple[float, bool]]:
    """{(test set, label): (value, higher is better)} over exp_dir/decode_<set>/score_*/result.json."""
    out = {}
    for dec in sorted(exp_dir.glob("decode_*")):
        if not dec.is_dir():
            continue
        results = sorted(dec.glob("score_*/result.json"), key=lambda p: (
            FIRST_SCORES.index(p.parent.name[6:]) if p.parent.name[6:] in FIRST_SCORES else len(FIRST_SCORES),
            p.parent.name))
        for r in results:
            for label, v in score_metrics(r).items():
                out[(dec.name.removeprefix("decode_"), label)] = v
    return out


def train_seconds(train_log: Path) -> float | None:
    """Wall time of training from train.log: first to last line of each session (a session starts at
    the logged `python -m echo.bin.train` command), summed over sessions (resumed runs)."""
    if not train_log.is_file():
        return None
    sessions = []
    for line in train_log.read_text(encoding="utf-8", errors="replace").splitlines():
        m = TIMESTAMP.match(line)
        if not m:
            continue
        t = datetime.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S")
        if " python -m echo.bin.train" in line or not sessions:
            sessions.append([t, t])
        else:
            sessions[-1][1] = t
    return sum((b - a).total_seconds() for a, b in sessions) if sessions else None


def epoch_history(exp_dir: Path) -> list[dict]:
    """The per-epoch validation records (epoch<N>.json; they outlive the pruned epoch<N>.pt), by epoch."""
    out = []
    for p in exp_dir.glob("epoch*.json"):
        m = EPOCH_JSON.match(p.name)
        if m:
            d = json.loads(p.read_text(encoding="utf-8"))
            d["epoch"] = int(m.group(1))
            out.append(d)
    return sorted(out, key=lambda d: d["epoch"])


def feature_layout(exp_dir: Path) -> str:
    f = exp_dir / "feats.yaml"
    if not f.is_file():
        return "?"
    conf = yaml.safe_load(f.read_text(encoding="utf-8")) or {}
    layout = f"fbank{conf.get('n_mels', 80)}"
    if not conf.get("append_pitch"):
        return layout
    # which F0 the pitch features come from: the tracker variants differ in nothing else (the key's absence
    # in an older feats.yaml means its default then: dio, echo's features, no fallback)
    source = [conf.get("f0_method", "dio")]
    if conf.get("pitch_features", "echo") != "echo":
        source.append(f"{conf['pitch_features']} features")
    if conf.get("dio_fallback", "none") != "none" and source[0] == "dio":
        source.append(f"{conf['dio_fallback']} fallback")
    return f"{layout}+pitch3 ({', '.join(source)})"


@dataclass
class Run:
    config: str
    seed: int
    path: Path
    metrics: dict = field(default_factory=dict)       # (set, label) -> value
    better: dict = field(default_factory=dict)        # (set, label) -> higher is better
    num_params: int | None = None
    train_seconds: float | None = None
    updates: int | None = None
    history: list = field(default_factory=list)
    feats: str = "?"
    train_config: dict = field(default_factory=dict)
    decode_info: dict = field(default_factory=dict)   # of its first decode dir
    checkpoint: Path | None = None
    dump: Path | None = None                          # the test set's dump dir it was decoded from

    @property
    def name(self) -> str:
        return self.path.name


def read_run(path: Path, config: str, seed: int) -> Run:
    run = Run(config, seed, path)
    for key, (value, higher) in decode_metrics(path).items():
        run.metrics[key], run.better[key] = value, higher
    for info_file in sorted(path.glob("decode_*/decode_info.json")):
        run.decode_info = json.loads(info_file.read_text(encoding="utf-8"))
        break
    run.num_params = run.decode_info.get("num_params")
    recipe = recipe_dir(path.parent)
    if run.decode_info.get("data"):
        run.dump = recipe / run.decode_info["data"]   # an absolute path stays one
    if run.decode_info.get("model"):
        run.checkpoint = recipe / run.decode_info["model"]
    else:
        found = sorted(path.glob("valid.*.ave_*best.pt")) or sorted(path.glob("epoch*.pt"))
        run.checkpoint = found[0] if found else None
    if run.num_params is None and run.checkpoint is not None and run.checkpoint.is_file():
        from echo.score.results import count_params
        run.num_params = count_params(run.checkpoint)
    run.train_seconds = train_seconds(path / "train.log")
    run.history = epoch_history(path)
    steps = [h["step"] for h in run.history if isinstance(h.get("step"), int)]
    run.updates = max(steps) if steps else None
    run.feats = feature_layout(path)
    if (path / "config.yaml").is_file():
        run.train_config = yaml.safe_load((path / "config.yaml").read_text(encoding="utf-8")) or {}
    return run


def recipe_dir(ablation_dir: Path) -> Path:
    """The recipe an ablation dir exp/<name> belongs to (relative paths in decode_info.json start there):
    the parent of the nearest enclosing `exp`, else the grandparent."""
    path = ablation_dir.resolve()
    return next((p.parent for p in (path, *path.parents) if p.name == "exp"), path.parent.parent)


def find_runs(ablation_dir: Path, configs: list[str] | None = None, seeds: int | None = None) -> list[Run]:
    """Every <config>_seed<k> experiment under ablation_dir, in config order (--configs, else
    DEFAULT_ORDER then by name) and seed order; only those configs and seeds < `seeds` when given."""
    found = []
    for d in ablation_dir.iterdir():
        m = RUN_DIR.match(d.name)
        if d.is_dir() and m:
            config, seed = m["config"], int(m["seed"])
            if (configs is None or config in configs) and (seeds is None or seed < seeds):
                found.append((config, seed, d))
    order = list(configs) if configs else list(DEFAULT_ORDER)

    def key(item):
        config, seed, _ = item
        return (order.index(config) if config in order else len(order), config, seed)

    return [read_run(d, c, s) for c, s, d in sorted(found, key=key)]


# ---------------------------------------------------------------- the table

def mean_std(values: list[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (n − 1 in the denominator; None for a single value)."""
    if not values:
        raise ValueError("no values")
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else None)


def fmt_mean_std(values: list[float], digits: int = 2) -> str:
    if not values:
        return "–"
    mean, std = mean_std(values)
    return f"{mean:.{digits}f}" + (f" ± {std:.{digits}f}" if std is not None else "")


def fmt_seconds(s: float | None) -> str:
    if s is None or not math.isfinite(s):
        return "?"
    s = int(round(s))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def fmt_params(n: int | None) -> str:
    if n is None:
        return "?"
    return f"{n / 1e6:.2f} M" if n >= 1e6 else f"{n / 1e3:.1f} k"


def metric_columns(runs: list[Run]) -> list[tuple[str, str]]:
    """(set, label) keys in first-seen order; the set name is shown only with several test sets."""
    cols = []
    for r in runs:
        cols += [k for k in r.metrics if k not in cols]
    return cols


def column_title(key: tuple[str, str], multi_set: bool) -> str:
    test_set, label = key
    return f"{label} ({test_set})" if multi_set else label


def _field_defaults() -> dict:
    """The trainer's current defaults, {section: {field: value}}."""
    from echo.model.echo import EchoConfig
    from echo.train.config import defaults
    return defaults(EchoConfig)


def config_changes(cfg: dict, ref: dict, feats: str, ref_feats: str) -> str:
    """What a resolved config.yaml changes against the reference's (the seed aside). A field one of
    them lacks (a config.yaml written before the field existed) had its default, which is what a new
    switch is given so that older runs keep their meaning: it is compared as that default."""
    changes = []
    base = _field_defaults()
    for sec in sorted(set(cfg) | set(ref)):
        a, b = cfg.get(sec) or {}, ref.get(sec) or {}
        if isinstance(a, dict) and isinstance(b, dict) and isinstance(base.get(sec), dict):
            a, b = {**base[sec], **a}, {**base[sec], **b}
        if not isinstance(a, dict) or not isinstance(b, dict):
            continue
        for k in sorted(set(a) | set(b)):
            if (sec, k) != ("train", "seed") and a.get(k) != b.get(k):
                changes.append(f"{sec}.{k}={a.get(k)}")
    if feats != ref_feats:
        changes.insert(0, f"features {feats}")
    return ", ".join(changes) if changes else "none"


# ---------------------------------------------------------------- learning curves as numbers

CURVE_KEYS = ("valid.cer", "valid.loss")   # lower is better; the first one the runs have is summarised
LAST_CHANGE_FLAT = 0.02                    # |relative change over the last epoch| below this: flattened


def curve_values(history: list[dict], key: str) -> list[tuple[int, float]]:
    """(updates, value) of each validated epoch that recorded `key` and its step, in epoch order."""
    return [(h["step"], float(h[key])) for h in history
            if isinstance(h.get("step"), int) and isinstance(h.get(key), (int, float)) and math.isfinite(h[key])]


def updates_to_reach(history: list[dict], key: str, target: float) -> int | None:
    """Updates at the first validation whose `key` is at or below `target` (lower is better); None if never."""
    for step, value in curve_values(history, key):
        if value <= target:
            return step
    return None


def last_epoch_change(history: list[dict], key: str) -> float | None:
    """Relative change of `key` over the last validated epoch (negative: still improving); None with < 2."""
    values = curve_values(history, key)
    if len(values) < 2 or values[-2][1] == 0:
        return None
    return (values[-1][1] - values[-2][1]) / abs(values[-2][1])


def default_curve_target(by_config: dict[str, list[Run]], key: str) -> float | None:
    """The worst config's best value, averaged over its seeds: a level every config reaches on average."""
    bests = []
    for rs in by_config.values():
        per_run = [min(v for _, v in curve_values(r.history, key)) for r in rs if curve_values(r.history, key)]
        if per_run:
            bests.append(statistics.fmean(per_run))
    return max(bests) if bests else None


def learning_curve_lines(by_config: dict[str, list[Run]], targets: dict[str, float] | None = None) -> list[str]:
    """The "Learning curves" section: per config, mean ± std over seeds of the updates to reach each
    target dev value (the seeds that never reach it are counted, not averaged), and the last epoch's change."""
    runs = [r for rs in by_config.values() for r in rs]
    key = next((k for k in CURVE_KEYS if any(curve_values(r.history, k) for r in runs)), None)
    if key is None:
        return []
    targets = dict(targets or {})
    if not any(k == key for k in targets):
        default = default_curve_target(by_config, key)
        if default is not None:
            targets[key] = default
    lines = ["", "## Learning curves", "",
             "Updates (optimiser steps) at the first validation at or below each target of the dev metric: "
             "mean ± std over the seeds that reach it, `(k/n)` where only k of n seeds do. Without "
             f"--curve-target the target of `{key}` is the worst config's best value averaged over its seeds, "
             "a level every config reaches on average. Last epoch: the mean relative change of "
             f"`{key}` over the final epoch; |change| < {100 * LAST_CHANGE_FLAT:.0f} % counts as flattened.", ""]
    header = ["config", *[f"updates to {k} ≤ {v:.4g}" for k, v in targets.items()], f"best {key}",
              "last epoch", "flattened"]
    lines += ["|" + "|".join(header) + "|", "|" + "---|" * len(header)]
    for config, rs in by_config.items():
        cells = [config]
        for k, target in targets.items():
            reached = [u for u in (updates_to_reach(r.history, k, target) for r in rs) if u is not None]
            if not reached:
                cells.append(f"not reached (0/{len(rs)})")
                continue
            cell = fmt_mean_std([float(u) for u in reached], digits=0)
            cells.append(cell + (f" ({len(reached)}/{len(rs)})" if len(reached) < len(rs) else ""))
        bests = [min(v for _, v in curve_values(r.history, key)) for r in rs if curve_values(r.history, key)]
        changes = [c for c in (last_epoch_change(r.history, key) for r in rs) if c is not None]
        cells.append(fmt_mean_std(bests, digits=4) if bests else "?")
        if changes:
            mean_change = statistics.fmean(changes)
            cells += [f"{100 * mean_change:+.1f} %", "yes" if abs(mean_change) < LAST_CHANGE_FLAT else "**no**"]
        else:
            cells += ["?", "?"]
        lines.append("|" + "|".join(cells) + "|")
    return lines


def report_markdown(runs: list[Run], command: str | None = None, reference: str | None = None,
                    images: list[Path] | None = None, notes: list[str] | None = None,
                    curve_targets: dict[str, float] | None = None) -> str:
    from echo.score.results import environment

    # a run not yet scored (still training or decoding) counts in no mean, seed count, time or curve: a
    # third seed half-way through would otherwise pass its partial curve off as the config's
    scored = [r for r in runs if r.metrics]
    configs = list(dict.fromkeys(r.config for r in runs))
    by_config = {c: [r for r in scored if r.config == c] for c in configs}
    cols = metric_columns(runs)
    multi_set = len({s for s, _ in cols}) > 1
    better = {k: v for r in runs for k, v in r.better.items()}
    values = {c: {k: [r.metrics[k] for r in rs if k in r.metrics] for k in cols} for c, rs in by_config.items()}
    best = {}
    for k in cols:
        means = {c: statistics.fmean(v[k]) for c, v in values.items() if v[k]}
        if len(means) > 1:
            target = (max if better[k] else min)(means.values())
            winners = {c for c, m in means.items() if math.isclose(m, target, rel_tol=0, abs_tol=1e-9)}
            if len(winners) < len(means):   # a tie between every config has no best
                best[k] = winners

    seeds = sorted({r.seed for r in scored})
    lines = ["<!-- Generated by echo/bin/ablation_report.py -->", "# Ablation: does pitch help?", ""]
    env = environment()
    lines += [f"- recipe: `{recipe_dir(runs[0].path.parent).name}`, experiments under `{runs[0].path.parent}`"]
    if command:
        lines.append(f"- command: `{command}`")
    lines += [f"- {k}: `{v}`" for k, v in env.items()]
    device = device_line(runs[0].path / "train.log")
    if device:
        lines.append(f"- training: {device}")
    lines.append(f"- seeds: {', '.join(map(str, seeds))}; each cell is the mean ± sample standard deviation "
                 "(n − 1) over seeds; test metrics are percentages; **bold**: best mean of the column")
    updates = {r.updates for r in scored if r.updates is not None}
    if len(updates) == 1:
        lines.append(f"- every run made the same number of optimiser updates: {updates.pop()}")
    elif updates:
        differ = ", ".join(f"{r.name} {r.updates}" for r in scored)
        lines.append(f"- **runs differ in optimiser updates**: {differ}")
    total = sum(r.train_seconds or 0.0 for r in scored)
    lines.append(f"- training time of the {len(scored)} scored run{'s' * (len(scored) != 1)} together: "
                 f"{fmt_seconds(total)}")
    for note in notes or []:
        lines.append(f"- {note}")

    header = ["config", "seeds", *[column_title(k, multi_set) for k in cols], "#params", "updates", "train time",
              "features"]
    lines += ["", "## Results", "", "|" + "|".join(header) + "|", "|" + "---|" * len(header)]
    for c, rs in by_config.items():
        cells = [c, str(len(rs))]
        for k in cols:
            cell = fmt_mean_std(values[c][k])
            cells.append(f"**{cell}**" if c in best.get(k, ()) else cell)
        params = sorted({r.num_params for r in rs if r.num_params is not None})
        ups = sorted({r.updates for r in rs if r.updates is not None})
        times = [r.train_seconds for r in rs if r.train_seconds is not None]
        cells += ["/".join(fmt_params(p) for p in params) or "?", "/".join(map(str, ups)) or "?",
                  fmt_seconds(statistics.fmean(times)) if times else "?", "/".join(sorted({r.feats for r in rs}))]
        lines.append("|" + "|".join(cells) + "|")

    with_runs = [c for c in configs if by_config[c]]
    if not with_runs:
        lines += ["", "No run is scored yet.", *every_run_lines(runs, cols, multi_set), *figure_lines(images)]
        return "\n".join(lines) + "\n"
    ref = reference if reference in with_runs else ("baseline" if "baseline" in with_runs else with_runs[0])
    ref_run = by_config[ref][0]
    lines += ["", f"## Difference from `{ref}`", "",
              f"Mean of the config minus mean of `{ref}` (negative is better for error rates, positive for "
              "accuracies); `*` where the difference exceeds twice its standard error, sqrt(s₁²/n₁ + s₂²/n₂): "
              "a rough guide with this few seeds, not a significance test.", ""]
    header = ["config", "changes", *[column_title(k, multi_set) for k in cols]]
    lines += ["|" + "|".join(header) + "|", "|" + "---|" * len(header)]
    for c in with_runs:
        rs = by_config[c]
        cells = [c, config_changes(rs[0].train_config, ref_run.train_config, rs[0].feats, ref_run.feats)
                 if c != ref else "(reference)"]
        for k in cols:
            a, b = values[c][k], values[ref][k]
            if c == ref or not a or not b:
                cells.append("–")
                continue
            delta = statistics.fmean(a) - statistics.fmean(b)
            se = math.sqrt((statistics.variance(a) / len(a) if len(a) > 1 else 0.0)
                           + (statistics.variance(b) / len(b) if len(b) > 1 else 0.0))
            star = "*" if len(a) > 1 and len(b) > 1 and abs(delta) > 2 * se else ""
            cells.append(f"{delta:+.2f}{star}")
        lines.append("|" + "|".join(cells) + "|")

    lines += learning_curve_lines({c: by_config[c] for c in with_runs}, curve_targets)
    lines += every_run_lines(runs, cols, multi_set)
    lines += figure_lines(images)
    return "\n".join(lines) + "\n"


def figure_lines(images: list[Path] | None) -> list[str]:
    return ["", "## Figures", "", *[f"![{p.stem}](images/{p.name})" for p in images]] if images else []


def every_run_lines(runs: list[Run], cols: list, multi_set: bool) -> list[str]:
    """The "Every run" section: each run's own numbers, the unscored ones named (and counted nowhere else)."""
    header = ["run", *[column_title(k, multi_set) for k in cols], "best valid.loss", "updates", "train time",
              "checkpoint"]
    lines = ["", "## Every run", "", "|" + "|".join(header) + "|", "|" + "---|" * len(header)]
    for r in runs:
        losses = [h["valid.loss"] for h in r.history if isinstance(h.get("valid.loss"), (int, float))]
        cells = [r.name, *[f"{r.metrics[k]:.2f}" if k in r.metrics else "not scored" for k in cols],
                 f"{min(losses):.3f}" if losses else "?", str(r.updates or "?"), fmt_seconds(r.train_seconds),
                 f"`{r.checkpoint.name}`" if r.checkpoint else "?"]
        lines.append("|" + "|".join(cells) + "|")
    unscored = [r.name for r in runs if not r.metrics]
    if unscored:
        lines += ["", "**Not scored** (no decode_*/score_*/result.json; left out of every mean, seed count, "
                  f"training time and learning curve): {', '.join(unscored)}"]
    return lines


def device_line(train_log: Path) -> str | None:
    if not train_log.is_file():
        return None
    for line in train_log.read_text(encoding="utf-8", errors="replace").splitlines():
        m = re.search(r" INFO (device .*)$", line)
        if m:
            return m.group(1)
    return None


# ---------------------------------------------------------------- the figures

def make_figures(runs: list[Run], images: Path, utt: str | None = None, max_frames: int = 400
                 ) -> tuple[list[Path], list[str]]:
    """Draw every figure the runs allow; returns (written PNGs, notes for ABLATION.md: the utterance shown,
    and each figure that failed, with why)."""
    from echo.plot.ablation import (attention_figure, gates_figure, pick_utterance, plot_learning_curves,
                                    plot_metrics, rotary_figures, spectrogram_figure)

    written, notes = [], []

    def attempt(name, fn):
        try:
            out = fn()
            if out is not None:
                written.extend(out if isinstance(out, list) else [out])
        except Exception as e:   # a figure is not worth losing the table for; say what went wrong
            traceback.print_exc()
            notes.append(f"figure {name} failed: {type(e).__name__}: {e}")

    configs = list(dict.fromkeys(r.config for r in runs))
    histories = {c: [r.history for r in runs if r.config == c] for c in configs}
    attempt("curves.png", lambda: plot_learning_curves(histories, images / "curves.png"))
    cols = metric_columns(runs)
    multi_set = len({s for s, _ in cols}) > 1
    values = {column_title(k, multi_set): {c: [r.metrics[k] for r in runs if r.config == c and k in r.metrics]
                                           for c in configs} for k in cols}
    higher = {column_title(k, multi_set): v for r in runs for k, v in r.better.items()}
    attempt("metrics.png", lambda: plot_metrics(values, images / "metrics.png", higher_better=higher))

    first = {c: next(r for r in runs if r.config == c) for c in configs}
    attempt("gates.png", lambda: gates_figure(first, images))
    ref = first.get("baseline") or next(iter(first.values()))
    if ref.dump is None or not (ref.dump / "f0.scp").is_file():
        notes.append(f"no test dump found through {ref.name}/decode_*/decode_info.json: no spectrogram, "
                      "rotary or attention figure")
        return written, notes
    try:
        utt = pick_utterance(ref.dump, utt)
    except ValueError as e:
        raise SystemExit(f"--utt: {e}") from None
    notes.append(f"the figures show utterance `{utt}` of `{ref.decode_info.get('data', ref.dump)}`")
    attempt("spectrogram.png", lambda: spectrogram_figure(ref, utt, images, max_frames))
    attempt("rotary.png", lambda: rotary_figures(first, ref.dump, utt, images, max_frames))
    attempt("attention.png", lambda: attention_figure(first, utt, images, max_frames))
    return written, notes


# ---------------------------------------------------------------- main

def write_report(ablation_dir, configs: list[str] | None = None, seeds: int | None = None, command: str | None = None,
                 reference: str | None = None, utt: str | None = None, images: bool = True,
                 out: Path | None = None, curve_targets: dict[str, float] | None = None) -> Path:
    ablation_dir = Path(ablation_dir)
    if not ablation_dir.is_dir():
        raise SystemExit(f"{ablation_dir}: no such directory")
    runs = find_runs(ablation_dir, configs, seeds)
    if not runs:
        raise SystemExit(f"{ablation_dir}: no <config>_seed<k> experiment"
                         + (f" of configs {' '.join(configs)}" if configs else ""))
    missing = [c for c in configs or [] if c not in {r.config for r in runs}]
    notes = [f"**configs without any experiment**: {', '.join(missing)}"] if missing else []
    written = []
    if images:
        written, figure_notes = make_figures(runs, ablation_dir / "images", utt)
        notes += figure_notes
    out = out or ablation_dir / "ABLATION.md"
    atomic.write_text(out, report_markdown(runs, command, reference, written, notes, curve_targets))
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m echo.bin.ablation_report", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("ablation_dir", type=Path, help="exp/ablation: holds <config>_seed<k>/ experiments")
    p.add_argument("--configs", help="space-separated configs to report, in this order (default: all found)")
    p.add_argument("--seeds", type=int, help="report seeds 0..N-1 only (default: all found)")
    p.add_argument("--command", help="the command that made the experiments, quoted in ABLATION.md")
    p.add_argument("--reference", help="config the differences are taken from (default: baseline, else the first)")
    p.add_argument("--utt", help="test utterance of the figures (default: the first, C order, a third voiced)")
    p.add_argument("--no-images", action="store_true", help="write ABLATION.md only")
    p.add_argument("--out", type=Path, help="default: ABLATION_DIR/ABLATION.md")
    p.add_argument("--curve-target", action="append", default=[], metavar="KEY=VALUE",
                   help="learning curves: report the updates to reach KEY <= VALUE (e.g. valid.cer=0.1; "
                        "repeatable; lower-is-better keys of epoch<N>.json)")
    args = p.parse_args(argv)
    curve_targets = {}
    for item in args.curve_target:
        key, sep, value = item.partition("=")
        try:
            curve_targets[key] = float(value) if sep and key else float("nan")
        except ValueError:
            curve_targets[key] = float("nan")
        if not math.isfinite(curve_targets[key]):
            p.error(f"--curve-target must be KEY=NUMBER, got {item!r}")
        if key.endswith("acc"):
            p.error(f"--curve-target {key}: only lower-is-better metrics (valid.loss, valid.cer, ...)")
    if args.seeds is not None and args.seeds < 1:
        p.error("--seeds must be >= 1")
    configs = args.configs.split() if args.configs else None
    out = write_report(args.ablation_dir, configs, args.seeds, args.command, args.reference, args.utt,
                       not args.no_images, args.out, curve_targets)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
