"""Learning-rate schedules: linear warmup to the peak `lr`, then a decay.

Each schedule is a factor of the peak learning rate as a function of the optimiser step, wrapped in
torch's LambdaLR. They are small classes rather than closures so that LambdaLR.state_dict() can store
them (it saves an object's attributes, never a function) and a resumed run gets the same curve.

    noam      factor(s) = min(s / warmup, sqrt(warmup / s))          (ESPnet's WarmupLR, peak-normalised)
    cosine    linear warmup, then half a cosine from 1 to min_ratio at total_steps, flat afterwards
    constant  linear warmup, then 1
"""
from __future__ import annotations

import math

import torch

SCHEDULERS = ("noam", "cosine", "constant")


class Noam:
    def __init__(self, warmup_steps: int):
        self.warmup_steps = max(int(warmup_steps), 1)

    def __call__(self, step: int) -> float:
        s = step + 1   # LambdaLR asks for step 0 before the first update: make that update's lr non-zero
        return min(s / self.warmup_steps, math.sqrt(self.warmup_steps / s))


class Cosine:
    def __init__(self, warmup_steps: int, total_steps: int, min_ratio: float = 0.0):
        self.warmup_steps = max(int(warmup_steps), 0)
        self.total_steps = max(int(total_steps), self.warmup_steps + 1)
        self.min_ratio = float(min_ratio)

    def __call__(self, step: int) -> float:
        s = step + 1
        if s <= self.warmup_steps:
            return s / self.warmup_steps
        progress = min((s - self.warmup_steps) / (self.total_steps - self.warmup_steps), 1.0)
        return self.min_ratio + (1 - self.min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


class Constant:
    def __init__(self, warmup_steps: int):
        self.warmup_steps = max(int(warmup_steps), 0)

    def __call__(self, step: int) -> float:
        s = step + 1
        return min(s / self.warmup_steps, 1.0) if self.warmup_steps else 1.0


def build_scheduler(optimizer, name: str, warmup_steps: int, total_steps: int,
                    min_lr_ratio: float = 0.0) -> torch.optim.lr_scheduler.LambdaLR:
    """A LambdaLR stepping once per optimiser update. total_steps matters only for cosine."""
    if name == "noam":
        factor = Noam(warmup_steps)
    elif name == "cosine":
        factor = Cosine(warmup_steps, total_steps, min_lr_ratio)
    elif name == "constant":
        factor = Constant(warmup_steps)
    else:
        raise ValueError(f"optim.scheduler must be one of {', '.join(SCHEDULERS)}, got {name!r}")
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
