"""Does training memory stay flat? Trains N epochs on a synthetic dump of varied utterance lengths (so that
every batch has a different shape) and prints, per epoch, the resident memory now (rss_mb, from
/proc/self/statm) and the peak so far (peak_rss_mb, ru_maxrss), as train.py records them in its history,
and whether the last epoch is within --tolerance of epoch 2. Prints JSON.

    tools/venv/bin/python test/bench/bench_memory.py [--epochs 10] [--utts 200] [--frames 50 1500]
        [--env MALLOC_ARENA_MAX=2 ...] [-- extra echo.bin.train options, e.g. --batch.batch_frames 4000]

Each --env runs a separate training with that environment on top of the inherited one less its LD_PRELOAD
and MALLOC_* variables; by default two runs: glibc's malloc (--env '') and jemalloc (--env
LD_PRELOAD=<libjemalloc.so.2>, when installed: tools/install_jemalloc.sh).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "test" / "bench"))

from bench_train import DIGITS, make_dump  # noqa: E402
from echo.text.tokenizer import build_token_list  # noqa: E402

JEMALLOC = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"


def train_memory(tmp: Path, tag: str, epochs: int, env_extra: dict, extra: list[str], threads: int) -> dict:
    exp = tmp / "exp"
    cmd = [sys.executable, "-m", "echo.bin.train", "--train", str(tmp / "train"), "--valid", str(tmp / "valid"),
           "--token-dir", str(tmp / "tok"), "--exp-dir", str(exp), "--tag", tag, "--train.max_epoch", str(epochs),
           "--train.log_interval", "1000", "--ngpu", "0", *extra]
    base = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "LD_PRELOAD"}
    env = {**base, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(ROOT), **env_extra}
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    hist = torch.load(exp / tag / "checkpoint.pt", weights_only=True)["history"]
    malloc = re.search(r"INFO malloc: (\S+)", (exp / tag / "train.log").read_text())
    return {"malloc": malloc.group(1) if malloc else None, "wall_s": round(time.perf_counter() - start, 1),
            "rss_mb": [round(h["rss_mb"]) for h in hist], "peak_rss_mb": [round(h["peak_rss_mb"]) for h in hist]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--utts", type=int, default=200)
    p.add_argument("--frames", type=int, nargs=2, default=(50, 1500), help="utterance lengths, min max")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--tolerance", type=float, default=0.10, help="allowed growth of the last epoch over epoch 2")
    p.add_argument("--env", action="append", default=[], help="KEY=VAL[,KEY=VAL]: one run per --env")
    p.add_argument("extra", nargs="*", help="options passed to echo.bin.train (after --)")
    args = p.parse_args()
    if not args.env:
        args.env = ["", f"LD_PRELOAD={JEMALLOC}"] if Path(JEMALLOC).exists() else [""]
    runs = [dict(kv.split("=", 1) for kv in e.split(",") if kv) for e in args.env]
    out = {"epochs": args.epochs, "utterances": args.utts, "frames": list(args.frames), "threads": args.threads,
           "train_options": args.extra, "torch": torch.__version__, "load_average_before": os.getloadavg()[0],
           "runs": []}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        make_dump(tmp / "train", args.utts, 0, tuple(args.frames))
        make_dump(tmp / "valid", 8, 1, tuple(args.frames))
        build_token_list([" ".join(DIGITS)], "word", tmp / "tok")
        for i, env in enumerate(runs):
            r = train_memory(tmp, f"run{i}", args.epochs, env, args.extra, args.threads)
            growth = {k: round(r[k][-1] / r[k][1] - 1, 3) for k in ("rss_mb", "peak_rss_mb")}
            out["runs"].append({"env": env, **r, "growth_last_over_epoch2": growth,
                                "flat": all(g <= args.tolerance for g in growth.values())})
            print(json.dumps(out["runs"][-1]), file=sys.stderr, flush=True)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
