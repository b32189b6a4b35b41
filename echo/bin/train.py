"""Train an Echo model (stage 3 of egs/TEMPLATE/asr.sh).

One process, on CPU (--ngpu 0) or one GPU (--ngpu 1):
    python -m echo.bin.train --config conf/train.yaml --train dump/train --valid dump/dev \\
        --token-dir data/token_list/bpe30 --tag mytag --exp-dir exp --ngpu 1

N GPUs of one machine, DDP with one process per GPU (NCCL); on CPU with --ngpu 0 the same runs gloo:
    torchrun --standalone --nproc_per_node N -m echo.bin.train <the same options> --ngpu N

M machines of N GPUs each: the same command on every node, r = 0 .. M-1 (r = 0 on `host`):
    torchrun --nnodes M --node_rank r --nproc_per_node N --rdzv_backend c10d --rdzv_id mytag \\
        --rdzv_endpoint host:29400 -m echo.bin.train <the same options> --ngpu N

Config: a YAML file of sections (model, optim, batch, train, specaug, augment: see echo/train/config.py or
--print-config); any field can be overridden as --<section>.<field> VALUE, e.g. --model.enc_layers 6
--optim.lr 2e-3 --train.max_epoch 50. Unknown keys are errors. The experiment directory is
<exp-dir>/<tag>, never derived from the options; the resolved config is saved there as config.yaml.

Resume: re-run the same command. It continues from <exp-dir>/<tag>/checkpoint.pt, mid-epoch included
(written each epoch and every train.save_interval_steps updates); raise --train.max_epoch to train
longer. A run killed at any point and resumed ends with the weights of an uninterrupted one.

Writes to <exp-dir>/<tag>/: config.yaml, train.log, checkpoint.pt, epoch<N>.pt + epoch<N>.json (the
keep_nbest best by best_metric, and the latest), valid.<metric>.ave_<n>best.pt, tensorboard/, images/,
and copies of token_list/, feats.yaml and cmvn.npz with their content hashes (assets.json, echo.io.assets),
so that decoding needs neither data/ nor dump/. A rerun with other assets is refused (name a new --tag, or
--force to discard the experiment); a rerun of a finished experiment writes nothing.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import math
import random
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel as DDP
from tqdm import tqdm

from echo.data.dataset import EchoDataset, collate
from echo.data.onthefly import training_dataset
from echo.io import atomic
from echo.io.assets import AssetsChanged, DumpIncomplete, check_training_dump, discard_experiment, install_assets
from echo.model.echo import EchoConfig, EchoModel, save_model
from echo.plot.curves import plot_curves
from echo.text.tokenizer import Tokenizer
from echo.train import checkpoint, config, distributed, precision
from echo.train.checkpoint import save_checkpoint
from echo.train.sampler import BucketBatchSampler
from echo.train.schedule import build_scheduler
from echo.train.specaug import SpecAugConfig, spec_augment
from echo.train.trainer import (Meter, autocast, close_logging, hms, log, malloc_in_use, memory_summary, move,
                                oom_hint, peak_memory_mb, setup_logging, unused_parameters, validate)


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m echo.bin.train", description=__doc__, allow_abbrev=False,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", help="training config YAML (sections model, optim, batch, train, specaug, augment)")
    p.add_argument("--train", help="training dump dir (dump/<train_set>, with cmvn.npz and conf/feats.yaml)")
    p.add_argument("--valid", help="validation dump dir")
    p.add_argument("--token-dir", help="token list dir (tokens.txt [, bpe.model])")
    p.add_argument("--tag", help="experiment name: everything is written to <exp-dir>/<tag>")
    p.add_argument("--exp-dir", default="exp", help="parent of experiment dirs (default: exp)")
    p.add_argument("--ngpu", type=int, default=0, help="GPUs per node; 0 trains on CPU (default: 0)")
    p.add_argument("--num-workers", type=int, default=0, help="data-loading processes (default: 0)")
    p.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    p.add_argument("--force", action="store_true",
                   help="discard <exp-dir>/<tag> (checkpoints, assets, logs) and train again from scratch")
    config.add_override_options(p, EchoConfig)
    args = p.parse_args(argv)
    try:
        cfg = config.resolve(args.config, config.overrides_from_args(args), EchoConfig)
        EchoConfig(**cfg["model"])   # the model's own checks, before any work (idim, vocab_size: defaults)
    except (config.ConfigError, ValueError) as e:
        p.error(str(e))
    if not args.print_config:
        missing = [f"--{k.replace('_', '-')}" for k in ("train", "valid", "token_dir", "tag") if not getattr(args, k)]
        if missing:
            p.error(f"the following arguments are required: {', '.join(missing)}")
    return args, cfg


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def feat_dim(dump_dir: Path, dataset: EchoDataset) -> int:
    f = dump_dir / "feats_dim"
    return int(f.read_text().split()[0]) if f.is_file() else int(dataset[0]["feats"].shape[1])


def gather_rank_states(state: dict, info) -> list:
    """Every rank's `state` (its RNG states and running sums), in rank order, on every rank."""
    if not info.distributed:
        return [state]
    out = [None] * info.world_size
    torch.distributed.all_gather_object(out, state)
    return out


def main(argv=None):
    """Train; returns the trained EchoModel (None with --print-config)."""
    args, cfg = parse_args(argv)
    if args.print_config:
        print(config.dump(cfg), end="")
        return None
    info = distributed.setup(args.ngpu)
    try:
        return train(args, cfg, info, argv if argv is not None else sys.argv[1:])
    except (AssetsChanged, DumpIncomplete, atomic.CorruptFileError) as e:
        raise SystemExit(f"echo.bin.train: {e}") from None   # what is wrong and what to do; no traceback
    finally:
        distributed.cleanup()
        close_logging()


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


def load_checkpoint(path: Path) -> dict:
    try:
        return checkpoint.load(path)
    except atomic.CorruptFileError as e:
        raise atomic.CorruptFileError(f"{e}. Cannot resume from it: restore it from a copy, or start again "
                                      f"with another --tag (or --force to discard {path.parent})") from None


def train(args, cfg: dict, info, argv) -> EchoModel:
    o, b, t = cfg["optim"], cfg["batch"], cfg["train"]
    exp_dir = Path(args.exp_dir) / args.tag
    train_dump, token_dir = Path(args.train), Path(args.token_dir)
    if args.force and info.is_main:
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
    log.info("python -m echo.bin.train %s", " ".join(shlex.quote(a) for a in argv))
    log.info("device %s, %d process(es), torch %s, %d threads", info.device, info.world_size,
             torch.__version__, torch.get_num_threads())
    log.info("malloc: %s", malloc_in_use())
    set_seed(t["seed"])   # the same on every rank: identical initial weights

    # ---- data and model
    tokenizer = Tokenizer.load(token_dir)
    # dumped features, or (augment.enabled) features made on the fly from augmented audio
    train_set = training_dataset(train_dump, tokenizer, train_dump / "cmvn.npz", cfg["augment"], t["seed"])
    if cfg["augment"]["enabled"]:
        log.info("train: features computed on the fly from augmented audio (augment: %s), %d loader worker(s)",
                 {k: v for k, v in cfg["augment"].items() if k != "enabled"}, args.num_workers)
    valid_set = EchoDataset(args.valid, tokenizer, cmvn=train_dump / "cmvn.npz")
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
    loader_kw = dict(collate_fn=collate, num_workers=args.num_workers, pin_memory=info.device.type == "cuda",
                     generator=torch.Generator().manual_seed(t["seed"]))   # never draws from the global RNG
    train_loader = torch.utils.data.DataLoader(train_set, batch_sampler=train_sampler, **loader_kw)
    valid_loader = torch.utils.data.DataLoader(valid_set, batch_sampler=valid_sampler, **loader_kw)

    # ---- optimiser: AdamW, no weight decay on biases and norms (nanoGPT's split)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        [{"params": [p for p in params if p.dim() >= 2], "weight_decay": o["weight_decay"]},
         {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}],
        lr=o["lr"], betas=tuple(o["betas"]), eps=o["eps"], **precision.adamw_options(info.device))
    batches_per_epoch = len(train_sampler)
    accum = o["accum_grad"]
    total_updates = math.ceil(batches_per_epoch / accum) * t["max_epoch"]
    scheduler = build_scheduler(optimizer, o["scheduler"], o["warmup_steps"], total_updates, o["min_lr_ratio"])
    amp = precision.amp_mode(info.device, t["amp"])
    scaler = precision.grad_scaler(info.device, amp)
    specaug = SpecAugConfig(**cfg["specaug"])

    # ---- resume
    epoch, position, step, history, elapsed_before = 1, 0, 0, [], 0.0
    counters = {"nonfinite_loss": 0, "nonfinite_grad": 0}
    meter = Meter()
    ckpt_path = exp_dir / "checkpoint.pt"
    rank_state = None
    if ckpt_path.is_file():
        ck = load_checkpoint(ckpt_path)
        try:
            model.load_state_dict(ck["model"])
        except RuntimeError as e:
            changed = [k for k in config.diff(ck["train_config"], cfg) if k.startswith("model.")]
            raise RuntimeError(f"{ckpt_path}: its model does not fit the config (changed: {', '.join(changed)}"
                               f" or the data's idim/vocab_size); use another --tag for a new model") from e
        optimizer.load_state_dict(ck["optimizer"])
        scheduler.load_state_dict(ck["scheduler"])
        scheduler.lr_lambdas[0].total_steps = total_updates   # a raised max_epoch stretches cosine decay
        precision.load_scaler_state(scaler, ck["scaler"])
        epoch, position, step = ck["epoch"], ck["position"], ck["step"]
        history, counters, elapsed_before = ck["history"], ck["counters"], ck["elapsed"]
        changed = [k for k in config.diff(ck["train_config"], cfg) if k != "train.max_epoch"]
        if changed:
            log.warning("config changed since %s was written: %s (the new values apply)", ckpt_path,
                        ", ".join(changed))
        if ck["world_size"] == info.world_size and ck["batches_per_epoch"] == batches_per_epoch:
            rank_state = ck["rank_states"][info.rank]
        else:
            log.warning("%s was written by %d process(es) with %d batches per epoch, now %d and %d: "
                        "epoch %d restarts from its first batch", ckpt_path, ck["world_size"],
                        ck["batches_per_epoch"], info.world_size, batches_per_epoch, epoch)
            position = 0
        log.info("resumed from %s: epoch %d, batch %d/%d, update %d", ckpt_path, epoch, position,
                 batches_per_epoch, step)
    if info.is_main:
        header = f"# python -m echo.bin.train {' '.join(shlex.quote(a) for a in argv)}\n"
        atomic.write_text(exp_dir / "config.yaml", header + config.dump(cfg))
    if epoch > t["max_epoch"]:
        log.info("already trained for %d epochs (train.max_epoch %d): raise --train.max_epoch to go on",
                 epoch - 1, t["max_epoch"])
    if t["nbest_average"] > t["keep_nbest"]:
        log.warning("train.nbest_average %d > train.keep_nbest %d: only the kept epochs can be averaged",
                    t["nbest_average"], t["keep_nbest"])

    ddp_model = model
    if info.distributed:
        probe = move(collate([train_set[i] for i in train_sampler.rank_batches(1)[0]]), info.device)
        unused = unused_parameters(model, probe)
        if unused:
            log.info("%d parameters get no gradient (DDP told so): %s%s", len(unused), ", ".join(unused[:5]),
                     " ..." if len(unused) > 5 else "")
        ddp_model = DDP(model, device_ids=[info.device.index] if info.device.type == "cuda" else None,
                        find_unused_parameters=bool(unused))
    ddp_model = precision.maybe_compile(ddp_model, t["compile"])
    set_seed(t["seed"] + info.rank)   # dropout and SpecAugment differ between ranks
    if rank_state is not None:
        checkpoint.set_rng_state(rank_state["rng"])
        meter.epoch = rank_state["meter"]

    def save_state(path):
        """checkpoint.pt: a collective call (RNG states come from every rank); rank 0 writes."""
        states = gather_rank_states({"rng": checkpoint.rng_state(), "meter": dict(meter.epoch)}, info)
        if info.is_main:
            save_checkpoint(path, {
                "model": model.state_dict(), "config": dataclasses.asdict(model_cfg), "train_config": cfg,
                "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "scaler": scaler.state_dict(), "epoch": epoch, "position": position, "step": step,
                "batches_per_epoch": batches_per_epoch, "world_size": info.world_size, "rank_states": states,
                "history": history, "counters": counters, "elapsed": elapsed_before + time.time() - t0})

    writer = None
    if info.is_main:
        from torch.utils.tensorboard import SummaryWriter
        writer = SummaryWriter(str(exp_dir / "tensorboard"))
    t0 = time.time()
    train_seconds, batches_done, valid_seconds = 0.0, 0, 0.0
    bad_window, grad_norm, logged = False, float("nan"), False

    # ---- the loop
    model.train()
    while epoch <= t["max_epoch"]:
        train_sampler.set_epoch(epoch, position)
        if hasattr(train_set, "set_epoch"):   # augmentation draws from (seed, epoch, utterance index)
            train_set.set_epoch(epoch)
        bar = tqdm(total=batches_per_epoch, initial=position, desc=f"epoch {epoch}", unit="batch",
                   disable=not (info.is_main and sys.stderr.isatty()), dynamic_ncols=True, leave=False)
        meter.window_start = batch_start = time.perf_counter()
        for batch in train_loader:
            batch = move(batch, info.device)
            position += 1
            batches_done += 1
            feats, f0 = spec_augment(batch["feats"], batch["feat_lens"], batch["f0"], specaug)
            last_of_window = position % accum == 0 or position == batches_per_epoch
            no_sync = ddp_model.no_sync() if info.distributed and not last_of_window else contextlib.nullcontext()
            with no_sync, oom_hint(batch, b["batch_frames"]):
                with autocast(info.device, amp):
                    loss, stats = ddp_model(feats, batch["feat_lens"], f0, batch["ys"], batch["y_lens"])
                if math.isfinite(stats["loss"]):
                    meter.add(stats, batch)
                else:   # the whole update is skipped below, on every rank, and its gradients dropped;
                    # backward still runs so that DDP's gradient all-reduce stays in step across ranks
                    bad_window = True
                    log.warning("epoch %d batch %d: non-finite loss %s (utterances %s); this update is skipped",
                                epoch, position, stats["loss"], " ".join(batch["utt_ids"][:5]))
                precision.scaled_backward(loss, accum, scaler)
            bar.update(1)
            if not last_of_window:
                continue

            # one optimiser update, or none when any rank saw a non-finite loss or gradient
            skip = distributed.all_reduce([float(bad_window)], info, torch.distributed.ReduceOp.MAX)[0] > 0
            if skip:   # counted alike on every rank: updates skipped because some rank had a non-finite loss
                counters["nonfinite_loss"] += 1
                if not bad_window:
                    log.warning("update %d skipped: non-finite loss on another rank", step + 1)
            scaler.unscale_(optimizer)
            grad_norm = float(torch.nn.utils.clip_grad_norm_(params, o["grad_clip"] or float("inf")))
            if not skip and not math.isfinite(grad_norm):
                skip = True
                if scaler.is_enabled():
                    log.info("fp16 gradient overflow at update %d: loss scale lowered", step + 1)
                else:
                    counters["nonfinite_grad"] += 1
                    log.warning("epoch %d batch %d: non-finite gradient norm; update skipped (%d so far)",
                                epoch, position, counters["nonfinite_grad"])
            if not skip:
                scaler.step(optimizer)
                scheduler.step()
            scaler.update()   # fp16: also after a skipped update, which lowers the loss scale; else a no-op
            optimizer.zero_grad(set_to_none=True)
            bad_window = False
            step += 1
            now = time.perf_counter()
            train_seconds += now - batch_start
            batch_start = now

            if step % t["log_interval"] == 0 or not logged:   # the first line comes after one update
                logged = True
                s, seconds = meter.take_window(info)
                left = (batches_per_epoch - position) + (t["max_epoch"] - epoch) * batches_per_epoch
                eta = left * train_seconds / max(batches_done, 1) + valid_seconds * (t["max_epoch"] - epoch + 1)
                lr = optimizer.param_groups[0]["lr"]
                log.info("epoch %d/%d batch %d/%d update %d: loss %.3f (ctc %.3f att %.3f) acc %.3f lr %.2e "
                         "grad %.2f frames/s %.0f pad %.1f%% elapsed %s eta %s", epoch, t["max_epoch"],
                         position, batches_per_epoch, step, s["loss"], s["loss_ctc"], s["loss_att"], s["acc"],
                         lr, grad_norm, s["frames"] / max(seconds, 1e-9), 100 * s["pad"],
                         hms(elapsed_before + time.time() - t0), hms(eta))
                bar.set_postfix(loss=f"{s['loss']:.3f}", acc=f"{s['acc']:.3f}")
                if writer is not None:
                    for k, v in (("loss", s["loss"]), ("loss_ctc", s["loss_ctc"]), ("loss_att", s["loss_att"]),
                                 ("acc", s["acc"]), ("lr", lr), ("grad_norm", grad_norm),
                                 ("frames_per_s", s["frames"] / max(seconds, 1e-9)), ("padding", s["pad"])):
                        writer.add_scalar(f"train/{k}", v, step)
            if t["save_interval_steps"] and step % t["save_interval_steps"] == 0:
                save_state(ckpt_path)
        bar.close()

        # ---- end of epoch: validate, keep the n best, plot, checkpoint
        v_start = time.perf_counter()
        train_stats = meter.take_epoch(info)
        with model.collecting_gate_stats():
            metrics = validate(model, valid_loader, info, tokenizer, amp, b["valid_batch_frames"] or b["batch_frames"])
        gates, pitch = model.gate_stats(), model.pitch_parameters()
        valid_seconds = time.perf_counter() - v_start
        record = {"epoch": epoch, "step": step, "lr": optimizer.param_groups[0]["lr"],
                  **{f"train.{k}": train_stats[k] for k in ("loss", "loss_ctc", "loss_att", "acc")},
                  **metrics, "nonfinite_loss": counters["nonfinite_loss"],
                  "nonfinite_grad": counters["nonfinite_grad"], "ctc_infeasible": train_stats["ctc_infeasible"],
                  **peak_memory_mb(info.device)}
        record = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}
        history.append(record)
        log.info("epoch %d done: train loss %.3f acc %s | valid loss %.3f (ctc %.3f att %.3f) acc %s cer %s | "
                 "updates skipped for non-finite loss %d, gradient %d | memory: %s", epoch,
                 train_stats["loss"], fmt(record["train.acc"]), metrics["valid.loss"], metrics["valid.loss_ctc"],
                 metrics["valid.loss_att"], fmt(metrics["valid.acc"]), fmt(metrics["valid.cer"]),
                 counters["nonfinite_loss"], counters["nonfinite_grad"],
                 memory_summary(record))
        if gates or pitch:
            log.info("gates %s pitch %s", {k: round(v, 4) for k, v in gates.items() if "." not in k},
                     {k: round(v, 4) for k, v in pitch.items()})
        if info.is_main:
            save_model(exp_dir / f"epoch{epoch}.pt", model.state_dict(), dataclasses.asdict(model_cfg),
                                  record)
            checkpoint.prune_epochs(exp_dir, t["best_metric"], t["keep_nbest"], protect=(epoch,))
            plot_curves(history, exp_dir / "images")
            for k, v in record.items():
                if k.startswith(("valid.", "train.")) and v is not None:
                    writer.add_scalar(k.replace(".", "/", 1) + "_epoch", v, step)
            for k, v in gates.items():
                writer.add_scalar(f"gates/{k}", v, step)
            for k, v in pitch.items():
                writer.add_scalar(f"pitch/{k}", v, step)
            writer.flush()
        epoch, position = epoch + 1, 0
        save_state(ckpt_path)

    if info.is_main:
        if t["nbest_average"] > 0:
            out = checkpoint.average_nbest(exp_dir, t["best_metric"], t["nbest_average"])
            log.info("averaged the best epochs by %s into %s", t["best_metric"], out)
        writer.close()
        log.info("done: %d epochs, %d updates, %d skipped for non-finite loss, %d for non-finite gradient",
                 epoch - 1, step, counters["nonfinite_loss"], counters["nonfinite_grad"])
    return model.eval()


def fmt(x) -> str:
    return "-" if x is None else f"{x:.4f}"


if __name__ == "__main__":
    main()
