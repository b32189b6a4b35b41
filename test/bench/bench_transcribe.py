"""echo-transcribe speed: RTF over a folder of N files on 1 and 2 processes against echo.bin.decode on the same
files (a raw data dir), and the start-up time of the command (import + model load) for one file.

    tools/venv/bin/python test/bench/bench_transcribe.py [--files 300] [--exp exp/<tag>] [--work DIR]
        [--beam-size 3] [--ctc-weight 0.3]

Without --exp, the tone-word model of test/tone_words.py is trained first (about 30 s) and the files are
its sentences (0.5-2.5 s each). With --exp (an experiment dir: a checkpoint, token_list/, feats.yaml,
cmvn.npz), the files are still tone-word sentences: the point is speed, not accuracy. Every run is a
separate process with 1 torch thread per process, timed on the wall clock including start-up, as a user
sees it; RTF = wall seconds / audio seconds. Prints one JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "test"))


def wall(cmd: list[str], env: dict) -> float:
    t0 = time.perf_counter()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stderr[-3000:]}")
    return time.perf_counter() - t0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--files", type=int, default=300)
    p.add_argument("--exp", type=Path, help="an experiment dir (default: train the tone-word model)")
    p.add_argument("--checkpoint", help="checkpoint name in --exp (default: as echo.bin.pack chooses)")
    p.add_argument("--work", type=Path, help="where files go (default: a temporary dir)")
    p.add_argument("--beam-size", type=int, default=3)
    p.add_argument("--ctc-weight", type=float, default=0.3)
    p.add_argument("--batch-size", type=int, default=16)
    args = p.parse_args()
    import soundfile as sf
    import torch

    import tone_words as tw
    from echo.io.packed import default_checkpoint

    torch.set_num_threads(1)
    work = args.work or Path(tempfile.mkdtemp(prefix="bench_transcribe."))
    exp = args.exp or tw.make_exp(work)
    ckpt = exp / args.checkpoint if args.checkpoint else default_checkpoint(exp)
    audio, data = work / "audio", work / "data"
    audio.mkdir(parents=True, exist_ok=True)
    data.mkdir(exist_ok=True)
    rng = np.random.default_rng(1)
    seconds, lines = 0.0, []
    for i in range(args.files):
        wave, _, _ = tw.sentence(rng, int(rng.integers(1, 6)))
        sf.write(audio / f"f{i:04d}.wav", wave, tw.RATE)
        seconds += len(wave) / tw.RATE
        lines.append(f"f{i:04d} {audio / f'f{i:04d}.wav'}\n")
    (data / "wav.scp").write_text("".join(lines))
    (data / "utt2spk").write_text("".join(f"{ln.split()[0]} {ln.split()[0]}\n" for ln in lines))
    conf = work / "decode.yaml"
    conf.write_text(f"beam_size: {args.beam_size}\nctc_weight: {args.ctc_weight}\nbatch_size: {args.batch_size}\n")
    model = work / "model.echo"
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    py = sys.executable
    wall([py, "-m", "echo.bin.pack", "--exp", str(exp), "--checkpoint", str(ckpt), "--decode-config", str(conf),
          "--out", str(model)], env)

    out = dict(files=args.files, audio_seconds=round(seconds, 2), exp=str(exp), checkpoint=ckpt.name,
               model_bytes=model.stat().st_size, beam_size=args.beam_size, ctc_weight=args.ctc_weight,
               batch_size=args.batch_size, cpus=os.cpu_count(), load_average=os.getloadavg()[0],
               python=platform.python_version(), torch=torch.__version__)
    for nj in (1, 2):
        t = wall([py, "-m", "echo.bin.transcribe", "--model", str(model), str(audio), "--nj", str(nj),
                  "--num-threads", "1", "--out", str(work / f"t{nj}.txt")], env)
        out[f"transcribe_nj{nj}_seconds"], out[f"transcribe_nj{nj}_rtf"] = round(t, 2), round(t / seconds, 4)
        t = wall([py, "-m", "echo.bin.decode", "--model", str(ckpt), "--data", str(data), "--out",
                  str(work / f"dec{nj}"), "--config", str(conf), "--nj", str(nj), "--num-threads", "1"], env)
        out[f"decode_nj{nj}_seconds"], out[f"decode_nj{nj}_rtf"] = round(t, 2), round(t / seconds, 4)
    same = [ln.split("\t")[1].strip() for ln in (work / "t1.txt").read_text().splitlines()]
    decoded = [ln.split(" ", 1)[1].strip() if " " in ln else "" for ln in
               (work / "dec1" / "text").read_text().splitlines()]
    out["same_transcripts_as_decode"] = same == decoded
    # wall time, and CPU time of the process (robust to other processes sharing the machine)
    startup = ("import time; t0, c0 = time.perf_counter(), time.process_time(); import torch; "
               "t1, c1 = time.perf_counter(), time.process_time(); from echo import load_model; "
               f"m = load_model({str(model)!r}); "
               "print(time.perf_counter() - t0, time.process_time() - c0, t1 - t0, c1 - c0)")
    runs = [list(map(float, subprocess.run([py, "-c", startup], env=env, capture_output=True, text=True,
                                           check=True).stdout.split())) for _ in range(3)]
    best = min(runs)
    out["startup_import_and_load_seconds"] = round(best[0], 3)
    out["startup_import_and_load_cpu_seconds"] = round(best[1], 3)
    out["of_which_import_torch_seconds"] = round(best[2], 3)
    out["of_which_import_torch_cpu_seconds"] = round(best[3], 3)
    one = min(wall([py, "-m", "echo.bin.transcribe", "--model", str(model), str(audio / "f0000.wav")], env)
              for _ in range(3))
    out["one_file_command_seconds"] = round(one, 3)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
