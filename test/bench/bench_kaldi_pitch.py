"""Speed of echo's Kaldi pitch port against Kaldi's C++ (torchaudio 2.0.2), side by side in one process.

    # torchaudio 2.0.2 is no dependency of echo: run this in the venv that made the reference numbers
    # (see test/fixtures/kaldi_pitch/make_reference.py), with this tree's echo on the path:
    OMP_NUM_THREADS=1 PYTHONPATH=$PWD /tmp/ta-venv/bin/python test/bench/bench_kaldi_pitch.py [--seconds 60]
    # without torchaudio it times echo alone:
    OMP_NUM_THREADS=1 PYTHONPATH=$PWD tools/venv/bin/python test/bench/bench_kaldi_pitch.py

Speech: FSDD recordings (8 kHz) end to end in utterances of about 5 s, upsampled to 16 kHz for the 16 kHz
rows. Each extractor runs over the same utterances, alternating, 3 rounds; the best round counts. Speeds
are audio seconds per CPU second of this process (time.process_time) with one thread: "× real time per
core". Prints one JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "test"))
import kaldi_pitch_cases  # noqa: E402
from echo.features.kaldi_pitch import compute_kaldi_pitch, process_kaldi_pitch  # noqa: E402


def utterances(seconds: float, utt_seconds: float = 5.0) -> list[np.ndarray]:
    files = sorted((kaldi_pitch_cases.FSDD / "recordings").glob("*.wav"))
    if not files:
        sys.exit(f"FSDD recordings not found in {kaldi_pitch_cases.FSDD}")
    utts, current, total = [], [], 0.0
    for path in files:
        current.append(kaldi_pitch_cases.read_fsdd(path.name))
        if sum(map(len, current)) >= utt_seconds * 8000:
            utts.append(np.concatenate(current).astype(np.float32))
            total += len(utts[-1]) / 8000
            current = []
            if total >= seconds:
                break
    return utts


def best_speed(run, utts, rate, rounds=3) -> float:
    audio = sum(len(u) for u in utts) / rate
    best = float("inf")
    for _ in range(rounds):
        start = time.process_time()
        for u in utts:
            run(u, rate)
        best = min(best, time.process_time() - start)
    return audio / best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    try:
        import torch
        import torchaudio
        torch.set_num_threads(1)
        kaldi_fn = torchaudio.functional.compute_kaldi_pitch

        def kaldi(u, rate):
            return kaldi_fn(torch.from_numpy(u), rate)
    except (ImportError, AttributeError):
        torchaudio, kaldi = None, None
    base = utterances(args.seconds)
    result = {"audio_seconds": round(sum(len(u) for u in base) / 8000, 1), "utterances": len(base),
              "numpy": np.__version__, "torchaudio": getattr(torchaudio, "__version__", None), "rows": []}
    for rate in (16000, 8000):
        utts = base if rate == 8000 else [kaldi_pitch_cases.upsample2(u).astype(np.float32) for u in base]
        row = {"sample_rate": rate,
               "echo_x_rt": best_speed(compute_kaldi_pitch, utts, rate),
               "echo_compat_x_rt": best_speed(lambda u, r: compute_kaldi_pitch(u, r, torchaudio_compat=True),
                                              utts, rate),
               "echo_with_processing_x_rt": best_speed(lambda u, r: process_kaldi_pitch(compute_kaldi_pitch(u, r)),
                                                       utts, rate)}
        if kaldi is not None:
            row["kaldi_torchaudio_x_rt"] = best_speed(kaldi, utts, rate)
            row["echo_speedup_over_kaldi"] = row["echo_x_rt"] / row["kaldi_torchaudio_x_rt"]
        result["rows"].append({k: round(v, 2) if isinstance(v, float) else v for k, v in row.items()})
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
