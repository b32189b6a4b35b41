#!/usr/bin/env bash
# English statements and questions with the same words ("the man saw the red car ." and "... ?"),
# spoken by espeak-ng, made offline; test voices never heard in training. Only the intonation tells them apart.
#   ./run.sh                      # stages 0-5 on CPU, stage 5 adds the final-punctuation accuracy (local/score.py)
#   ./run.sh --stage 3 --ngpu 1   # train and evaluate again on one GPU
# Units are words, "." and "?" two of them (the transcript ends in one); scored as WER and CER,
# the accuracy of the final mark, and the WER of the words without it.
set -euo pipefail

./asr.sh \
  --train-set train --valid-set dev --test-sets "test" \
  --token-type word \
  --train-config conf/train.yaml --decode-config conf/decode.yaml \
  "$@"
