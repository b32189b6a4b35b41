#!/usr/bin/env python3
"""Keep the lines of a file whose key (field F, default 1) is in an id list (Kaldi's filter_scp.pl).

    utils/filter_scp.py [--exclude] [-f F] ID_LIST IN_FILE > OUT_FILE

ID_LIST: ids are the first word of each line. Lines keep their input order.
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from echo.data import datadir  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--exclude", action="store_true", help="keep the lines whose key is NOT listed")
    parser.add_argument("-f", "--field", type=int, default=1, help="1-based field holding the key")
    parser.add_argument("id_list")
    parser.add_argument("in_file", nargs="?", default="/dev/stdin")
    args = parser.parse_args()
    ids = {key for key, _ in datadir.read_kv(args.id_list, allow_empty=True)}
    with open(args.in_file, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            fields = line.split()
            if len(fields) < args.field:
                raise datadir.DataDirError(f"{args.in_file}:{lineno}: fewer than {args.field} fields")
            if (fields[args.field - 1] in ids) != args.exclude:
                sys.stdout.write(line)


if __name__ == "__main__":
    datadir.run_cli(main)
