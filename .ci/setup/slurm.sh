#!/usr/bin/env bash
# Bring up a real single-node Slurm cluster (slurmctld + slurmd + munge, and slurmdbd + MariaDB
# so that `sacct` works) on a Debian machine without systemd, for tests/workflow/test_slurm.py.
#
# Run as root. Idempotent: a second run while the cluster is up only checks it (about 1 s).
# Background for every step: docs/cluster.md. Tear down with .ci/teardown/slurm.sh.
#
# Environment (all optional):
#   SLURM_ACCOUNTING=1   slurmdbd + MariaDB (0: no accounting; then sacct cannot work and the
#                        Snakemake profile must use `slurm-status-command: squeue`)
#   SLURM_CGROUP=0       1: proctrack/task cgroup plugins, so --mem is enforced
#   SLURM_WAIT_S=60      limit for every single wait (daemon start, node up, smoke test)
set -euo pipefail

SLURM_ACCOUNTING=${SLURM_ACCOUNTING:-1}
SLURM_CGROUP=${SLURM_CGROUP:-0}
WAIT_S=${SLURM_WAIT_S:-60}
NODE=$(hostname -s)
CPUS=$(nproc)
# RealMemory above what the node has makes slurmd register as INVALID: stay well below it.
MEM_MB=$(awk '/^MemTotal:/ {print int($2 / 1024 * 0.8)}' /proc/meminfo)
T0=$(date +%s)

log() { echo "slurm-setup: $*"; }
die() { echo "slurm-setup: error: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (CI runs it as root)"
command -v apt-get >/dev/null || die "needs a Debian/Ubuntu machine (apt-get not found)"

# A PID is alive only if its process exists and is not a zombie: PID 1 on these machines reaps
# orphans lazily, so a killed daemon stays visible in /proc for a few seconds.
alive_pid() {
    local stat
    stat=$(ps -o stat= -p "$1" 2>/dev/null || true)
    [ -n "$stat" ] && [[ "$stat" != Z* ]]
}

alive() {  # alive PIDFILE
    [ -s "$1" ] && alive_pid "$(cat "$1")"
}

# wait_for DESCRIPTION COMMAND...: poll until COMMAND succeeds; fail after WAIT_S seconds.
wait_for() {
    local what=$1 deadline=$(( $(date +%s) + WAIT_S ))
    shift
    until "$@" >/dev/null 2>&1; do
        if [ "$(date +%s)" -ge "$deadline" ]; then
            die "timed out after ${WAIT_S}s waiting for $what"
        fi
        sleep 0.5
    done
}

# --- packages -------------------------------------------------------------------------------
PACKAGES=(slurmctld slurmd slurm-client munge)
[ "$SLURM_ACCOUNTING" = 1 ] && PACKAGES+=(slurmdbd mariadb-server)
missing=()
for pkg in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    timeout 300 apt-get update -qq || die "apt-get update failed or timed out"
    timeout 600 apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null \
        || die "apt-get install ${PACKAGES[*]} failed or timed out"
fi

# --- configuration --------------------------------------------------------------------------
mkdir -p /etc/slurm /run/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
changed=0
# write_if_changed FILE MODE: stdin becomes FILE; a changed config restarts the daemons below.
write_if_changed() {
    local tmp
    tmp=$(mktemp)
    cat >"$tmp"
    if [ -f "$1" ] && cmp -s "$tmp" "$1"; then
        rm -f "$tmp"
    else
        install -m "$2" -o root -g root "$tmp" "$1"
        rm -f "$tmp"
        changed=1
    fi
}

if [ "$SLURM_CGROUP" = 1 ]; then
    PLUGINS=$'ProctrackType=proctrack/cgroup\nTaskPlugin=task/cgroup,task/affinity'
    write_if_changed /etc/slurm/cgroup.conf 0644 <<'EOF'
CgroupPlugin=autodetect
ConstrainCores=yes
ConstrainRAMSpace=yes
EOF
else
    PLUGINS=$'ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none'
fi
if [ "$SLURM_ACCOUNTING" = 1 ]; then
    ACCOUNTING=$'AccountingStorageType=accounting_storage/slurmdbd\nAccountingStorageHost=localhost\nJobAcctGatherType=jobacct_gather/linux'
else
    ACCOUNTING=$'AccountingStorageType=accounting_storage/none\nJobAcctGatherType=jobacct_gather/none'
fi

write_if_changed /etc/slurm/slurm.conf 0644 <<EOF
# single-node CI cluster written by .ci/setup/slurm.sh
ClusterName=ci
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmctldPort=6817
SlurmdPort=6818
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurm/slurmctld.pid
SlurmdPidFile=/run/slurm/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
$PLUGINS
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
$ACCOUNTING
JobCompType=jobcomp/none
ReturnToService=2
MinJobAge=300
SlurmdTimeout=60
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM_MB State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF

if [ "$SLURM_ACCOUNTING" = 1 ]; then
    write_if_changed /etc/slurm/slurmdbd.conf 0600 <<'EOF'
AuthType=auth/munge
DbdHost=localhost
DbdPort=6819
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=slurmci
StorageLoc=slurm_acct_db
PidFile=/run/slurm/slurmdbd.pid
LogFile=/var/log/slurm/slurmdbd.log
EOF
fi

if [ "$changed" = 1 ] && { alive /run/slurm/slurmctld.pid || alive /run/slurm/slurmd.pid || alive /run/slurm/slurmdbd.pid; }; then
    log "configuration changed: restarting the Slurm daemons"
    bash "$(dirname "$0")/../teardown/slurm.sh" --slurm-only
fi

# --- munge ------------------------------------------------------------------------------------
if [ ! -s /etc/munge/munge.key ]; then
    mungekey --create --keyfile /etc/munge/munge.key
fi
chown munge:munge /etc/munge/munge.key
chmod 0400 /etc/munge/munge.key
install -d -o munge -g munge -m 0755 /run/munge
if ! alive /run/munge/munged.pid; then
    log "starting munged"
    rm -f /run/munge/munged.pid
    runuser -u munge -- /usr/sbin/munged
fi
wait_for "munge to encode and decode a credential" bash -c 'munge -n | unmunge'

# --- MariaDB + slurmdbd -------------------------------------------------------------------------
mysql_up() { mariadb -u root -e 'SELECT 1'; }
if [ "$SLURM_ACCOUNTING" = 1 ]; then
    install -d -o mysql -g mysql -m 0755 /run/mysqld /var/log/mysql
    if ! alive /run/mysqld/mysqld.pid; then
        log "starting mariadbd"
        rm -f /run/mysqld/mysqld.pid
        [ -d /var/lib/mysql/mysql ] || timeout "$WAIT_S" mariadb-install-db --user=mysql >/dev/null
        setsid mariadbd --user=mysql --bind-address=127.0.0.1 --pid-file=/run/mysqld/mysqld.pid \
            </dev/null >>/var/log/mysql/ci.log 2>&1 &
    fi
    wait_for "MariaDB to accept connections" mysql_up
    mariadb -u root <<'EOF'
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurmci';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
FLUSH PRIVILEGES;
EOF
    if ! alive /run/slurm/slurmdbd.pid; then
        log "starting slurmdbd"
        rm -f /run/slurm/slurmdbd.pid
        slurmdbd
    fi
    wait_for "slurmdbd to answer (sacctmgr)" timeout 10 sacctmgr -n list cluster
fi

# --- slurmctld + slurmd -------------------------------------------------------------------------
if ! alive /run/slurm/slurmctld.pid; then
    log "starting slurmctld"
    rm -f /run/slurm/slurmctld.pid
    slurmctld
fi
wait_for "slurmctld to answer (scontrol ping)" bash -c 'timeout 10 scontrol ping | grep -q UP'
if ! alive /run/slurm/slurmd.pid; then
    log "starting slurmd"
    rm -f /run/slurm/slurmd.pid
    slurmd
fi
# slurmd writes its PID file after forking: wait for it rather than race it.
wait_for "slurmd's PID file" alive /run/slurm/slurmd.pid
node_state() { timeout 10 sinfo -h -N -n "$NODE" -o %T; }
node_ready() { node_state | grep -Eq '^(idle|mixed|allocated|completing)'; }
if node_state | grep -Eq '^(down|drain|fail)'; then
    # A node left down by an earlier crash stays down until told otherwise.
    scontrol update NodeName="$NODE" State=RESUME || true
fi
wait_for "node $NODE to be idle (sinfo)" node_ready

# --- smoke test ---------------------------------------------------------------------------------
out=$(timeout "$WAIT_S" srun -N1 -n1 --mem=50 -t 1 hostname) || die "srun smoke test failed or timed out"
[ "$out" = "$NODE" ] || die "srun ran on '$out', expected '$NODE'"
if [ "$SLURM_ACCOUNTING" = 1 ]; then
    wait_for "sacct to list jobs" bash -c 'timeout 10 sacct -n -X -o JobID | grep -q .'
fi
log "cluster 'ci' up on $NODE ($CPUS CPUs, ${MEM_MB} MB, accounting=$SLURM_ACCOUNTING, cgroup=$SLURM_CGROUP) in $(( $(date +%s) - T0 )) s"
sinfo
