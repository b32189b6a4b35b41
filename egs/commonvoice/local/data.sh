#!/usr/bin/env bash
# Stage 0 of commonvoice: data/{train,dev,test}_<lang> (ESPnet's set names; zh-CN -> train_zh_CN) from one
# language's release directory $COMMONVOICE. Run from the recipe directory with path.sh sourced.
set -euo pipefail

lang=zh-CN        # the release's language code (the directory name in the release: zh-CN, en, de, ...)
normalize=true    # false: keep the sentences as written (only whitespace collapsed)
skip_bad=false    # true: skip bad corpus files (counted, listed in data/local/commonvoice_<lang>.skipped)

help_message="Usage: $0 [--lang zh-CN] [--normalize true|false] [--skip-bad true|false]
The corpus location is COMMONVOICE in db.sh (or the environment)."

. ./db.sh
. utils/parse_options.sh
if [ $# -ne 0 ]; then echo "$help_message" >&2; exit 1; fi

if [ -z "$COMMONVOICE" ] || [ ! -f "$COMMONVOICE/train.tsv" ]; then
  echo "$0: Error: COMMONVOICE ('$COMMONVOICE') is not a Common Voice release directory (train.tsv, clips/)." >&2
  echo "$0: Common Voice needs its licence accepted per release, so this recipe cannot download it:" >&2
  echo "$0: get the '$lang' release at https://commonvoice.mozilla.org/datasets , unpack it, and set" >&2
  echo "$0: COMMONVOICE=/path/to/cv-corpus-<version>/$lang (in db.sh or the environment)." >&2
  exit 1
fi
python local/prepare_commonvoice.py --cv "$COMMONVOICE" --lang "$lang" --normalize "$normalize" \
  --data data --skip-bad "$skip_bad"
