"""A tiny spoken-language stand-in with exactly known word times, for transcription tests and benchmarks.

Each word of WORDS is a chord of two sine tones; a sentence is words of 0.22-0.36 s with 0.08-0.30 s of
silence between them (and a little noise everywhere), so where every word starts and ends is known to the
sample. A small model learns it in seconds: make_exp() trains one on fbank features computed by the
dump stage's own function and lays out exp/<tag>/ as training does (checkpoint, token_list/,
feats.yaml, cmvn.npz, assets.json).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch

from echo.features.cmvn import CMVNAccumulator
from echo.features.config import FeatureConfig
from echo.features.extract import extract_features
from echo.io import atomic
from echo.io.assets import ASSETS_JSON, sha256_file
from echo.model.echo import EchoConfig, EchoModel, save_model
from echo.text.tokenizer import build_token_list

RATE = 16000
WORDS = ["one", "two", "three", "four", "five"]
CHORDS = [(300, 750), (420, 1300), (560, 900), (700, 1900), (850, 1500)]   # Hz, one chord per word
FEATS = FeatureConfig(n_mels=23)


def sentence(rng: np.random.Generator, n_words: int | None = None, rate: int = RATE):
    """(wave float32 at `rate`, text, [(word, start s, end s)])."""
    n = n_words or int(rng.integers(1, 6))
    words = [WORDS[i] for i in rng.integers(0, len(WORDS), n)]
    parts, times, t = [np.zeros(int(rng.uniform(0.10, 0.25) * rate))], [], 0.0
    t = len(parts[0]) / rate
    for w in words:
        dur = rng.uniform(0.22, 0.36)
        k = np.arange(int(dur * rate)) / rate
        f1, f2 = CHORDS[WORDS.index(w)]
        env = np.minimum(1.0, np.minimum(k, dur - k) / 0.01)      # 10 ms ramps: no clicks
        parts.append(0.25 * env * (np.sin(2 * np.pi * f1 * k) + 0.6 * np.sin(2 * np.pi * f2 * k)))
        times.append((w, t, t + len(k) / rate))
        t += len(k) / rate
        gap = np.zeros(int(rng.uniform(0.08, 0.30) * rate))
        parts.append(gap)
        t += len(gap) / rate
    wave = np.concatenate(parts)
    wave = wave + 0.002 * rng.standard_normal(len(wave))
    return wave.astype(np.float32), " ".join(words), times


def train_model(n_utts: int = 48, steps: int = 150, seed: int = 0):
    """(model, tokenizer dir contents, cmvn) trained on n_utts sentences; returns dict with all parts."""
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    data = [sentence(rng) for _ in range(n_utts)]
    feats = [extract_features(w, FEATS)[0] for w, _, _ in data]
    acc = CMVNAccumulator()
    for f in feats:
        acc.add(f)
    cmvn = acc.finish()
    return dict(data=data, feats=[torch.from_numpy(cmvn(f)) for f in feats], cmvn=cmvn, steps=steps)


def make_exp(root: Path, steps: int = 150, seed: int = 0, tag: str = "t") -> Path:
    """root/dump/train (a feats.scp stand-in), root/token_list, root/exp/<tag>/ with a trained model."""
    prep = train_model(steps=steps, seed=seed)
    texts = [t for _, t, _ in prep["data"]]
    tok = build_token_list(texts, "word", root / "token_list")
    cfg = EchoConfig(idim=FEATS.feats_dim, vocab_size=tok.vocab_size, d_model=48, n_heads=2, enc_layers=2,
                     dec_layers=1, ff_dim=96, dropout=0.0, conv_channels=8, lsm_weight=0.0, ctc_weight=0.5)
    model = EchoModel(cfg)
    ys = torch.nn.utils.rnn.pad_sequence([torch.tensor(tok.encode(t)) for t in texts], batch_first=True,
                                         padding_value=-1)
    y_lens = torch.tensor([len(t.split()) for t in texts])
    x = torch.nn.utils.rnn.pad_sequence(prep["feats"], batch_first=True)
    lens = torch.tensor([len(f) for f in prep["feats"]])
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(steps):
        loss, stats = model(x, lens, torch.zeros(x.shape[:2]), ys, y_lens)
        opt.zero_grad()
        loss.backward()
        opt.step()
    exp = root / "exp" / tag
    exp.mkdir(parents=True)
    save_model(exp / "valid.loss.ave_1best.pt", model.state_dict(), dataclasses.asdict(cfg),
               {"loss": stats["loss"]})
    import shutil

    shutil.copytree(root / "token_list", exp / "token_list")
    FEATS.to_yaml(exp / "feats.yaml")
    prep["cmvn"].save(exp / "cmvn.npz")
    dump = root / "dump" / "train"
    dump.mkdir(parents=True)
    (dump / "feats.scp").write_text("".join(f"u{i:03d} ark:{i}\n" for i in range(len(texts))))
    files = {n: sha256_file(exp / n) for n in ("token_list/tokens.txt", "token_list/token_type", "feats.yaml",
                                               "cmvn.npz")}
    files["train/feats.scp"] = sha256_file(dump / "feats.scp")
    atomic.write_json(exp / ASSETS_JSON, {"files": files, "sources": {"train/feats.scp": str(dump / "feats.scp")}})
    return exp
