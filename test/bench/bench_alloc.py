"""Which malloc suits training? Runs training steps (forward, backward, AdamW, over batches of varied shapes as
echo.bin.train's sampler makes them from a synthetic dump) in a child process per allocator setting,
interleaved and repeated (this machine is shared and noisy: compare within one run of this script), and prints,
per setting and model size, the median seconds per step, the minor page faults per step and per second and the
share of CPU time spent in the kernel (over the measured steps only), and the peak and final RSS. Prints JSON.

    tools/venv/bin/python test/bench/bench_alloc.py [--sizes default,espnet] [--repeats 2] [--steps 12]
        [--settings glibc,glibc_nomap,glibc_mmap4m,jemalloc]

Sizes: `default` is EchoConfig's model (2.4 M); `espnet` is ESPnet2's small transformer (9.75 M parameters:
d 256, 4 heads, 6 encoder and 3 decoder blocks, ff 1024, 256-channel conv subsampling). Settings: see
SETTINGS; jemalloc and tcmalloc are skipped (with a note) when their library is not installed
(tools/install_jemalloc.sh installs jemalloc).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
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
TCMALLOC = "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4"
SETTINGS = {
    "glibc": {},
    "glibc_nomap": {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": str(16 << 30)},
    "glibc_arena2": {"MALLOC_ARENA_MAX": "2"},
    "glibc_mmap4m": {"MALLOC_MMAP_THRESHOLD_": str(4 << 20)},   # fixed: no dynamic raise up to 32 MiB
    "glibc_pad": {"MALLOC_MMAP_THRESHOLD_": str(4 << 20), "MALLOC_TOP_PAD_": str(64 << 20),
                  "MALLOC_TRIM_THRESHOLD_": str(256 << 20)},
    "jemalloc": {"LD_PRELOAD": JEMALLOC},
    # jemalloc gives blocks over oversize_threshold (8 MiB) an arena of their own that purges at once (each
    # step's large activations fault in anew); 0 keeps them in the ordinary arenas, purged after their decay
    # time by a background thread
    "jemalloc_keep": {"LD_PRELOAD": JEMALLOC, "MALLOC_CONF": "oversize_threshold:0,background_thread:true"},
    # freed pages are never given back: few faults, but over whole epochs RSS grows (synth_digits 749 -> 928 ->
    # 1204 MiB in epochs 1-3), as glibc's heap does
    "jemalloc_retain": {"LD_PRELOAD": JEMALLOC,
                        "MALLOC_CONF": "oversize_threshold:0,dirty_decay_ms:-1,muzzy_decay_ms:-1"},
    "jemalloc_60s": {"LD_PRELOAD": JEMALLOC,
                     "MALLOC_CONF": "oversize_threshold:0,background_thread:true,dirty_decay_ms:60000"},
    "tcmalloc": {"LD_PRELOAD": TCMALLOC},
}
SIZES = {   # EchoConfig fields
    "default": {},
    "espnet": dict(d_model=256, n_heads=4, enc_layers=6, dec_layers=3, ff_dim=1024, conv_channels=256),
}


def worker(args) -> None:
    """In the child: the training steps themselves (forward, backward, AdamW) over batches of varied shapes as
    echo.bin.train's sampler makes them; prints one JSON line. Only the steps after the warm-up are measured."""
    from echo.data.dataset import EchoDataset, collate
    from echo.model.echo import EchoConfig, EchoModel
    from echo.text.tokenizer import Tokenizer
    from echo.train.sampler import BucketBatchSampler
    from echo.train.trainer import current_rss_mb, malloc_in_use

    torch.manual_seed(0)
    tok = Tokenizer.load(args.data / "tok")
    ds = EchoDataset(args.data / "train", tok, cmvn=args.data / "train" / "cmvn.npz")
    model = EchoModel(EchoConfig(vocab_size=tok.vocab_size, **SIZES[args.size]))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    sampler = BucketBatchSampler(ds.num_frames, args.batch_frames, num_tokens=ds.num_tokens, shuffle=True, seed=0)
    sampler.set_epoch(1, 0)
    batches = [collate([ds[i] for i in b]) for b in sampler]
    times, rss = [], []
    for n in range(args.warmup + args.steps):
        if n == args.warmup:
            before = resource.getrusage(resource.RUSAGE_SELF)
        batch = batches[n % len(batches)]
        t = time.perf_counter()
        loss, _ = model(batch["feats"], batch["feat_lens"], batch["f0"], batch["ys"], batch["y_lens"])
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - t)
        rss.append(current_rss_mb())
    after = resource.getrusage(resource.RUSAGE_SELF)
    utime, stime = after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime
    measured = times[args.warmup:]
    print(json.dumps({
        "malloc": malloc_in_use(), "params_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 2),
        "s_per_step": statistics.median(measured),
        "minflt_per_step": (after.ru_minflt - before.ru_minflt) / len(measured),
        "minflt_per_s": (after.ru_minflt - before.ru_minflt) / sum(measured),
        "kernel_cpu_share": stime / max(utime + stime, 1e-9), "peak_rss_mb": after.ru_maxrss / 1024,
        "rss_mb_after_warmup": rss[args.warmup - 1], "rss_mb_end": rss[-1]}))


def run_child(tmp: Path, size: str, setting: str, args) -> dict:
    # inherited MALLOC_*/LD_PRELOAD (e.g. from path.sh) would blur the comparison
    base = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "LD_PRELOAD"}
    env = {**base, "OMP_NUM_THREADS": str(args.threads), "PYTHONPATH": str(ROOT), **SETTINGS[setting]}
    cmd = [sys.executable, __file__, "--worker", "--data", str(tmp), "--size", size, "--steps", str(args.steps),
           "--warmup", str(args.warmup), "--batch-frames", str(args.batch_frames)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode:
        raise SystemExit(f"{setting}: {' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    wanted = "glibc" if "LD_PRELOAD" not in SETTINGS[setting] else setting.split("_")[0]
    if out["malloc"] != wanted:
        raise SystemExit(f"{setting}: the child ran on {out['malloc']}, not {wanted}")
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="default,espnet")
    p.add_argument("--settings", default="glibc,glibc_nomap,jemalloc,jemalloc_keep")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--utts", type=int, default=80)
    p.add_argument("--frames", type=int, nargs=2, default=(100, 600), help="utterance lengths, min max")
    p.add_argument("--batch-frames", type=int, default=4000)
    p.add_argument("--steps", type=int, default=12, help="measured training steps per run")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--size", help=argparse.SUPPRESS)
    p.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        return worker(args)
    settings, notes = [], []
    for s in args.settings.split(","):
        lib = SETTINGS[s].get("LD_PRELOAD")
        if lib and not Path(lib).exists():
            notes.append(f"{s} skipped: {lib} not installed")
        else:
            settings.append(s)
    sizes = args.sizes.split(",")
    runs: dict = {(z, s): [] for z in sizes for s in settings}
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        make_dump(tmp / "train", args.utts, 0, tuple(args.frames))
        make_dump(tmp / "valid", 4, 1, tuple(args.frames))
        build_token_list([" ".join(DIGITS)], "word", tmp / "tok")
        for r in range(args.repeats):   # interleaved: slow drifts of the machine's load hit every setting alike
            for z in sizes:
                for s in settings:
                    out = run_child(tmp, z, s, args)
                    runs[(z, s)].append(out)
                    print(json.dumps({"size": z, "setting": s, "repeat": r, **out}), file=sys.stderr, flush=True)
    result = {"utterances": args.utts, "frames": list(args.frames), "batch_frames": args.batch_frames,
              "steps": args.steps, "warmup": args.warmup, "threads": args.threads, "repeats": args.repeats,
              "torch": torch.__version__,
              "load_average_before": round(load_before, 2), "load_average_after": round(os.getloadavg()[0], 2),
              "settings": {s: SETTINGS[s] for s in settings}, "notes": notes, "results": {}}
    for z in sizes:
        base = statistics.median(o["s_per_step"] for o in runs[(z, "glibc")]) if "glibc" in settings else None
        for s in settings:
            rs = runs[(z, s)]
            step = statistics.median(o["s_per_step"] for o in rs)
            result["results"][f"{z}/{s}"] = {
                "params_m": rs[0]["params_m"], "s_per_step": round(step, 3),
                "speed_vs_glibc": round(base / step, 3) if base else None,
                "minflt_per_s": round(statistics.median(o["minflt_per_s"] for o in rs)),
                "minflt_per_step": round(statistics.median(o["minflt_per_step"] for o in rs)),
                "kernel_cpu_share": round(statistics.median(o["kernel_cpu_share"] for o in rs), 3),
                "peak_rss_mb": round(max(o["peak_rss_mb"] for o in rs)),
                "rss_mb_end": round(max(o["rss_mb_end"] for o in rs)),
                "s_per_step_each": [round(o["s_per_step"], 3) for o in rs]}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
