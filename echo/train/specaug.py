"""SpecAugment (Park et al., 2019): time and frequency masks on a padded batch, F0 masked alike.

A time mask sets a span of frames to 0 (the CMVN mean) in every feature dimension and marks the same
frames unvoiced in F0 (0 Hz), so the pitch-aware parts of the model never see a pitch for frames whose
spectrum was hidden. Frequency masks touch features only. Masks stay inside each utterance's own
length: padding is never counted as room for a mask. Random numbers come from torch's global
generator, whose state is saved in checkpoint.pt, so a resumed run draws the same masks.
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
