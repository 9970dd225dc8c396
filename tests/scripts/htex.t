#!/bin/bash
# The high_throughput executor end to end, with real processes: parsl-run, the
# interchange in it, and parsl-worker pools started by the local provider.
#   - a workflow runs through 2 blocks, and both blocks' pools do work;
#   - native apps from a workflow's library run on the pools;
#   - kill -9 of a whole pool mid-task: with retries every task still finishes
#     exactly once, on the other block;
#   - blocks that cannot start: the run fails with each block's story, no hang;
#   - scaling: a burst takes blocks up to max_blocks, idle ones go back down;
#   - an interrupt ends the commands running on pools (TERM, then KILL).
# Env: CP_BUILD, CC, CP_TEST_TIMEOUT_MULTIPLIER.
cd "$(dirname "$0")/../.." || exit 1
ROOT=$PWD
BUILD=${CP_BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
RUN=$BUILD/parsl-run
CC=${CC:-cc}
MULT=${CP_TEST_TIMEOUT_MULTIPLIER:-1}
unset CPARSL_TEMPLATE_PATH CPARSL_LOG_LEVEL CPARSL_WORKER
tmp=$(mktemp -d)
cleanup() {
    # Pools exit when their interchange goes; make sure of it.
    pkill -9 -f "secret-file $tmp" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
secs() { awk -v s="$1" -v m="$MULT" 'BEGIN { printf "%g", s * m }'; }
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); echo "not ok $n - $1"; shift; for f in "$@"; do [ -f "$f" ] && sed 's/^/#   /' "$f" | tail -n 30; done; }
check() { local desc=$1; shift; if "$@"; then ok "$desc"; else nok "$desc" "$tmp/err"; fi; }
echo "1..27"

cfg() {     # cfg FILE BLOCKS [extra executor lines]
    cat > "$1" <<EOF
retries: ${3:-0}
executors:
  - label: htex
    type: high_throughput
    max_workers_per_node: 2
    heartbeat_period: 0.5
    encrypted: ${4:-false}
    provider:
      type: local
      init_blocks: $2
      max_blocks: $2
EOF
}

# 1-4: two blocks, both used; results right; encrypted pools too.
mkdir -p "$tmp/two"
cfg "$tmp/two/cfg.yaml" 2 0 true
cat > "$tmp/two/wf.yaml" <<'EOF'
name: two-blocks
apps:
  sq:
    shell: sleep 0.2; echo $(( {i} * {i} )) block=$PARSL_WORKER_BLOCK_ID > {outputs[0]}
  sum:
    shell: cat {inputs} | awk '{{s += $1}} END {{print s}}' > {outputs[0]}
tasks:
  sq:
    app: sq
    foreach: {i: "range(0, 24)"}
    outputs: ["out/{i}.txt"]
  sum:
    app: sum
    inputs: ["{sq[*].outputs[0]}"]
    outputs: [sum.txt]
EOF
timeout -k 5 "$(secs 120)" "$RUN" -q --config "$tmp/two/cfg.yaml" "$tmp/two/wf.yaml" >/dev/null 2>"$tmp/err"
rc=$?
check "a workflow through 2 local blocks of pools exits 0 (rc $rc)" [ $rc = 0 ]
check "its result is right (sum of squares 0..23 = 4324)" [ "$(cat "$tmp/two/sum.txt" 2>/dev/null)" = 4324 ]
blocks=$(cat "$tmp"/two/out/*.txt 2>/dev/null | sed -n 's/.*block=//p' | sort -u | tr '\n' ' ')
check "both blocks' pools ran tasks (blocks seen: $blocks)" [ "$blocks" = "0 1 " ]
check "the pools' frames were sealed (encrypted: true) and logged" \
    grep -q "registered.* GB, sealed," "$tmp/two/runinfo/000/parsl.log"
# "htex: 25 tasks in 9 TASKS frames, 25 results in 25 RESULTS frames; ..."
read -r nt nf nr nrf < <(sed -n 's/.*htex: \([0-9]*\) tasks in \([0-9]*\) TASKS frames, \([0-9]*\) results in \([0-9]*\) RESULTS frames.*/\1 \2 \3 \4/p' \
    "$tmp/two/runinfo/000/parsl.log")
check "all 25 tasks went out in fewer TASKS frames (batched: ${nt:-?} in ${nf:-?}), all 25 results came back (${nr:-?} in ${nrf:-?})" \
    [ "${nt:-0}" = 25 -a "${nr:-0}" = 25 -a "${nf:-99}" -lt 25 -a "${nrf:-99}" -le 25 ]

# 5-6: native apps from the workflow's library run on the pools.
mkdir -p "$tmp/pi"
cp examples/workflows/pi/pi.yaml examples/workflows/pi/libpi.c "$tmp/pi/"
cfg "$tmp/pi/cfg.yaml" 1
if $CC -shared -fPIC -Iinclude -o "$tmp/pi/libpi.so" "$tmp/pi/libpi.c" 2>"$tmp/err"; then
    timeout -k 5 "$(secs 120)" "$RUN" -q --config "$tmp/pi/cfg.yaml" "$tmp/pi/pi.yaml" >/dev/null 2>"$tmp/err"
    rc=$?
    check "the pi workflow (native apps from libpi.so) runs on a pool (rc $rc)" [ $rc = 0 ]
    est=$(sed -n 's/pi is about \([0-9.]*\).*/\1/p' "$tmp/pi/pi.txt" 2>/dev/null)
    check "and its estimate is near pi ($est)" awk -v e="${est:-0}" 'BEGIN { exit !(e > 3.09 && e < 3.19) }'
else
    nok "libpi.so builds" "$tmp/err"
    nok "pi on a pool"
fi

# 7-10: kill -9 of a whole pool mid-task; retries move its tasks to the other block.
mkdir -p "$tmp/kill"
cfg "$tmp/kill/cfg.yaml" 2 2
cat > "$tmp/kill/wf.yaml" <<'EOF'
name: kill-a-pool
apps:
  work:
    shell: sleep 1.5; echo {i} >> finished.txt
tasks:
  work:
    app: work
    foreach: {i: "range(0, 12)"}
EOF
timeout -k 5 "$(secs 120)" "$RUN" -q --config "$tmp/kill/cfg.yaml" "$tmp/kill/wf.yaml" >/dev/null 2>"$tmp/err" &
run=$!
victim=""
for _ in $(seq 1 100); do
    victim=$(pgrep -f "parsl-worker.*secret-file $tmp/kill.*--block-id 0" | head -n 1)
    [ -n "$victim" ] && grep -q "tasks to pool\|registered" "$tmp"/kill/runinfo/000/parsl.log 2>/dev/null && break
    sleep 0.1
done
sleep 0.7        # mid-task: every worker is inside its sleep 1.5
[ -n "$victim" ] && kill -9 "$victim"
wait $run
rc=$?
check "a pool was found and killed mid-task (pid ${victim:-none})" [ -n "$victim" ]
check "the run still succeeds with retries (rc $rc)" [ $rc = 0 ]
dups=$(sort "$tmp/kill/finished.txt" 2>/dev/null | uniq -d | tr '\n' ' ')
count=$(sort -u "$tmp/kill/finished.txt" 2>/dev/null | wc -l)
check "every task finished ($count of 12)" [ "$count" = 12 ]
check "and none finished twice (duplicates: '${dups}')" [ -z "$dups" ]

# 11-13: blocks that cannot start: a clear failure naming the blocks, not a hang.
mkdir -p "$tmp/bad"
cfg "$tmp/bad/cfg.yaml" 2
cp "$tmp/kill/wf.yaml" "$tmp/bad/wf.yaml"
start=$(date +%s)
CPARSL_WORKER=/nonexistent/parsl-worker timeout -k 5 "$(secs 60)" "$RUN" --config "$tmp/bad/cfg.yaml" \
    "$tmp/bad/wf.yaml" >/dev/null 2>"$tmp/err"
rc=$?
took=$(( $(date +%s) - start ))
check "every block failing ends the run with exit 1 (rc $rc)" [ $rc = 1 ]
check "within seconds, not a hang (${took} s)" [ "$took" -lt "$(secs 30 | cut -d. -f1)" ]
check "the task errors carry each block's story (state, exit code, stderr)" \
    bash -c "grep -q 'all 2 blocks failed' '$tmp/err' && grep -q 'block 1 (job [0-9]*): failed, exit code 1' '$tmp/err' &&
             grep -q '/nonexistent/parsl-worker: No such file' '$tmp/err'"

# 14-17: scaling. No block at first; a burst of 9 one-second tasks on pools of one
# worker takes blocks to max_blocks (3), never more; while one long task runs
# after it, htex_auto_scale gives the idle blocks back after max_idletime, down
# to min_blocks (1).
mkdir -p "$tmp/scale"
cat > "$tmp/scale/cfg.yaml" <<'EOF'
strategy: htex_auto_scale
strategy_period: 0.2
max_idletime: 1
executors:
  - label: htex
    type: high_throughput
    max_workers_per_node: 1
    heartbeat_period: 0.5
    encrypted: false
    provider:
      type: local
      init_blocks: 0
      min_blocks: 1
      max_blocks: 3
EOF
cat > "$tmp/scale/wf.yaml" <<'EOF'
name: burst
apps:
  work:
    shell: sleep 1; echo $PARSL_WORKER_BLOCK_ID > {outputs[0]}
  tail:
    shell: sleep 4; echo done > {outputs[0]}
tasks:
  work:
    app: work
    foreach: {i: "range(0, 9)"}
    outputs: ["out/{i}.txt"]
  tail:
    app: tail
    inputs: ["{work[*].outputs[0]}"]
    outputs: [tail.txt]
EOF
timeout -k 5 "$(secs 120)" "$RUN" -q --config "$tmp/scale/cfg.yaml" "$tmp/scale/wf.yaml" >/dev/null 2>"$tmp/err"
rc=$?
log=$tmp/scale/runinfo/000/parsl.log
check "the burst workflow succeeds (rc $rc)" [ $rc = 0 ]
nsub=$(grep -c "block [0-9]* submitted" "$log" 2>/dev/null)
check "blocks went up to max_blocks 3 and no further ($nsub submitted)" [ "$nsub" = 3 ]
used=$(cat "$tmp"/scale/out/*.txt 2>/dev/null | sort -u | tr '\n' ' ')
check "all 3 blocks served the burst (blocks: $used)" [ "$used" = "0 1 2 " ]
nin=$(grep -c "scaled in" "$log" 2>/dev/null)
check "idle blocks were scaled in down to min_blocks 1 while the tail ran ($nin scaled in)" [ "$nin" = 2 ]

# 18-24: an interrupt reaches what runs on the pools. Two long commands run on a
# pool of two workers (one ignores TERM), twenty more wait; SIGINT to parsl-run:
# it exits 130 within seconds, the plain command is gone at once (TERM), the
# stubborn one after the pool's grace (KILL), no waiting task ran, and the tries
# say they were interrupted.
mkdir -p "$tmp/int"
cfg "$tmp/int/cfg.yaml" 1
cat > "$tmp/int/wf.yaml" <<EOF
name: interrupt
apps:
  sleeper:
    shell: echo \$\$ > $tmp/int/sleeper.pid; exec sleep 60
  stubborn:
    shell: trap '' TERM INT; echo \$\$ > $tmp/int/stubborn.pid; while :; do sleep 0.1; done
  mark:
    shell: echo ran > {outputs[0]}
tasks:
  sleeper:
    app: sleeper
    priority: -2
  stubborn:
    app: stubborn
    priority: -1
  queued:
    app: mark
    foreach: {i: "range(0, 20)"}
    outputs: ["$tmp/int/ran/{i}.txt"]
EOF
"$RUN" --config "$tmp/int/cfg.yaml" "$tmp/int/wf.yaml" >"$tmp/int/out" 2>"$tmp/err" &
p=$!
sp="" st=""
for ((i = 0; i < $(secs 300 | cut -d. -f1); i++)); do
    sp=$(cat "$tmp/int/sleeper.pid" 2>/dev/null) st=$(cat "$tmp/int/stubborn.pid" 2>/dev/null)
    [ -n "$sp" ] && [ -n "$st" ] && break
    sleep 0.1
done
check "both long commands run on the pool (pids ${sp:-none} ${st:-none})" [ -n "$sp" -a -n "$st" ]
sleep 0.2
kill -INT "$p"
t0=$(date +%s%N)
gone_sp="" gone_st=""
for ((i = 0; i < $(secs 150 | cut -d. -f1); i++)); do
    now=$(( ($(date +%s%N) - t0) / 1000000 ))
    [ -z "$gone_sp" ] && ! kill -0 "$sp" 2>/dev/null && gone_sp=$now
    [ -z "$gone_st" ] && ! kill -0 "$st" 2>/dev/null && gone_st=$now
    [ -n "$gone_sp" ] && [ -n "$gone_st" ] && ! kill -0 "$p" 2>/dev/null && break
    sleep 0.1
done
kill -0 "$p" 2>/dev/null && kill -KILL "$p"
wait "$p"
rc=$?
check "parsl-run exits 130 (rc $rc)" [ "$rc" = 130 ]
check "the command on a pool is gone after the interrupt (${gone_sp:-never} ms)" \
    [ "${gone_sp:-99999}" -lt "$(secs 5000 | cut -d. -f1)" ]
check "the one ignoring TERM is gone too, after the grace (${gone_st:-never} ms)" \
    [ "${gone_st:-99999}" -lt "$(secs 8000 | cut -d. -f1)" ]
check "none of the 20 waiting tasks ran ($(ls "$tmp/int/ran" 2>/dev/null | wc -l) did)" \
    [ -z "$(ls -A "$tmp/int/ran" 2>/dev/null)" ]
check "the running tries failed 'interrupted: the run was interrupted'" \
    grep -q "interrupted: the run was interrupted" "$tmp/int/out" "$tmp/err"
check "the waiting ones failed 'interrupted before it started'" \
    grep -q "interrupted before it started" "$tmp/int/out" "$tmp/err"
[ -n "$sp" ] && kill -KILL "$sp" 2>/dev/null || true
[ -n "$st" ] && kill -KILL "$st" 2>/dev/null || true

# 26-27: address: auto listens on every interface and gives the pools each
# address of this host, loopback last; they reach the interchange.
mkdir -p "$tmp/auto"
cat > "$tmp/auto/cfg.yaml" <<'EOF'
executors:
  - label: htex
    type: high_throughput
    address: auto
    max_workers_per_node: 1
    provider:
      type: local
EOF
cat > "$tmp/auto/wf.yaml" <<'EOF'
name: auto
apps:
  hi:
    shell: echo hi
tasks:
  hi:
    app: hi
EOF
timeout -k 5 "$(secs 60)" "$RUN" -q --config "$tmp/auto/cfg.yaml" "$tmp/auto/wf.yaml" >/dev/null 2>"$tmp/err"
check "address: auto: the run completes on a pool" [ $? = 0 ]
check "... whose --addresses end with 127.0.0.1" \
    grep -Eq -- "--addresses '([0-9.]+,)*127\.0\.0\.1'" "$tmp"/auto/runinfo/000/parsl.log
