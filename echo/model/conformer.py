"""Conformer and E-Branchformer encoder blocks, with the same pitch-aware self-attention as the transformer.

Each block takes what the transformer's EncoderLayer takes (echo/model/encoder.py) — the rotation, the
radii, the pitch-bias distances and the pitch track are computed once per forward pass by the Encoder
and shared by every block — and uses the same MultiHeadAttention (rotary, radius and λ of the pitch bias
live there) and the same MLPGate (echo/model/gates.py), so every pitch switch means exactly what it means
in the transformer. The gate multiplies the second (post-attention) feed-forward half: the branch that
plays the transformer's MLP role.

Conformer (Gulati et al. 2020; ESPnet's layout, pre-norm):
    x += ½·FF(LN(x));  x += MHSA(LN(x));  x += Conv(LN(x));  x += ½·gate·FF(LN(x));  x = LN(x)
    Conv: pointwise (d→2d) → GLU → depthwise (kernel k) → LayerNorm → swish → pointwise (d→d)

E-Branchformer (Kim et al. 2022, "E-Branchformer: Branchformer with Enhanced merging"):
    x += ½·FF(LN(x))
    g = MHSA(LN(x))                       global branch
    l = cgMLP(LN(x))                      local branch: Linear(d→c) → GELU → CSGU → Linear(c/2→d)
                                          CSGU: [a, b] = split; a · DepthwiseConv(LN(b))
    m = [g, l];  x += Linear(2d→d)(m + DepthwiseConv(m))      the enhanced merge
    x += ½·gate·FF(LN(x));  x = LN(x)

Padding: every time-mixing operation other than attention is a depthwise convolution, and each one is
fed its input with padded frames set to zero. A frame of a padded batch then sees exactly the zeros that
the convolution's own zero padding shows the same utterance alone, so batching changes nothing. The
normalisation in the conv module is a LayerNorm over channels (per frame) rather than ESPnet's BatchNorm:
per-frame statistics cannot see padding or the other utterances of the batch, and it behaves the same in
training and evaluation.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from echo.model.attention import MultiHeadAttention
from echo.model.gates import MLPGate, make_gate
from echo.model.pitch import PitchTrack
from echo.model.rotary import Rotation

if TYPE_CHECKING:
    from echo.model.echo import EchoConfig


def swish_feed_forward(d_model: int, ff_dim: int, dropout: float) -> nn.Sequential:
    """The Conformer's feed-forward module (swish, as in the paper and ESPnet)."""
    return nn.Sequential(nn.Linear(d_model, ff_dim), nn.SiLU(), nn.Dropout(dropout), nn.Linear(ff_dim, d_model))


def zero_padding(x: Tensor, valid: Tensor) -> Tensor:
    """x (B, T, C) with the frames outside `valid` (B, T) set to 0 (what a convolution alone would see)."""
    return x.masked_fill(~valid[..., None], 0.0)


class DepthwiseConv(nn.Module):
    """(B, T, C) -> (B, T, C): a depthwise 1-D convolution over time, 'same' length (odd kernel), its input
    zeroed outside `valid` so padded frames never reach a real one."""

    def __init__(self, channels: int, kernel: int):
        super().__init__()
        if kernel < 1 or kernel % 2 == 0:
            raise ValueError(f"depthwise convolution kernel must be odd and positive, got {kernel}")
        self.conv = nn.Conv1d(channels, channels, kernel, padding=kernel // 2, groups=channels)

    def forward(self, x: Tensor, valid: Tensor) -> Tensor:
        return self.conv(zero_padding(x, valid).transpose(1, 2)).transpose(1, 2)


class ConvModule(nn.Module):
    """(B, T, d) -> (B, T, d): pointwise → GLU → depthwise → LayerNorm → swish → pointwise."""

    def __init__(self, d_model: int, kernel: int, dropout: float):
        super().__init__()
        self.pointwise_in = nn.Linear(d_model, 2 * d_model)
        self.glu = nn.GLU(dim=-1)
        self.depthwise = DepthwiseConv(d_model, kernel)
        self.norm = nn.LayerNorm(d_model)
        self.act = nn.SiLU()
        self.pointwise_out = nn.Linear(d_model, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, valid: Tensor) -> Tensor:
        h = self.glu(self.pointwise_in(x))
        h = self.act(self.norm(self.depthwise(h, valid)))
        return self.dropout(self.pointwise_out(h))


class GatedFeedForwardHalf(nn.Module):
    """x -> x + ½·[gate]·FF(LN(x)): a macaron half, optionally with the transformer's MLP gate."""

    def __init__(self, d_model: int, ff_dim: int, dropout: float, gate: str = "none"):
        super().__init__()
        self.norm = nn.LayerNorm(d_model)
        self.ff = swish_feed_forward(d_model, ff_dim, dropout)
        self.gate: MLPGate | None = make_gate(gate, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, valid: Tensor, track: PitchTrack | None) -> Tensor:
        h = self.norm(x)
        branch = self.ff(h)
        if self.gate is not None:
            branch = branch * self.gate(h, valid, track)
        return x + 0.5 * self.dropout(branch)


class ConformerLayer(nn.Module):
    """x (B, T', d) -> (B, T', d), the Conformer block (module docstring)."""

    def __init__(self, cfg: "EchoConfig"):
        super().__init__()
        d, p = cfg.d_model, cfg.dropout
        self.ff_first = GatedFeedForwardHalf(d, cfg.encoder_ff_dim, p)
        self.attn_norm = nn.LayerNorm(d)
        self.attn = MultiHeadAttention(d, cfg.n_heads, p, pitch_bias=cfg.pitch_bias)
        self.conv_norm = nn.LayerNorm(d)
        self.conv = ConvModule(d, cfg.conv_kernel, p)
        self.ff_second = GatedFeedForwardHalf(d, cfg.encoder_ff_dim, p, cfg.gate)
        self.out_norm = nn.LayerNorm(d)
        self.dropout = nn.Dropout(p)

    @property
    def gate(self) -> MLPGate | None:
        return self.ff_second.gate

    def attention_input(self, x: Tensor, valid: Tensor, track: PitchTrack | None) -> Tensor:
        """What the self-attention of this block sees of its input x (for Encoder.attention_logits)."""
        return self.attn_norm(self.ff_first(x, valid, track))

    def forward(self, x: Tensor, allowed: Tensor, valid: Tensor, rotation: Rotation,
                radius_q: Tensor | None, radius_k: Tensor | None, pair_distance: Tensor | None,
                track: PitchTrack | None, value_rotation: Rotation | None = None) -> Tensor:
        x = self.ff_first(x, valid, track)
        x = x + self.dropout(self.attn(self.attn_norm(x), allowed, rotation, radius_q, radius_k, pair_distance,
                                              value_rotation))
        x = x + self.conv(self.conv_norm(x), valid)
        x = self.ff_second(x, valid, track)
        return self.out_norm(x)


class ConvGatedMLP(nn.Module):
    """(B, T, d) -> (B, T, d), the cgMLP local branch: Linear(d→c) → GELU → CSGU → Linear(c/2→d)."""

    def __init__(self, d_model: int, channels: int, kernel: int, dropout: float):
        super().__init__()
        if channels % 2:
            raise ValueError(f"cgMLP channels must be even (split in two halves), got {channels}")
        self.proj_in = nn.Linear(d_model, channels)
        self.act = nn.GELU()
        self.gate_norm = nn.LayerNorm(channels // 2)
        self.gate_conv = DepthwiseConv(channels // 2, kernel)
        self.proj_out = nn.Linear(channels // 2, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, valid: Tensor) -> Tensor:
        a, b = self.act(self.proj_in(x)).chunk(2, dim=-1)
        b = self.gate_conv(self.gate_norm(b), valid)
        return self.proj_out(self.dropout(a * b))


class EBranchformerLayer(nn.Module):
    """x (B, T', d) -> (B, T', d), the E-Branchformer block (module docstring)."""

    def __init__(self, cfg: "EchoConfig"):
        super().__init__()
        d, p = cfg.d_model, cfg.dropout
        self.ff_first = GatedFeedForwardHalf(d, cfg.encoder_ff_dim, p)
        self.attn_norm = nn.LayerNorm(d)
        self.attn = MultiHeadAttention(d, cfg.n_heads, p, pitch_bias=cfg.pitch_bias)
        self.cgmlp_norm = nn.LayerNorm(d)
        self.cgmlp = ConvGatedMLP(d, cfg.cgmlp_dim or cfg.encoder_ff_dim, cfg.conv_kernel, p)
        self.merge_conv = DepthwiseConv(2 * d, cfg.merge_kernel)
        self.merge_proj = nn.Linear(2 * d, d)
        self.ff_second = GatedFeedForwardHalf(d, cfg.encoder_ff_dim, p, cfg.gate)
        self.out_norm = nn.LayerNorm(d)
        self.dropout = nn.Dropout(p)

    @property
    def gate(self) -> MLPGate | None:
        return self.ff_second.gate

    def attention_input(self, x: Tensor, valid: Tensor, track: PitchTrack | None) -> Tensor:
        return self.attn_norm(self.ff_first(x, valid, track))

    def forward(self, x: Tensor, allowed: Tensor, valid: Tensor, rotation: Rotation,
                radius_q: Tensor | None, radius_k: Tensor | None, pair_distance: Tensor | None,
                track: PitchTrack | None, value_rotation: Rotation | None = None) -> Tensor:
        x = self.ff_first(x, valid, track)
        global_branch = self.dropout(self.attn(self.attn_norm(x), allowed, rotation, radius_q, radius_k,
                                               pair_distance, value_rotation))
        local_branch = self.dropout(self.cgmlp(self.cgmlp_norm(x), valid))
        merged = torch.cat([global_branch, local_branch], dim=-1)
        x = x + self.dropout(self.merge_proj(merged + self.merge_conv(merged, valid)))
        x = self.ff_second(x, valid, track)
        return self.out_norm(x)
