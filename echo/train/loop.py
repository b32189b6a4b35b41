"""The training loop behind `python -m echo.bin.train` (its options and launch lines: echo/bin/train.py).

It reads top to bottom, one function per step of the pipeline (icefall's names where they exist):

    train              provenance and a finished run first; then build_run, resume, distribute, and per
                       epoch train_one_epoch and end_of_epoch; the n-best average at the end
    build_run          tokenizer, datasets, bucket samplers and loaders, model, AdamW, scheduler: a TrainSession
    resume             checkpoint.pt back into the TrainSession, mid-epoch included
    train_one_epoch    forward and backward per batch; one optimizer_update per gradient-accumulation window
    optimizer_update   the update, or none when any rank saw a non-finite loss or gradient
    log_window         one train.log line (and tensorboard scalars) per train.log_interval updates
    end_of_epoch       validate, epoch<N>.pt, prune to the n best, curves and tensorboard
    save_state         checkpoint.pt: a collective call (every rank's RNG states), rank 0 writes

The order in which random numbers are drawn is part of the contract: a run killed anywhere and resumed
ends with the weights of an uninterrupted one (test_train.py), so set_seed, the DDP probe and the RNG
restore stay where they are.
"""
from __future__ import annotations

import contextlib
import dataclasses
import math
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel as DDP
from tqdm import tqdm

from echo.data.dataset import EchoDataset, collate
from echo.data.onthefly import training_dataset
from echo.io import atomic
from echo.io.assets import check_training_dump, discard_experiment, install_assets
from echo.model.echo import EchoConfig, EchoModel, save_model
from echo.plot.curves import plot_curves
from echo.text.tokenizer import Tokenizer
from echo.train import checkpoint, config, distributed, precision
from echo.train.checkpoint import save_checkpoint
from echo.train.distributed import DistInfo
from echo.train.sampler import BucketBatchSampler
from echo.train.schedule import build_scheduler
from echo.train.specaug import SpecAugConfig, spec_augment
from echo.train.trainer import (Meter, autocast, hms, log, malloc_in_use, memory_summary, move, oom_hint,
                                peak_memory_mb, setup_logging, unused_parameters, validate)


@dataclass
class Progress:
    """Where training stands; checkpoint.pt saves it beside the weights and the optimiser."""
    epoch: int = 1
    position: int = 0           # batches of this epoch done (on this rank)
    step: int = 0               # optimiser updates, skipped ones included
    history: list = field(default_factory=list)   # one record per finished epoch (epoch<N>.json)
    counters: dict = field(default_factory=lambda: {"nonfinite_loss": 0, "nonfinite_grad": 0})
    elapsed_before: float = 0.0   # training seconds of the sessions before this one


@dataclass
class TrainSession:
    """Everything one training session holds: what build_run makes, plus the session's clock."""
    cfg: dict
    info: DistInfo
    exp_dir: Path
    tokenizer: Tokenizer
    train_set: torch.utils.data.Dataset
    train_sampler: BucketBatchSampler
    train_loader: torch.utils.data.DataLoader
    valid_loader: torch.utils.data.DataLoader
    model_cfg: EchoConfig
    model: EchoModel
    params: list
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    scaler: torch.amp.GradScaler
    amp: str
    specaug: SpecAugConfig
    batches_per_epoch: int
    total_updates: int
    ddp_model: torch.nn.Module = None   # the model as stepped (DDP, torch.compile); `model` is the bare one
    progress: Progress = field(default_factory=Progress)
    meter: Meter = field(default_factory=Meter)
    writer: object = None               # tensorboard SummaryWriter on rank 0
    t0: float = 0.0                     # time.time() when this session's loop started
    train_seconds: float = 0.0          # this session's seconds in training batches (for the eta)
    valid_seconds: float = 0.0          # the last validation's seconds (for the eta)
    batches_done: int = 0
    grad_norm: float = float("nan")
    logged: bool = False                # the session's first train.log line comes after one update

    @property
    def ckpt_path(self) -> Path:
        return self.exp_dir / "checkpoint.pt"

    def elapsed(self) -> float:
        return self.progress.elapsed_before + time.time() - self.t0


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def feat_dim(dump_dir: Path, dataset) -> int:
    f = dump_dir / "feats_dim"
    return int(f.read_text().split()[0]) if f.is_file() else int(dataset[0]["feats"].shape[1])


def load_checkpoint(path: Path) -> dict:
    try:
        return checkpoint.load(path)
    except atomic.CorruptFileError as e:
        raise atomic.CorruptFileError(f"{e}. Cannot resume from it: restore it from a copy, or start again "
                                      f"with another --tag (or --force to discard {path.parent})") from None


def finished_model(exp_dir: Path, cfg: dict) -> EchoModel | None:
    """The trained model when exp_dir holds a finished run of exactly this config (train.max_epoch reached,
    the n-best average written), else None. Reads only: a finished experiment is left untouched."""
    ckpt_path, t = exp_dir / "checkpoint.pt", cfg["train"]
    if not ckpt_path.is_file():
        return None
    ck = load_checkpoint(ckpt_path)
    metric = t["best_metric"] if t["best_metric"].startswith("valid.") else f"valid.{t['best_metric']}"
    averaged = exp_dir / f"{metric}.ave_{t['nbest_average']}best.pt"
    changed = [k for k in config.diff(ck["train_config"], cfg) if k != "train.max_epoch"]
    if ck["epoch"] <= t["max_epoch"] or changed or \
            (t["nbest_average"] > 0 and not averaged.is_file()):
        return None
    model = EchoModel(EchoConfig(**ck["config"]))
    model.load_state_dict(ck["model"])
    return model.eval()


def train(cfg: dict, info: DistInfo, *, exp_dir: Path, train_dump: Path, valid_dump: Path, token_dir: Path,
          num_workers: int = 0, force: bool = False, command: str = "") -> EchoModel:
    """Train (or resume, or find finished) the experiment `exp_dir`; returns the model in eval mode.
    `command` is the command line, logged and written atop config.yaml."""
    t = cfg["train"]
    if force and info.is_main:
        discard_experiment(exp_dir)
    distributed.barrier(info)
    # Provenance first, and before anything is written: a finished or resumed experiment must go on with
    # exactly the token list, CMVN and features its weights were trained with.
    if info.is_main:
        install_assets(exp_dir, token_dir, train_dump)
    else:
        check_training_dump(train_dump)
    distributed.barrier(info)
    done = finished_model(exp_dir, cfg)
    if done is not None:
        print(f"echo.bin.train: {exp_dir} is already trained (train.max_epoch {t['max_epoch']}); nothing to do. "
              "Raise --train.max_epoch to train on, or use --force to train again.", file=sys.stderr)
        return done
    if info.is_main:   # what a writer killed mid-save (SIGKILL) left under a temporary name
        atomic.remove_stale_temporaries(exp_dir)
    setup_logging(exp_dir / "train.log", info)
    log.info("python -m echo.bin.train %s", command)
    log.info("device %s, %d process(es), torch %s, %d threads", info.device, info.world_size,
             torch.__version__, torch.get_num_threads())
    log.info("malloc: %s", malloc_in_use())
    set_seed(t["seed"])   # the same on every rank: identical initial weights

    run = build_run(cfg, info, exp_dir, train_dump, valid_dump, token_dir, num_workers)
    rank_state = resume(run) if run.ckpt_path.is_file() else None
    if info.is_main:
        atomic.write_text(exp_dir / "config.yaml", f"# python -m echo.bin.train {command}\n" + config.dump(cfg))
    if run.progress.epoch > t["max_epoch"]:
        log.info("already trained for %d epochs (train.max_epoch %d): raise --train.max_epoch to go on",
                 run.progress.epoch - 1, t["max_epoch"])
    if t["nbest_average"] > t["keep_nbest"]:
        log.warning("train.nbest_average %d > train.keep_nbest %d: only the kept epochs can be averaged",
                    t["nbest_average"], t["keep_nbest"])
    run.ddp_model = distribute(run)
    set_seed(t["seed"] + info.rank)   # dropout and SpecAugment differ between ranks
    if rank_state is not None:
        checkpoint.set_rng_state(rank_state["rng"])
        run.meter.epoch = rank_state["meter"]
    if info.is_main:
        from torch.utils.tensorboard import SummaryWriter
        run.writer = SummaryWriter(str(exp_dir / "tensorboard"))
    run.t0 = time.time()

    run.model.train()
    while run.progress.epoch <= t["max_epoch"]:
        train_one_epoch(run)
        end_of_epoch(run)
        run.progress.epoch, run.progress.position = run.progress.epoch + 1, 0
        save_state(run)

    if info.is_main:
        if t["nbest_average"] > 0:
            out = checkpoint.average_nbest(exp_dir, t["best_metric"], t["nbest_average"])
            log.info("averaged the best epochs by %s into %s", t["best_metric"], out)
        run.writer.close()
        p = run.progress
        log.info("done: %d epochs, %d updates, %d skipped for non-finite loss, %d for non-finite gradient",
                 p.epoch - 1, p.step, p.counters["nonfinite_loss"], p.counters["nonfinite_grad"])
    return run.model.eval()


def build_run(cfg: dict, info: DistInfo, exp_dir: Path, train_dump: Path, valid_dump: Path, token_dir: Path,
              num_workers: int) -> TrainSession:
    """Data, model and optimiser of a fresh run (resume() then loads a checkpoint into them)."""
    o, b, t = cfg["optim"], cfg["batch"], cfg["train"]
    tokenizer = Tokenizer.load(token_dir)
    # dumped features, or (augment.enabled) features made on the fly from augmented audio
    train_set = training_dataset(train_dump, tokenizer, train_dump / "cmvn.npz", cfg["augment"], t["seed"])
    if cfg["augment"]["enabled"]:
        log.info("train: features computed on the fly from augmented audio (augment: %s), %d loader worker(s)",
                 {k: v for k, v in cfg["augment"].items() if k != "enabled"}, num_workers)
    valid_set = EchoDataset(valid_dump, tokenizer, cmvn=train_dump / "cmvn.npz")
    model_cfg = EchoConfig(idim=feat_dim(train_dump, train_set), vocab_size=tokenizer.vocab_size, **cfg["model"])
    model = EchoModel(model_cfg).to(info.device)
    precision.enable_tf32(info.device)
    log.info("model: %.2f M parameters; %s", sum(p.numel() for p in model.parameters()) / 1e6, model_cfg)

    def enc_frames(ds):
        return model.encoder.subsampling.output_lengths(torch.tensor(ds.num_frames)).tolist()

    train_sampler = BucketBatchSampler(
        train_set.num_frames, b["batch_frames"], num_tokens=train_set.num_tokens, max_frames=b["max_frames"],
        enc_frames=enc_frames(train_set), max_batch_size=b["max_batch_size"], shuffle=True, seed=t["seed"],
        rank=info.rank, world_size=info.world_size, pad_to_equal=True)
    valid_sampler = BucketBatchSampler(
        valid_set.num_frames, b["valid_batch_frames"] or b["batch_frames"], num_tokens=valid_set.num_tokens,
        enc_frames=enc_frames(valid_set), max_batch_size=b["max_batch_size"], shuffle=False,
        rank=info.rank, world_size=info.world_size, pad_to_equal=False)
    for name, ds, s in (("train", train_set, train_sampler), ("valid", valid_set, valid_sampler)):
        d = s.dropped
        log.info("%s: %d utterances from %s, %d kept in %d batches; dropped %d (longer than max_frames %s: %d, "
                 "too short for the encoder: %d, more tokens than encoder frames: %d, empty transcript: %d)",
                 name, len(ds), ds.dump_dir, len(s.indices), s.num_batches, d.total,
                 b["max_frames"] if name == "train" else "-", d.too_long, d.too_short, d.too_many_tokens,
                 d.no_tokens)
    loader_kw = dict(collate_fn=collate, num_workers=num_workers, pin_memory=info.device.type == "cuda",
                     generator=torch.Generator().manual_seed(t["seed"]))   # never draws from the global RNG

    # AdamW, no weight decay on biases and norms (nanoGPT's split)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        [{"params": [p for p in params if p.dim() >= 2], "weight_decay": o["weight_decay"]},
         {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}],
        lr=o["lr"], betas=tuple(o["betas"]), eps=o["eps"], **precision.adamw_options(info.device))
    batches_per_epoch = len(train_sampler)
    total_updates = math.ceil(batches_per_epoch / o["accum_grad"]) * t["max_epoch"]
    amp = precision.amp_mode(info.device, t["amp"])
    return TrainSession(
        cfg=cfg, info=info, exp_dir=exp_dir, tokenizer=tokenizer, train_set=train_set, train_sampler=train_sampler,
        train_loader=torch.utils.data.DataLoader(train_set, batch_sampler=train_sampler, **loader_kw),
        valid_loader=torch.utils.data.DataLoader(valid_set, batch_sampler=valid_sampler, **loader_kw),
        model_cfg=model_cfg, model=model, params=params, optimizer=optimizer,
        scheduler=build_scheduler(optimizer, o["scheduler"], o["warmup_steps"], total_updates, o["min_lr_ratio"]),
        scaler=precision.grad_scaler(info.device, amp), amp=amp, specaug=SpecAugConfig(**cfg["specaug"]),
        batches_per_epoch=batches_per_epoch, total_updates=total_updates)


def resume(run: TrainSession) -> dict | None:
    """Loads checkpoint.pt into `run`; returns this rank's saved RNG and meter state, or None when the
    epoch must restart from its first batch (another world size or number of batches per epoch)."""
    ck = load_checkpoint(run.ckpt_path)
    try:
        run.model.load_state_dict(ck["model"])
    except RuntimeError as e:
        changed = [k for k in config.diff(ck["train_config"], run.cfg) if k.startswith("model.")]
        raise RuntimeError(f"{run.ckpt_path}: its model does not fit the config (changed: {', '.join(changed)}"
                           f" or the data's idim/vocab_size); use another --tag for a new model") from e
    run.optimizer.load_state_dict(ck["optimizer"])
    run.scheduler.load_state_dict(ck["scheduler"])
    run.scheduler.lr_lambdas[0].total_steps = run.total_updates   # a raised max_epoch stretches cosine decay
    precision.load_scaler_state(run.scaler, ck["scaler"])
    run.progress = Progress(epoch=ck["epoch"], position=ck["position"], step=ck["step"], history=ck["history"],
                            counters=ck["counters"], elapsed_before=ck["elapsed"])
    changed = [k for k in config.diff(ck["train_config"], run.cfg) if k != "train.max_epoch"]
    if changed:
        log.warning("config changed since %s was written: %s (the new values apply)", run.ckpt_path,
                    ", ".join(changed))
    rank_state = None
    if ck["world_size"] == run.info.world_size and ck["batches_per_epoch"] == run.batches_per_epoch:
        rank_state = ck["rank_states"][run.info.rank]
    else:
        log.warning("%s was written by %d process(es) with %d batches per epoch, now %d and %d: "
                    "epoch %d restarts from its first batch", run.ckpt_path, ck["world_size"],
                    ck["batches_per_epoch"], run.info.world_size, run.batches_per_epoch, run.progress.epoch)
        run.progress.position = 0
    log.info("resumed from %s: epoch %d, batch %d/%d, update %d", run.ckpt_path, run.progress.epoch,
             run.progress.position, run.batches_per_epoch, run.progress.step)
    return rank_state


def distribute(run: TrainSession) -> torch.nn.Module:
    """The model as stepped: wrapped in DDP across ranks (told which parameters get no gradient), and
    compiled when train.compile."""
    ddp_model = run.model
    if run.info.distributed:
        probe = move(collate([run.train_set[i] for i in run.train_sampler.rank_batches(1)[0]]), run.info.device)
        unused = unused_parameters(run.model, probe)
        if unused:
            log.info("%d parameters get no gradient (DDP told so): %s%s", len(unused), ", ".join(unused[:5]),
                     " ..." if len(unused) > 5 else "")
        device_ids = [run.info.device.index] if run.info.device.type == "cuda" else None
        ddp_model = DDP(run.model, device_ids=device_ids, find_unused_parameters=bool(unused))
    return precision.maybe_compile(ddp_model, run.cfg["train"]["compile"])


def gather_rank_states(state: dict, info: DistInfo) -> list:
    """Every rank's `state` (its RNG states and running sums), in rank order, on every rank."""
    if not info.distributed:
        return [state]
    out = [None] * info.world_size
    torch.distributed.all_gather_object(out, state)
    return out


def save_state(run: TrainSession) -> None:
    """checkpoint.pt: a collective call (RNG states come from every rank); rank 0 writes."""
    states = gather_rank_states({"rng": checkpoint.rng_state(), "meter": dict(run.meter.epoch)}, run.info)
    if run.info.is_main:
        p = run.progress
        save_checkpoint(run.ckpt_path, {
            "model": run.model.state_dict(), "config": dataclasses.asdict(run.model_cfg), "train_config": run.cfg,
            "optimizer": run.optimizer.state_dict(), "scheduler": run.scheduler.state_dict(),
            "scaler": run.scaler.state_dict(), "epoch": p.epoch, "position": p.position, "step": p.step,
            "batches_per_epoch": run.batches_per_epoch, "world_size": run.info.world_size,
            "rank_states": states, "history": p.history, "counters": p.counters, "elapsed": run.elapsed()})


def train_one_epoch(run: TrainSession) -> None:
    """The batches of epoch `run.progress.epoch` from `run.progress.position` on: forward, backward, and an
    optimizer_update at the end of each gradient-accumulation window; checkpoint.pt every
    train.save_interval_steps updates."""
    p, info, t = run.progress, run.info, run.cfg["train"]
    accum = run.cfg["optim"]["accum_grad"]
    run.train_sampler.set_epoch(p.epoch, p.position)
    if hasattr(run.train_set, "set_epoch"):   # augmentation draws from (seed, epoch, utterance index)
        run.train_set.set_epoch(p.epoch)
    bar = tqdm(total=run.batches_per_epoch, initial=p.position, desc=f"epoch {p.epoch}", unit="batch",
               disable=not (info.is_main and sys.stderr.isatty()), dynamic_ncols=True, leave=False)
    run.meter.window_start = batch_start = time.perf_counter()
    bad_window = False   # a non-finite loss in this accumulation window
    for batch in run.train_loader:
        batch = move(batch, info.device)
        p.position += 1
        run.batches_done += 1
        feats, f0 = spec_augment(batch["feats"], batch["feat_lens"], batch["f0"], run.specaug)
        last_of_window = p.position % accum == 0 or p.position == run.batches_per_epoch
        no_sync = run.ddp_model.no_sync() if info.distributed and not last_of_window else contextlib.nullcontext()
        with no_sync, oom_hint(batch, run.cfg["batch"]["batch_frames"]):
            with autocast(info.device, run.amp):
                loss, stats = run.ddp_model(feats, batch["feat_lens"], f0, batch["ys"], batch["y_lens"])
            if math.isfinite(stats["loss"]):
                run.meter.add(stats, batch)
            else:   # the whole update is skipped, on every rank, and its gradients dropped; backward
                # still runs so that DDP's gradient all-reduce stays in step across ranks
                bad_window = True
                log.warning("epoch %d batch %d: non-finite loss %s (utterances %s); this update is skipped",
                            p.epoch, p.position, stats["loss"], " ".join(batch["utt_ids"][:5]))
            precision.scaled_backward(loss, accum, run.scaler)
        bar.update(1)
        if not last_of_window:
            continue
        optimizer_update(run, bad_window)
        bad_window = False
        now = time.perf_counter()
        run.train_seconds += now - batch_start
        batch_start = now
        if p.step % t["log_interval"] == 0 or not run.logged:
            run.logged = True
            s = log_window(run)
            bar.set_postfix(loss=f"{s['loss']:.3f}", acc=f"{s['acc']:.3f}")
        if t["save_interval_steps"] and p.step % t["save_interval_steps"] == 0:
            save_state(run)
    bar.close()


def optimizer_update(run: TrainSession, bad_window: bool) -> None:
    """One optimiser update from the accumulated gradients, or none when any rank saw a non-finite loss
    in the window (`bad_window`) or the gradient norm is not finite; counts the step either way."""
    p, info = run.progress, run.info
    skip = distributed.all_reduce([float(bad_window)], info, torch.distributed.ReduceOp.MAX)[0] > 0
    if skip:   # counted alike on every rank: updates skipped because some rank had a non-finite loss
        p.counters["nonfinite_loss"] += 1
        if not bad_window:
            log.warning("update %d skipped: non-finite loss on another rank", p.step + 1)
    run.scaler.unscale_(run.optimizer)
    run.grad_norm = float(torch.nn.utils.clip_grad_norm_(run.params, run.cfg["optim"]["grad_clip"] or float("inf")))
    if not skip and not math.isfinite(run.grad_norm):
        skip = True
        if run.scaler.is_enabled():
            log.info("fp16 gradient overflow at update %d: loss scale lowered", p.step + 1)
        else:
            p.counters["nonfinite_grad"] += 1
            log.warning("epoch %d batch %d: non-finite gradient norm; update skipped (%d so far)",
                        p.epoch, p.position, p.counters["nonfinite_grad"])
    if not skip:
        run.scaler.step(run.optimizer)
        run.scheduler.step()
    run.scaler.update()   # fp16: also after a skipped update, which lowers the loss scale; else a no-op
    run.optimizer.zero_grad(set_to_none=True)
    p.step += 1


def log_window(run: TrainSession) -> dict:
    """One train.log line for the updates since the last one (summed over ranks), with the eta, and the
    same numbers to tensorboard; returns the window's statistics."""
    p, t = run.progress, run.cfg["train"]
    s, seconds = run.meter.take_window(run.info)
    left = (run.batches_per_epoch - p.position) + (t["max_epoch"] - p.epoch) * run.batches_per_epoch
    eta = left * run.train_seconds / max(run.batches_done, 1) + run.valid_seconds * (t["max_epoch"] - p.epoch + 1)
    lr = run.optimizer.param_groups[0]["lr"]
    frames_per_s = s["frames"] / max(seconds, 1e-9)
    log.info("epoch %d/%d batch %d/%d update %d: loss %.3f (ctc %.3f att %.3f) acc %.3f lr %.2e "
             "grad %.2f frames/s %.0f pad %.1f%% elapsed %s eta %s", p.epoch, t["max_epoch"],
             p.position, run.batches_per_epoch, p.step, s["loss"], s["loss_ctc"], s["loss_att"], s["acc"],
             lr, run.grad_norm, frames_per_s, 100 * s["pad"], hms(run.elapsed()), hms(eta))
    if run.writer is not None:
        for k, v in (("loss", s["loss"]), ("loss_ctc", s["loss_ctc"]), ("loss_att", s["loss_att"]),
                     ("acc", s["acc"]), ("lr", lr), ("grad_norm", run.grad_norm),
                     ("frames_per_s", frames_per_s), ("padding", s["pad"])):
            run.writer.add_scalar(f"train/{k}", v, p.step)
    return s


def end_of_epoch(run: TrainSession) -> None:
    """Validate; append the epoch's record to the history and log it; rank 0 writes epoch<N>.pt (+ .json),
    prunes to the train.keep_nbest best, plots the curves and writes the epoch's tensorboard scalars."""
    p, info, b, t = run.progress, run.info, run.cfg["batch"], run.cfg["train"]
    v_start = time.perf_counter()
    train_stats = run.meter.take_epoch(info)
    with run.model.collecting_gate_stats():
        metrics = validate(run.model, run.valid_loader, info, run.tokenizer, run.amp,
                           b["valid_batch_frames"] or b["batch_frames"])
    gates, pitch = run.model.gate_stats(), run.model.pitch_parameters()
    run.valid_seconds = time.perf_counter() - v_start
    record = {"epoch": p.epoch, "step": p.step, "lr": run.optimizer.param_groups[0]["lr"],
              **{f"train.{k}": train_stats[k] for k in ("loss", "loss_ctc", "loss_att", "acc")},
              **metrics, "nonfinite_loss": p.counters["nonfinite_loss"],
              "nonfinite_grad": p.counters["nonfinite_grad"], "ctc_infeasible": train_stats["ctc_infeasible"],
              **peak_memory_mb(info.device)}
    record = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}
    p.history.append(record)
    log.info("epoch %d done: train loss %.3f acc %s | valid loss %.3f (ctc %.3f att %.3f) acc %s cer %s | "
             "updates skipped for non-finite loss %d, gradient %d | memory: %s", p.epoch,
             train_stats["loss"], fmt(record["train.acc"]), metrics["valid.loss"], metrics["valid.loss_ctc"],
             metrics["valid.loss_att"], fmt(metrics["valid.acc"]), fmt(metrics["valid.cer"]),
             p.counters["nonfinite_loss"], p.counters["nonfinite_grad"], memory_summary(record))
    if gates or pitch:
        log.info("gates %s pitch %s", {k: round(v, 4) for k, v in gates.items() if "." not in k},
                 {k: round(v, 4) for k, v in pitch.items()})
    if not info.is_main:
        return
    save_model(run.exp_dir / f"epoch{p.epoch}.pt", run.model.state_dict(), dataclasses.asdict(run.model_cfg),
               record)
    checkpoint.prune_epochs(run.exp_dir, t["best_metric"], t["keep_nbest"], protect=(p.epoch,))
    plot_curves(p.history, run.exp_dir / "images")
    scalars = [(k.replace(".", "/", 1) + "_epoch", v) for k, v in record.items()
               if k.startswith(("valid.", "train.")) and v is not None]
    scalars += [(f"gates/{k}", v) for k, v in gates.items()] + [(f"pitch/{k}", v) for k, v in pitch.items()]
    for k, v in scalars:
        run.writer.add_scalar(k, v, p.step)
    run.writer.flush()


def fmt(x) -> str:
    return "-" if x is None else f"{x:.4f}"
