#!/usr/bin/env bash
# Stage 0 of librispeech_100: data/{train_clean_100,dev_clean,dev_other,test_clean,test_other} and
# data/dev = dev_clean + dev_other (ESPnet's set names). Run from the recipe directory with path.sh sourced.
# Parts missing under $LIBRISPEECH are downloaded from OpenSLR 12 (sha256 checked); a complete tree is
# used as it is, with no network.
set -euo pipefail

skip_bad=false    # true: skip bad corpus files (counted, listed in data/local/<set>.skipped) instead of failing

help_message="Usage: $0 [--skip-bad true|false]
The corpus location is LIBRISPEECH in db.sh (or the environment)."

. ./db.sh
. utils/parse_options.sh
if [ $# -ne 0 ]; then echo "$help_message" >&2; exit 1; fi

# part:sha256 (as published with torchaudio's LIBRISPEECH dataset for the OpenSLR 12 archives)
parts=(
  train-clean-100:d4ddd1d5a6ab303066f14971d768ee43278a5f2a0aa43dc716b0e64ecbbbf6e2
  dev-clean:76f87d090650617fca0cac8f88b9416e0ebf80350acb97b343a85fa903728ab3
  dev-other:12661c48e8c3fe1de2c1caa4c3e135193bfb1811584f11f569dd12645aa84365
  test-clean:39fde525e59672dc6d1551919b1478f724438a95aa55f874b576be21967e6c23
  test-other:d09c181bba5cf717b3dee7d4d592af11a3ee3a09e08ae025c5506f6ebe961c29
)
for entry in "${parts[@]}"; do
  part=${entry%%:*}
  mkdir -p "$LIBRISPEECH"
  python utils/download_and_untar.py --root "$LIBRISPEECH" --url "$OPENSLR_URL/12/$part.tar.gz" \
    --checksum "sha256:${entry#*:}" --provides "LibriSpeech/$part" --var LIBRISPEECH
  python local/prepare_librispeech.py --root "$LIBRISPEECH" --part "$part" --set "${part//-/_}" \
    --data data --skip-bad "$skip_bad"
done
python utils/combine_data.py data/dev data/dev_clean data/dev_other
