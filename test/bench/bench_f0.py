"""F0 accuracy and speed of every f0_method on speech whose F0 is known exactly.

    OMP_NUM_THREADS=1 PYTHONPATH=$PWD tools/venv/bin/python test/bench/bench_f0.py [--utts 60] [--seed 0]

Truth by construction: FSDD recordings (../shared/data/fsdd, resampled to 16 kHz) are analysed with the
WORLD vocoder (pyworld: Harvest F0, CheapTrick envelope, D4C aperiodicity) and resynthesised from a
contour we choose: on the frames WORLD found voiced, a smooth contour around a random per-utterance base
(70-300 Hz, covering low male to child voices) with a random glide (+-30 %) and 5 Hz vibrato (+-3 %); 0
elsewhere. So the F0 of the audio is the contour we gave it (up to WORLD's synthesis, which follows the
given F0 exactly on voiced frames). Each method then runs through echo's own compute_f0 (frames on the
fbank frames), and is scored against the contour at the frame centres:

- gpe: gross pitch error, share of frames voiced in both truth and estimate that are > 20 % off;
- fine_cents: mean |error| in cents over those frames without a gross error;
- vde: voicing decision error, share of all frames whose voiced/unvoiced call differs from the truth
  (frames within 20 ms of a voicing boundary are left out: the truth is not sharp there);
- x_rt: audio seconds per CPU second of F0 extraction (time.process_time), one thread.
`swift` is SwiftF0 (swift-f0, a 14k-parameter CNN run by onnxruntime), mapped onto fbank's frames by
echo.features.pitch.swift_f0_frames.
The same audio with white noise at 20, 10 and 0 dB SNR gives the second table. Prints one JSON object.

Bias to keep in mind: which frames are voiced in the truth is Harvest's call on the original recording, so
the voicing error (vde) favours Harvest; gpe and fine_cents do not depend on it.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pyworld  # noqa: E402

from echo.features.audio import load_audio  # noqa: E402
from echo.features.config import F0_METHODS, FeatureConfig  # noqa: E402
from echo.features.fbank import num_frames  # noqa: E402
from echo.features.pitch import compute_f0  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
FSDD = ROOT.parent / "shared" / "data" / "fsdd" / "recordings"
RATE = 16000
WORLD_PERIOD_MS = 5.0
BOUNDARY_S = 0.020


def resynthesised(path: Path, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(audio at RATE, truth times (s), truth F0 (Hz, 0 = unvoiced)) for one recording."""
    x = load_audio(str(path), RATE).astype(np.float64)
    f0, t = pyworld.harvest(x, RATE, f0_floor=60.0, f0_ceil=500.0, frame_period=WORLD_PERIOD_MS)
    sp = pyworld.cheaptrick(x, f0, t, RATE)
    ap = pyworld.d4c(x, f0, t, RATE)
    base = np.exp(rng.uniform(np.log(70.0), np.log(300.0)))
    glide = rng.uniform(-0.3, 0.3)
    rel = (t - t[0]) / max(t[-1] - t[0], 1e-3)
    contour = base * (1 + glide * rel) * (1 + 0.03 * np.sin(2 * np.pi * 5.0 * t + rng.uniform(0, 2 * np.pi)))
    truth = np.where(f0 > 0, contour, 0.0)
    y = pyworld.synthesize(truth, sp, ap, RATE, frame_period=WORLD_PERIOD_MS)
    return y.astype(np.float32), t, truth


def score(est: np.ndarray, truth_t: np.ndarray, truth: np.ndarray, conf: FeatureConfig) -> dict:
    centres = (np.arange(len(est)) * conf.window_shift + conf.window_size / 2) / conf.sample_rate
    idx = np.clip(np.round(centres / (WORLD_PERIOD_MS / 1000)).astype(int), 0, len(truth) - 1)
    true_f0 = truth[idx]
    voiced_true = true_f0 > 0
    # distance to the nearest voicing boundary of the truth
    edges = truth_t[np.flatnonzero(np.diff((truth > 0).astype(int))) + 1]
    far = np.ones(len(est), bool) if len(edges) == 0 else \
        np.min(np.abs(centres[:, None] - edges[None, :]), axis=1) > BOUNDARY_S
    both = voiced_true & (est > 0)
    rel = np.abs(est[both] - true_f0[both]) / true_f0[both]
    gross = rel > 0.2
    cents = np.abs(1200 * np.log2(est[both][~gross] / true_f0[both][~gross]))
    return {"frames": int(len(est)), "voiced_both": int(both.sum()), "gross": int(gross.sum()),
            "cents_sum": float(cents.sum()), "cents_n": int(len(cents)),
            "vd_errors": int(np.sum((voiced_true != (est > 0)) & far)), "vd_frames": int(far.sum())}


def add_noise(y: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    power = np.mean(y.astype(np.float64) ** 2)
    return (y + rng.standard_normal(len(y)) * np.sqrt(power / 10 ** (snr_db / 10))).astype(np.float32)


def run_method(method: str, utts: list, conf: FeatureConfig) -> dict:
    totals, cpu, audio = {}, 0.0, 0.0
    for y, truth_t, truth in utts:
        T = num_frames(len(y), conf)
        start = time.process_time()
        est = compute_f0(y, conf, T)
        cpu += time.process_time() - start
        audio += len(y) / RATE
        for k, v in score(est, truth_t, truth, conf).items():
            totals[k] = totals.get(k, 0) + v
    return {"gpe": round(totals["gross"] / max(totals["voiced_both"], 1), 4),
            "fine_cents": round(totals["cents_sum"] / max(totals["cents_n"], 1), 1),
            "vde": round(totals["vd_errors"] / max(totals["vd_frames"], 1), 4),
            "x_rt": round(audio / cpu, 1)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--utts", type=int, default=60)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--methods", default=",".join(F0_METHODS))
    args = p.parse_args()
    files = sorted(FSDD.glob("*.wav"))
    if not files:
        sys.exit(f"FSDD recordings not found in {FSDD}")
    rng = np.random.default_rng(args.seed)
    chosen = [files[i] for i in rng.choice(len(files), size=min(args.utts, len(files)), replace=False)]
    clean = [resynthesised(f, rng) for f in chosen]
    methods = args.methods.split(",")
    result = {"utterances": len(clean), "audio_s": round(sum(len(u[0]) for u in clean) / RATE, 1),
              "seed": args.seed, "clean": {}, "noisy": {}}
    for method in methods:
        conf = FeatureConfig(f0_method=method, f0_floor=60.0, f0_ceil=500.0)
        result["clean"][method] = run_method(method, clean, conf)
        for snr in (20, 10, 0):
            noise_rng = np.random.default_rng(args.seed + snr)
            noisy = [(add_noise(y, snr, noise_rng), t, f) for y, t, f in clean]
            result["noisy"].setdefault(f"{snr}dB", {})[method] = run_method(method, noisy, conf)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
