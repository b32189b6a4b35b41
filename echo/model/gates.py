"""Gates on the encoder's MLP branch: x + g_t·MLP(x), one sigmoid gate per frame.

`scalar`: g_t = σ(w·h_t + b) from the hidden state alone. `f0`: g_t = σ(w·h_t + u·[ẑ_t, voiced fraction,
voiced] + b), the gate the seed describes (its prototype's gates never saw F0). When asked
(`gate.collect = True`), a gate accumulates over valid frames: its mean, the fraction above 0.5, and
its Pearson correlation with voicing (NaN where undefined: no voicing known or no variation).
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from echo.model.pitch import PitchTrack

GATE_TYPES = ("none", "scalar", "f0")


class GateStats:
    """Running sums over frames, kept as float64 tensors so collecting does not sync every step."""

    KEYS = ("n", "g", "open", "g2", "nv", "v", "v2", "gv")

    def __init__(self):
        self.reset()

    def reset(self):
        self.sums = {key: 0.0 for key in self.KEYS}

    @torch.no_grad()
    def update(self, gate: Tensor, valid: Tensor, voiced: Tensor | None):
        """gate (B, T) in [0, 1]; valid (B, T) bool; voiced (B, T) bool or None."""
        g = gate.double()[valid]
        s = self.sums
        s["n"] += g.numel()
        s["g"] += g.sum()
        s["open"] += (g > 0.5).sum()
        s["g2"] += (g * g).sum()
        if voiced is not None:  # correlation only over batches whose voicing is known
            v = voiced[valid].double()
            s["nv"] += v.numel()
            s["v"] += v.sum()
            s["v2"] += (v * v).sum()
            s["gv"] += (g * v).sum()

    def summary(self) -> dict[str, float]:
        s = {key: float(value) for key, value in self.sums.items()}
        if s["n"] == 0:
            return {}
        out = {"mean": s["g"] / s["n"], "open_frac": s["open"] / s["n"], "voicing_corr": math.nan}
        n = s["nv"]
        if n == s["n"]:
            cov = n * s["gv"] - s["g"] * s["v"]
            var_g, var_v = n * s["g2"] - s["g"] ** 2, n * s["v2"] - s["v"] ** 2
            if var_g > 0 and var_v > 0:
                out["voicing_corr"] = cov / math.sqrt(var_g * var_v)
        return out


class MLPGate(nn.Module):
    """(B, T, d) hidden state [+ pitch] -> (B, T, 1) gate in (0, 1)."""

    def __init__(self, d_model: int, kind: str):
        super().__init__()
        if kind not in ("scalar", "f0"):
            raise ValueError(f"gate must be one of {GATE_TYPES}, got {kind!r}")
        self.kind = kind
        self.proj = nn.Linear(d_model + (3 if kind == "f0" else 0), 1)
        self.collect = False
        self.stats = GateStats()

    def forward(self, h: Tensor, valid: Tensor, track: PitchTrack | None) -> Tensor:
        if self.kind == "f0":
            if track is None:
                raise ValueError("gate='f0' needs F0: pass f0 to encode()")
            h = torch.cat([h, track.gate_features().to(h.dtype)], dim=-1)
        gate = torch.sigmoid(self.proj(h))
        if self.collect:
            self.stats.update(gate[..., 0], valid, track.voiced if track is not None else None)
        return gate


def make_gate(kind: str, d_model: int) -> MLPGate | None:
    if kind == "none":
        return None
    return MLPGate(d_model, kind)
