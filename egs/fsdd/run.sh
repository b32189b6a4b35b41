#!/usr/bin/env bash
# Free Spoken Digit Dataset: real speech, 8 kHz, 6 speakers, one digit per utterance.
#   FSDD=/path/to/free-spoken-digit-dataset ./run.sh                    # upstream split (indices 0-4 test)
#   ./run.sh --local-data-opts "--split speaker --heldout-speaker george" # an unseen speaker
set -euo pipefail

./asr.sh \
  --train-set train --valid-set dev --test-sets "test" \
  --token-type word \
  --train-config conf/train.yaml --decode-config conf/decode.yaml \
  "$@"
