"""F0 at the encoder's frame rate: voiced-only statistics and pooling over the subsampling windows.

Everything here reads only the F0 track and the frame lengths, never the transcript, so it runs the
same way at training and at inference time. Unvoiced frames (F0 = 0) and padded frames never enter a
mean: the prototype averaged unvoiced zeros into its "mean F0", which made it a voicing detector.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

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
    """
    f0: Tensor
    voiced: Tensor
    voiced_frac: Tensor
    z: Tensor
    mean_f0: Tensor
    valid: Tensor

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
