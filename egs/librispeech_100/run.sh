#!/usr/bin/env bash
# LibriSpeech-100 (OpenSLR 12: train-clean-100; dev and test clean/other), ESPnet's librispeech_100 sets.
#   ./run.sh                                       # stages 0-5; stage 0 downloads into $LIBRISPEECH (~30 GB)
#   LIBRISPEECH=/data/corpora ./run.sh --stop-stage 1   # an unpacked tree: no network
set -euo pipefail

./asr.sh \
  --train-set train_clean_100 --valid-set dev --test-sets "test_clean test_other dev_clean dev_other" \
  --token-type bpe --nbpe 5000 \
  --speed-perturb-factors "0.9 1.0 1.1" \
  --train-config conf/train.yaml --decode-config conf/decode.yaml \
  "$@"
