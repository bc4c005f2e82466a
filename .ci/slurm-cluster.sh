#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, for the `slurm`-marked workflow test.
#
#   .ci/slurm-cluster.sh start DIR   # munged + slurmctld + slurmd on localhost; prints `export SLURM_CONF=...`
#   .ci/slurm-cluster.sh stop DIR    # stops the daemons it started (by their pid files) and nothing else
#
# Debian's slurm-wlm (22.05) and munge, as root, without cgroups (ProctrackType=proctrack/linuxproc,
# TaskPlugin=task/none) and without accounting, so job states come from squeue
# (the plugin's --slurm-status-command squeue). Everything lives in DIR: its own munge socket,
# config, state, spool, logs and ports. One thing cannot: the SLURM executor plugin's job step
# drops every SLURM_* variable (SLURM_CONF included) before its inner `srun`, which then reads
# the default /etc/slurm/slurm.conf; so the script links that path to DIR's config when it does
# not exist, and removes the link on stop. It refuses to run where a site config already exists.
set -euo pipefail
command="${1:?usage: $0 start|stop DIR}"
DIR="$(mkdir -p "${2:?usage: $0 start|stop DIR}" && cd "$2" && pwd)"
NODE="$(hostname -s)"
CTLD_PORT="${SLURMCTLD_PORT:-16817}"
SLURMD_PORT="${SLURMD_PORT:-16818}"

SITE_CONF=/etc/slurm/slurm.conf

stop() {
  for name in slurmd slurmctld munged; do
    if [ -f "$DIR/$name.pid" ]; then
      local pid
      pid="$(cat "$DIR/$name.pid")"
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
      rm -f "$DIR/$name.pid"
    fi
  done
  if [ -L "$SITE_CONF" ] && [ "$(readlink "$SITE_CONF")" = "$DIR/slurm.conf" ]; then
    rm -f "$SITE_CONF"
  fi
}

case "$command" in
  start)
    for tool in munged slurmctld slurmd sbatch squeue; do
      command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install slurm-wlm munge)" >&2; exit 3; }
    done
    if [ -e "$SITE_CONF" ] && [ "$(readlink "$SITE_CONF" || true)" != "$DIR/slurm.conf" ]; then
      echo "$SITE_CONF exists: this machine has a SLURM configuration of its own; not starting a test cluster" >&2
      exit 5
    fi
    mkdir -p "$DIR"/{state,spool,munge}
    chmod 700 "$DIR/munge"
    KEY=/etc/munge/munge.key
    if [ ! -s "$KEY" ]; then
      KEY="$DIR/munge/munge.key"
      dd if=/dev/urandom of="$KEY" bs=1024 count=1 status=none
      chmod 400 "$KEY"
    fi
    munged --force --key-file="$KEY" --socket="$DIR/munge/munge.socket" --pid-file="$DIR/munged.pid" \
      --log-file="$DIR/munged.log" --seed-file="$DIR/munge/munged.seed"
    CPUS="$(nproc)"
    MEM_MB="$(awk '/MemTotal/ {print int($2 / 1024 / 2)}' /proc/meminfo)"   # half the machine
    cat > "$DIR/slurm.conf" <<EOF
ClusterName=unlearnbench-ci
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$DIR/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/slurmctld.log
SlurmdLogFile=$DIR/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
MinJobAge=600
MpiDefault=none
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM_MB State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
    mkdir -p "$(dirname "$SITE_CONF")"
    ln -sfn "$DIR/slurm.conf" "$SITE_CONF"
    export SLURM_CONF="$DIR/slurm.conf"
    slurmctld -f "$SLURM_CONF"
    slurmd -f "$SLURM_CONF" -N "$NODE"
    for _ in $(seq 60); do
      if sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
        echo "export SLURM_CONF=$SLURM_CONF"
        exit 0
      fi
      sleep 1
    done
    echo "the SLURM node did not come up; logs in $DIR" >&2
    tail -n 20 "$DIR"/slurmctld.log "$DIR"/slurmd.log >&2 || true
    stop
    exit 4
    ;;
  stop)
    stop
    ;;
  *)
    echo "usage: $0 start|stop DIR" >&2
    exit 2
    ;;
esac
