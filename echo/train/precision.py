"""The GPU side of training, apart from the loop: mixed precision, TF32, the fused optimiser, gradient
accumulation and torch.compile. echo/train/loop.py calls these; each is a no-op (or the plain CPU path)
where it does not apply, so the same command trains on a CPU or a GPU.

- train.amp: `bf16` autocast (no loss scaling needed: bf16 has fp32's exponent range) or `fp16` autocast
  with a GradScaler; only on CUDA, ignored (and said so) on CPU. The autocast context itself is
  echo.train.trainer.autocast.
- TF32 for fp32 matmuls and convolutions on CUDA (Ampere and later): ~10-bit mantissa products with fp32
  accumulation, the precision PyTorch itself recommends for training ("high").
- AdamW with fused=True on CUDA: one kernel for every parameter's update instead of a loop of small ones.
- optim.accum_grad N: each batch's loss is divided by N before backward and the optimiser steps every N
  batches. The model's loss is the mean over the batch's utterances, so N batches of B utterances give
  exactly the gradient of one batch of N·B (test/test_precision.py); batches of unequal size weight each
  batch equally, not each utterance.
- train.compile: torch.compile(dynamic=True) (utterance lengths vary batch to batch); off by default, as
  compilation costs minutes and pays back only on long GPU runs.
"""
from __future__ import annotations

import logging

import torch
from torch import nn

log = logging.getLogger("echo.train")


def amp_mode(device: torch.device, amp: str) -> str:
    """The autocast mode that applies on `device`: `amp` on CUDA, `none` elsewhere (logged)."""
    if amp != "none" and device.type != "cuda":
        log.info("train.amp %s ignored on %s (mixed precision is for CUDA)", amp, device.type)
        return "none"
    return amp


def grad_scaler(device: torch.device, amp: str) -> torch.amp.GradScaler:
    """A GradScaler, enabled for fp16 on CUDA only (its state is saved in checkpoint.pt either way, so a
    run resumes on any device)."""
    return torch.amp.GradScaler("cuda", enabled=device.type == "cuda" and amp == "fp16")


def load_scaler_state(scaler: torch.amp.GradScaler, state: dict) -> None:
    """Resume the loss scale, whichever device wrote the checkpoint: a disabled scaler (CPU, bf16) saves
    {}, which an enabled one refuses to load, so an fp16 GPU run resumed from it starts from a fresh scale;
    a disabled scaler ignores a saved scale."""
    if state and scaler.is_enabled():
        scaler.load_state_dict(state)
    elif scaler.is_enabled():
        log.info("the checkpoint has no fp16 loss scale (written without fp16): starting from %g",
                 scaler.get_scale())


def enable_tf32(device: torch.device) -> None:
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True


def adamw_options(device: torch.device) -> dict:
    """Extra AdamW arguments for `device`: the fused implementation on CUDA."""
    return {"fused": True} if device.type == "cuda" else {}


def scaled_backward(loss: torch.Tensor, accum: int, scaler: torch.amp.GradScaler) -> None:
    """Backward of one batch's share of an accumulated update (loss / accum, scaled for fp16)."""
    scaler.scale(loss / accum).backward()


def maybe_compile(model: nn.Module, enabled: bool) -> nn.Module:
    """torch.compile(model) when enabled (attribute access, e.g. DDP's no_sync, goes through)."""
    if not enabled:
        return model
    log.info("train.compile: compiling the model (dynamic shapes); the first batches are slow")
    return torch.compile(model, dynamic=True)
