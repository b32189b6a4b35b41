"""Decoding speed: real-time factor of greedy CTC and of beam search (batched vs one by one).

    tools/venv/bin/python test/bench/bench_decode.py [--threads 1] [--utts 32] [--batch-size 16]
        [--beam 10] [--maxlenratio 0.5] [--checkpoint exp/<tag>/<ckpt>.pt] [--device cpu]

Model: the default EchoConfig (or --checkpoint). Without a checkpoint the weights are random, and a
random decoder rarely chooses <sos/eos>, so every hypothesis runs to maxlen: --maxlenratio 0.5 gives
maxlen = T'/2 labels, about the label count of char-unit transcripts of connected digits (2.5 s of
speech: 62 encoder frames, ~30 characters); --maxlenratio 0 (maxlen = T') is the worst case.
Input: --utts utterances of 1 to 4 s (random 80-dim features, the dump's job is done), decoded
including the encoder, as echo.bin.decode does. RTF = time / audio seconds (the fastest of --repeat
runs), in wall-clock time and in CPU time of this process (time.process_time; with --threads 1 that
is "on one core", and it is robust to other processes sharing the machine), split into the encoder
with the CTC head (encode_cpu_s) and the rest: search, padding (search_cpu_s). Prints one JSON object.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import time

import torch

from echo.decode.beam_search import BeamSearch, SearchConfig, greedy_ctc
from echo.model.echo import EchoConfig, EchoModel


def timed(fn):
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w0, time.process_time() - c0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--utts", type=int, default=32)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--beam", type=int, default=10)
    p.add_argument("--ctc-weight", type=float, default=0.3)
    p.add_argument("--maxlenratio", type=float, default=0.5)
    p.add_argument("--vocab-size", type=int, default=32, help="with random weights (char units: ~30)")
    p.add_argument("--checkpoint", help="a trained model instead of random weights")
    p.add_argument("--device", default="cpu")
    p.add_argument("--skip-unbatched", action="store_true")
    p.add_argument("--repeat", type=int, default=3, help="time each setting this many times, keep the fastest")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.checkpoint:
        from echo.model.echo import load_model
        model = load_model(args.checkpoint, device=args.device)
    else:
        model = EchoModel(EchoConfig(vocab_size=args.vocab_size)).to(args.device).eval()
    cfg = model.cfg
    g = torch.Generator().manual_seed(0)
    lens = torch.randint(100, 401, (args.utts,), generator=g)  # frames of 10 ms: 1 to 4 s
    feats = [torch.randn(int(n), cfg.idim, generator=g) for n in lens]
    f0 = [torch.full((int(n),), 120.0) for n in lens]
    audio = float(lens.sum()) / 100.0
    eos = model.vocab_size - 1
    search = BeamSearch(model.decoder, SearchConfig(beam_size=args.beam, ctc_weight=args.ctc_weight,
                                                    maxlenratio=args.maxlenratio), eos)

    def batches(bs):
        order = sorted(range(len(feats)), key=lambda i: -len(feats[i]))
        for k in range(0, len(order), bs):
            idx = order[k:k + bs]
            x = torch.nn.utils.rnn.pad_sequence([feats[i] for i in idx], batch_first=True).to(args.device)
            f = torch.nn.utils.rnn.pad_sequence([f0[i] for i in idx], batch_first=True).to(args.device)
            yield x, lens[idx].to(args.device), f

    @torch.no_grad()
    def run(bs, mode):
        """-> (tokens out, CPU seconds in the encoder and CTC head) for all utterances."""
        n_tokens, encode_cpu = 0, 0.0
        for x, xl, f in batches(bs):
            c0 = time.process_time()
            enc, enc_lens = model.encode(x, xl, f)
            logp = model.ctc_log_probs(enc)
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            encode_cpu += time.process_time() - c0
            hyps = [[h] for h in greedy_ctc(logp, enc_lens, 0, eos)] if mode == "greedy_ctc" \
                else search(enc, enc_lens, logp)
            n_tokens += sum(len(h[0].tokens) for h in hyps)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        return n_tokens, encode_cpu

    run(4, "beam")  # warm-up: allocator, kernels
    results = {}
    plan = [("greedy_ctc_batched", args.batch_size, "greedy_ctc"), ("beam_batched", args.batch_size, "beam")]
    if not args.skip_unbatched:
        plan.append(("beam_unbatched", 1, "beam"))
    for name, bs, mode in plan:
        runs = [timed(lambda: run(bs, mode)) for _ in range(args.repeat)]
        tokens, wall, cpu = runs[0][0][0], min(r[1] for r in runs), min(r[2] for r in runs)
        fastest = min(runs, key=lambda r: r[2])  # its split of CPU time: encoder + CTC head, the rest
        results[name] = dict(batch_size=bs, wall_s=round(wall, 3), cpu_s=round(cpu, 3), rtf_wall=round(wall / audio, 5),
                             rtf_cpu=round(cpu / audio, 5), tokens=tokens, encode_cpu_s=round(fastest[0][1], 3),
                             search_cpu_s=round(fastest[2] - fastest[0][1], 3))
    out = dict(
        device=args.device, threads=torch.get_num_threads(), torch=torch.__version__, python=platform.python_version(),
        cpu=platform.processor() or platform.machine(), load_avg=os.getloadavg(),
        weights=args.checkpoint or "random (untrained: every hypothesis runs to maxlen)",
        params=sum(p.numel() for p in model.parameters()), model=dataclasses.asdict(cfg),
        utts=args.utts, audio_s=audio, beam=args.beam, ctc_weight=args.ctc_weight, maxlenratio=args.maxlenratio,
        results=results,
    )
    if "beam_unbatched" in results:
        out["batching_speedup_wall"] = round(results["beam_unbatched"]["wall_s"] / results["beam_batched"]["wall_s"], 2)
        out["batching_speedup_cpu"] = round(results["beam_unbatched"]["cpu_s"] / results["beam_batched"]["cpu_s"], 2)
        # the same for the search alone (the encoder gains little from batching on one core)
        out["batching_speedup_search_cpu"] = round(results["beam_unbatched"]["search_cpu_s"]
                                                   / results["beam_batched"]["search_cpu_s"], 2)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
