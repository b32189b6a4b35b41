#!/usr/bin/env bash
# A single-node Slurm on this machine, for trying echo's Slurm backend and for its tests (test/test_slurm.py).
#
#   sudo tools/slurm/start.sh      # install (Debian: slurmctld slurmd slurm-client munge), configure, start
#   sinfo                          # the node "localhost" in partition "debug", idle
#   sudo tools/slurm/stop.sh       # cancel its jobs, stop its daemons
#
# Starts munged (unless one already answers), slurmctld and slurmd, all on 127.0.0.1, with a generated
# slurm.conf: this machine's CPUs (nproc) and memory (MemTotal of /proc/meminfo), one partition, and
# process tracking without cgroups (proctrack/linuxproc, task/none), so it runs inside a container.
# No accounting database: `sacct` does not work here; `scontrol show job` does (for MinJobAge seconds).
# Idempotent: when its Slurm already runs with the same configuration it only checks that the node is
# idle. Waits until `sinfo` shows the node idle; exits 1 with the reason (and log tails) when it cannot.
# Everything lives in $ECHO_SLURM_DIR (default /var/spool/echo-slurm); /etc/slurm/slurm.conf becomes a
# link to its slurm.conf unless a configuration of another Slurm is there (then export SLURM_CONF=...).
set -euo pipefail
# shellcheck source=tools/slurm/common.sh
. "$(dirname "$(readlink -f "$0")")/common.sh"

[ "$(id -u)" -eq 0 ] || die "needs root (it installs packages and runs slurmd as root); run it with sudo"

install_packages() {
  local missing=()
  command -v munged > /dev/null || missing+=(munge)
  command -v slurmctld > /dev/null || missing+=(slurmctld)
  command -v slurmd > /dev/null || missing+=(slurmd)
  command -v sbatch > /dev/null || missing+=(slurm-client)
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v apt-get > /dev/null || die "Slurm is not installed (${missing[*]} missing) and there is no apt-get to install it"
  say "installing ${missing[*]} with apt-get"
  local apt=(env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}")
  if ! "${apt[@]}" > "$slurm_dir/log/apt.log" 2>&1; then
    # An old package list names versions the mirror no longer has: refresh it once, then try again.
    apt-get update -q >> "$slurm_dir/log/apt.log" 2>&1 || true
    "${apt[@]}" >> "$slurm_dir/log/apt.log" 2>&1 || { tail -n 15 "$slurm_dir/log/apt.log" >&2;
      die "apt-get could not install ${missing[*]} (log: $slurm_dir/log/apt.log)"; }
  fi
}

write_conf() {  # the configuration of this machine, on stdout
  local cpus mem
  cpus=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)   # (nproc obeys those two)
  mem=$(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo)
  cat << EOF
$marker: a single-node Slurm on 127.0.0.1.
ClusterName=echo
SlurmctldHost=localhost(127.0.0.1)
SlurmUser=root
SlurmctldPort=6817
SlurmdPort=6818
AuthType=auth/munge
# Bind to 127.0.0.1 (what localhost resolves to), not to every address of the machine.
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
StateSaveLocation=$slurm_dir/ctld
SlurmdSpoolDir=$slurm_dir/d
SlurmctldPidFile=$slurm_dir/slurmctld.pid
SlurmdPidFile=$slurm_dir/slurmd.pid
SlurmctldLogFile=$slurm_dir/log/slurmctld.log
SlurmdLogFile=$slurm_dir/log/slurmd.log
# No cgroups: processes tracked through /proc, no task affinity or confinement.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
MailProg=/bin/true
SwitchType=switch/none
SchedulerType=sched/backfill
# Start a batch job (or the next task of a throttled array) at once rather than up to 3 s later.
SchedulerParameters=batch_sched_delay=0
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
DefMemPerCPU=$((mem / cpus))
ReturnToService=2
# A cancelled job gets SIGTERM, then SIGKILL this many seconds later.
KillWait=5
# Finished jobs stay visible to scontrol this long (there is no accounting database for sacct).
MinJobAge=300
InactiveLimit=0
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
}

node_state() { sinfo -h -N -n localhost -o %T 2>/dev/null | head -n 1; }

show_logs_and_die() {
  for f in "$slurm_dir"/log/slurmctld.log "$slurm_dir"/log/slurmd.log; do
    [ -f "$f" ] && { echo "--- last lines of $f" >&2; tail -n 10 "$f" >&2; }
  done
  die "$*"
}

mkdir -p "$slurm_dir"/{ctld,d,log}
install_packages

new_conf=$(write_conf)
running=false
pid_alive "$slurm_dir/slurmctld.pid" && pid_alive "$slurm_dir/slurmd.pid" && running=true
if $running && [ "$new_conf" != "$(cat "$slurm_conf" 2>/dev/null)" ]; then
  say "the configuration changed: restarting"
  "$(dirname "$(readlink -f "$0")")/stop.sh"
  running=false
fi
if ! $running; then
  # Daemons of another Slurm would hold the ports (or be hit by our clients): refuse rather than guess.
  for comm in /proc/[0-9]*/comm; do
    d=$(cat "$comm" 2>/dev/null) || continue
    case $d in slurmctld|slurmd) ;; *) continue ;; esac
    pid=${comm#/proc/}
    pid=${pid%/comm}
    grep -qx "$pid" "$slurm_dir/$d.pid" 2>/dev/null || die "a $d not started by this script runs already (pid $pid); stop it first"
  done
  echo "$new_conf" > "$slurm_conf"
fi
if [ -L "$system_conf" ] || [ ! -e "$system_conf" ]; then
  mkdir -p "$(dirname "$system_conf")"
  ln -sfn "$slurm_conf" "$system_conf"
elif ! grep -q "^$marker" "$system_conf"; then
  say "note: $system_conf belongs to another Slurm and was left alone: export SLURM_CONF=$slurm_conf"
fi

if ! munge_works; then
  [ -s /etc/munge/munge.key ] || { mungekey -c -k /etc/munge/munge.key && chown munge:munge /etc/munge/munge.key; } \
    || die "could not create /etc/munge/munge.key"
  install -d -o munge -g munge -m 0755 /run/munge
  runuser -u munge -- /usr/sbin/munged > "$slurm_dir/log/munged.out" 2>&1 \
    || { cat "$slurm_dir/log/munged.out" >&2; die "munged did not start"; }
  touch "$slurm_dir/munged.ours"
  for _ in $(seq 50); do munge_works && break; sleep 0.1; done
  munge_works || die "munged runs but munge -n | unmunge fails (see /var/log/munge/munged.log)"
fi

if ! $running; then
  # -c: a fresh cluster, with none of the jobs a previous run left in its state.
  slurmctld -c -f "$slurm_conf" || show_logs_and_die "slurmctld did not start"
  slurmd -f "$slurm_conf" -N localhost || show_logs_and_die "slurmd did not start"
fi

for _ in $(seq 120); do
  state=$(node_state)
  case $state in
    idle|mixed|allocated) break ;;
    *drain*|down*|*fail*) show_logs_and_die "the node is $state: $(sinfo -h -R -o '%E' 2>/dev/null)" ;;
  esac
  sleep 0.5
done
case $state in
  idle|mixed|allocated) ;;
  *) show_logs_and_die "the node did not become idle in 60 s (state: ${state:-no answer from slurmctld})" ;;
esac
how="was running"
$running || how="started"
say "Slurm $how: node localhost $state ($(sinfo -h -N -o '%c CPUs, %m MiB')), SLURM_CONF=$slurm_conf"
