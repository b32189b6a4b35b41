#!/usr/bin/env bash
# shellcheck shell=bash
# utils/parse_options.sh: Kaldi-style options for bash scripts (same behaviour as Kaldi's
# utils/parse_options.sh, written anew for echo; Apache-2.0).
#
# Source it after giving every option a default; "$@" then holds what is left:
#
#   nj=4
#   use_pitch=false
#   help_message="Usage: $0 [options] <data-dir>
#     --nj N            parallel jobs (default: $nj)
#     --use-pitch BOOL  append pitch features (default: $use_pitch)"
#   . utils/parse_options.sh
#   [ $# -eq 1 ] || { echo "$help_message" >&2; exit 1; }
#
# - "--foo-bar VALUE" and "--foo_bar VALUE" both set the variable foo_bar, which the script must
#   already define; an option with no such variable is an error that names it.
# - "--config FILE" sources FILE (bash lines such as "nj=8") before any other option is applied,
#   so the command line wins wherever --config stands. It may be given several times.
# - A variable whose current value is true or false only takes true or false.
# - "--help" or "-h" prints $help_message and exits 0.
# - Parsing stops at the first word that does not start with "--", or after a bare "--".
#   "--name=value" is refused (Kaldi's rule): write "--name value".
# Safe under "set -euo pipefail". Helper variables are named _po_* and unset at the end.

# Pass 1: the config files, so that the rest of the command line overrides them.
_po_i=1
while [ "$_po_i" -le "$#" ]; do
  _po_arg=${!_po_i}
  case "$_po_arg" in
    --config)
      _po_next=$((_po_i + 1))
      if [ "$_po_next" -gt "$#" ]; then
        echo "$0: option --config needs a file" >&2
        exit 1
      fi
      config=${!_po_next}
      if [ ! -f "$config" ] || [ ! -r "$config" ]; then
        echo "$0: cannot read config file '$config'" >&2
        exit 1
      fi
      # shellcheck disable=SC1090
      . "$config"
      _po_i=$((_po_i + 2))
      ;;
    --help|-h|--) break ;;
    --?*) _po_i=$((_po_i + 2)) ;;
    *) break ;;
  esac
done

# Pass 2: every option in order.
while [ "$#" -gt 0 ]; do
  case "$1" in
    --help|-h)
      printf '%s\n' "${help_message:-No help found for $0.}"
      exit 0
      ;;
    --)
      shift
      break
      ;;
    --*=*)
      echo "$0: options take the form '--name value', got '$1'" >&2
      exit 1
      ;;
    --?*)
      _po_name=${1#--}
      _po_name=${_po_name//-/_}
      if ! [[ $_po_name =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || [ -z "${!_po_name+set}" ]; then
        echo "$0: invalid option $1" >&2
        exit 1
      fi
      if [ "$#" -lt 2 ]; then
        echo "$0: option $1 needs a value" >&2
        exit 1
      fi
      _po_old=${!_po_name}
      if [ "$_po_old" = true ] || [ "$_po_old" = false ]; then
        if [ "$2" != true ] && [ "$2" != false ]; then
          echo "$0: option $1 takes true or false, got '$2'" >&2
          exit 1
        fi
      fi
      printf -v "$_po_name" '%s' "$2"
      shift 2
      ;;
    *) break ;;
  esac
done

unset _po_i _po_arg _po_next _po_name _po_old
true
