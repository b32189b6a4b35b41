#!/usr/bin/env python3
"""Google Speech Commands v0.02, its ten digit words -> Kaldi data dirs <data>/{train,dev,test,noise}.

Upstream layout (speech_commands_v0.02.tar.gz, http://download.tensorflow.org/data/, CC BY 4.0; the
archive's README.md and Warden 2018, arXiv:1804.03209):
    <word>/<speaker-hash>_nohash_<n>.wav   16 kHz mono, at most one second, one word said once;
                                           35 words, ten of them the digits zero..nine
    validation_list.txt, testing_list.txt  "<word>/<speaker-hash>_nohash_<n>.wav" per line: the upstream
                                           dev and test sets (split by a hash of the speaker, so no speaker
                                           is in two sets); train is every other file
    _background_noise_/*.wav               minutes of real noise (white and pink noise, a running tap,
                                           dishes, an exercise bike)
Only the digit folders are read: the other 25 words are not digits. Text is the word ("zero".."nine", as
FSDD's). Speaker sc-<hash>, utterance sc-<hash>-<word>-<n>, so ids sort with their speaker and never meet
FSDD's or the synthetic voices'. <data>/noise is the background noise as a data dir, for augment.noise_dir.

    local/prepare_speech_commands.py --corpus downloads/speech_commands_v0.02 --data data/local/sc [--download]

--download fetches the archive (2.3 GB, sha256 checked) when the corpus dir lacks the tree.
"""
import argparse
import re
import sys
from pathlib import Path

from echo.data.corpus import CorpusError, Problems, Utt, audio_duration, write_set
from echo.data.download import Archive, DownloadError, fetch_archive

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
NAME = re.compile(r"(?P<speaker>[0-9a-f]{8})_nohash_(?P<n>[0-9]+)\.wav")
LISTS = {"dev": "validation_list.txt", "test": "testing_list.txt"}
NOISE_DIR = "_background_noise_"
# URL, size and sha256 as tensorflow/datasets records them (url_checksums/speech_commands.txt: 2428923189 bytes).
ARCHIVE = Archive("http://download.tensorflow.org/data/speech_commands_v0.02.tar.gz",
                  "sha256:af14739ee7dc311471de98f5f9d2c9191b18aedfe957f4a6ff791c709868ff58",
                  DIGIT_WORDS + tuple(LISTS.values()) + (NOISE_DIR,))


def read_list(corpus: Path, name: str, problems: Problems) -> dict[str, int]:
    """The digit entries of an upstream list: "<word>/<file>.wav" -> line number."""
    path = corpus / name
    if not path.is_file():
        raise CorpusError(f"{path}: not found (expected {name} beside the word folders of "
                          "speech_commands_v0.02.tar.gz)")
    entries = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        rel = line.strip()
        if not rel or rel.split("/")[0] not in DIGIT_WORDS:
            continue
        if not (corpus / rel).is_file():
            problems.bad(f"{path}:{lineno}", f"lists {rel}, which is not in the corpus")
            continue
        entries[rel] = lineno
    return entries


def scan(corpus: Path, problems: Problems) -> dict[str, list[Utt]]:
    """The digit recordings, split into train/dev/test by the upstream lists."""
    listed = {s: read_list(corpus, name, problems) for s, name in LISTS.items()}
    in_both = set(listed["dev"]) & set(listed["test"])
    for rel in sorted(in_both):
        problems.bad(corpus / rel, f"in both {LISTS['dev']} (line {listed['dev'][rel]}) and "
                                   f"{LISTS['test']} (line {listed['test'][rel]})")
    sets = {"train": [], "dev": [], "test": []}
    for word in DIGIT_WORDS:
        folder = corpus / word
        if not folder.is_dir():
            raise CorpusError(f"{folder}: not found (expected the ten digit folders zero..nine of "
                              "speech_commands_v0.02.tar.gz)")
        for path in sorted(folder.iterdir()):
            m = NAME.fullmatch(path.name)
            if m is None:
                problems.bad(path, "unexpected file: a word folder holds <speaker-hash>_nohash_<n>.wav only")
                continue
            rel = f"{word}/{path.name}"
            if rel in in_both:
                continue                  # a skipped bad file (problems.bad above)
            which = "test" if rel in listed["test"] else "dev" if rel in listed["dev"] else "train"
            duration = audio_duration(path, problems)
            if duration is not None:
                spk = f"sc-{m['speaker']}"
                sets[which].append(Utt(f"{spk}-{word}-{int(m['n'])}", spk, str(path.resolve()), word, duration))
    speakers = {name: {u.speaker for u in utts} for name, utts in sets.items()}
    for a, b in (("train", "test"), ("dev", "test"), ("train", "dev")):
        if speakers[a] & speakers[b]:   # upstream splits by a hash of the speaker: never happens there
            raise CorpusError(f"{corpus}: speaker {min(speakers[a] & speakers[b])} has recordings in both "
                              f"{a} and {b} ({', '.join(LISTS.values())} split by recording, not speaker)")
    return sets


def noise_set(corpus: Path, problems: Problems) -> list[Utt]:
    """_background_noise_/*.wav as utterances (text "<noise>"), each its own speaker."""
    folder = corpus / NOISE_DIR
    utts = []
    for path in sorted(folder.glob("*.wav")) if folder.is_dir() else []:
        duration = audio_duration(path, problems)
        if duration is not None:
            name = re.sub(r"[^A-Za-z0-9]+", "_", path.stem).strip("_")
            utts.append(Utt(f"noise-{name}", f"noise-{name}", str(path.resolve()), "<noise>", duration))
    return utts


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", required=True, type=Path, help="the unpacked speech_commands_v0.02 tree")
    p.add_argument("--data", required=True, type=Path, help="output: <data>/{train,dev,test,noise}")
    p.add_argument("--download", action="store_true", help="fetch the archive when the tree is not there")
    p.add_argument("--skip-bad", default="false", choices=["true", "false"],
                   help="skip bad files (counted, listed in <data>/local/speech_commands.skipped)")
    args = p.parse_args(argv)
    problems = Problems(skip_bad=args.skip_bad == "true")
    try:
        if args.download:
            args.corpus.mkdir(parents=True, exist_ok=True)
            fetch_archive(ARCHIVE, args.corpus, var="SPEECH_COMMANDS")
        sets = scan(args.corpus, problems)
        noise = noise_set(args.corpus, problems)
        problems.write(args.data, "speech_commands")
        for name, utts in sets.items():
            write_set(args.data / name, utts)
        if noise:
            write_set(args.data / "noise", noise)
    except (CorpusError, DownloadError) as e:
        sys.exit(f"prepare_speech_commands.py: Error: {e}")
    print(f"Speech Commands digits: {', '.join(f'{k} {len(v)}' for k, v in sets.items())} utterances, "
          f"{len(noise)} noise recordings" + (f" ({len(problems.found)} bad files skipped)" if problems.found else ""))


if __name__ == "__main__":
    main()
