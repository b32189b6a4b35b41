"""SpecAugment (Park et al., 2019): time and frequency masks on a padded batch, F0 masked alike;
optionally a vocal-tract length perturbation (VTLP, Jaitly & Hinton, 2013) of the log-mel bins first.

A time mask sets a span of frames to 0 (the CMVN mean) in every feature dimension and marks the same
frames unvoiced in F0 (0 Hz), so the pitch-aware parts of the model never see a pitch for frames whose
spectrum was hidden. Frequency masks touch features only. Masks stay inside each utterance's own
length: padding is never counted as room for a mask. Random numbers come from torch's global
generator, whose state is saved in checkpoint.pt, so a resumed run draws the same masks.

VTLP stretches each utterance's spectrum by a factor alpha ~ U[1 - warp_max, 1 + warp_max] (formants move
up by alpha; alpha = 1.3 is a shorter vocal tract than any training voice's): bin b takes the value the
unwarped filterbank has at frequency f_b / alpha, interpolated between neighbouring mel bins. It works on
the dumped (CMVN-normalised) features, frame by frame, so padding and other utterances never mix in; F0
is left alone (a vocal tract is not a larynx). Off (warp_max 0) it draws no random numbers at all.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class SpecAugConfig:
    enabled: bool = False
    num_time_masks: int = 2
    time_mask_max: int = 40           # frames; the width is also capped by time_mask_max_ratio × length
    time_mask_max_ratio: float = 0.2
    num_freq_masks: int = 2
    freq_mask_max: int = 27           # feature bins
    warp_max: float = 0.0             # VTLP: alpha ~ U[1 - warp_max, 1 + warp_max] per utterance; 0: off
    warp_mel_bins: int = 80           # the log-mel bins the features start with (pitch features after them stay)
    warp_low_hz: float = 20.0         # the filterbank's band (kaldi-native-fbank: 20 Hz to Nyquist)
    warp_high_hz: float = 8000.0


def _mel(hz: Tensor) -> Tensor:
    return 1127.0 * torch.log1p(hz / 700.0)


def warp_frequency(feats: Tensor, alpha: Tensor, conf: SpecAugConfig) -> Tensor:
    """feats (B, T, D) log-mel (+ other features), alpha (B,) → (B, T, D): the first warp_mel_bins
    dimensions of row i seen through a vocal tract alpha[i] times shorter (alpha 1: unchanged)."""
    B, T, D = feats.shape
    n = min(conf.warp_mel_bins, D)
    if n < 2:
        return feats
    lo = _mel(torch.tensor(conf.warp_low_hz, dtype=torch.float64))
    hi = _mel(torch.tensor(conf.warp_high_hz, dtype=torch.float64))
    step = (hi - lo) / (n + 1)                                  # Kaldi: bin b peaks at lo + (b + 1) step
    centre_hz = 700.0 * torch.expm1((lo + step * torch.arange(1, n + 1, dtype=torch.float64)) / 1127.0)
    source_hz = centre_hz[None, :] / alpha.to(torch.float64)[:, None].cpu()          # (B, n)
    source = ((_mel(source_hz) - lo) / step - 1.0).clamp(0, n - 1)                  # fractional bin index
    left = source.floor().long().clamp(max=n - 2)
    frac = (source - left).to(feats.dtype).to(feats.device)[:, None, :]
    left = left.to(feats.device)[:, None, :].expand(B, T, n)
    x = feats[..., :n]
    a, b = x.gather(2, left), x.gather(2, left + 1)
    return torch.cat([a + (b - a) * frac, feats[..., n:]], dim=-1)


def _span_mask(lengths: Tensor, max_width: Tensor, size: int, generator=None) -> Tensor:
    """One random span per row: width uniform in [0, max_width], start uniform so that the span fits
    inside the row's length. lengths, max_width: (B,) long → (B, size) bool, True inside the span."""
    B = len(lengths)
    u = torch.rand(B, 2, generator=generator, device=lengths.device)
    width = (u[:, 0] * (max_width + 1).float()).long().clamp(max=lengths)
    start = (u[:, 1] * (lengths - width + 1).float()).long()
    pos = torch.arange(size, device=lengths.device)[None, :]
    return (pos >= start[:, None]) & (pos < (start + width)[:, None])


def spec_augment(feats: Tensor, feat_lens: Tensor, f0: Tensor, conf: SpecAugConfig,
                 generator=None) -> tuple[Tensor, Tensor]:
    """feats (B, T, D), feat_lens (B,), f0 (B, T) Hz → masked (feats, f0), new tensors."""
    if not conf.enabled:
        return feats, f0
    B, T, D = feats.shape
    if conf.warp_max > 0:
        alpha = 1.0 + conf.warp_max * (2.0 * torch.rand(B, generator=generator, device=feats.device) - 1.0)
        feats = warp_frequency(feats, alpha, conf)
    lens = feat_lens.to(feats.device).long()
    time_masked = torch.zeros(B, T, dtype=torch.bool, device=feats.device)
    cap = torch.minimum((lens.float() * conf.time_mask_max_ratio).long(),
                        torch.full_like(lens, conf.time_mask_max))
    for _ in range(conf.num_time_masks):
        time_masked |= _span_mask(lens, cap, T, generator)
    freq_masked = torch.zeros(B, D, dtype=torch.bool, device=feats.device)
    dims = torch.full_like(lens, D)
    fcap = torch.full_like(lens, min(conf.freq_mask_max, D))
    for _ in range(conf.num_freq_masks):
        freq_masked |= _span_mask(dims, fcap, D, generator)
    mask = time_masked[:, :, None] | freq_masked[:, None, :]
    return feats.masked_fill(mask, 0.0), f0.masked_fill(time_masked, 0.0)
