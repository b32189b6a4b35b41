"""The packed model file (model.echo): one file holding everything decoding needs, the owner of its format.

    obj = pack_experiment(Path("exp/t"), checkpoint="valid.loss.ave_5best.pt", decode_opts={...})
    write_packed(obj, "exp/t/model.echo")
    obj = read_packed("exp/t/model.echo")      # checked: format name, version, every part present

It is a torch file loadable with weights_only=True (tensors, dicts, lists, str, int, float, bool, bytes,
None; never pickled code), laid out as

    format            "echo-packed-model"
    format_version    FORMAT_VERSION (an echo reads exactly the versions in READABLE_VERSIONS)
    echo_version      the echo that packed it
    model             {"config": EchoConfig fields, "state": {name: tensor}, "checkpoint": file name}
    tokens            {"list": [str], "type": "word"|"char"|"bpe", "sp_model": bytes of bpe.model or None}
    cmvn              {"mean": float64 (D,), "std": float64 (D,), "count": int} or None
    features          FeatureConfig fields (fbank and F0/pitch settings)
    decode            decoding options (echo.decode.options.OPTIONS) from the recipe's decode.yaml
    train_data        {"name", "feats_scp", "feats_scp_sha256"} from exp/<tag>/assets.json, or None
    assets_sha256     the content hashes assets.json recorded (token list, CMVN, feature config)

The format version goes up whenever a key changes meaning or a new key is needed to decode; a file of
another version is refused with one line saying which echo made it and what to do.
"""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import torch

from echo.io import atomic
from echo.io.assets import ASSETS_JSON, sha256_file

FORMAT_NAME = "echo-packed-model"
FORMAT_VERSION = 1
READABLE_VERSIONS = (1,)
REQUIRED_KEYS = ("model", "tokens", "cmvn", "features", "decode")


class PackedModelError(atomic.CorruptFileError):
    """A file that is not a packed model, or one of a format version this echo does not read."""


def default_checkpoint(exp: Path) -> Path:
    """The checkpoint asr.sh decodes with: the n-best average the trainer wrote, else the latest epoch."""
    averaged = sorted(exp.glob("valid.*.ave_*best.pt"))
    if averaged:
        return averaged[0]

    def epoch_number(p: Path) -> int:
        m = re.fullmatch(r"epoch(\d+)\.pt", p.name)
        return int(m.group(1)) if m else -1

    epochs = sorted((p for p in exp.glob("epoch*.pt") if epoch_number(p) >= 0), key=epoch_number)
    if epochs:
        return epochs[-1]
    raise FileNotFoundError(f"{exp}: no valid.*.ave_*best.pt and no epoch<N>.pt (stage 3, training, writes "
                            "them); give --checkpoint")


def _check_assets(exp: Path) -> dict:
    """assets.json of exp (or {}), after checking that the copies in exp are still what it recorded."""
    if not (exp / ASSETS_JSON).is_file():
        return {}
    assets = atomic.read_json(exp / ASSETS_JSON)
    for name, digest in assets.get("files", {}).items():
        if name.startswith("train/"):
            continue   # hashed at the source, never copied
        path = exp / name
        if not path.is_file() or sha256_file(path) != digest:
            raise atomic.CorruptFileError(f"{path}: differs from what {exp / ASSETS_JSON} recorded when the "
                                          "model was trained (or is missing); it is not this model's asset")
    return assets


def _train_data(exp: Path, assets: dict) -> dict | None:
    source = assets.get("sources", {}).get("train/feats.scp")
    if not source:
        return None
    dump = Path(source).parent                      # <recipe>/dump/<set>/feats.scp, maybe relative
    recipe = exp.resolve().parent.parent.name if exp.resolve().parent.name == "exp" else ""
    return {"name": f"{recipe}/{dump.name}" if recipe else dump.name, "feats_scp": str(source),
            "feats_scp_sha256": assets.get("files", {}).get("train/feats.scp", "")}


def pack_experiment(exp, checkpoint=None, decode_opts: dict | None = None) -> dict:
    """The packed model of exp/<tag>/ with `checkpoint` (a name in exp or a path; default: the n-best
    average) and decode_opts (checked decoding options, e.g. echo.decode.options.read_config's)."""
    from echo import __version__
    from echo.features.cmvn import CMVN
    from echo.features.config import FeatureConfig
    from echo.model.echo import EchoConfig
    from echo.text.tokenizer import Tokenizer

    exp = Path(exp)
    if not exp.is_dir():
        raise FileNotFoundError(f"{exp}: no such experiment dir")
    ckpt_path = default_checkpoint(exp) if checkpoint is None else Path(checkpoint)
    if checkpoint is not None and not ckpt_path.is_absolute() and not ckpt_path.exists():
        ckpt_path = exp / ckpt_path
    ckpt = atomic.torch_load(ckpt_path)
    if not isinstance(ckpt, dict) or "model" not in ckpt or "config" not in ckpt:
        raise atomic.CorruptFileError(f"{ckpt_path}: not an echo model file (no 'model' and 'config')")
    config = dataclasses.asdict(EchoConfig(**ckpt["config"]))   # checked now, not at decoding time
    assets = _check_assets(exp)
    for name in ("token_list/tokens.txt", "feats.yaml", "cmvn.npz"):
        if not (exp / name).is_file():
            raise FileNotFoundError(f"{exp / name}: missing (training copies it into the experiment dir)")
    tok = Tokenizer.load(exp / "token_list")
    if tok.vocab_size != config["vocab_size"]:
        raise ValueError(f"{exp / 'token_list/tokens.txt'} has {tok.vocab_size} tokens but {ckpt_path} "
                         f"{config['vocab_size']}: not the token list this model was trained with")
    cmvn = CMVN.load(exp / "cmvn.npz")
    feats = FeatureConfig.from_yaml(exp / "feats.yaml")
    sp_model = (exp / "token_list" / "bpe.model").read_bytes() if tok.token_type == "bpe" else None
    return {
        "format": FORMAT_NAME, "format_version": FORMAT_VERSION, "echo_version": __version__,
        "model": {"config": config, "checkpoint": ckpt_path.name,
                  "state": {k: v.detach().cpu().contiguous() for k, v in ckpt["model"].items()}},
        "tokens": {"list": list(tok.tokens), "type": tok.token_type, "sp_model": sp_model},
        "cmvn": {"mean": torch.from_numpy(cmvn.mean.copy()), "std": torch.from_numpy(cmvn.std.copy()),
                 "count": int(cmvn.count)},
        "features": dataclasses.asdict(feats),
        "decode": dict(decode_opts or {}),
        "train_data": _train_data(exp, assets),
        "assets_sha256": {k: v for k, v in assets.get("files", {}).items()},
    }


def write_packed(obj: dict, path) -> Path:
    return atomic.torch_save(obj, path)


def read_packed(path) -> dict:
    """The packed model at `path`, checked; PackedModelError (one line) for any other file or version."""
    obj = atomic.torch_load(path)
    if not isinstance(obj, dict) or obj.get("format") != FORMAT_NAME:
        what = ("an echo checkpoint (weights only): pack it with python -m echo.bin.pack --exp <its exp dir>"
                if isinstance(obj, dict) and "model" in obj and "config" in obj else
                f"keys: {', '.join(map(str, obj))[:120]}" if isinstance(obj, dict) else type(obj).__name__)
        raise PackedModelError(f"{path}: not a packed echo model ({what})")
    version, made_by = obj.get("format_version"), obj.get("echo_version", "an unknown echo")
    if version not in READABLE_VERSIONS:
        newer = isinstance(version, int) and version > max(READABLE_VERSIONS)
        raise PackedModelError(
            f"{path}: packed model format version {version} (made by echo {made_by}); this echo reads version "
            f"{', '.join(map(str, READABLE_VERSIONS))}: "
            + ("upgrade echo to read it" if newer else "pack it again with python -m echo.bin.pack from its exp dir"))
    missing = [k for k in REQUIRED_KEYS if k not in obj]
    if missing:
        raise PackedModelError(f"{path}: packed model without {', '.join(missing)} (a damaged file)")
    return obj
