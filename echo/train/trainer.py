"""The pieces of the training loop that are not the loop itself (echo/train/loop.py reads top to bottom):
logging, OOM messages, AMP, validation with greedy-CTC CER, and the running
statistics behind each train.log line.
"""
from __future__ import annotations

import contextlib
import logging
import math
import sys
import time
from pathlib import Path

import jiwer
import torch

from echo.decode.beam_search import greedy_ctc
from echo.train import distributed
from echo.train.distributed import DistInfo

log = logging.getLogger("echo.train")


# ---------------------------------------------------------------- logging

class TqdmHandler(logging.StreamHandler):
    """Writes records through tqdm.write, so log lines do not tear a progress bar on a terminal."""

    def emit(self, record):
        from tqdm import tqdm
        try:
            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:
            self.handleError(record)


def setup_logging(log_file: Path | None, info: DistInfo) -> None:
    """Rank 0: INFO to stderr and to `log_file` (appended: a resumed run continues the same log).
    Other ranks: warnings only, tagged with the rank."""
    logger = logging.getLogger("echo")
    for h in list(logger.handlers):
        logger.removeHandler(h)
        h.close()
    logger.setLevel(logging.INFO)
    logger.propagate = False
    prefix = f"[rank {info.rank}] " if info.distributed else ""
    fmt = logging.Formatter(f"%(asctime)s {prefix}%(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S")
    console = TqdmHandler() if sys.stderr.isatty() else logging.StreamHandler(sys.stderr)
    console.setFormatter(fmt)
    console.setLevel(logging.INFO if info.is_main else logging.WARNING)
    logger.addHandler(console)
    if log_file is not None and info.is_main:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        fh = logging.FileHandler(log_file, encoding="utf-8")
        fh.setFormatter(fmt)
        logger.addHandler(fh)


def close_logging() -> None:
    """Detach and close the handlers of setup_logging (train.log stays closed between runs), and let
    echo's records reach the root logger again as before setup_logging."""
    logger = logging.getLogger("echo")
    for h in list(logger.handlers):
        logger.removeHandler(h)
        h.close()
    logger.propagate = True


def current_rss_mb() -> float | None:
    """Resident memory of this process now, in MiB (None where /proc is missing, e.g. macOS).
    ru_maxrss is a peak and cannot show whether memory is still growing; this can."""
    import os

    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return None


def malloc_in_use() -> str:
    """'jemalloc' or 'tcmalloc' when one is loaded into this process (egs/TEMPLATE/path.sh preloads jemalloc),
    else 'glibc' (whose heap fragments under training; see path.sh): train.log says which, since memory
    figures depend on it."""
    try:
        with open("/proc/self/maps") as f:
            maps = f.read()
    except OSError:
        return "unknown"
    return next((name for name in ("jemalloc", "tcmalloc") if f"lib{name}" in maps), "glibc")


def peak_memory_mb(device: torch.device) -> dict:
    """Resident memory of this process now (rss_mb) and at its peak (peak_rss_mb), and the peak GPU
    memory allocated by torch, in MiB."""
    import resource

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out = {"rss_mb": current_rss_mb(),
           "peak_rss_mb": rss / 2**20 if sys.platform == "darwin" else rss / 1024}   # bytes vs KiB
    if device.type == "cuda":
        out["peak_gpu_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    return out


def memory_summary(record: dict) -> str:
    """'rss 812 MiB, peak rss 840 MiB[, peak gpu ...]' from the keys of peak_memory_mb in a history record."""
    names = {"rss_mb": "rss", "peak_rss_mb": "peak rss", "peak_gpu_mb": "peak gpu"}
    return ", ".join(f"{names[k]} {record[k]:.0f} MiB" for k in names if record.get(k) is not None)


def hms(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


# ---------------------------------------------------------------- device, AMP, OOM

def move(batch: dict, device: torch.device) -> dict:
    return {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}


def autocast(device: torch.device, amp: str):
    """An autocast context for `amp` (bf16 | fp16) on GPU; nothing on CPU or with amp none."""
    if device.type != "cuda" or amp == "none":
        return contextlib.nullcontext()
    return torch.autocast("cuda", dtype=torch.bfloat16 if amp == "bf16" else torch.float16)


def is_oom(e: BaseException) -> bool:
    return isinstance(e, torch.OutOfMemoryError) or (isinstance(e, RuntimeError) and "out of memory" in str(e))


class BatchOOMError(RuntimeError):
    """Out of memory on one batch; the message says which batch and which knob to lower."""


@contextlib.contextmanager
def oom_hint(batch: dict, batch_frames: int, where: str = "training"):
    """Turns an out-of-memory error inside the block into a BatchOOMError naming the batch."""
    try:
        yield
    except Exception as e:
        if not is_oom(e):
            raise
        B, T = batch["feats"].shape[:2]
        utts = batch["utt_ids"]
        shown = " ".join(utts[:5]) + (f" ... ({len(utts)} in all)" if len(utts) > 5 else "")
        raise BatchOOMError(
            f"out of memory in {where} on a batch of {B} utterances × {T} frames "
            f"({B * T} padded frames, {int(batch['feat_lens'].sum())} real; longest utterance {T} frames): "
            f"{shown}. Lower batch.batch_frames (now {batch_frames}, e.g. --batch.batch_frames "
            f"{max(batch_frames // 2, 1)}) or batch.max_frames to drop long utterances. ({e})") from e


# ---------------------------------------------------------------- validation

def char_errors(refs: list[str], hyps: list[str]) -> tuple[int, int]:
    """(character edits, reference characters) of a list of pairs, aligned with jiwer. An empty
    reference counts each hypothesis character as an insertion."""
    edits = chars = 0
    pairs = [(r, h) for r, h in zip(refs, hyps) if r]
    edits += sum(len(h) for r, h in zip(refs, hyps) if not r)
    if pairs:
        out = jiwer.process_characters([r for r, _ in pairs], [h for _, h in pairs])
        edits += out.substitutions + out.deletions + out.insertions
        chars += out.substitutions + out.deletions + out.hits
    return edits, chars


@torch.no_grad()
def validate(model, loader, info: DistInfo, tokenizer, amp: str, batch_frames: int) -> dict:
    """Loss, its parts, token accuracy and greedy-CTC CER over the whole valid set (every rank its
    shard, summed over ranks). `model` is the bare EchoModel (not the DDP wrapper: no collective
    calls inside validation, shards may differ in size)."""
    was_training = model.training
    model.eval()
    sums = dict(utts=0.0, loss=0.0, loss_ctc=0.0, loss_att=0.0, acc_num=0.0, tokens=0.0, edits=0.0, chars=0.0)
    for batch in loader:
        batch = move(batch, info.device)
        B = len(batch["utt_ids"])
        with oom_hint(batch, batch_frames, "validation"), autocast(info.device, amp):
            _, stats = model(batch["feats"], batch["feat_lens"], batch["f0"], batch["ys"], batch["y_lens"])
            enc, enc_lens = model.encode(batch["feats"], batch["feat_lens"], batch["f0"])
            # the same best path as `echo.bin.decode --mode greedy_ctc`, so valid.cer is what decoding gives
            hyp_ids = [h.tokens for h in greedy_ctc(model.ctc_log_probs(enc), enc_lens, model.blank, model.eos)]
        n_tok = float(batch["y_lens"].sum() + B)   # the decoder's targets include <eos>
        sums["utts"] += B
        for k in ("loss", "loss_ctc", "loss_att"):
            sums[k] += stats[k] * B
        if not math.isnan(stats["acc"]):
            sums["acc_num"] += stats["acc"] * n_tok
            sums["tokens"] += n_tok
        refs = [tokenizer.decode(y[:n].tolist()) for y, n in zip(batch["ys"], batch["y_lens"])]
        hyps = [tokenizer.decode(h) for h in hyp_ids]
        e, c = char_errors(refs, hyps)
        sums["edits"] += e
        sums["chars"] += c
    keys = list(sums)
    sums = dict(zip(keys, distributed.all_reduce([sums[k] for k in keys], info)))
    model.train(was_training)
    n = max(sums["utts"], 1.0)
    return {"valid.loss": sums["loss"] / n, "valid.loss_ctc": sums["loss_ctc"] / n,
            "valid.loss_att": sums["loss_att"] / n,
            "valid.acc": sums["acc_num"] / sums["tokens"] if sums["tokens"] else None,
            "valid.cer": sums["edits"] / sums["chars"] if sums["chars"] else None}


# ---------------------------------------------------------------- running statistics of training

class Meter:
    """Sums over a window of batches (one train.log line) and over the epoch."""

    KEYS = ("utts", "loss", "loss_ctc", "loss_att", "acc", "acc_utts", "frames", "padded", "ctc_infeasible")

    def __init__(self):
        self.window = dict.fromkeys(self.KEYS, 0.0)
        self.epoch = dict.fromkeys(self.KEYS, 0.0)
        self.window_start = time.perf_counter()

    def add(self, stats: dict, batch: dict) -> None:
        B = len(batch["utt_ids"])
        d = {"utts": B, "loss": stats["loss"] * B, "loss_ctc": stats["loss_ctc"] * B,
             "loss_att": stats["loss_att"] * B, "frames": float(batch["feat_lens"].sum()),
             "padded": float(batch["feats"].shape[0] * batch["feats"].shape[1]),
             "ctc_infeasible": stats.get("ctc_infeasible", 0.0)}
        if not math.isnan(stats["acc"]):
            d["acc"], d["acc_utts"] = stats["acc"] * B, B
        for k, v in d.items():
            self.window[k] += v
            self.epoch[k] += v

    @staticmethod
    def summary(sums: dict) -> dict:
        n = max(sums["utts"], 1.0)
        return {"loss": sums["loss"] / n, "loss_ctc": sums["loss_ctc"] / n, "loss_att": sums["loss_att"] / n,
                "acc": sums["acc"] / sums["acc_utts"] if sums["acc_utts"] else float("nan"),
                "pad": 1.0 - sums["frames"] / sums["padded"] if sums["padded"] else 0.0,
                "frames": sums["frames"], "ctc_infeasible": sums["ctc_infeasible"]}

    def take_window(self, info: DistInfo) -> tuple[dict, float]:
        """The window's statistics summed over ranks, and its duration; starts a new window."""
        keys = list(self.KEYS)
        sums = dict(zip(keys, distributed.all_reduce([self.window[k] for k in keys], info)))
        now = time.perf_counter()
        seconds, self.window_start = now - self.window_start, now
        self.window = dict.fromkeys(self.KEYS, 0.0)
        return self.summary(sums), seconds

    def take_epoch(self, info: DistInfo) -> dict:
        keys = list(self.KEYS)
        sums = dict(zip(keys, distributed.all_reduce([self.epoch[k] for k in keys], info)))
        self.epoch = dict.fromkeys(self.KEYS, 0.0)
        return self.summary(sums)


def unused_parameters(model, batch: dict) -> list[str]:
    """Names of the parameters that get no gradient from one forward/backward of `batch` (DDP must be
    told about them). RNG states are restored afterwards: this probe changes nothing of the run."""
    with torch.random.fork_rng(devices=[batch["feats"].device] if batch["feats"].is_cuda else []):
        loss, _ = model(batch["feats"], batch["feat_lens"], batch["f0"], batch["ys"], batch["y_lens"])
        loss.backward()
    names = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    model.zero_grad(set_to_none=True)
    return names
