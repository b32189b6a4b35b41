#!/usr/bin/env python3
"""Common Voice, one language's release directory -> data/{train,dev,test}_<lang> (ESPnet's set names,
"-" in the language code written "_": train_zh_CN).

Upstream layout (a release's cv-corpus-<version>/<lang>/ directory, its README and the datasets' docs):
    train.tsv dev.tsv test.tsv (also validated.tsv, other.tsv, invalidated.tsv, ...): tab-separated, a header
        line naming the columns, among them client_id, path (e.g. common_voice_en_123.mp3) and sentence
    clips/<path>    48 kHz MP3, read as shipped (the feature stage resamples)
Utterance id <client_id>-<clip name without .mp3>, speaker <client_id> (as ESPnet). Text: the sentence
through `normalize` (Unicode NFKC, case folding, punctuation removed except apostrophes inside words,
spaces collapsed) unless --normalize false (spaces collapsed only). clips/ holds the audio of every
tsv, so a clip that no *.tsv names is "audio without a transcript".
"""
import argparse
import csv
import re
import sys
import unicodedata
from pathlib import Path

from echo.data.corpus import CorpusError, Problems, Utt, audio_duration, write_set

SETS = ("train", "dev", "test")
REQUIRED = ("client_id", "path", "sentence")


def normalize(sentence: str) -> str:
    """NFKC, case-folded (a no-op for uncased scripts such as Chinese), punctuation (Unicode category P*)
    removed except an apostrophe between two letters (don't, l'homme), whitespace collapsed."""
    s = unicodedata.normalize("NFKC", sentence).casefold()
    s = re.sub(r"(?<=\w)[’'](?=\w)", "\0", s)       # keep word-internal apostrophes (as ')
    s = "".join(" " if unicodedata.category(c).startswith("P") else c for c in s)
    return " ".join(s.replace("\0", "'").split())


def read_tsv(path: Path) -> list[tuple[int, dict]]:
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
        if missing:
            raise CorpusError(f"{path}:1: header lacks column(s) {', '.join(missing)} "
                              f"(has {', '.join(reader.fieldnames or [])})")
        return [(i, row) for i, row in enumerate(reader, 2)]


def scan_set(cv: Path, name: str, norm: bool, problems: Problems) -> list[Utt]:
    tsv = cv / f"{name}.tsv"
    if not tsv.is_file():
        raise CorpusError(f"{tsv}: not found (COMMONVOICE must be one language's release directory)")
    utts = []
    for lineno, row in read_tsv(tsv):
        where = f"{tsv}:{lineno}"
        clip = cv / "clips" / (row["path"] or "")
        if not row["path"] or not row["client_id"]:
            problems.bad(where, "empty client_id or path")
            continue
        if not clip.is_file():
            problems.bad(where, f"transcript of {row['path']}, whose audio {clip} is missing")
            continue
        text = normalize(row["sentence"] or "") if norm else " ".join((row["sentence"] or "").split())
        if not text:
            problems.bad(where, f"sentence {row['sentence']!r} is empty after normalisation")
            continue
        duration = audio_duration(clip, problems)
        if duration is not None:
            utts.append(Utt(f"{row['client_id']}-{Path(row['path']).stem}", row["client_id"], str(clip.resolve()),
                            text, duration))
    return utts


def check_clips(cv: Path, problems: Problems) -> None:
    """Every file in clips/ is an .mp3 named by some *.tsv of the release."""
    named = set()
    for tsv in sorted(cv.glob("*.tsv")):
        with open(tsv, encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
            if "path" in (reader.fieldnames or []):
                named.update(row["path"] for row in reader)
    clips = cv / "clips"
    if not clips.is_dir():
        raise CorpusError(f"{clips}: not found (expected clips/*.mp3 beside the .tsv files)")
    for path in sorted(clips.iterdir()):
        if path.suffix != ".mp3" or not path.is_file():
            problems.bad(path, "unexpected file: clips/ holds .mp3 files only")
        elif path.name not in named:
            problems.bad(path, f"audio without a transcript: no *.tsv of {cv} names it")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cv", type=Path, required=True, help="one language's release directory (train.tsv, clips/)")
    p.add_argument("--lang", required=True, help="language code of the release, e.g. zh-CN, en")
    p.add_argument("--data", type=Path, default=Path("data"))
    p.add_argument("--normalize", choices=("true", "false"), default="true")
    p.add_argument("--skip-bad", choices=("true", "false"), default="false")
    args = p.parse_args(argv)
    problems = Problems(skip_bad=args.skip_bad == "true")
    suffix = args.lang.replace("-", "_")
    try:
        check_clips(args.cv, problems)
        for name in SETS:
            utts = scan_set(args.cv, name, args.normalize == "true", problems)
            write_set(args.data / f"{name}_{suffix}", utts)
        problems.write(args.data, f"commonvoice_{suffix}")
    except CorpusError as e:
        sys.exit(f"prepare_commonvoice.py: Error: {e}")


if __name__ == "__main__":
    main()
