#!/usr/bin/env bash
# mini LibriSpeech (OpenSLR 31: train-clean-5, 5 h; dev-clean-2, 2 h): the pipeline on real English in an hour.
#   ./run.sh                                           # stages 0-5; stage 0 downloads into $MINI_LIBRISPEECH
#   MINI_LIBRISPEECH=/data/mini ./run.sh --stop-stage 1  # an unpacked tree: no network
set -euo pipefail

./asr.sh \
  --train-set train_clean_5 --valid-set dev_clean_2 --test-sets "dev_clean_2" \
  --token-type bpe --nbpe 300 \
  --speed-perturb-factors "0.9 1.0 1.1" \
  --train-config conf/train.yaml --decode-config conf/decode.yaml \
  "$@"
