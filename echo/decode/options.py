"""Decoding options shared by every command that decodes (echo.bin.decode, echo.bin.transcribe) and
stored in a packed model (echo.bin.pack --decode-config): one table, one parser, one precedence.

    opts = resolve_options(cli={"beam_size": 4, ...}, config=Path("conf/decode.yaml"), base=packed_opts)

Precedence: the command line, else --config (YAML, keys as below with _ or -), else `base` (a packed
model's decode config), else the defaults below.
"""
from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from echo.decode.beam_search import SearchConfig
from echo.decode.recognizer import MODES

# Option name -> (type, default, help). These are also the keys a --config YAML may hold.
OPTIONS = {
    "mode": (str, "beam", f"one of {', '.join(MODES)}"),
    "beam_size": (int, SearchConfig.beam_size, "hypotheses kept per utterance"),
    "ctc_weight": (float, SearchConfig.ctc_weight, "λ of joint decoding: (1-λ)·attention + λ·CTC prefix score"),
    "penalty": (float, SearchConfig.penalty, "insertion bonus per token (> 0 favours longer outputs)"),
    "maxlenratio": (float, SearchConfig.maxlenratio,
                    "max tokens = max(1, int(ratio·encoder frames)); 0: encoder frames; < 0: int(-ratio)"),
    "minlenratio": (float, SearchConfig.minlenratio, "min tokens = int(ratio·encoder frames)"),
    "normalize_length": ("bool", SearchConfig.normalize_length, "rank ended hypotheses by score per token"),
    "nbest": (int, SearchConfig.nbest, "hypotheses written per utterance"),
    "pre_beam_ratio": (float, SearchConfig.pre_beam_ratio,
                       "CTC-score int(ratio·beam) attention candidates per hypothesis; 0 = every token"),
    "batch_size": (int, 16, "utterances decoded together"),
}
ALIASES = {"beam": "beam_size"}
SEARCH_FIELDS = {f.name for f in dataclasses.fields(SearchConfig)}


def str2bool(value) -> bool:
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("true", "1", "yes"):
        return True
    if str(value).lower() in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {value!r}")


def add_search_arguments(p: argparse.ArgumentParser) -> None:
    """--mode, --beam-size (--beam), --ctc-weight, ... : every option of OPTIONS, default None (unset)."""
    for name, (typ, default, help_text) in OPTIONS.items():
        flags = [f"--{name.replace('_', '-')}"] + ([f"--{name}"] if "_" in name else [])
        if name == "beam_size":
            flags.append("--beam")
        p.add_argument(*flags, dest=name, type=str2bool if typ == "bool" else typ, default=None,
                       help=f"{help_text} (default: {default})")


def _convert(name: str, value, where: str):
    typ = OPTIONS[name][0]
    try:
        return str2bool(value) if typ == "bool" else typ(value)
    except (TypeError, ValueError, argparse.ArgumentTypeError):
        raise SystemExit(f"{where}: {name}: {value!r} is not a valid {typ}") from None


def read_config(path) -> dict:
    """A decoding config (YAML mapping of option: value) -> {option: value}, checked and typed."""
    import yaml

    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise SystemExit(f"{path}: cannot read decoding config: {' '.join(str(e).split())}") from None
    if not isinstance(raw, dict):
        raise SystemExit(f"{path}: a decoding config is a mapping of option: value")
    out = {}
    for key, value in raw.items():
        name = str(key).replace("-", "_")
        name = ALIASES.get(name, name)
        if name not in OPTIONS:
            raise SystemExit(f"{path}: unknown option {key!r}; valid: {', '.join(OPTIONS)}")
        out[name] = _convert(name, value, str(path))
    return out


def check_options(opts: dict, where: str = "decoding options") -> dict:
    unknown = sorted(set(opts) - set(OPTIONS))
    if unknown:
        raise SystemExit(f"{where}: unknown option(s) {', '.join(unknown)}; valid: {', '.join(OPTIONS)}")
    if opts.get("mode", "beam") not in MODES:
        raise SystemExit(f"--mode must be one of {', '.join(MODES)}, got {opts['mode']!r}")
    if opts.get("batch_size", 1) < 1:
        raise SystemExit(f"--batch-size must be >= 1, got {opts['batch_size']}")
    return opts


def resolve_options(cli: dict | argparse.Namespace, config=None, base: dict | None = None) -> dict:
    """Every option of OPTIONS: cli (None = unset), else the config file, else base, else the default."""
    if isinstance(cli, argparse.Namespace):
        cli = vars(cli)
    from_file = read_config(config) if config is not None else {}
    base = check_options(dict(base or {}), "the model's decode config")
    opts = {}
    for name, (_, default, _) in OPTIONS.items():
        value = cli.get(name)
        opts[name] = value if value is not None else from_file.get(name, base.get(name, default))
    return check_options(opts)


def search_config(opts: dict) -> SearchConfig:
    """The SearchConfig part of resolved options."""
    return SearchConfig(**{k: v for k, v in opts.items() if k in SEARCH_FIELDS})
