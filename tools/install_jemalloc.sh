#!/usr/bin/env bash
# Installs jemalloc (Debian/Ubuntu package libjemalloc2), the memory allocator that egs/TEMPLATE/path.sh
# preloads into training and decoding (see there why). Needs root and apt-get; anywhere else it says so
# and leaves the machine as it is: path.sh then falls back to glibc's malloc with a warning.
#
#   tools/install_jemalloc.sh        # idempotent; quick when the library is already there
set -uo pipefail

lib=$(/sbin/ldconfig -p 2>/dev/null | awk '/libjemalloc\.so\.2 /{if (!lib) lib = $NF} END {print lib}')
if [ -n "$lib" ]; then
  echo "tools/install_jemalloc.sh: $lib is installed"
  exit 0
fi
if ! command -v apt-get > /dev/null; then
  echo "tools/install_jemalloc.sh: WARNING: no apt-get here; install jemalloc 5 with your package manager" \
       "(training then runs on glibc malloc: slower, see egs/TEMPLATE/path.sh)" >&2
  exit 0
fi
sudo=()
if [ "$(id -u)" != 0 ]; then
  if command -v sudo > /dev/null && sudo -n true 2> /dev/null; then
    sudo=(sudo -n)
  else
    echo "tools/install_jemalloc.sh: WARNING: not root; run 'apt-get install libjemalloc2' as root" \
         "(training then runs on glibc malloc: slower, see egs/TEMPLATE/path.sh)" >&2
    exit 0
  fi
fi
export DEBIAN_FRONTEND=noninteractive
if ! "${sudo[@]}" apt-get install -y -q --no-install-recommends libjemalloc2 > /dev/null 2>&1; then
  # a fresh machine has no package lists yet
  "${sudo[@]}" apt-get update -q > /dev/null 2>&1
  if ! "${sudo[@]}" apt-get install -y -q --no-install-recommends libjemalloc2 > /dev/null; then
    echo "tools/install_jemalloc.sh: WARNING: apt-get install libjemalloc2 failed" \
         "(training then runs on glibc malloc: slower, see egs/TEMPLATE/path.sh)" >&2
    exit 0
  fi
fi
echo "tools/install_jemalloc.sh: installed $(/sbin/ldconfig -p | awk '/libjemalloc\.so\.2 /{if (!lib) lib = $NF} END {print lib}')"
