# shellcheck shell=bash
# Shared by tools/slurm/start.sh and stop.sh: where the single-node Slurm of this machine lives.
# ECHO_SLURM_DIR (default /var/spool/echo-slurm) holds its slurm.conf, state, spool, logs and pid files.
slurm_dir=${ECHO_SLURM_DIR:-/var/spool/echo-slurm}
slurm_conf=$slurm_dir/slurm.conf
# shellcheck disable=SC2034  # read by start.sh and stop.sh
system_conf=/etc/slurm/slurm.conf       # a link to $slurm_conf, so that plain `sinfo` finds it
# shellcheck disable=SC2034
marker="# Written by echo's tools/slurm/start.sh"
export SLURM_CONF=$slurm_conf

say() { echo "$(basename "$0"): $*"; }
die() { echo "$(basename "$0"): error: $*" >&2; exit 1; }

# pid_alive FILE: the pid in FILE names a running process
pid_alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

munge_works() { command -v munge > /dev/null && munge -n 2>/dev/null | unmunge > /dev/null 2>&1; }
