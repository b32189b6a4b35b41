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
import numpy as np

from echo.synth.corpus import Speaker, Utterance, Variation, corpus_parser, draw_utterances, speaker_grid, write_corpus

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
# PITCHES x VARIATION.pitch_range x .rate_wpm in each accent (test/test_synth_prosody.py repeats a
# part of it): every statement ends falling, and questions end rising, if at times only a little at
# -p 40, the lowest pitch range and the fastest rate. Left out: variants with `intonation` 2-4 in
# their file (m5, Alicia, pablo, ...: flatter or reversed tunes), variants whose statements end in
# spurious rises (grandpa, travis), whose questions hardly rise (anika, steph, klatt6 and
# adam/benjamin = klatt6), and from training the variants that differ from a test variant only in
# pitch or formants (Michael/Mario ~ m7, michel/Diogo ~ miguel, john/Tweaky/"Mr serious" ~ norbert,
# iven2-4 ~ iven). Nor the West Midlands accent (en-gb-x-gbcwmd), whose statements rise too.
# 16 male-like and 7 female-like voices for training; 5 male-like and 2 female-like for the test only.
TRAIN_VARIANTS = ("m1", "m2", "m3", "m4", "m6", "Gene", "edward", "boris", "klatt3", "klatt4", "paul", "robert",
                  "sandro", "victor", "kaukovalta", "gustave",
                  "f1", "f2", "f3", "f4", "Annie", "belinda", "shelby")
TEST_VARIANTS = ("m7", "m8", "iven", "norbert", "miguel",
                 "f5", "grandma")

VARIATION = Variation(
    rate_wpm=(130, 200),          # speaking rate
    pitch_range=(50, 85),         # espeak-ng pitch range (50 = the voice's own)
    gain=(0.25, 0.9),             # peak amplitude
    silence_s=(0.05, 0.30),       # leading and trailing silence, each
    noise_dbfs=(-75.0, -60.0))    # white noise floor


def speakers(variants) -> list[Speaker]:
    return speaker_grid(ACCENTS, variants, PITCHES)


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
    words = []

    def statement_then_question(rng: np.random.Generator, i: int) -> tuple[str, str]:
        nonlocal words
        if i % 2 == 0:  # a new sentence; the next utterance asks it
            words = draw_words(rng)
        mark = MARKS[i % 2]
        return " ".join(words + [mark]), " ".join(words) + mark

    return draw_utterances(name, num, pool, seed, set_index, statement_then_question, VARIATION)


def main(argv=None):
    args = corpus_parser(__doc__).parse_args(argv)
    write_corpus("synth_prosody", args, draw_set, speakers(TRAIN_VARIANTS), speakers(TEST_VARIANTS))


if __name__ == "__main__":
    main()
