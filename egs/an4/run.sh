#!/usr/bin/env bash
# AN4 (CMU census database: spelled names, numbers, 948 training utterances by 74 speakers, 16 kHz SPHERE).
#   ./run.sh                                   # stages 0-5; stage 0 downloads an4_sphere.tar.gz into $AN4
#   AN4=/data/corpora ./run.sh --stop-stage 1  # a tree that is already unpacked: no network
set -euo pipefail

./asr.sh \
  --train-set train_nodev --valid-set train_dev --test-sets "train_dev test" \
  --token-type bpe --nbpe 30 \
  --train-config conf/train.yaml --decode-config conf/decode.yaml \
  "$@"
