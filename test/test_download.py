"""echo.data.download and utils/download_and_untar.py against a local HTTP server (no network)."""
import hashlib
import io
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from echo.data import download as dl
from http_fixture import FileServer

ROOT = Path(__file__).resolve().parents[1]


def make_tgz(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


BIG = bytes(range(256)) * 4000        # ~1 MB: several chunks
TGZ = make_tgz({"Corpus/part-a/x.txt": BIG, "Corpus/part-a/y.txt": b"y\n", "Corpus/README.TXT": b"readme\n"})
MD5 = hashlib.md5(TGZ).hexdigest()


def test_cut_connection_resumes_with_a_range_request(tmp_path):
    with FileServer({"/c.tar.gz": TGZ}, cut_after=len(TGZ) // 3, cuts=2) as srv:
        dest = dl.download(f"{srv.url}/c.tar.gz", tmp_path / "c.tar.gz")
    assert dest.read_bytes() == TGZ
    ranges = [r for _, r in srv.requests]
    assert ranges[0] is None and ranges[1] == f"bytes={len(TGZ) // 3}-"   # resumed where it broke
    assert ranges[2] == f"bytes={2 * (len(TGZ) // 3)}-"
    assert not (tmp_path / "c.tar.gz.part").exists()


def test_partial_file_of_an_earlier_run_is_resumed(tmp_path):
    (tmp_path / "c.tar.gz.part").write_bytes(TGZ[:1000])
    with FileServer({"/c.tar.gz": TGZ}) as srv:
        dl.download(f"{srv.url}/c.tar.gz", tmp_path / "c.tar.gz")
    assert (tmp_path / "c.tar.gz").read_bytes() == TGZ
    assert srv.requests == [("/c.tar.gz", "bytes=1000-")]


def test_fetch_unpacks_once_and_then_touches_no_network(tmp_path):
    archive = None
    with FileServer({"/c.tar.gz": TGZ}) as srv:
        archive = dl.Archive(f"{srv.url}/c.tar.gz", f"md5:{MD5}", ("Corpus/part-a",))
        assert dl.fetch_archive(archive, tmp_path) is True
    assert (tmp_path / "Corpus/part-a/x.txt").read_bytes() == BIG
    assert (tmp_path / "Corpus/README.TXT").read_text() == "readme\n"   # beside the provided part
    assert not (tmp_path / "c.tar.gz").exists() and not list(tmp_path.glob(".unpack-*"))
    # The server is gone: a complete tree needs none.
    assert dl.fetch_archive(archive, tmp_path) is False


def test_checksum_mismatch_is_an_error_and_nothing_is_complete(tmp_path):
    bad = TGZ[:-10] + b"0123456789"
    with FileServer({"/c.tar.gz": bad}) as srv:
        archive = dl.Archive(f"{srv.url}/c.tar.gz", f"md5:{MD5}", ("Corpus/part-a",))
        with pytest.raises(dl.DownloadError, match=f"md5 is .* expected {MD5}"):
            dl.fetch_archive(archive, tmp_path)
    assert not (tmp_path / "Corpus").exists()
    assert not (tmp_path / "c.tar.gz").exists()   # removed: the next run downloads afresh
    assert not dl.is_complete(archive, tmp_path)


def test_missing_archive_names_its_url_and_the_variable(tmp_path):
    with FileServer({}) as srv:
        url = f"{srv.url}/resources/99/nothing.tar.gz"
        r = subprocess.run([sys.executable, str(ROOT / "utils/download_and_untar.py"), "--root", str(tmp_path),
                            "--url", url, "--checksum", f"md5:{MD5}", "--provides", "Corpus/part-a", "--var", "MYCORPUS"],
                           capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert url in r.stderr and "HTTP 404" in r.stderr and "set MYCORPUS" in r.stderr
    assert not (tmp_path / "Corpus").exists()


def test_offline_names_the_url(tmp_path):
    url = "http://127.0.0.1:9/x.tar.gz"     # the discard port: connection refused
    with pytest.raises(dl.DownloadError, match="could not download http://127.0.0.1:9/x.tar.gz"):
        dl.fetch_archive(dl.Archive(url, None, ("X",)), tmp_path, var="X_ROOT")


def test_killed_unpack_leaves_nothing_under_a_final_name(tmp_path, monkeypatch):
    path = tmp_path / "c.tar.gz"
    path.write_bytes(TGZ)

    def killed(src, dst):
        raise KeyboardInterrupt   # killed before the rename that completes the part
    monkeypatch.setattr(dl.os, "rename", killed)
    with pytest.raises(KeyboardInterrupt):
        dl.unpack(path, tmp_path, ("Corpus/part-a",))
    monkeypatch.undo()
    assert not (tmp_path / "Corpus/part-a").exists() and not list(tmp_path.glob(".unpack-*"))
    dl.unpack(path, tmp_path, ("Corpus/part-a",))
    assert (tmp_path / "Corpus/part-a/y.txt").read_bytes() == b"y\n"


def test_nested_per_speaker_archives_unpack_once(tmp_path):
    wav = tmp_path / "wav"
    wav.mkdir()
    for spk in ("S0002", "S0003"):
        (wav / f"{spk}.tar.gz").write_bytes(make_tgz({f"train/{spk}/BAC009{spk}W0001.wav": b"RIFF"}))
    assert dl.unpack_nested(wav) == 2
    assert (wav / "train/S0003/BAC009S0003W0001.wav").read_bytes() == b"RIFF"
    assert dl.unpack_nested(wav) == 0          # a rerun finds them done; the tarballs stay
    assert (wav / "S0002.tar.gz").is_file()
