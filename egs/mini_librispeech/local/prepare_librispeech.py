#!/usr/bin/env python3
"""LibriSpeech (or mini LibriSpeech) part -> one Kaldi data dir, as Kaldi's/ESPnet's data_prep.sh does.

Upstream layout (https://www.openslr.org/12, README.TXT of the corpus):
    <root>/LibriSpeech/<part>/<speaker>/<chapter>/<speaker>-<chapter>-<nnnn>.flac
    <root>/LibriSpeech/<part>/<speaker>/<chapter>/<speaker>-<chapter>.trans.txt   ("<utt-id> TRANSCRIPT")
Utterance ids are the upstream ones (<speaker>-<chapter>-<nnnn>), the speaker id is <speaker>-<chapter>
(as Kaldi's librispeech data_prep.sh), text is trans.txt's upper-case transcript as it is, and wav.scp
points at the .flac files (16 kHz, read as shipped).
"""
import argparse
import re
import sys
from pathlib import Path

from echo.data.corpus import CorpusError, Problems, Utt, audio_duration, write_set

ID = re.compile(r"(?P<spk>[0-9]+)-(?P<chapter>[0-9]+)-[0-9]+")


def scan_chapter(chapter: Path, spk: str, problems: Problems) -> list[Utt]:
    stem = f"{spk}-{chapter.name}"
    trans = chapter / f"{stem}.trans.txt"
    flacs = {}
    for path in sorted(chapter.iterdir()):
        m = ID.fullmatch(path.stem) if path.suffix == ".flac" else None
        if m and m["spk"] == spk and m["chapter"] == chapter.name:
            flacs[path.stem] = path
        elif path != trans:
            problems.bad(path, f"unexpected file: a chapter directory holds {stem}-<nnnn>.flac and {trans.name}")
    if not trans.is_file():
        for path in flacs.values():
            problems.bad(path, f"audio without a transcript: {trans} is missing")
        return []
    utts, seen = [], set()
    for lineno, line in enumerate(trans.read_text(encoding="utf-8").splitlines(), 1):
        utt_id, _, text = line.strip().partition(" ")
        where = f"{trans}:{lineno}"
        if not text.strip() or ID.fullmatch(utt_id) is None:
            problems.bad(where, f"expected '<utt-id> TRANSCRIPT', got {line!r}")
            continue
        seen.add(utt_id)
        if utt_id not in flacs:
            problems.bad(where, f"transcript of {utt_id}, whose audio {chapter / (utt_id + '.flac')} is missing")
            continue
        duration = audio_duration(flacs[utt_id], problems)
        if duration is not None:
            utts.append(Utt(utt_id, stem, str(flacs[utt_id].resolve()), " ".join(text.split()), duration))
    for utt_id in sorted(set(flacs) - seen):
        problems.bad(flacs[utt_id], f"audio without a transcript line in {trans}")
    return utts


def scan_part(part_dir: Path, problems: Problems) -> list[Utt]:
    if not part_dir.is_dir():
        raise CorpusError(f"{part_dir}: not found (expected <root>/LibriSpeech/<part>/<speaker>/<chapter>/)")
    utts = []
    for spk in sorted(part_dir.iterdir()):
        if not (spk.is_dir() and spk.name.isdigit()):
            problems.bad(spk, "unexpected file: a part directory holds <speaker>/ directories only")
            continue
        for chapter in sorted(spk.iterdir()):
            if not (chapter.is_dir() and chapter.name.isdigit()):
                problems.bad(chapter, "unexpected file: a speaker directory holds <chapter>/ directories only")
                continue
            utts += scan_chapter(chapter, spk.name, problems)
    return utts


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", type=Path, required=True, help="the directory holding LibriSpeech/")
    p.add_argument("--part", required=True, help="e.g. train-clean-100")
    p.add_argument("--set", required=True, help="data dir name, e.g. train_clean_100")
    p.add_argument("--data", type=Path, default=Path("data"))
    p.add_argument("--skip-bad", choices=("true", "false"), default="false")
    args = p.parse_args(argv)
    problems = Problems(skip_bad=args.skip_bad == "true")
    try:
        utts = scan_part(args.root / "LibriSpeech" / args.part, problems)
        problems.write(args.data, args.set)
        write_set(args.data / args.set, utts)
    except CorpusError as e:
        sys.exit(f"prepare_librispeech.py: Error: {e}")
    print(f"{args.part}: {len(utts)} utterances -> {args.data / args.set}"
          + (f" ({len(problems.found)} bad files skipped)" if problems.found else ""))


if __name__ == "__main__":
    main()
