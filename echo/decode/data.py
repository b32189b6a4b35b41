"""What decoding reads: a dump dir (features computed at stage 1) or any Kaldi data dir (features
computed here, with the same function and the model's own feature config and CMVN).

Both give items like echo.data.dataset.EchoDataset: dict(utt_id, feats (T, D) CMVN applied, f0 (T,) Hz,
tokens (0,)), batched by echo.data.dataset.collate.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from echo.data.datadir import DataDirError, read_kv_dict, read_segments
from echo.data.dataset import EchoDataset
from echo.features.audio import load_audio
from echo.features.cmvn import CMVN
from echo.features.config import FeatureConfig, FeatureError
from echo.features.extract import extract_features


class WavDataDir(torch.utils.data.Dataset):
    """A Kaldi data dir that has not been dumped: wav.scp (+ segments); features on the fly."""

    def __init__(self, data_dir, conf: FeatureConfig, cmvn: CMVN | None):
        self.data_dir = Path(data_dir)
        wav_scp = self.data_dir / "wav.scp"
        if not wav_scp.is_file():
            raise DataDirError(f"{self.data_dir}: neither feats.scp (a dump dir) nor wav.scp (a data dir)")
        self.wavs = read_kv_dict(wav_scp)
        segments = self.data_dir / "segments"
        if segments.is_file():
            self.segments = read_segments(segments)
            missing = sorted({reco for reco, _, _ in self.segments.values()} - set(self.wavs))
            if missing:
                raise DataDirError(f"{segments}: recordings not in wav.scp: {' '.join(missing[:10])}")
        else:
            self.segments = {utt: (utt, 0.0, None) for utt in self.wavs}
        self.utt_ids = sorted(self.segments, key=lambda u: u.encode("utf-8"))
        self.conf, self.cmvn = conf, cmvn

    def __len__(self) -> int:
        return len(self.utt_ids)

    def __getitem__(self, i: int) -> dict:
        utt = self.utt_ids[i]
        reco, start, end = self.segments[utt]
        try:
            wave = load_audio(self.wavs[reco], self.conf.sample_rate, start, end, utt_id=utt)
            feats, f0 = extract_features(wave, self.conf)
        except FeatureError as e:
            raise FeatureError(f"{self.data_dir}: utt {utt}: {e}") from e
        feats = torch.from_numpy(np.asarray(feats, dtype=np.float32))
        if self.cmvn is not None:
            feats = self.cmvn(feats)
        return dict(utt_id=utt, feats=feats, f0=torch.from_numpy(np.asarray(f0, dtype=np.float32)),
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
