#!/usr/bin/env bash
# Common Voice, one language (the release directory in $COMMONVOICE; see db.sh: it cannot be downloaded here).
#   COMMONVOICE=/data/cv-corpus-17.0/zh-CN ./run.sh --lang zh-CN    # characters for zh/ja/yue, BPE 150 otherwise
#   COMMONVOICE=/data/cv-corpus-17.0/en ./run.sh --lang en --local-data-opts "--normalize false"
set -euo pipefail

lang=zh-CN
local_data_opts=""
args=()
while [ $# -gt 0 ]; do   # --lang names the sets; it and --local-data-opts are passed on to local/data.sh
  case "$1" in
    --lang) lang=$2; shift 2 ;;
    --local-data-opts|--local_data_opts) local_data_opts=$2; shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
sets=${lang//-/_}
token_opts=(--token-type bpe --nbpe 150)
case "$lang" in zh*|ja*|yue*) token_opts=(--token-type char) ;; esac

./asr.sh \
  --train-set "train_$sets" --valid-set "dev_$sets" --test-sets "dev_$sets test_$sets" \
  "${token_opts[@]}" \
  --speed-perturb-factors "0.9 1.0 1.1" \
  --local-data-opts "--lang $lang $local_data_opts" \
  --train-config conf/train.yaml --decode-config conf/decode.yaml \
  "${args[@]}"
