"""Kaldi ark files with their scp index, written without a Kaldi write specifier.

kaldiio's "ark,scp:A,S" specifier splits at commas, so an output path holding a comma (a user's
directory name) broke the dump. Here the ark and scp are opened by path and each scp line is
`<key> <ark path>:<byte offset of the matrix>`, exactly what kaldiio.load_scp and Kaldi read.
"""
from __future__ import annotations

from pathlib import Path

import kaldiio
import numpy as np


class ArkScpWriter:
    """writer(key, matrix) appends to `ark` and indexes it in `scp`; use as a context manager."""

    def __init__(self, ark, scp):
        self.ark_path = Path(ark)
        self._ark = open(ark, "wb")
        self._scp = open(scp, "w", encoding="utf-8")

    def __call__(self, key: str, array: np.ndarray) -> None:
        start = self._ark.tell()
        kaldiio.save_ark(self._ark, {key: array})
        self._scp.write(f"{key} {self.ark_path}:{start + len(key.encode('utf-8')) + 1}\n")

    def close(self) -> None:
        self._ark.close()
        self._scp.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
