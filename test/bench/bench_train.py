"""Training throughput of the default model on this machine: 1 process × 2 threads against 2 DDP processes
(torchrun, gloo) × 1 thread (and 1 process × 1 thread for reference), in input frames per second, and
peak memory. Prints JSON.

    tools/venv/bin/python test/bench/bench_train.py [--utts 160] [--batch-frames 3200] [--epochs 2]

The data are synthetic (80-dim features, 1-3 s utterances, 3-8 words of a digit vocabulary), so only the
speed means anything. frames/s is read from train.log (log_interval 1; summed over ranks), first 2
updates of each run left out as warm-up; the median over updates is reported.
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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--utts", type=int, default=160)
    p.add_argument("--batch-frames", type=int, default=3200)
    p.add_argument("--epochs", type=int, default=2)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        make_dump(tmp / "train", args.utts, 0)
        make_dump(tmp / "valid", 4, 1)
        build_token_list([" ".join(DIGITS)], "word", tmp / "tok")
        common = ["--train", str(tmp / "train"), "--valid", str(tmp / "valid"), "--token-dir", str(tmp / "tok"),
                  "--exp-dir", str(tmp / "exp"), "--batch.batch_frames", str(args.batch_frames),
                  "--train.max_epoch", str(args.epochs), "--train.log_interval", "1", "--ngpu", "0"]
        load_before = os.getloadavg()[0]
        single = run([sys.executable, "-m", "echo.bin.train", *common, "--tag", "single"], 2, tmp / "exp" / "single")
        single1 = run([sys.executable, "-m", "echo.bin.train", *common, "--tag", "single1"], 1,
                      tmp / "exp" / "single1")
        ddp = run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                   "-m", "echo.bin.train", *common, "--tag", "ddp"], 1, tmp / "exp" / "ddp")
    print(json.dumps({"model": "EchoConfig defaults", "utterances": args.utts, "batch_frames": args.batch_frames,
                      "epochs": args.epochs, "torch": torch.__version__, "cpus": os.cpu_count(),
                      "load_average_before": round(load_before, 2),
                      "1_process_x_2_threads": single, "1_process_x_1_thread": single1,
                      "2_ddp_processes_x_1_thread": ddp}, indent=2))


if __name__ == "__main__":
    main()
