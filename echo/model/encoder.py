"""The encoder: Conv2d subsampling, then pre-norm blocks — transformer (here), Conformer or E-Branchformer
(echo/model/conformer.py), chosen by `model.encoder` — whose self-attention uses the pitch-aware rotary
embedding (and, optionally, the pitch bias) and whose MLP branch may be gated.

The pitch of the batch (F0 pooled to the subsampled rate over the windows the convs see) and the
rotation are computed once per forward pass and shared by all layers; the layers own λ (bias) and the
gates, the rotary module owns θ0, g and α.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from torch import Tensor, nn

from echo.model.attention import MultiHeadAttention, key_allowed
from echo.model.conformer import ConformerLayer, EBranchformerLayer
from echo.model.gates import MLPGate, make_gate
from echo.model.pitch import PitchTrack, feature_track, lengths_to_mask
from echo.model.rotary import PitchRotary, Rotation
from echo.model.subsampling import Conv2dSubsampling

if TYPE_CHECKING:
    from echo.model.echo import EchoConfig


def feed_forward(d_model: int, ff_dim: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_model, ff_dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(ff_dim, d_model))


class EncoderLayer(nn.Module):
    """x (B, T', d) -> (B, T', d): x + Attn(LN(x)); x + gate·MLP(LN(x))."""

    def __init__(self, d_model: int, n_heads: int, ff_dim: int, dropout: float, pitch_bias: bool, gate: str):
        super().__init__()
        self.attn_norm = nn.LayerNorm(d_model)
        self.attn = MultiHeadAttention(d_model, n_heads, dropout, pitch_bias=pitch_bias)
        self.mlp_norm = nn.LayerNorm(d_model)
        self.mlp = feed_forward(d_model, ff_dim, dropout)
        self.gate: MLPGate | None = make_gate(gate, d_model)
        self.dropout = nn.Dropout(dropout)

    def attention_input(self, x: Tensor, valid: Tensor, track: PitchTrack | None) -> Tensor:
        """What the self-attention of this block sees of its input x (for Encoder.attention_logits)."""
        return self.attn_norm(x)

    def forward(self, x: Tensor, allowed: Tensor, valid: Tensor, rotation: Rotation,
                radius_q: Tensor | None, radius_k: Tensor | None, pair_distance: Tensor | None,
                track: PitchTrack | None, value_rotation: Rotation | None = None) -> Tensor:
        x = x + self.dropout(self.attn(self.attn_norm(x), allowed, rotation, radius_q, radius_k, pair_distance,
                                              value_rotation))
        h = self.mlp_norm(x)
        branch = self.mlp(h)
        if self.gate is not None:
            branch = branch * self.gate(h, valid, track)
        return x + self.dropout(branch)


def make_layer(cfg: "EchoConfig") -> nn.Module:
    """One encoder block of the kind `cfg.encoder` names; every kind has EncoderLayer's forward signature
    and its `attn`, `attn_norm` and `gate` attributes."""
    if cfg.encoder == "transformer":
        return EncoderLayer(cfg.d_model, cfg.n_heads, cfg.encoder_ff_dim, cfg.dropout, cfg.pitch_bias, cfg.gate)
    return ENCODER_LAYERS[cfg.encoder](cfg)


ENCODER_LAYERS = {"transformer": EncoderLayer, "conformer": ConformerLayer, "ebranchformer": EBranchformerLayer}


def subtract_utterance_mean(feats: Tensor, feat_lens: Tensor) -> Tensor:
    """feats (B, T, D) minus each utterance's mean over its feat_lens valid frames; padding set to 0."""
    valid = lengths_to_mask(feat_lens, feats.shape[1])[..., None]
    feats = feats.masked_fill(~valid, 0.0)
    mean = feats.sum(1, keepdim=True) / feat_lens.clamp_min(1).to(feats.dtype)[:, None, None]
    return (feats - mean).masked_fill(~valid, 0.0)


class Encoder(nn.Module):
    """feats (B, T, idim), feat_lens (B,), f0 (B, T) Hz or None -> enc (B, T', d), enc_lens (B,).

    Padded output frames are zero. F0 may be None only when no pitch switch is on. With
    `interctc_layers` (1-based block numbers), forward_intermediate() also returns those blocks' outputs,
    passed through the final LayerNorm as ESPnet does, for the intermediate CTC loss.
    """

    def __init__(self, cfg: "EchoConfig"):
        super().__init__()
        self.subsampling = Conv2dSubsampling(cfg.idim, cfg.d_model, cfg.subsampling, cfg.conv_channels)
        self.rotary = PitchRotary(cfg.d_model // cfg.n_heads, cfg.n_heads, cfg.freqs, cfg.theta0, cfg.theta_mode,
                                  cfg.theta_gain, cfg.max_omega, cfg.radius_mode, cfg.radius_on,
                                  cfg.value_rotary)
        self.pitch_bias = cfg.pitch_bias
        self.pitch_source = cfg.pitch_source
        self.feature_pitch_std = cfg.feature_pitch_std
        self.utterance_cmn = cfg.utterance_cmn
        self.dropout = nn.Dropout(cfg.dropout)
        self.layers = nn.ModuleList(make_layer(cfg) for _ in range(cfg.enc_layers))
        self.norm = nn.LayerNorm(cfg.d_model)
        self.interctc_layers = tuple(cfg.interctc_layers)

    @property
    def gates(self) -> list[MLPGate]:
        return [layer.gate for layer in self.layers if layer.gate is not None]

    @property
    def needs_pitch(self) -> bool:
        return self.rotary.needs_pitch or self.pitch_bias or any(g.kind == "f0" for g in self.gates)

    def check_lengths(self, feats: Tensor, feat_lens: Tensor, f0: Tensor | None) -> Tensor:
        window = self.subsampling.window
        if feats.dim() != 3 or feat_lens.shape != feats.shape[:1]:
            raise ValueError(f"feats must be (B, T, D) with feat_lens (B,), got {tuple(feats.shape)} "
                             f"and {tuple(feat_lens.shape)}")
        if f0 is not None and f0.shape != feats.shape[:2]:
            raise ValueError(f"f0 {tuple(f0.shape)} does not match feats {tuple(feats.shape[:2])}: "
                             "F0 and fbank frames must align one to one")
        if int(feat_lens.max()) > feats.shape[1]:
            raise ValueError(f"feat_lens {feat_lens.tolist()} exceed the {feats.shape[1]} frames of feats")
        enc_lens = self.subsampling.output_lengths(feat_lens)
        short = (enc_lens <= 0).nonzero().flatten().tolist()
        if short or feats.shape[1] < window:
            raise ValueError(f"utterances {short} of the batch have {feat_lens[short].tolist()} frames: "
                             f"subsampling ×{self.subsampling.stride} needs at least {window}")
        return enc_lens

    def pitch_track(self, f0: Tensor | None, feat_lens: Tensor) -> PitchTrack | None:
        """The batch's pitch at the subsampled rate; None when nothing uses it (a plain model)."""
        if f0 is None:
            if self.needs_pitch:
                raise ValueError("the pitch switches of this model need F0: pass f0 to encode()")
            return None
        if not (self.needs_pitch or any(g.collect for g in self.gates)):
            return None
        if self.pitch_source == "features":   # the same track as the pitch features (echo/model/pitch.py)
            return feature_track(f0, feat_lens, self.subsampling.window, self.subsampling.stride,
                                 self.feature_pitch_std)
        return PitchTrack.from_f0(f0, feat_lens, self.subsampling.window, self.subsampling.stride)

    def _prepare(self, feats: Tensor, feat_lens: Tensor, f0: Tensor | None):
        """Subsampled input and everything the blocks share: masks, rotations, radii, pitch."""
        enc_lens = self.check_lengths(feats, feat_lens, f0)
        if self.utterance_cmn:
            feats = subtract_utterance_mean(feats, feat_lens)
        x = self.subsampling(feats)
        T = x.shape[1]
        track = self.pitch_track(f0, feat_lens)
        rotation, radius_q, radius_k = self.rotary(T, track, device=x.device)
        pair_distance = track.pair_distance() if self.pitch_bias else None
        allowed = key_allowed(enc_lens, T)
        valid = lengths_to_mask(enc_lens, T)
        value_rotation = self.rotary.value_rotation(track)
        return x, enc_lens, track, rotation, radius_q, radius_k, pair_distance, allowed, valid, value_rotation

    def forward(self, feats: Tensor, feat_lens: Tensor, f0: Tensor | None = None) -> tuple[Tensor, Tensor]:
        enc, enc_lens, _ = self.forward_intermediate(feats, feat_lens, f0)
        return enc, enc_lens

    def forward_intermediate(self, feats: Tensor, feat_lens: Tensor, f0: Tensor | None = None
                             ) -> tuple[Tensor, Tensor, list[Tensor]]:
        """enc (B, T', d), enc_lens (B,), and the normalised outputs (B, T', d) of the interctc_layers."""
        x, enc_lens, track, rotation, radius_q, radius_k, pair_distance, allowed, valid, value_rotation = \
            self._prepare(feats, feat_lens, f0)
        x = self.dropout(x)
        intermediate = []
        for i, layer in enumerate(self.layers, start=1):
            x = layer(x, allowed, valid, rotation, radius_q, radius_k, pair_distance, track, value_rotation)
            if i in self.interctc_layers:
                intermediate.append(self.norm(x).masked_fill(~valid[..., None], 0.0))
        x = self.norm(x)
        return x.masked_fill(~valid[..., None], 0.0), enc_lens, intermediate

    def attention_logits(self, feats: Tensor, feat_lens: Tensor, f0: Tensor | None = None,
                         layer: int = 0) -> Tensor:
        """(B, H, T', T') pre-softmax scores of one layer's self-attention (tests, plots)."""
        x, _, track, rotation, radius_q, radius_k, pair_distance, allowed, valid, value_rotation = \
            self._prepare(feats, feat_lens, f0)
        for i, block in enumerate(self.layers):
            if i == layer:
                return block.attn.logits(block.attention_input(x, valid, track), allowed, rotation, radius_q,
                                         radius_k, pair_distance)
            x = block(x, allowed, valid, rotation, radius_q, radius_k, pair_distance, track, value_rotation)
        raise IndexError(f"layer {layer} of {len(self.layers)}")
