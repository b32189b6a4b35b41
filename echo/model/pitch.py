"""F0 at the encoder's frame rate: voiced-only statistics and pooling over the subsampling windows.

Everything here reads only the F0 track and the frame lengths, never the transcript, so it runs the
same way at training and at inference time. Unvoiced frames (F0 = 0) and padded frames never enter a
mean: the prototype averaged unvoiced zeros into its "mean F0", which made it a voicing detector.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

FEATURE_PITCH_STD = 0.15  # EchoConfig.feature_pitch_std's default (feature_track)
Z_CLAMP = 5.0  # |ẑ| bound: an octave error of the F0 tracker should not dominate a radius or a bias
LOG_F0_STD_FLOOR = 0.01  # natural-log units; a monotone synthetic voice would otherwise divide by 0


def lengths_to_mask(lengths: Tensor, max_len: int) -> Tensor:
    """(B,) lengths -> (B, max_len) bool, True on valid frames."""
    return torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]


@dataclass
class PitchTrack:
    """Pitch of a batch at the subsampled rate T', whatever autocast says: f0 and mean_f0 in float64
    (θ is computed from them and phases reach thousands of radians), the rest float32.

    f0:          (B, T') Hz, geometric mean of the voiced input frames of each window; 0 where unvoiced
    voiced:      (B, T') bool, at least half of the window's input frames voiced, and the frame valid
    voiced_frac: (B, T') voiced fraction of the window's input frames (0 on padding)
    z:           (B, T') ẑ = (pooled log-F0 − utterance mean) / utterance std, both over voiced valid
                 input frames only; 0 where unvoiced or padded; clamped to ±Z_CLAMP
    mean_f0:     (B,) mean F0 in Hz of the voiced valid input frames; 0 when an utterance has none
    valid:       (B, T') bool, frame inside the utterance
    log_ratio:   (B, T') or None; see f0_ratio (set by feature_track)
    """
    f0: Tensor
    voiced: Tensor
    voiced_frac: Tensor
    z: Tensor
    mean_f0: Tensor
    valid: Tensor
    log_ratio: Tensor | None = None   # (B, T') log(F0 / reference) where the source defines its own

    def f0_ratio(self) -> Tensor:
        """(B, T') F0 relative to its reference, 1 where unvoiced or padded: F0 over the utterance's voiced
        mean (utterance_z), or exp of the window-normalised log-F0 (features: F0 over its window's mean)."""
        if self.log_ratio is not None:
            return torch.where(self.voiced, self.log_ratio.exp(), torch.ones_like(self.log_ratio))
        ratio = self.f0 / self.mean_f0.clamp_min(1.0)[:, None]
        return torch.where(self.voiced, ratio, torch.ones_like(ratio))

    @classmethod
    def from_f0(cls, f0: Tensor, feat_lens: Tensor, window: int, stride: int) -> "PitchTrack":
        """Pool F0 (B, T) Hz over the windows the subsampling convs see (size `window`, hop `stride`).

        Output frame j covers input frames [j·stride, j·stride + window); the number of output frames
        equals the conv output length (T − window) // stride + 1, and every window of a valid output
        frame lies inside the utterance.
        """
        f0 = f0.double()
        B, T = f0.shape
        if T < window:
            raise ValueError(f"F0 track has {T} frames; pooling needs at least {window}")
        valid_in = lengths_to_mask(feat_lens, T)
        voiced_in = valid_in & (f0 > 0) & torch.isfinite(f0)
        vin = voiced_in.float()
        log_f0 = torch.where(voiced_in, torch.log(f0.clamp_min(1.0)), torch.zeros_like(f0))
        f0_in = torch.where(voiced_in, f0, torch.zeros_like(f0))

        # utterance statistics over voiced valid frames only
        n_voiced = vin.sum(1)
        denom = n_voiced.clamp_min(1.0)
        mean_f0 = f0_in.sum(1) / denom
        mu = log_f0.sum(1) / denom
        var = (((log_f0 - mu[:, None]) ** 2) * vin).sum(1) / denom
        sigma = var.sqrt().clamp_min(LOG_F0_STD_FLOOR)

        # pooling over the subsampling windows
        n_win = vin.unfold(1, window, stride).sum(-1)             # (B, T')
        log_pooled = log_f0.unfold(1, window, stride).sum(-1) / n_win.clamp_min(1.0)
        t_out = n_win.shape[1]
        out_lens = torch.div(feat_lens - window, stride, rounding_mode="floor") + 1
        valid = lengths_to_mask(out_lens.clamp_min(0), t_out)
        voiced_frac = torch.where(valid, n_win / window, torch.zeros_like(n_win))
        voiced = valid & (voiced_frac >= 0.5)
        pooled_f0 = torch.where(voiced, log_pooled.exp(), torch.zeros_like(log_pooled))
        z = ((log_pooled - mu[:, None]) / sigma[:, None]).clamp(-Z_CLAMP, Z_CLAMP)
        z = torch.where(voiced, z, torch.zeros_like(z)).float()
        return cls(f0=pooled_f0, voiced=voiced, voiced_frac=voiced_frac.float(), z=z, mean_f0=mean_f0, valid=valid)

    def pair_distance(self) -> Tensor:
        """(B, 1, T', T') |ẑ_i − ẑ_j| for pairs of voiced frames, 0 for every other pair."""
        z = self.z
        both = (self.voiced[:, :, None] & self.voiced[:, None, :]).float()
        return ((z[:, :, None] - z[:, None, :]).abs() * both)[:, None]

    def gate_features(self) -> Tensor:
        """(B, T', 3) what the F0 gate sees besides the hidden state: ẑ, voiced fraction, voiced."""
        return torch.stack([self.z, self.voiced_frac, self.voiced.float()], dim=-1)


# ---------------------------------------------------------------- the pitch features' track, in torch
def _window_sum(x: Tensor, width: int) -> Tensor:
    """Sum of x (T,) over a centred window of `width` frames, clipped at the edges (as the feature code)."""
    half, T = width // 2, x.shape[0]
    c = torch.cat([x.new_zeros(1), x.cumsum(0)])
    t = torch.arange(T, device=x.device)
    return c[(t + half + 1).clamp_max(T)] - c[(t - half).clamp_min(0)]


def interpolated_log_f0(f0: Tensor) -> Tensor:
    """(T,) F0 Hz (0 = unvoiced) -> (T,) float64 log-F0 linearly interpolated over unvoiced frames, holding
    the nearest voiced value at the edges (numpy's np.interp, as echo.features.pitch.pitch_features)."""
    f0 = f0.double()
    T = f0.shape[0]
    voiced = (f0 > 0) & torch.isfinite(f0)
    t = torch.arange(T, device=f0.device)
    log_f0 = torch.log(torch.where(voiced, f0, torch.ones_like(f0)))
    prev = torch.where(voiced, t, torch.full_like(t, -1)).cummax(0).values
    nxt = torch.where(voiced, t, torch.full_like(t, T)).flip(0).cummin(0).values.flip(0)
    prev_ok, next_ok = prev >= 0, nxt < T
    prev = torch.where(prev_ok, prev, nxt).clamp(0, T - 1)
    nxt = torch.where(next_ok, nxt, prev).clamp(0, T - 1)
    span = (nxt - prev).double()
    w = torch.where(span > 0, (t - prev).double() / span.clamp_min(1.0), torch.zeros_like(span))
    return log_f0[prev] + w * (log_f0[nxt] - log_f0[prev])


def pitch_features_torch(f0: Tensor) -> Tensor:
    """(T,) F0 Hz -> (T, 3) float64: echo.features.pitch.pitch_features in torch (tested equal to it), so the
    model computes the features' pitch from the F0 it already gets and inference needs nothing new.
    Columns: window-normalised interpolated log-F0, soft voicing, delta log-F0; all zeros with no voiced frame."""
    from echo.features.pitch import DELTA_WINDOW, NORM_WINDOW, POV_SMOOTH

    f0 = f0.double()
    T = f0.shape[0]
    voiced = (f0 > 0) & torch.isfinite(f0)
    out = f0.new_zeros(T, 3)
    if not bool(voiced.any()):
        return out
    log_f0 = interpolated_log_f0(f0)
    v = voiced.double()
    ones = torch.ones_like(v)
    voiced_count = _window_sum(v, NORM_WINDOW)
    voiced_mean = _window_sum(v * log_f0, NORM_WINDOW) / voiced_count.clamp_min(1.0)
    all_mean = _window_sum(log_f0, NORM_WINDOW) / _window_sum(ones, NORM_WINDOW)
    out[:, 0] = log_f0 - torch.where(voiced_count > 0, voiced_mean, all_mean)
    out[:, 1] = _window_sum(v, POV_SMOOTH) / _window_sum(ones, POV_SMOOTH)
    padded = torch.cat([log_f0[:1].expand(DELTA_WINDOW), log_f0, log_f0[-1:].expand(DELTA_WINDOW)])
    norm = 2.0 * sum(n * n for n in range(1, DELTA_WINDOW + 1))
    out[:, 2] = sum(n * (padded[DELTA_WINDOW + n:DELTA_WINDOW + n + T] - padded[DELTA_WINDOW - n:DELTA_WINDOW - n + T])
                    for n in range(1, DELTA_WINDOW + 1)) / norm
    return out


def feature_track(f0: Tensor, feat_lens: Tensor, window: int, stride: int,
                  std: float = FEATURE_PITCH_STD) -> PitchTrack:
    """The pitch of the pitch features at the subsampled rate (model.pitch_source = features).

    Each utterance's features are computed on its own valid frames (so padding changes nothing) and
    pooled over the subsampling windows as from_f0 pools: f0 = exp(mean interpolated log-F0), z = mean
    window-normalised log-F0 divided by `std` (EchoConfig.feature_pitch_std: the model reads the feature
    after global CMVN, i.e. divided by its corpus std, ~0.15; undivided, z would be ~5x smaller than the
    utterance ẑ and every switch would see a weaker pitch than in the first round), voiced_frac = mean soft
    voicing. Interpolation gives every valid frame of an utterance with any voiced frame a pitch, so
    `voiced` is every valid frame of such an utterance (the soft voicing stays in voiced_frac). The
    mechanisms that need an absolute or relative F0 read the same track: mean_f0 (θ per utterance) is
    the geometric mean of the interpolated F0 over the utterance, and f0_ratio (the F0 radius) is
    exp(window-normalised log-F0), F0 over its 151-frame window's voiced mean, as the feature has it.
    """
    base = PitchTrack.from_f0(f0, feat_lens, window, stride)   # lengths, valid frames, utterance mean F0
    B, T = f0.shape
    log_f0 = f0.new_zeros(B, T, dtype=torch.float64)
    feats = f0.new_zeros(B, T, 3, dtype=torch.float64)
    has_pitch = torch.zeros(B, dtype=torch.bool, device=f0.device)
    for b, n in enumerate(feat_lens.tolist()):
        track = f0[b, :n].double()
        track = torch.where(torch.isfinite(track), track, torch.zeros_like(track))
        if bool((track > 0).any()):
            has_pitch[b] = True
            log_f0[b, :n] = interpolated_log_f0(track)
            feats[b, :n] = pitch_features_torch(track)

    def pool(x: Tensor) -> Tensor:
        return x.unfold(1, window, stride).mean(-1)

    voiced = base.valid & has_pitch[:, None]
    zero = torch.zeros_like(base.z, dtype=torch.float64)
    f0_pooled = torch.where(voiced, pool(log_f0).exp(), zero)
    normalised = torch.where(voiced, pool(feats[..., 0]), zero)
    z = (normalised / std).clamp(-Z_CLAMP, Z_CLAMP).float()
    voiced_frac = torch.where(base.valid, pool(feats[..., 1]), zero).float()
    # the level of the features' own track: geometric mean of the interpolated log-F0 over valid frames
    n_valid = feat_lens.clamp_min(1).double()
    mean_f0 = torch.where(has_pitch, (log_f0.sum(1) / n_valid).exp(), torch.zeros_like(base.mean_f0))
    return PitchTrack(f0=f0_pooled, voiced=voiced, voiced_frac=voiced_frac, z=z, mean_f0=mean_f0,
                      valid=base.valid, log_ratio=normalised)
