# shellcheck shell=bash
# Sourced by every recipe script: puts echo's venv and utils/ on PATH, installing the venv first.
# (egs/<corpus>/path.sh is a link to this file.)
ECHO_ROOT=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.." && pwd)   # links resolved: recipes may live elsewhere
export ECHO_ROOT
# Idempotent and quick when tools/venv is up to date; installs it on a fresh clone.
"$ECHO_ROOT/tools/install.sh" > /dev/null
export PATH="$ECHO_ROOT/tools/venv/bin:$ECHO_ROOT/utils:$PATH"
export VIRTUAL_ENV="$ECHO_ROOT/tools/venv"
# The echo of this tree, not whichever checkout the venv was installed from (git worktrees share a venv).
export PYTHONPATH="$ECHO_ROOT${PYTHONPATH:+:$PYTHONPATH}"
export LC_ALL=C            # sort in C byte order, like Kaldi
export PYTHONIOENCODING=utf-8 PYTHONUNBUFFERED=1
# Memory allocator: jemalloc when installed (tools/install_jemalloc.sh; tools/install.sh runs it). glibc's malloc
# fragments its heap under training's ever-changing activation sizes (train.log's rss grows every epoch: +56 %
# by epoch 15 of synth_digits; its heap held over 1 GiB free), and keeping large blocks mapped instead costs
# more memory still; jemalloc keeps memory flat (test/bench/bench_alloc.py, bench_memory.py). ECHO_MALLOC=glibc
# opts out.
if [ "${ECHO_MALLOC:-jemalloc}" = jemalloc ] && [[ "${LD_PRELOAD:-}" != *libjemalloc* ]]; then
  # awk reads all of ldconfig's output: an early exit would SIGPIPE it, and under pipefail + set -e that kills the recipe
  echo_jemalloc=$(/sbin/ldconfig -p 2>/dev/null | awk '/libjemalloc\.so\.2 /{if (!lib) lib = $NF} END {print lib}')
  if [ -n "$echo_jemalloc" ]; then
    export LD_PRELOAD="$echo_jemalloc${LD_PRELOAD:+:$LD_PRELOAD}"
    # No arena of its own for blocks over 8 MiB (jemalloc purges that one at once); freed pages are purged by a
    # background thread after the decay time. Memory stays flat (synth_digits: peak 596 -> 615 MiB from epoch 1
    # to 2, glibc 1527 -> 1682). Not solved: a 9.75 M model still faults its activations in every step (220 k
    # minor faults, a quarter of CPU time in the kernel: test/bench/bench_alloc.py); never purging
    # (dirty_decay_ms:-1) removes the faults but RSS then grows every epoch (749 -> 928 -> 1204 MiB).
    export MALLOC_CONF="${MALLOC_CONF:-oversize_threshold:0,background_thread:true}"
  elif [ -z "${ECHO_MALLOC_WARNED:-}" ]; then
    echo "path.sh: WARNING: jemalloc not found (run tools/install_jemalloc.sh as root); glibc malloc: training" \
         "memory grows by epoch. ECHO_MALLOC=glibc silences this." >&2
    export ECHO_MALLOC_WARNED=1
  fi
  unset echo_jemalloc
fi
