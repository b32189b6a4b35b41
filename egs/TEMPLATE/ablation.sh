#!/usr/bin/env bash
# Does pitch help? Train, decode and score a list of configs × seeds with everything else equal, then
# write exp/ablation/ABLATION.md (mean ± std over seeds of every metric, #params, training time) and
# the figures under exp/ablation/images/.   (egs/<corpus>/ablation.sh is a link to this file.)
#
#   ./ablation.sh                                   # every config below, seeds 0 and 1
#   ./ablation.sh --configs "baseline theta_frame" --seeds 3 --train-args "--train.max_epoch 5"
#   ./run.sh --stage 3 --ablation true --seeds 1    # the same through the recipe (asr.sh execs this)
#
# Run it in a recipe directory after stages 0-2 (data, features, tokens). Each experiment is
#   ./run.sh --stage 3 --stop-stage 5 --tag ablation/<config>_seed<k> \
#            --train-config exp/ablation/conf/<config>.yaml --train-args "--train.seed k <--train-args>"
# i.e. the recipe's own run.sh (its units, sets and extra scoring, such as the tone error rate of
# synth_tones), so every metric a recipe writes to exp/<tag>/decode_<set>/score_*/result.json lands
# in the table. exp/ablation/conf/<config>.yaml is the recipe's train config (--train-config, default
# conf/train.yaml) with <config>.yaml laid over it section by section: the same model size, batches and
# epochs (so the same number of updates) for everyone; only the pitch switches differ.
#
# Configs are looked up as conf/ablation/<config>.yaml of the recipe, then egs/TEMPLATE/ablation/.
# A config with a `features:` section (fbank_pitch, fbank_pitch_*) trains on a feature dump of its own:
# asr.sh stage 1 with --dump-dir <features.dump_dir> and the recipe's conf/pitch.yaml overlaid with the
# section's other keys; it is made once (configs naming the same dump dir and settings share it) and
# redone when its settings change or the main dump is newer or holds other utterances. The default
# --configs are the first round's; the second round's (issue 18) are listed in egs/synth_tones/README.md.
#
# A finished experiment (exp/ablation/<config>_seed<k>/ablation.done: its dump dir, trainer arguments and
# config) is skipped when asked for again with the same ones, and an error with others (--redo true
# redoes it); an interrupted one resumes its training. Options other than the ones below are asr.sh's
# and pass through to every run.sh call (--nj, --ngpu, --test-sets, --decode-config ...).
set -euo pipefail

log() { echo "$(date '+%Y-%m-%dT%H:%M:%S') ($(basename "$0"):${BASH_LINENO[0]}) $*"; }
SECONDS=0

configs="baseline fbank_pitch theta_utterance theta_frame radius_f0 radius_logf0 pitch_bias f0_gate all_on"
seeds=2                # seeds 0 .. seeds-1, passed as --train.seed k
train_args=""          # trainer options added to every run (e.g. "--train.max_epoch 5 --model.d_model 96")
ablation_tag=ablation  # experiments go to exp/<ablation_tag>/<config>_seed<k>
redo=false             # true: delete finished experiments of these configs and seeds and run them again
report=true            # false: train and score only, no ABLATION.md
jobs=1                 # experiments trained at once; each gets nproc/jobs torch threads
# asr.sh options ablation.sh reads too (and passes on where they apply)
train_config=conf/train.yaml
fbank_config=conf/fbank.yaml
pitch_config=conf/pitch.yaml
dump_dir=dump
train_set=train
valid_set=dev
test_sets="test"

help_message="Usage: $0 [options] [asr.sh options]
  --configs \"a b ...\"      ablation configs (default: $configs)
  --seeds N                seeds 0..N-1 per config (default: $seeds)
  --train-args \"...\"       trainer options for every run, after --train.seed k
  --ablation-tag NAME      exp/NAME/<config>_seed<k> (default: $ablation_tag)
  --redo true|false        redo finished experiments (default: $redo)
  --report true|false      write exp/NAME/ABLATION.md and images/ at the end (default: $report)
  --jobs N                 experiments at once, nproc/N torch threads each, logs in exp/NAME/logs/
                           (default: $jobs; on 2 cores 2 single-thread jobs train ~1.4x faster in all)
Any other option is asr.sh's (--train-config, --dump-dir, --test-sets, --nj, --ngpu, ...) and passes
through to each ./run.sh call; --stage/--stop-stage are ignored (each experiment runs stages 3-5)."

log "$0 $*"
cmdline=$0   # this command, quoted for a shell only where needed (for ABLATION.md and exp/ablation/run.sh)
for a in "$@"; do
  if [[ $a =~ ^[A-Za-z0-9_./:=+-]+$ ]]; then cmdline+=" $a"; else cmdline+=" ${a@Q}"; fi
done
passthrough=()
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) echo "$help_message"; exit 0 ;;
    --*=*) echo "$0: options take the form '--name value', got '$1'" >&2; exit 1 ;;
    --*) ;;
    *) echo "$0: unexpected argument '$1' (see --help)" >&2; exit 1 ;;
  esac
  [ $# -ge 2 ] || { echo "$0: option $1 needs a value" >&2; exit 1; }
  name=${1#--}
  name=${name//-/_}
  case "$name" in
    configs|seeds|train_args|ablation_tag|redo|report|jobs) printf -v "$name" '%s' "$2" ;;
    train_config|pitch_config|dump_dir) printf -v "$name" '%s' "$2" ;;   # replaced per config
    fbank_config|train_set|valid_set|test_sets) printf -v "$name" '%s' "$2"; passthrough+=("$1" "$2") ;;
    stage|stop_stage|ablation) ;;
    tag|skip_train|skip_eval|inference_model)
      echo "$0: $1 cannot be used in an ablation (each experiment is trained, decoded and scored)" >&2; exit 1 ;;
    *) passthrough+=("$1" "$2") ;;
  esac
  shift 2
done
[[ $seeds =~ ^[1-9][0-9]*$ ]] || { echo "$0: --seeds must be a positive integer, got '$seeds'" >&2; exit 1; }
[[ $jobs =~ ^[1-9][0-9]*$ ]] || { echo "$0: --jobs must be a positive integer, got '$jobs'" >&2; exit 1; }
for b in redo report; do
  [ "${!b}" = true ] || [ "${!b}" = false ] || { echo "$0: --$b takes true or false, got '${!b}'" >&2; exit 1; }
done
[ -n "${configs// /}" ] || { echo "$0: --configs is empty" >&2; exit 1; }

# shellcheck disable=SC1091
. ./path.sh
template_dir=$(dirname "$(readlink -f "$0")")
abl=exp/$ablation_tag
runner=./run.sh
[ -x "$runner" ] || runner=./asr.sh
for f in "$train_config" "$pitch_config" "$dump_dir/$train_set/feats.scp" "$dump_dir/$train_set/cmvn.npz"; do
  if [ ! -e "$f" ]; then
    log "Error: $f is missing: run stages 0-2 of the recipe first (./run.sh --stop-stage 2)"
    exit 1
  fi
done

config_file() {  # config_file NAME -> the YAML of ablation config NAME
  local f
  for f in "conf/ablation/$1.yaml" "$template_dir/ablation/$1.yaml"; do
    [ -f "$f" ] && { echo "$f"; return 0; }
  done
  return 1
}

# ---- 1. the configs: the recipe's train config with each ablation config laid over it
mkdir -p "$abl/conf"
declare -A dump_of
for c in $configs; do
  [[ $c =~ ^[A-Za-z0-9_.-]+$ ]] || { log "Error: bad config name '$c'"; exit 1; }
  if ! file=$(config_file "$c"); then
    log "Error: no ablation config '$c' (looked for conf/ablation/$c.yaml and $template_dir/ablation/$c.yaml)"
    exit 1
  fi
  # prints the feature dump this config trains on; writes $abl/conf/$c.yaml (and its feature config)
  dump_of[$c]=$(python - "$train_config" "$file" "$pitch_config" "$abl/conf" "$c" "$dump_dir" <<'PY'
import os, re, sys, yaml
base_path, over_path, pitch_path, out_dir, name, main_dump = sys.argv[1:]
def load(path):
    data = yaml.safe_load(open(path, encoding="utf-8")) or {}
    if not isinstance(data, dict) or any(not isinstance(v, (dict, type(None))) for v in data.values()):
        sys.exit(f"{path}: expected a mapping of sections (model:, train:, features: ...)")
    return data
def write(obj, path):
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        yaml.safe_dump(obj, f, sort_keys=False)
    os.replace(tmp, path)
base, over = load(base_path), load(over_path)
features = dict(over.pop("features", None) or {})
merged = {sec: dict(vals or {}) for sec, vals in base.items()}
for sec, vals in over.items():
    merged.setdefault(sec, {}).update(vals or {})
write(merged, os.path.join(out_dir, f"{name}.yaml"))
if not features:
    print(main_dump)
    sys.exit(0)
dump = features.pop("dump_dir", None)
if not dump or not re.fullmatch(r"[A-Za-z0-9_./-]+", str(dump)) or os.path.normpath(dump) == os.path.normpath(main_dump):
    sys.exit(f"{over_path}: features.dump_dir must name a dump dir of its own (e.g. dump/fbank_pitch), got {dump!r}")
conf = yaml.safe_load(open(pitch_path, encoding="utf-8")) or {}
conf.update(features)
feats_conf = os.path.join(out_dir, "feats_" + re.sub(r"[^A-Za-z0-9_.-]", "_", str(dump)) + ".yaml")
write(conf, feats_conf)
print(dump)
PY
)
done

# ---- 2. feature dumps of the configs that need their own (fbank_pitch): asr.sh stage 1, once
same_utts() {  # same_utts DUMP_A DUMP_B SET: both dumps hold the same utterances of SET
  [ -f "$1/$3/feats.scp" ] && [ -f "$2/$3/feats.scp" ] && cmp -s <(cut -d' ' -f1 "$1/$3/feats.scp") <(cut -d' ' -f1 "$2/$3/feats.scp")
}
declare -A dump_done
for c in $configs; do
  d=${dump_of[$c]}
  [ "$d" = "$dump_dir" ] && continue
  [ -n "${dump_done[$d]:-}" ] && continue
  dump_done[$d]=1
  feats_conf="$abl/conf/feats_${d//[!A-Za-z0-9_.-]/_}.yaml"
  stamp="$d/conf/ablation.stamp"
  fresh=true
  { cat "$fbank_config" "$feats_conf"; } | cmp -s - "$stamp" || fresh=false
  [ -f "$d/$train_set/cmvn.npz" ] || fresh=false
  for s in $train_set $valid_set $test_sets; do
    same_utts "$dump_dir" "$d" "$s" || fresh=false
    [ "$dump_dir/$s/feats.scp" -nt "$stamp" ] && fresh=false
  done
  if "$fresh"; then
    log "Feature dump $d is up to date ($feats_conf)"
    continue
  fi
  log "Feature dump $d for config $c: $runner --stage 1 --stop-stage 1 --dump-dir $d --pitch-config $feats_conf"
  rm -f "$stamp"
  "$runner" "${passthrough[@]}" --stage 1 --stop-stage 1 --dump-dir "$d" --pitch-config "$feats_conf"
  { cat "$fbank_config" "$feats_conf"; } > "$stamp.tmp" && mv "$stamp.tmp" "$stamp"
done

# ---- 3. every config × seed: train, decode, score (the recipe's stages 3-5)
{ echo "#!/usr/bin/env bash"; echo "# the ablation behind ABLATION.md, replayed"; printf 'cd %q && %s "$@"\n' "$PWD" "$cmdline"; } > "$abl/run.sh"
chmod +x "$abl/run.sh"
run_experiment() {  # run_experiment TAG WANT CMD...: train, decode, score; ablation.done only on success
  local tag=$1 want=$2 start=$SECONDS
  shift 2
  log "Experiment $tag: $*"
  "$@" || { log "Error: experiment $tag failed"; return 1; }
  printf '%s\n' "$want" > "exp/$tag/ablation.done.tmp"
  mv "exp/$tag/ablation.done.tmp" "exp/$tag/ablation.done"
  log "Experiment $tag done in $((SECONDS - start)) s"
}
threads=$(( $(nproc) / jobs )); [ "$threads" -ge 1 ] || threads=1
if [ "$jobs" -gt 1 ]; then
  # torch's intra-op pool follows OMP_NUM_THREADS; parallel jobs must not each take every core
  export OMP_NUM_THREADS=$threads MKL_NUM_THREADS=$threads
  passthrough+=(--inference-nj 1)
  mkdir -p "$abl/logs"
  log "$jobs experiments at a time, $threads thread(s) each; their logs: $abl/logs/<config>_seed<k>.log"
fi
n_done=0
n_failed=0
running=0
for c in $configs; do
  for ((k = 0; k < seeds; k++)); do
    tag=$ablation_tag/${c}_seed$k
    exp=exp/$tag
    run=("$runner" "${passthrough[@]}" --stage 3 --stop-stage 5 --tag "$tag" --dump-dir "${dump_of[$c]}"
         --train-config "$abl/conf/$c.yaml" --train-args "--train.seed $k${train_args:+ $train_args}")
    # what defines the trained model: features, trainer arguments and the config (not --nj and the like)
    want=$(printf 'dump: %s\ntrain args: %s\n' "${dump_of[$c]}" "--train.seed $k${train_args:+ $train_args}"
           cat "$abl/conf/$c.yaml")
    if [ -f "$exp/ablation.done" ]; then
      if "$redo"; then
        log "--redo true: removing $exp"
        rm -rf "$exp"
      elif [ "$(cat "$exp/ablation.done")" = "$want" ]; then
        log "$exp is done (ablation.done); skipped"
        continue
      else
        log "Error: $exp was trained with other features, arguments or config (see $exp/ablation.done);" \
          "--redo true redoes it"
        diff <(cat "$exp/ablation.done") <(echo "$want") || true
        exit 1
      fi
    fi
    n_done=$((n_done + 1))
    if [ "$jobs" -eq 1 ]; then
      run_experiment "$tag" "$want" "${run[@]}"
      continue
    fi
    if [ "$running" -ge "$jobs" ]; then
      wait -n || n_failed=$((n_failed + 1))
      running=$((running - 1))
    fi
    log "Experiment $tag started (log: $abl/logs/${c}_seed$k.log)"
    run_experiment "$tag" "$want" "${run[@]}" > "$abl/logs/${c}_seed$k.log" 2>&1 &
    running=$((running + 1))
  done
done
while [ "$running" -gt 0 ]; do
  wait -n || n_failed=$((n_failed + 1))
  running=$((running - 1))
done
if [ "$n_failed" -gt 0 ]; then
  log "Error: $n_failed of $n_done experiments failed (their logs: $abl/logs/); no ABLATION.md written"
  exit 1
fi
log "$n_done experiments run, the others were done already"

# ---- 4. the table and the figures
if "$report"; then
  python -m echo.bin.ablation_report "$abl" --configs "$configs" --seeds "$seeds" --command "$cmdline"
  cat "$abl/ABLATION.md"
fi
log "Successfully finished. [elapsed=${SECONDS}s]"
