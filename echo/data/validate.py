"""Validation of Kaldi data dirs, like Kaldi's validate_data_dir.sh (utils/validate_data_dir.py).

Every problem is reported, each as "FILE:LINE: reason (key K)", in one DataDirError; a valid dir gives a
one-line summary. The files and their formats: echo/data/datadir.py. Standard library only, like
datadir.py: the scripts in utils/ import it with any python3 >= 3.10.
"""
from __future__ import annotations

import re
from pathlib import Path

from echo.data.datadir import (RECO_FILES, UTT_FILES, DataDirError, c_key, parse_segment, read_lines,
                                utt2spk_to_spk2utt)

# per-utterance files checked against utt2spk when present, besides text, feats.scp, segments/wav.scp
OPTIONAL_FILES = ("f0.scp", "utt2num_frames", "utt2dur", "utt2lang", "utt2uniq", "reco2dur", "spk2gender")
DURATION = r"[0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?"
VALUE_PATTERNS = (("utt2num_frames", r"[1-9][0-9]*", "a positive integer"),
                  ("utt2dur", DURATION, "a duration"),
                  ("reco2dur", DURATION, "a duration"),
                  ("spk2gender", r"[mf]", "m or f"))
Table = dict[str, tuple[int, str]]   # key -> (line number, value)


def validate_data_dir(data_dir, no_feats: bool = False, no_wav: bool = False,
                      no_text: bool = False) -> str:
    """Check a data dir like Kaldi's validate_data_dir.sh; return a one-line summary.

    Checks: required files exist (utt2spk, spk2utt, and unless switched off wav.scp, text,
    feats.scp); every line is well formed UTF-8; keys are unique and in C byte order; the same
    utterances appear in utt2spk, text, segments (else wav.scp), feats.scp and every other per-utt
    file; spk2utt is exactly utt2spk inverted; segments name recordings of wav.scp with
    0 <= start < end; transcripts are not empty. Raises DataDirError listing the problems, each
    naming file, line and key.
    """
    d = Path(data_dir)
    if not d.is_dir():
        raise DataDirError(f"{d}: no such data directory")
    errors: list[str] = []
    has_segments = (d / "segments").is_file()
    tables = {
        "utt2spk": load_table(errors, d, "utt2spk", "always required"),
        "spk2utt": load_table(errors, d, "spk2utt", "always required; make it with utils/utt2spk_to_spk2utt.py"),
        "text": load_table(errors, d, "text", None if no_text else "required unless --no-text", allow_empty=True),
        "wav.scp": load_table(errors, d, "wav.scp", None if no_wav else "required unless --no-wav"),
        "segments": load_table(errors, d, "segments") if has_segments else None,
        "feats.scp": load_table(errors, d, "feats.scp", None if no_feats else "required unless --no-feats"),
        **{name: load_table(errors, d, name) for name in OPTIONAL_FILES},
    }
    check_values(errors, d, tables)
    recos = recordings(errors, d, tables["segments"], tables["wav.scp"])
    check_agreement(errors, d, tables, has_segments)
    if errors:
        shown = "\n  ".join(errors[:20])
        more = f"\n  ... and {len(errors) - 20} more" if len(errors) > 20 else ""
        raise DataDirError(f"{d}: invalid data dir, {len(errors)} problem(s):\n  {shown}{more}")
    present = [n for n in ("wav.scp", "segments", "text", "feats.scp", "f0.scp") if (d / n).is_file()]
    n_reco = f", {len(recos)} recordings" if recos is not None else ""
    return (f"{d}: valid data dir: {len(tables['utt2spk'])} utterances, {len(tables['spk2utt'])} speakers{n_reco} "
            f"({', '.join(present)})")


def load_table(errors: list[str], d: Path, name: str, required: str | None = None,
               allow_empty: bool = False) -> Table | None:
    """{key: (line, value)} of d/name, its duplicate and unsorted keys reported; None when it is missing
    (reported when `required` says why it is needed) or unreadable (reported)."""
    path = d / name
    if not path.is_file():
        if required:
            errors.append(f"{path}: missing ({required})")
        return None
    try:
        rows = read_lines(path, allow_empty)
    except DataDirError as e:
        errors.append(str(e))
        return None
    table: Table = {}
    prev, unsorted_reported = None, False
    for lineno, key, value in rows:
        if key in table:
            errors.append(f"{path}:{lineno}: duplicate key, first on line {table[key][0]} "
                          f"(key {key}); run utils/fix_data_dir.py {d}")
            continue
        if prev is not None and c_key(key) < c_key(prev) and not unsorted_reported:
            errors.append(f"{path}:{lineno}: not sorted in C byte order, comes after {prev} "
                          f"(key {key}); run utils/fix_data_dir.py {d}")
            unsorted_reported = True
        table[key] = (lineno, value)
        prev = key
    return table


def check_values(errors: list[str], d: Path, tables: dict[str, Table | None]) -> None:
    """Each file's values on their own: one-word speaker ids, non-empty transcripts, numbers and genders."""
    utt2spk, text = tables["utt2spk"], tables["text"]
    if utt2spk is not None and not utt2spk:
        errors.append(f"{d / 'utt2spk'}: empty: the data dir has no utterances")
    for utt, (lineno, spk) in (utt2spk or {}).items():
        if len(spk.split()) != 1:
            errors.append(f"{d / 'utt2spk'}:{lineno}: speaker id must be one word, got '{spk}' (key {utt})")
    for utt, (lineno, words) in (text or {}).items():
        if not words:
            errors.append(f"{d / 'text'}:{lineno}: empty transcript (key {utt})")
    for name, pattern, what in VALUE_PATTERNS:
        for key, (lineno, value) in (tables[name] or {}).items():
            if not re.fullmatch(pattern, value):
                errors.append(f"{d / name}:{lineno}: value must be {what}, got '{value}' (key {key})")


def recordings(errors: list[str], d: Path, segments: Table | None, wav: Table | None) -> set[str] | None:
    """The recordings: those segments names (each checked: well formed, in wav.scp), else wav.scp's keys."""
    if segments is None:
        return set(wav) if wav is not None else None
    recos = set()
    for utt, (lineno, value) in segments.items():
        try:
            reco, _, _ = parse_segment(d / "segments", lineno, utt, value)
        except DataDirError as e:
            errors.append(str(e))
            continue
        recos.add(reco)
        if wav is not None and reco not in wav:
            errors.append(f"{d / 'segments'}:{lineno}: recording {reco} is not in wav.scp (key {utt})")
    return recos


def check_agreement(errors: list[str], d: Path, tables: dict[str, Table | None], has_segments: bool) -> None:
    """The files agree: the same utterances as utt2spk everywhere, reco2dur's recordings in wav.scp,
    spk2utt utt2spk inverted, spk2gender's speakers in utt2spk."""
    utt2spk, wav, reco2dur = tables["utt2spk"], tables["wav.scp"], tables["reco2dur"]
    if utt2spk is not None:
        per_utt = [n for n in UTT_FILES if n != "utt2spk"]
        per_utt += ["segments"] if has_segments else list(RECO_FILES)
        for name in per_utt:
            if tables[name] is not None:
                compare_keys(errors, d, name, tables[name], "utt2spk", utt2spk, "utterance")
    if has_segments and tables["segments"] is not None and reco2dur is not None and wav is not None:
        for reco, (lineno, _) in reco2dur.items():
            if reco not in wav:
                errors.append(f"{d / 'reco2dur'}:{lineno}: recording not in wav.scp (key {reco})")
    if utt2spk is not None and tables["spk2utt"] is not None:
        check_spk2utt(errors, d, utt2spk, tables["spk2utt"])
    if utt2spk is not None and tables["spk2gender"] is not None:
        speakers = {spk for _, spk in utt2spk.values()}
        for spk, (lineno, _) in tables["spk2gender"].items():
            if spk not in speakers:
                errors.append(f"{d / 'spk2gender'}:{lineno}: speaker not in utt2spk (key {spk})")


def compare_keys(errors, d, name, table, ref_name, ref, what) -> None:
    """Report keys of table missing from ref and keys of ref missing from table (3 of each)."""
    extra = [k for k in table if k not in ref]
    missing = [k for k in ref if k not in table]
    for k in extra[:3]:
        errors.append(f"{d / name}:{table[k][0]}: {what} not in {ref_name} (key {k})")
    for k in missing[:3]:
        errors.append(f"{d / name}: no entry for {what} {k}, which is on line {ref[k][0]} of "
                      f"{ref_name} (key {k})")
    hidden = max(0, len(extra) - 3) + max(0, len(missing) - 3)
    if hidden:
        errors.append(f"{d / name}: {hidden} more {what}s disagree with {ref_name}")


def check_spk2utt(errors, d, utt2spk, spk2utt) -> None:
    """spk2utt is utt2spk inverted: each speaker's utterances, in utt2spk's order, and every speaker listed."""
    expected = utt2spk_to_spk2utt({u: s for u, (_, s) in utt2spk.items()})
    for spk, (lineno, value) in spk2utt.items():
        got = value.split()
        if spk not in expected:
            errors.append(f"{d / 'spk2utt'}:{lineno}: speaker has no utterance in utt2spk (key {spk})")
        elif got != expected[spk]:
            wrong = [u for u in got if u not in set(expected[spk])]
            absent = [u for u in expected[spk] if u not in set(got)]
            detail = (f"lists {wrong[0]}, which utt2spk gives to {utt2spk[wrong[0]][1]}"
                      if wrong and wrong[0] in utt2spk else
                      f"lists {wrong[0]}, which is not in utt2spk" if wrong else
                      f"misses {absent[0]} (utt2spk line {utt2spk[absent[0]][0]})" if absent else
                      "lists the utterances out of order")
            errors.append(f"{d / 'spk2utt'}:{lineno}: disagrees with utt2spk: {detail} (key {spk}); "
                          f"rebuild it with utils/utt2spk_to_spk2utt.py")
    for spk, utts in expected.items():
        if spk not in spk2utt:
            errors.append(f"{d / 'spk2utt'}: no entry for speaker {spk}, which utt2spk gives on "
                          f"line {utt2spk[utts[0]][0]} (key {spk})")
