"""Reading an ablation's experiments: exp/<ablation>/<config>_seed<k>/ as egs/TEMPLATE/ablation.sh makes
them, each into a Run (its test metrics, history, size, training time, features and config). The report
built from them: echo/ablation/report.py.
"""
from __future__ import annotations

import datetime
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

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


def device_line(train_log: Path) -> str | None:
    if not train_log.is_file():
        return None
    for line in train_log.read_text(encoding="utf-8", errors="replace").splitlines():
        m = re.search(r" INFO (device .*)$", line)
        if m:
            return m.group(1)
    return None
