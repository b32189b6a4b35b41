#!/usr/bin/env python3
"""Mandarin toned syllables spoken by espeak-ng: data/{train,dev,test} and their audio in data/wav/<set>/.

Each utterance is 2-4 syllables, each one of 15 base syllables with one of the four lexical tones,
written in numbered pinyin ("ma1 shi4 yu2"); the transcript is what espeak-ng's `cmn-latn-pinyin`
voice reads. Only the pitch contour tells "ma1" from "ma3", so a recogniser must hear F0 to get the
tones right. No two neighbouring syllables both carry tone 3: espeak-ng, like a Mandarin speaker,
says the first of two third tones as a second tone (sandhi: "ma3 ma3" is byte-identical to
"ma2 ma3"), and such a transcript could not be recovered from the audio.

A speaker is an espeak-ng voice variant at one pitch setting; the speaking rate, pitch range (how far
the tones move), loudness, leading/trailing silence and a faint noise floor vary per utterance. Every
choice comes from --seed: the same seed gives byte-identical audio, whatever --nj. train and dev share
one set of variants; test uses variants never heard in training (TRAIN_VARIANTS / TEST_VARIANTS).

Why plain text and espeak-ng's pitch range rather than SSML `<prosody range="x-high">`: x-high
roughly doubles the tone excursions of the voice's own range, but no more than pitch range ~95 does
without SSML (measured: ma2 rises by 0.25-0.28 in log F0 either way), and it appends ~0.3 s of
silence. Drawing the pitch range per utterance in PITCH_RANGE gives excursions of about 1.5-2 times
the voice's own instead, so that tones are clear but vary.
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np

from echo.score.tones import has_adjacent_tone3
from echo.synth.corpus import Speaker, Utterance, write_set
from echo.synth.espeak import list_variants

LANGUAGE = "cmn-latn-pinyin"  # espeak-ng 1.52: Mandarin read from numbered pinyin, tones from the digits
# 15 base syllables that exist in all four tones, with distinct initials and finals in espeak-ng's
# Mandarin phonemes (e.g. shi -> s.i., xi -> S;i, qi -> tS;hi, ge -> ko-).
SYLLABLES = ("ma", "ba", "da", "ni", "li", "mi", "lu", "wu", "yi", "yu", "shi", "xi", "qi", "fu", "ge")
TONES = (1, 2, 3, 4)  # high level, rising, dipping, falling
MIN_SYLLABLES, MAX_SYLLABLES = 2, 4

# espeak-ng -p. With a pitch range near the top of PITCH_RANGE the third tone of the lowest voices
# dips to ~50 Hz at -p 50 (to ~40 Hz at -p 30, below what pyworld's DIO tracks), so pitches start at
# 50 and conf/pitch.yaml sets f0_floor 50.
PITCHES = (50, 60, 70)
# Variants chosen by measuring, with DIO, the contour of "ma1".."ma4" at every pitch, the ends of
# PITCH_RANGE and of RATE_WPM (test/test_synth_tones.py repeats a part of it): the four tones come out
# level, rising, dipping and falling. Left out: variants whose tones come out wrong at some setting
# (belinda, linda and Andy at -p 70, where espeak-ng's F0 breaks down; steph, whose narrow range
# leaves the tones barely moving; whisper, klatt2, robosoft*, ...), variants where DIO misses most
# of the voicing (f3, anika, Andrea, announcer, ...), and from training the variants that differ from
# a test variant only in pitch or formants (Michael/Mario ~ m7, john/Tweaky/"Mr serious" ~ norbert,
# michel/Diogo ~ miguel, adam/benjamin/edward2 = klatt6).
# 16 male-like and 4 female-like voices for training; 4 male-like and 3 female-like for the test only.
TRAIN_VARIANTS = ("m1", "m3", "m4", "m5", "m6", "Denis", "Gene", "Marco", "Reed", "boris", "ed", "edward",
                  "iven", "kaukovalta", "paul", "victor",
                  "f2", "f4", "Annie", "shelby")
TEST_VARIANTS = ("m7", "norbert", "miguel", "klatt6",
                 "f5", "Alicia", "grandma")

RATE_WPM = (120, 200)          # syllables per minute (each syllable is a word to espeak-ng), uniform
PITCH_RANGE = (70, 95)         # espeak-ng pitch range (50 = the voice's own): about x1.5..x2 tone excursions
GAIN = (0.25, 0.9)             # peak amplitude
SILENCE_S = (0.05, 0.30)       # leading and trailing silence, each uniform
NOISE_DBFS = (-75.0, -60.0)    # white noise floor


def speakers(variants) -> list[Speaker]:
    return [Speaker(LANGUAGE, variant, pitch) for variant in variants for pitch in PITCHES]


def draw_syllables(rng: np.random.Generator) -> list[str]:
    """2-4 toned syllables, uniform over the sequences without two neighbouring third tones."""
    n = int(rng.integers(MIN_SYLLABLES, MAX_SYLLABLES + 1))
    bases = rng.integers(len(SYLLABLES), size=n)
    while True:  # rejection keeps every allowed tone sequence equally likely
        tones = rng.choice(TONES, size=n)
        if not any(a == 3 and b == 3 for a, b in zip(tones, tones[1:])):
            return [f"{SYLLABLES[b]}{t}" for b, t in zip(bases, tones)]


def draw_set(name: str, num: int, pool: list[Speaker], seed: int, set_index: int) -> list[Utterance]:
    """`num` utterances of set `name`, each with a speaker drawn from `pool`."""
    rng = np.random.default_rng([seed, set_index])
    utts = []
    for i in range(num):
        spk = pool[rng.integers(len(pool))]
        text = " ".join(draw_syllables(rng))
        assert not has_adjacent_tone3(text), text
        utts.append(Utterance(
            utt_id=f"{spk.spk_id}-{name}{i:05d}", speaker=spk, text=text, say=text,
            rate=int(rng.integers(RATE_WPM[0], RATE_WPM[1] + 1)),
            pitch_range=int(rng.integers(PITCH_RANGE[0], PITCH_RANGE[1] + 1)),
            gain=round(float(rng.uniform(*GAIN)), 4),
            lead_s=round(float(rng.uniform(*SILENCE_S)), 3), trail_s=round(float(rng.uniform(*SILENCE_S)), 3),
            noise_dbfs=round(float(rng.uniform(*NOISE_DBFS)), 2),
            seed=int(rng.integers(2**31 - 1))))
    return utts


def get_parser():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seed", type=int, default=777)
    p.add_argument("--num-train", type=int, default=3000)
    p.add_argument("--num-dev", type=int, default=200)
    p.add_argument("--num-test", type=int, default=300)
    p.add_argument("--fs", type=int, default=16000, help="sample rate of the WAV files")
    p.add_argument("--nj", type=int, default=2, help="parallel synthesis processes")
    p.add_argument("--data", type=Path, default=Path("data"), help="writes <data>/{train,dev,test}, <data>/wav/")
    return p


def main(argv=None):
    args = get_parser().parse_args(argv)
    missing = sorted(set(TRAIN_VARIANTS + TEST_VARIANTS) - set(list_variants()))
    if missing:
        sys.exit(f"make_corpus.py: espeak-ng voice variants not found in espeakng-loader's data: {missing}")
    assert not set(TRAIN_VARIANTS) & set(TEST_VARIANTS)
    seen, unseen = speakers(TRAIN_VARIANTS), speakers(TEST_VARIANTS)
    print(f"train/dev voices ({len(TRAIN_VARIANTS)} variants x {len(PITCHES)} pitches): {' '.join(TRAIN_VARIANTS)}")
    print(f"test voices, unseen in training ({len(TEST_VARIANTS)} variants): {' '.join(TEST_VARIANTS)}")
    start = time.time()
    total = 0.0
    for set_index, (name, num, pool) in enumerate((("train", args.num_train, seen), ("dev", args.num_dev, seen),
                                                   ("test", args.num_test, unseen))):
        if num <= 0:
            continue
        utts = draw_set(name, num, pool, args.seed, set_index)
        total += write_set(utts, args.data / name, args.data / "wav" / name, args.fs, args.nj)
    print(f"synth_tones corpus: {total:.2f} h of audio in {time.time() - start:.1f} s (seed {args.seed})")


if __name__ == "__main__":
    main()
