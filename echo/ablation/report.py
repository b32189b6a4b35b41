"""The report of an ablation, exp/<ablation>/ABLATION.md (`python -m echo.bin.ablation_report`): per config
the mean ± std over seeds of every test metric, the difference from a reference config with a 2-standard-
error mark, learning curves as numbers (updates to reach a dev level, whether the last epoch still moved),
every run's own row, and the figures of echo/ablation/figures.py. The runs are read by
echo/ablation/runs.py.
"""
from __future__ import annotations

import math
import statistics
from pathlib import Path

from echo.io import atomic
from echo.ablation.runs import Run, device_line, find_runs, recipe_dir

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


# ---------------------------------------------------------------- the report

def report_markdown(runs: list[Run], command: str | None = None, reference: str | None = None,
                    images: list[Path] | None = None, notes: list[str] | None = None,
                    curve_targets: dict[str, float] | None = None) -> str:
    """ABLATION.md: the run's provenance, the results table, the differences from the reference config,
    the learning curves, every run's own numbers and the figures."""
    # a run not yet scored (still training or decoding) counts in no mean, seed count, time or curve: a
    # third seed half-way through would otherwise pass its partial curve off as the config's
    scored = [r for r in runs if r.metrics]
    configs = list(dict.fromkeys(r.config for r in runs))
    by_config = {c: [r for r in scored if r.config == c] for c in configs}
    cols = metric_columns(runs)
    multi_set = len({s for s, _ in cols}) > 1
    values = {c: {k: [r.metrics[k] for r in rs if k in r.metrics] for k in cols} for c, rs in by_config.items()}
    lines = header_lines(runs, scored, command, notes)
    lines += results_lines(by_config, values, cols, best_configs(runs, values, cols), multi_set)
    with_runs = [c for c in configs if by_config[c]]
    if not with_runs:
        lines += ["", "No run is scored yet."]
    else:
        ref = reference if reference in with_runs else ("baseline" if "baseline" in with_runs else with_runs[0])
        lines += difference_lines({c: by_config[c] for c in with_runs}, values, cols, ref, multi_set)
        lines += learning_curve_lines({c: by_config[c] for c in with_runs}, curve_targets)
    lines += every_run_lines(runs, cols, multi_set)
    lines += figure_lines(images)
    return "\n".join(lines) + "\n"


def best_configs(runs: list[Run], values: dict, cols: list) -> dict:
    """{column: the configs with its best mean}, for columns where not every config ties."""
    better = {k: v for r in runs for k, v in r.better.items()}
    best = {}
    for k in cols:
        means = {c: statistics.fmean(v[k]) for c, v in values.items() if v[k]}
        if len(means) > 1:
            target = (max if better[k] else min)(means.values())
            winners = {c for c, m in means.items() if math.isclose(m, target, rel_tol=0, abs_tol=1e-9)}
            if len(winners) < len(means):   # a tie between every config has no best
                best[k] = winners
    return best


def header_lines(runs: list[Run], scored: list[Run], command: str | None, notes: list[str] | None) -> list[str]:
    """The title and the list of what the runs are: recipe, command, environment, device, seeds, updates."""
    from echo.score.results import environment

    seeds = sorted({r.seed for r in scored})
    lines = ["<!-- Generated by echo/bin/ablation_report.py -->", "# Ablation: does pitch help?", ""]
    lines += [f"- recipe: `{recipe_dir(runs[0].path.parent).name}`, experiments under `{runs[0].path.parent}`"]
    if command:
        lines.append(f"- command: `{command}`")
    lines += [f"- {k}: `{v}`" for k, v in environment().items()]
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
    return lines + [f"- {note}" for note in notes or []]


def results_lines(by_config: dict[str, list[Run]], values: dict, cols: list, best: dict,
                  multi_set: bool) -> list[str]:
    """The "Results" table: one row per config, mean ± std over its scored seeds."""
    header = ["config", "seeds", *[column_title(k, multi_set) for k in cols], "#params", "updates", "train time",
              "features"]
    lines = ["", "## Results", "", "|" + "|".join(header) + "|", "|" + "---|" * len(header)]
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
    return lines


def difference_lines(by_config: dict[str, list[Run]], values: dict, cols: list, ref: str,
                     multi_set: bool) -> list[str]:
    """The "Difference from <ref>" table: what each config changes, and its mean minus the reference's,
    starred beyond twice the standard error."""
    ref_run = by_config[ref][0]
    lines = ["", f"## Difference from `{ref}`", "",
             f"Mean of the config minus mean of `{ref}` (negative is better for error rates, positive for "
             "accuracies); `*` where the difference exceeds twice its standard error, sqrt(s₁²/n₁ + s₂²/n₂): "
             "a rough guide with this few seeds, not a significance test.", ""]
    header = ["config", "changes", *[column_title(k, multi_set) for k in cols]]
    lines += ["|" + "|".join(header) + "|", "|" + "---|" * len(header)]
    for c, rs in by_config.items():
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
    return lines


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


def write_report(ablation_dir, configs: list[str] | None = None, seeds: int | None = None, command: str | None = None,
                 reference: str | None = None, utt: str | None = None, images: bool = True,
                 out: Path | None = None, curve_targets: dict[str, float] | None = None) -> Path:
    """Reads the runs of `ablation_dir` (those configs, seeds below `seeds`), draws the figures unless
    images=False, and writes ABLATION.md (or `out`); returns its path. SystemExit naming what is missing."""
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
        from echo.ablation.figures import make_figures
        written, figure_notes = make_figures(runs, ablation_dir / "images", utt)
        notes += figure_notes
    out = out or ablation_dir / "ABLATION.md"
    atomic.write_text(out, report_markdown(runs, command, reference, written, notes, curve_targets))
    return out
