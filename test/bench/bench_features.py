"""Feature speed: real-time factor per core of fbank and each F0 extractor, and dump throughput.

    tools/venv/bin/python test/bench/bench_features.py [--seconds 120] [--dump-files 600] [--nj 2]

Speech: FSDD recordings (../shared/data/fsdd), resampled to 16 kHz and concatenated into utterances
of about 5 s (a typical ASR utterance) until --seconds of audio. Speeds are audio seconds per CPU
second of this process (time.process_time), i.e. "× real time per core". The dump throughput runs
`python -m echo.bin.dump_feats --nj N` on a data dir of --dump-files FSDD files and reports hours
of audio per wall-clock hour per job. Prints one JSON object.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyworld
import soundfile as sf

from echo.features.audio import load_audio
from echo.features.config import FeatureConfig
from echo.features.fbank import compute_fbank, num_frames
from echo.features.pitch import compute_f0, pitch_features

ROOT = Path(__file__).resolve().parents[2]
FSDD = ROOT.parent / "shared" / "data" / "fsdd" / "recordings"


def speech_utterances(seconds: float, rate: int, utt_seconds: float = 5.0) -> list[np.ndarray]:
    files = sorted(FSDD.glob("*.wav"))
    if not files:
        sys.exit(f"FSDD recordings not found in {FSDD}")
    utts, current, total = [], [], 0.0
    for path in files:
        x = load_audio(str(path), rate)
        current.append(x)
        total += len(x) / rate
        if sum(len(c) for c in current) >= utt_seconds * rate:
            utts.append(np.concatenate(current))
            current = []
        if total >= seconds:
            break
    if current:
        utts.append(np.concatenate(current))
    return utts


def rtf(fn, utts, rate) -> float:
    audio = sum(len(u) for u in utts) / rate
    start = time.process_time()
    for u in utts:
        fn(u)
    return round(audio / (time.process_time() - start), 1)


def dump_throughput(n_files: int, nj: int) -> dict:
    files = sorted(FSDD.glob("*.wav"))[:n_files]
    audio_s = sum(sf.info(f).duration for f in files)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        utts = sorted((f"{f.stem.split('_')[1]}-{f.stem}", f) for f in files)
        (data / "wav.scp").write_text("".join(f"{u} {f}\n" for u, f in utts))
        (data / "utt2spk").write_text("".join(f"{u} {u.split('-')[0]}\n" for u, _ in utts))
        spk2utt = {}
        for u, _ in utts:
            spk2utt.setdefault(u.split("-")[0], []).append(u)
        (data / "spk2utt").write_text("".join(f"{s} {' '.join(v)}\n" for s, v in sorted(spk2utt.items())))
        FeatureConfig().to_yaml(Path(tmp) / "fbank.yaml")
        start = time.time()
        subprocess.run([sys.executable, "-m", "echo.bin.dump_feats", "--data", str(data), "--out",
                        f"{tmp}/dump", "--conf", f"{tmp}/fbank.yaml", "--nj", str(nj)],
                       check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
        wall = time.time() - start
    return {"files": len(files), "audio_s": round(audio_s, 1), "nj": nj, "wall_s": round(wall, 2),
            "audio_hours_per_hour_per_job": round(audio_s / wall / nj, 1)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=120.0)
    p.add_argument("--dump-files", type=int, default=600)
    p.add_argument("--nj", type=int, default=2)
    args = p.parse_args()

    conf = FeatureConfig()
    utts = speech_utterances(args.seconds, conf.sample_rate)
    frames = lambda u: num_frames(len(u), conf)  # noqa: E731

    def dio_full_rate(u):   # DIO without decimation (pyworld speed=1), for reference
        x = np.ascontiguousarray(u[conf.window_size // 2:], dtype=np.float64)
        f0, t = pyworld.dio(x, conf.sample_rate, f0_floor=conf.f0_floor, f0_ceil=conf.f0_ceil, frame_period=10.0)
        pyworld.stonemask(x, f0, t, conf.sample_rate)

    dio_conf, harvest_conf = FeatureConfig(f0_method="dio"), FeatureConfig(f0_method="harvest")
    kaldi_conf = FeatureConfig(f0_method="kaldi")
    result = {
        "audio_s": round(sum(len(u) for u in utts) / conf.sample_rate, 1),
        "utterances": len(utts),
        "sample_rate": conf.sample_rate,
        "x_real_time_per_core": {
            "fbank": rtf(lambda u: compute_fbank(u, conf), utts, conf.sample_rate),
            "dio": rtf(lambda u: compute_f0(u, dio_conf, frames(u)), utts, conf.sample_rate),
            "dio_speed1": rtf(dio_full_rate, utts, conf.sample_rate),
            "harvest": rtf(lambda u: compute_f0(u, harvest_conf, frames(u)), utts, conf.sample_rate),
            "kaldi": rtf(lambda u: compute_f0(u, kaldi_conf, frames(u)), utts, conf.sample_rate),
            "dio+fbank": rtf(lambda u: (compute_fbank(u, conf), compute_f0(u, dio_conf, frames(u))),
                             utts, conf.sample_rate),
            "dio+fbank+pitch_features": rtf(
                lambda u: (compute_fbank(u, conf), pitch_features(compute_f0(u, dio_conf, frames(u)))),
                utts, conf.sample_rate),
        },
        "dump": dump_throughput(args.dump_files, args.nj),
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
