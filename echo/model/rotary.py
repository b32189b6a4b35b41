"""Pitch-aware rotary position embedding (DESIGN §5).

Per head of dimension d there are K = d/2 pairs of channels; pair k of frame t is turned by the phase
φ_{t,k}. The ingredients, each a config switch:

- frequency family (`freqs`): `standard` ω_k = θ^(−2k/d); `mel` (the seed's formula)
  ω_k = (θ/220)·0.7·(10^(u_k/2595) − 1), u_k uniform on [0, mel(8000)], so ω_0 = 0 and ω_{K−1} = 8θ/220.
  `max_omega` optionally caps ω_k (at π a pair turns half a circle per frame; above it aliases).
- F0 → θ (`theta_mode`): `none` (θ = θ0, a constant); `utterance` (θ = θ(F̄), F̄ the voiced-only mean F0
  of the utterance); `frame` (θ_t = θ(F0_t), phase accumulated φ_t = Σ_{τ<t} ω(θ_τ), so a constant F0 is
  exactly ordinary rotary with θ = θ(F0); unvoiced frames use F̄, or θ0 when nothing is voiced).
  θ(F) = θ0·(1 + g·F/220 Hz), i.e. θ0 + s·F with slope s = g·θ0/220. θ0 is learned as log θ0 and s
  through the dimensionless gain g: Adam moves both by relative steps, whether θ0 is 10000 (standard)
  or 220 (mel); a learned s in Hz⁻¹ would barely move at θ0 = 10000. Both get real gradients.
- radius (`radius_mode`): `unit`; `f0` the seed's radius r_t = F0_t normalised by the utterance's voiced
  mean and clamped to [0.5, 2] (the prototype used raw Hz: logits scaled by F0_i·F0_j ≈ 4·10⁴);
  `logf0` r_t = exp(α_h·ẑ_t), α per head initialised 0 (plain rotary at the start of training), the
  exponent clamped to ±ln 4 so that a large learned α cannot overflow fp16 logits.
  `radius_on`: `qk` scales rotated q and k, `k` only k. Unvoiced and padded frames have r = 1.
- pitch source (`pitch_source`, EchoConfig): every quantity above comes from the PitchTrack the encoder
  builds: `utterance_z` (F0 and ẑ as described) or `features`, the pitch features' own track
  (echo/model/pitch.py feature_track): F0 interpolated through unvoiced frames, ẑ the window-normalised
  log-F0 over its corpus std (`feature_pitch_std`, the scale CMVN gives the feature), the F0 radius
  F0 over its window's mean (exp of the undivided log-F0) and F̄ the utterance's geometric mean.
- value rotary (`value_rotary`), the mechanism in which pitch reaches what attention reads. Every other
  switch above changes only the logits, i.e. where a query looks; the values it averages carry no
  pitch, so a head can find a rising syllable but cannot tell the next layer "the key I read was a
  fifth above me". Treating pitch as a frequency, as the seed does, gives a phase ψ_t = β_hk·ẑ_t per
  head h and channel pair k (ẑ from the chosen pitch source, 0 where unvoiced or padded; β learnt,
  initialised 0 so the model starts as the plain one). The values are rotated by ψ_j before the
  weighted sum and the result is rotated back by ψ_i at the query:
      y_i = R(−ψ_i) Σ_j a_ij R(ψ_j) v_j = Σ_j a_ij R(β·(ẑ_j − ẑ_i)) v_j,
  so each value read arrives turned by the pitch interval between key and query — relative pitch in the
  residual stream, as rotary puts relative position in the logits — and a pair with |β| small enough
  keeps the content nearly as it was. It is applied after the softmax and never touches q or k, so it
  combines freely with θ, radius and bias. Invariances: a constant added to every ẑ cancels in
  ẑ_j − ẑ_i (so a voice an octave higher gives the same output with either pitch source, whose ẑ is
  already invariant to a constant F0 factor); padded frames have ẑ = 0 and are never attended, so
  batching changes nothing; rotations keep norms, so it cannot overflow any precision. Cost: two
  elementwise rotations of (B, H, T', d_h) per layer.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor, nn

from echo.model.pitch import PitchTrack

FREQ_FAMILIES = ("standard", "mel")
THETA_MODES = ("none", "utterance", "frame")
RADIUS_MODES = ("unit", "f0", "logf0")
RADIUS_ON = ("qk", "k")
F0_REF_HZ = 220.0
MEL_TOP_HZ = 8000.0
RADIUS_F0_RANGE = (0.5, 2.0)
LOGF0_RADIUS_BOUND = math.log(4.0)  # logf0 radius in [1/4, 4] whatever α learns: q·k scaled by ≤ 16
MIN_THETA_FACTOR = 0.1  # 1 + g·F/220 is kept ≥ 0.1 so θ stays positive whatever g learns


def mel(f_hz: float) -> float:
    return 2595.0 * math.log10(1.0 + f_hz / 700.0)


def mel_base(n_pairs: int) -> Tensor:
    """(K,) the seed's mel frequencies for θ = 1: ω_k = θ · base_k (float64)."""
    u = torch.linspace(0.0, mel(MEL_TOP_HZ), n_pairs, dtype=torch.float64)
    return 700.0 * (torch.pow(10.0, u / 2595.0) - 1.0) / 1000.0 / F0_REF_HZ


def rotary_frequencies(theta: Tensor, head_dim: int, freqs: str = "standard",
                       max_omega: float | None = None) -> Tensor:
    """θ (...) -> ω (..., K) radians per frame; differentiable in θ for both families."""
    n_pairs = head_dim // 2
    if freqs == "standard":
        k = torch.arange(n_pairs, dtype=theta.dtype, device=theta.device)
        omega = torch.exp(-(2.0 * k / head_dim) * torch.log(theta)[..., None])
    elif freqs == "mel":
        omega = theta[..., None] * mel_base(n_pairs).to(theta)
    else:
        raise ValueError(f"freqs must be one of {FREQ_FAMILIES}, got {freqs!r}")
    if max_omega is not None:
        omega = omega.clamp_max(max_omega)
    return omega


class Rotation(NamedTuple):
    """cos/sin of the phases, (B or 1, 1, T, K); pairs are (x[..., k], x[..., K + k]) (GPT-NeoX layout)."""
    cos: Tensor
    sin: Tensor

    @classmethod
    def from_phase(cls, phase: Tensor) -> "Rotation":
        """phase (B or 1, T, K) radians -> Rotation in float32 (cos/sin taken before rounding the phase)."""
        phase = phase[:, None]
        return cls(phase.cos().float(), phase.sin().float())

    def apply(self, x: Tensor) -> Tensor:
        """x (B, H, T, 2K) -> x rotated, same shape and dtype."""
        x1, x2 = x.chunk(2, dim=-1)
        cos, sin = self.cos.to(x.dtype), self.sin.to(x.dtype)
        return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)

    def inverse(self) -> "Rotation":
        """The rotation by minus the same phases (undoes apply)."""
        return Rotation(self.cos, -self.sin)

    def narrow(self, start: int, length: int) -> "Rotation":
        return Rotation(self.cos.narrow(2, start, length), self.sin.narrow(2, start, length))


def standard_rotation(length: int, head_dim: int, theta: float = 10000.0, offset: int = 0,
                      device=None) -> Rotation:
    """Ordinary rotary for positions offset .. offset+length−1 (decoder, cross-attention)."""
    omega = rotary_frequencies(torch.tensor(theta, dtype=torch.float64, device=device), head_dim)
    t = torch.arange(offset, offset + length, dtype=torch.float64, device=device)
    return Rotation.from_phase((t[:, None] * omega)[None])


class PitchRotary(nn.Module):
    """Rotation and radius for the encoder's q and k from the pitch of the batch (shared by all layers).

    forward(length, track) -> (rotation, radius_q, radius_k): rotation (B|1, 1, T', K); the radii are
    (B, H|1, T', 1) or None (unit).
    """

    def __init__(self, head_dim: int, n_heads: int, freqs: str = "standard", theta0: float = 10000.0,
                 theta_mode: str = "none", theta_gain: float = 1.0, max_omega: float | None = None,
                 radius_mode: str = "unit", radius_on: str = "qk", value_rotary: bool = False):
        super().__init__()
        for name, value, choices in (("freqs", freqs, FREQ_FAMILIES), ("theta_mode", theta_mode, THETA_MODES),
                                     ("radius_mode", radius_mode, RADIUS_MODES), ("radius_on", radius_on, RADIUS_ON)):
            if value not in choices:
                raise ValueError(f"{name} must be one of {choices}, got {value!r}")
        if head_dim % 2:
            raise ValueError(f"rotary needs an even head dimension, got {head_dim}")
        if theta0 <= 0:
            raise ValueError(f"theta0 must be positive, got {theta0}")
        self.head_dim, self.n_heads = head_dim, n_heads
        self.freqs, self.theta_mode, self.max_omega = freqs, theta_mode, max_omega
        self.radius_mode, self.radius_on = radius_mode, radius_on
        log_theta0 = torch.tensor(math.log(theta0))
        if theta_mode == "none":
            self.register_buffer("log_theta0", log_theta0)
            self.theta_gain = None
        else:
            self.log_theta0 = nn.Parameter(log_theta0)
            self.theta_gain = nn.Parameter(torch.tensor(float(theta_gain)))
        self.radius_alpha = nn.Parameter(torch.zeros(n_heads)) if radius_mode == "logf0" else None
        # value rotary: β per head and pair (rad per unit of ẑ), from 0 (the plain model at the start)
        self.value_beta = nn.Parameter(torch.zeros(n_heads, head_dim // 2)) if value_rotary else None

    @property
    def needs_pitch(self) -> bool:
        return self.theta_mode != "none" or self.radius_mode != "unit" or self.value_beta is not None

    def value_rotation(self, track: PitchTrack | None) -> Rotation | None:
        """(B, H, T', K) rotation by ψ_t = β_hk·ẑ_t for the values (module docstring); None when off."""
        if self.value_beta is None:
            return None
        if track is None:
            raise ValueError("value_rotary needs F0: pass f0 to encode()")
        phase = self.value_beta.float()[None, :, None, :] * track.z[:, None, :, None]
        return Rotation(phase.cos(), phase.sin())

    def theta(self, f0_hz: Tensor) -> Tensor:
        """θ(F) = θ0·(1 + g·F/220), float64, same shape as f0_hz (Hz; 0 gives θ0)."""
        theta0 = self.log_theta0.double().exp()
        if self.theta_gain is None:
            return theta0.expand_as(f0_hz)
        factor = 1.0 + self.theta_gain.double() * f0_hz.double() / F0_REF_HZ
        return theta0 * factor.clamp_min(MIN_THETA_FACTOR)

    def slope(self) -> float:
        """s of θ = θ0 + s·F, in Hz⁻¹ (for logs)."""
        if self.theta_gain is None:
            return 0.0
        return float(self.log_theta0.detach().exp() * self.theta_gain.detach() / F0_REF_HZ)

    def omega(self, theta: Tensor) -> Tensor:
        return rotary_frequencies(theta, self.head_dim, self.freqs, self.max_omega)

    def phase(self, length: int, track: PitchTrack | None, device=None) -> Tensor:
        """(B or 1, T', K) float64 phases."""
        if self.theta_mode == "none":
            t = torch.arange(length, dtype=torch.float64, device=device)
            return (t[:, None] * self.omega(self.theta(torch.zeros((), device=device))))[None]
        if track is None:
            raise ValueError(f"theta_mode={self.theta_mode!r} needs F0: pass f0 to encode()")
        if self.theta_mode == "utterance":
            omega = self.omega(self.theta(track.mean_f0))                       # (B, K)
            t = torch.arange(length, dtype=torch.float64, device=omega.device)
            return t[None, :, None] * omega[:, None, :]
        f0 = torch.where(track.voiced, track.f0, track.mean_f0[:, None].expand_as(track.f0))
        omega = self.omega(self.theta(f0))                                      # (B, T', K)
        # φ_t = Σ_{τ<t} ω(θ_τ): φ_0 = 0 and constant F0 gives t·ω, ordinary rotary exactly
        return torch.cat([torch.zeros_like(omega[:, :1]), omega[:, :-1].cumsum(1)], dim=1)

    def radius(self, track: PitchTrack | None) -> Tensor | None:
        """(B, H or 1, T', 1) float32, or None for unit radius."""
        if self.radius_mode == "unit":
            return None
        if track is None:
            raise ValueError(f"radius_mode={self.radius_mode!r} needs F0: pass f0 to encode()")
        if self.radius_mode == "f0":
            r = track.f0_ratio().clamp(*RADIUS_F0_RANGE)   # 1 where unvoiced or padded
            return r.float()[:, None, :, None]
        log_r = self.radius_alpha.float()[None, :, None, None] * track.z[:, None, :, None]
        return torch.exp(log_r.clamp(-LOGF0_RADIUS_BOUND, LOGF0_RADIUS_BOUND))

    def forward(self, length: int, track: PitchTrack | None = None, device=None):
        if track is not None:
            device = track.f0.device
        rotation = Rotation.from_phase(self.phase(length, track, device))
        r = self.radius(track)
        return rotation, (r if self.radius_on == "qk" else None), r
