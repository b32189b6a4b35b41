#!/usr/bin/env bash
# Mandarin toned syllables ("ma1 shi4 yu2") spoken by espeak-ng, made offline; test voices never
# heard in training. Only F0 tells the four tones apart: the corpus for pitch-aware models.
#   ./run.sh                      # stages 0-5 on CPU, stage 5 adds the tone error rate (local/score.py)
#   ./run.sh --stage 3 --ngpu 1   # train and evaluate again on one GPU
# Units are words: each toned syllable is one token (60 of them); scored as WER (toned syllables),
# CER, and TER (syllable right, tone wrong) with SylER (syllables without tones).
set -euo pipefail

./asr.sh \
  --train-set train --valid-set dev --test-sets "test" \
  --token-type word \
  --train-config conf/train.yaml --decode-config conf/decode.yaml \
  "$@"
