#!/bin/bash
# The slurm provider against a real single-node Slurm (tests/services/slurm.sh):
# high_throughput pools started by sbatch (launcher srun), through parsl-run.
#   - a workflow runs end to end on pools inside Slurm jobs;
#   - scancel of a block from outside while its tasks run: they are retried on
#     another block and the run completes;
#   - a rejected submission (bad partition): parsl-run fails with sbatch's words;
#   - a block that reaches its --time (1 minute): TIMEOUT, replaced, run completes;
#   - max_blocks is never exceeded (the job completion log: submit..end spans).
# Needs root and slurmctld/slurmd/munge installed; when Slurm cannot start, the
# test fails (never passes silently).
# Env: CP_BUILD, CP_TEST_TIMEOUT_MULTIPLIER.
cd "$(dirname "$0")/../.." || exit 1
ROOT=$PWD
BUILD=${CP_BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
RUN=$BUILD/parsl-run
MULT=${CP_TEST_TIMEOUT_MULTIPLIER:-1}
unset CPARSL_TEMPLATE_PATH CPARSL_LOG_LEVEL CPARSL_WORKER
tmp=$(mktemp -d /tmp/cp-slurm-t.XXXXXX)
chmod 755 "$tmp"
SVC=$ROOT/tests/services/slurm.sh
up=0
cleanup() {
    # Our jobs only (their names carry this run's labels), then our use of the cluster.
    if [ $up = 1 ]; then
        ids=$(squeue -h -o '%i %j' 2>/dev/null | awk -v t="$tag" '$2 ~ t {print $1}')
        [ -n "$ids" ] && scancel $ids 2>/dev/null
        "$SVC" down >&2
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
secs() { awk -v s="$1" -v m="$MULT" 'BEGIN { printf "%d", s * m }'; }
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); echo "not ok $n - $1"; shift; for f in "$@"; do [ -f "$f" ] && sed 's/^/#   /' "$f" | tail -n 30; done; }
check() { local desc=$1; shift; if "$@"; then ok "$desc"; else nok "$desc" "$tmp/err"; fi; }
echo "1..17"

# Labels unique to this run, so job names never meet another test's.
tag="t$$"
if "$SVC" up > "$tmp/up.log" 2>&1; then
    up=1
    sed 's/^/# /' "$tmp/up.log"
    ok "Slurm is up (slurmctld, slurmd, munge)"
else
    sed 's/^/# /' "$tmp/up.log"
    nok "Slurm could not be started: every case below fails" "$tmp/up.log"
    for i in $(seq 2 17); do echo "not ok $i - no Slurm"; done
    exit 1
fi

cfg() {     # cfg FILE LABEL INIT MAX [extra provider lines]
    cat > "$1" <<EOF
retries: 2
strategy_period: 0.5
executors:
  - label: $2
    type: high_throughput
    max_workers_per_node: 1
    heartbeat_period: 1
    encrypted: false
    provider:
      type: slurm
      init_blocks: $3
      max_blocks: $4
      walltime: "00:05:00"
      exclusive: false
      status_polling_interval: 1
      launcher: srun
$5
EOF
}

# The most blocks of one label that were queued or running at the same moment,
# from the job completion log (Submit..End of every job named parsl.LABEL.*).
max_overlap() {
    grep "Name=parsl\.$1\.block-" /var/log/slurm/jobcomp.log 2>/dev/null | while read -r line; do
        s=$(echo "$line" | sed -n 's/.*SubmitTime=\([^ ]*\).*/\1/p')
        e=$(echo "$line" | sed -n 's/.*EndTime=\([^ ]*\).*/\1/p')
        echo "$(date -d "$s" +%s) 1"
        echo "$(date -d "$e" +%s) -1"
    done | sort -k1,1n -k2,2n | awk '{ c += $2; if (c > m) m = c } END { print m + 0 }'
}
# Waits until the completion log has a record of every job the run submitted.
jobs_recorded() {   # LABEL LOG
    local want got
    want=$(grep -c "submitted as job" "$2" 2>/dev/null | head -1)
    want=$(( want / 2 ))        # the slurm and htex lines
    for _ in $(seq 1 100); do
        got=$(grep -c "Name=parsl\.$1\.block-" /var/log/slurm/jobcomp.log 2>/dev/null)
        [ "${got:-0}" -ge "$want" ] && { echo "$got"; return 0; }
        sleep 0.1
    done
    echo "${got:-0}"
}

# ---------------------------------------------------------------- 2-5: end to end
mkdir -p "$tmp/e2e"
cfg "$tmp/e2e/cfg.yaml" "${tag}e" 2 2
cat > "$tmp/e2e/wf.yaml" <<'EOF'
name: slurm-e2e
apps:
  sq:
    shell: sleep 0.3; echo $(( {i} * {i} )) job=$SLURM_JOB_ID block=$PARSL_WORKER_BLOCK_ID > {outputs[0]}
  sum:
    shell: cat {inputs} | awk '{{s += $1}} END {{print s}}' > {outputs[0]}
tasks:
  sq:
    app: sq
    foreach: {i: "range(0, 16)"}
    outputs: ["out/{i}.txt"]
  sum:
    app: sum
    inputs: ["{sq[*].outputs[0]}"]
    outputs: [sum.txt]
EOF
(cd "$tmp/e2e" && timeout -k 5 "$(secs 90)" "$RUN" -q --config cfg.yaml wf.yaml >/dev/null 2>"$tmp/err")
rc=$?
check "a workflow on pools started by sbatch exits 0 (rc $rc)" [ $rc = 0 ]
check "its result is right (sum of squares 0..15 = 1240)" [ "$(cat "$tmp/e2e/sum.txt" 2>/dev/null)" = 1240 ]
jobs=$(cat "$tmp"/e2e/out/*.txt 2>/dev/null | sed -n 's/.*job=\([0-9]*\).*/\1/p' | sort -u | tr '\n' ' ')
check "the tasks ran inside Slurm jobs (SLURM_JOB_ID: $jobs)" [ -n "$jobs" ]
script=$(ls "$tmp"/e2e/runinfo/000/submit_scripts/*.submit 2>/dev/null | head -1)
check "the submit script is Parsl's shape (#SBATCH name, output, nodes, time, srun)" \
    bash -c "grep -q '^#SBATCH --job-name=parsl.${tag}e.block-0\.' '$script' && grep -q '^#SBATCH --time=5$' '$script' &&
             grep -q '^#SBATCH --output=\".*\.submit\.stdout\"' '$script' && grep -q '^srun --ntasks 1' '$script'"

# ---------------------------------------------------------------- 6-9: scancel from outside
# Tasks sleep on their first try (a marker file says which try it is; a killed
# sleep ends the try before it writes anything); block 0's
# job is cancelled while they run; their retries go to the other blocks.
mkdir -p "$tmp/cancel"
cfg "$tmp/cancel/cfg.yaml" "${tag}c" 2 2
cat > "$tmp/cancel/wf.yaml" <<'EOF'
name: slurm-cancel
apps:
  work:
    shell: if [ -e try.{i} ]; then r=retry; else touch try.{i}; r=first; sleep 6 || exit 1; fi; echo {i} $r $SLURM_JOB_ID >> done.txt
tasks:
  work:
    app: work
    foreach: {i: "range(0, 4)"}
EOF
(cd "$tmp/cancel" && timeout -k 5 "$(secs 90)" "$RUN" -q --config cfg.yaml wf.yaml >/dev/null 2>"$tmp/err") &
run=$!
victim=""
for _ in $(seq 1 300); do
    # block 0's job, once two tries have started (one per pool)
    if [ "$(ls "$tmp"/cancel/try.* 2>/dev/null | wc -l)" -ge 2 ]; then
        victim=$(squeue -h -o '%i %j %T' | awk -v n="parsl.${tag}c.block-0." 'index($2, n) == 1 && $3 == "RUNNING" {print $1}')
        [ -n "$victim" ] && break
    fi
    sleep 0.1
done
sleep 1
[ -n "$victim" ] && scancel "$victim"
wait $run
rc=$?
log=$tmp/cancel/runinfo/000/parsl.log
check "block 0's job ($victim) was cancelled from outside while its task ran" [ -n "$victim" ]
check "the run still completes (rc $rc)" [ $rc = 0 ]
count=$(awk '{print $1}' "$tmp/cancel/done.txt" 2>/dev/null | sort -u | wc -l)
retried=$(awk -v v="$victim" '$2 == "retry" && $3 != v' "$tmp/cancel/done.txt" 2>/dev/null | wc -l)
check "every task finished once ($count of 4), the killed one retried on another job ($retried retries)" \
    [ "$count" = 4 -a "$(wc -l < "$tmp/cancel/done.txt")" = 4 -a "$retried" -ge 1 ]
check "the block was seen cancelled and a new block took its place" \
    bash -c "grep -q 'block 0 (job $victim) is cancelled' '$log' && grep -q 'block 2 submitted as job' '$log'"

# ---------------------------------------------------------------- 10-11: rejected submission
mkdir -p "$tmp/bad"
cfg "$tmp/bad/cfg.yaml" "${tag}b" 1 1 "      partition: nope"
cp "$tmp/e2e/wf.yaml" "$tmp/bad/wf.yaml"
start=$(date +%s)
(cd "$tmp/bad" && timeout -k 5 "$(secs 60)" "$RUN" --config cfg.yaml wf.yaml >/dev/null 2>"$tmp/err")
rc=$?
check "a submission sbatch rejects fails the run with exit 1 within seconds (rc $rc, $(( $(date +%s) - start )) s)" \
    [ $rc = 1 -a $(( $(date +%s) - start )) -lt "$(secs 30)" ]
check "the error carries sbatch's own message" \
    bash -c "grep -q 'sbatch rejected block 0' '$tmp/err' && grep -q 'invalid partition specified: nope' '$tmp/err'"

# ---------------------------------------------------------------- 12-15: --time reached
# One block at a time, 1 minute: the first try sleeps past it; Slurm ends the
# job (TIMEOUT), the executor sees it, starts another block, the retry finishes.
mkdir -p "$tmp/tmo"
cfg "$tmp/tmo/cfg.yaml" "${tag}t" 1 1
sed -i 's/walltime: "00:05:00"/walltime: "00:00:30"/' "$tmp/tmo/cfg.yaml"
cat > "$tmp/tmo/wf.yaml" <<'EOF'
name: slurm-timeout
apps:
  long:
    shell: if [ -e try ]; then echo retried $SLURM_JOB_ID > out.txt; else echo $SLURM_JOB_ID > try; sleep 300; fi
tasks:
  long:
    app: long
EOF
start=$(date +%s)
(cd "$tmp/tmo" && timeout -k 5 "$(secs 150)" "$RUN" -q --config cfg.yaml wf.yaml >/dev/null 2>"$tmp/err")
rc=$?
took=$(( $(date +%s) - start ))
log=$tmp/tmo/runinfo/000/parsl.log
first=$(cat "$tmp/tmo/try" 2>/dev/null)
check "a block past its --time (30 s rounds up to --time=1) ends, the run completes (rc $rc, ${took} s)" [ $rc = 0 ]
check "its job $first was seen as TIMEOUT" bash -c "grep -q 'block 0 (job $first) is timeout' '$log'"
check "Slurm's own record says TIMEOUT" grep -q "JobId=$first .*JobState=TIMEOUT" /var/log/slurm/jobcomp.log
check "the retry ran in a new block ($(cat "$tmp/tmo/out.txt" 2>/dev/null))" \
    bash -c "grep -q 'block 1 submitted as job' '$log' && grep -q '^retried [0-9]' '$tmp/tmo/out.txt' && ! grep -q ' $first\$' '$tmp/tmo/out.txt'"

# ---------------------------------------------------------------- 16-17: max_blocks
rec=$(jobs_recorded "${tag}c" "$tmp/cancel/runinfo/000/parsl.log")
mc=$(max_overlap "${tag}c")
check "cancel run: $rec jobs, never more than max_blocks 2 queued or running at once ($mc)" [ "$mc" -ge 1 -a "$mc" -le 2 ]
rec=$(jobs_recorded "${tag}t" "$tmp/tmo/runinfo/000/parsl.log")
mt=$(max_overlap "${tag}t")
check "timeout run: $rec jobs, never more than max_blocks 1 at once ($mt)" [ "$rec" -ge 2 -a "$mt" = 1 ]
