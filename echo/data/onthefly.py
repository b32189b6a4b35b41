"""Training features computed on the fly from augmented audio (the `augment:` section of the config).

AugmentedDataset is an EchoDataset over the same dump dir (the same utterances, token ids and lengths
for the length-bucketed sampler), whose items are made from audio instead of the dumped arks: the dump
dir's copy of wav.scp/segments is read through echo.io.utts, the waveform is augmented
(echo.data.augment), and THE feature function (echo.features.extract.extract_features, with the dump's
conf/feats.yaml) and the training CMVN are applied. F0 and the pitch features are therefore those of the
augmented audio.

Reproducibility: utterance i of epoch e is augmented with numpy's Generator seeded by (seed, e, i) and by
nothing else, so the draws are the same in the main process or any worker (--num-workers), and in a run
resumed mid-epoch. The global random, numpy and torch generators are never touched. Call set_epoch(e)
before iterating a DataLoader over it (workers take a copy of the dataset when an epoch's iteration starts).

Lengths: the sampler packs batches with the dumped frame counts; a speed factor f changes an utterance to
about frames / f, so a batch may exceed batch.batch_frames by up to 1 / min(speed_factors).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from echo.data.augment import AugmentConfig, Augmenter
from echo.data.datadir import DataDirError
from echo.data.dataset import EchoDataset
from echo.features.config import FeatureConfig, FeatureError
from echo.features.extract import extract_features
from echo.io.utts import utterances


class AugmentedDataset(EchoDataset):
    """ds[i] → the dict of EchoDataset (utt_id, feats (T', D) with CMVN, f0 (T',), tokens), from audio.

    dump_dir: a dump dir of echo.bin.dump_feats (its wav.scp [+ segments], conf/feats.yaml, feats.scp
    for the utterance list and lengths). augment: AugmentConfig; seed: the training seed.
    """

    def __init__(self, dump_dir, tokenizer=None, cmvn=None, augment: AugmentConfig | None = None, seed: int = 0):
        super().__init__(dump_dir, tokenizer, cmvn)
        self.augment = augment or AugmentConfig()
        self.seed, self.epoch = int(seed), 1
        if not (self.dump_dir / "wav.scp").is_file():
            raise DataDirError(f"{self.dump_dir / 'wav.scp'}: missing; on-the-fly features (augment.enabled) "
                               "read the audio through the dump dir's copy of wav.scp (rerun stage 1)")
        self.feature_conf = FeatureConfig.from_yaml(self.dump_dir / "conf" / "feats.yaml")
        by_id = {u.utt_id: u for u in utterances(self.dump_dir)}
        missing = [u for u in self.utt_ids if u not in by_id]
        if missing:
            raise DataDirError(f"{self.dump_dir}: {len(missing)} utt(s) of feats.scp have no audio in "
                               f"wav.scp/segments: {' '.join(missing[:10])}")
        self.utts = [by_id[u] for u in self.utt_ids]
        self.augmenter = Augmenter(self.augment, self.utts, self.feature_conf.sample_rate)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def rng(self, i: int) -> np.random.Generator:
        """The generator of utterance i in the current epoch: a function of (seed, epoch, i) alone."""
        return np.random.default_rng([self.seed, self.epoch, int(i)])

    def audio(self, i: int) -> np.ndarray:
        """(N,) float32: utterance i's waveform after augmentation (untouched when nothing is switched on)."""
        wave = self.utts[i].load(self.feature_conf.sample_rate)
        if not self.augment.changes_audio:
            return wave   # no generator is even made
        return self.augmenter(wave, self.rng(i), exclude=i)

    def __getitem__(self, i: int) -> dict:
        utt = self.utt_ids[i]
        wave = self.audio(i)
        try:
            feats, f0 = extract_features(wave, self.feature_conf)
        except FeatureError as e:
            raise FeatureError(f"utt {utt} ({self.utts[i].entry}), epoch {self.epoch}, after augmentation: "
                               f"{e}") from e
        feats = torch.from_numpy(feats)
        if self.cmvn is not None:
            feats = self.cmvn(feats)
        tokens = (torch.from_numpy(self._tokens[i]) if self._tokens is not None
                  else torch.zeros(0, dtype=torch.long))
        return dict(utt_id=utt, feats=feats, f0=torch.from_numpy(np.asarray(f0, dtype=np.float32)),
                    tokens=tokens)


def training_dataset(dump_dir: Path, tokenizer, cmvn, augment: dict | AugmentConfig, seed: int) -> EchoDataset:
    """The training set: dumped features (augment.enabled false), or features made on the fly from
    augmented audio. A dumped set is an EchoDataset exactly as before: no random number is drawn."""
    conf = augment if isinstance(augment, AugmentConfig) else AugmentConfig(**augment)
    if not conf.enabled:
        return EchoDataset(dump_dir, tokenizer, cmvn=cmvn)
    return AugmentedDataset(dump_dir, tokenizer, cmvn=cmvn, augment=conf, seed=seed)
