"""Training throughput of each real-corpus recipe's conf/train.yaml: parameters and input frames per second
of a full training step (forward, backward, AdamW) on a synthetic batch, on this machine. Prints JSON.

    PYTHONPATH=. OMP_NUM_THREADS=2 tools/venv/bin/python test/bench/bench_recipe_configs.py [--utts 4 --frames 500]

The READMEs' hour estimates divide an epoch's frames (corpus hours x 360000 frames/hour, x3 with speed
perturbation) by the frames/s measured here, scaled by an assumed GPU/CPU ratio that they state.
"""
import argparse
import json
import time
from pathlib import Path

import torch

from echo.model.echo import EchoConfig, EchoModel
from echo.train import config

ROOT = Path(__file__).resolve().parents[2]
RECIPES = ("an4", "mini_librispeech", "librispeech_100", "aishell", "commonvoice")
VOCAB = {"an4": 30, "mini_librispeech": 300, "librispeech_100": 5000, "aishell": 4233, "commonvoice": 150}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--utts", type=int, default=4)
    p.add_argument("--frames", type=int, default=500)
    p.add_argument("--steps", type=int, default=3)
    args = p.parse_args()
    out = {"threads": torch.get_num_threads(), "batch": f"{args.utts} x {args.frames} frames", "recipes": {}}
    for recipe in RECIPES:
        cfg = config.resolve(ROOT / "egs" / recipe / "conf" / "train.yaml", {}, EchoConfig)
        torch.manual_seed(0)
        model = EchoModel(EchoConfig(idim=80, vocab_size=VOCAB[recipe], **cfg["model"]))
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
        feats = torch.randn(args.utts, args.frames, 80)
        lens = torch.full((args.utts,), args.frames)
        n_tok = args.frames // 25
        ys = torch.randint(2, VOCAB[recipe] - 1, (args.utts, n_tok))
        times = []
        for _ in range(args.steps + 1):
            t = time.perf_counter()
            loss, _ = model(feats, lens, None, ys, torch.full((args.utts,), n_tok))
            loss.backward()
            opt.step()
            opt.zero_grad()
            times.append(time.perf_counter() - t)
        step = min(times[1:])
        out["recipes"][recipe] = {"params_M": round(sum(p.numel() for p in model.parameters()) / 1e6, 2),
                                  "step_s": round(step, 3), "frames_per_s": round(args.utts * args.frames / step)}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
