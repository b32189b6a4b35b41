"""Synthetic corpora: render utterance specifications with espeak-ng into WAV files and Kaldi data dirs.

A recipe's local/make_corpus.py decides *what* is said and by whom (a list of `Utterance`s per set,
drawn from a seed); this module renders them identically every time: espeak-ng (echo.synth.espeak)
-> soxr resampling -> peak gain -> silence padding with faint noise -> 16-bit WAV, in `nj` processes.
Every random choice is in the `Utterance`, so the audio does not depend on `nj` or on order.
"""
import multiprocessing
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import soundfile
import soxr

from echo.synth.espeak import SAMPLE_RATE, synthesize


@dataclass(frozen=True)
class Speaker:
    """A synthetic speaker: an espeak-ng voice (language + variant) at one pitch setting."""
    language: str  # espeak-ng language, e.g. "en-us"
    variant: str   # espeak-ng voice variant, e.g. "m3"
    pitch: int     # espeak-ng -p, 0..99 (50 = the variant's own pitch)

    @property
    def voice(self) -> str:
        return f"{self.language}+{self.variant}"

    @property
    def spk_id(self) -> str:
        # The fixed "_pNN" tail means no speaker id is a prefix of another, so utt ids "<spk>-..."
        # sort in the same order as their speakers (Kaldi's rule).
        return f"{self.language}_{self.variant}_p{self.pitch:02d}"


@dataclass(frozen=True)
class Utterance:
    """Everything needed to render one utterance, deterministically."""
    utt_id: str        # "<spk_id>-<set><index>"
    speaker: Speaker
    text: str          # the transcript written to data/<set>/text
    say: str           # what espeak-ng is given (text, or SSML when ssml=True)
    rate: int          # words per minute, 80..450
    pitch_range: int   # espeak-ng pitch range 0..99 (50 = the voice's own)
    gain: float        # peak amplitude of the speech after scaling, (0, 1)
    lead_s: float      # silence before the speech (s)
    trail_s: float     # silence after it (s)
    noise_dbfs: float  # level (dB re full scale, RMS) of the white noise over the whole file
    seed: int          # seeds espeak-ng's breath noise and the added noise
    ssml: bool = False


def render(utt: Utterance, fs: int) -> np.ndarray:
    """Utterance -> int16 samples (N,) at `fs` Hz."""
    wave = synthesize(utt.say, voice=utt.speaker.voice, pitch=utt.speaker.pitch, pitch_range=utt.pitch_range,
                      rate=utt.rate, ssml=utt.ssml, seed=utt.seed)
    if fs != SAMPLE_RATE:
        wave = soxr.resample(wave, SAMPLE_RATE, fs, quality="HQ")
    peak = float(np.abs(wave).max())
    if peak == 0.0:
        raise RuntimeError(f"utterance {utt.utt_id}: espeak-ng produced silence for {utt.say!r} ({utt.speaker.voice})")
    wave = wave.astype(np.float64) * (utt.gain / peak)
    wave = np.concatenate([np.zeros(round(utt.lead_s * fs)), wave, np.zeros(round(utt.trail_s * fs))])
    rng = np.random.default_rng(utt.seed)
    wave += rng.standard_normal(len(wave)) * 10.0 ** (utt.noise_dbfs / 20.0)
    return np.clip(np.round(wave * 32768.0), -32768, 32767).astype(np.int16)


def _render_to_file(job: tuple[Utterance, int, str]) -> tuple[str, float]:
    utt, fs, path = job
    samples = render(utt, fs)
    tmp = f"{path}.tmp{os.getpid()}.wav"
    soundfile.write(tmp, samples, fs, subtype="PCM_16")
    os.replace(tmp, path)  # a killed job never leaves a truncated WAV under the final name
    return utt.utt_id, len(samples) / fs


def render_set(utts: list[Utterance], wav_dir: Path, fs: int, nj: int = 1) -> dict[str, tuple[str, float]]:
    """Writes <wav_dir>/<utt_id>.wav for each utterance; returns {utt_id: (abs path, duration s)}."""
    wav_dir = Path(wav_dir).resolve()
    wav_dir.mkdir(parents=True, exist_ok=True)
    ids = [u.utt_id for u in utts]
    if len(set(ids)) != len(ids):
        raise ValueError(f"duplicate utt ids in {wav_dir}")
    jobs = [(u, fs, str(wav_dir / f"{u.utt_id}.wav")) for u in utts]
    if nj <= 1:
        results = map(_render_to_file, jobs)
        durations = dict(results)
    else:
        # spawn: workers never inherit a half-used espeak worker pipe or other state of this process
        with multiprocessing.get_context("spawn").Pool(nj) as pool:
            durations = dict(pool.imap_unordered(_render_to_file, jobs, chunksize=16))
    return {utt_id: (path, durations[utt_id]) for (_, _, path), utt_id in zip(jobs, ids)}


def write_set(utts: list[Utterance], data_dir: Path, wav_dir: Path, fs: int, nj: int = 1,
              log=print) -> float:
    """Renders one set and writes the Kaldi data dir `data_dir` ({wav.scp,text,utt2spk,spk2utt}) and
    `data_dir/../local/<set>.synth.tsv` (every synthesis parameter per utterance). Returns hours of audio.

    The old data dir is removed first and the new one written only after every WAV exists, so an
    interrupted run never leaves a data dir pointing at missing or stale audio.
    """
    from echo.data.datadir import utt2spk_to_spk2utt, validate_data_dir, write_kv

    data_dir, wav_dir = Path(data_dir), Path(wav_dir)
    if data_dir.is_dir():  # wholly generated here; stale splits or per-utt files must not survive
        shutil.rmtree(data_dir)
    if wav_dir.is_dir():
        for old in wav_dir.glob("*.wav"):  # a previous run with other ids or counts
            old.unlink()
    start = time.time()
    rendered = render_set(utts, wav_dir, fs, nj)
    data_dir.mkdir(parents=True, exist_ok=True)
    utt2spk = {u.utt_id: u.speaker.spk_id for u in utts}
    write_kv(data_dir / "wav.scp", [(u.utt_id, rendered[u.utt_id][0]) for u in utts])
    write_kv(data_dir / "text", [(u.utt_id, u.text) for u in utts])
    write_kv(data_dir / "utt2spk", utt2spk)
    write_kv(data_dir / "utt2dur", [(u.utt_id, f"{rendered[u.utt_id][1]:.3f}") for u in utts])
    spk2utt = utt2spk_to_spk2utt(utt2spk)
    write_kv(data_dir / "spk2utt", spk2utt)
    write_synth_table(data_dir.parent / "local" / f"{data_dir.name}.synth.tsv", utts)
    validate_data_dir(data_dir, no_feats=True)
    hours = sum(d for _, d in rendered.values()) / 3600
    log(f"{data_dir}: {len(utts)} utterances, {len(spk2utt)} speakers, {hours * 60:.1f} min of audio "
        f"rendered in {time.time() - start:.1f} s with {nj} job(s)")
    return hours


def write_synth_table(path: Path, utts: list[Utterance]):
    """A TSV of every synthesis parameter, one utterance a line (for analysis; not a Kaldi file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fields = [f for f in asdict(utts[0]) if f != "speaker"] if utts else []
    fields = ["utt_id", "spk_id", "voice", "pitch"] + [f for f in fields if f != "utt_id"]
    lines = ["\t".join(fields)]
    for u in sorted(utts, key=lambda u: u.utt_id.encode()):
        row = asdict(u)
        row.update(spk_id=u.speaker.spk_id, voice=u.speaker.voice, pitch=u.speaker.pitch)
        lines.append("\t".join(str(row[f]) for f in fields))
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(tmp, path)
