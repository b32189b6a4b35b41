"""Corpus archives: resumable download, checksum verification, unpacking that is complete or absent.

    fetch_archive(Archive(url, "md5:...", provides=("LibriSpeech/dev-clean",)), root, var="LIBRISPEECH")

An archive is needed only when one of the paths it `provides` (relative to the corpus root) is missing,
so a root that already holds the unpacked tree (ours or one the user made) touches no network.
- download: into `<root>/<name>.part`, resumed with an HTTP Range request after a cut connection (in
  the same call, a few times, and on a rerun); renamed to `<root>/<name>` only once the whole file is there.
- verify: md5 or sha256 against the corpus's published checksum; a mismatch removes the archive and is
  an error (nothing is unpacked). `checksum=None` where the provider publishes none (CMU's AN4): then
  only the gzip and tar framing vouch for the bytes, and the log says so.
- unpack: into a staging directory `<root>/.unpack-<name>.tmp/`, then each provided path is renamed
  into place. The rename is the completion mark: a killed unpack leaves only the staging directory,
  which the next run removes, never a half-filled tree under a final name.
Standard library only (urllib, hashlib, tarfile), like echo.data.datadir: utils/ scripts import it.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import sys
import tarfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

CHUNK = 1 << 20
PROGRESS_S = 30.0     # seconds between progress lines of a download


class DownloadError(RuntimeError):
    """A download, verification or unpacking failed; the message names the URL or file."""


@dataclass(frozen=True)
class Archive:
    url: str
    checksum: str | None               # "md5:<hex>" or "sha256:<hex>"; None: no published checksum
    provides: tuple[str, ...] = field(default_factory=tuple)   # paths under the root it unpacks

    @property
    def name(self) -> str:
        return self.url.rstrip("/").rsplit("/", 1)[-1]


def log(msg: str) -> None:
    print(f"download: {msg}", file=sys.stderr, flush=True)


def download(url: str, dest, attempts: int = 4, timeout: float = 60.0) -> Path:
    """url → dest, resuming `<dest>.part` with Range requests; DownloadError naming url on failure."""
    dest = Path(dest)
    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    last_error = None
    for attempt in range(1, attempts + 1):
        offset = part.stat().st_size if part.exists() else 0
        request = urllib.request.Request(url, headers={"Range": f"bytes={offset}-"} if offset else {})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                resumed = offset and response.status == 206
                if offset and not resumed:
                    log(f"{url}: the server ignores Range requests; starting again from byte 0")
                total = _expected_size(response, offset if resumed else 0)
                with open(part, "ab" if resumed else "wb") as f:
                    got, shown = f.tell(), time.monotonic()
                    while chunk := response.read(CHUNK):
                        f.write(chunk)
                        got += len(chunk)
                        if time.monotonic() - shown > PROGRESS_S:   # a 6 GB archive takes a while
                            shown = time.monotonic()
                            log(f"{url}: {got >> 20} MB" + (f" of {total >> 20} MB" if total else ""))
            size = part.stat().st_size
            if total is not None and size != total:
                raise DownloadError(f"{url}: got {size} of {total} bytes")
            os.replace(part, dest)
            return dest
        except urllib.error.HTTPError as e:
            if e.code == 416 and offset:      # the .part is already whole (or stale): start again once
                part.unlink()
                last_error = e
                continue
            raise DownloadError(f"{url}: HTTP {e.code} {e.reason}") from None
        except (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError,
                DownloadError) as e:
            last_error = e
            got = part.stat().st_size if part.exists() else 0
            log(f"{url}: attempt {attempt}/{attempts} stopped at byte {got} ({e}); resuming")
            time.sleep(min(0.2 * attempt, 2.0))
    raise DownloadError(f"{url}: failed after {attempts} attempts: {last_error}")


def _expected_size(response, offset: int) -> int | None:
    length = response.headers.get("Content-Length")
    return offset + int(length) if length is not None and length.isdigit() else None


def file_checksum(path, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            h.update(block)
    return h.hexdigest()


def verify(path, checksum: str | None) -> None:
    """Check path against "md5:<hex>" / "sha256:<hex>"; on mismatch remove it and raise DownloadError."""
    path = Path(path)
    if checksum is None:
        log(f"{path.name}: no published checksum to verify against; trusting gzip/tar framing")
        return
    algorithm, _, expected = checksum.partition(":")
    if algorithm not in ("md5", "sha256") or not expected:
        raise DownloadError(f"{path}: checksum must be md5:<hex> or sha256:<hex>, got {checksum!r}")
    got = file_checksum(path, algorithm)
    if got != expected.lower():
        path.unlink()
        raise DownloadError(f"{path}: {algorithm} is {got}, expected {expected}; the file was removed "
                            "(a corrupted or different download): run again to download it anew")


def _extract_all(archive: Path, staging: Path) -> list[str]:
    try:
        with tarfile.open(archive) as tar:
            names = tar.getnames()
            tar.extractall(staging, filter="data")   # no absolute paths, no escaping links
    except (tarfile.TarError, EOFError, OSError) as e:
        raise DownloadError(f"{archive}: cannot unpack: {e}") from None
    return names


def unpack(archive, root, provides: tuple[str, ...] = (), depth: int = 1) -> list[str]:
    """Unpack archive under root; returns the provided paths.

    provides: the paths to rename into place (default: every distinct member path prefix of `depth`
    components). Other members (README files beside the provided directories) are moved in when absent.
    """
    archive, root = Path(archive), Path(root)
    staging = root / f".unpack-{archive.name}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        names = _extract_all(archive, staging)
        if not provides:
            provides = tuple(sorted({"/".join(Path(n).parts[:depth]) for n in names
                                     if len(Path(n).parts) >= depth}))
        for rel in provides:
            src, dst = staging / rel, root / rel
            if not src.exists():
                raise DownloadError(f"{archive}: has no {rel} (members start with {names[:1]})")
            if dst.exists():
                shutil.rmtree(dst) if dst.is_dir() else dst.unlink()
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.rename(src, dst)
        for path in sorted(staging.rglob("*")):
            rest = root / path.relative_to(staging)
            if path.is_file() and not rest.exists():
                rest.parent.mkdir(parents=True, exist_ok=True)
                os.rename(path, rest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return list(provides)


def is_complete(archive: Archive, root) -> bool:
    return bool(archive.provides) and all((Path(root) / p).exists() for p in archive.provides)


def fetch_archive(archive: Archive, root, var: str | None = None, keep: bool = False) -> bool:
    """Make the archive's provided paths exist under root; False when they already did (no network)."""
    root = Path(root)
    if is_complete(archive, root):
        return False
    for stale in root.glob(".unpack-*.tmp"):
        shutil.rmtree(stale, ignore_errors=True)
    path = root / archive.name
    if not path.is_file():
        log(f"{archive.url} -> {path}")
        try:
            download(archive.url, path)
        except DownloadError as e:
            where = f"set {var} (db.sh or the environment) to" if var else "use"
            raise DownloadError(
                f"could not download {archive.url} ({e}).\nEither download it yourself to {path} and run "
                f"again, or {where} a directory that already holds {', '.join(archive.provides)}.") from None
    verify(path, archive.checksum)
    log(f"unpacking {path} into {root}")
    unpack(path, root, archive.provides)
    if not keep:
        path.unlink()
    return True


def unpack_nested(directory, depth: int = 2) -> int:
    """Unpack every *.tar.gz in directory whose member paths (first `depth` components) are not all
    there yet, e.g. AISHELL's wav/<spk>.tar.gz holding <set>/<spk>/*.wav; the tarballs stay. Returns
    how many were unpacked; a complete directory costs one member listing per tarball."""
    directory = Path(directory)
    done = 0
    for tgz in sorted(directory.glob("*.tar.gz")):
        try:
            with tarfile.open(tgz) as tar:
                roots = sorted({"/".join(Path(n).parts[:depth]) for n in tar.getnames()
                                if len(Path(n).parts) > depth})
        except (tarfile.TarError, EOFError, OSError) as e:
            raise DownloadError(f"{tgz}: cannot read: {e}") from None
        if roots and all((directory / r).is_dir() for r in roots):
            continue
        unpack(tgz, directory, tuple(roots))
        done += 1
    return done
