#!/usr/bin/env bash
# scripts/slurm-local.sh: a one-node Slurm cluster on this machine for tests and development (Debian 12's slurm-wlm
# and munge, as root). Everything — configuration, munge key and socket, daemon state, logs, pid files, the
# job-completion log — lives in one folder; /etc/slurm and the system's munged are never touched.
#
#   scripts/slurm-local.sh start  [DIR]   # start munged, slurmctld and slurmd; wait until the node is idle
#   scripts/slurm-local.sh stop   [DIR]   # cancel its jobs, stop the daemons by their pid files
#   scripts/slurm-local.sh status [DIR]   # the daemons and the node; exit status 0 only when all is up
#   scripts/slurm-local.sh env    [DIR]   # prints `export SLURM_CONF=DIR/slurm.conf` (eval "$(... env)")
#
# DIR defaults to $STEPWISE_SLURM_DIR, else /tmp/stepwise-slurm. start is idempotent (it starts only what is not
# running). Then, with SLURM_CONF=DIR/slurm.conf, sbatch / srun / squeue / scontrol / scancel / sinfo talk to it.
# Accounting is off (sacct does not work): a finished job's line in DIR/jobcomp.log gives its JobState and
# ExitCode. The node has max(2, cores) CPUs (STEPWISE_SLURM_CPUS overrides); the ports are the first free pair from
# 6817 (STEPWISE_SLURM_PORT=P pins slurmctld to P and slurmd to P+1), so several clusters can run side by side.
# start and stop wait at most STEPWISE_SLURM_TIMEOUT_S (default 90) seconds for the daemons.
set -euo pipefail

me="scripts/slurm-local.sh"
die() { echo "$me: $*" >&2; exit 1; }

usage() {
  local text
  text="$(awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0")"
  if [[ "${1:-0}" == 0 ]]; then echo "$text"; else echo "$text" >&2; fi
  exit "${1:-0}"
}
[[ $# -ge 1 ]] || usage 2
cmd="$1"
dir="${2:-${STEPWISE_SLURM_DIR:-/tmp/stepwise-slurm}}"
[[ "$dir" == /* ]] || dir="$PWD/$dir"
conf="$dir/slurm.conf"
timeout_s="${STEPWISE_SLURM_TIMEOUT_S:-90}"  # generous for a loaded 2-core machine
[[ "$timeout_s" =~ ^[1-9][0-9]*$ ]] || die "STEPWISE_SLURM_TIMEOUT_S must be a positive number of seconds"

# The pid in a pid file when that process is alive and is the daemon named (not a reused pid); else nothing.
live_pid() {
  local file="$1" name="$2" pid
  [[ -s "$file" ]] || return 0
  pid="$(tr -dc '0-9' <"$file")"
  [[ -n "$pid" && "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$name" ]] && echo "$pid"
  return 0
}
munged_pid() { live_pid "$dir/munge/munged.pid" munged; }
slurmctld_pid() { live_pid "$dir/slurmctld.pid" slurmctld; }
slurmd_pid() { live_pid "$dir/slurmd.pid" slurmd; }

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

show_logs() {
  local f
  for f in "$dir/munge/munged.log" "$dir/slurmctld.log" "$dir/slurmd.log"; do
    [[ -s "$f" ]] && { echo "--- last lines of $f"; tail -n 15 "$f"; }
  done >&2
  [[ -f "$conf" ]] && SLURM_CONF="$conf" scontrol show node localhost 2>/dev/null | grep -E 'State=|Reason=' >&2
  return 0
}

# Waits until `check` succeeds, for at most timeout_s; on timeout shows the logs and fails with `what`.
wait_for() {
  local what="$1"; shift
  local deadline=$((SECONDS + timeout_s))
  until "$@"; do
    ((SECONDS < deadline)) || { show_logs; die "$what (waited ${timeout_s} s; logs above, folder $dir)"; }
    sleep 0.5
  done
}

require_tools() {
  [[ "$(id -u)" == 0 ]] || die "run as root (the daemons run as root with SlurmUser=root)"
  local tool
  for tool in munged mungekey munge slurmctld slurmd sinfo scontrol squeue scancel sbatch srun; do
    command -v "$tool" >/dev/null || [[ -x "/usr/sbin/$tool" ]] ||
      die "$tool not found: install slurm-wlm and munge (scripts/setup.sh does, on Debian 12)"
  done
}
sbin() { command -v "$1" 2>/dev/null || echo "/usr/sbin/$1"; }

start_munged() {
  [[ -n "$(munged_pid)" ]] && return 0
  # A key of its own, so that this cluster needs nothing from /etc/munge. munged insists that the key's folder
  # is private and that the socket's folder is reachable by everyone.
  mkdir -p "$dir/munge-key" "$dir/munge"
  chmod 700 "$dir/munge-key"
  chmod 755 "$dir" "$dir/munge"
  [[ -s "$dir/munge-key/munge.key" ]] || "$(sbin mungekey)" --create --keyfile="$dir/munge-key/munge.key"
  local socket="$dir/munge/munge.socket"
  ((${#socket} < 100)) || die "the munge socket path $socket is too long for a Unix socket: choose a shorter DIR"
  rm -f "$socket" "$socket.lock"
  "$(sbin munged)" --force --socket="$socket" --key-file="$dir/munge-key/munge.key" \
    --pid-file="$dir/munge/munged.pid" --log-file="$dir/munge/munged.log" --seed-file="$dir/munge/munged.seed" ||
    { show_logs; die "munged did not start"; }
  wait_for "munged does not answer on $socket" bash -c "munge -n -S '$socket' | unmunge -S '$socket' >/dev/null 2>&1"
}

free_port_pair() {
  if [[ -n "${STEPWISE_SLURM_PORT:-}" ]]; then
    [[ "$STEPWISE_SLURM_PORT" =~ ^[0-9]+$ ]] ||
      die "STEPWISE_SLURM_PORT must be a port number, got '$STEPWISE_SLURM_PORT'"
    local p="$STEPWISE_SLURM_PORT"
    port_in_use "$p" && die "port $p (STEPWISE_SLURM_PORT, for slurmctld) is in use"
    port_in_use $((p + 1)) && die "port $((p + 1)) (STEPWISE_SLURM_PORT + 1, for slurmd) is in use"
    echo "$p"; return 0
  fi
  local p
  for ((p = 6817; p < 6917; p += 2)); do
    port_in_use "$p" || port_in_use $((p + 1)) || { echo "$p"; return 0; }
  done
  die "no free pair of ports in 6817-6916: set STEPWISE_SLURM_PORT"
}

write_conf() {
  local cpus="${STEPWISE_SLURM_CPUS:-$(nproc)}" port
  [[ "$cpus" =~ ^[1-9][0-9]*$ ]] || die "STEPWISE_SLURM_CPUS must be a positive count, got '$cpus'"
  ((cpus >= 2)) || cpus=2  # a 2-rank job must fit on a 1-core machine too (SlurmdParameters=config_overrides)
  port="$(free_port_pair)"
  mkdir -p "$dir/state" "$dir/slurmd"
  cat >"$conf.tmp" <<EOF
# Written by $me: a one-node cluster whose files all live in $dir.
ClusterName=stepwise-local
SlurmctldHost=localhost
SlurmctldPort=$port
SlurmdPort=$((port + 1))
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.socket
SlurmUser=root
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
ReturnToService=2
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmdSpoolDir=$dir/slurmd
StateSaveLocation=$dir/state
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
JobCompType=jobcomp/filetxt
JobCompLoc=$dir/jobcomp.log
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
  mv "$conf.tmp" "$conf"
}

node_state() { SLURM_CONF="$conf" sinfo -h -n localhost -o '%T' 2>/dev/null | head -n 1; }
node_is_up() { [[ "$(node_state)" =~ ^(idle|mixed|allocated|completing)$ ]]; }
controller_answers() { SLURM_CONF="$conf" scontrol ping 2>/dev/null | grep -q 'is UP'; }

print_usage_hint() {
  cat <<EOF
one-node Slurm up in $dir (node localhost: $(node_state))
  export SLURM_CONF=$conf
  sbatch / srun / squeue / scontrol show job ID / scancel; finished jobs: $dir/jobcomp.log
  stop: $me stop $dir
EOF
}

start() {
  require_tools
  mkdir -p "$dir"
  if [[ -z "$(slurmctld_pid)" && -z "$(slurmd_pid)" ]]; then write_conf; fi
  start_munged
  [[ -f "$conf" ]] || die "$conf is missing while a daemon of this cluster runs: run '$me stop $dir' first"
  if [[ -z "$(slurmctld_pid)" ]]; then
    "$(sbin slurmctld)" -f "$conf" || { show_logs; die "slurmctld did not start"; }
  fi
  wait_for "slurmctld does not answer (scontrol ping)" controller_answers
  if [[ -z "$(slurmd_pid)" ]]; then
    "$(sbin slurmd)" -f "$conf" -N localhost || { show_logs; die "slurmd did not start"; }
  fi
  wait_for "the node did not become idle" node_is_up
  print_usage_hint
}

# Sends TERM to the named daemons together and waits for them to exit; KILL for one that will not.
stop_daemons() {
  local name pid deadline=$((SECONDS + timeout_s)) stopping=()
  for name in "$@"; do
    pid="$("${name}_pid")"
    [[ -n "$pid" ]] && kill -TERM "$pid" 2>/dev/null && stopping+=("$name:$pid")
  done
  for name in "${stopping[@]}"; do
    pid="${name#*:}"
    while kill -0 "$pid" 2>/dev/null; do
      if ((SECONDS >= deadline)); then
        echo "$me: ${name%%:*} (pid $pid) ignored TERM for ${timeout_s} s: killing it" >&2
        kill -KILL "$pid" 2>/dev/null || true
        break
      fi
      sleep 0.2
    done
  done
}

stop() {
  if [[ -n "$(slurmctld_pid)" ]]; then
    # Jobs first, so that no job step outlives the daemons that would clean it up.
    local jobs
    jobs="$(SLURM_CONF="$conf" squeue -h -o %i 2>/dev/null || true)"
    if [[ -n "$jobs" ]]; then
      # shellcheck disable=SC2086
      SLURM_CONF="$conf" scancel $jobs 2>/dev/null || true
      local deadline=$((SECONDS + 30))
      while [[ -n "$(SLURM_CONF="$conf" squeue -h -o %i 2>/dev/null)" ]] && ((SECONDS < deadline)); do sleep 0.5; done
    fi
  fi
  stop_daemons slurmd slurmctld
  stop_daemons munged  # last: the Slurm daemons authenticate through it until they are gone
  echo "one-node Slurm in $dir stopped"
}

status() {
  local name pid up=0
  for name in munged slurmctld slurmd; do
    pid="$("${name}_pid")"
    if [[ -n "$pid" ]]; then echo "$name: running (pid $pid)"; else echo "$name: stopped"; up=1; fi
  done
  if ((up == 0)); then
    echo "node localhost: $(node_state)"
    node_is_up || up=1
  fi
  return "$up"
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  env) echo "export SLURM_CONF=$conf" ;;
  -h|--help|help) usage 0 ;;
  *) echo "$me: unknown command '$cmd'" >&2; usage 2 ;;
esac
