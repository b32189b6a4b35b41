"""Read one wav.scp entry into a float32 mono waveform at the recipe's sample rate.

An entry is the rest of a wav.scp line after the utt/recording id (Kaldi):
    /path/to/file.flac                       a file that soundfile reads (wav, flac, ogg, ...)
    cat /path/a.wav |                        a pipe: the command runs under bash, WAV bytes on stdout
Segments (Kaldi `segments`: reco start end, seconds) cut the recording before resampling; end=-1 or
None means "to the end of the file"; a file is read only over the segment, a pipe is run once per
segment and cut. Resampling uses soxr (HQ), after cutting, so segment boundaries are sample-exact.

Speed perturbation (Kaldi's utils/perturb_data_dir_speed.sh writes these entries; so does echo's):
    sox /path/file.flac -t wav - speed 0.9 |            (also `sox -t wav FILE ...`, Kaldi's spelling)
    cat /path/a.wav | sox -t wav - -t wav - speed 0.9 |
is recognised and applied here, without running sox: `change_speed`, sox's `speed` effect (tempo and
pitch together, like a tape played 0.9 times as fast), done as the same single soxr resampling that
brings the audio to the recipe's rate, so nothing is written to disk twice. Segments of a perturbed
recording are in perturbed time (Kaldi's convention), and are mapped back before reading.
"""
from __future__ import annotations

import io
import re
import shlex
import subprocess

import numpy as np
import soundfile as sf
import soxr

from echo.features.config import FeatureError

# A segment may end past the end of the file by at most this much (one 25 ms analysis window);
# further is an error rather than a silently shorter utterance. (Kaldi's extract-segments allows 0.5 s.)
SEGMENT_OVERSHOOT_S = 0.025


class AudioError(FeatureError):
    """Unreadable, corrupt, empty, non-finite or mis-segmented audio."""


def is_pipe(entry: str) -> bool:
    return entry.rstrip().endswith("|")


def _where(entry: str, utt_id: str | None) -> str:
    return f"utt {utt_id} ({entry.strip()})" if utt_id else entry.strip()


def _run_pipe(entry: str, utt_id: str | None) -> bytes:
    cmd = entry.rstrip()[:-1].strip()
    if not cmd:
        raise AudioError(f"{_where(entry, utt_id)}: empty pipe command")
    # pipefail: a failing command early in the pipeline must not hide behind a succeeding `cat`.
    proc = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        tail = proc.stderr.decode("utf-8", "replace").strip()[-500:]
        raise AudioError(f"{_where(entry, utt_id)}: pipe command exited with status {proc.returncode}"
                         + (f": {tail}" if tail else ""))
    if not proc.stdout:
        raise AudioError(f"{_where(entry, utt_id)}: pipe command wrote no audio")
    return proc.stdout


def load_audio(entry: str, sample_rate: int, start: float = 0.0, end: float | None = None,
               channel: int = 0, utt_id: str | None = None, downmix: bool = False) -> np.ndarray:
    """One wav.scp entry (optionally a [start, end) segment in seconds) → (N,) float32 at sample_rate.

    The given `channel` of a multi-channel file, or with downmix=True the average of all its channels.

    Raises AudioError naming utt_id and the entry for: unreadable or corrupt audio, a pipe exiting
    non-zero, a channel that does not exist, a segment outside the file, NaN/Inf samples, no samples.
    Only the segment is read from a seekable file, so many segments of a long recording stay cheap.
    """
    where = _where(entry, utt_id)
    entry, factor = parse_speed(entry)
    if factor != 1.0:   # the segment is in perturbed time; the source is read in its own time
        start, end = start * factor, (end * factor if end is not None and end >= 0 else end)
    source = io.BytesIO(_run_pipe(entry, utt_id)) if is_pipe(entry) else entry.strip()
    try:
        with sf.SoundFile(source) as f:
            rate, total, channels = f.samplerate, f.frames, f.channels
            if total == 0:
                raise AudioError(f"{where}: audio is empty (0 samples)")
            _check_not_truncated(f, where)
            first, last = _segment_samples(start, end, rate, total, where)
            if not downmix and not 0 <= channel < channels:
                raise AudioError(f"{where}: channel {channel} requested but the audio has {channels}")
            if first:
                f.seek(first)
            data = f.read(last - first, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError, TypeError) as e:
        raise AudioError(f"{where}: cannot read audio: {e}") from e
    wave = data.mean(axis=1, dtype=np.float32) if downmix and data.shape[1] > 1 else data[:, 0 if downmix else channel]
    if wave.size == 0:
        raise AudioError(f"{where}: audio is empty (0 samples)")
    if not np.all(np.isfinite(wave)):
        bad = int(np.count_nonzero(~np.isfinite(wave)))
        raise AudioError(f"{where}: audio has {bad} NaN/Inf samples")
    return change_speed(wave, rate, factor, sample_rate)


def change_speed(wave: np.ndarray, rate: float, factor: float = 1.0, out_rate: float | None = None) -> np.ndarray:
    """(N,) samples at `rate`, played `factor` times as fast, at out_rate (default: rate) → float32
    (≈ N·out_rate/(rate·factor),).

    sox's `speed` (Kaldi's speed perturbation): durations divide by factor, every frequency (F0,
    formants) multiplies by it. One soxr HQ resampling from rate·factor to out_rate, which is also the
    plain resampling to the recipe's rate when factor is 1. The on-the-fly augmentation calls this too.
    """
    if factor <= 0:
        raise ValueError(f"speed factor must be positive, got {factor}")
    out_rate = rate if out_rate is None else out_rate
    if rate * factor != out_rate:
        wave = soxr.resample(wave, rate * factor, out_rate, quality="HQ")
    return np.ascontiguousarray(wave, dtype=np.float32)


# libsndfile reads a WAV whose header promises more data than the file holds as a shorter file, and says so
# only in its log ("data : 32000 (should be 15978)"); Kaldi warns about it. A shorter utterance would be
# transcribed without a word of warning, so it is an error here (or a counted skip with --skip-bad).
_TRUNCATED = re.compile(r"^data\s*:\s*(\d+)\s*\(should be (\d+)\)", re.M)
_BLOCK_ALIGN = re.compile(r"Block Align\s*:\s*(\d+)")


def _check_not_truncated(f: sf.SoundFile, where: str) -> None:
    m = _TRUNCATED.search(f.extra_info or "")
    if m is None:
        return
    promised, held = int(m.group(1)), int(m.group(2))
    if held >= promised:
        return
    align = _BLOCK_ALIGN.search(f.extra_info)
    per_frame = int(align.group(1)) if align and int(align.group(1)) > 0 else 0
    unit = (f"{promised // per_frame} samples but the file holds {held // per_frame}" if per_frame else
            f"{promised} bytes of audio but the file holds {held}")
    raise AudioError(f"{where}: truncated audio: the header promises {unit} "
                     f"({promised} vs {held} bytes of data)")


def speed_entry(entry: str, factor: float | str) -> str:
    """The wav.scp entry of `entry` played `factor` times as fast (Kaldi's sox spelling; see parse_speed)."""
    entry = entry.strip()
    if is_pipe(entry):
        return f"{entry} sox -t wav - -t wav - speed {factor} |"
    return f"sox {shlex.quote(entry)} -t wav - speed {factor} |"


def parse_speed(entry: str) -> tuple[str, float]:
    """(the entry without its sox speed effects, the product of their factors); (entry, 1.0) when the
    entry is not one speed_entry writes (it then runs as an ordinary pipe)."""
    factor = 1.0
    while is_pipe(entry):
        head, bar, tail = entry.rstrip()[:-1].rpartition("|")
        try:
            words = shlex.split(tail)
        except ValueError:
            break
        if len(words) < 6 or words[0] != "sox" or words[-2] != "speed" or words[-5:-2] != ["-t", "wav", "-"]:
            break
        try:
            f = float(words[-1])
        except ValueError:
            break
        source = words[1:-5]
        if bar and source == ["-t", "wav", "-"]:
            entry = head.rstrip() + " |"
        elif not bar and len(source) in (1, 3) and (len(source) == 1 or source[:2] == ["-t", "wav"]):
            entry = source[-1]
        else:
            break
        if f <= 0:
            raise AudioError(f"{entry}: speed factor must be positive, got {f}")
        factor *= f
    return entry, factor


def _segment_samples(start: float, end: float | None, rate: int, total: int, where: str) -> tuple[int, int]:
    """Segment [start, end) seconds → [first, last) sample indices, checked against the file length."""
    if end is not None and end < 0:   # Kaldi: end=-1 means to the end of the recording
        end = None
    if start == 0 and end is None:
        return 0, total
    duration = total / rate
    if start < 0:
        raise AudioError(f"{where}: segment start {start} s is negative")
    if end is not None and end <= start:
        raise AudioError(f"{where}: segment end {end} s is not after start {start} s")
    if start >= duration:
        raise AudioError(f"{where}: segment start {start} s is beyond the file end ({duration:.3f} s)")
    if end is not None and end > duration + SEGMENT_OVERSHOOT_S:
        raise AudioError(f"{where}: segment end {end} s is beyond the file end ({duration:.3f} s)")
    first = int(round(start * rate))
    last = total if end is None else min(total, int(round(end * rate)))
    return first, last
