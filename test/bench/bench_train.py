"""Training cost. Prints JSON.

--mode step (default): the training step of each --encoder (forward + backward + clipping + AdamW, with
the train.amp of --amp on CUDA, TF32 and fused AdamW there: echo/train/precision.py) on synthetic batches,
for the model sizes of --sizes: `default` (EchoConfig defaults, 2.4 M parameters with the transformer)
and `ls100` (ESPnet's LibriSpeech-100 shape: d 256, 4 heads, 12 encoder blocks, 6 decoder blocks, ×4
subsampling with 256 conv channels, 5000 BPE tokens; ~31 M parameters with the transformer). The transformer of each size is the
reference; the other encoders get the same width and depth (and the same decoder) and the encoder
feed-forward width (model.enc_ff_dim) that brings their parameter count closest to it (--equal-params; off: the size's own ff_dim, with conv kernel 31 as in
ESPnet). Each (encoder, size) runs in a fresh process, so peak memory is its own. Reported: parameters,
median step time over --steps steps after --warmup, audio seconds per second of training (10 ms frames),
the process's CPU time per step (on a shared CPU with OMP_NUM_THREADS=1 it is far steadier than
wall time, which other jobs stretch), peak memory (RSS; on CUDA also torch's peak allocation), model TFLOP/s counted by
torch.utils.flop_counter over one step, and on CUDA the model FLOPs utilisation against --peak-tflops
(default by device name and precision).

    OMP_NUM_THREADS=1 tools/venv/bin/python test/bench/bench_train.py --encoder transformer,conformer \
        --device cpu --sizes default,ls100 [--steps 5] [--warmup 2]

--mode processes: the default model trained by echo.bin.train, 1 process × 2 threads against 2 DDP
processes (torchrun, gloo) × 1 thread (and 1 process × 1 thread for reference), in input frames per second,
and peak memory (the first --encoder only):

    tools/venv/bin/python test/bench/bench_train.py --mode processes [--utts 160] [--batch-frames 3200] [--epochs 2]

The data are synthetic (80-dim features, 3-8 words of a digit vocabulary), so only the speed means anything.
In processes mode frames/s is read from train.log (log_interval 1; summed over ranks), first 2 updates of
each run left out as warm-up; the median over updates is reported.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import kaldiio
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from echo.data.datadir import write_kv  # noqa: E402
from echo.features.cmvn import CMVNAccumulator  # noqa: E402
from echo.features.config import FeatureConfig  # noqa: E402
from echo.text.tokenizer import build_token_list  # noqa: E402

DIGITS = "zero one two three four five six seven eight nine oh".split()


def make_dump(d: Path, n: int, seed: int, frames: tuple[int, int] = (100, 300)) -> None:
    """A dump dir of n synthetic utterances, frames[0]..frames[1] frames long (uniform)."""
    rng = np.random.default_rng(seed)
    d.mkdir(parents=True)
    feats, f0, text = {}, {}, {}
    for i in range(n):
        T = int(rng.integers(frames[0], frames[1] + 1))
        utt = f"u{i:05d}"
        feats[utt] = rng.normal(size=(T, 80)).astype(np.float32)
        f0[utt] = np.where(rng.random(T) < 0.7, rng.uniform(90, 250), 0.0).astype(np.float32)
        text[utt] = " ".join(rng.choice(DIGITS, size=int(rng.integers(3, 9))))
    for name, data in (("feats", feats), ("f0", f0)):
        with kaldiio.WriteHelper(f"ark,scp:{d}/{name}.ark,{d}/{name}.scp") as w:
            for k in sorted(data):
                w(k, data[k])
    write_kv(d / "utt2num_frames", {k: str(len(v)) for k, v in feats.items()})
    write_kv(d / "text", text)
    (d / "feats_dim").write_text("80\n")
    FeatureConfig().to_yaml(d / "conf" / "feats.yaml")
    acc = CMVNAccumulator()
    for m in feats.values():
        acc.add(m)
    acc.finish().save(d / "cmvn.npz")


def run(cmd: list[str], threads: int, exp: Path) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    log = (exp / "train.log").read_text()
    rates = [float(m.group(2)) for m in re.finditer(r"update (\d+):.*?frames/s (\d+)", log) if int(m.group(1)) > 2]
    hist = torch.load(exp / "checkpoint.pt", weights_only=True)["history"]
    return {"frames_per_s_median": statistics.median(rates), "frames_per_s_min": min(rates),
            "frames_per_s_max": max(rates), "updates_measured": len(rates), "wall_s": round(wall, 1),
            "peak_rss_mb_rank0": round(max(h["peak_rss_mb"] for h in hist), 1)}


SIZES = {   # model fields, and the synthetic batch: utterances x (shortest, longest) frames
    "default": (dict(), 16, (150, 300)),
    "ls100": (dict(d_model=256, n_heads=4, enc_layers=12, dec_layers=6, ff_dim=2048, conv_channels=0,
                   conv_kernel=31, vocab_size=5000), 8, (600, 1200)),
}
PEAK_TFLOPS = {"h100": {"bf16": 989.0, "fp16": 989.0, "none": 494.0},   # dense, SXM; "none": TF32
               "h200": {"bf16": 989.0, "fp16": 989.0, "none": 494.0},
               "a100": {"bf16": 312.0, "fp16": 312.0, "none": 156.0}}


def model_config(encoder: str, size: str, equal_params: bool):
    from echo.model.echo import EchoConfig, EchoModel

    fields = dict(SIZES[size][0])
    cfg = EchoConfig(encoder=encoder, **fields)
    if encoder == "transformer" or not equal_params:
        return cfg

    def count(c):
        return sum(p.numel() for p in EchoModel(c).parameters())

    def with_ff(ff):
        return EchoConfig(encoder=encoder, **{**fields, "enc_ff_dim": ff})

    # the parameter count is linear in enc_ff_dim: two counts give the width that matches (a multiple of 8)
    target, at8, at16 = count(EchoConfig(**fields)), count(with_ff(8)), count(with_ff(16))
    best = 8 + 8 * round((target - at8) / (at16 - at8))
    if best < 8:
        raise SystemExit(f"{encoder} at size {fields} has more parameters than the transformer at any width")
    return with_ff(best)


def synthetic_batch(cfg, n_utts: int, frames: tuple[int, int], device, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    lens = torch.randint(frames[0], frames[1] + 1, (n_utts,), generator=g)
    T = int(lens.max())
    feats = torch.randn(n_utts, T, cfg.idim, generator=g)
    f0 = torch.where(torch.rand(n_utts, T, generator=g) < 0.7, 150.0, 0.0)
    for b, n in enumerate(lens.tolist()):
        feats[b, n:] = 0.0
        f0[b, n:] = 0.0
    y_lens = (lens // 40).clamp_min(1)     # ~4 tokens a second: CTC-feasible after x4 subsampling
    ys = torch.randint(2, cfg.vocab_size - 1, (n_utts, int(y_lens.max())), generator=g)
    ys = ys.masked_fill(torch.arange(ys.shape[1])[None] >= y_lens[:, None], -1)
    return {k: v.to(device) for k, v in dict(feats=feats, feat_lens=lens, f0=f0, ys=ys, y_lens=y_lens).items()}


def measure_step(encoder: str, size: str, device: str, amp: str, steps: int, warmup: int,
                 equal_params: bool) -> dict:
    """One (encoder, size) in this process: the training step of echo.bin.train, timed."""
    import resource

    from torch.utils.flop_counter import FlopCounterMode

    from echo.model.echo import EchoModel
    from echo.train import precision
    from echo.train.trainer import autocast

    dev = torch.device(device)
    cfg = model_config(encoder, size, equal_params)
    torch.manual_seed(0)
    model = EchoModel(cfg).to(dev).train()
    precision.enable_tf32(dev)
    amp = precision.amp_mode(dev, amp)
    scaler = precision.grad_scaler(dev, amp)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, **precision.adamw_options(dev))
    _, n_utts, frames = SIZES[size]
    batch = synthetic_batch(cfg, n_utts, frames, dev)

    def step():
        with autocast(dev, amp):
            loss, _ = model(batch["feats"], batch["feat_lens"], batch["f0"], batch["ys"], batch["y_lens"])
        precision.scaled_backward(loss, 1, scaler)
        scaler.unscale_(opt)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        scaler.step(opt)
        scaler.update()
        opt.zero_grad(set_to_none=True)

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    for _ in range(warmup):
        step()
    with FlopCounterMode(display=False) as counter:
        step()
    flops = counter.get_total_flops()
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    times, cpu_times = [], []
    for _ in range(steps):
        sync()
        t0, c0 = time.perf_counter(), time.process_time()
        step()
        sync()
        times.append(time.perf_counter() - t0)
        cpu_times.append(time.process_time() - c0)
    step_s = statistics.median(times)
    audio_s = float(batch["feat_lens"].sum()) * 0.01
    out = {"encoder": encoder, "size": size, "device": str(dev), "amp": amp,
           "params_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 2),
           "encoder_params_m": round(sum(p.numel() for p in model.encoder.parameters()) / 1e6, 2),
           "enc_ff_dim": cfg.encoder_ff_dim, "batch": f"{n_utts} utts, {audio_s:.1f} s of audio, {batch['feats'].shape[1]} "
                                          "padded frames",
           "threads": torch.get_num_threads(), "steps": steps, "step_s_median": round(step_s, 4),
           "step_s_min": round(min(times), 4), "step_s_max": round(max(times), 4),
           "step_cpu_s_median": round(statistics.median(cpu_times), 4),
           "audio_s_per_s": round(audio_s / step_s, 1), "model_tflop_per_step": round(flops / 1e12, 4),
           "model_tflops": round(flops / step_s / 1e12, 4),
           "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    if dev.type == "cuda":
        name = torch.cuda.get_device_name(dev)
        out["gpu"] = name
        out["peak_gpu_mb"] = round(torch.cuda.max_memory_allocated(dev) / 2**20, 1)
        peak = next((v[amp] for k, v in PEAK_TFLOPS.items() if k in name.lower()), None)
        peak = float(os.environ.get("PEAK_TFLOPS", 0)) or peak
        if peak:
            out["peak_tflops"] = peak
            out["mfu"] = round(flops / step_s / 1e12 / peak, 4)
    return out


def step_mode(args) -> None:
    results = []
    for size in args.sizes.split(","):
        for encoder in args.encoder.split(","):
            cmd = [sys.executable, __file__, "--one", encoder, size, "--device", args.device, "--amp", args.amp,
                   "--steps", str(args.steps), "--warmup", str(args.warmup)]
            if not args.equal_params:
                cmd.append("--no-equal-params")
            proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
            if proc.returncode:
                raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
            results.append(json.loads(proc.stdout))
    ratios = {}
    for r in results:
        ref = next((x for x in results if x["size"] == r["size"] and x["encoder"] == "transformer"), None)
        if ref and r is not ref:
            ratios[f"{r['encoder']}/transformer {r['size']}"] = {
                "step_time": round(r["step_s_median"] / ref["step_s_median"], 2),
                "step_cpu_time": round(r["step_cpu_s_median"] / ref["step_cpu_s_median"], 2),
                "params": round(r["params_m"] / ref["params_m"], 3),
                "model_flop": round(r["model_tflop_per_step"] / ref["model_tflop_per_step"], 2)}
    print(json.dumps({"torch": torch.__version__, "cpus": os.cpu_count(),
                      "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
                      "load_average_before": round(os.getloadavg()[0], 2), "results": results,
                      "cost_ratios": ratios}, indent=2))


def processes_mode(args) -> None:
    encoder = args.encoder.split(",")[0]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        make_dump(tmp / "train", args.utts, 0)
        make_dump(tmp / "valid", 4, 1)
        build_token_list([" ".join(DIGITS)], "word", tmp / "tok")
        common = ["--train", str(tmp / "train"), "--valid", str(tmp / "valid"), "--token-dir", str(tmp / "tok"),
                  "--exp-dir", str(tmp / "exp"), "--batch.batch_frames", str(args.batch_frames),
                  "--train.max_epoch", str(args.epochs), "--train.log_interval", "1", "--ngpu", "0",
                  "--model.encoder", encoder]
        load_before = os.getloadavg()[0]
        single = run([sys.executable, "-m", "echo.bin.train", *common, "--tag", "single"], 2, tmp / "exp" / "single")
        single1 = run([sys.executable, "-m", "echo.bin.train", *common, "--tag", "single1"], 1,
                      tmp / "exp" / "single1")
        ddp = run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                   "-m", "echo.bin.train", *common, "--tag", "ddp"], 1, tmp / "exp" / "ddp")
    print(json.dumps({"model": f"EchoConfig defaults, encoder {encoder}", "utterances": args.utts,
                      "batch_frames": args.batch_frames,
                      "epochs": args.epochs, "torch": torch.__version__, "cpus": os.cpu_count(),
                      "load_average_before": round(load_before, 2),
                      "1_process_x_2_threads": single, "1_process_x_1_thread": single1,
                      "2_ddp_processes_x_1_thread": ddp}, indent=2))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mode", choices=("step", "processes"), default="step")
    p.add_argument("--encoder", default="transformer,conformer", help="comma-separated encoders")
    p.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N")
    p.add_argument("--sizes", default="default,ls100", help=f"comma-separated, of {', '.join(SIZES)}")
    p.add_argument("--amp", default="bf16", choices=("none", "bf16", "fp16"), help="on CUDA (default bf16)")
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--no-equal-params", dest="equal_params", action="store_false")
    p.add_argument("--one", nargs=2, metavar=("ENCODER", "SIZE"), help=argparse.SUPPRESS)
    p.add_argument("--utts", type=int, default=160)
    p.add_argument("--batch-frames", type=int, default=3200)
    p.add_argument("--epochs", type=int, default=2)
    args = p.parse_args()
    if args.one:
        print(json.dumps(measure_step(*args.one, args.device, args.amp, args.steps, args.warmup, args.equal_params)))
    elif args.mode == "step":
        step_mode(args)
    else:
        processes_mode(args)


if __name__ == "__main__":
    main()
