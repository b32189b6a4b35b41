#!/usr/bin/env python3
"""Download a corpus archive (resumable), verify its checksum and unpack it once (echo.data.download).

    utils/download_and_untar.py --root DIR --url URL --checksum md5:HEX --provides LibriSpeech/dev-clean \
        [--provides ...] [--var LIBRISPEECH] [--keep-archive]
    utils/download_and_untar.py --unpack-nested DIR      # every DIR/*.tar.gz not yet unpacked (AISHELL wav/)

Does nothing, and touches no network, when every --provides path already exists under DIR.
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from echo.data import download  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", help="corpus root: where the archive is downloaded and unpacked")
    p.add_argument("--url")
    p.add_argument("--checksum", default=None, help="md5:HEX or sha256:HEX; omit only where none is published")
    p.add_argument("--provides", action="append", default=[], help="a path under --root the archive unpacks")
    p.add_argument("--var", default=None, help="the variable naming the root (for the error message)")
    p.add_argument("--keep-archive", action="store_true", help="keep the archive after unpacking")
    p.add_argument("--unpack-nested", metavar="DIR", help="unpack DIR/*.tar.gz in place (idempotent)")
    args = p.parse_args()
    try:
        if args.unpack_nested:
            n = download.unpack_nested(args.unpack_nested)
            print(f"download_and_untar.py: {n} archive(s) unpacked in {args.unpack_nested}")
            return 0
        if not (args.root and args.url and args.provides):
            p.error("--root, --url and --provides are required")
        archive = download.Archive(args.url, args.checksum, tuple(args.provides))
        if download.fetch_archive(archive, args.root, var=args.var, keep=args.keep_archive):
            print(f"download_and_untar.py: {archive.name} unpacked into {args.root}")
        else:
            print(f"download_and_untar.py: {args.root} already holds {' '.join(args.provides)}; nothing to do")
    except download.DownloadError as e:
        print(f"download_and_untar.py: Error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
