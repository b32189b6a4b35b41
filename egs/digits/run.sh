#!/usr/bin/env bash
# Digits by speakers no recipe has heard: synthetic digits (many espeak-ng voices) + FSDD, with on-the-fly
# augmentation (speed, noise, babble, reverberation, telephone band, gain), word units. One FSDD speaker is
# held out of training entirely; rotate it over the six:
#   FSDD=/path/to/free-spoken-digit-dataset ./run.sh --local-data-opts "--heldout-speaker lucas" --tag heldout_lucas
#   ./run.sh --stage 3 --tag noaug_george --train-args "--augment.enabled false"   # the same without augmentation
#   SPEECH_COMMANDS=downloads/speech_commands_v0.02 ./run.sh   # + Speech Commands' digits (downloaded, 2.3 GB)
set -euo pipefail

. ./db.sh
test_sets="synth_test fsdd_test fsdd_heldout"
[ -z "${SPEECH_COMMANDS:-}" ] || test_sets+=" sc_test"   # Speech Commands' test speakers (local/data.sh)

./asr.sh \
  --train-set train --valid-set dev --test-sets "$test_sets" \
  --token-type word \
  --train-config conf/train.yaml --decode-config conf/decode.yaml \
  "$@"
