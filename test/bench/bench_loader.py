"""Training loader throughput: dumped features vs features made on the fly from augmented audio
(echo.data.onthefly), with 0, 1 and 2 worker processes, against the time of one training step.

    PYTHONPATH=. OMP_NUM_THREADS=1 tools/venv/bin/python test/bench/bench_loader.py \\
        [--dump egs/digits/dump/train] [--utts 200] [--config egs/digits/conf/train.yaml]

Without --dump, 200 utterances of harmonic 'words' (1-3 s, 16 kHz) are written and dumped to a temporary
dir. Prints one JSON object: per (mode, workers) utterances/s, audio seconds/s and seconds per batch, and
the training step time (forward + backward + update) of the config's model on the same batches; the
loader keeps up with training when its seconds per batch are below the step's.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "test"))

from echo.data.augment import AugmentConfig  # noqa: E402
from echo.data.dataset import EchoDataset, collate  # noqa: E402
from echo.data.onthefly import AugmentedDataset  # noqa: E402
from echo.model.echo import EchoConfig, EchoModel  # noqa: E402
from echo.train.sampler import BucketBatchSampler  # noqa: E402


def synthetic_dump(root: Path, n: int) -> Path:
    import soundfile as sf
    from echo.bin.compute_cmvn import main as compute_cmvn
    from echo.bin.dump_feats import main as dump_feats
    from echo.features.config import FeatureConfig

    rng = np.random.default_rng(0)
    data, wavs = root / "data", root / "wav"
    data.mkdir(parents=True)
    wavs.mkdir()
    rate, lines = 16000, []
    for u in range(n):
        utt = f"spk{u % 4}-utt{u:04d}"
        secs = rng.uniform(1.0, 3.0)
        t = np.arange(int(secs * rate)) / rate
        f0 = rng.uniform(90, 250) * (1 + 0.1 * np.sin(2 * np.pi * t))
        phase = 2 * np.pi * np.cumsum(f0) / rate
        wave = 0.2 * sum(np.sin(k * phase) / k for k in range(1, 8)) + 0.01 * rng.standard_normal(len(t))
        sf.write(wavs / f"{utt}.wav", wave.astype(np.float32), rate)
        lines.append((utt, str(wavs / f"{utt}.wav")))
    lines.sort()
    (data / "wav.scp").write_text("".join(f"{u} {p}\n" for u, p in lines))
    (data / "text").write_text("".join(f"{u} one two\n" for u, _ in lines))
    (data / "utt2spk").write_text("".join(f"{u} {u.split('-')[0]}\n" for u, _ in lines))
    (data / "spk2utt").write_text("".join(f"spk{s} {' '.join(u for u, _ in lines if u.startswith(f'spk{s}-'))}\n"
                                          for s in range(4)))
    FeatureConfig().to_yaml(root / "feats.yaml")
    dump_feats(["--data", str(data), "--out", str(root / "dump"), "--conf", str(root / "feats.yaml"), "--nj", "1"])
    compute_cmvn(["--dump", str(root / "dump")])
    return root / "dump"


def time_loader(ds, sampler, workers: int, max_batches: int) -> dict:
    loader = torch.utils.data.DataLoader(ds, batch_sampler=sampler, collate_fn=collate, num_workers=workers)
    start, utts, frames, batches = time.perf_counter(), 0, 0, 0
    for batch in loader:
        utts += len(batch["utt_ids"])
        frames += int(batch["feat_lens"].sum())
        batches += 1
        if batches >= max_batches:
            break
    seconds = time.perf_counter() - start
    return dict(utts_per_s=round(utts / seconds, 1), audio_s_per_s=round(frames / 100 / seconds, 1),
                s_per_batch=round(seconds / batches, 3), batches=batches, seconds=round(seconds, 2))


def time_step(ds, sampler, model_conf: dict, max_batches: int) -> float:
    items = [[ds[i] for i in b] for b in list(sampler)[:max_batches]]
    model = EchoModel(EchoConfig(idim=items[0][0]["feats"].shape[1], vocab_size=12, **model_conf))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    model.train()
    start = time.perf_counter()
    for batch in items:
        b = collate(batch)
        ys = torch.randint(1, 11, b["ys"].shape[:1] + (2,))
        loss, _ = model(b["feats"], b["feat_lens"], b["f0"], ys, torch.full((len(ys),), 2))
        loss.backward()
        opt.step()
        opt.zero_grad()
    return (time.perf_counter() - start) / len(items)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dump", type=Path, help="a training dump dir (default: a synthetic one)")
    p.add_argument("--utts", type=int, default=200)
    p.add_argument("--config", type=Path, default=ROOT / "egs/digits/conf/train.yaml")
    p.add_argument("--batches", type=int, default=8)
    args = p.parse_args(argv)
    torch.manual_seed(0)
    cfg = yaml.safe_load(args.config.read_text())
    with tempfile.TemporaryDirectory() as tmp:
        dump = args.dump or synthetic_dump(Path(tmp), args.utts)
        off = EchoDataset(dump, None, cmvn=dump / "cmvn.npz")
        sampler = BucketBatchSampler(off.num_frames, cfg["batch"]["batch_frames"], seed=0)
        sampler.set_epoch(1)
        on = AugmentedDataset(dump, None, dump / "cmvn.npz", AugmentConfig(**cfg["augment"]), seed=0)
        plain = AugmentedDataset(dump, None, dump / "cmvn.npz", AugmentConfig(enabled=True), seed=0)
        out = {"dump": str(args.dump or "synthetic"), "utts": len(off), "config": str(args.config),
               "torch_threads": torch.get_num_threads(), "loader": {}}
        for name, ds in (("dumped", off), ("on_the_fly_no_augment", plain), ("on_the_fly_augment", on)):
            for workers in (0, 1, 2):
                out["loader"][f"{name}/workers{workers}"] = time_loader(ds, sampler, workers, args.batches)
        out["train_step_s"] = round(time_step(off, sampler, cfg["model"], min(args.batches, 4)), 3)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
