#!/usr/bin/env bash
# Stage 0 of digits: every digit corpus echo has, as Kaldi data dirs.
#   data/train, data/dev   the synthetic digits (espeak-ng, ../synth_digits/local/make_corpus.py) + FSDD
#                          (upstream train/dev indices) of every speaker but --heldout-speaker
#   data/synth_test        synthetic digits by voices never heard in training
#   data/fsdd_test         FSDD's upstream test (indices 0-4 of all six speakers; the held-out one included,
#                          so the per-speaker table shows seen against unseen)
#   data/fsdd_heldout      every recording of --heldout-speaker (500): a speaker the model never heard
# With SPEECH_COMMANDS set (db.sh or the environment), Google Speech Commands' ten digit words join in:
#   data/train, data/dev   + its upstream train / validation digits (thousands of real speakers)
#   data/sc_test           its upstream test digits, by speakers in neither train nor dev
#   data/sc_noise          its _background_noise_ recordings, for --train-args "--augment.noise_dir data/sc_noise"
# Run from egs/digits with path.sh sourced. FSDD's location: FSDD (db.sh or the environment).
set -euo pipefail

heldout_speaker=george   # one of jackson nicolas theo yweweler george lucas
seed=777                 # of the synthetic corpus (same seed: byte-identical audio)
num_train=1000           # synthetic training utterances (with FSDD's 2000: a third synthetic)
num_dev=100
num_test=300
foreign_accents=""       # comma-separated espeak-ng languages saying half the synthetic train/dev, e.g. de,el,fr
nj=2

help_message="Usage: $0 [options]
  --heldout-speaker <name>  FSDD speaker left out of training entirely (default: $heldout_speaker)
  --seed <int>              seed of the synthetic corpus ($seed)
  --num-train/--num-dev/--num-test <int>  synthetic utterances ($num_train/$num_dev/$num_test)
  --foreign-accents <l1,l2,..>  half of the synthetic train/dev said by these languages' espeak-ng voices
                            from English phonemes (../synth_digits/local/make_corpus.py; default: none)
  --nj <int>                parallel synthesis processes ($nj)
The FSDD location is FSDD in db.sh (or the environment); SPEECH_COMMANDS (optional) is Google Speech
Commands v0.02, downloaded there (2.3 GB) when the directory lacks it."

. ./db.sh
. utils/parse_options.sh

if [ $# -ne 0 ]; then
  echo "$help_message" >&2
  exit 1
fi
if [ -z "${FSDD:-}" ] || [ ! -d "$FSDD/recordings" ]; then
  echo "$0: Error: set FSDD to a copy of the Free Spoken Digit Dataset (recordings/{digit}_{speaker}_{index}.wav)," >&2
  echo "$0: in db.sh or as FSDD=/path ./run.sh" >&2
  exit 1
fi

local=data/local
rm -rf $local/fsdd
python "$ECHO_ROOT/egs/fsdd/local/prepare_fsdd.py" --fsdd "$FSDD" --split upstream --data $local/fsdd

speakers=$(cut -d' ' -f1 $local/fsdd/train/spk2utt)
if ! grep -qx "$heldout_speaker" <<< "$speakers"; then
  echo "$0: Error: --heldout-speaker $heldout_speaker is not an FSDD speaker ($(echo $speakers))" >&2
  exit 1
fi
# The synthetic corpus depends only on its options: made once, kept across held-out rotations.
synth_opts="--seed $seed --num-train $num_train --num-dev $num_dev --num-test $num_test"
[ -z "$foreign_accents" ] || synth_opts+=" --foreign-accents $foreign_accents"
if [ ! -f $local/synth/.done ] || [ "$(cat $local/synth/.done)" != "$synth_opts" ]; then
  rm -rf $local/synth
  # shellcheck disable=SC2086
  python "$ECHO_ROOT/egs/synth_digits/local/make_corpus.py" $synth_opts --fs 16000 --nj "$nj" --data $local/synth
  echo "$synth_opts" > $local/synth/.done
fi
grep -vx "$heldout_speaker" <<< "$speakers" > $local/fsdd/seen_speakers
echo "$heldout_speaker" > $local/fsdd/heldout_speaker
for s in train dev; do
  python utils/subset_data_dir.py --spk-list $local/fsdd/seen_speakers $local/fsdd/$s $local/fsdd/${s}_seen
done
python utils/combine_data.py $local/fsdd/all $local/fsdd/train $local/fsdd/dev $local/fsdd/test

sc_train="" sc_dev=""
rm -rf $local/speech_commands data/sc_test data/sc_noise
if [ -n "${SPEECH_COMMANDS:-}" ]; then
  python local/prepare_speech_commands.py --corpus "$SPEECH_COMMANDS" --data $local/speech_commands --download
  sc_train=$local/speech_commands/train sc_dev=$local/speech_commands/dev
  python utils/combine_data.py data/sc_test $local/speech_commands/test
  [ ! -d $local/speech_commands/noise ] || python utils/combine_data.py data/sc_noise $local/speech_commands/noise
fi

rm -rf data/train data/dev data/synth_test data/fsdd_test data/fsdd_heldout
# shellcheck disable=SC2086
python utils/combine_data.py data/train $local/synth/train $local/fsdd/train_seen $sc_train
# shellcheck disable=SC2086
python utils/combine_data.py data/dev $local/synth/dev $local/fsdd/dev_seen $sc_dev
python utils/combine_data.py data/synth_test $local/synth/test
python utils/combine_data.py data/fsdd_test $local/fsdd/test
python utils/subset_data_dir.py --spk-list $local/fsdd/heldout_speaker $local/fsdd/all data/fsdd_heldout
