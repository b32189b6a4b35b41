"""Synthetic corpora: render utterance specifications with espeak-ng into WAV files and Kaldi data dirs.

A recipe's local/make_corpus.py decides *what* is said and by whom (a list of `Utterance`s per set,
drawn from a seed); this module renders them identically every time: espeak-ng (echo.synth.espeak)
-> soxr resampling -> peak gain -> silence padding with faint noise -> 16-bit WAV, in `nj` processes.
Every random choice is in the `Utterance`, so the audio does not depend on `nj` or on order.

The second half is what every local/make_corpus.py shares: its options (corpus_parser), drawing a
set's utterances with their per-utterance variation (draw_utterances, draw_variation) and writing
train/dev/test with the voice checks (write_corpus).
"""
import argparse
import multiprocessing
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import soundfile
import soxr

from echo.synth.espeak import SAMPLE_RATE, list_variants, synthesize
from echo.io import atomic


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
    say: str           # what espeak-ng is given (text, SSML when ssml=True, [[phonemes]] when phonemes=True)
    rate: int          # words per minute, 80..450
    pitch_range: int   # espeak-ng pitch range 0..99 (50 = the voice's own)
    gain: float        # peak amplitude of the speech after scaling, (0, 1)
    lead_s: float      # silence before the speech (s)
    trail_s: float     # silence after it (s)
    noise_dbfs: float  # level (dB re full scale, RMS) of the white noise over the whole file
    seed: int          # seeds espeak-ng's breath noise and the added noise
    ssml: bool = False
    phonemes: bool = False           # `say` holds espeak-ng phoneme mnemonics in [[...]]
    contour_variation: bool = False  # each syllable resynthesised with WORLD on a drawn tone contour (contour.py)


def render(utt: Utterance, fs: int) -> np.ndarray:
    """Utterance -> int16 samples (N,) at `fs` Hz."""
    def speak(text: str) -> np.ndarray:
        return synthesize(text, voice=utt.speaker.voice, pitch=utt.speaker.pitch, pitch_range=utt.pitch_range,
                          rate=utt.rate, ssml=utt.ssml,
                          phonemes=utt.phonemes, seed=utt.seed)
    if utt.contour_variation:
        from echo.synth.contour import varied_utterance
        wave, _ = varied_utterance(utt.say, speak, SAMPLE_RATE, np.random.default_rng([utt.seed, 1]))
    else:
        wave = speak(utt.say)
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
    # a killed job never leaves a truncated WAV under the final name
    atomic.atomic_write(path, lambda f: soundfile.write(f, samples, fs, subtype="PCM_16", format="WAV"))
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
    from echo.data.datadir import utt2spk_to_spk2utt, write_kv
    from echo.data.validate import validate_data_dir

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
    atomic.write_text(path, "\n".join(lines) + "\n")


# --- what a recipe's local/make_corpus.py shares ---------------------------------------------------
# A recipe keeps its own words, grammar, voices and ranges; these functions turn them into a corpus
# the same way in every recipe, so that one seed means the same random stream everywhere.

@dataclass(frozen=True)
class Variation:
    """The ranges, each (low, high) and drawn uniformly, that an utterance's rendering varies in."""
    rate_wpm: tuple[int, int]           # speaking rate, words per minute (integers, both ends included)
    pitch_range: tuple[int, int]        # espeak-ng pitch range, 50 = the voice's own (integers, both ends)
    gain: tuple[float, float]           # peak amplitude
    silence_s: tuple[float, float]      # leading and trailing silence, each
    noise_dbfs: tuple[float, float]     # white noise floor


def draw_variation(rng: np.random.Generator, variation: Variation) -> dict:
    """One utterance's rendering settings: the Utterance fields rate, pitch_range, gain, lead_s,
    trail_s, noise_dbfs and seed, drawn from `rng` in that order (the order fixes the corpus)."""
    return dict(rate=int(rng.integers(variation.rate_wpm[0], variation.rate_wpm[1] + 1)),
                pitch_range=int(rng.integers(variation.pitch_range[0], variation.pitch_range[1] + 1)),
                gain=round(float(rng.uniform(*variation.gain)), 4),
                lead_s=round(float(rng.uniform(*variation.silence_s)), 3),
                trail_s=round(float(rng.uniform(*variation.silence_s)), 3),
                noise_dbfs=round(float(rng.uniform(*variation.noise_dbfs)), 2),
                seed=int(rng.integers(2**31 - 1)))


def draw_utterances(name: str, num: int, pool: list[Speaker], seed: int, set_index: int,
                    draw_text: Callable[[np.random.Generator, int], tuple[str, str]],
                    variation: Variation) -> list[Utterance]:
    """`num` utterances "<spk_id>-<name><index>" of set `name`, each by a speaker drawn from `pool`.

    For utterance i: the speaker, then (text, say) = draw_text(rng, i), then draw_variation, all from
    one generator seeded with (seed, set_index), so each set is reproducible on its own.
    """
    rng = np.random.default_rng([seed, set_index])
    utts = []
    for i in range(num):
        spk = pool[rng.integers(len(pool))]
        text, say = draw_text(rng, i)
        utts.append(Utterance(utt_id=f"{spk.spk_id}-{name}{i:05d}", speaker=spk, text=text, say=say,
                              **draw_variation(rng, variation)))
    return utts


def speaker_grid(languages, variants, pitches) -> list[Speaker]:
    """Every (language, variant, pitch) Speaker, variant by variant."""
    return [Speaker(language, variant, pitch) for variant in variants for language in languages for pitch in pitches]


def corpus_parser(description: str) -> argparse.ArgumentParser:
    """The options of every local/make_corpus.py (local/data.sh passes them on)."""
    p = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seed", type=int, default=777)
    p.add_argument("--num-train", type=int, default=3000)
    p.add_argument("--num-dev", type=int, default=200)
    p.add_argument("--num-test", type=int, default=300)
    p.add_argument("--fs", type=int, default=16000, help="sample rate of the WAV files")
    p.add_argument("--nj", type=int, default=2, help="parallel synthesis processes")
    p.add_argument("--data", type=Path, default=Path("data"), help="writes <data>/{train,dev,test}, <data>/wav/")
    return p


def _voices(speakers: list[Speaker]) -> tuple[list[str], str]:
    """(variants in order, "N variants x M accents x K pitches") of a speaker pool."""
    variants = list(dict.fromkeys(s.variant for s in speakers))
    accents = len({s.language for s in speakers})
    grid = f"{len(variants)} variants" + (f" x {accents} accents" if accents > 1 else "")
    return variants, f"{grid} x {len({s.pitch for s in speakers})} pitches"


def write_corpus(name: str, args: argparse.Namespace, draw_set: Callable[..., list[Utterance]],
                seen: list[Speaker], unseen: list[Speaker]) -> float:
    """Writes <args.data>/{train,dev,test} and their audio; returns hours of audio.

    train and dev draw their speakers from `seen`, test from `unseen`, whose voice variants must be
    others; draw_set(set_name, num, pool, seed, set_index) -> utterances is the recipe's own.
    """
    (seen_variants, seen_grid), (unseen_variants, _) = _voices(seen), _voices(unseen)
    missing = sorted(set(seen_variants + unseen_variants) - set(list_variants()))
    if missing:
        sys.exit(f"make_corpus.py: espeak-ng voice variants not found in espeakng-loader's data: {missing}")
    shared = sorted(set(seen_variants) & set(unseen_variants))
    if shared:
        sys.exit(f"make_corpus.py: voice variants both in training and test: {shared}")
    print(f"train/dev voices ({seen_grid}): {' '.join(seen_variants)}")
    print(f"test voices, unseen in training ({len(unseen_variants)} variants): {' '.join(unseen_variants)}")
    start = time.time()
    total = 0.0
    for set_index, (set_name, num, pool) in enumerate((("train", args.num_train, seen), ("dev", args.num_dev, seen),
                                                       ("test", args.num_test, unseen))):
        if num <= 0:
            continue
        utts = draw_set(set_name, num, pool, args.seed, set_index)
        total += write_set(utts, args.data / set_name, args.data / "wav" / set_name, args.fs, args.nj)
    print(f"{name} corpus: {total:.2f} h of audio in {time.time() - start:.1f} s (seed {args.seed})")
    return total
