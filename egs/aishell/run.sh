#!/usr/bin/env bash
# AISHELL-1 (OpenSLR 33: 178 h of Mandarin read speech, 400 speakers), characters, scored as CER.
#   ./run.sh                                     # stages 0-5; stage 0 downloads into $AISHELL (15 GB archive)
#   AISHELL=/data/corpora ./run.sh --stop-stage 1  # data_aishell/ already there: no network
set -euo pipefail

./asr.sh \
  --train-set train --valid-set dev --test-sets "dev test" \
  --token-type char \
  --speed-perturb-factors "0.9 1.0 1.1" \
  --train-config conf/train.yaml --decode-config conf/decode.yaml \
  "$@"
