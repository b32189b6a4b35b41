"""What echo-transcribe reads: audio files, folders of them, Kaldi wav.scp files, a list of paths on stdin,
or (from Python) waveforms, each turned into a Source; and long recordings cut into chunks at quiet points.

    sources, notes = expand_inputs(["a.wav", "recordings/", "data/test/wav.scp", "-"], stdin=sys.stdin)
    wave = load_source(sources[0], 16000)                   # mono float32 at 16 kHz, any input rate
    for first, last in chunk_bounds(wave, 16000, max_seconds=30.0): ...
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from echo.features.audio import AudioError, load_audio

AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg", ".sph")
MAX_CHUNK_SECONDS = 30.0      # the longest piece decoded at once; longer audio is cut at quiet points
MIN_CHUNK_FRACTION = 0.5      # a cut falls in the second half of the window: chunks of 15-30 s


@dataclass
class Source:
    """One thing to transcribe: a wav.scp-style entry (a path or a `cmd |` pipe), or a waveform."""
    id: str                            # the path, the wav.scp key, or "array<i>"
    entry: str | None = None
    wave: np.ndarray | None = None
    rate: int | None = None            # of wave

    @property
    def path(self) -> str | None:
        return self.entry


def _is_scp(path: Path) -> bool:
    return path.suffix == ".scp"


def _folder(folder: Path) -> tuple[list[Source], int]:
    found, other = [], 0
    for p in sorted(folder.rglob("*")):
        if not p.is_file():
            continue
        if p.suffix.lower() in AUDIO_EXTENSIONS:
            found.append(Source(str(p), str(p)))
        else:
            other += 1
    return found, other


def _scp(path: Path) -> list[Source]:
    from echo.data.datadir import read_kv_dict

    return [Source(key, entry) for key, entry in read_kv_dict(path).items()]


def expand_inputs(inputs, stdin=None) -> tuple[list[Source], list[str]]:
    """Sources of every input, in the order given (folders: their audio files sorted by path; wav.scp: its
    lines), and notes for the user (non-audio files a folder held, which are not transcribed). A path
    that does not exist stays a Source: reading it fails and is reported like any unreadable file."""
    sources, notes = [], []
    for item in inputs:
        if isinstance(item, np.ndarray):
            sources.append(Source(f"array{len(sources)}", wave=item))
            continue
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], np.ndarray):
            sources.append(Source(f"array{len(sources)}", wave=item[0], rate=int(item[1])))
            continue
        if str(item) == "-":
            if stdin is None:
                raise ValueError("'-' reads paths from standard input, but none was given")
            sources += [Source(line.strip(), line.strip()) for line in stdin if line.strip()]
            continue
        path = Path(item)
        if path.is_dir():
            found, other = _folder(path)
            sources += found
            if other:
                notes.append(f"{path}: {other} file(s) that are not audio ({' '.join(AUDIO_EXTENSIONS)}) "
                             "left out")
            if not found:
                notes.append(f"{path}: no audio files ({' '.join(AUDIO_EXTENSIONS)}) in this folder")
        elif path.is_file() and _is_scp(path):
            sources += _scp(path)
        else:
            sources.append(Source(str(item), str(item)))
    return sources, notes


def load_source(src: Source, sample_rate: int) -> np.ndarray:
    """(N,) float32 mono at sample_rate (channels averaged, resampled with soxr); AudioError naming it."""
    if src.wave is not None:
        import soxr

        wave = np.asarray(src.wave, dtype=np.float32)
        if wave.ndim == 2:       # (N, channels), as soundfile returns
            wave = wave.mean(axis=1, dtype=np.float32)
        if wave.ndim != 1:
            raise AudioError(f"{src.id}: expected a (N,) or (N, channels) waveform, got shape {wave.shape}")
        rate = src.rate or sample_rate
        if rate != sample_rate and wave.size:
            wave = soxr.resample(wave, rate, sample_rate, quality="HQ").astype(np.float32)
        return np.ascontiguousarray(wave)
    if not src.entry.rstrip().endswith("|") and not Path(src.entry).exists():
        raise AudioError(f"{src.entry}: no such file")
    return load_audio(src.entry, sample_rate, downmix=True)


def chunk_bounds(wave: np.ndarray, sample_rate: int, max_seconds: float = MAX_CHUNK_SECONDS,
                 min_samples: int = 0) -> list[tuple[int, int]]:
    """[first, last) sample ranges covering all of wave, each at most max_seconds long; a long recording
    is cut at the quietest 10 ms (lowest energy over 100 ms around it) in the second half of each window,
    so words are rarely split. Nothing is dropped: the chunks tile the recording. A last chunk under
    min_samples (too short to decode) joins the one before, which may then pass max_seconds by as much."""
    n, max_len = len(wave), int(max_seconds * sample_rate)
    if n <= max_len:
        return [(0, n)]
    hop = max(1, sample_rate // 100)
    frames = n // hop
    energy = np.add.reduceat(np.asarray(wave[:frames * hop], dtype=np.float64) ** 2, np.arange(0, frames * hop, hop))
    smooth = np.convolve(energy, np.ones(10) / 10, mode="same")
    bounds, first = [], 0
    while n - first > max_len:
        lo = (first + int(max_len * MIN_CHUNK_FRACTION)) // hop
        hi = min((first + max_len) // hop, frames)
        cut = (lo + int(np.argmin(smooth[lo:hi]))) * hop if hi > lo else first + max_len
        cut = min(max(cut, first + 1), first + max_len)
        bounds.append((first, cut))
        first = cut
    if n - first < min_samples:
        first = bounds.pop()[0]
    bounds.append((first, n))
    return bounds
