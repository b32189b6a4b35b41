"""Global cepstral mean and variance normalisation: statistics from the training set, applied at load time.

cmvn.npz holds `mean` and `std` (float64, (D,)), `count` (frames) and, when computed from a dump dir,
`source_sha256`: the content hash of the feats.scp it was computed from. Training refuses statistics whose
feats.scp has changed since (a stage-1 rerun that did not reach compute_cmvn). It is shipped with the model
(exp/<tag>/cmvn.npz) so inference normalises exactly as training did.
"""
from __future__ import annotations


import numpy as np
import torch

from echo.features.config import FeatureError
from echo.io import atomic

DEFAULT_STD_FLOOR = 1e-3   # a constant dimension (e.g. voicing of an all-unvoiced set) must not divide by ~0


class CMVNAccumulator:
    """Streams (T, D) matrices into float64 mean and variance (Chan et al.'s pairwise update, so a long
    training set loses no precision to sum-of-squares cancellation)."""

    def __init__(self):
        self.count = 0
        self.mean = None
        self.m2 = None   # sum of squared deviations from the mean

    def add(self, feats: np.ndarray) -> None:
        x = np.asarray(feats, dtype=np.float64)
        if x.ndim != 2 or len(x) == 0:
            raise FeatureError(f"expected a non-empty (T, D) matrix, got shape {x.shape}")
        n, mean = len(x), x.mean(axis=0)
        m2 = ((x - mean) ** 2).sum(axis=0)
        if self.mean is None:
            self.count, self.mean, self.m2 = n, mean, m2
            return
        if len(mean) != len(self.mean):
            raise FeatureError(f"feature dim {len(mean)} differs from the first matrix's {len(self.mean)}")
        total = self.count + n
        delta = mean - self.mean
        self.mean = self.mean + delta * (n / total)
        self.m2 = self.m2 + m2 + delta ** 2 * (self.count * n / total)
        self.count = total

    def finish(self, std_floor: float = DEFAULT_STD_FLOOR) -> "CMVN":
        if self.count == 0:
            raise FeatureError("no frames accumulated for CMVN")
        std = np.maximum(np.sqrt(self.m2 / self.count), std_floor)
        return CMVN(self.mean, std, self.count)


class CMVN:
    """feats → (feats - mean) / std, for numpy arrays or torch tensors of shape (..., D)."""

    def __init__(self, mean: np.ndarray, std: np.ndarray, count: int = 0, source_sha256: str = ""):
        self.source_sha256 = source_sha256
        self.mean = np.asarray(mean, dtype=np.float64)
        self.std = np.asarray(std, dtype=np.float64)
        self.count = int(count)
        if self.mean.shape != self.std.shape or self.mean.ndim != 1:
            raise FeatureError(f"mean {self.mean.shape} and std {self.std.shape} must be equal 1-D shapes")
        if not (np.all(np.isfinite(self.mean)) and np.all(self.std > 0)):
            raise FeatureError("CMVN mean must be finite and std positive")
        self._mean_t = torch.from_numpy(self.mean.astype(np.float32))
        self._std_t = torch.from_numpy(self.std.astype(np.float32))

    @property
    def dim(self) -> int:
        return len(self.mean)

    @classmethod
    def load(cls, path) -> "CMVN":
        try:
            with np.load(path) as z:
                source = str(z["source_sha256"]) if "source_sha256" in z.files else ""
                return cls(z["mean"], z["std"], int(z["count"]), source)
        except (OSError, KeyError, ValueError) as e:
            raise FeatureError(f"{path}: cannot read CMVN statistics: {e}") from e

    def save(self, path) -> None:
        atomic.save_npz(path, mean=self.mean, std=self.std, count=np.int64(self.count),
                        source_sha256=np.str_(self.source_sha256))

    def __call__(self, feats):
        if feats.shape[-1] != self.dim:
            raise FeatureError(f"features have {feats.shape[-1]} dims but CMVN has {self.dim}")
        if isinstance(feats, torch.Tensor):
            return (feats - self._mean_t.to(feats)) / self._std_t.to(feats)
        return ((np.asarray(feats) - self.mean) / self.std).astype(np.float32)
