#!/usr/bin/env bash
# bench/monitoring.sh — what monitoring and checkpoints cost (issue 6):
#   - W1 (100,000 no-op native tasks through bench/engine `burst`) on the default
#     high_throughput config and on thread_pool, with and without the monitoring
#     database; the time until the last result and the time cp_shutdown then takes
#     to write the rest of the rows, separately and together;
#   - the CPU time every process of the run used (perf stat task-clock, when perf
#     is installed): what the two cores had to share;
#   - 4,000 tasks of 1 ms each (bench/engine sleep) on high_throughput, with and
#     without monitoring: the overhead where tasks do some work;
#   - the database's size per task, scaled to 1M tasks;
#   - a 2,000-task shell workflow through parsl-run with checkpoint: task_exit
#     (parsl-run's default) and checkpoint: none.
# Prints one markdown report (medians of REPS) on stdout; progress on stderr.
#
#   bench/monitoring.sh > bench/results/monitoring-$(date +%F).md
#
# Environment: REPS (default 3), N (default 100000), TMPDIR, BUILD (default build).
set -u
cd "$(dirname "$0")/.." || exit 2
ROOT=$(pwd)
REPS=${REPS:-3}
N=${N:-100000}
BUILD=${BUILD:-build}
E=$ROOT/$BUILD/bench/engine
RUN=$ROOT/$BUILD/parsl-run
echo "monitoring.sh: building (make bench bin)" >&2
make -s bench bin >&2 || { echo "monitoring.sh: make failed" >&2; exit 2; }
export CPARSL_WORKER=$ROOT/$BUILD/parsl-worker
WORK=$(mktemp -d "${TMPDIR:-/tmp}/cparsl-mon-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK" || exit 2
cat > htex.yaml <<'YAML'
executors:
  - label: htex
    type: high_throughput
    max_workers_per_node: 2
    provider:
      type: local
      init_blocks: 1
      max_blocks: 1
YAML
{ echo "monitoring: {db: $WORK/htex-mon.db}"; cat htex.yaml; } > htex-mon.yaml

med() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print "n/a" }'; }
field() { grep -o "\"$1\":[0-9.]*" | head -1 | cut -d: -f2; }

# CPU seconds of a command and everything it started, when perf is there.
PERF=$(command -v perf || true)
cpu_of() {
    if [ -n "$PERF" ]; then
        "$PERF" stat -x, -e task-clock -o "$WORK/perf.txt" "$@"
        local rc=$?
        awk -F, '/task-clock/ { printf "%.3f\n", $1 / 1000 }' "$WORK/perf.txt" >> "$WORK/cpu.now"
        return $rc
    fi
    "$@"
}

# one VARIANT: runs bench/engine burst N and appends "total shutdown cpu" to VARIANT.txt.
one() {
    local variant=$1; shift
    rm -rf runinfo ./*.db ./*.db-* "$WORK/cpu.now"
    local out
    out=$(cpu_of env "$@" "$E" burst "$N" 2>>"$WORK/err") || { echo "monitoring.sh: $variant failed" >&2; return; }
    echo "$(echo "$out" | field total_s) $(echo "$out" | field shutdown_s) $(cat "$WORK/cpu.now" 2>/dev/null || echo n/a)" >> "$variant.txt"
    [ -f mon.db ] && stat -c %s mon.db >> "$variant.size"
    [ -f htex-mon.db ] && stat -c %s htex-mon.db >> "$variant.size"
}
# 1 ms tasks: bench/engine sleep's "seconds" (submit to the last result).
SLEEP_N=${SLEEP_N:-4000}
sleepy() {
    local variant=$1; shift
    rm -rf runinfo ./*.db ./*.db-*
    local out
    out=$(env "$@" "$E" sleep "$SLEEP_N" 1 2>>"$WORK/err") || { echo "monitoring.sh: $variant failed" >&2; return; }
    echo "$out" | field seconds >> "$variant.txt"
}
for r in $(seq 1 "$REPS"); do
    echo "monitoring.sh: rep $r of $REPS" >&2
    one tp-off
    one tp-on CPARSL_BENCH_MONITOR="$WORK/mon.db"
    one htex-off CPARSL_BENCH_CONFIG="$WORK/htex.yaml"
    one htex-on CPARSL_BENCH_CONFIG="$WORK/htex-mon.yaml"
    sleepy ms-off CPARSL_BENCH_CONFIG="$WORK/htex.yaml"
    sleepy ms-on CPARSL_BENCH_CONFIG="$WORK/htex-mon.yaml"
done

# The checkpoint cost on a shell workflow.
cat > wf.yaml <<'YAML'
name: ck
apps:
  a:
    shell: "echo {i} > {outputs[0]}"
tasks:
  a:
    app: a
    foreach: {i: "range(0, 2000)"}
    outputs: ["out/a{i}.txt"]
YAML
printf 'checkpoint: none\n' > none.yaml
printf 'checkpoint: task_exit\n' > exit.yaml
for r in $(seq 1 "$REPS"); do
    for c in none exit; do
        rm -rf runinfo out
        s=$(date +%s.%N)
        "$RUN" -q --config "$c.yaml" wf.yaml 2>>"$WORK/err" || echo "monitoring.sh: workflow ($c) failed" >&2
        e=$(date +%s.%N)
        awk -v s="$s" -v e="$e" 'BEGIN { printf "%.3f\n", e - s }' >> "wf-$c.txt"
    done
done

row() {
    local v=$1
    local t s c
    t=$(cut -d' ' -f1 "$v.txt" | med)
    s=$(cut -d' ' -f2 "$v.txt" | med)
    c=$(cut -d' ' -f3 "$v.txt" | grep -v n/a | med)
    echo "$t $s $(awk -v t="$t" -v s="$s" 'BEGIN { printf "%.3f", t + s }') $c"
}
read -r tpo_t tpo_s tpo_all tpo_c <<<"$(row tp-off)"
read -r tpn_t tpn_s tpn_all tpn_c <<<"$(row tp-on)"
read -r hxo_t hxo_s hxo_all hxo_c <<<"$(row htex-off)"
read -r hxn_t hxn_s hxn_all hxn_c <<<"$(row htex-on)"
mso=$(med < ms-off.txt)
msn=$(med < ms-on.txt)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
size=$(cat htex-on.size 2>/dev/null | med)
wfn=$(med < wf-none.txt)
wfe=$(med < wf-exit.txt)

cat <<MD
# Monitoring and checkpoint overhead — $(date +%F)

Machine: $(nproc) CPUs ($(awk -F: '/model name/ {gsub(/^ +/, "", $2); print $2; exit}' /proc/cpuinfo)),
$(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo), $(uname -sr). Commit $(git -C "$ROOT" rev-parse --short HEAD).
Command: \`bench/monitoring.sh\` (REPS=$REPS, N=$N). Medians. Times in seconds.

## W1 with and without the monitoring database

"to last result" is bench/engine's \`total_s\` (submit to the last future done);
"shutdown" is \`cp_shutdown\`, which waits for the writer to commit every row;
"CPU" is the CPU time of every process of the run (engine, writer, interchange,
pool, workers; perf stat task-clock), which the $(nproc) CPUs share.

| executor | monitoring | to last result | shutdown | together | ratio (together) | CPU s |
|---|---|---|---|---|---|---|
| thread_pool | off | $tpo_t | $tpo_s | $tpo_all | 1 | $tpo_c |
| thread_pool | on | $tpn_t | $tpn_s | $tpn_all | $(ratio "$tpn_all" "$tpo_all") | $tpn_c |
| high_throughput | off | $hxo_t | $hxo_s | $hxo_all | 1 | $hxo_c |
| high_throughput | on | $hxn_t | $hxn_s | $hxn_all | $(ratio "$hxn_all" "$hxo_all") | $hxn_c |

## Tasks that do something: $SLEEP_N tasks of 1 ms (high_throughput, 2 workers)

| monitoring | submit to last result | ratio |
|---|---|---|
| off | $mso | 1 |
| on | $msn | $(ratio "$msn" "$mso") |

Database size after the high_throughput W1 run: $size bytes for $N tasks,
$(awk -v s="$size" -v n="$N" 'BEGIN { if (n > 0 && s > 0) printf "%.0f MB per 1M tasks", s / n * 1e6 / 1e6; else print "n/a" }')
(a cp_task row and a cp_try row per task, and two cp_resource rows: the try's
start and end samples; Parsl's tables are views over them, docs/monitoring.md).

## Checkpoints on a 2,000-task shell workflow (parsl-run, thread_pool)

| checkpoint | wall time | ratio |
|---|---|---|
| none | $wfn | 1 |
| task_exit (parsl-run's default) | $wfe | $(ratio "$wfe" "$wfn") |
MD
