"""What decoding reads: a dump dir (features computed at stage 1) or any Kaldi data dir (features
computed here, with the same function and the model's own feature config and CMVN).

Both give items like echo.data.dataset.EchoDataset: dict(utt_id, feats (T, D) CMVN applied, f0 (T,) Hz,
tokens (0,)), batched by echo.data.dataset.collate.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from echo.data.datadir import DataDirError
from echo.data.dataset import EchoDataset
from echo.features.cmvn import CMVN
from echo.features.config import FeatureConfig, FeatureError
from echo.features.extract import extract_features
from echo.io.utts import utterances


class WavDataDir(torch.utils.data.Dataset):
    """A Kaldi data dir that has not been dumped: wav.scp (+ segments); features on the fly.
    An utterance that cannot be read gives an item with feats None and its reason in "error"."""

    def __init__(self, data_dir, conf: FeatureConfig, cmvn: CMVN | None):
        self.data_dir = Path(data_dir)
        if not (self.data_dir / "wav.scp").is_file():
            raise DataDirError(f"{self.data_dir}: neither feats.scp (a dump dir) nor wav.scp (a data dir)")
        self.utts = utterances(self.data_dir)
        missing = sorted({u.utt_id for u in self.utts if u.entry is None})
        if missing:
            raise DataDirError(f"{self.data_dir / 'segments'}: utterances whose recording is not in wav.scp: "
                               f"{' '.join(missing[:10])}")
        self.utt_ids = [u.utt_id for u in self.utts]
        self.conf, self.cmvn = conf, cmvn

    def __len__(self) -> int:
        return len(self.utts)

    def __getitem__(self, i: int) -> dict:
        utt = self.utts[i]
        try:
            feats, f0 = extract_features(utt.load(self.conf.sample_rate), self.conf)
        except FeatureError as e:
            reason = " ".join(str(e).split())
            return dict(utt_id=utt.utt_id, feats=None, f0=None, tokens=None,
                        error=f"{self.data_dir}: {reason}" if reason.startswith("utt ") else
                        f"{self.data_dir}: utt {utt.utt_id}: {reason}")
        feats = torch.from_numpy(np.asarray(feats, dtype=np.float32))
        if self.cmvn is not None:
            feats = self.cmvn(feats)
        return dict(utt_id=utt.utt_id, feats=feats, f0=torch.from_numpy(np.asarray(f0, dtype=np.float32)),
                    tokens=torch.zeros(0, dtype=torch.long))


def open_data(data_dir, conf: FeatureConfig, cmvn: CMVN | None):
    """EchoDataset for a dump dir (it has feats.scp), WavDataDir for a data dir."""
    data_dir = Path(data_dir)
    if (data_dir / "feats.scp").is_file():
        dumped_conf = data_dir / "conf" / "feats.yaml"
        if dumped_conf.is_file() and FeatureConfig.from_yaml(dumped_conf) != conf:
            raise FeatureError(f"{dumped_conf} differs from the model's feature config: the features of "
                               f"{data_dir} are not what the model was trained on (decode the data dir itself "
                               "to compute them with the model's config)")
        ds = EchoDataset(data_dir, tokenizer=None, cmvn=cmvn)
        return ds
    return WavDataDir(data_dir, conf, cmvn)
