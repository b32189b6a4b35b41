#!/usr/bin/env bash
# Connected digits spoken by espeak-ng, made offline (test voices never heard in training).
#   ./run.sh                      # stages 0-5 on CPU
#   ./run.sh --stage 3 --ngpu 1   # train and evaluate again on one GPU
set -euo pipefail

./asr.sh \
  --train-set train --valid-set dev --test-sets "test" \
  --token-type word \
  --train-config conf/train.yaml --decode-config conf/decode.yaml \
  "$@"
