#!/bin/bash
# Checkpoints and --resume through parsl-run (issue 6; docs/checkpoints.md):
#   - parsl-run checkpoints every successful task (task_exit) by default; a plain
#     re-run runs everything, --resume reuses what earlier runs finished
#     (memo_done), and reruns a task whose declared output is gone, whose app's
#     version changed, which failed, or whose app says cache: false;
#   - checkpoint: none writes nothing; checkpoint_files names files to load, and a
#     missing one is an error (exit 2);
#   - kill -9 of parsl-run at random moments of a 2,000-task workflow (several
#     seeds): after --resume every task is done, no task that was reported done
#     (checkpointed, or exec_done in the monitoring database) ran again, and the
#     tasks that ran twice are exactly those that ran but were not yet reported
#     done when the engine died — the ones in flight.
# Env: CP_BUILD, CP_TEST_TIMEOUT_MULTIPLIER, CP_RESUME_SEEDS (default 4).
cd "$(dirname "$0")/../.." || exit 1
ROOT=$PWD
BUILD=${CP_BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
RUN=$BUILD/parsl-run
MULT=${CP_TEST_TIMEOUT_MULTIPLIER:-1}
SEEDS=${CP_RESUME_SEEDS:-4}
unset CPARSL_TEMPLATE_PATH CPARSL_LOG_LEVEL CPARSL_WORKER
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
secs() { awk -v s="$1" -v m="$MULT" 'BEGIN { printf "%d", s * m }'; }
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); echo "not ok $n - $1"; shift; for f in "$@"; do [ -f "$f" ] && sed 's/^/#   /' "$f" | tail -n 20; done; }
check() { local desc=$1; shift; if "$@"; then ok "$desc"; else nok "$desc" "$tmp/err"; fi; }
is() { if [ "$2" = "$3" ]; then ok "$1"; else nok "$1" "$tmp/err"; printf '#   got:  %s\n#   want: %s\n' "$2" "$3"; fi; }
if ! command -v sqlite3 >/dev/null; then
    echo "not ok 1 - sqlite3 (the command) is not installed: ./dev deps installs it"
    echo "1..1"
    exit 1
fi
run() { timeout -k 5 "$(secs 120)" "$RUN" -q "$@" 2>"$tmp/err"; }
rows() { sqlite3 "$1" "select count(*) from checkpoint" 2>>"$tmp/err"; }

# ---------------------------------------------------------------- small workflow
mkdir -p "$tmp/small" && cd "$tmp/small" || exit 1
cat > wf.yaml <<'EOF'
name: small
apps:
  make:
    shell: "echo make{i} >> effects.txt; echo {i} > {outputs[0]}"
    version: "1"
  note:
    shell: "echo note{i} >> effects.txt"
    cache: false
  flaky:
    shell: "echo flaky >> effects.txt; [ -f ok ]"
tasks:
  make:
    app: make
    foreach: {i: [0, 1, 2]}
    outputs: ["out/m{i}.txt"]
  note:
    app: note
    foreach: {i: [0]}
  flaky:
    app: flaky
EOF
count() { grep -c "^$1" effects.txt; }

run wf.yaml >/dev/null
is "run 1: one task fails, exit 1" "$?" 1
is "run 1 checkpointed its 3 cacheable successes (not the failure, not cache: false)" \
    "$(rows runinfo/000/checkpoint/tasks.db)" 3
is "checkpoint file integrity" "$(sqlite3 runinfo/000/checkpoint/tasks.db 'PRAGMA integrity_check')" ok
run wf.yaml >/dev/null
is "a plain re-run runs every task again" "$(count make)/$(count note)/$(count flaky)" "6/2/2"
touch ok
run --resume --monitor wf.yaml
is "--resume: exit 0 now that flaky succeeds" "$?" 0
out=$(cat "$tmp/err")
is "--resume ran only the failed task and the cache: false one" \
    "$(count make)/$(count note)/$(count flaky)" "6/3/3"
case $out in *"5 tasks: 5 done (3 from checkpoints)"*) ok "the summary counts the reused tasks" ;;
    *) nok "the summary counts the reused tasks"; echo "#   $out" ;; esac
is "the monitoring database shows them memo_done" \
    "$(sqlite3 runinfo/monitoring.db "select count(*) from status where task_status_name = 'memo_done'")" 3
rm out/m1.txt
run --resume wf.yaml >/dev/null
is "a task whose declared output is gone runs again (and only it)" "$(count make)" 7
check "... and its output is back" [ -s out/m1.txt ]
sed -i 's/version: "1"/version: "2"/' wf.yaml
run --resume wf.yaml >/dev/null
is "a changed app version runs its tasks again" "$(count make)" 10
run --resume wf.yaml >/dev/null
is "... and the next resume reuses the new version's results" "$(count make)" 10
cat > none.yaml <<'EOF'
checkpoint: none
EOF
rm -rf runinfo
run --config none.yaml wf.yaml >/dev/null
check "checkpoint: none writes no checkpoint" [ ! -e runinfo/000/checkpoint ]
cat > files.yaml <<'EOF'
checkpoint_files: [runinfo/009/checkpoint]
EOF
run --config files.yaml --resume wf.yaml >/dev/null
is "checkpoint_files naming a missing directory: exit 2" "$?" 2
grep -q "runinfo/009/checkpoint" "$tmp/err" && ok "... the error names it" || nok "... the error names it" "$tmp/err"
echo "not a database" > bogus.db
printf 'checkpoint_files: [bogus.db]\n' > files.yaml
run --config files.yaml --resume wf.yaml >/dev/null
is "a checkpoint file that is not one: exit 2" "$?" 2
grep -q "bogus.db" "$tmp/err" && ok "... the error names it" || nok "... the error names it" "$tmp/err"
cd "$ROOT" || exit 1

# ---------------------------------------------------------------- kill -9, resume
# 1,000 tasks a, each followed by a task b that reads its output.
wf() {
    cat <<'EOF'
name: resume
apps:
  a:
    shell: "echo a{i} >> effects.txt; echo a{i}; echo {i} > {outputs[0]}"
  b:
    shell: "echo b{i} >> effects.txt; echo b{i}; cat {inputs[0]} > {outputs[0]}"
tasks:
  a:
    app: a
    foreach: {i: "range(0, 1000)"}
    outputs: ["out/a{i}.txt"]
  b:
    app: b
    foreach: a
    inputs: ["{a.outputs[0]}"]
    outputs: ["out/b{i}.txt"]
EOF
}
for seed in $(seq 1 "$SEEDS"); do
    d=$tmp/kill$seed
    mkdir -p "$d" && cd "$d" || exit 1
    wf > wf.yaml
    # A moment between 0.15 s and 1.6 s into the run (it takes about 2.5 s here).
    delay=$(awk -v s="$seed" 'BEGIN { srand(s * 7919); printf "%.2f", 0.15 + rand() * 1.45 }')
    "$RUN" -q --monitor wf.yaml >/dev/null 2>"$tmp/err" &
    pid=$!
    sleep "$delay"
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    # Commands the engine had started finish on their own (kill -9 spares them).
    sleep 0.5
    ck=runinfo/000/checkpoint/tasks.db
    nck=$( [ -f "$ck" ] && rows "$ck" || echo 0)
    # What ran in run 1, and which of those were reported done (checkpointed): a
    # task's instance is the first line of its stdout file.
    sort effects.txt > ran1.txt
    : > done1.txt
    if [ -f "$ck" ]; then
        sqlite3 "$ck" "select task_id || ' ' || app from checkpoint" | while read -r id app; do
            head -n 1 "runinfo/000/task_logs/task_${id}_${app}.stdout"
        done | sort > done1.txt
    fi
    db=runinfo/monitoring.db
    dbdone=$(sqlite3 "$db" "select count(*) from status where task_status_name = 'exec_done'" 2>/dev/null || echo 0)
    inflight=$(sqlite3 "$db" "select count(*) from (select task_id from status group by task_id
        having sum(task_status_name = 'running') > 0
           and sum(task_status_name = 'exec_done') = 0)" 2>/dev/null || echo '?')
    echo "# seed $seed: killed after ${delay}s; ran $(wc -l < ran1.txt), checkpointed $nck, monitoring: $dbdone exec_done, $inflight in flight"
    is "seed $seed: the monitoring database survived kill -9 (integrity_check)" \
        "$(sqlite3 "$db" 'PRAGMA integrity_check' 2>&1)" ok
    # exec_done is written after the commit, so the database never shows a task done
    # that the checkpoint lacks.
    notck=$(sqlite3 "$db" "select t.task_id || ' ' || t.task_func_name from task t join status s
        on s.task_id = t.task_id and s.run_id = t.run_id where s.task_status_name = 'exec_done'" |
        while read -r id app; do head -n 1 "runinfo/000/task_logs/task_${id}_${app}.stdout"; done |
        sort | comm -23 - done1.txt | wc -l)
    is "seed $seed: every task the database shows exec_done is checkpointed" "$notck" 0
    run --resume --monitor wf.yaml
    is "seed $seed: --resume completes the run (exit 0)" "$?" 0
    summary=$(cat "$tmp/err")
    case $summary in *"2000 tasks: 2000 done ($nck from checkpoints), 0 failed"*)
        ok "seed $seed: 2000 done, $nck of them from checkpoints" ;;
        *) nok "seed $seed: 2000 done, $nck of them from checkpoints"; echo "#   $summary" ;; esac
    sort effects.txt | uniq -c | awk '$1 > 2 { bad++ } END { exit bad > 0 }'
    check "seed $seed: no task ran more than twice" [ $? = 0 ]
    is "seed $seed: every task ran" "$(sort -u effects.txt | wc -l)" 2000
    sort effects.txt | uniq -d > twice.txt
    comm -23 ran1.txt done1.txt > inflight1.txt
    is "seed $seed: the tasks that ran twice are exactly those in flight at the kill" \
        "$(cat twice.txt | tr '\n' ' ')" "$(cat inflight1.txt | tr '\n' ' ')"
    is "seed $seed: none of the reported-done tasks ran again" \
        "$(comm -12 twice.txt done1.txt | wc -l)" 0
    cd "$ROOT" || exit 1
done
echo "1..$n"
