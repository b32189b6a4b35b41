#!/usr/bin/env bash
# Stage 0 of synth_tones: synthesise the corpus with espeak-ng (offline) into data/{train,dev,test}
# (Kaldi data dirs) and data/wav/<set>/*.wav. Run from egs/synth_tones with path.sh sourced.
# Transcripts are toned pinyin syllables ("ma1 shi4 yu2"), never two third tones side by side.
# train and dev share one set of voices; test voices are never heard in training
# (local/make_corpus.py lists them). The same --seed gives byte-identical audio.
set -euo pipefail

seed=777         # every random choice (syllables, tones, voices, pitch, speed, loudness, noise) comes from it
num_train=3000
num_dev=200
num_test=300
fs=16000         # sample rate of the WAV files
nj=2             # parallel synthesis processes
contour_variation=none  # none | train | mix | all: syllables resynthesised with WORLD on drawn tone contours
contour_test=false      # true: also data/test_contours, the test utterances on drawn contours

help_message="Usage: $0 [options]
  --seed <int>       random seed ($seed)
  --num-train <int>  training utterances ($num_train)
  --num-dev <int>    development utterances, same voices as train ($num_dev)
  --num-test <int>   test utterances, voices unseen in training ($num_test)
  --fs <hz>          sample rate of the WAV files ($fs)
  --nj <int>         parallel synthesis processes ($nj)
  --contour-variation none|train|mix|all
                     WORLD resynthesis on drawn tone contours: for train+dev, half of train+dev, or every
                     set ($contour_variation)
  --contour-test true|false
                     also write data/test_contours, the test utterances on drawn contours ($contour_test)"

. utils/parse_options.sh

if [ $# -ne 0 ]; then
  echo "$help_message" >&2
  exit 1
fi

contour_test_opt=()   # parse_options.sh has checked that it is true or false
if [ "$contour_test" = true ]; then contour_test_opt=(--contour-test); fi

python local/make_corpus.py --seed "$seed" --num-train "$num_train" --num-dev "$num_dev" \
  --num-test "$num_test" --fs "$fs" --nj "$nj" --contour-variation "$contour_variation" \
  "${contour_test_opt[@]}" --data data
