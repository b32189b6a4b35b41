#!/usr/bin/env python3
"""Connected digit strings spoken by espeak-ng: data/{train,dev,test} and their audio in data/wav/<set>/.

Each utterance is 1-7 words from {zero..nine, oh}, spoken by a speaker = espeak-ng voice (accent +
variant) at one pitch setting; the speaking rate, pitch range, loudness, leading/trailing silence and
a faint noise floor vary per utterance. Every choice comes from --seed: the same seed gives
byte-identical audio, whatever --nj.

train and dev share one set of voice variants; test uses variants never heard in training
(TRAIN_VARIANTS / TEST_VARIANTS below).
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np

from echo.synth.corpus import Speaker, Utterance, write_set
from echo.synth.espeak import list_variants

WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "oh")
MIN_WORDS, MAX_WORDS = 1, 7

ACCENTS = ("en-us", "en", "en-gb-scotland")  # American, British (RP-like), Scottish English
PITCHES = (30, 50, 70)                        # espeak-ng -p: about x0.77, x1, x1.30 of a variant's F0
# Variants whose voicing is intact (no whisper, no breathy-only klatt/klatt2, no noise-only 'caleb'),
# 19 male-like and 10 female-like for training; 5 male-like and 3 female-like others for the test set only.
TRAIN_VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "klatt3", "klatt4", "Andy", "Gene", "Michael", "adam",
                  "announcer", "benjamin", "david", "edward", "iven3", "boris", "travis",
                  "f1", "f2", "f3", "f4", "Annie", "Andrea", "anika", "belinda", "grandma", "shelby")
TEST_VARIANTS = ("m7", "m8", "klatt6", "norbert", "grandpa",
                 "f5", "steph", "Alicia")

RATE_WPM = (130, 230)          # speaking rate, uniform (integers)
PITCH_RANGE = (25, 85)         # espeak-ng pitch range (50 = the voice's own), uniform
GAIN = (0.25, 0.9)             # peak amplitude
SILENCE_S = (0.05, 0.30)       # leading and trailing silence, each uniform
NOISE_DBFS = (-75.0, -60.0)    # white noise floor


def speakers(variants) -> list[Speaker]:
    return [Speaker(accent, variant, pitch) for variant in variants for accent in ACCENTS for pitch in PITCHES]


def draw_set(name: str, num: int, pool: list[Speaker], seed: int, set_index: int) -> list[Utterance]:
    """`num` utterances of set `name`, each with a speaker drawn from `pool`."""
    rng = np.random.default_rng([seed, set_index])
    utts = []
    for i in range(num):
        spk = pool[rng.integers(len(pool))]
        words = [WORDS[k] for k in rng.integers(len(WORDS), size=rng.integers(MIN_WORDS, MAX_WORDS + 1))]
        text = " ".join(words)
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
    print(f"train/dev voices ({len(TRAIN_VARIANTS)} variants x {len(ACCENTS)} accents x {len(PITCHES)} pitches): "
          f"{' '.join(TRAIN_VARIANTS)}")
    print(f"test voices, unseen in training ({len(TEST_VARIANTS)} variants): {' '.join(TEST_VARIANTS)}")
    start = time.time()
    total = 0.0
    for set_index, (name, num, pool) in enumerate((("train", args.num_train, seen), ("dev", args.num_dev, seen),
                                                   ("test", args.num_test, unseen))):
        if num <= 0:
            continue
        utts = draw_set(name, num, pool, args.seed, set_index)
        total += write_set(utts, args.data / name, args.data / "wav" / name, args.fs, args.nj)
    print(f"synth_digits corpus: {total:.2f} h of audio in {time.time() - start:.1f} s (seed {args.seed})")


if __name__ == "__main__":
    main()
