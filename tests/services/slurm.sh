#!/bin/sh
# tests/services/slurm.sh up|down|status — a throw-away single-node Slurm on this
# host for the tests (Debian 12, root, no systemd): munged, slurmctld and slurmd
# on localhost, no accounting database (sacct -X fails, as on many clusters, so
# the provider's squeue path runs; `sacct -c` reads the job completion log).
#
#   up    starts what is not running yet and waits until the node is idle;
#         prints what it starts. Idempotent, and counted: every `up` needs its
#         `down`, and only the last `down` stops the daemons, so test scripts
#         running in parallel can share the cluster.
#   down  the reverse: cancels every job, waits for the queue to drain, then
#         SIGTERM (SIGKILL after 10 s) to the pids in the daemons' pid files.
#   status  prints sinfo and the user count.
#
# Partitions: `debug` (default) and `batch`, both on the one node. Settings that
# matter to the tests (see /work/shared/reference/services.md §1.2):
#   DefMemPerCPU=256      two jobs at once on the 2 CPUs
#   sched_interval=1 ...  batch jobs start within ~1 s
#   EnforcePartLimits=ALL impossible requests are refused by sbatch at once
#   MinJobAge=300         ended jobs stay in squeue -t all / scontrol for 5 min
#   OverTimeLimit=0, KillWait=2  a block is killed right at its --time
#   JobCompType=jobcomp/filetxt  the job history (sacct -c) without a database
# Exit status: 0, or 1 with the reason on stderr (the daemons' log tails).
set -eu
STATE=/run/cparsl-slurm
LOCK=/run/cparsl-slurm.lock
LOGDIR=/var/log/slurm
say() { echo "slurm.sh: $*"; }
die() { echo "slurm.sh: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (it starts munged, slurmctld and slurmd)"
for b in munged slurmctld slurmd sbatch squeue sinfo scontrol; do
    command -v "$b" >/dev/null 2>&1 || [ -x "/usr/sbin/$b" ] ||
        die "$b is not installed (apt-get install slurmctld slurmd slurm-client munge)"
done
PATH=$PATH:/usr/sbin

alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

idle() { [ "$(sinfo -h -o '%T' 2>/dev/null | sort -u | tr -d '\n')" = idle ]; }

start_munge() {
    if [ -S /run/munge/munge.socket.2 ] && munge -n >/dev/null 2>&1; then
        return
    fi
    [ -s /etc/munge/munge.key ] || mungekey --create --force
    chown munge:munge /etc/munge/munge.key; chmod 0400 /etc/munge/munge.key
    install -d -o munge -g munge -m 0755 /run/munge
    install -d -o munge -g munge -m 0700 /var/log/munge /var/lib/munge
    say "starting munged"
    runuser -u munge -- /usr/sbin/munged 9>&-
    munge -n | unmunge >/dev/null || die "munge does not work"
    echo started > "$STATE/munge.ours"
}

write_conf() {
    H=$(hostname -s)
    CPUS=$(nproc)
    MEM=$(awk '/MemTotal/{print int($2/1024) - 512}' /proc/meminfo)
    install -d /etc/slurm /var/spool/slurmctld /var/spool/slurmd "$LOGDIR" /run/slurm
    cat > /etc/slurm/slurm.conf <<EOC
# written by cparsl tests/services/slurm.sh
ClusterName=ci
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurm/slurmctld.pid
SlurmdPidFile=/run/slurm/slurmd.pid
SlurmctldLogFile=$LOGDIR/slurmctld.log
SlurmdLogFile=$LOGDIR/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=256
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1,sched_min_interval=0,batch_sched_delay=0
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$LOGDIR/jobcomp.log
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=task=1
JobAcctGatherParams=OverMemoryKill
ReturnToService=2
EnforcePartLimits=ALL
SlurmctldTimeout=10
SlurmdTimeout=10
InactiveLimit=0
MinJobAge=300
KillWait=2
OverTimeLimit=0
Waittime=0
MessageTimeout=5
NodeName=$H NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
PartitionName=batch Nodes=ALL Default=NO MaxTime=INFINITE State=UP
EOC
}

up() {
    install -d -m 0755 "$STATE"
    start_munge
    if alive /run/slurm/slurmctld.pid && alive /run/slurm/slurmd.pid; then
        say "slurmctld (pid $(cat /run/slurm/slurmctld.pid)) and slurmd (pid $(cat /run/slurm/slurmd.pid)) already run"
    else
        # Leftovers of a cluster that died: start clean (job ids from 1 again).
        for f in /run/slurm/slurmctld.pid /run/slurm/slurmd.pid; do
            alive "$f" && kill "$(cat "$f")" 2>/dev/null
        done
        rm -rf /var/spool/slurmctld /var/spool/slurmd
        write_conf
        : > "$LOGDIR/jobcomp.log"
        say "starting slurmctld and slurmd (node $(hostname -s), $(nproc) CPUs; partitions debug, batch)"
        slurmctld -i || die "slurmctld did not start: $(tail -5 $LOGDIR/slurmctld.log 2>/dev/null)"
        slurmd || die "slurmd did not start: $(tail -5 $LOGDIR/slurmd.log 2>/dev/null)"
    fi
    i=0
    until idle; do
        # A node left "down" by an earlier run comes back when told.
        if [ $i = 50 ]; then scontrol update nodename="$(hostname -s)" state=resume 2>/dev/null || true; fi
        i=$((i + 1))
        [ $i -lt 300 ] || { sinfo >&2; tail -20 "$LOGDIR/slurmctld.log" >&2; die "the node did not become idle in 30 s"; }
        sleep 0.1
    done
    n=$(cat "$STATE/users" 2>/dev/null || echo 0)
    echo $((n + 1)) > "$STATE/users"
    say "up: $(sinfo -h -o '%P %a %D %T %N' | tr '\n' ';') users $((n + 1))"
}

down() {
    n=$(cat "$STATE/users" 2>/dev/null || echo 0)
    if [ "$n" -gt 1 ]; then
        echo $((n - 1)) > "$STATE/users"
        say "still used by $((n - 1)) other test(s); left running"
        return
    fi
    rm -f "$STATE/users"
    # Jobs first: one launched while slurmd goes away leaves an orphan slurmstepd.
    JOBS=$(squeue -h -o %i 2>/dev/null || true)
    if [ -n "$JOBS" ]; then
        # shellcheck disable=SC2086
        scancel $JOBS 2>/dev/null || true
        i=0
        while [ -n "$(squeue -h -o %i 2>/dev/null)" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
    fi
    PIDS=$(cat /run/slurm/slurmctld.pid /run/slurm/slurmd.pid 2>/dev/null || true)
    if [ -f "$STATE/munge.ours" ]; then
        PIDS="$PIDS $(cat /run/munge/munged.pid 2>/dev/null || true)"
        rm -f "$STATE/munge.ours"
    fi
    say "stopping pids:$(echo $PIDS | tr '\n' ' ')"
    # shellcheck disable=SC2086
    [ -n "$(echo $PIDS)" ] && kill $PIDS 2>/dev/null || true
    i=0
    alive_pids=""
    while [ $i -lt 200 ]; do
        alive_pids=""
        for p in $PIDS; do kill -0 "$p" 2>/dev/null && alive_pids="$alive_pids $p"; done
        [ -z "$alive_pids" ] && break
        sleep 0.05; i=$((i + 1))
    done
    if [ -n "$alive_pids" ]; then
        say "SIGKILL:$alive_pids"
        # shellcheck disable=SC2086
        kill -9 $alive_pids 2>/dev/null || true
    fi
    rm -rf /var/spool/slurmctld /var/spool/slurmd /run/slurm
    say "down"
}

cmd=${1:-}
install -d -m 0755 "$(dirname "$LOCK")"
exec 9>"$LOCK"
flock 9
case "$cmd" in
    up) up ;;
    down) down ;;
    status) sinfo; echo "users: $(cat "$STATE/users" 2>/dev/null || echo 0)" ;;
    *) echo "usage: tests/services/slurm.sh up|down|status" >&2; exit 2 ;;
esac
