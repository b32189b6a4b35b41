#!/usr/bin/env python3
"""Connected digit strings spoken by espeak-ng: data/{train,dev,test} and their audio in data/wav/<set>/.

Each utterance is 1-7 words from {zero..nine, oh}, spoken by a speaker = espeak-ng voice (accent +
variant) at one pitch setting; the speaking rate, pitch range, loudness, leading/trailing silence and
a faint noise floor vary per utterance. Every choice comes from --seed: the same seed gives
byte-identical audio, whatever --nj.

train and dev share one set of voice variants; test uses variants never heard in training
(TRAIN_VARIANTS / TEST_VARIANTS below).

With --foreign-accents LANGS, a share of train and dev (--foreign-share) is said with a foreign accent:
the same words, voice variant and pitch, but an espeak-ng voice of another language (one of LANGS, drawn)
given the English phonemes, which it renders with its own phoneme inventory and timing. The test set keeps
the unseen English voices, so its numbers compare with a corpus made without the option.
"""
import dataclasses

import numpy as np

from echo.synth.corpus import Speaker, Utterance, Variation, corpus_parser, draw_utterances, speaker_grid, write_corpus
from echo.synth.espeak import knows_phoneme, list_languages

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


# English phonemes of each word in espeak-ng's mnemonics, one per item, stress marks on the vowels: its
# en-us transcription (espeak_TextToPhonemes, `espeak-ng -v en-us -x`), "one" with primary stress as when
# spoken alone. A foreign voice reads them through its own phoneme table and timing.
DIGIT_PHONEMES = {"zero": ("z", "'i@", "r", "oU"), "one": ("w", "'V", "n"), "two": ("t", "'u:"),
                  "three": ("T", "r", "'i:"), "four": ("f", "'o@"), "five": ("f", "'aI", "v"),
                  "six": ("s", "'I", "k", "s"), "seven": ("s", "'E", "v", "@", "n"), "eight": ("'eI", "t"),
                  "nine": ("n", "'aI", "n"), "oh": ("'oU",)}
# A phoneme a language's table lacks (espeak-ng would drop the rest of the word) becomes the first of these
# it has, as its speakers approximate English: /V/ of "one" as /a/, /I/ of "six" as /i/, /T/ as /s/ or /t/.
SUBSTITUTES = {"V": ("a", "@", "o"), "I": ("i", "e"), "E": ("e", "a"), "0": ("o", "a"), "T": ("s", "t"),
               "@": ("e", "a"), "i@": ("i",), "oU": ("o", "u"), "o@": ("o",), "aI": ("ai", "a"),
               "eI": ("ei", "e"), "u:": ("u",), "i:": ("i",), "w": ("u", "v"), "z": ("s",)}
# Languages whose voices say every word of DIGIT_PHONEMES after SUBSTITUTES (test_synth_digits.py checks).
# Not ja and pl: knows_phoneme finds /aI/ and /eI/ in their tables, yet inside a word they end it ("five",
# "eight" and "nine" lose their last consonant), which the probe, a phoneme standing alone, does not see.
FOREIGN_ACCENTS = ("de", "el", "es", "fr", "hi", "it", "nl", "pt", "ru", "tr")


def accented(word: str, language: str) -> tuple[str, ...]:
    """The phonemes of `word` ("six") that `language`'s voice can say: ("s", "'i", "k", "s") for Greek."""
    out = []
    for item in DIGIT_PHONEMES[word]:
        stress, english = ("'", item[1:]) if item.startswith("'") else ("", item)
        candidates = (english,) + SUBSTITUTES.get(english, ())
        said = next((p for p in candidates if knows_phoneme(language, p)), None)
        if said is None:
            raise ValueError(f"espeak-ng language {language!r} has none of the phonemes {candidates} "
                             f"for /{english}/ of {word!r}")
        out.append(stress + said)
    return tuple(out)


def speakers(variants) -> list[Speaker]:
    return speaker_grid(ACCENTS, variants, PITCHES)


def draw_digits(rng: np.random.Generator, i: int) -> tuple[str, str]:
    """1-7 digit words: (transcript, what espeak-ng says), the same."""
    text = " ".join(WORDS[k] for k in rng.integers(len(WORDS), size=rng.integers(MIN_WORDS, MAX_WORDS + 1)))
    return text, text


def draw_set(name: str, num: int, pool: list[Speaker], seed: int, set_index: int) -> list[Utterance]:
    """`num` utterances of set `name`, each with a speaker drawn from `pool`."""
    return draw_utterances(name, num, pool, seed, set_index, draw_digits, VARIATION)


def with_foreign_accents(utts: list[Utterance], languages: list[str], share: float, seed: int,
                         set_index: int) -> list[Utterance]:
    """Each utterance, with probability `share`, said by its variant and pitch in a drawn language of
    `languages` from English phonemes (utt id re-prefixed by the new speaker). The choice comes from a
    generator of its own, so texts and settings are those of the plain corpus."""
    rng = np.random.default_rng([seed, set_index, 3])
    out = []
    for u in utts:
        revoice, language = rng.random() < share, languages[rng.integers(len(languages))]
        if revoice:
            speaker = dataclasses.replace(u.speaker, language=language)
            say = "[[" + " ".join("".join(accented(w, language)) for w in u.text.split()) + "]]"
            u = dataclasses.replace(u, utt_id=speaker.spk_id + u.utt_id[len(u.speaker.spk_id):],
                                    speaker=speaker, say=say, phonemes=True)
        out.append(u)
    return out


def main(argv=None):
    parser = corpus_parser(__doc__)
    parser.add_argument("--foreign-accents", default="",
                        help="comma-separated espeak-ng languages that say a share of train and dev with a "
                             f"foreign accent, e.g. {','.join(FOREIGN_ACCENTS)} (default: none)")
    parser.add_argument("--foreign-share", type=float, default=0.5,
                        help="share of train and dev said with a foreign accent (default 0.5)")
    args = parser.parse_args(argv)
    languages = [x for x in args.foreign_accents.split(",") if x]
    unknown = sorted(set(languages) - set(list_languages()))
    if unknown:
        parser.error(f"--foreign-accents: not espeak-ng languages: {unknown}")
    if not 0.0 <= args.foreign_share <= 1.0:
        parser.error(f"--foreign-share {args.foreign_share}: expected a share in [0, 1]")

    def draw(name, num, pool, seed, set_index):
        utts = draw_set(name, num, pool, seed, set_index)
        if languages and name in ("train", "dev"):
            utts = with_foreign_accents(utts, languages, args.foreign_share, seed, set_index)
        return utts
    write_corpus("synth_digits", args, draw, speakers(TRAIN_VARIANTS), speakers(TEST_VARIANTS))


if __name__ == "__main__":
    main()
