"""The assets of an experiment dir and their provenance: what exp/<tag>/ was trained with.

Training copies into exp/<tag>/ everything decoding needs besides the weights, so decoding never reads
data/ or dump/:

    token_list/      the token list dir of stage 2 (tokens.txt, token_type, bpe.model)
    feats.yaml       the feature config of the training dump (dump/<train>/conf/feats.yaml)
    cmvn.npz         the CMVN statistics of the training dump
    assets.json      content hashes (sha256) of those files and of the training dump's feats.scp, written
                     last: an experiment dir without it has no assets yet

A rerun of training for an existing experiment compares the sources with assets.json before it touches
anything. If they are the same, nothing is written. If any differs (a stage-1 or stage-2 rerun on changed
data), it stops with AssetsChanged naming each changed file: copying the new token list over the one the
weights were trained with would silently make the same audio decode to other words. A new --tag, or
--force (discard the experiment and train again), are the ways on.

The training dump itself must be complete: its cmvn.npz, the last output of stage 1, must have been computed
from the feats.scp that is there now (DumpIncomplete otherwise).
"""
from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path

from echo.io import atomic

ASSETS_JSON = "assets.json"
TOKEN_FILES = ("tokens.txt", "token_type", "bpe.model")   # what decoding reads of a token list dir


class AssetsChanged(RuntimeError):
    """The data an experiment would use differ from what its model was trained with."""


class DumpIncomplete(RuntimeError):
    """A dump dir that stage 1 did not finish."""


def sha256_file(path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def check_training_dump(dump: Path) -> None:
    """Raise DumpIncomplete unless dump/ has feats.scp, conf/feats.yaml and a cmvn.npz computed from it."""
    from echo.features.cmvn import CMVN

    dump = Path(dump)
    for path, what in ((dump / "feats.scp", "echo.bin.dump_feats writes it last"),
                       (dump / "conf" / "feats.yaml", "echo.bin.dump_feats writes it"),
                       (dump / "cmvn.npz", "echo.bin.compute_cmvn writes it at the end of stage 1")):
        if not path.is_file():
            raise DumpIncomplete(f"{path}: missing ({what}); stage 1 did not complete: run it again")
    source = CMVN.load(dump / "cmvn.npz").source_sha256
    if source and source != sha256_file(dump / "feats.scp"):
        raise DumpIncomplete(f"{dump / 'cmvn.npz'} was computed from another {dump / 'feats.scp'} than the one "
                             "there now (a stage-1 rerun stopped before compute_cmvn): run stage 1 again")


def source_files(token_dir: Path, train_dump: Path) -> dict[str, Path]:
    """{name in exp dir: source path} of every asset; feats.scp is hashed, never copied."""
    files = {f"token_list/{n}": token_dir / n for n in TOKEN_FILES if (token_dir / n).is_file()}
    files["feats.yaml"] = train_dump / "conf" / "feats.yaml"
    files["cmvn.npz"] = train_dump / "cmvn.npz"
    files["train/feats.scp"] = train_dump / "feats.scp"
    return files


def _describe(name: str) -> str:
    return {"token_list/tokens.txt": "the token list", "token_list/bpe.model": "the sentencepiece model",
            "token_list/token_type": "the token type", "feats.yaml": "the feature config",
            "cmvn.npz": "the CMVN statistics",
            "train/feats.scp": "the training data (feats.scp)"}.get(name, name)


def changed_assets(exp_dir: Path, token_dir: Path, train_dump: Path) -> list[str]:
    """One line per asset whose source differs from what exp_dir/assets.json recorded ([] if none)."""
    recorded = atomic.read_json(exp_dir / ASSETS_JSON)["files"]
    sources = source_files(token_dir, train_dump)
    lines = []
    for name in sorted(set(recorded) | set(sources)):
        now = sha256_file(sources[name]) if name in sources else None
        if recorded.get(name) != now:
            src = sources.get(name, name)
            lines.append(f"{_describe(name)} {src} " + ("is new" if name not in recorded else
                                                        "is gone" if now is None else
                                                        f"differs from the one {exp_dir} was trained with"))
    return lines


def install_assets(exp_dir, token_dir, train_dump) -> bool:
    """Copy the assets into exp_dir and record their hashes; returns False when exp_dir already holds
    exactly these (nothing is written then). Raises AssetsChanged when it holds others."""
    exp_dir, token_dir, train_dump = Path(exp_dir), Path(token_dir), Path(train_dump)
    check_training_dump(train_dump)
    if not (token_dir / "tokens.txt").is_file():
        raise FileNotFoundError(f"{token_dir / 'tokens.txt'}: missing (stage 2, tokenisation, writes it)")
    if (exp_dir / ASSETS_JSON).is_file():
        changed = changed_assets(exp_dir, token_dir, train_dump)
        if not changed:
            return False
        raise AssetsChanged(
            f"{exp_dir} was trained with other data than it would use now:\n  " + "\n  ".join(changed)
            + f"\nTrain a new experiment (another --tag), or discard {exp_dir} and train again with --force.")
    sources = source_files(token_dir, train_dump)
    hashes = {name: sha256_file(src) for name, src in sources.items()}
    if (exp_dir / "checkpoint.pt").is_file():   # made before assets.json existed: its copies are the record
        changed = [f"{_describe(n)} {sources[n]} differs from {exp_dir / n}" for n in sources
                   if n != "train/feats.scp" and (not (exp_dir / n).is_file() or sha256_file(exp_dir / n) != hashes[n])]
        if changed:
            raise AssetsChanged(f"{exp_dir} was trained with other data than it would use now:\n  "
                                + "\n  ".join(changed) + "\nTrain a new experiment (another --tag), or discard "
                                f"{exp_dir} and train again with --force.")
        atomic.write_json(exp_dir / ASSETS_JSON, {"files": hashes, "sources": {n: str(p) for n, p in sources.items()}})
        return True
    exp_dir.mkdir(parents=True, exist_ok=True)
    for name in ("feats.yaml", "cmvn.npz"):
        atomic.atomic_write(exp_dir / name, lambda f, src=sources[name]: f.write(src.read_bytes()))
    tmp = Path(tempfile.mkdtemp(dir=exp_dir, prefix=".token_list."))
    try:
        shutil.copytree(token_dir, tmp, dirs_exist_ok=True)
        shutil.rmtree(exp_dir / "token_list", ignore_errors=True)
        tmp.replace(exp_dir / "token_list")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    # What was copied is what gets recorded: a source changed while copying would show up as a mismatch.
    copied = {name: sha256_file(exp_dir / name) for name in sources if name != "train/feats.scp"}
    if any(copied[n] != hashes[n] for n in copied):
        raise AssetsChanged(f"the assets changed while being copied into {exp_dir}; run again")
    atomic.write_json(exp_dir / ASSETS_JSON, {"files": hashes,
                                              "sources": {n: str(p) for n, p in sources.items()}})
    return True


def discard_experiment(exp_dir) -> None:
    """--force: remove exp_dir entirely (checkpoints, assets, logs, decodes), so training starts afresh."""
    exp_dir = Path(exp_dir)
    if exp_dir.exists():
        shutil.rmtree(exp_dir)
