"""Checkpoints of an experiment directory, exp/<tag>/:

    checkpoint.pt                 everything a resumed run needs: model, optimiser, scheduler, AMP scaler,
                                  epoch, step, sampler position, RNG states, history (train.py writes it)
    epoch<N>.pt                   weights only: {"model": state_dict, "config": asdict(EchoConfig)}
                                  (echo.model.echo.save_model / load_model)
    epoch<N>.json                 its validation metrics, e.g. {"epoch": 3, "valid.loss": 0.41, ...}
    valid.<metric>.ave_<n>best.pt the average of the n best epochs by <metric> (same layout as epoch<N>.pt)

Every file is written to a temporary name and renamed, so a killed job never leaves a truncated
checkpoint that a later run would mistake for a complete one. Everything is loaded with
torch.load(weights_only=True): plain containers and tensors only, never arbitrary pickled code.
"""
from __future__ import annotations

import json
import math
import random
import re
from pathlib import Path

import numpy as np
import torch
from echo.io import atomic
from echo.model.echo import save_model

EPOCH_RE = re.compile(r"^epoch(\d+)\.pt$")


def save_checkpoint(path, state: dict) -> None:
    """checkpoint.pt of a run (see echo.train.loop.save_state for its keys), written atomically."""
    atomic.torch_save(state, path)


def load(path, map_location="cpu") -> dict:
    """A checkpoint file as a dict (echo.io.atomic.torch_load: weights only, one-line errors)."""
    return atomic.torch_load(path, map_location)


# ---------------------------------------------------------------- RNG states (resume must replay dropout,
# SpecAugment and everything else random exactly as an uninterrupted run would)

def rng_state() -> dict:
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {"torch": torch.get_rng_state(), "python": random.getstate(),
             "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                       "has_gauss": int(has_gauss), "gauss": float(gauss)}}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state()   # this process's device
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


def average_state_dicts(states: list[dict]) -> dict:
    """Element-wise mean of state dicts with the same keys and shapes. Floating tensors are averaged
    in float64 and cast back; integer tensors (counters such as num_batches_tracked) get the floor
    of the mean."""
    if not states:
        raise ValueError("no state dicts to average")
    keys = list(states[0])
    for i, s in enumerate(states[1:], 1):
        if list(s) != keys:
            raise ValueError(f"state dict {i} has different keys from state dict 0: "
                             f"{sorted(set(s) ^ set(keys))[:5]}")
    out = {}
    for k in keys:
        tensors = [s[k] for s in states]
        if any(t.shape != tensors[0].shape for t in tensors):
            raise ValueError(f"{k}: shapes differ: {[tuple(t.shape) for t in tensors]}")
        total = sum(t.double() for t in tensors)
        if tensors[0].is_floating_point() or tensors[0].is_complex():
            out[k] = (total / len(tensors)).to(tensors[0].dtype)
        else:
            out[k] = torch.div(total, len(tensors), rounding_mode="floor").to(tensors[0].dtype)
    return out


# ---------------------------------------------------------------- n best epochs

def metric_mode(metric: str) -> str:
    """'min' for losses and error rates, 'max' for accuracy."""
    return "max" if metric.endswith("acc") else "min"


def epoch_metrics(exp_dir) -> list[dict]:
    """The JSON sidecars of the epoch<N>.pt files that exist, by epoch."""
    out = []
    for p in Path(exp_dir).glob("epoch*.pt"):
        m = EPOCH_RE.match(p.name)
        side = p.with_suffix(".json")
        if m and side.is_file():
            d = json.loads(side.read_text())
            d["epoch"] = int(m.group(1))
            out.append(d)
    return sorted(out, key=lambda d: d["epoch"])


def nbest_epochs(exp_dir, metric: str, n: int) -> list[tuple[int, float]]:
    """(epoch, value) of the n best epochs by `metric`, best first; ties go to the later epoch.
    Epochs whose metric is missing or not finite are never chosen."""
    sign = -1.0 if metric_mode(metric) == "max" else 1.0
    scored = [(d["epoch"], float(d[metric])) for d in epoch_metrics(exp_dir)
              if d.get(metric) is not None and math.isfinite(float(d[metric]))]
    scored.sort(key=lambda ev: (sign * ev[1], -ev[0]))
    return scored[:n]


def prune_epochs(exp_dir, metric: str, keep: int, protect: tuple[int, ...] = ()) -> list[int]:
    """Delete epoch<N>.pt (the JSON stays: it is the history) outside the `keep` best by `metric`,
    except the epochs in `protect`. Returns the deleted epochs."""
    if keep <= 0:
        return []
    best = {e for e, _ in nbest_epochs(exp_dir, metric, keep)} | set(protect)
    deleted = []
    for d in epoch_metrics(exp_dir):
        if d["epoch"] not in best:
            (Path(exp_dir) / f"epoch{d['epoch']}.pt").unlink(missing_ok=True)
            deleted.append(d["epoch"])
    return deleted


def average_nbest(exp_dir, metric: str, n: int) -> Path:
    """Average the n best epoch<N>.pt by `metric` into valid.<metric>.ave_<n>best.pt (metric given as
    valid.loss or loss). Fewer than n epochs available: averages those, the name keeps n (the recipe
    looks for it by name); the JSON sidecar lists the epochs used."""
    exp_dir = Path(exp_dir)
    metric = metric if metric.startswith("valid.") else f"valid.{metric}"
    best = nbest_epochs(exp_dir, metric, n)
    if not best:
        raise FileNotFoundError(f"{exp_dir}: no epoch*.pt with a finite {metric} in its .json to average")
    ckpts = [load(exp_dir / f"epoch{e}.pt") for e, _ in best]
    avg = average_state_dicts([c["model"] for c in ckpts])
    out = exp_dir / f"{metric}.ave_{n}best.pt"
    save_model(out, avg, ckpts[0]["config"],
               {"metric": metric, "epochs": [e for e, _ in best], "values": [v for _, v in best]})
    return out
