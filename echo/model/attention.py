"""Multi-head attention on F.scaled_dot_product_attention with one additive float mask.

The mask folds together what a query may not see (padded keys, future tokens) and the pitch bias
B_ij = −λ_h·|ẑ_i − ẑ_j| (pairs of voiced frames only, λ_h ≥ 0 per head, initialised 0). Hidden keys get
a large finite negative number rather than −inf, so that even a row with no visible key (never built
by the model, but cheap to guard) gives a finite, if meaningless, output instead of NaN.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from echo.model.rotary import Rotation


def additive_mask(allowed: Tensor, dtype: torch.dtype, bias: Tensor | None = None) -> Tensor:
    """allowed (bool, broadcastable to (B, H, Tq, Tk)) [+ float bias] -> additive mask in `dtype`.

    Hidden positions get finfo(dtype).min / 2: far below any logit, yet adding a logit cannot overflow
    to −inf in fp16.
    """
    hidden = torch.finfo(dtype).min / 2
    if bias is None:
        return torch.zeros(allowed.shape, dtype=dtype, device=allowed.device).masked_fill(~allowed, hidden)
    return bias.to(dtype).masked_fill(~allowed, hidden)


def causal_allowed(length: int, device=None) -> Tensor:
    """(1, 1, L, L) bool: query i sees keys j ≤ i."""
    return torch.ones(length, length, dtype=torch.bool, device=device).tril()[None, None]


def key_allowed(lengths: Tensor, max_len: int) -> Tensor:
    """(B, 1, 1, T) bool: key j of utterance b is inside it."""
    return (torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None])[:, None, None, :]


class MultiHeadAttention(nn.Module):
    """Self- or cross-attention. Shapes: x (B, T, d) -> (B, T, d); heads (B, H, T, d/H)."""

    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.0, pitch_bias: bool = False):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model {d_model} is not a multiple of n_heads {n_heads}")
        self.n_heads, self.head_dim, self.dropout = n_heads, d_model // n_heads, dropout
        self.query = nn.Linear(d_model, d_model)
        self.key = nn.Linear(d_model, d_model)
        self.value = nn.Linear(d_model, d_model)
        self.out = nn.Linear(d_model, d_model)
        # λ_h = max(raw, 0) in the forward pass; the gradient reaches raw even below 0 (straight-through),
        # so a head whose λ was pushed to 0 can come back instead of dying there
        self.bias_lambda_raw = nn.Parameter(torch.zeros(n_heads)) if pitch_bias else None

    def split(self, x: Tensor) -> Tensor:
        B, T, _ = x.shape
        return x.view(B, T, self.n_heads, self.head_dim).transpose(1, 2)

    def project_q(self, x: Tensor, rotation: Rotation | None = None) -> Tensor:
        q = self.split(self.query(x))
        return rotation.apply(q) if rotation is not None else q

    def project_kv(self, x: Tensor, rotation: Rotation | None = None) -> tuple[Tensor, Tensor]:
        k, v = self.split(self.key(x)), self.split(self.value(x))
        return (rotation.apply(k) if rotation is not None else k), v

    def bias_lambda(self) -> Tensor:
        raw = self.bias_lambda_raw
        return raw + (raw.clamp_min(0.0) - raw).detach()

    def pitch_bias(self, pair_distance: Tensor | None) -> Tensor | None:
        """pair_distance (B, 1, T, T) -> (B, H, T, T) the bias −λ_h·|ẑ_i − ẑ_j|; None when switched off."""
        if self.bias_lambda_raw is None:
            return None
        if pair_distance is None:
            raise ValueError("pitch_bias needs F0: pass f0 to encode()")
        return -self.bias_lambda().float()[None, :, None, None] * pair_distance

    def attend(self, q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None,
               value_rotation: Rotation | None = None) -> Tensor:
        """q (B, H, Tq, dh), k/v (B, H, Tk, dh), additive mask broadcastable to (B, H, Tq, Tk) -> (B, Tq, d).

        value_rotation (self-attention only): v_j is turned by ψ_j and the output at i back by −ψ_i
        (echo/model/rotary.py, value rotary)."""
        if value_rotation is not None:
            v = value_rotation.apply(v)
        if mask is not None and mask.dtype != q.dtype:  # e.g. an fp32 mask under fp16 autocast
            mask = mask.clamp_min(torch.finfo(q.dtype).min / 2).to(q.dtype)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask,
                                           dropout_p=self.dropout if self.training else 0.0)
        if value_rotation is not None:
            y = value_rotation.inverse().apply(y)
        B, H, T, dh = y.shape
        return self.out(y.transpose(1, 2).reshape(B, T, H * dh))

    def self_attention_qk(self, x: Tensor, rotation: Rotation | None = None, radius_q: Tensor | None = None,
                          radius_k: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
        q = self.project_q(x, rotation)
        k, v = self.project_kv(x, rotation)
        if radius_q is not None:
            q = q * radius_q.to(q.dtype)
        if radius_k is not None:
            k = k * radius_k.to(k.dtype)
        return q, k, v

    def forward(self, x: Tensor, allowed: Tensor, rotation: Rotation | None = None,
                radius_q: Tensor | None = None, radius_k: Tensor | None = None,
                pair_distance: Tensor | None = None, value_rotation: Rotation | None = None) -> Tensor:
        """Self-attention over x (B, T, d); allowed (bool, broadcastable to (B, H, T, T))."""
        q, k, v = self.self_attention_qk(x, rotation, radius_q, radius_k)
        return self.attend(q, k, v, additive_mask(allowed, q.dtype, self.pitch_bias(pair_distance)), value_rotation)

    def logits(self, x: Tensor, allowed: Tensor, rotation: Rotation | None = None,
               radius_q: Tensor | None = None, radius_k: Tensor | None = None,
               pair_distance: Tensor | None = None) -> Tensor:
        """(B, H, T, T) the pre-softmax scores forward() uses (for tests and plots)."""
        q, k, _ = self.self_attention_qk(x, rotation, radius_q, radius_k)
        scores = (q @ k.transpose(-1, -2)) / self.head_dim ** 0.5
        return scores + additive_mask(allowed, scores.dtype, self.pitch_bias(pair_distance))
