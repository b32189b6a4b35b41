"""Kaldi data directories: read, write, fix, split, subset and combine (validate: echo/data/validate.py).

A data dir is a folder of text files with one "key value" line per entry, sorted by key in C byte
order (what `LC_ALL=C sort` gives), each key once:

    wav.scp          reco  path | "cmd ... |"      (per utterance when there is no segments file)
    segments         utt   reco start end          (seconds; makes wav.scp per recording)
    text             utt   transcript (UTF-8)
    utt2spk          utt   spk
    spk2utt          spk   utt1 utt2 ...           (always rebuilt from utt2spk)
    feats.scp, f0.scp, utt2num_frames, utt2dur     per utterance (dump dirs)
    reco2dur         per recording;   spk2gender   per speaker (m|f)

Every error names the file, the line and the key ("FILE:LINE: reason (key K)"). Files are written
to a temporary name and renamed, so a killed job never leaves a half-written file behind.
Standard library only: the scripts in utils/ import this module with any python3 >= 3.10.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from echo.io import atomic


class DataDirError(ValueError):
    """A data-dir file is malformed or inconsistent; the message says where."""


# Which key each known file is indexed by. wav.scp and reco2dur are per recording when a segments
# file exists and per utterance otherwise. spk2utt is derived from utt2spk and handled apart.
UTT_FILES = ("text", "utt2spk", "feats.scp", "f0.scp", "utt2num_frames", "utt2dur",
             "utt2lang", "utt2uniq")
RECO_FILES = ("wav.scp", "reco2dur")
SPK_FILES = ("spk2gender",)
# Small non key-value files of a dump dir that every split/subset keeps a copy of.
COPIED_FILES = ("feats_dim", "frame_shift")

_LINE = re.compile(r"([^ \t]+)(?:[ \t]+(.*?))?[ \t]*")


def c_key(s: str) -> bytes:
    """Sort key giving C byte order (LC_ALL=C sort) for a str."""
    return s.encode("utf-8")


def c_sorted(items: Iterable[str]) -> list[str]:
    """Strings sorted in C byte order."""
    return sorted(items, key=c_key)


# ---------------------------------------------------------------------------------------------
# Reading and writing key-value files


def read_lines(path: Path, allow_empty: bool) -> list[tuple[int, str, str]]:
    """(line number, key, value) of every line; raises DataDirError at the first bad line."""
    rows = []
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            raw = raw.rstrip(b"\n")
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                key = raw.split(maxsplit=1)[0].decode("utf-8", "replace") if raw.strip() else ""
                raise DataDirError(f"{path}:{lineno}: not valid UTF-8 (byte {e.start} of the line)"
                                   f" (key {key})") from None
            if not line.strip():
                raise DataDirError(f"{path}:{lineno}: empty line")
            if line.endswith("\r"):
                raise DataDirError(f"{path}:{lineno}: Windows line ending (\\r); convert the file "
                                   f"with dos2unix (key {line.split(maxsplit=1)[0]})")
            m = _LINE.fullmatch(line)
            if m is None:
                raise DataDirError(f"{path}:{lineno}: line starts with whitespace "
                                   f"(key {line.split(maxsplit=1)[0]})")
            key, value = m.group(1), m.group(2) or ""
            if not value and not allow_empty:
                raise DataDirError(f"{path}:{lineno}: no value after the key (key {key})")
            rows.append((lineno, key, value))
    return rows


def read_kv(path, *, allow_empty: bool = False) -> list[tuple[str, str]]:
    """[(key, rest of line)] in file order, duplicates kept.

    The value is everything after the first run of spaces/tabs, trailing blanks removed, so Kaldi
    pipes ("sox a.flac -t wav - |") come back whole. A line with a key and no value is an error
    unless allow_empty (an empty transcript in `text`).
    """
    return [(k, v) for _, k, v in read_lines(Path(path), allow_empty)]


def read_kv_dict(path, *, allow_empty: bool = False) -> dict[str, str]:
    """{key: value}; a key seen twice is an error naming both lines."""
    path = Path(path)
    table: dict[str, str] = {}
    first_line: dict[str, int] = {}
    for lineno, key, value in read_lines(path, allow_empty):
        if key in table:
            raise DataDirError(f"{path}:{lineno}: duplicate key, first on line {first_line[key]} "
                               f"(key {key})")
        table[key] = value
        first_line[key] = lineno
    return table


def write_kv(path, items, sort: bool = True) -> None:
    """Write "key value" lines atomically (temp file + rename).

    items: a mapping or an iterable of (key, value); a list/tuple value is joined with spaces
    (spk2utt). sort=True orders lines by key in C byte order (then by value, like `sort`).
    """
    path = Path(path)
    pairs = list(items.items()) if isinstance(items, Mapping) else list(items)
    lines = []
    for key, value in pairs:
        if not isinstance(value, str):
            value = " ".join(value)
        if not key or re.search(r"\s", key):
            raise DataDirError(f"{path}: a key must be one non-empty word (key {key!r})")
        if "\n" in value or "\r" in value:
            raise DataDirError(f"{path}: a value may not contain a newline (key {key})")
        lines.append((key, value))
    if sort:
        lines.sort(key=lambda kv: (c_key(kv[0]), c_key(kv[1])))
    atomic.write_text(path, "".join(f"{key} {value}\n" if value else f"{key}\n" for key, value in lines))


def read_segments(path) -> dict[str, tuple[str, float, float]]:
    """{utt: (reco, start, end)} in seconds; needs 0 <= start < end, or end = -1 for "to the end of the
    recording" (Kaldi's extract-segments convention)."""
    path = Path(path)
    segments = {}
    for lineno, key, value in read_lines(path, allow_empty=False):
        if key in segments:
            raise DataDirError(f"{path}:{lineno}: duplicate key (key {key})")
        segments[key] = parse_segment(path, lineno, key, value)
    return segments


def parse_segment(path, lineno, key, value) -> tuple[str, float, float]:
    fields = value.split()
    if len(fields) != 3:
        raise DataDirError(f"{path}:{lineno}: expected 'utt reco start end', got {len(fields) + 1} "
                           f"fields (key {key})")
    reco, start, end = fields
    try:
        start_s, end_s = float(start), float(end)
    except ValueError:
        raise DataDirError(f"{path}:{lineno}: start and end must be numbers, got '{start} {end}' "
                           f"(key {key})") from None
    if not 0 <= start_s < end_s and not (start_s >= 0 and end_s == -1):
        raise DataDirError(f"{path}:{lineno}: segment must have 0 <= start < end, got start={start} "
                           f"end={end} (key {key})")
    return reco, start_s, end_s


def utt2spk_to_spk2utt(utt2spk: Mapping[str, str]) -> dict[str, list[str]]:
    """{spk: [utt, ...]}: speakers in C order, each speaker's utts in C order."""
    spk2utt: dict[str, list[str]] = {}
    for utt in c_sorted(utt2spk):
        spk2utt.setdefault(utt2spk[utt], []).append(utt)
    return {spk: spk2utt[spk] for spk in c_sorted(spk2utt)}


def spk2utt_to_utt2spk(spk2utt: Mapping[str, Iterable[str] | str]) -> dict[str, str]:
    """{utt: spk} in C order of utt; an utterance under two speakers is an error."""
    utt2spk: dict[str, str] = {}
    for spk, utts in spk2utt.items():
        for utt in utts.split() if isinstance(utts, str) else utts:
            if utt in utt2spk and utt2spk[utt] != spk:
                raise DataDirError(f"utterance {utt} listed under speakers {utt2spk[utt]} and {spk}")
            utt2spk[utt] = spk
    return {utt: utt2spk[utt] for utt in c_sorted(utt2spk)}


def _key_kind(name: str, has_segments: bool) -> str | None:
    """'utt', 'reco' or 'spk': what the keys of a known data-dir file are; None otherwise."""
    if name in UTT_FILES or name == "segments":
        return "utt"
    if name in RECO_FILES:
        return "reco" if has_segments else "utt"
    if name in SPK_FILES:
        return "spk"
    return None


def _present_files(d: Path) -> list[str]:
    """Known key-value files present in d (spk2utt excluded: it is always rebuilt)."""
    names = ("segments",) + UTT_FILES + RECO_FILES + SPK_FILES
    return [n for n in names if (d / n).is_file()]


# ---------------------------------------------------------------------------------------------
# Fixing


def _read_lenient(path: Path, allow_empty: bool) -> tuple[dict[str, str], int]:
    """({key: value} of the well-formed lines, first occurrence wins; number of lines)."""
    table: dict[str, str] = {}
    n = 0
    with open(path, "rb") as f:
        for n, raw in enumerate(f, 1):
            try:
                line = raw.rstrip(b"\n").decode("utf-8")
            except UnicodeDecodeError:
                continue
            m = _LINE.fullmatch(line)
            if m is None or line.endswith("\r") or (not m.group(2) and not allow_empty):
                continue
            table.setdefault(m.group(1), m.group(2) or "")
    return table, n


def fix_data_dir(data_dir) -> dict[str, tuple[int, int]]:
    """Make a data dir valid like Kaldi's fix_data_dir.sh; return {file: (lines before, after)}.

    Drops malformed lines (not UTF-8, no value, empty transcript, bad segment), repeated keys (the
    first is kept) and utterances missing from any per-utt file; keeps only recordings and
    speakers still used; sorts everything; rebuilds spk2utt from utt2spk (or utt2spk from spk2utt
    when only that exists). The original files are copied to DIR/.backup/ first.
    """
    d = Path(data_dir)
    has_segments = (d / "segments").is_file()
    tables, before = {}, {}
    for name in _present_files(d) + (["spk2utt"] if (d / "spk2utt").is_file() else []):
        tables[name], before[name] = _read_lenient(d / name, allow_empty=False)
    if "segments" in tables:
        good = {}
        for utt, value in tables["segments"].items():
            try:
                parse_segment(d / "segments", 0, utt, value)
                good[utt] = value
            except DataDirError:
                pass
        tables["segments"] = good
    if "utt2spk" not in tables:
        if "spk2utt" not in tables:
            raise DataDirError(f"{d}: needs utt2spk (or spk2utt)")
        try:
            tables["utt2spk"] = spk2utt_to_utt2spk(tables["spk2utt"])
        except DataDirError as e:
            raise DataDirError(f"{d / 'spk2utt'}: {e}") from None
    tables["utt2spk"] = {u: s for u, s in tables["utt2spk"].items() if len(s.split()) == 1}

    utts = set(tables["utt2spk"])
    for name, table in tables.items():
        if name != "spk2utt" and _key_kind(name, has_segments) == "utt":
            utts &= set(table)
    if has_segments and "wav.scp" in tables:
        utts = {u for u in utts if tables["segments"][u].split()[0] in tables["wav.scp"]}
    if not utts:
        raise DataDirError(f"{d}: no utterance is present in every file; nothing left to keep")
    new = _restrict(tables, utts, has_segments)

    backup = d / ".backup"
    backup.mkdir(exist_ok=True)
    for name in before:
        shutil.copy2(d / name, backup / name)
    report = {}
    for name, table in new.items():
        write_kv(d / name, table)
        report[name] = (before.get(name, 0), len(table))
    return report


def _restrict(tables: dict[str, dict[str, str]], utts: set[str],
              has_segments: bool) -> dict[str, dict[str, str]]:
    """The tables limited to utts (and the recordings and speakers those use); spk2utt rebuilt."""
    utt2spk = {u: s for u, s in tables["utt2spk"].items() if u in utts}
    speakers = set(utt2spk.values())
    recos = {tables["segments"][u].split()[0] for u in utts} if has_segments else utts
    keep = {"utt": utts, "reco": recos, "spk": speakers}
    new = {}
    for name, table in tables.items():
        kind = _key_kind(name, has_segments)
        if kind is not None:
            new[name] = {k: v for k, v in table.items() if k in keep[kind]}
    new["spk2utt"] = {s: " ".join(us) for s, us in utt2spk_to_spk2utt(utt2spk).items()}
    return new


# ---------------------------------------------------------------------------------------------
# Subsets: split, subset, combine


def _load_all(d: Path) -> tuple[dict[str, dict[str, str]], bool]:
    """Every known key-value file of d (values passed through as they are)."""
    if not (d / "utt2spk").is_file():
        raise DataDirError(f"{d}: no utt2spk (is this a data dir?)")
    tables = {name: read_kv_dict(d / name, allow_empty=True) for name in _present_files(d)}
    return tables, "segments" in tables


def _write_dir(out: Path, tables: dict[str, dict[str, str]], copy_from: Path | None) -> None:
    out.mkdir(parents=True)
    for name, table in tables.items():
        write_kv(out / name, table)
    for name in COPIED_FILES:
        if copy_from is not None and (copy_from / name).is_file():
            shutil.copy2(copy_from / name, out / name)


def _replace_dir(tmp: Path, dest: Path) -> None:
    """Put the finished directory tmp at dest, removing what was there."""
    if dest.exists():
        old = dest.with_name(f".{dest.name}.old{os.getpid()}")
        dest.rename(old)
        tmp.rename(dest)
        shutil.rmtree(old)
    else:
        tmp.rename(dest)


def _fingerprint(d: Path, n: int, per_utt: bool) -> str:
    h = hashlib.sha1(f"split v1 n={n} per_utt={per_utt}\n".encode())
    for name in _present_files(d) + [n for n in COPIED_FILES if (d / n).is_file()]:
        h.update(f"{name}\n".encode())
        h.update((d / name).read_bytes())
    return h.hexdigest()


def split_data(data_dir, n: int, per_utt: bool = False) -> list[Path]:
    """Split a data dir into n data dirs: DIR/split{n}/{1..n}, or DIR/split{n}utt/{1..n} per utt.

    Per speaker (default) every utterance of a speaker goes to the same part, speakers being dealt
    largest first to the part with the fewest utterances; more parts than speakers is an error.
    per_utt cuts the sorted utterance list into n contiguous runs whose sizes differ by at most 1.
    Each part is a valid data dir: every per-utt file of the parent filtered, spk2utt rebuilt,
    wav.scp holding only the recordings its segments use. The split is reused while the parent's
    files are unchanged (a fingerprint in split{n}/.done) and rebuilt, never patched, otherwise.
    """
    d, n = Path(data_dir), int(n)
    if n < 1:
        raise DataDirError(f"{d}: number of parts must be >= 1, got {n}")
    out = d / (f"split{n}utt" if per_utt else f"split{n}")
    parts = [out / str(i) for i in range(1, n + 1)]
    fingerprint = _fingerprint(d, n, per_utt)
    stamp = out / ".done"
    if stamp.is_file() and stamp.read_text() == fingerprint and all(p.is_dir() for p in parts):
        return parts

    tables, has_segments = _load_all(d)
    utt2spk = tables["utt2spk"]
    if per_utt:
        utts = c_sorted(utt2spk)
        if n > len(utts):
            raise DataDirError(f"{d}: cannot split {len(utts)} utterances into {n} parts")
        q, r = divmod(len(utts), n)
        bounds = [i * q + min(i, r) for i in range(n + 1)]
        groups = [set(utts[bounds[i]:bounds[i + 1]]) for i in range(n)]
    else:
        spk2utt = utt2spk_to_spk2utt(utt2spk)
        if n > len(spk2utt):
            raise DataDirError(f"{d}: cannot split {len(spk2utt)} speakers into {n} parts per "
                               f"speaker; split per utterance instead (--per-utt)")
        groups = [set() for _ in range(n)]
        for spk in sorted(spk2utt, key=lambda s: (-len(spk2utt[s]), c_key(s))):
            smallest = min(range(n), key=lambda i: (len(groups[i]), i))
            groups[smallest].update(spk2utt[spk])

    tmp = d / f".{out.name}.tmp{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        for i, utts in enumerate(groups, 1):
            _write_dir(tmp / str(i), _restrict(tables, utts, has_segments), copy_from=d)
        (tmp / ".done").write_text(fingerprint)
        _replace_dir(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return parts


def _id_list(ids) -> list[str]:
    """A list of ids from a file path (first word of each line) or from an iterable of str."""
    if isinstance(ids, (str, os.PathLike)):
        return [k for k, _ in read_kv(ids, allow_empty=True)]
    return list(ids)


def subset_data_dir(src, dest, *, first: int | None = None, last: int | None = None,
                    utt_list=None, spk_list=None) -> Path:
    """Write dest as the part of src chosen by exactly one of: the first or last N utterances (C
    order), the utterances of utt_list, the speakers of spk_list (lists: a file whose lines start
    with the id, or an iterable of ids; ids not in src are ignored). dest is replaced as a whole.
    """
    src, dest = Path(src), Path(dest)
    chosen = [x is not None for x in (first, last, utt_list, spk_list)]
    if sum(chosen) != 1:
        raise DataDirError("subset_data_dir: give exactly one of first, last, utt_list, spk_list")
    if dest.resolve() == src.resolve():
        raise DataDirError(f"subset_data_dir: destination {dest} is the source")
    tables, has_segments = _load_all(src)
    utts = c_sorted(tables["utt2spk"])
    if first is not None:
        keep = set(utts[:max(0, int(first))])
    elif last is not None:
        keep = set(utts[len(utts) - int(last):]) if int(last) > 0 else set()
    elif utt_list is not None:
        keep = set(_id_list(utt_list)) & set(utts)
    else:
        speakers = set(_id_list(spk_list))
        keep = {u for u in utts if tables["utt2spk"][u] in speakers}
    if not keep:
        raise DataDirError(f"subset_data_dir: the selection keeps no utterance of {src}")
    tmp = dest.with_name(f".{dest.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        _write_dir(tmp, _restrict(tables, keep, has_segments), copy_from=src)
        _replace_dir(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def combine_data(dest, srcs) -> list[str]:
    """Write dest as the union of the data dirs srcs; return notes on files left out.

    A file is combined only when every source has it (Kaldi's rule); an utterance in two sources
    is an error, a recording or speaker shared with the same value is fine. When only some sources
    have segments, the others get whole-recording segments from their utt2dur (or reco2dur).
    """
    dest, srcs = Path(dest), [Path(s) for s in srcs]
    if not srcs:
        raise DataDirError("combine_data: no source data dirs")
    if any(dest.resolve() == s.resolve() for s in srcs):
        raise DataDirError(f"combine_data: destination {dest} is also a source")
    loaded = [_load_all(s) for s in srcs]
    notes = []
    if any(seg for _, seg in loaded) and not all(seg for _, seg in loaded):
        for s, (tables, seg) in zip(srcs, loaded):
            if not seg:
                durs = tables.get("utt2dur") or tables.get("reco2dur") or {}
                lacking = [u for u in tables["utt2spk"] if u not in durs]
                if lacking:
                    raise DataDirError(f"combine_data: {s} has no segments while other sources do, "
                                       f"and no utt2dur entry for {lacking[0]} to make a "
                                       f"whole-recording segment from (key {lacking[0]})")
                # Without segments a recording is an utterance: wav.scp keys stay valid.
                tables["segments"] = {u: f"{u} 0 {durs[u]}" for u in tables["utt2spk"]}
                notes.append(f"{s}: made whole-recording segments from its durations")
    names = [n for n in loaded[0][0] if all(n in t for t, _ in loaded)]
    for n in sorted({n for t, _ in loaded for n in t} - set(names)):
        missing = [str(s) for s, (t, _) in zip(srcs, loaded) if n not in t]
        notes.append(f"{n}: left out, missing in {', '.join(missing)}")
    has_segments = "segments" in names
    combined: dict[str, dict[str, str]] = {}
    for name in names:
        kind = _key_kind(name, has_segments)
        table, origin = {}, {}
        for s, (tables, _) in zip(srcs, loaded):
            for key, value in tables[name].items():
                if key in table and (kind == "utt" or table[key] != value):
                    raise DataDirError(f"combine_data: key {key} of {name} is in both {origin[key]} "
                                       f"and {s} (key {key})")
                table[key] = value
                origin[key] = s
        combined[name] = table
    combined["spk2utt"] = {s: " ".join(us) for s, us in
                           utt2spk_to_spk2utt(combined["utt2spk"]).items()}
    tmp = dest.with_name(f".{dest.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        _write_dir(tmp, combined, copy_from=None)
        for name in COPIED_FILES:   # kept when every source has the same (e.g. feats_dim)
            contents = {(s / name).read_bytes() if (s / name).is_file() else None for s in srcs}
            if len(contents) == 1 and None not in contents:
                shutil.copy2(srcs[0] / name, tmp / name)
        _replace_dir(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return notes


def run_cli(main) -> None:
    """Run a utils/ script's main(), turning data-dir errors into 'prog: message' and exit 1."""
    import sys
    try:
        sys.exit(main())
    except (DataDirError, OSError) as e:
        prog = Path(sys.argv[0]).name
        print(f"{prog}: {e}", file=sys.stderr)
        sys.exit(1)
