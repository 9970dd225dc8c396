#!/bin/bash
# The `torque` and `pbspro` providers against Slurm's Torque wrappers (qsub, qstat,
# qdel of Debian's slurm-wlm-torque) on the real single-node Slurm that
# tests/services/slurm.sh starts (and shares, counted, with slurm.t):
#   - a workflow through parsl-run on a high_throughput executor with a torque
#     provider: submitted, polled, and its block qdel'd from outside mid-run: the
#     lost tasks are retried on a new block and the run completes; Slurm shows
#     the #PBS lines were honoured;
#   - the provider's own submit/status/cancel (pbs_drive.c) on both types: a
#     cancelled block, an ended one with its output tails, an unknown id missing;
#   - pbspro: the wrappers' qstat has neither -x nor -F json, so the provider
#     steps down to `qstat -f` text, says so, and the workflow runs;
#   - a submission Slurm refuses fails the run with qsub's own message.
# What the wrappers cannot show (PBS Pro's JSON, Exit_status, history) is in
# tests/unit/provider_pbs.c. Fails (never skips) when Slurm cannot be started.
# Env: CP_BUILD, CC, CP_SAN, CP_TEST_TIMEOUT_MULTIPLIER.
cd "$(dirname "$0")/../.." || exit 1
ROOT=$PWD
BUILD=${CP_BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
RUN=$BUILD/parsl-run
CC=${CC:-cc}
MULT=${CP_TEST_TIMEOUT_MULTIPLIER:-1}
unset CPARSL_TEMPLATE_PATH CPARSL_LOG_LEVEL CPARSL_WORKER
PATH=$PATH:/usr/sbin
echo "1..25"
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); echo "not ok $n - $1"; shift; for f in "$@"; do [ -f "$f" ] && sed 's/^/#   /' "$f" | tail -n 30; done; }
check() { local desc=$1; shift; if "$@"; then ok "$desc"; else nok "$desc" "$tmp/err"; fi; }
secs() { awk -v s="$1" -v m="$MULT" 'BEGIN { printf "%g", s * m }'; }

tmp=$(mktemp -d)
up=0
cleanup() {
    # Our jobs only (their names), then our share of the cluster.
    for j in $(squeue -h -o '%i %j' 2>/dev/null | awk -v t="$tmp" '$2 ~ /^(parsl|drive)\./ {print $1}'); do
        scontrol show job "$j" 2>/dev/null | grep -q "WorkDir=$tmp" && scancel "$j" 2>/dev/null
    done
    [ $up = 1 ] && tests/services/slurm.sh down 2>&1 | sed 's/^/# /'
    rm -rf "$tmp"
}
trap cleanup EXIT

# 1: the cluster, started for real; a failure to start fails the test.
if tests/services/slurm.sh up >"$tmp/up" 2>&1; then
    up=1
    sed 's/^/# /' "$tmp/up"
    ok "Slurm is up (tests/services/slurm.sh up)"
else
    nok "Slurm is up (tests/services/slurm.sh up)" "$tmp/up"
    echo "Bail out! Slurm could not be started: the Torque wrappers need it"
    exit 1
fi
# 2: the wrappers, talking to it.
if command -v qsub >/dev/null && command -v qstat >/dev/null && command -v qdel >/dev/null &&
   qstat -Q >"$tmp/err" 2>&1; then
    ok "Slurm's Torque wrappers are installed and answer ($(command -v qsub))"
else
    nok "Slurm's Torque wrappers are installed and answer (apt-get install slurm-wlm-torque)" "$tmp/err"
    echo "Bail out! no Torque wrappers"
    exit 1
fi

cfg() {     # cfg FILE TYPE EXTRA-PROVIDER-LINES
    cat > "$1" <<EOF
retries: 3
executors:
  - label: htex
    type: high_throughput
    max_workers_per_node: 2
    heartbeat_period: 0.5
    provider:
      type: $2
      queue: debug
      init_blocks: 1
      max_blocks: 1
      walltime: "00:05:00"
      launcher: simple
      status_polling_interval: 0.5
$3
EOF
}
wf() {      # wf FILE TASKS SECONDS
    cat > "$1" <<EOF
name: pbs-wf
apps:
  sq:
    shell: sleep $3; echo \$(( {i} * {i} )) block=\$PARSL_WORKER_BLOCK_ID job=\$SLURM_JOB_ID > {outputs[0]}
tasks:
  sq:
    app: sq
    foreach: {i: "range(0, $2)"}
    outputs: ["out/{i}.txt"]
EOF
}
sum_of() { cat "$1"/out/*.txt 2>/dev/null | awk '{s += $1} END {print s + 0}'; }

# 3-11: torque, with block 0 qdel'd from outside while its tasks run.
d=$tmp/torque
mkdir -p "$d"
cfg "$d/cfg.yaml" torque ""
wf "$d/wf.yaml" 10 1.5
t0=$(date +%s)
(cd "$d" && timeout -k 5 "$(secs 90)" "$RUN" -q --config cfg.yaml wf.yaml >"$d/out.txt" 2>&1; echo $? >"$d/rc") &
job=""
for _ in $(seq 1 300); do
    job=$(sed -n 's/.*htex: block 0 (job \([0-9]*\)) is running.*/\1/p' "$d/runinfo/000/parsl.log" 2>/dev/null | head -n 1)
    [ -n "$job" ] && ls "$d"/out/*.txt >/dev/null 2>&1 && break
    sleep 0.1
done
[ -n "$job" ] && qdel "$job"
wait
rc=$(cat "$d/rc" 2>/dev/null)
cp "$d/out.txt" "$tmp/err"
check "torque: block 0 ran (job ${job:-none}) and was qdel'd from outside mid-run" [ -n "$job" ]
check "torque: the run still completes, exit 0 (rc $rc, $(( $(date +%s) - t0 )) s)" [ "$rc" = 0 ]
check "torque: every task's result is right (sum of squares 0..9 = 285)" [ "$(sum_of "$d")" = 285 ]
blocks=$(sed -n 's/.*block=\([0-9]*\).*/\1/p' "$d"/out/*.txt 2>/dev/null | sort -u | tr '\n' ' ')
check "torque: tasks ran on block 0 and, after the qdel, on block 1 (blocks: $blocks)" [ "$blocks" = "0 1 " ]
cp "$d/runinfo/000/parsl.log" "$tmp/err" 2>/dev/null
check "torque: the lost tasks were retried" grep -q "retrying" "$d/runinfo/000/parsl.log"
check "torque: the executor saw block 0 end and started another" \
    grep -q "block 0 (job $job) is completed" "$d/runinfo/000/parsl.log"
# What Slurm made of the script's #PBS lines (the wrapper hands them to sbatch).
scontrol show job "$job" >"$tmp/err" 2>&1
check "torque: Slurm ran the job as the script said (-N name, -q debug, walltime 5 min, 1 node)" \
    sh -c "grep -q 'JobName=parsl.htex.block-0\.' '$tmp/err' && grep -q 'Partition=debug' '$tmp/err' &&
           grep -q 'TimeLimit=00:05:00' '$tmp/err' && grep -q 'NumNodes=1 ' '$tmp/err'"
check "torque: its output went where the provider said (qsub -o)" \
    grep -q "StdOut=$d/runinfo/000/submit_scripts/parsl.htex.block-0\..*\.submit\.stdout" "$tmp/err"
check "torque: the script carries #PBS -l nodes=1:ppn=1 and the walltime" \
    sh -c "grep -q '^#PBS -l nodes=1:ppn=1\$' '$d'/runinfo/000/submit_scripts/parsl.htex.block-0.*.submit &&
           grep -q '^#PBS -l walltime=00:05:00\$' '$d'/runinfo/000/submit_scripts/parsl.htex.block-0.*.submit"

# 12-20: the provider's own operations, on both types.
san=""
[ -n "${CP_SAN:-}" ] && san="-fsanitize=$CP_SAN -fno-sanitize-recover=all"
# shellcheck disable=SC2046,SC2086
if $CC -std=gnu11 -Wall -Wextra -Werror $san -Iinclude -I. -D_GNU_SOURCE tests/scripts/pbs_drive.c \
       "$BUILD/libcparsl.a" $(pkg-config --libs libuv msgpack libsodium yaml-0.1 sqlite3 libssh jansson) \
       -pthread -ldl -lm -o "$tmp/pbs_drive" 2>"$tmp/err"; then
    ok "pbs_drive.c builds against the library"
else
    nok "pbs_drive.c builds against the library" "$tmp/err"
fi
for type in torque pbspro; do
    d=$tmp/drive-$type
    mkdir -p "$d"
    printf 'type: %s\nqueue: debug\nwalltime: "00:02:00"\n' "$type" >"$d/p.yaml"
    (cd "$d" && timeout -k 5 "$(secs 60)" "$tmp/pbs_drive" p.yaml run >"$d/out" 2>"$tmp/err")
    drc=$?
    sed 's/^/# /' "$d/out"
    a=$(sed -n 's/^id A //p' "$d/out")
    check "$type: submit, status, cancel through the provider (rc $drc; A running, then cancelled at once)" \
        sh -c "[ $drc = 0 ] && grep -qx 'A running' '$d/out' && grep -qx 'cancel 0 yes' '$d/out' &&
               grep -qx 'A cancelled' '$d/out'"
    st=$(scontrol show job "$a" 2>/dev/null | sed -n 's/.*JobState=\([A-Z]*\).*/\1/p')
    check "$type: Slurm says the cancelled block's job $a is CANCELLED (got ${st:-nothing})" [ "$st" = CANCELLED ]
    # The wrappers give no exit status: an ended job is 'C', taken as completed.
    check "$type: an ended block is terminal with its output tails read over the channel" \
        sh -c "grep -qx 'B completed -1' '$d/out' && grep -qx 'B stdout to stdout' '$d/out' &&
               grep -qx 'B stderr to stderr' '$d/out'"
    check "$type: an id the server does not know is missing, not completed" \
        grep -qx 'missing missing' "$d/out"
done

# 21-23: pbspro through the same wrappers: the qstat fallback, then a whole run.
d=$tmp/pbspro
mkdir -p "$d"
cfg "$d/cfg.yaml" pbspro "      cpus_per_node: 1"
wf "$d/wf.yaml" 4 0.3
(cd "$d" && timeout -k 5 "$(secs 60)" "$RUN" -q --config cfg.yaml wf.yaml >"$tmp/err" 2>&1)
rc=$?
check "pbspro: a workflow runs through the wrappers (rc $rc)" \
    sh -c "[ $rc = 0 ] && [ \"\$(cat '$d'/out/*.txt | awk '{s += \$1} END {print s}')\" = 14 ]"
cp "$d/runinfo/000/parsl.log" "$tmp/err" 2>/dev/null
check "pbspro: qstat -x -f -F json is refused by the wrapper, and the provider says so" \
    grep -q "'qstat -x -f -F json' is refused (Unknown option: x" "$d/runinfo/000/parsl.log"
check "pbspro: ... and steps down to plain qstat -f text" \
    grep -q "asking 'qstat -f' from now on" "$d/runinfo/000/parsl.log"

# 24-25: a submission Slurm refuses: the run fails at once with qsub's message.
d=$tmp/bad
mkdir -p "$d"
cfg "$d/cfg.yaml" torque ""
sed -i 's/queue: debug/queue: nosuch/' "$d/cfg.yaml"
wf "$d/wf.yaml" 2 0
(cd "$d" && timeout -k 5 "$(secs 60)" "$RUN" -q --config cfg.yaml wf.yaml >"$tmp/err" 2>&1)
rc=$?
check "torque: a queue Slurm does not have fails the run (rc $rc)" [ "$rc" = 1 ]
check "torque: ... with qsub's own message (Invalid partition name specified)" \
    sh -c "grep -q 'qsub rejected block 0' '$tmp/err' && grep -q 'Invalid partition name specified' '$tmp/err'"
