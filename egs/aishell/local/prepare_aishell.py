#!/usr/bin/env python3
"""AISHELL-1 -> Kaldi data dirs data/{train,dev,test}, as Kaldi's/ESPnet's aishell_data_prep.sh.

Upstream layout (data_aishell.tgz of https://www.openslr.org/33, once its wav/<spk>.tar.gz are unpacked):
    data_aishell/transcript/aishell_transcript_v0.8.txt   "BAC009S0002W0122 而 对 楼市 成交 ..." (word-segmented)
    data_aishell/wav/{train,dev,test}/<spk>/BAC009<spk>W<nnnn>.wav   16 kHz
(local/data.sh unpacks the shipped per-speaker wav/<spk>.tar.gz first; they may stay beside.)
Utterance ids are the upstream ones; the speaker is <spk> (S0002), which every utterance id holds after
the common BAC009 prefix, so utterance and speaker order agree. Text: the transcript with its
word-segmentation spaces removed (scored as CER). The transcript covers all three sets, and upstream
ships audio it has no line for: those utterances are dropped and counted (listed in
data/local/<set>.no_transcript), as Kaldi drops them; transcript lines with no audio in any set are
counted the same way (data/local/transcript.no_audio).
"""
import argparse
import re
import sys
from pathlib import Path

from echo.data.corpus import CorpusError, Problems, Utt, audio_duration, write_set
from echo.io.atomic import write_text

SETS = ("train", "dev", "test")
NAME = re.compile(r"BAC009(?P<spk>S[0-9]{4})W[0-9]{4}")


def read_transcript(path: Path, problems: Problems) -> dict[str, str]:
    if not path.is_file():
        raise CorpusError(f"{path}: not found (expected data_aishell/transcript/aishell_transcript_v0.8.txt)")
    table = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        utt, _, words = line.strip().partition(" ")
        text = "".join(words.split())
        if not line.strip():
            continue
        if NAME.fullmatch(utt) is None or not text:
            problems.bad(f"{path}:{lineno}", f"expected 'BAC009S<nnnn>W<nnnn> words', got {line!r}")
            continue
        table[utt] = text
    return table


def scan_set(wav: Path, name: str, transcript: dict, problems: Problems, data: Path) -> tuple[list, set]:
    """(utterances, ids seen) of wav/<name>; audio without a transcript line is dropped and counted."""
    set_dir = wav / name
    if not set_dir.is_dir():
        raise CorpusError(f"{set_dir}: not found (expected data_aishell/wav/{name}/<spk>/*.wav; "
                          "are the per-speaker wav/<spk>.tar.gz unpacked?)")
    utts, seen, dropped = [], set(), []
    for path in sorted(set_dir.rglob("*")):
        if path.is_dir() and path.parent == set_dir:
            continue
        m = NAME.fullmatch(path.stem) if path.suffix == ".wav" else None
        if m is None or path.parent.parent != set_dir or m["spk"] != path.parent.name:
            problems.bad(path, f"unexpected file: {set_dir} holds <spk>/BAC009<spk>W<nnnn>.wav only")
            continue
        seen.add(path.stem)
        if path.stem not in transcript:
            dropped.append(str(path))
            continue
        duration = audio_duration(path, problems)
        if duration is not None:
            utts.append(Utt(path.stem, m["spk"], str(path.resolve()), transcript[path.stem], duration))
    out = data / "local" / f"{name}.no_transcript"
    write_text(out, "".join(f"{p}\n" for p in dropped))
    print(f"AISHELL {name}: {len(utts)} utterances; {len(dropped)} audio files without a transcript line "
          f"dropped (listed in {out})")
    return utts, seen


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--aishell", type=Path, required=True, help="the data_aishell/ directory")
    p.add_argument("--data", type=Path, default=Path("data"))
    p.add_argument("--skip-bad", choices=("true", "false"), default="false")
    args = p.parse_args(argv)
    problems = Problems(skip_bad=args.skip_bad == "true")
    try:
        transcript = read_transcript(args.aishell / "transcript" / "aishell_transcript_v0.8.txt", problems)
        wav = args.aishell / "wav"
        for path in sorted(wav.iterdir()) if wav.is_dir() else []:
            if path.name not in SETS and not path.name.endswith(".tar.gz"):
                problems.bad(path, f"unexpected file: {wav} holds {', '.join(SETS)} and <spk>.tar.gz only")
        seen_all = set()
        for name in SETS:
            utts, seen = scan_set(wav, name, transcript, problems, args.data)
            seen_all |= seen
            write_set(args.data / name, utts)
        no_audio = sorted(set(transcript) - seen_all)
        write_text(args.data / "local" / "transcript.no_audio", "".join(f"{u}\n" for u in no_audio))
        print(f"AISHELL: {len(no_audio)} transcript lines have no audio (listed in data/local/transcript.no_audio)")
        problems.write(args.data, "aishell")
    except CorpusError as e:
        sys.exit(f"prepare_aishell.py: Error: {e}")


if __name__ == "__main__":
    main()
