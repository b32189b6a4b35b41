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
silence. Drawing the pitch range per utterance in VARIATION.pitch_range gives excursions of about
1.5-2 times the voice's own instead, so that tones are clear but vary.
"""
import dataclasses

import numpy as np

from echo.score.tones import has_adjacent_tone3
from echo.synth.corpus import (Speaker, Utterance, Variation, corpus_parser, draw_utterances, speaker_grid,
                               write_corpus, write_set)

LANGUAGE = "cmn-latn-pinyin"  # espeak-ng 1.52: Mandarin read from numbered pinyin, tones from the digits
# 15 base syllables that exist in all four tones, with distinct initials and finals in espeak-ng's
# Mandarin phonemes (e.g. shi -> s.i., xi -> S;i, qi -> tS;hi, ge -> ko-).
SYLLABLES = ("ma", "ba", "da", "ni", "li", "mi", "lu", "wu", "yi", "yu", "shi", "xi", "qi", "fu", "ge")
TONES = (1, 2, 3, 4)  # high level, rising, dipping, falling
MIN_SYLLABLES, MAX_SYLLABLES = 2, 4

# espeak-ng -p. With a pitch range near the top of VARIATION.pitch_range the third tone of the lowest
# voices dips to ~50 Hz at -p 50 (to ~40 Hz at -p 30, below what pyworld's DIO tracks), so pitches
# start at 50 and conf/pitch.yaml sets f0_floor 50.
PITCHES = (50, 60, 70)
# Variants chosen by measuring, with DIO, the contour of "ma1".."ma4" at every pitch, the ends of
# VARIATION.pitch_range and .rate_wpm (test/test_synth_tones.py repeats a part of it): the four
# tones come out level, rising, dipping and falling. Left out: variants whose tones come out wrong
# at some setting (belinda, linda and Andy at -p 70, where espeak-ng's F0 breaks down; steph, whose
# narrow range leaves the tones barely moving; whisper, klatt2, robosoft*, ...), variants where DIO
# misses most of the voicing (f3, anika, Andrea, announcer, ...), and from training the variants
# that differ from a test variant only in pitch or formants (Michael/Mario ~ m7, john/Tweaky/"Mr
# serious" ~ norbert, michel/Diogo ~ miguel, adam/benjamin/edward2 = klatt6).
# 16 male-like and 4 female-like voices for training; 4 male-like and 3 female-like for the test only.
TRAIN_VARIANTS = ("m1", "m3", "m4", "m5", "m6", "Denis", "Gene", "Marco", "Reed", "boris", "ed", "edward",
                  "iven", "kaukovalta", "paul", "victor",
                  "f2", "f4", "Annie", "shelby")
TEST_VARIANTS = ("m7", "norbert", "miguel", "klatt6",
                 "f5", "Alicia", "grandma")

# Tone contour variation (--contour-variation): each syllable spoken alone, its F0 replaced by a contour
# drawn within what its tone allows (time-warped, range-scaled, shape-jittered; echo/synth/contour.py)
# and resynthesised with WORLD, so a model hears other tones than espeak-ng's four.
CONTOUR_VARIATION = ("none", "train", "mix", "all")
# `all` alone teaches the drawn contours and loses espeak-ng's (README: trained on either, a model makes 2-3
# times the tone errors on the other), so `mix` resynthesises each train and dev utterance with probability
# MIX_SHARE, and --contour-test writes the test utterances again, every one resynthesised, as test_contours.
MIX_SHARE = 0.5

VARIATION = Variation(
    rate_wpm=(120, 200),          # syllables per minute (each syllable is a word to espeak-ng)
    pitch_range=(70, 95),         # espeak-ng pitch range (50 = the voice's own): about x1.5..x2 tone excursions
    gain=(0.25, 0.9),             # peak amplitude
    silence_s=(0.05, 0.30),       # leading and trailing silence, each
    noise_dbfs=(-75.0, -60.0))    # white noise floor


def speakers(variants) -> list[Speaker]:
    return speaker_grid((LANGUAGE,), variants, PITCHES)


def draw_syllables(rng: np.random.Generator) -> list[str]:
    """2-4 toned syllables, uniform over the sequences without two neighbouring third tones."""
    n = int(rng.integers(MIN_SYLLABLES, MAX_SYLLABLES + 1))
    bases = rng.integers(len(SYLLABLES), size=n)
    while True:  # rejection keeps every allowed tone sequence equally likely
        tones = rng.choice(TONES, size=n)
        if not any(a == 3 and b == 3 for a, b in zip(tones, tones[1:])):
            return [f"{SYLLABLES[b]}{t}" for b, t in zip(bases, tones)]


def draw_text(rng: np.random.Generator, i: int) -> tuple[str, str]:
    """(transcript, what espeak-ng says): the same toned syllables."""
    text = " ".join(draw_syllables(rng))
    assert not has_adjacent_tone3(text), text
    return text, text


def draw_set(name: str, num: int, pool: list[Speaker], seed: int, set_index: int,
             contour_variation: str = "none") -> list[Utterance]:
    """`num` utterances of set `name`, each with a speaker drawn from `pool`; with contour_variation
    `all` (or `train`, for train and dev) each is resynthesised on drawn tone contours (echo.synth.contour),
    with `mix` each train and dev utterance with probability MIX_SHARE. The contours and the mix come from
    generators of their own, so texts, voices and settings stay those of the plain corpus."""
    utts = draw_utterances(name, num, pool, seed, set_index, draw_text, VARIATION)
    training_set = name in ("train", "dev")
    if contour_variation == "all" or (contour_variation == "train" and training_set):
        varied = [True] * num
    elif contour_variation == "mix" and training_set:
        varied = np.random.default_rng([seed, set_index, 2]).random(num) < MIX_SHARE
    else:
        return utts
    return [dataclasses.replace(u, contour_variation=True) if v else u for u, v in zip(utts, varied)]


def main(argv=None):
    parser = corpus_parser(__doc__)
    parser.add_argument("--contour-variation", choices=CONTOUR_VARIATION, default="none",
                        help="resynthesise syllables with WORLD on drawn tone contours: none, train (train "
                             "and dev), mix (half of train and dev), all (every set)")
    parser.add_argument("--contour-test", action="store_true",
                        help="also write data/test_contours: the test utterances, each resynthesised")
    args = parser.parse_args(argv)
    drawn = {}

    def draw(name, num, pool, seed, set_index):
        drawn[name] = draw_set(name, num, pool, seed, set_index, contour_variation=args.contour_variation)
        return drawn[name]
    write_corpus("synth_tones", args, draw, speakers(TRAIN_VARIANTS), speakers(TEST_VARIANTS))
    if args.contour_test and drawn.get("test"):
        varied = [dataclasses.replace(u, contour_variation=True) for u in drawn["test"]]
        hours = write_set(varied, args.data / "test_contours", args.data / "wav" / "test_contours", args.fs, args.nj)
        print(f"test_contours: the test utterances on drawn contours, {hours:.2f} h of audio")


if __name__ == "__main__":
    main()
