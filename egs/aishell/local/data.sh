#!/usr/bin/env bash
# Stage 0 of aishell: data/{train,dev,test} (ESPnet's set names), characters without the transcript's
# word-segmentation spaces. Run from the recipe directory with path.sh sourced. When $AISHELL/data_aishell
# is missing, data_aishell.tgz (15 GB) is downloaded from OpenSLR 33 (md5 checked) and unpacked; the
# per-speaker wav/<spk>.tar.gz are then unpacked once (a rerun finds them done).
set -euo pipefail

skip_bad=false    # true: skip bad corpus files (counted, listed in data/local/aishell.skipped) instead of failing

help_message="Usage: $0 [--skip-bad true|false]
The corpus location is AISHELL in db.sh (or the environment)."

. ./db.sh
. utils/parse_options.sh
if [ $# -ne 0 ]; then echo "$help_message" >&2; exit 1; fi

mkdir -p "$AISHELL"
# md5 as published for data_aishell.tgz (OpenSLR 33; also in PaddleSpeech's aishell.py)
python utils/download_and_untar.py --root "$AISHELL" --url "$OPENSLR_URL/33/data_aishell.tgz" \
  --checksum md5:2f494334227864a8a8fec932999db9d8 \
  --provides data_aishell/transcript --provides data_aishell/wav --var AISHELL
python utils/download_and_untar.py --unpack-nested "$AISHELL/data_aishell/wav"
python local/prepare_aishell.py --aishell "$AISHELL/data_aishell" --data data --skip-bad "$skip_bad"
