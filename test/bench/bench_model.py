"""Training-step time (forward + backward) of the Echo model on CPU: the plain rotary model against each
pitch mode and all of them on, same batch, one process. Prints JSON.

    tools/venv/bin/python test/bench/bench_model.py [--batch 16] [--rounds 12] [--set d_model=192 ...]

Steps of the variants are interleaved round by round (in a rotating order) so that load from other
processes hits them alike;
the figure reported is the median over rounds. Target (issue 4): all pitch features ≤ 1.15× plain.
"""
import argparse
import dataclasses
import json
import statistics
import time

import torch

from echo.model.echo import EchoConfig, EchoModel

VARIANTS = {
    "plain": {},
    "theta_utterance": dict(theta_mode="utterance"),
    "theta_frame": dict(theta_mode="frame"),
    "mel_frame": dict(freqs="mel", theta_mode="frame", max_omega=3.141592653589793),
    "radius_f0": dict(radius_mode="f0"),
    "radius_logf0": dict(radius_mode="logf0"),
    "pitch_bias": dict(pitch_bias=True),
    "gate_scalar": dict(gate="scalar"),
    "gate_f0": dict(gate="f0"),
    "all_on": dict(theta_mode="frame", radius_mode="logf0", pitch_bias=True, gate="f0"),
    "value_rotary": dict(value_rotary=True),
    "value_rotary_featsrc": dict(value_rotary=True, pitch_source="features"),
    "all_on_featsrc": dict(theta_mode="frame", radius_mode="logf0", pitch_bias=True, gate="f0", value_rotary=True,
                           pitch_source="features"),
}


def make_batch(cfg: EchoConfig, batch: int, min_frames: int, max_frames: int, max_tokens: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    lens = torch.randint(min_frames, max_frames + 1, (batch,), generator=g)
    lens[0] = max_frames
    T = int(lens.max())
    feats = torch.randn(batch, T, cfg.idim, generator=g) * (torch.arange(T)[None, :, None] < lens[:, None, None])
    t = torch.arange(T, dtype=torch.float32)
    contour = 120 + 80 * torch.rand(batch, 1, generator=g) + 30 * torch.sin(t[None] / 12)
    voiced = (torch.sin(t[None] / 7 + 6 * torch.rand(batch, 1, generator=g)) > -0.2) & (t[None] < lens[:, None])
    f0 = torch.where(voiced, contour, torch.zeros_like(contour))
    y_lens = torch.randint(max(1, max_tokens // 2), max_tokens + 1, (batch,), generator=g)
    ys = torch.randint(2, cfg.vocab_size - 1, (batch, int(y_lens.max())), generator=g)
    ys[torch.arange(ys.shape[1])[None, :] >= y_lens[:, None]] = -1
    return feats, lens, f0, ys, y_lens


def step(model, batch):
    model.zero_grad(set_to_none=True)
    t0 = time.perf_counter()
    loss, _ = model(*batch)
    loss.backward()
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--min-frames", type=int, default=150)
    ap.add_argument("--max-frames", type=int, default=250, help="10 ms frames (250 = 2.5 s)")
    ap.add_argument("--max-tokens", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=12)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE", help="override EchoConfig fields")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    overrides = {}
    for item in args.set:
        key, value = item.split("=", 1)
        kind = type(getattr(EchoConfig(), key))
        overrides[key] = kind(value) if kind is not bool else value.lower() in ("1", "true", "yes")
    base = EchoConfig(**overrides)
    names = args.variants.split(",")
    models = {}
    for name in names:
        torch.manual_seed(0)
        models[name] = EchoModel(dataclasses.replace(base, **VARIANTS[name])).train()
    batch = make_batch(base, args.batch, args.min_frames, args.max_frames, args.max_tokens)

    times = {name: [] for name in names}
    for r in range(args.warmup + args.rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:  # rotate: no variant always first
            elapsed = step(models[name], batch)
            if r >= args.warmup:
                times[name].append(elapsed)
    plain = statistics.median(times[names[0]])
    result = {
        "config": dataclasses.asdict(base),
        "batch": {"utterances": args.batch, "frames": batch[1].tolist(), "threads": args.threads},
        "variants": {name: {"params": sum(p.numel() for p in models[name].parameters()),
                            "step_ms": round(1000 * statistics.median(times[name]), 1),
                            "ratio_vs_" + names[0]: round(statistics.median(times[name]) / plain, 3)}
                     for name in names},
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
