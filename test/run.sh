#!/usr/bin/env bash
# The echo test suite. Installs tools/venv first when it is missing; extra arguments go to pytest.
#   test/run.sh                      # everything (CI runs exactly this)
#   test/run.sh -k datadir -x        # a subset
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Idempotent and quick when tools/venv is up to date; installs it on a fresh clone.
"$root/tools/install.sh" >&2
cd "$root"
# Subprocesses (recipes, torchrun) import the echo of this tree, whichever checkout the venv came from.
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
exec "$root/tools/venv/bin/python" -m pytest test "$@"
