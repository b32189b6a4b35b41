#!/usr/bin/env bash
# Stops the single-node Slurm that tools/slurm/start.sh started: cancels its jobs, stops slurmd and
# slurmctld, and munged when start.sh started it. Idempotent: nothing running is not an error.
set -euo pipefail
# shellcheck source=tools/slurm/common.sh
. "$(dirname "$(readlink -f "$0")")/common.sh"

[ "$(id -u)" -eq 0 ] || die "needs root (the daemons run as root); run it with sudo"

# stop_daemon NAME PIDFILE: SIGTERM, then SIGKILL after 10 s
stop_daemon() {
  pid_alive "$2" || { rm -f "$2"; return 0; }
  local pid
  pid=$(cat "$2")
  kill "$pid"
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    say "$1 (pid $pid) ignored SIGTERM for 10 s: killing it"
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$2"
  say "stopped $1 (pid $pid)"
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
stop_daemon slurmd "$slurm_dir/slurmd.pid"
stop_daemon slurmctld "$slurm_dir/slurmctld.pid"
if [ -e "$slurm_dir/munged.ours" ]; then
  munged_pid=/run/munge/munged.pid
  stop_daemon munged "$munged_pid"
  rm -f "$slurm_dir/munged.ours"
fi
[ -L "$system_conf" ] && [ "$(readlink "$system_conf")" = "$slurm_conf" ] && rm -f "$system_conf"
say "no Slurm of start.sh runs now"
