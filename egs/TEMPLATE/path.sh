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
