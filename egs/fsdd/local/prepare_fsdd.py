#!/usr/bin/env python3
"""Free Spoken Digit Dataset -> Kaldi data dirs data/{train,dev,test}.

Reads <fsdd>/recordings/{digit}_{speaker}_{index}.wav (the upstream layout; 8 kHz mono, one digit
each). wav.scp points at the original files (the feature stage resamples); text is the digit as a
word ("zero".."nine"); utt ids are <speaker>-<digit>-<index>, so they sort with their speaker.

Splits:
  upstream  test = indices 0-4 of every speaker and digit (the split FSDD's README prescribes),
            dev = indices 5-9, train = the rest (10-49): 2400 / 300 / 300 with 6 speakers.
  speaker   test = every recording of --heldout-speaker; dev = indices 0-4 of the other speakers,
            train = the rest of theirs: 2250 / 250 / 500 with 6 speakers.
"""
import argparse
import re
import shutil
from pathlib import Path

from echo.data.datadir import utt2spk_to_spk2utt, write_kv
from echo.data.validate import validate_data_dir

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
NAME = re.compile(r"(?P<digit>[0-9])_(?P<speaker>[A-Za-z0-9]+)_(?P<index>[0-9]+)\.wav")
TEST_INDICES = range(0, 5)  # upstream: "the first 5 recordings of each digit/speaker are the test set"
DEV_INDICES = range(5, 10)  # ours: the next 5 validate training (upstream split)


def scan(fsdd: Path) -> list[dict]:
    """One dict (utt_id, path, speaker, digit, index) per recording; an unexpected name is an error."""
    recordings = fsdd / "recordings"
    if not recordings.is_dir():
        raise SystemExit(f"prepare_fsdd.py: {recordings} not found; FSDD must point at a copy of the "
                         "free-spoken-digit-dataset repository (recordings/{digit}_{speaker}_{index}.wav)")
    utts = []
    for path in sorted(recordings.iterdir()):
        if path.suffix.lower() != ".wav":
            continue
        m = NAME.fullmatch(path.name)
        if m is None:
            raise SystemExit(f"prepare_fsdd.py: {path}: name is not {{digit}}_{{speaker}}_{{index}}.wav")
        digit, speaker, index = int(m["digit"]), m["speaker"], int(m["index"])
        utts.append(dict(utt_id=f"{speaker}-{digit}-{index:02d}", path=str(path.resolve()), speaker=speaker,
                         digit=digit, index=index))
    if not utts:
        raise SystemExit(f"prepare_fsdd.py: no recordings in {recordings}")
    return utts


def split(utts: list[dict], how: str, heldout_speaker: str) -> dict[str, list[dict]]:
    sets = {"train": [], "dev": [], "test": []}
    if how == "upstream":
        for u in utts:
            name = "test" if u["index"] in TEST_INDICES else "dev" if u["index"] in DEV_INDICES else "train"
            sets[name].append(u)
    elif how == "speaker":
        speakers = sorted({u["speaker"] for u in utts})
        if heldout_speaker not in speakers:
            raise SystemExit(f"prepare_fsdd.py: --heldout-speaker {heldout_speaker!r} is not in the corpus; "
                             f"speakers: {' '.join(speakers)}")
        for u in utts:
            name = ("test" if u["speaker"] == heldout_speaker else "dev" if u["index"] in TEST_INDICES
                    else "train")
            sets[name].append(u)
    else:
        raise SystemExit(f"prepare_fsdd.py: --split must be upstream or speaker, got {how!r}")
    for name, members in sets.items():
        if not members:
            raise SystemExit(f"prepare_fsdd.py: the {how} split leaves {name} empty")
    return sets


def write_set(d: Path, utts: list[dict]):
    if d.is_dir():  # a previous split's files (splitN/, feats.scp, ...) must not survive
        shutil.rmtree(d)
    d.mkdir(parents=True)
    utt2spk = {u["utt_id"]: u["speaker"] for u in utts}
    write_kv(d / "wav.scp", [(u["utt_id"], u["path"]) for u in utts])
    write_kv(d / "text", [(u["utt_id"], DIGIT_WORDS[u["digit"]]) for u in utts])
    write_kv(d / "utt2spk", utt2spk)
    write_kv(d / "spk2utt", utt2spk_to_spk2utt(utt2spk))
    print(validate_data_dir(d, no_feats=True))


def get_parser():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--fsdd", type=Path, required=True, help="a copy of free-spoken-digit-dataset")
    p.add_argument("--split", choices=("upstream", "speaker"), default="upstream")
    p.add_argument("--heldout-speaker", default="george", help="the test speaker of --split speaker")
    p.add_argument("--data", type=Path, default=Path("data"), help="writes <data>/{train,dev,test}")
    return p


def main(argv=None):
    args = get_parser().parse_args(argv)
    sets = split(scan(args.fsdd), args.split, args.heldout_speaker)
    for name, utts in sets.items():
        write_set(args.data / name, utts)
    counts = ", ".join(f"{name} {len(u)} ({len({x['speaker'] for x in u})} speakers)" for name, u in sets.items())
    print(f"FSDD {args.split} split from {args.fsdd}: {counts}")


if __name__ == "__main__":
    main()
