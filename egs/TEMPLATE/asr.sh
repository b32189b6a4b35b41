#!/usr/bin/env bash
# The shared stage driver of every echo recipe (egs/<corpus>/asr.sh is a link to this file).
#
#   ./run.sh                                   # stages 0..5
#   ./run.sh --stage 3 --stop-stage 3          # train only
#   ./run.sh --stage 4 --tag mytag             # decode and score again with a trained model
#   ./run.sh --stage 3 --ablation true         # the pitch ablation instead (ablation.sh; options pass through)
#
# Stages:  0 data (local/data.sh + validation)    1 fbank + F0 dump, global CMVN
#          2 token list                           3 training
#          4 decoding of each test set            5 scoring and RESULTS.md
# Every stage is idempotent: re-running it redoes its outputs from scratch (training resumes
# from exp/<tag>/checkpoint.pt and does nothing when it has finished).
set -euo pipefail

log() { echo "$(date '+%Y-%m-%dT%H:%M:%S') ($(basename "$0"):${BASH_LINENO[0]}) $*"; }
min() { if [ "$1" -lt "$2" ]; then echo "$1"; else echo "$2"; fi; }
SECONDS=0

# General
stage=0                # first stage to run
stop_stage=100         # last stage to run
nj=2                   # parallel jobs of the feature stage
inference_nj=2         # parallel jobs of the decoding stage
ngpu=0                 # GPUs for training (>1: torchrun DDP, one process per GPU)
skip_train=false       # skip stages 1-3
skip_eval=false        # skip stages 4-5
ablation=false         # true: run ablation.sh (configs × seeds of egs/TEMPLATE/ablation/) with the other options
# Data
train_set=train
valid_set=dev
test_sets="test"
local_data_opts=""     # passed to local/data.sh
speed_perturb_factors=""   # e.g. "0.9 1.0 1.1": train on data/<train-set>_sp, the union of speed-perturbed copies
skip_bad=false         # feature stage: drop unreadable utterances (listed in <dump-dir>/<set>/bad_utts) instead of failing
# Features
dump_dir=dump          # where stage 1 writes and stages 3-5 read features (e.g. dump/fbank_pitch for a second set)
fbank_config=conf/fbank.yaml
pitch_config=conf/pitch.yaml
# Tokens
token_type=bpe         # word, char or bpe (sentencepiece)
nbpe=30
bpe_type=unigram
# Training and decoding
train_config=conf/train.yaml
decode_config=conf/decode.yaml
tag=""                 # experiment name: exp/<tag>; default: the train config's file name
inference_model=""     # checkpoint in exp/<tag> to decode with; default: the n-best average the trainer wrote
train_args=""          # extra options for python -m echo.bin.train (e.g. "--train.max_epoch 5")
decode_args=""         # extra options for python -m echo.bin.decode
cmd_backend=local      # set by cmd.sh: local or slurm (utils/run.py --backend)

# shellcheck disable=SC2034  # read by utils/parse_options.sh
help_message="Usage: $0 [options]
  --stage N / --stop-stage N   stages to run (0 data, 1 features, 2 tokens, 3 train, 4 decode, 5 score)
  --nj N / --inference-nj N    parallel jobs for features / decoding
  --ngpu N                     GPUs for training (N>1 runs torchrun)
  --train-set, --valid-set, --test-sets \"a b\"   data sets
  --speed-perturb-factors \"0.9 1.0 1.1\"   stage 0 also makes data/<train-set>_sp (Kaldi speed perturbation)
  --train-config, --decode-config FILE           YAML configs
  --token-type word|char|bpe, --nbpe N           units
  --tag NAME                   experiment directory exp/NAME
  --dump-dir DIR               feature dump (default: dump)
  --skip-train, --skip-eval true|false
  --ablation true              run ablation.sh instead (see its --help), passing it every other option"

log "$0 $*"
run_args=("$@")
# --ablation true hands the whole command line (but itself) to ablation.sh, before the options are parsed
# here: ablation.sh has options of its own (--configs, --seeds) and calls run.sh back for each experiment.
for ((i = 0; i + 1 < ${#run_args[@]}; i += 2)); do
  case "${run_args[i]}" in
    --ablation) ablation=${run_args[i + 1]} ;;
    --*) ;;
    *) break ;;
  esac
done
if [ "$ablation" = true ]; then
  rest=()
  for ((i = 0; i < ${#run_args[@]}; i++)); do
    if [ "${run_args[i]}" = --ablation ]; then i=$((i + 1)); else rest+=("${run_args[i]}"); fi
  done
  exec "$(dirname "$(readlink -f "$0")")/ablation.sh" "${rest[@]}"
fi
# shellcheck disable=SC1091
. ./path.sh
# shellcheck disable=SC1091
. ./cmd.sh
# shellcheck disable=SC1091
. utils/parse_options.sh

[ -z "$tag" ] && tag=$(basename "$train_config" .yaml)
exp=exp/$tag
token_dir=data/token_list/${token_type}
[ "$token_type" = bpe ] && token_dir=data/token_list/${bpe_type}${nbpe}
job_cmd="utils/run.py --backend $cmd_backend"   # the run.pl-style job runner of stages 1 and 4

need() {  # need FILE "stage that writes it"
  if [ ! -e "$1" ]; then
    log "Error: $1 is missing; it is written by $2. Run that stage first (--stage ${2//[!0-9]/})."
    exit 1
  fi
}
stage_on() { [ "$stage" -le "$1" ] && [ "$stop_stage" -ge "$1" ]; }
data_train_set=$train_set   # what local/data.sh writes; with speed perturbation stages 1-3 use <set>_sp
[ -n "$speed_perturb_factors" ] && train_set=${train_set}_sp
all_sets="$train_set $valid_set $test_sets"
[ "$skip_train" = true ] && all_sets="$test_sets"
# A set named twice (an4's train_dev is both the validation and a test set) is dumped once.
all_sets=$(echo "$all_sets" | tr ' ' '\n' | awk 'NF && !seen[$0]++' | tr '\n' ' ')

if ! "$skip_train" && stage_on 0; then
  log "Stage 0: data preparation (local/data.sh $local_data_opts)"
  start=$SECONDS
  # shellcheck disable=SC2086
  local/data.sh $local_data_opts
  for s in $data_train_set $valid_set $test_sets; do
    python "$ECHO_ROOT/utils/validate_data_dir.py" --no-feats "data/$s"
  done
  if [ -n "$speed_perturb_factors" ]; then
    log "Speed perturbation ($speed_perturb_factors): data/$data_train_set -> data/$train_set"
    sp_dirs=()
    for factor in $speed_perturb_factors; do
      if python -c "import sys; sys.exit(float(sys.argv[1]) == 1.0)" "$factor"; then
        python "$ECHO_ROOT/utils/perturb_data_dir_speed.py" "$factor" "data/$data_train_set" \
          "data/${data_train_set}_sp$factor"
        sp_dirs+=("data/${data_train_set}_sp$factor")
      else
        sp_dirs+=("data/$data_train_set")   # factor 1: the original, ids unchanged (as ESPnet)
      fi
    done
    python "$ECHO_ROOT/utils/combine_data.py" "data/$train_set" "${sp_dirs[@]}"
    python "$ECHO_ROOT/utils/validate_data_dir.py" --no-feats "data/$train_set"
  fi
  log "Stage 0 done in $((SECONDS - start)) s"
fi

if stage_on 1; then
  log "Stage 1: fbank + F0 to $dump_dir/ ($nj jobs), global CMVN from $train_set"
  start=$SECONDS
  # Statistics of an earlier run must not survive a failure below beside new features (dump_feats and
  # compute_cmvn remove them too); cmvn.npz, recording the feats.scp it came from, is the last output.
  rm -f "$dump_dir/$train_set/cmvn.npz"
  # One feature config for every set, saved in the dump: the model ships it (inference uses the same code).
  python -m echo.bin.feats_config "$fbank_config" "$pitch_config" --out "$dump_dir/conf/feats.yaml"
  for s in $all_sets; do
    need "data/$s/wav.scp" "stage 0"
    python -m echo.bin.dump_feats --data "data/$s" --out "$dump_dir/$s" --conf "$dump_dir/conf/feats.yaml" \
      --nj "$(min "$nj" "$(wc -l < "data/$s/wav.scp")")" --skip-bad "$skip_bad" --cmd "$job_cmd"
  done
  if ! "$skip_train"; then
    python -m echo.bin.compute_cmvn --dump "$dump_dir/$train_set" --out "$dump_dir/$train_set/cmvn.npz"
  fi
  log "Stage 1 done in $((SECONDS - start)) s"
fi

if ! "$skip_train" && stage_on 2; then
  log "Stage 2: $token_type token list from data/$train_set/text -> $token_dir"
  need "data/$train_set/text" "stage 0"
  rm -rf "$token_dir"
  python -m echo.bin.tokenize --text "data/$train_set/text" --token-type "$token_type" \
    --nbpe "$nbpe" --bpe-type "$bpe_type" --out "$token_dir"
fi

if ! "$skip_train" && stage_on 3; then
  log "Stage 3: training -> $exp (log: $exp/train.log)"
  start=$SECONDS
  need "$dump_dir/$train_set/feats.scp" "stage 1"
  need "$dump_dir/$train_set/cmvn.npz" "stage 1"
  need "$dump_dir/$valid_set/feats.scp" "stage 1"
  need "$token_dir/tokens.txt" "stage 2"
  mkdir -p "$exp"
  # Replays this experiment from the training stage.
  # Rewritten only when it changes: a rerun of a finished experiment touches nothing in it.
  replay=$({ echo "#!/usr/bin/env bash"; printf 'cd %q && %q' "$PWD" "$0"; printf ' %q' "${run_args[@]}"; echo " --stage 3 \"\$@\""; })
  if [ "$replay" != "$(cat "$exp/run.sh" 2>/dev/null)" ]; then echo "$replay" > "$exp/run.sh"; chmod +x "$exp/run.sh"; fi
  launcher=(python)
  [ "$ngpu" -gt 1 ] && launcher=(torchrun --standalone --nproc_per_node "$ngpu")
  if [ "$cmd_backend" = slurm ]; then
    # One Slurm job of max(1, ngpu) trainers a node (nodes: conf/slurm.yaml), started by srun; each reads its
    # rank from Slurm's variables (echo/train/distributed.py). Waits for the job; scancels it when interrupted.
    launcher=(utils/run.py --backend slurm --gpu "$ngpu" --tasks-per-node "$((ngpu > 1 ? ngpu : 1))"
              "$exp/log/train.slurm.log" srun python)
  fi
  # shellcheck disable=SC2086
  "${launcher[@]}" -m echo.bin.train --config "$train_config" --train "$dump_dir/$train_set" --valid "$dump_dir/$valid_set" \
    --token-dir "$token_dir" --tag "$tag" --exp-dir exp --ngpu "$ngpu" $train_args
  log "Stage 3 done in $((SECONDS - start)) s"
fi

if [ -z "$inference_model" ] && [ -d "$exp" ]; then
  inference_model=$(cd "$exp" && find . -maxdepth 1 -name 'valid.*.ave_*best.pt' -printf '%f\n' | sort | head -n 1)
  [ -z "$inference_model" ] && inference_model=$(cd "$exp" && find . -maxdepth 1 -name 'epoch*.pt' -printf '%f\n' | sort -V | tail -n 1)
fi

if ! "$skip_eval" && stage_on 4; then
  log "Stage 4: decoding $test_sets with $exp/$inference_model ($inference_nj jobs)"
  start=$SECONDS
  need "$exp/${inference_model:-<checkpoint>}" "stage 3"
  for s in $test_sets; do
    need "$dump_dir/$s/feats.scp" "stage 1"
    # shellcheck disable=SC2086
    python -m echo.bin.decode --model "$exp/$inference_model" --data "$dump_dir/$s" --out "$exp/decode_$s" \
      --config "$decode_config" --nj "$(min "$inference_nj" "$(wc -l < "$dump_dir/$s/feats.scp")")" --cmd "$job_cmd" $decode_args
  done
  log "Stage 4 done in $((SECONDS - start)) s"
fi

if ! "$skip_eval" && stage_on 5; then
  log "Stage 5: scoring -> $exp/RESULTS.md"
  for s in $test_sets; do
    need "$exp/decode_$s/text" "stage 4"
    python -m echo.bin.score --ref "$dump_dir/$s/text" --hyp "$exp/decode_$s/text" --utt2spk "$dump_dir/$s/utt2spk" \
      --out "$exp/decode_$s"
  done
  python -m echo.bin.score --results "$exp" --model "$exp/$inference_model" --config "$train_config"
  # The model as one file that decodes on its own: python -m echo.bin.transcribe --model $exp/model.echo AUDIO...
  python -m echo.bin.pack --exp "$exp" --checkpoint "$inference_model" --decode-config "$decode_config" \
    --out "$exp/model.echo"
  # A recipe's own metrics (tone error rate, punctuation accuracy, ...) go beside WER and into RESULTS.md.
  if [ -f local/score.py ]; then
    python local/score.py --exp "$exp" --sets "$test_sets" --data "$dump_dir"
  fi
  cat "$exp/RESULTS.md"
fi

log "Successfully finished. [elapsed=${SECONDS}s]"
