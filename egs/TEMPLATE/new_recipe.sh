#!/usr/bin/env bash
# Start a recipe for a new corpus: egs/<name>/ with the shared links, a copy of another recipe's conf/,
# a thin run.sh, db.sh and a local/data.sh skeleton that states its contract (and fails until filled in).
#
#   egs/TEMPLATE/new_recipe.sh mycorpus                 # conf/ copied from an4
#   egs/TEMPLATE/new_recipe.sh mycorpus --like aishell  # conf/ copied from aishell (characters, CER)
set -euo pipefail

like=an4
if [ $# -lt 1 ] || [[ "$1" == -* ]]; then
  echo "Usage: $0 <name> [--like <recipe>]   (makes egs/<name>/; --like: whose conf/ to copy, default $like)" >&2
  exit 1
fi
name=$1
shift
while [ $# -gt 0 ]; do
  case "$1" in
    --like) like=${2:?--like needs a recipe name}; shift 2 ;;
    *) echo "$0: unknown option $1" >&2; exit 1 ;;
  esac
done
egs=$(cd "$(dirname "$0")/.." && pwd)
if [[ ! "$name" =~ ^[A-Za-z0-9_]+$ ]]; then
  echo "$0: Error: the name must be letters, digits and _ only, got '$name'" >&2
  exit 1
fi
if [ -e "$egs/$name" ]; then
  echo "$0: Error: $egs/$name already exists" >&2
  exit 1
fi
if [ ! -d "$egs/$like/conf" ]; then
  echo "$0: Error: no recipe '$like' to copy conf/ from (choose one of: $(cd "$egs" && ls -d -- */conf | cut -d/ -f1 | tr '\n' ' '))" >&2
  exit 1
fi
var=$(echo "$name" | tr '[:lower:]' '[:upper:]')

tmp=$egs/.$name.tmp$$
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/local"
for f in asr.sh path.sh cmd.sh ablation.sh; do ln -s "../TEMPLATE/$f" "$tmp/$f"; done
ln -s ../../utils "$tmp/utils"
cp -r "$egs/$like/conf" "$tmp/conf"

cat > "$tmp/db.sh" <<DB
# shellcheck shell=bash
# Where the $name corpus is (set it here or in the environment; local/data.sh reads it).
$var=\${$var:-}
DB

cat > "$tmp/run.sh" <<RUN
#!/usr/bin/env bash
# $name: stages 0-5 (egs/README.md). Sets and units: change them to the corpus's.
set -euo pipefail

./asr.sh \\
  --train-set train --valid-set dev --test-sets "test" \\
  --token-type bpe --nbpe 30 \\
  --train-config conf/train.yaml --decode-config conf/decode.yaml \\
  "\$@"
RUN

cat > "$tmp/local/data.sh" <<DATA
#!/usr/bin/env bash
# Stage 0 of $name: the only corpus-specific code. Run from egs/$name with path.sh sourced (python is
# echo's venv, utils/ is on PATH). It must write one Kaldi data dir per set named in run.sh,
# data/<set>/ with
#   wav.scp   <utt-id> <audio path>     (any format soundfile reads, any rate: stage 1 resamples)
#   text      <utt-id> <transcript>     (in the units you score)
#   utt2spk   <utt-id> <speaker-id>     (utt ids start with their speaker id, so both sort alike)
#   spk2utt   (utils/utt2spk_to_spk2utt.py)
# sorted in C byte order; write them with echo.data.corpus.write_set or echo.data.datadir.write_kv, as
# egs/an4/local/prepare_an4.py does. Bad corpus files: an error naming the file, or with --skip-bad true
# a counted skip (echo.data.corpus.Problems). Downloads: utils/download_and_untar.py.
set -euo pipefail

skip_bad=false

. ./db.sh
. utils/parse_options.sh

echo "\$0: Error: local/data.sh of $name is still the skeleton made by new_recipe.sh: write it (the" >&2
echo "\$0: contract is at its top; egs/an4/local/ is an example), with the corpus location in db.sh ($var)." >&2
exit 1
DATA

cat > "$tmp/README.md" <<README
# $name

What the corpus is, where to get it (set \`$var\` in db.sh), the published numbers to compare with, and
the results of the first run (exp/<tag>/RESULTS.md).
README
chmod +x "$tmp/run.sh" "$tmp/local/data.sh"
mv "$tmp" "$egs/$name"
trap - EXIT
echo "$0: made $egs/$name (conf/ from $like). Next: write local/data.sh, then cd $egs/$name && ./run.sh"
