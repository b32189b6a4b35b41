#!/usr/bin/env bash
# Stage 0 of mini_librispeech: data/{train_clean_5,dev_clean_2} (ESPnet's set names).
# Run from the recipe directory with path.sh sourced. Parts missing under $MINI_LIBRISPEECH are
# downloaded from OpenSLR 31 (md5 checked); a complete tree is used as it is, with no network.
set -euo pipefail

skip_bad=false    # true: skip bad corpus files (counted, listed in data/local/<set>.skipped) instead of failing

help_message="Usage: $0 [--skip-bad true|false]
The corpus location is MINI_LIBRISPEECH in db.sh (or the environment)."

. ./db.sh
. utils/parse_options.sh
if [ $# -ne 0 ]; then echo "$help_message" >&2; exit 1; fi

# part:md5 (published in https://www.openslr.org/resources/31/md5sum.txt)
parts=(
  train-clean-5:5df7d4e78065366204ca6845bb08f490
  dev-clean-2:6d7ab67ac6a1d2c993d050e16d61080d
)
for entry in "${parts[@]}"; do
  part=${entry%%:*}
  mkdir -p "$MINI_LIBRISPEECH"
  python utils/download_and_untar.py --root "$MINI_LIBRISPEECH" --url "$OPENSLR_URL/31/$part.tar.gz" \
    --checksum "md5:${entry#*:}" --provides "LibriSpeech/$part" --var MINI_LIBRISPEECH
  python local/prepare_librispeech.py --root "$MINI_LIBRISPEECH" --part "$part" --set "${part//-/_}" \
    --data data --skip-bad "$skip_bad"
done
