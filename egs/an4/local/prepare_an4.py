#!/usr/bin/env python3
"""AN4 (CMU alphanumeric census database) -> Kaldi data dirs data/{train,test}, as ESPnet's an4 recipe.

Upstream layout (an4_sphere.tar.gz from http://www.speech.cs.cmu.edu/databases/an4/, its README):
    an4/etc/an4_train.transcription    "<s> RUBOUT G M E F THREE NINE </s> (an251-fash-b)", one per line
    an4/etc/an4_train.fileids          "an4_clstk/fash/an251-fash-b", the same utterances in the same order
    an4/etc/an4_test.{transcription,fileids}                (an4test_clstk/<spk>/...)
    an4/wav/{an4_clstk,an4test_clstk}/<spk>/<name>.sph      16 kHz NIST SPHERE
Text: the transcription with <s> and </s> removed (upper case, as shipped). Utterance id: <spk>-<rest>,
the speaker (the directory name) moved to the front: an251-fash-b -> fash-an251-b. wav.scp points at the
.sph files, which soundfile reads (no sph2pipe).
"""
import argparse
import re
import sys
from pathlib import Path

from echo.data.corpus import CorpusError, Problems, Utt, audio_duration, write_set

SETS = {"train": "an4_clstk", "test": "an4test_clstk"}
LINE = re.compile(r"(?P<words>.*?)\s*\((?P<id>[^()\s]+)\)\s*")


def utt_id(fileid: str) -> tuple[str, str]:
    """an4_clstk/fash/an251-fash-b -> ("fash-an251-b", "fash")."""
    spk, name = fileid.split("/")[-2:]
    rest = [p for p in name.split("-") if p != spk]
    return f"{spk}-{'-'.join(rest)}", spk


def read_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, stripped line) of the non-empty lines of an etc/ file."""
    if not path.is_file():
        raise CorpusError(f"{path}: not found (expected an4/etc/ of an4_sphere.tar.gz)")
    return [(n, line.strip()) for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
            if line.strip()]


def scan_set(an4: Path, name: str, problems: Problems) -> list[Utt]:
    trans_path, ids_path = an4 / "etc" / f"an4_{name}.transcription", an4 / "etc" / f"an4_{name}.fileids"
    transcripts = {}   # the id in parentheses -> (line number, words); matched to fileids by that id
    for lineno, line in read_lines(trans_path):
        m = LINE.fullmatch(line)
        if m is None:
            problems.bad(f"{trans_path}:{lineno}", f"expected '<s> WORDS </s> (<file-id>)', got {line!r}")
            continue
        transcripts[m["id"]] = (lineno, " ".join(w for w in m["words"].split() if w not in ("<s>", "</s>")))
    wav_dir = an4 / "wav" / SETS[name]
    listed, utts = set(), []
    for id_lineno, fileid in read_lines(ids_path):
        sph = an4 / "wav" / f"{fileid}.sph"
        listed.add(sph)
        if fileid.split("/")[-1] not in transcripts:
            problems.bad(f"{ids_path}:{id_lineno}", f"{fileid} has no line in {trans_path.name}")
            continue
        lineno, text = transcripts.pop(fileid.split("/")[-1])
        if not sph.is_file():
            problems.bad(f"{trans_path}:{lineno}", f"transcript of {fileid}, whose audio {sph} is missing")
            continue
        if not text:
            problems.bad(f"{trans_path}:{lineno}", "empty transcript")
            continue
        duration = audio_duration(sph, problems)
        if duration is not None:
            uid, spk = utt_id(fileid)
            utts.append(Utt(uid, spk, str(sph.resolve()), text, duration))
    for file_id, (lineno, _) in sorted(transcripts.items(), key=lambda kv: kv[1][0]):
        problems.bad(f"{trans_path}:{lineno}", f"transcript of {file_id}, which {ids_path.name} does not list")
    if not wav_dir.is_dir():
        raise CorpusError(f"{wav_dir}: not found (expected an4/wav/{SETS[name]}/<spk>/*.sph)")
    for path in sorted(wav_dir.rglob("*")):
        if path.is_dir() and path.parent == wav_dir:
            continue
        if path.suffix != ".sph" or path.parent.parent != wav_dir:
            problems.bad(path, f"unexpected file: {wav_dir} holds <spk>/<name>.sph only")
        elif path not in listed:
            problems.bad(path, f"audio without a transcript: not listed in {ids_path}")
    return utts


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--an4", type=Path, required=True, help="the an4/ directory of an4_sphere.tar.gz")
    p.add_argument("--data", type=Path, default=Path("data"))
    p.add_argument("--skip-bad", choices=("true", "false"), default="false")
    args = p.parse_args(argv)
    for name in SETS:
        problems = Problems(skip_bad=args.skip_bad == "true")
        try:
            utts = scan_set(args.an4, name, problems)
            problems.write(args.data, name)
            write_set(args.data / name, utts)
        except CorpusError as e:
            sys.exit(f"prepare_an4.py: Error: {e}")
        print(f"AN4 {name}: {len(utts)} utterances" + (f" ({len(problems.found)} bad files skipped)"
                                                      if problems.found else ""))


if __name__ == "__main__":
    main()
