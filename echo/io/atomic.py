"""Atomic file writes: the one way echo writes a file that another step will read.

A file is written under a temporary name in the same directory (same filesystem, so the rename is atomic),
flushed and fsynced, given the permissions a plain open() would give (mkstemp makes 0600), then renamed
over the final name. On any error, KeyboardInterrupt included, the temporary file is removed. A job killed
with SIGKILL can still leave a temporary `.<name>.*.tmp` behind: it never has the final name, and
`remove_stale_temporaries` clears such leftovers when a stage starts again.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable

_UMASK = os.umask(0)
os.umask(_UMASK)
TMP_SUFFIX = ".tmp"


class CorruptFileError(RuntimeError):
    """A file that exists but cannot be read as what it should be; the message is one line naming it."""


def _temporary_prefix(path: Path) -> str:
    return f".{path.name}."


def atomic_write(path, write: Callable[[BinaryIO], None]) -> Path:
    """Call write(f) on a binary file that becomes `path` only once write returns without error."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_temporary_prefix(path), suffix=TMP_SUFFIX)
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_bytes(path, data: bytes) -> Path:
    return atomic_write(path, lambda f: f.write(data))


def write_text(path, text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))


def write_json(path, obj, indent: int | None = 2) -> Path:
    return write_text(path, json.dumps(obj, indent=indent, ensure_ascii=False) + "\n")


def read_json(path):
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise CorruptFileError(f"{path}: cannot read JSON: {' '.join(str(e).split())}") from None


def write_yaml(path, obj) -> Path:
    import yaml
    return write_text(path, yaml.safe_dump(obj, sort_keys=False, allow_unicode=True))


def save_npz(path, **arrays) -> Path:
    import numpy as np
    return atomic_write(path, lambda f: np.savez(f, **arrays))


def torch_save(obj, path) -> Path:
    import torch
    return atomic_write(path, lambda f: torch.save(obj, f))


def torch_load(path, map_location="cpu"):
    """torch.load(weights_only=True): plain containers and tensors, never pickled code. A missing file is
    FileNotFoundError; an empty, truncated or foreign one is CorruptFileError, one line naming the file."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    size = path.stat().st_size
    if size == 0:
        raise CorruptFileError(f"{path}: empty file (0 bytes), not a torch checkpoint")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:   # zipfile, pickle and torch errors alike: say which file, in one line
        reason = " ".join(str(e).split())[:200] or type(e).__name__
        raise CorruptFileError(f"{path}: truncated or not a torch checkpoint ({size} bytes): {reason}") from None


def remove_stale_temporaries(directory, recursive: bool = False) -> int:
    """Remove `.<name>.*.tmp` files left by killed writers in directory; returns how many went."""
    directory = Path(directory)
    if not directory.is_dir():
        return 0
    pattern = "**/.*" + TMP_SUFFIX if recursive else ".*" + TMP_SUFFIX
    n = 0
    for p in directory.glob(pattern):
        if p.is_file():
            p.unlink(missing_ok=True)
            n += 1
    return n
