#!/usr/bin/env bash
# Stops the single-node Slurm that tools/slurm/start.sh started: cancels its jobs, stops slurmd and
# slurmctld, and munged when start.sh started it. Idempotent: nothing running is not an error.
set -euo pipefail
# shellcheck source=tools/slurm/common.sh
. "$(dirname "$(readlink -f "$0")")/common.sh"

[ "$(id -u)" -eq 0 ] || die "needs root (the daemons run as root); run it with sudo"

# stop_daemons NAME=PIDFILE ...: SIGTERM to all at once, then SIGKILL to those still there after 10 s
stop_daemons() {
  local item name file pids=()
  for item in "$@"; do
    file=${item#*=}
    if pid_alive "$file"; then pids+=("$item=$(cat "$file")"); kill "$(cat "$file")"; else rm -f "$file"; fi
  done
  for item in "${pids[@]}"; do
    name=${item%%=*} pid=${item##*=} file=${item#*=}
    file=${file%=*}
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      say "$name (pid $pid) ignored SIGTERM for 10 s: killing it"
      kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$file"
    say "stopped $name (pid $pid)"
  done
}

if pid_alive "$slurm_dir/slurmctld.pid"; then
  jobs=$(squeue -h -o %A 2>/dev/null | sort -u | tr '\n' ' ')
  if [ -n "${jobs// /}" ]; then
    say "cancelling jobs $jobs"
    # shellcheck disable=SC2086
    scancel $jobs 2>/dev/null || true
    for _ in $(seq 100); do [ -z "$(squeue -h -o %A 2>/dev/null)" ] && break; sleep 0.1; done
  fi
fi
stop_daemons "slurmd=$slurm_dir/slurmd.pid" "slurmctld=$slurm_dir/slurmctld.pid"
if [ -e "$slurm_dir/munged.ours" ]; then     # after the daemons that use it
  stop_daemons munged=/run/munge/munged.pid
  rm -f "$slurm_dir/munged.ours"
fi
[ -L "$system_conf" ] && [ "$(readlink "$system_conf")" = "$slurm_conf" ] && rm -f "$system_conf"
say "no Slurm of start.sh runs now"
