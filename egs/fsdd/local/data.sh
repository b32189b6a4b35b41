#!/usr/bin/env bash
# Stage 0 of fsdd: Kaldi data dirs data/{train,dev,test} from the Free Spoken Digit Dataset.
# Run from egs/fsdd with path.sh sourced. The corpus is $FSDD (db.sh or the environment); when that
# is empty, the upstream repository is cloned into downloads/ if the network allows.
set -euo pipefail

split=upstream           # upstream: indices 0-4 test, 5-9 dev, rest train; speaker: hold out one speaker
heldout_speaker=george   # the test speaker of --split speaker (dev: indices 0-4 of the others)

help_message="Usage: $0 [options]
  --split upstream|speaker     upstream: indices 0-4 test, 5-9 dev, 10-49 train (default: $split)
                               speaker: one speaker is the test set; dev = indices 0-4 of the others
  --heldout-speaker <name>     test speaker of --split speaker (default: $heldout_speaker)
The corpus location is FSDD in db.sh (or the environment)."

. ./db.sh
. utils/parse_options.sh

if [ $# -ne 0 ]; then
  echo "$help_message" >&2
  exit 1
fi

upstream_url=https://github.com/Jakobovski/free-spoken-digit-dataset.git
if [ -z "${FSDD:-}" ]; then
  FSDD=downloads/free-spoken-digit-dataset
  if [ ! -d "$FSDD/recordings" ]; then
    echo "$0: FSDD is not set; cloning $upstream_url into $FSDD"
    mkdir -p downloads
    rm -rf "$FSDD.partial"
    if GIT_TERMINAL_PROMPT=0 git clone --quiet --depth 1 "$upstream_url" "$FSDD.partial"; then
      mv "$FSDD.partial" "$FSDD"   # only a complete clone gets the final name
    else
      rm -rf "$FSDD.partial"
      echo "$0: Error: could not clone $upstream_url." >&2
      echo "$0: Set FSDD to a local copy of the Free Spoken Digit Dataset (the directory holding" >&2
      echo "$0: recordings/{digit}_{speaker}_{index}.wav), in db.sh or as FSDD=/path ./run.sh" >&2
      exit 1
    fi
  fi
fi

python local/prepare_fsdd.py --fsdd "$FSDD" --split "$split" --heldout-speaker "$heldout_speaker" --data data
