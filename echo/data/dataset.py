"""A torch Dataset over a dump dir (dump/<set>/ from echo.bin.dump_feats), read lazily with kaldiio.

Only the scp index (a few bytes per utterance) and the token ids live in memory; each item's feature
matrix and F0 vector are read from their ark by offset when asked for.
"""
from __future__ import annotations

from pathlib import Path

import kaldiio
import numpy as np
import torch

from echo.data.datadir import DataDirError, read_kv, read_kv_dict
from echo.features.cmvn import CMVN

IGNORE_ID = -1   # padding of token tensors (common convention of echo)


class EchoDataset(torch.utils.data.Dataset):
    """ds[i] → dict(utt_id=str, feats=FloatTensor (T, D) with CMVN applied, f0=FloatTensor (T,) Hz,
    tokens=LongTensor (L,), empty without a tokenizer).

    tokenizer: any object with .encode(text) -> list[int] (echo.text.tokenizer.Tokenizer); needs `text`.
    cmvn: a CMVN, a path to cmvn.npz, or None (no normalisation).
    Utterances come in feats.scp order (C byte order).
    """

    def __init__(self, dump_dir, tokenizer=None, cmvn=None):
        self.dump_dir = Path(dump_dir)
        feats_scp = self.dump_dir / "feats.scp"
        if not feats_scp.is_file():
            raise DataDirError(f"{feats_scp}: missing (run echo.bin.dump_feats; an interrupted dump has none)")
        feats = read_kv(feats_scp)
        f0 = read_kv_dict(self.dump_dir / "f0.scp")
        frames = read_kv_dict(self.dump_dir / "utt2num_frames")
        self.utt_ids = [utt for utt, _ in feats]
        self._feats_rx = [rx for _, rx in feats]
        self._f0_rx = []
        self.num_frames = []
        for utt in self.utt_ids:
            if utt not in f0 or utt not in frames:
                missing = "f0.scp" if utt not in f0 else "utt2num_frames"
                raise DataDirError(f"{self.dump_dir / missing}: no entry for utt {utt} of feats.scp")
            self._f0_rx.append(f0[utt])
            try:
                self.num_frames.append(int(frames[utt]))
            except ValueError:
                raise DataDirError(f"{self.dump_dir / 'utt2num_frames'}: utt {utt}: "
                                   f"{frames[utt]!r} is not a frame count") from None

        self.tokenizer = tokenizer
        self._tokens = None
        if tokenizer is not None:
            text_path = self.dump_dir / "text"
            if not text_path.is_file():
                raise DataDirError(f"{text_path}: missing, but a tokenizer was given")
            text = read_kv_dict(text_path)
            missing = [u for u in self.utt_ids if u not in text]
            if missing:
                raise DataDirError(f"{text_path}: no transcript for {len(missing)} utt(s): "
                                   f"{' '.join(missing[:10])}")
            self._tokens = [np.asarray(tokenizer.encode(text[u]), dtype=np.int64) for u in self.utt_ids]
        self.num_tokens = [len(t) for t in self._tokens] if self._tokens is not None else [0] * len(self.utt_ids)

        self.cmvn = CMVN.load(cmvn) if isinstance(cmvn, (str, Path)) else cmvn

    def __len__(self) -> int:
        return len(self.utt_ids)

    def __getitem__(self, i: int) -> dict:
        utt = self.utt_ids[i]
        try:
            feats = kaldiio.load_mat(self._feats_rx[i])
            f0 = kaldiio.load_mat(self._f0_rx[i])
        except Exception as e:   # kaldiio raises assorted types for a missing, cut or corrupt ark
            raise DataDirError(f"{self.dump_dir}: utt {utt}: cannot read {self._feats_rx[i]} / "
                               f"{self._f0_rx[i]}: {type(e).__name__}: {e}") from e
        if feats.ndim != 2 or f0.ndim != 1 or len(feats) != len(f0) or len(feats) != self.num_frames[i]:
            raise DataDirError(f"{self.dump_dir}: utt {utt}: feats {feats.shape}, f0 {f0.shape} and "
                               f"utt2num_frames {self.num_frames[i]} disagree")
        feats = torch.from_numpy(np.array(feats, dtype=np.float32))   # a copy: kaldiio's is read-only
        if self.cmvn is not None:
            feats = self.cmvn(feats)
        tokens = (torch.from_numpy(self._tokens[i]) if self._tokens is not None
                  else torch.zeros(0, dtype=torch.long))
        return dict(utt_id=utt, feats=feats, f0=torch.from_numpy(np.array(f0, dtype=np.float32)),
                    tokens=tokens)


def collate(items: list[dict]) -> dict:
    """Batch items of EchoDataset.

    → dict(utt_ids=list[str], feats=(B, T, D) zero-padded, feat_lens=(B,) long, f0=(B, T) zero-padded
    (so padding reads as unvoiced), ys=(B, L) padded with -1, y_lens=(B,) long)
    """
    B = len(items)
    feat_lens = torch.tensor([len(it["feats"]) for it in items], dtype=torch.long)
    y_lens = torch.tensor([len(it["tokens"]) for it in items], dtype=torch.long)
    T, L = int(feat_lens.max()) if B else 0, int(y_lens.max()) if B else 0
    D = items[0]["feats"].shape[1] if B else 0
    feats = torch.zeros(B, T, D, dtype=torch.float32)
    f0 = torch.zeros(B, T, dtype=torch.float32)
    ys = torch.full((B, L), IGNORE_ID, dtype=torch.long)
    for b, it in enumerate(items):
        feats[b, :feat_lens[b]] = it["feats"]
        f0[b, :feat_lens[b]] = it["f0"]
        ys[b, :y_lens[b]] = it["tokens"]
    return dict(utt_ids=[it["utt_id"] for it in items], feats=feats, feat_lens=feat_lens, f0=f0,
                ys=ys, y_lens=y_lens)
