"""Kaldi data-dir tools: echo/data/datadir.py and the utils/*.py scripts over it."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from echo.data import datadir
from echo.data.datadir import DataDirError
from echo.data.validate import validate_data_dir

ROOT = Path(__file__).resolve().parents[1]
UTILS = ROOT / "utils"

# 3 speakers with 3, 2 and 1 utterances; one transcript is non-ASCII, one wav entry is a pipe.
UTT2SPK = {"spkA-u1": "spkA", "spkA-u2": "spkA", "spkA-u3": "spkA",
           "spkB-u1": "spkB", "spkB-u2": "spkB", "spkC-u1": "spkC"}
TEXT = {"spkA-u1": "one two", "spkA-u2": "trois quatre", "spkA-u3": "fünf",
        "spkB-u1": "six", "spkB-u2": "seven eight nine", "spkC-u1": "ten"}


def make_dir(path: Path, segments: bool = False, feats: bool = False) -> Path:
    path.mkdir(parents=True)
    datadir.write_kv(path / "utt2spk", UTT2SPK)
    datadir.write_kv(path / "spk2utt", datadir.utt2spk_to_spk2utt(UTT2SPK))
    datadir.write_kv(path / "text", TEXT)
    if segments:   # two utterances per recording of speakers A and B, one for C
        recos = {u: u.split("-")[0] + ("-r1" if u[-1] in "12" else "-r2") for u in UTT2SPK}
        datadir.write_kv(path / "segments", {u: f"{r} {0.5 * int(u[-1])} {0.5 * int(u[-1]) + 0.4}"
                                             for u, r in recos.items()})
        datadir.write_kv(path / "wav.scp", {r: f"sox /corpus/{r}.flac -t wav - |" for r in
                                            set(recos.values()) | {"unused-rec"}})
    else:
        datadir.write_kv(path / "wav.scp", {u: f"/corpus/{u}.wav" for u in UTT2SPK} |
                         {"spkA-u2": "sox /corpus/spkA-u2.flac -t wav - |"})
    if feats:
        datadir.write_kv(path / "feats.scp", {u: f"dump/feats.1.ark:{9 * i}" for i, u in
                                              enumerate(UTT2SPK)})
        datadir.write_kv(path / "utt2num_frames", {u: str(100 + i) for i, u in enumerate(UTT2SPK)})
        (path / "feats_dim").write_text("80\n")
    return path


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def run_util(name: str, *args, stdin: str | None = None):
    return subprocess.run([str(UTILS / name), *map(str, args)], capture_output=True, text=True,
                          input=stdin, timeout=60)


# ---------------------------------------------------------------------------------------------
# Reading and writing


def test_read_kv_keeps_pipes_and_rest_of_line(tmp_path):
    p = tmp_path / "wav.scp"
    p.write_text("r1 /a/b.wav\nr2\tsox  x.flac -t wav - |  \nr3 cat 'a b.wav' |\n")
    assert datadir.read_kv(p) == [("r1", "/a/b.wav"), ("r2", "sox  x.flac -t wav - |"),
                                  ("r3", "cat 'a b.wav' |")]


@pytest.mark.parametrize("content, expected", [
    (b"u1 a\n\nu2 b\n", ":2: empty line"),
    (b"u1 a\n u2 b\n", ":2: line starts with whitespace (key u2)"),
    (b"u1 a\nu2 caf\xe9\n", ":2: not valid UTF-8 (byte 6 of the line) (key u2)"),
    (b"u1 a\r\n", ":1: Windows line ending"),
    (b"u1 a\nu2\n", ":2: no value after the key (key u2)"),
])
def test_read_kv_errors_name_file_line_key(tmp_path, content, expected):
    p = tmp_path / "text"
    p.write_bytes(content)
    with pytest.raises(DataDirError) as e:
        datadir.read_kv(p)
    assert str(p) + expected in str(e.value)


def test_read_kv_dict_rejects_duplicates_and_allows_empty_on_request(tmp_path):
    p = tmp_path / "text"
    p.write_text("u1 a\nu2\nu1 c\n")
    assert datadir.read_kv(p, allow_empty=True) == [("u1", "a"), ("u2", ""), ("u1", "c")]
    with pytest.raises(DataDirError, match=r"text:3: duplicate key, first on line 1 \(key u1\)"):
        datadir.read_kv_dict(p, allow_empty=True)


def test_write_kv_sorts_in_c_byte_order_like_sort(tmp_path):
    keys = ["b", "a_b", "a-b", "B", "a", "é", "z", "Z9", "a.b", "10", "9", "ab"]
    p = tmp_path / "x"
    datadir.write_kv(p, [(k, "v " + k) for k in keys])
    got = [line.split()[0] for line in lines(p)]
    shuffled = "".join(f"{k} v {k}\n" for k in keys)
    c_sort = subprocess.run(["sort"], input=shuffled.encode(), capture_output=True,
                            env={**os.environ, "LC_ALL": "C"}, check=True).stdout.decode()
    assert got == [line.split()[0] for line in c_sort.splitlines()]
    assert got == datadir.c_sorted(keys)
    assert got[:4] == ["10", "9", "B", "Z9"]     # digits < upper case < lower case < UTF-8
    assert got[-1] == "é"
    assert not list(tmp_path.glob(".*tmp*"))  # the temporary file was renamed away


def test_write_kv_refuses_bad_keys_and_leaves_old_file(tmp_path):
    p = tmp_path / "text"
    p.write_text("old content\n")
    with pytest.raises(DataDirError, match="one non-empty word"):
        datadir.write_kv(p, {"a b": "x"})
    with pytest.raises(DataDirError, match="newline"):
        datadir.write_kv(p, {"a": "x\ny"})
    assert p.read_text() == "old content\n"
    datadir.write_kv(p, {"s1": ["u2", "u1"]}, sort=False)
    assert p.read_text() == "s1 u2 u1\n"


def test_read_segments(tmp_path):
    p = tmp_path / "segments"
    p.write_text("u1 r1 0 1.5\nu2 r1 1.5 3.25\n")
    assert datadir.read_segments(p) == {"u1": ("r1", 0.0, 1.5), "u2": ("r1", 1.5, 3.25)}
    p.write_text("u1 r1 0 1.5\nu2 r1 3.0 2.0\n")
    with pytest.raises(DataDirError, match=r"segments:2: .*start=3.0 end=2.0 \(key u2\)"):
        datadir.read_segments(p)
    p.write_text("u1 r1 0\n")
    with pytest.raises(DataDirError, match=r"segments:1: expected 'utt reco start end'.*\(key u1\)"):
        datadir.read_segments(p)


def test_spk2utt_conversions_and_clis(tmp_path):
    spk2utt = datadir.utt2spk_to_spk2utt(UTT2SPK)
    assert spk2utt == {"spkA": ["spkA-u1", "spkA-u2", "spkA-u3"], "spkB": ["spkB-u1", "spkB-u2"],
                       "spkC": ["spkC-u1"]}
    assert datadir.spk2utt_to_utt2spk(spk2utt) == UTT2SPK
    d = make_dir(tmp_path / "d")
    r = run_util("utt2spk_to_spk2utt.py", d / "utt2spk")
    assert r.returncode == 0 and r.stdout == (d / "spk2utt").read_text()
    r = run_util("spk2utt_to_utt2spk.py", stdin=(d / "spk2utt").read_text())
    assert r.returncode == 0 and r.stdout == (d / "utt2spk").read_text()
    r = run_util("spk2utt_to_utt2spk.py", stdin="s1 u1 u2\ns2 u2\n")
    assert r.returncode == 1 and "u2" in r.stderr and "s1" in r.stderr


# ---------------------------------------------------------------------------------------------
# validate and fix


def test_valid_dirs_pass(tmp_path):
    d = make_dir(tmp_path / "plain")
    summary = validate_data_dir(d, no_feats=True)
    assert "6 utterances, 3 speakers, 6 recordings" in summary
    r = run_util("validate_data_dir.py", "--no-feats", d)
    assert r.returncode == 0 and len(r.stdout.splitlines()) == 1 and "valid data dir" in r.stdout
    seg = make_dir(tmp_path / "seg", segments=True, feats=True)
    assert "6 utterances, 3 speakers, 4 recordings" in validate_data_dir(seg)


def test_required_files(tmp_path):
    d = make_dir(tmp_path / "d")
    with pytest.raises(DataDirError, match="feats.scp: missing"):
        validate_data_dir(d)
    (d / "text").unlink()
    (d / "wav.scp").unlink()
    validate_data_dir(d, no_feats=True, no_text=True, no_wav=True)
    with pytest.raises(DataDirError, match="text: missing"):
        validate_data_dir(d, no_feats=True, no_wav=True)
    for name in ("utt2spk", "spk2utt"):
        (d / name).write_text("")
    with pytest.raises(DataDirError, match="utt2spk: empty"):
        validate_data_dir(d, no_feats=True, no_text=True, no_wav=True)


def _unsorted(d):
    (d / "text").write_text("".join(f"{u} {TEXT[u]}\n" for u in reversed(list(TEXT))))


def _duplicate(d):
    with open(d / "wav.scp", "a") as f:
        f.write("spkC-u1 /other.wav\n")


def _missing_utt(d):
    (d / "text").write_text("".join(f"{u} {t}\n" for u, t in TEXT.items() if u != "spkB-u1"))


def _empty_transcript(d):
    (d / "text").write_text("".join(f"{u} {'' if u == 'spkA-u3' else t}\n" for u, t in TEXT.items()))


def _non_utf8(d):
    (d / "text").write_bytes("".join(f"{u} {t}\n" for u, t in TEXT.items()).encode("latin-1"))


def _segment_end_before_start(d):
    segs = lines(d / "segments")
    segs[4] = "spkB-u2 spkB-r1 2.0 1.0"
    (d / "segments").write_text("\n".join(segs) + "\n")


def _spk2utt_disagrees(d):
    (d / "spk2utt").write_text("spkA spkA-u1 spkA-u2\nspkB spkB-u1 spkB-u2 spkA-u3\nspkC spkC-u1\n")


def _segment_unknown_recording(d):
    segs = lines(d / "segments")
    segs[5] = "spkC-u1 nowhere-r9 0 1"
    (d / "segments").write_text("\n".join(segs) + "\n")


# (break the dir, message expected from validate, file that fix_data_dir shrinks, lines it keeps)
BROKEN = {
    "unsorted": (_unsorted, "text:2: not sorted in C byte order, comes after spkC-u1 (key spkB-u2)",
                 "text", 6),
    "duplicate": (_duplicate, "wav.scp:7: duplicate key, first on line 6 (key spkC-u1)",
                  "wav.scp", 6),
    "missing_utt": (_missing_utt, "text: no entry for utterance spkB-u1, which is on line 4 of "
                    "utt2spk (key spkB-u1)", "utt2spk", 5),
    "empty_transcript": (_empty_transcript, "text:3: empty transcript (key spkA-u3)", "utt2spk", 5),
    "non_utf8": (_non_utf8, "text:3: not valid UTF-8 (byte 9 of the line) (key spkA-u3)",
                 "utt2spk", 5),
    "segment_end_before_start": (_segment_end_before_start,
                                 "segments:5: segment must have 0 <= start < end, got start=2.0 "
                                 "end=1.0 (key spkB-u2)", "utt2spk", 5),
    "segment_unknown_recording": (_segment_unknown_recording,
                                  "segments:6: recording nowhere-r9 is not in wav.scp (key spkC-u1)",
                                  "utt2spk", 5),
    "spk2utt_disagrees": (_spk2utt_disagrees, "spk2utt:2: disagrees with utt2spk: lists spkA-u3, "
                          "which utt2spk gives to spkA (key spkB)", "spk2utt", 3),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_broken_dir_is_reported_then_fixed(tmp_path, case):
    breaker, message, shrunk, kept = BROKEN[case]
    segments = case.startswith("segment")
    d = make_dir(tmp_path / "data dir", segments=segments)
    breaker(d)
    broken_files = {p.name: p.read_bytes() for p in d.iterdir()}
    with pytest.raises(DataDirError) as e:
        validate_data_dir(d, no_feats=True)
    assert f"{d}/{message}" in str(e.value)
    r = run_util("validate_data_dir.py", "--no-feats", d)
    assert r.returncode == 1 and f"{d}/{message}" in r.stderr

    r = run_util("fix_data_dir.py", d)
    assert r.returncode == 0, r.stderr
    validate_data_dir(d, no_feats=True)       # fixed: raises nothing
    assert len(lines(d / shrunk)) == kept
    assert {p.name: p.read_bytes() for p in (d / ".backup").iterdir()} == broken_files
    before = len(broken_files[shrunk].splitlines())
    assert f"{shrunk}: {before} -> {kept} lines" in r.stdout


def test_fix_keeps_only_utts_in_every_file_and_used_recordings(tmp_path):
    d = make_dir(tmp_path / "d", segments=True, feats=True)
    datadir.write_kv(d / "feats.scp", {u: v for u, v in datadir.read_kv(d / "feats.scp")
                                       if u not in ("spkC-u1", "spkA-u3")})
    (d / "spk2utt").unlink()
    report = datadir.fix_data_dir(d)
    assert list(datadir.read_kv_dict(d / "utt2spk")) == ["spkA-u1", "spkA-u2", "spkB-u1", "spkB-u2"]
    # spkA-u3 was the only segment of spkA-r2, spkC-u1 of spkC-r1; unused-rec was never used
    assert list(datadir.read_kv_dict(d / "wav.scp")) == ["spkA-r1", "spkB-r1"]
    assert datadir.read_kv_dict(d / "spk2utt") == {"spkA": "spkA-u1 spkA-u2",
                                                   "spkB": "spkB-u1 spkB-u2"}
    assert report["wav.scp"] == (5, 2) and report["text"] == (6, 4) and report["spk2utt"] == (0, 2)
    assert "valid data dir: 4 utterances" in validate_data_dir(d)


def test_fix_refuses_to_empty_a_dir(tmp_path):
    d = make_dir(tmp_path / "d")
    (d / "text").write_text("other-utt hello\n")
    with pytest.raises(DataDirError, match="no utterance is present in every file"):
        datadir.fix_data_dir(d)
    assert len(lines(d / "utt2spk")) == 6


# ---------------------------------------------------------------------------------------------
# split, subset, combine


def test_split_per_speaker(tmp_path):
    d = make_dir(tmp_path / "d", segments=True, feats=True)
    parts = datadir.split_data(d, 2)
    assert parts == [d / "split2" / "1", d / "split2" / "2"]
    utts = [list(datadir.read_kv_dict(p / "utt2spk")) for p in parts]
    assert sorted(utts[0] + utts[1]) == sorted(UTT2SPK)
    # spkA (3 utts) alone; spkB (2) and spkC (1) together: balanced 3/3, speakers never split
    assert utts == [["spkA-u1", "spkA-u2", "spkA-u3"], ["spkB-u1", "spkB-u2", "spkC-u1"]]
    for p in parts:
        validate_data_dir(p)
        assert (p / "feats_dim").read_text() == "80\n"
        part_utts = set(datadir.read_kv_dict(p / "utt2spk"))
        for name in ("text", "feats.scp", "utt2num_frames", "segments"):
            assert set(datadir.read_kv_dict(p / name)) == part_utts
    # wav.scp only holds the recordings the part's segments use
    assert list(datadir.read_kv_dict(parts[0] / "wav.scp")) == ["spkA-r1", "spkA-r2"]
    assert list(datadir.read_kv_dict(parts[1] / "wav.scp")) == ["spkB-r1", "spkC-r1"]

    with pytest.raises(DataDirError, match="cannot split 3 speakers into 4 parts.*--per-utt"):
        datadir.split_data(d, 4)
    r = run_util("split_data.py", d, 4)
    assert r.returncode == 1 and "--per-utt" in r.stderr


def test_split_per_utt_keeps_order_and_balance(tmp_path):
    d = make_dir(tmp_path / "d")
    r = run_util("split_data.py", "--per-utt", d, 4)
    assert r.returncode == 0, r.stderr
    parts = [d / "split4utt" / str(i) for i in range(1, 5)]
    utts = [list(datadir.read_kv_dict(p / "utt2spk")) for p in parts]
    assert [len(u) for u in utts] == [2, 2, 1, 1]
    assert sum(utts, []) == list(UTT2SPK)
    for p in parts:
        validate_data_dir(p, no_feats=True)
    # spkA is spread over parts 1 and 2; each part's spk2utt only lists its own utterances
    assert datadir.read_kv_dict(parts[1] / "spk2utt") == {"spkA": "spkA-u3", "spkB": "spkB-u1"}
    with pytest.raises(DataDirError, match="cannot split 6 utterances into 7 parts"):
        datadir.split_data(d, 7, per_utt=True)


def test_split_is_reused_until_the_parent_changes(tmp_path):
    d = make_dir(tmp_path / "d")
    part = datadir.split_data(d, 2)[0]
    stamp = (part / "text").stat().st_mtime_ns
    assert datadir.split_data(d, 2)[0] == part
    assert (part / "text").stat().st_mtime_ns == stamp        # reused, not rewritten
    datadir.write_kv(d / "text", TEXT | {"spkA-u1": "changed words"})
    datadir.split_data(d, 2)
    assert datadir.read_kv_dict(part / "text")["spkA-u1"] == "changed words"
    # a parent that lost an utterance leaves no stale part behind
    datadir.subset_data_dir(d, tmp_path / "small", spk_list=["spkA", "spkB"])
    small = datadir.split_data(tmp_path / "small", 2)
    for name in ("utt2spk", "text"):
        datadir.write_kv(tmp_path / "small" / name,
                         {k: v for k, v in datadir.read_kv(tmp_path / "small" / name)
                          if k != "spkB-u2"})
    datadir.write_kv(tmp_path / "small" / "spk2utt", {"spkA": "spkA-u1 spkA-u2 spkA-u3",
                                                      "spkB": "spkB-u1"})
    datadir.write_kv(tmp_path / "small" / "wav.scp", {k: v for k, v in
                     datadir.read_kv(tmp_path / "small" / "wav.scp") if k != "spkB-u2"})
    datadir.split_data(tmp_path / "small", 2)
    all_utts = [u for p in small for u in datadir.read_kv_dict(p / "utt2spk")]
    assert "spkB-u2" not in all_utts and len(all_utts) == 4
    assert not list(tmp_path.glob("**/.split*"))     # no temporary dirs left


def test_subset_data_dir(tmp_path):
    d = make_dir(tmp_path / "d", segments=True)
    first = datadir.subset_data_dir(d, tmp_path / "first", first=2)
    assert list(datadir.read_kv_dict(first / "text")) == ["spkA-u1", "spkA-u2"]
    assert list(datadir.read_kv_dict(first / "wav.scp")) == ["spkA-r1"]
    last = datadir.subset_data_dir(d, tmp_path / "last", last=2)
    assert list(datadir.read_kv_dict(last / "utt2spk")) == ["spkB-u2", "spkC-u1"]
    (tmp_path / "utts").write_text("spkB-u1\nspkA-u3 extra fields ignored\nnot-there\n")
    r = run_util("subset_data_dir.py", "--utt-list", tmp_path / "utts", d, tmp_path / "ul")
    assert r.returncode == 0, r.stderr
    assert list(datadir.read_kv_dict(tmp_path / "ul" / "utt2spk")) == ["spkA-u3", "spkB-u1"]
    (tmp_path / "spks").write_text("spkB\n")
    r = run_util("subset_data_dir.py", "--spk-list", tmp_path / "spks", d, tmp_path / "sl")
    assert r.returncode == 0 and "2 utterances" in r.stdout
    assert datadir.read_kv_dict(tmp_path / "sl" / "spk2utt") == {"spkB": "spkB-u1 spkB-u2"}
    for sub in ("first", "last", "ul", "sl"):
        validate_data_dir(tmp_path / sub, no_feats=True)
    with pytest.raises(DataDirError, match="exactly one"):
        datadir.subset_data_dir(d, tmp_path / "x", first=1, last=1)
    with pytest.raises(DataDirError, match="keeps no utterance"):
        datadir.subset_data_dir(d, tmp_path / "x", utt_list=["nobody"])


def test_combine_undoes_split(tmp_path):
    d = make_dir(tmp_path / "d", segments=True, feats=True)
    parts = datadir.split_data(d, 3)
    r = run_util("combine_data.py", tmp_path / "all", *parts)
    assert r.returncode == 0, r.stderr
    for name in ("utt2spk", "spk2utt", "text", "segments", "feats.scp", "utt2num_frames",
                 "feats_dim"):
        assert (tmp_path / "all" / name).read_text() == (d / name).read_text(), name
    # unused-rec was no part's recording, so it is the only difference
    assert set(datadir.read_kv_dict(d / "wav.scp")) - set(
        datadir.read_kv_dict(tmp_path / "all" / "wav.scp")) == {"unused-rec"}


def test_combine_errors_and_left_out_files(tmp_path):
    a = make_dir(tmp_path / "a")
    b = datadir.subset_data_dir(a, tmp_path / "b", spk_list=["spkC"])
    with pytest.raises(DataDirError, match=r"key spkC-u1 of \w+ is in both"):
        datadir.combine_data(tmp_path / "ab", [a, b])
    c = datadir.subset_data_dir(a, tmp_path / "c", spk_list=["spkA", "spkB"])
    (b / "text").unlink()
    notes = datadir.combine_data(tmp_path / "bc", [b, c])
    assert notes == [f"text: left out, missing in {b}"]
    assert not (tmp_path / "bc" / "text").exists()
    assert (tmp_path / "bc" / "utt2spk").read_text() == (a / "utt2spk").read_text()


def test_filter_scp(tmp_path):
    d = make_dir(tmp_path / "d")
    (tmp_path / "ids").write_text("spkB-u2\nspkA-u1 whatever\n")
    r = run_util("filter_scp.py", tmp_path / "ids", d / "text")
    assert r.stdout == "spkA-u1 one two\nspkB-u2 seven eight nine\n"
    r = run_util("filter_scp.py", "--exclude", tmp_path / "ids", d / "text")
    assert [line.split()[0] for line in r.stdout.splitlines()] == [
        "spkA-u2", "spkA-u3", "spkB-u1", "spkC-u1"]
    (tmp_path / "spks").write_text("spkC\n")
    r = run_util("filter_scp.py", "-f", "2", tmp_path / "spks", d / "utt2spk")
    assert r.stdout == "spkC-u1 spkC\n"


def test_split_scp(tmp_path):
    d = make_dir(tmp_path / "d")
    outs = [tmp_path / f"out{i}" for i in range(1, 4)]
    r = run_util("split_scp.py", d / "text", *outs)
    assert r.returncode == 0, r.stderr
    assert [len(lines(o)) for o in outs] == [2, 2, 2]
    assert sum((lines(o) for o in outs), []) == lines(d / "text")
    outs = outs[:2]
    r = run_util("split_scp.py", "--utt2spk", d / "utt2spk", d / "text", *outs)
    assert r.returncode == 0, r.stderr
    assert [o.read_text().count("spkA") for o in outs] == [3, 0]     # spkA not split over two
    assert sum((lines(o) for o in outs), []) == lines(d / "text")
    r = run_util("split_scp.py", "--utt2spk", d / "utt2spk", d / "text", *[tmp_path / f"o{i}"
                                                                             for i in range(4)])
    assert r.returncode == 1 and "cannot split 3 speakers into 4 files" in r.stderr


def test_scripts_run_with_plain_python3_and_from_a_symlinked_utils(tmp_path):
    """utils/ is symlinked into every recipe and must work outside the venv too."""
    d = make_dir(tmp_path / "recipe" / "data" / "train")
    (tmp_path / "recipe" / "utils").symlink_to(UTILS)
    for python in ("python3", sys.executable):
        r = subprocess.run([python, "utils/validate_data_dir.py", "--no-feats", "data/train"],
                           cwd=tmp_path / "recipe", capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert "6 utterances" in r.stdout
    assert d.is_dir()
    for script in UTILS.glob("*.py"):
        assert os.access(script, os.X_OK), script
        r = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and "usage" in r.stdout.lower(), script


def test_segment_end_minus_one_means_to_the_end(tmp_path):
    """Kaldi's extract-segments reads an end time of -1 as the end of the recording."""
    seg = tmp_path / "segments"
    seg.write_text("utt1 reco1 0.5 -1\nutt2 reco1 0.0 0.5\n")
    assert datadir.read_segments(seg)["utt1"] == ("reco1", 0.5, -1.0)
    seg.write_text("utt1 reco1 0.5 -2\n")
    with pytest.raises(datadir.DataDirError, match="segments:1"):
        datadir.read_segments(seg)
