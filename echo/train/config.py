"""The training configuration: one YAML file of sections, every field overridable on the command line.

    model:    EchoConfig fields (echo/model/echo.py), except idim and vocab_size: those come from the data
    optim:    OptimConfig
    batch:    BatchConfig
    train:    TrainConfig
    specaug:  SpecAugConfig (echo/train/specaug.py)
    augment:  AugmentConfig (echo/data/augment.py): on-the-fly audio augmentation, off by default

Precedence: the dataclass defaults, then the YAML file (--config), then command-line overrides
written `--<section>.<field> VALUE`, e.g. `--model.enc_layers 6 --optim.lr 2e-3 --train.amp bf16`.
VALUE is read as YAML (`true`, `[0.9, 0.98]`, `null`) and checked against the field's type. An unknown
section or field, in the file or on the command line, is an error that names it.

(configargparse reads flat `key: value` files only; a YAML of sections is read here with pyyaml, and
the overrides are ordinary argparse options, one per field, so `--help` lists every one of them.)
"""
from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from echo.data.augment import AugmentConfig
from echo.train.specaug import SpecAugConfig

DATA_FIELDS = ("idim", "vocab_size")   # EchoConfig fields set from the data, never from the config
BEST_METRICS = ("valid.loss", "valid.acc", "valid.cer")
AMP_MODES = ("none", "bf16", "fp16")


class ConfigError(ValueError):
    """A bad training config; the message names the file and the key."""


@dataclass
class OptimConfig:
    lr: float = 1e-3              # peak learning rate, reached at the end of warmup (AdamW)
    weight_decay: float = 0.01
    betas: list = field(default_factory=lambda: [0.9, 0.98])
    eps: float = 1e-9
    warmup_steps: int = 1000      # optimiser updates
    scheduler: str = "noam"       # noam | cosine | constant (echo/train/schedule.py)
    min_lr_ratio: float = 0.0     # cosine: final lr / peak lr
    grad_clip: float = 5.0        # max global gradient norm; 0 disables clipping
    accum_grad: int = 1           # batches per optimiser update


@dataclass
class BatchConfig:
    batch_frames: int = 20000     # padded input frames per batch (utterances × longest): lower on OOM
    max_frames: int = 3000        # longer utterances are dropped from training (30 s at a 10 ms shift)
    max_batch_size: int = 0       # utterances per batch at most; 0: no limit
    valid_batch_frames: int = 0   # for validation; 0: same as batch_frames


@dataclass
class TrainConfig:
    max_epoch: int = 30           # raise it and re-run the same command to train longer
    seed: int = 0
    log_interval: int = 50        # optimiser updates between train.log lines
    save_interval_steps: int = 0  # also write checkpoint.pt every N updates (mid-epoch resume); 0: per epoch
    keep_nbest: int = 5           # epoch<N>.pt files kept, the best by best_metric
    best_metric: str = "valid.loss"   # valid.loss | valid.acc | valid.cer
    nbest_average: int = 5        # average this many best epochs into valid.<metric>.ave_<n>best.pt; 0: no
    amp: str = "none"             # none | bf16 | fp16 (GPU only; ignored on CPU)
    compile: bool = False         # torch.compile the model (echo/train/precision.py); slow to start


SECTIONS = {"optim": OptimConfig, "batch": BatchConfig, "train": TrainConfig, "specaug": SpecAugConfig,
            "augment": AugmentConfig}


def model_fields(model_cls) -> dict:
    """{field name: (type hint, default)} of the model dataclass, minus the fields the data sets."""
    hints = typing.get_type_hints(model_cls)
    out = {}
    for f in dataclasses.fields(model_cls):
        if f.name in DATA_FIELDS:
            continue
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = None
        out[f.name] = (hints.get(f.name, typing.Any), default)
    return out


def schema(model_cls) -> dict:
    """{section: {field: (type hint, default)}} of the whole config."""
    out = {"model": model_fields(model_cls)}
    for name, cls in SECTIONS.items():
        hints = typing.get_type_hints(cls)
        out[name] = {f.name: (hints[f.name], getattr(cls(), f.name)) for f in dataclasses.fields(cls)}
    return out


def coerce(value, hint, where: str):
    """`value` as the type `hint` asks for; ConfigError naming `where` otherwise. Numbers written
    like 1e-3 (a string to YAML 1.1) are accepted for float fields."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return coerce(value, a, where)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if errors else f"{where}: bad value {value!r}")
    if hint is typing.Any:
        return value
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
    elif hint is str:
        if isinstance(value, str):
            return value
    elif hint in (list, tuple) or origin in (list, tuple):
        if isinstance(value, (list, tuple)):
            return list(value)
    else:   # a type we do not check (e.g. a Literal or a nested dataclass): trust the model to validate
        return value
    raise ConfigError(f"{where}: expected {getattr(hint, '__name__', hint)}, got {value!r}")


def defaults(model_cls) -> dict:
    return {sec: {k: d for k, (_, d) in fields.items()} for sec, fields in schema(model_cls).items()}


def merge(cfg: dict, updates: dict, model_cls, source: str) -> dict:
    """cfg updated with the nested dict `updates`; unknown sections and keys raise, naming `source`."""
    sch = schema(model_cls)
    if not isinstance(updates, dict):
        raise ConfigError(f"{source}: expected a mapping of sections ({', '.join(sch)}), got {updates!r}")
    for sec, values in updates.items():
        if sec not in sch:
            raise ConfigError(f"{source}: unknown section {sec!r} (valid sections: {', '.join(sch)})")
        if values is None:
            continue
        if not isinstance(values, dict):
            raise ConfigError(f"{source}: section {sec!r} must be a mapping, got {values!r}")
        for key, value in values.items():
            if key not in sch[sec]:
                hint = (f"; {key} is read from the data" if sec == "model" and key in DATA_FIELDS else "")
                raise ConfigError(f"{source}: unknown key {sec}.{key}{hint} "
                                  f"(valid keys of {sec}: {', '.join(sch[sec])})")
            cfg[sec][key] = coerce(value, sch[sec][key][0], f"{source}: {sec}.{key}")
    return cfg


def check(cfg: dict, source: str = "config") -> None:
    """Value checks that types alone do not catch."""
    o, b, t = cfg["optim"], cfg["batch"], cfg["train"]
    if o["scheduler"] not in ("noam", "cosine", "constant"):
        raise ConfigError(f"{source}: optim.scheduler must be noam, cosine or constant, got {o['scheduler']!r}")
    if o["accum_grad"] < 1:
        raise ConfigError(f"{source}: optim.accum_grad must be >= 1, got {o['accum_grad']}")
    if b["batch_frames"] <= 0:
        raise ConfigError(f"{source}: batch.batch_frames must be positive, got {b['batch_frames']}")
    if t["best_metric"] not in BEST_METRICS:
        raise ConfigError(f"{source}: train.best_metric must be one of {', '.join(BEST_METRICS)}, "
                          f"got {t['best_metric']!r}")
    if t["amp"] not in AMP_MODES:
        raise ConfigError(f"{source}: train.amp must be one of {', '.join(AMP_MODES)}, got {t['amp']!r}")
    if t["max_epoch"] < 1 or t["log_interval"] < 1:
        raise ConfigError(f"{source}: train.max_epoch and train.log_interval must be >= 1")
    try:
        AugmentConfig(**cfg["augment"])
    except ValueError as e:
        raise ConfigError(f"{source}: {e}") from None


def load_yaml(path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None
    return data or {}


def add_override_options(parser, model_cls) -> None:
    """One `--section.field` option per config field (default None: not given)."""
    for sec, fields in schema(model_cls).items():
        group = parser.add_argument_group(f"{sec}: overrides of the config's `{sec}:` section")
        for key, (hint, default) in fields.items():
            group.add_argument(f"--{sec}.{key}", dest=f"cfg:{sec}.{key}", default=None, metavar="VALUE",
                               help=f"(default: {default!r})")


def overrides_from_args(args) -> dict:
    """The nested dict of the `--section.field` options given on the command line."""
    out: dict = {}
    for dest, raw in vars(args).items():
        if not dest.startswith("cfg:") or raw is None:
            continue
        sec, key = dest[4:].split(".", 1)
        try:
            value = yaml.safe_load(raw) if raw != "" else ""
        except yaml.YAMLError:
            value = raw   # not YAML (e.g. "a: b: c"): the plain string
        out.setdefault(sec, {})[key] = value
    return out


def resolve(config_path, overrides: dict, model_cls) -> dict:
    """defaults ← YAML file ← overrides, checked."""
    cfg = defaults(model_cls)
    if config_path:
        cfg = merge(cfg, load_yaml(config_path), model_cls, str(config_path))
    cfg = merge(cfg, overrides, model_cls, "command line")
    check(cfg, str(config_path or "config"))
    return cfg


def dump(cfg: dict) -> str:
    return yaml.safe_dump(cfg, sort_keys=False, default_flow_style=False)


def diff(old: dict, new: dict) -> list[str]:
    """Dotted keys whose values differ between two resolved configs."""
    keys = []
    for sec in sorted(set(old) | set(new)):
        a, b = old.get(sec, {}) or {}, new.get(sec, {}) or {}
        keys += [f"{sec}.{k}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    return keys
