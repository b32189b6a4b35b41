#!/usr/bin/env python3
"""English statements and questions with the same words, spoken by espeak-ng: data/{train,dev,test}.

Each sentence comes from a small grammar ("the man saw the red car today", 4-9 words) and is
said twice, by speakers drawn independently: once as a statement, once as a question. espeak-ng is
given the words with a final "." or "?" and speaks the question with a fall-rise at its end, the
statement with a fall. Nothing but the intonation (and the timing that goes with it) tells them
apart. The transcript keeps the mark as a token of its own, lower case, no other punctuation:

    <utt-id> the man saw the red car today .
    <utt-id> the man saw the red car today ?

so that with word units "." and "?" are two tokens of the vocabulary and the last one a recogniser
emits is its answer to "statement or question?" (echo.score.punct scores it).

A speaker is an espeak-ng English accent and voice variant at one pitch setting; the speaking rate,
pitch range, loudness, leading/trailing silence and a faint noise floor vary per utterance. Every
choice comes from --seed: the same seed gives byte-identical audio, whatever --nj. train and dev
share one set of variants; test uses variants never heard in training (TRAIN_VARIANTS / TEST_VARIANTS).
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np

from echo.synth.corpus import Speaker, Utterance, write_set
from echo.synth.espeak import list_variants

SUBJECTS = ("i", "you", "we", "they", "he", "she", "the man", "the woman", "my sister", "your brother",
            "the children", "our teacher")
VERBS = ("saw", "liked", "found", "wanted", "bought", "painted", "opened", "sold", "cleaned", "moved")
ADJECTIVES = ("red", "green", "old", "new", "small", "big")
# Sentences end in a stressed syllable (a one-syllable noun, or a tail stressed at its end, but for
# "in the morning"), where espeak-ng puts the question's fall-rise or the statement's fall. After an
# unstressed ending ("letter", "yesterday") the British voices leave the final syllable nearly
# unvoiced or spread the tune thin, and the F0 cue all but disappears.
NOUNS = ("car", "door", "house", "dog", "boat", "book", "cake", "chair", "box", "ball")
TAILS = ("today", "again", "at night", "tonight", "last week", "at home", "in the morning")
P_ADJECTIVE, P_TAIL = 0.5, 0.5
MARKS = (".", "?")  # statement, question: every sentence is drawn once and said both ways

ACCENTS = ("en-us", "en", "en-gb-scotland")   # American, British (RP-like), Scottish English
# espeak-ng -p. Statements of the lowest voices at -p 40 end near 55 Hz; conf/pitch.yaml sets f0_floor 50.
PITCHES = (40, 55, 70)
# Variants chosen by measuring, with DIO, the end of statements and questions at the corners of
# PITCHES x PITCH_RANGE x RATE_WPM in each accent (test/test_synth_prosody.py repeats a part of it):
# every statement ends falling, and questions end rising, if at times only a little at -p 40, the
# lowest pitch range and the fastest rate. Left out: variants with `intonation` 2-4 in their file
# (m5, Alicia, pablo, ...: flatter or reversed tunes), variants whose statements end in spurious
# rises (grandpa, travis), whose questions hardly rise (anika, steph, klatt6 and adam/benjamin =
# klatt6), and from training the variants that differ from a test variant only in pitch or
# formants (Michael/Mario ~ m7, michel/Diogo ~ miguel, john/Tweaky/"Mr serious" ~ norbert,
# iven2-4 ~ iven). Nor the West
# Midlands accent (en-gb-x-gbcwmd), whose statements rise too.
# 16 male-like and 7 female-like voices for training; 5 male-like and 2 female-like for the test only.
TRAIN_VARIANTS = ("m1", "m2", "m3", "m4", "m6", "Gene", "edward", "boris", "klatt3", "klatt4", "paul", "robert",
                  "sandro", "victor", "kaukovalta", "gustave",
                  "f1", "f2", "f3", "f4", "Annie", "belinda", "shelby")
TEST_VARIANTS = ("m7", "m8", "iven", "norbert", "miguel",
                 "f5", "grandma")

RATE_WPM = (130, 200)          # speaking rate, uniform (integers)
PITCH_RANGE = (50, 85)         # espeak-ng pitch range (50 = the voice's own), uniform
GAIN = (0.25, 0.9)             # peak amplitude
SILENCE_S = (0.05, 0.30)       # leading and trailing silence, each uniform
NOISE_DBFS = (-75.0, -60.0)    # white noise floor


def speakers(variants) -> list[Speaker]:
    return [Speaker(accent, variant, pitch) for variant in variants for accent in ACCENTS for pitch in PITCHES]


def draw_words(rng: np.random.Generator) -> list[str]:
    """One sentence of the grammar: subject verb article [adjective] noun [tail], 4-9 words."""
    words = SUBJECTS[rng.integers(len(SUBJECTS))].split() + [VERBS[rng.integers(len(VERBS))]]
    article = "the" if rng.random() < 0.5 else "a"
    adjective = [ADJECTIVES[rng.integers(len(ADJECTIVES))]] if rng.random() < P_ADJECTIVE else []
    words += [article] + adjective + [NOUNS[rng.integers(len(NOUNS))]]
    if rng.random() < P_TAIL:
        words += TAILS[rng.integers(len(TAILS))].split()
    return words


def draw_set(name: str, num: int, pool: list[Speaker], seed: int, set_index: int) -> list[Utterance]:
    """`num` utterances of set `name`, each with a speaker drawn from `pool`.

    Sentences come in pairs: utterance 2k is a statement and 2k+1 the same words as a question (each
    with its own speaker and settings), so the words say nothing about the mark.
    """
    rng = np.random.default_rng([seed, set_index])
    utts = []
    for i in range(num):
        spk = pool[rng.integers(len(pool))]
        if i % 2 == 0:
            words = draw_words(rng)
        mark = MARKS[i % 2]
        utts.append(Utterance(
            utt_id=f"{spk.spk_id}-{name}{i:05d}", speaker=spk,
            text=" ".join(words + [mark]), say=" ".join(words) + mark,
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
    print(f"synth_prosody corpus: {total:.2f} h of audio in {time.time() - start:.1f} s (seed {args.seed})")


if __name__ == "__main__":
    main()
