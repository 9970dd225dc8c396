#!/bin/bash
# What a worker pool makes of its node, and workers dying, end to end with real
# processes: parsl-run, the interchange in it, and parsl-worker pools started by
# the local provider (docs/pool-layout.md, docs/htex.md).
#   - cpu_affinity: a shell task reads its own Cpus_allowed_list and OpenMP
#     variables, and they are what its worker rank was promised (none, block,
#     block-reverse, alternating, list:…), computed here from this machine's CPUs;
#   - available_accelerators: one accelerator per worker in CUDA_VISIBLE_DEVICES,
#     ROCR_VISIBLE_DEVICES, ZE_AFFINITY_MASK, and the worker count follows them;
#   - worker counts from max_workers_per_node, cores_per_worker, mem_per_worker,
#     PARSL_CORES and PARSL_MEMORY_GB, seen from outside (the ranks a burst of tasks
#     meets, and the pool's registration line in parsl.log); a node where no
#     worker fits fails the run with the reason;
#   - kill -9 of one worker mid-task: its try fails "worker lost", the pool
#     replaces it, every task completes exactly once;
#   - kill -9 of a whole block (its process group) mid-task with 2 blocks: every
#     task completes exactly once, nothing of the block is left running.
# Env: CP_BUILD, CP_TEST_TIMEOUT_MULTIPLIER.
cd "$(dirname "$0")/../.." || exit 1
ROOT=$PWD
BUILD=${CP_BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
RUN=$BUILD/parsl-run
MULT=${CP_TEST_TIMEOUT_MULTIPLIER:-1}
unset CPARSL_TEMPLATE_PATH CPARSL_LOG_LEVEL CPARSL_WORKER PARSL_CORES PARSL_MEMORY_GB
tmp=$(mktemp -d)
bg=""       # pids of parsl-run jobs started in the background
cleanup() {
    # Pools exit when their interchange goes; make sure of it, by pid: the pools
    # and workers of this test (their argv names a secret file under $tmp) and
    # parsl-run jobs still running.
    local p
    for p in $bg; do kill -9 "$p" 2>/dev/null; done
    for p in $(pgrep -f "secret-file $tmp/" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT
secs() { awk -v s="$1" -v m="$MULT" 'BEGIN { printf "%g", s * m }'; }
isecs() { awk -v s="$1" -v m="$MULT" 'BEGIN { printf "%d", s * m + 0.999 }'; }
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); echo "not ok $n - $1"; shift; for f in "$@"; do [ -f "$f" ] && sed 's/^/#   /' "$f" | tail -n 30; done; }
skip() { n=$((n + 1)); echo "ok $n # SKIP $1"; }
check() { local desc=$1; shift; if "$@"; then ok "$desc"; else nok "$desc" "$tmp/err"; fi; }
# alive PID: a live process (not a zombie nobody reaped).
alive() { local s; s=$(ps -o stat= -p "$1" 2>/dev/null) && [ -n "$s" ] && [ "${s#Z}" = "$s" ]; }
# expand "0-2,5" -> "0,1,2,5" (order kept)
expand() {
    local out="" part a b c parts
    IFS=, read -ra parts <<< "$1"
    for part in "${parts[@]}"; do
        case $part in
            *-*) a=${part%-*}; b=${part#*-}; for ((c = a; c <= b; c++)); do out+="$c,"; done ;;
            ?*) out+="$part," ;;
        esac
    done
    echo "${out%,}"
}
sorted() { tr , '\n' | sort -n -u | paste -sd, -; }
# wait_for SECONDS COMMAND...: poll every 0.1 s until COMMAND succeeds.
wait_for() {
    local t=$(( $(isecs "$1") * 10 )); shift
    while [ $t -gt 0 ]; do "$@" && return 0; sleep 0.1; t=$((t - 1)); done
    return 1
}

# This process's CPUs, which the pools inherit (pools divide the allowed list).
cpulist=$(expand "$(sed -n 's/^Cpus_allowed_list:[[:space:]]*//p' /proc/self/status)")
IFS=, read -ra cpus <<< "$cpulist"
ncpu=${#cpus[@]}
echo "# this process may use $ncpu CPUs ($cpulist); nproc says $(nproc)"

# The executor header shared by every config here. hexec LABEL [lines...]
hexec() {
    local label=$1; shift
    printf '  - label: %s\n    type: high_throughput\n    heartbeat_period: 0.5\n    encrypted: false\n' "$label"
    local l; for l in "$@"; do printf '    %s\n' "$l"; done
}
# provider lines: hprov BLOCKS [worker_init]
hprov() {
    printf '    provider:\n      type: local\n      init_blocks: %s\n      max_blocks: %s\n' "$1" "$1"
    [ -n "$2" ] && printf '      worker_init: "%s"\n' "$2"
    return 0
}
# A task per executor: NTASKS instances of app `probe`, each writes out/LABEL-i.txt
htask() {
    printf '  %s:\n    app: probe\n    executor: %s\n    foreach: {i: "range(0, %s)"}\n' "$1" "$1" "$2"
    printf '    outputs: ["out/%s-{i}.txt"]\n' "$1"
}

##### 1. cpu_affinity (one run, one executor per mode, 2 workers each) #####
W=2
# expected MODE RANK -> the CPUs (in order) that worker RANK of W=2 is promised
expected() {
    local mode=$1 i=$2 k=$((ncpu / W)) j out=""
    case $mode in
        none) out=$cpulist ;;
        block) for ((j = k * i; j < k * (i + 1); j++)); do out+="${cpus[j]},"; done ;;
        block-reverse) expected block $((W - 1 - i)); return ;;
        alternating) for ((j = i; j < ncpu; j += W)); do out+="${cpus[j]},"; done ;;
        list) if [ "$i" = 0 ]; then out=${cpus[ncpu - 1]}; else out=$revlist; fi ;;
    esac
    echo "${out%,}"
}
revlist=$(printf '%s\n' "${cpus[@]}" | tac | paste -sd, -)       # e.g. 1,0: order matters to GOMP
listspec="list:${cpus[ncpu - 1]}:$revlist"
modes="none block block-reverse alternating list"
if [ "$ncpu" -lt 2 ]; then
    skip "the affinity workflow: needs at least 2 CPUs"
    for m in $modes; do
        skip "cpu_affinity $m: needs at least 2 CPUs, this process may use $ncpu ($cpulist)"
        skip "cpu_affinity $m OpenMP variables: needs at least 2 CPUs"
    done
else
    d=$tmp/aff; mkdir -p "$d"
    {
        echo "retries: 0"
        echo "executors:"
        for m in $modes; do
            spec=$m; [ "$m" = list ] && spec=$listspec
            hexec "aff-$m" "max_workers_per_node: $W" "cpu_affinity: \"$spec\""
            hprov 1
        done
    } > "$d/cfg.yaml"
    {
        cat <<'EOF'
name: affinity
apps:
  probe:
    shell: |
      sleep 0.4
      echo "$PARSL_WORKER_RANK $PARSL_WORKER_COUNT $(sed -n 's/^Cpus_allowed_list:[[:space:]]*//p' /proc/self/status) ${OMP_NUM_THREADS:--} ${GOMP_CPU_AFFINITY:--} ${KMP_AFFINITY:--}" > {outputs[0]}
tasks:
EOF
        for m in $modes; do htask "aff-$m" 4; done
    } > "$d/wf.yaml"
    timeout -k 5 "$(secs 60)" "$RUN" -q --config "$d/cfg.yaml" "$d/wf.yaml" >/dev/null 2>"$tmp/err"
    rc=$?
    check "the affinity workflow (an executor per mode) exits 0 (rc $rc)" [ $rc = 0 ]
    for m in $modes; do
        # every task: its CPUs are its rank's; its OpenMP variables say the same
        bad="" seen="" ompbad=""
        for f in "$d"/out/aff-"$m"-[0-9]*.txt; do
            [ -f "$f" ] || { bad+=" (no output)"; continue; }
            read -r rank count got omp gomp kmp < "$f"
            want=$(expected "$m" "$rank")
            seen+=" rank$rank=$got"
            [ "$count" = $W ] || bad+=" rank$rank: PARSL_WORKER_COUNT $count"
            [ "$(expand "$got" | sorted)" = "$(echo "$want" | sorted)" ] ||
                bad+=" rank$rank: saw $got, promised $want;"
            if [ "$m" = none ]; then
                [ "$omp$gomp$kmp" = "---" ] || ompbad+=" rank$rank: $omp $gomp $kmp (expected none)"
            else
                nwant=$(echo "$want" | tr , '\n' | wc -l)
                [ "$omp" = "$nwant" ] && [ "$gomp" = "$want" ] &&
                    [ "$kmp" = "explicit,proclist=[$want]" ] ||
                    ompbad+=" rank$rank: OMP_NUM_THREADS=$omp GOMP_CPU_AFFINITY=$gomp KMP_AFFINITY=$kmp, expected $nwant $want;"
            fi
        done
        nout=$(ls "$d"/out/aff-"$m"-[0-9]*.txt 2>/dev/null | wc -l)
        [ "$nout" = 4 ] || bad+=" $nout outputs of 4;"
        ranks=$(cat "$d"/out/aff-"$m"-[0-9]*.txt 2>/dev/null | cut -d' ' -f1 | sort -u | paste -sd' ' -)
        [ "$ranks" = "0 1" ] || bad+=" ranks seen: '$ranks', expected '0 1';"
        desc="cpu_affinity $m: each task sees its rank's promised CPUs (promised 0:$(expected "$m" 0) 1:$(expected "$m" 1);$(echo "$seen" | tr ' ' '\n' | sort -u | paste -sd' ' -))"
        [ "$m" = list ] && desc="$desc [$listspec]"
        if [ -z "$bad" ]; then ok "$desc"; else nok "$desc:$bad" "$tmp/err"; fi
        desc="cpu_affinity $m: OMP_NUM_THREADS, GOMP_CPU_AFFINITY (in the list's order), KMP_AFFINITY match"
        [ "$m" = none ] && desc="cpu_affinity none: no OpenMP variables are set"
        if [ -z "$ompbad" ]; then ok "$desc"; else nok "$desc:$ompbad"; fi
    done
fi

##### 2-3. accelerators and worker counts (one run, one executor each) #####
# label | settings (;-separated) | worker_init | expected workers | accelerator of rank i (space-separated, "-": none)
d=$tmp/cnt; mkdir -p "$d"
cases=(
    "acc-list|available_accelerators: [\"gpu-a\", \"gpu-b\"]|export PARSL_CORES=8|2|gpu-a gpu-b"
    "acc-count|available_accelerators: 3|export PARSL_CORES=8|3|0 1 2"
    "acc-multi|available_accelerators: [\"0,1\"]||1|0,1"
    "acc-fewcores|available_accelerators: 4|export PARSL_CORES=2|2|0 1"
    "cnt-default|||$ncpu|-"
    "cnt-max|max_workers_per_node: 3|export PARSL_CORES=8|3|-"
    "cnt-cores|cores_per_worker: 2|export PARSL_CORES=7|3|-"
    "cnt-half|cores_per_worker: 0.5|export PARSL_CORES=3|6|-"
    "cnt-mem|mem_per_worker: 1.5|export PARSL_CORES=16 PARSL_MEMORY_GB=4.5|3|-"
    "cnt-memfrac|mem_per_worker: 0.1|export PARSL_CORES=16 PARSL_MEMORY_GB=0.7|7|-"
    "cnt-all|max_workers_per_node: 5; cores_per_worker: 1; mem_per_worker: 2|export PARSL_CORES=4 PARSL_MEMORY_GB=9|4|-"
)
{
    echo "retries: 0"
    echo "executors:"
    for c in "${cases[@]}"; do
        IFS='|' read -r label settings init want accs <<< "$c"
        lines=()
        IFS=';' read -ra parts <<< "$settings"
        for p in "${parts[@]}"; do lines+=("${p# }"); done
        hexec "$label" "${lines[@]}"
        hprov 1 "$init"
    done
} > "$d/cfg.yaml"
{
    cat <<'EOF'
name: counts
apps:
  probe:
    shell: |
      sleep 0.5
      echo "$PARSL_WORKER_RANK $PARSL_WORKER_COUNT ${CUDA_VISIBLE_DEVICES-unset} ${ROCR_VISIBLE_DEVICES-unset} ${ZE_AFFINITY_MASK-unset} ${ZE_ENABLE_PCI_ID_DEVICE_ORDER-unset}" > {outputs[0]}
tasks:
EOF
    for c in "${cases[@]}"; do
        IFS='|' read -r label settings init want accs <<< "$c"
        htask "$label" $((2 * want))
    done
} > "$d/wf.yaml"
timeout -k 5 "$(secs 60)" "$RUN" -q --config "$d/cfg.yaml" "$d/wf.yaml" >/dev/null 2>"$tmp/err"
rc=$?
check "the accelerator and worker-count workflow (${#cases[@]} executors) exits 0 (rc $rc)" [ $rc = 0 ]
log=$d/runinfo/000/parsl.log
for c in "${cases[@]}"; do
    IFS='|' read -r label settings init want accs <<< "$c"
    what="${settings:-defaults}${init:+, $init}"
    # from outside: the ranks that a burst of 2W sleeping tasks met, and PARSL_WORKER_COUNT
    ranks=$(cat "$d"/out/"$label"-[0-9]*.txt 2>/dev/null | cut -d' ' -f1 | sort -n -u | paste -sd' ' -)
    counts=$(cat "$d"/out/"$label"-[0-9]*.txt 2>/dev/null | cut -d' ' -f2 | sort -u | paste -sd' ' -)
    check "$label ($what): $want worker(s): tasks met ranks '$ranks' (PARSL_WORKER_COUNT $counts)" \
        [ "$ranks" = "$(seq -s' ' 0 $((want - 1)))" -a "$counts" = "$want" ]
    reg=$(grep -o "$label: pool [^ ]* registered .* [0-9]* workers," "$log" 2>/dev/null |
          sed 's/.* \([0-9]*\) workers,/\1/' | paste -sd' ' -)
    check "$label: the pool registered $want worker(s) (parsl.log: '$reg')" [ "$reg" = "$want" ]
    # accelerators: rank i gets name i in all three variables (+ the PCI order flag)
    bad="" seen=""
    IFS=' ' read -ra acc <<< "$accs"
    for f in "$d"/out/"$label"-[0-9]*.txt; do
        [ -f "$f" ] || continue
        read -r rank count cuda rocr ze zeorder < "$f"
        if [ "$accs" = - ]; then
            [ "$cuda $rocr $ze $zeorder" = "unset unset unset unset" ] || bad+=" rank$rank: $cuda $rocr $ze $zeorder;"
        else
            a=${acc[rank]}
            seen+=" $rank=$cuda"
            [ "$cuda $rocr $ze $zeorder" = "$a $a $a 1" ] ||
                bad+=" rank$rank: CUDA=$cuda ROCR=$rocr ZE=$ze ZE_ORDER=$zeorder, expected $a;"
        fi
    done
    if [ "$accs" = - ]; then
        desc="$label: no accelerator variables without available_accelerators"
    else
        desc="$label: each worker has its own accelerator ($(echo "$seen" | tr ' ' '\n' | sort -u | paste -sd' ' -))"
    fi
    if [ -z "$bad" ]; then ok "$desc"; else nok "$desc:$bad"; fi
done
# The pool log says where the numbers came from.
check "the pool log names the overrides it used (cnt-half: cores 3 (PARSL_CORES) / 0.5 = 6)" \
    grep -q "6 workers = .*cores 3 (PARSL_CORES) / 0.5 = 6" "$d"/runinfo/000/cnt-half/block-0/pool-*.log
check "and the memory override (cnt-mem: memory 4.5 GB (PARSL_MEMORY_GB) / 1.5 GB = 3)" \
    grep -q "3 workers = .*memory 4.5 GB (PARSL_MEMORY_GB) / 1.5 GB = 3" "$d"/runinfo/000/cnt-mem/block-0/pool-*.log

# A node where no worker fits: the run fails at once with the pool's reason.
d=$tmp/nofit; mkdir -p "$d"
{ echo "executors:"; hexec nofit "mem_per_worker: 64"; hprov 1 "export PARSL_MEMORY_GB=16"; } > "$d/cfg.yaml"
printf 'name: nofit\napps:\n  probe:\n    shell: "true"\ntasks:\n  t:\n    app: probe\n' > "$d/wf.yaml"
start=$(date +%s)
timeout -k 5 "$(secs 60)" "$RUN" -q --config "$d/cfg.yaml" "$d/wf.yaml" >/dev/null 2>"$tmp/err"
rc=$?
took=$(( $(date +%s) - start ))
check "mem_per_worker 64 on a 16 GB node (PARSL_MEMORY_GB): the run fails (rc $rc) in ${took} s, not a hang" \
    [ $rc = 1 -a "$took" -lt "$(isecs 30)" ]
check "and the error says why: no worker fits … 64 GB … 16 GB available (PARSL_MEMORY_GB)" \
    grep -q "no worker fits on this node: mem_per_worker is 64 GB but the node has 16 GB available (PARSL_MEMORY_GB)" "$tmp/err"

##### 4. kill -9 of one worker process mid-task #####
d=$tmp/kw; mkdir -p "$d"
{
    echo "retries: 2"; echo "executors:"
    hexec htex "max_workers_per_node: 2"
    hprov 1 "export PARSL_CORES=2"          # 2 workers even on a 1-CPU machine
} > "$d/cfg.yaml"
cat > "$d/wf.yaml" <<'EOF'
name: kill-a-worker
apps:
  work:
    shell: 'echo "start {i} $PARSL_WORKER_RANK $$" >> starts.txt; sleep 1; echo "done {i}" >> done.txt'
tasks:
  work:
    app: work
    foreach: {i: "range(0, 6)"}
EOF
start=$(date +%s)
timeout -k 5 "$(secs 60)" "$RUN" --config "$d/cfg.yaml" "$d/wf.yaml" >/dev/null 2>"$tmp/kw.err" &
run=$!; bg="$bg $run"
log=$d/runinfo/000/parsl.log
pool="" victim="" vtask="" vshell="" left=""
if wait_for 20 grep -qs " registered from " "$log"; then
    pool=$(sed -n 's/.* registered from .* pid \([0-9]*\),.*/\1/p' "$log" | head -n 1)
    # a worker of the pool that runs a task that has really started (its "start" line)
    worker_task() {
        local w t
        for w in $(ps -o pid= --ppid "$pool"); do
            t=$(ps -o args= --ppid "$w" | sed -n 's/.*echo "start \([0-9]*\) .*/\1/p' | head -n 1)
            if [ -n "$t" ] && grep -q "^start $t " "$d/starts.txt" 2>/dev/null; then
                victim=$w vtask=$t; return 0
            fi
        done
        return 1
    }
    if wait_for 10 worker_task; then
        sleep 0.3                       # mid-task: the task sleeps 1 s
        vshell=$(sed -n "s/^start $vtask [0-9]* \([0-9]*\)$/\1/p" "$d/starts.txt" | head -n 1)
        kill -9 "$victim"
        sleep 0.5
        alive "$pool" && poolalive=yes || poolalive=no
        left=$(ps -o pid= --ppid "$pool" | tr -d ' ' | paste -sd' ' -)
    fi
fi
wait $run
rc=$?
took=$(( $(date +%s) - start ))
cp "$tmp/kw.err" "$tmp/err"
check "a worker (pid ${victim:-none}) of pool ${pool:-none} was killed mid-task (task ${vtask:-none}), not the pool (alive: ${poolalive:-?})" \
    [ -n "$victim" -a "$victim" != "$pool" -a "${poolalive:-}" = yes ]
check "the pool replaced it: 2 workers again, the killed one gone (workers: $left)" \
    bash -c "set -- $left; [ \$# = 2 ] && [ \"\$1\" != '$victim' ] && [ \"\$2\" != '$victim' ]"
check "the killed worker's shell command was killed too (pid ${vshell:-none})" \
    bash -c "[ -n '$vshell' ] && ! ps -o stat= -p '$vshell' 2>/dev/null | grep -qv '^Z'"
check "the run exits 0 with retries (rc $rc) within the timeout (${took} s)" [ $rc = 0 ]
dups=$(sort "$d/done.txt" 2>/dev/null | uniq -d | paste -sd' ' -)
count=$(sort -u "$d/done.txt" 2>/dev/null | wc -l)
check "every task completed ($count of 6 'done' lines)" [ "$count" = 6 ]
check "and none completed twice (duplicates: '$dups')" [ -z "$dups" ]
nst=$(grep -c "^start ${vtask:-x} " "$d/starts.txt" 2>/dev/null)
check "the killed task started twice (the killed try and its retry: $nst)" [ "$nst" = 2 ]
check "its failed try says 'worker lost: SIGKILL' (task ${vtask:-none}, try 0)" \
    grep -q "fail_retryable (task ${vtask:-x}, try 0): .*worker lost: SIGKILL" "$tmp/kw.err"
check "the pool logged the death and stayed the only pool (one registration)" \
    bash -c "grep -q 'worker [0-9]* (pid $victim) ended: SIGKILL while running a task' '$d'/runinfo/000/htex/block-0/pool-*.log &&
             [ \$(grep -c ' registered from ' '$log') = 1 ]"

##### 5. kill -9 of a whole block (its process group) mid-task, 2 blocks #####
d=$tmp/kb; mkdir -p "$d"
{
    echo "retries: 2"; echo "executors:"
    hexec htex "max_workers_per_node: 2"
    hprov 2 "export PARSL_CORES=2"
} > "$d/cfg.yaml"
cat > "$d/wf.yaml" <<'EOF'
name: kill-a-block
apps:
  work:
    shell: 'echo "start {i} $PARSL_WORKER_BLOCK_ID $$" >> starts.txt; sleep 1; echo "done {i} $PARSL_WORKER_BLOCK_ID" >> done.txt'
tasks:
  work:
    app: work
    foreach: {i: "range(0, 8)"}
EOF
start=$(date +%s)
timeout -k 5 "$(secs 60)" "$RUN" --config "$d/cfg.yaml" "$d/wf.yaml" >/dev/null 2>"$tmp/kb.err" &
run=$!; bg="$bg $run"
log=$d/runinfo/000/parsl.log
job="" bpool="" members="" killed_tasks="" leftover="?"
two_pools() { [ "$(grep -c ' registered from ' "$log" 2>/dev/null)" = 2 ]; }
b0_running() { grep -q "^start [0-9]* 0 " "$d/starts.txt" 2>/dev/null; }
if wait_for 20 two_pools && wait_for 10 b0_running; then
    job=$(sed -n 's/.*block 0 started as job \([0-9]*\) .*/\1/p' "$log" | head -n 1)
    bpool=$(sed -n 's/.* registered from .* block 0, pid \([0-9]*\),.*/\1/p' "$log" | head -n 1)
    members=$(ps -o pid= -g "$job" | tr -d ' ' | paste -sd' ' -)
    sleep 0.3                                   # mid-task: tasks sleep 1 s
    b0shells=$(sed -n 's/^start [0-9]* 0 \([0-9]*\)$/\1/p' "$d/starts.txt" | paste -sd' ' -)
    killed_tasks=$(sed -n 's/^start \([0-9]*\) 0 .*/\1/p' "$d/starts.txt" | paste -sd' ' -)
    b0workers=$(ps -o pid= --ppid "$bpool" | tr -d ' ' | paste -sd' ' -)
    kill -9 -- "-$job"
    # Nothing of block 0 may live on: its pool, its workers (each in its own
    # group: they go with the pool), and the task commands they ran.
    b0_gone() {
        local p
        for p in $bpool $b0workers $b0shells; do alive "$p" && return 1; done
        return 0
    }
    if wait_for 3 b0_gone; then leftover=""; else
        leftover=$(for p in $bpool $b0workers $b0shells; do alive "$p" && ps -o pid=,args= -p "$p"; done)
    fi
fi
wait $run
rc=$?
took=$(( $(date +%s) - start ))
cp "$tmp/kb.err" "$tmp/err"
check "block 0 (process group ${job:-none}, pool ${bpool:-none} in it: $members) was killed mid-task (tasks ${killed_tasks:-none})" \
    bash -c "[ -n '$job' ] && [ -n '$killed_tasks' ] && echo ' $members ' | grep -q ' $bpool '"
check "nothing of block 0 outlived it: pool, workers (${b0workers:-none}), task commands (${b0shells:-none})" \
    [ -z "$leftover" ]
[ -n "$leftover" ] && echo "$leftover" | sed 's/^/#   still alive: /'
check "the run exits 0 with retries (rc $rc), no hang (${took} s)" [ $rc = 0 ]
dups=$(cut -d' ' -f2 "$d/done.txt" 2>/dev/null | sort | uniq -d | paste -sd' ' -)
count=$(cut -d' ' -f2 "$d/done.txt" 2>/dev/null | sort -u | wc -l)
check "every task completed ($count of 8 'done' lines)" [ "$count" = 8 ]
check "and none completed twice (duplicates: '$dups')" [ -z "$dups" ]
b0done=$(grep -c " 0$" "$d/done.txt" 2>/dev/null)
check "no task completed on the killed block ($b0done 'done' lines from block 0)" [ "$b0done" = 0 ]
lost=""
for t in $killed_tasks; do
    grep -q "fail_retryable (task $t, try 0): .*pool lost: .*(block 0)" "$tmp/kb.err" || lost+=" $t"
done
check "each killed task's try failed 'pool lost … (block 0)' and was retried (missing:${lost:- none})" \
    [ -n "$killed_tasks" -a -z "$lost" ]

##### the end: nothing of any run is left running #####
stray() {
    local p
    for p in $(pgrep -f "secret-file $tmp/" 2>/dev/null); do alive "$p" && return 1; done
    return 0
}
wait_for 5 stray
check "no pool or worker of any run here is left running" stray
echo "1..$n"
