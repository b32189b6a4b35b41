#!/usr/bin/env bash
# One-command install of echo into tools/venv.
#
#   tools/install.sh                      # CPU torch (torch==2.13.0)
#   TORCH_SPEC="torch==2.13.0" TORCH_INDEX=https://download.pytorch.org/whl/cu128 tools/install.sh
#
# Idempotent: when tools/venv already holds everything (a stamp of the requirement files'
# checksum), a second run returns in well under a second.
set -euo pipefail

tools_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$tools_dir")
venv="$tools_dir/venv"
python=${PYTHON:-python3}
torch_spec=${TORCH_SPEC:-torch==2.13.0}
stamp="$venv/.echo-installed"

want=$( { cat "$tools_dir/requirements.txt" "$root/setup.py"; echo "$torch_spec ${TORCH_INDEX:-}"; } | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "tools/install.sh: $venv is up to date"
  exit 0
fi

start=$(date +%s)
if [ ! -x "$venv/bin/python" ]; then
  "$python" -c 'import sys; assert sys.version_info >= (3, 10), "echo needs Python >= 3.10, found " + sys.version.split()[0]'
  "$python" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip --disable-pip-version-check)
"${pip[@]}" install -q --upgrade pip wheel "setuptools<82"
if [ -n "${TORCH_INDEX:-}" ]; then
  "${pip[@]}" install -q "$torch_spec" --index-url "$TORCH_INDEX"
else
  "${pip[@]}" install -q "$torch_spec"
fi
"${pip[@]}" install -q -r "$tools_dir/requirements.txt"
"${pip[@]}" install -q --no-deps -e "$root"
# Fail here, not in the middle of a recipe, if anything does not import.
"$venv/bin/python" - <<'PY'
import importlib
for m in ["torch", "numpy", "sentencepiece", "kaldiio", "pyworld", "jiwer", "configargparse", "yaml",
          "soundfile", "soxr", "kaldi_native_fbank", "tqdm", "tensorboard", "matplotlib",
          "espeakng_loader", "swift_f0", "onnxruntime", "pytest", "echo"]:
    importlib.import_module(m)
import torch
print(f"tools/install.sh: torch {torch.__version__}, cuda available: {torch.cuda.is_available()}")
PY
# jemalloc for training (egs/TEMPLATE/path.sh preloads it): apt as root; elsewhere a warning, glibc malloc
"$tools_dir/install_jemalloc.sh" || true
echo "$want" > "$stamp"
echo "tools/install.sh: installed into $venv in $(( $(date +%s) - start )) s"
