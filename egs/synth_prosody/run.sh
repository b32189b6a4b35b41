#!/usr/bin/env bash
# English statements and questions with the same words ("the man saw the red car ." and "... ?"),
# spoken by espeak-ng, made offline; test voices never heard in training. Only the intonation tells them apart.
#   ./run.sh                      # stages 0-5 on CPU, then the final-punctuation accuracy (local/score.py)
#   ./run.sh --stage 3 --ngpu 1   # train and evaluate again on one GPU
# Units are words, "." and "?" two of them (the transcript ends in one); scored as WER and CER,
# the accuracy of the final mark, and the WER of the words without it.
set -euo pipefail

./asr.sh \
  --train-set train --valid-set dev --test-sets "test" \
  --token-type word \
  --train-config conf/train.yaml --decode-config conf/decode.yaml \
  "$@"

# asr.sh's stage 5 scores WER and CER; the punctuation scores follow whenever it ran.
tag="" train_config=conf/train.yaml test_sets=test dump_dir=dump stage=0 stop_stage=100 skip_eval=false
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[i]}" in
    -h|--help) exit 0 ;;
    --ablation) [ "${args[i + 1]}" = true ] && exit 0 ;;  # ablation.sh ran ./run.sh, and so this, per experiment
    --tag) tag=${args[i + 1]} ;;
    --train-config|--train_config) train_config=${args[i + 1]} ;;
    --test-sets|--test_sets) test_sets=${args[i + 1]} ;;
    --dump-dir|--dump_dir) dump_dir=${args[i + 1]} ;;
    --stage) stage=${args[i + 1]} ;;
    --stop-stage|--stop_stage) stop_stage=${args[i + 1]} ;;
    --skip-eval|--skip_eval) skip_eval=${args[i + 1]} ;;
  esac
done
[ -z "$tag" ] && tag=$(basename "$train_config" .yaml)
if [ "$stage" -le 5 ] && [ "$stop_stage" -ge 5 ] && [ "$skip_eval" = false ]; then
  # shellcheck disable=SC1091
  . ./path.sh
  python local/score.py --exp "exp/$tag" --sets "$test_sets" --data "$dump_dir"
fi
