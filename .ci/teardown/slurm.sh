#!/usr/bin/env bash
# Stop the single-node Slurm cluster started by .ci/setup/slurm.sh (all its daemons, by PID file).
#
#   .ci/teardown/slurm.sh               stop slurmd, slurmctld, slurmdbd, MariaDB and munged
#   .ci/teardown/slurm.sh --slurm-only  stop only the three Slurm daemons (used on a config change)
#   .ci/teardown/slurm.sh --purge       also delete the Slurm state and job records
#
# Idempotent; every wait is bounded (SLURM_WAIT_S, default 30 s, then SIGKILL).
set -uo pipefail

WAIT_S=${SLURM_WAIT_S:-30}
MODE=${1:-}
log() { echo "slurm-teardown: $*"; }

# Alive = exists and is not a zombie (PID 1 reaps killed daemons lazily here).
alive_pid() {
    local stat
    stat=$(ps -o stat= -p "$1" 2>/dev/null || true)
    [ -n "$stat" ] && [[ "$stat" != Z* ]]
}

stop() {  # stop NAME PIDFILE
    local name=$1 pidfile=$2 pid deadline
    [ -s "$pidfile" ] || return 0
    pid=$(cat "$pidfile")
    if alive_pid "$pid"; then
        log "stopping $name (pid $pid)"
        kill -TERM "$pid" 2>/dev/null || true
        deadline=$(( $(date +%s) + WAIT_S ))
        while alive_pid "$pid"; do
            if [ "$(date +%s)" -ge "$deadline" ]; then
                log "$name did not stop in ${WAIT_S}s: SIGKILL"
                kill -KILL "$pid" 2>/dev/null || true
                sleep 1
                break
            fi
            sleep 0.3
        done
    fi
    rm -f "$pidfile"
}

[ "$(id -u)" = 0 ] || { log "must run as root"; exit 1; }
stop slurmd /run/slurm/slurmd.pid
stop slurmctld /run/slurm/slurmctld.pid
stop slurmdbd /run/slurm/slurmdbd.pid
if [ "$MODE" != --slurm-only ]; then
    stop mariadbd /run/mysqld/mysqld.pid
    stop munged /run/munge/munged.pid
fi
if [ "$MODE" = --purge ]; then
    rm -rf /var/spool/slurmctld/* /var/spool/slurmd/*
    log "purged Slurm state"
fi
log "done"
