"""Conv2d subsampling in time (and frequency), ESPnet/Kaldi style: no padding, so frame j of the
output sees input frames [j·stride, j·stride + window) and never a padded one while j < its length.

factor: layers (kernel, stride)           output length
   2    (3,2)                              (T − 1) // 2
   4    (3,2) (3,2)                        ((T − 1) // 2 − 1) // 2
   6    (3,2) (5,3)                        ((T − 1) // 2 − 2) // 3
   8    (3,2) (3,2) (3,2)                  (((T − 1) // 2 − 1) // 2 − 1) // 2
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

LAYERS = {2: ((3, 2),), 4: ((3, 2), (3, 2)), 6: ((3, 2), (5, 3)), 8: ((3, 2), (3, 2), (3, 2))}


class Conv2dSubsampling(nn.Module):
    """feats (B, T, idim) -> (B, T', d_model); T' = output_lengths(T)."""

    def __init__(self, idim: int, d_model: int, factor: int = 4, channels: int | None = None):
        super().__init__()
        if factor not in LAYERS:
            raise ValueError(f"subsampling must be one of {sorted(LAYERS)}, got {factor}")
        channels = channels or d_model
        self.layers = LAYERS[factor]
        convs, c_in, f = [], 1, idim
        for kernel, stride in self.layers:
            convs += [nn.Conv2d(c_in, channels, kernel, stride), nn.ReLU()]
            c_in, f = channels, (f - kernel) // stride + 1
        if f < 1:
            raise ValueError(f"idim {idim} is too small for subsampling ×{factor}")
        self.conv = nn.Sequential(*convs)
        self.out = nn.Linear(channels * f, d_model)
        # the receptive field in input frames and its hop: what F0 pooling must use
        self.window, self.stride = 1, 1
        for kernel, stride in self.layers:
            self.window += (kernel - 1) * self.stride
            self.stride *= stride

    def output_lengths(self, lengths: Tensor) -> Tensor:
        for kernel, stride in self.layers:
            lengths = torch.div(lengths - kernel, stride, rounding_mode="floor") + 1
        return lengths.clamp_min(0)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv(x[:, None])                      # (B, C, T', F')
        B, C, T, F = x.shape
        return self.out(x.transpose(1, 2).reshape(B, T, C * F))
