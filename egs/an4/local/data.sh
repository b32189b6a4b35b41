#!/usr/bin/env bash
# Stage 0 of an4: data/{train_nodev,train_dev,test} (ESPnet's set names; train_dev = the first 100
# utterances of train, as ESPnet). Run from the recipe directory with path.sh sourced. When $AN4/an4 is
# missing, CMU's an4_sphere.tar.gz is downloaded and unpacked there (CMU publishes no checksum).
set -euo pipefail

skip_bad=false    # true: skip bad corpus files (counted, listed in data/local/<set>.skipped) instead of failing
num_dev=100       # utterances of train held out as train_dev (ESPnet: 100)

help_message="Usage: $0 [--skip-bad true|false] [--num-dev N]
The corpus location is AN4 in db.sh (or the environment)."

. ./db.sh
. utils/parse_options.sh
if [ $# -ne 0 ]; then echo "$help_message" >&2; exit 1; fi

mkdir -p "$AN4"
python utils/download_and_untar.py --root "$AN4" --url "$AN4_URL" --provides an4 --var AN4
python local/prepare_an4.py --an4 "$AN4/an4" --data data --skip-bad "$skip_bad"
n=$(wc -l < data/train/utt2spk)
if [ "$n" -le "$num_dev" ]; then
  echo "$0: Error: train has $n utterances, not more than --num-dev $num_dev" >&2
  exit 1
fi
python utils/subset_data_dir.py --first "$num_dev" data/train data/train_dev
python utils/subset_data_dir.py --last $((n - num_dev)) data/train data/train_nodev
