"""The utterances of a Kaldi data dir: wav.scp, cut by segments when there are any (Kaldi's extract-segments).

Every reader of raw audio (the dump stage, decoding a data dir, figures) walks a data dir with this one
iterator, so segments, missing recordings and C byte order mean the same everywhere.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from echo.data.datadir import read_kv_dict, read_segments


@dataclass(frozen=True)
class Utterance:
    utt_id: str
    entry: str | None         # the wav.scp entry of its recording; None when the recording is not in wav.scp
    start: float = 0.0        # seconds into the recording
    end: float | None = None  # None (or -1 in segments): to the end

    def load(self, sample_rate: int, channel: int = 0) -> np.ndarray:
        """(N,) float32 at sample_rate; AudioError naming the utterance when it cannot be read."""
        from echo.features.audio import AudioError, load_audio

        if self.entry is None:
            raise AudioError(f"utt {self.utt_id}: its recording is not in wav.scp")
        return load_audio(self.entry, sample_rate, self.start, self.end, channel, utt_id=self.utt_id)


def utterances(data_dir) -> list[Utterance]:
    """Every utterance of data_dir (wav.scp [+ segments]) in C byte order of utt ids."""
    data_dir = Path(data_dir)
    wav = read_kv_dict(data_dir / "wav.scp")
    segments = data_dir / "segments"
    if not segments.is_file():
        utts = [Utterance(utt, entry) for utt, entry in wav.items()]
    else:
        utts = [Utterance(utt, wav.get(reco), start, end) for utt, (reco, start, end) in read_segments(segments).items()]
    return sorted(utts, key=lambda u: u.utt_id.encode("utf-8"))
