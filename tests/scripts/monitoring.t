#!/bin/bash
# The monitoring database end to end (issue 6, first step): parsl-run --monitor
# and a config's monitoring: write Parsl's tables for a run with successes, a
# retry, a failure and dep_fails, on thread_pool and on high_throughput pools,
# and the rows answer the questions Parsl's database does.
#   - workflow: one row per run (name, times, counts), two runs in one file;
#   - task: one row per task, with its app, dependencies, times and fail count;
#   - status: every state each task went through, in order;
#   - try: one row per try, the failed ones with their error; on pools, the
#     block and host that ran it;
#   - block and node: the blocks' states and the pools that registered and left;
#   - PRAGMA integrity_check is ok, and bad monitoring settings are refused.
# Env: CP_BUILD, CP_TEST_TIMEOUT_MULTIPLIER.
cd "$(dirname "$0")/../.." || exit 1
ROOT=$PWD
BUILD=${CP_BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
RUN=$BUILD/parsl-run
MULT=${CP_TEST_TIMEOUT_MULTIPLIER:-1}
unset CPARSL_TEMPLATE_PATH CPARSL_LOG_LEVEL CPARSL_WORKER
tmp=$(mktemp -d)
cleanup() {
    pkill -9 -f "secret-file $tmp" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
secs() { awk -v s="$1" -v m="$MULT" 'BEGIN { printf "%d", s * m }'; }
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); echo "not ok $n - $1"; shift; for f in "$@"; do [ -f "$f" ] && sed 's/^/#   /' "$f" | tail -n 20; done; }
check() { local desc=$1; shift; if "$@"; then ok "$desc"; else nok "$desc" "$tmp/err"; fi; }
is() { if [ "$2" = "$3" ]; then ok "$1"; else nok "$1"; printf '#   got:  %s\n#   want: %s\n' "$2" "$3"; fi; }
if ! command -v sqlite3 >/dev/null; then
    echo "1..0 # SKIP sqlite3 (the command) is not installed: ./dev deps installs it"
    exit 0
fi
q() { sqlite3 "$db" "$1" 2>>"$tmp/err"; }

cp examples/workflows/failure/failure.yaml "$tmp/"
cd "$tmp" || exit 1

# 1. thread_pool: parsl-run --monitor writes runinfo/monitoring.db
timeout -k 5 "$(secs 60)" "$RUN" -q --monitor failure.yaml >/dev/null 2>"$tmp/err"
rc=$?
db=$tmp/runinfo/monitoring.db
is "a run with a failure exits 1 (rc)" "$rc" 1
check "--monitor wrote runinfo/monitoring.db" [ -s "$db" ]
run1=$(q "select run_id from workflow")
is "one workflow row, named after the workflow, with its counts and run directory" \
    "$(q "select workflow_name, tasks_completed_count, tasks_failed_count, rundir like '%/runinfo/000', time_completed >= time_began from workflow")" \
    "failure-demo|2|3|1|1"
is "one task row per task, with its app and dependencies" \
    "$(q "select group_concat(task_id || ':' || task_func_name || ':' || ifnull(task_depends, ''), ' ') from (select * from task order by task_id)")" \
    "0:prepare: 1:calibrate:0 2:analyse:0,1 3:plot:2 4:inventory:0"
is "calibrate failed twice (its retry), the others not at all" \
    "$(q "select group_concat(task_fail_count, ',') from (select * from task order by task_id)")" \
    "0,2,0,0,0"
is "every task has invoked and returned times" \
    "$(q "select count(*) from task where task_time_invoked is not null and task_time_returned >= task_time_invoked")" 5
is "calibrate's states in order: pending, launched, running, fail_retryable, launched, running, failed" \
    "$(q "select group_concat(task_status_name, ',') from (select * from status where task_id = 1 order by timestamp, rowid)")" \
    "pending,launched,running,fail_retryable,launched,running,failed"
is "analyse and plot went pending -> dep_fail without running" \
    "$(q "select group_concat(task_id || ':' || task_status_name, ',') from (select * from status where task_id in (2, 3) order by task_id, timestamp)")" \
    "2:pending,2:dep_fail,3:pending,3:dep_fail"
is "the tasks that succeeded end exec_done" \
    "$(q "select group_concat(task_id, ',') from (select task_id from status where task_status_name = 'exec_done' order by task_id)")" \
    "0,4"
is "one try row per try: calibrate has tries 0 and 1, the dep_fail tasks none" \
    "$(q "select group_concat(task_id || '.' || try_id, ' ') from (select * from try order by task_id, try_id)")" \
    "0.0 1.0 1.1 4.0"
check "the failed tries carry their error in task_fail_history" \
    [ "$(q "select count(*) from try where task_id = 1 and task_fail_history like '%exit code 3%'")" = 2 ]
is "each try has its executor and launched <= running <= returned times" \
    "$(q "select count(*) from try where task_executor = 'threads' and task_try_time_launched <= task_try_time_running and task_try_time_running <= task_try_time_returned")" 4
is "PRAGMA integrity_check" "$(q "pragma integrity_check")" ok

# 2. high_throughput with a config's monitoring: db (a path of its own)
cat > htex.yaml <<'EOF'
retries: 1
monitoring:
  db: mon/other.db
  workflow_name: on-pools
executors:
  - label: htex
    type: high_throughput
    max_workers_per_node: 2
    heartbeat_period: 0.5
    provider:
      type: local
      init_blocks: 1
      max_blocks: 1
EOF
timeout -k 5 "$(secs 90)" "$RUN" -q --config htex.yaml failure.yaml >/dev/null 2>"$tmp/err"
rc=$?
db=$tmp/mon/other.db
is "the same workflow on pools exits 1" "$rc" 1
check "monitoring: db put the database where it said" [ -s "$db" ]
is "workflow_name from the config" "$(q "select workflow_name from workflow")" on-pools
is "every try on the pools has its block and host" \
    "$(q "select count(*) from try where task_executor = 'htex' and block_id = '0' and hostname = '$(hostname)'")" 4
is "the block went PENDING, RUNNING, then CANCELLED at shutdown" \
    "$(q "select group_concat(status, ',') from (select * from block order by timestamp)")" \
    "PENDING,RUNNING,CANCELLED"
is "the pool registered (active) and left (inactive), with its workers" \
    "$(q "select group_concat(active || ':' || worker_count || ':' || block_id, ',') from (select * from node order by timestamp)")" \
    "1:2:0,0:2:0"
is "PRAGMA integrity_check" "$(q "pragma integrity_check")" ok
is "every try on the pools has a start and an end resource sample (resource_interval 30)" \
    "$(q "select count(*) from (select task_id, try_id, count(*) c from resource group by task_id, try_id having c >= 2)")" 4

# 2b. resource samples of a try that works: CPU in a child process, memory, writes
cat > res.yaml <<'EOF'
monitoring:
  db: res.db
  resource_interval: 0.2
executors:
  - label: htex
    type: high_throughput
    max_workers_per_node: 1
    heartbeat_period: 0.5
    provider:
      type: local
EOF
cat > burn.yaml <<'EOF'
name: burn
apps:
  burn:
    shell: "awk 'BEGIN { s = 0; for (i = 0; i < 6e7; i++) s += i; print s }'; dd if=/dev/zero of=burn.out bs=64k count=32 conv=fsync 2>/dev/null"
  quick:
    shell: "true"
tasks:
  burn:
    app: burn
  quick:
    app: quick
    after: [burn]
EOF
timeout -k 5 "$(secs 90)" "$RUN" -q --config res.yaml burn.yaml >/dev/null 2>"$tmp/err"
is "the burning task succeeds" "$?" 0
db=$tmp/res.db
echo "# $(q "select count(*) || ' samples, user ' || max(psutil_process_time_user) || ' s, children ' || max(psutil_process_children_count) || ', rss ' || max(psutil_process_memory_resident) || ', written ' || max(psutil_process_disk_write) from resource")"
# The pool reuses the end reading of a worker's last try as the next one's start
# when it follows at once: the quick task on the same worker must not inherit
# the burning task's CPU or writes.
is "a task right after it on the same worker starts from zero and ends near it" \
    "$(q "select count(*) || ':' || max(psutil_process_time_user + psutil_process_time_system < 0.05) || ':' || max(psutil_process_disk_write < 65536) from resource where task_id = 1")" "2:1:1"
check "it was sampled at its start, its end and at least twice between (0.2 s apart)" \
    [ "$(q "select count(*) from resource where task_id = 0")" -ge 4 ]
is "the start sample counts no CPU yet" \
    "$(q "select psutil_process_time_user + psutil_process_time_system from resource where task_id = 0 order by timestamp limit 1")" 0.0
is "CPU time never goes down from one sample to the next" \
    "$(q "select count(*) from resource a join resource b on b.task_id = a.task_id and b.timestamp > a.timestamp where b.psutil_process_time_user < a.psutil_process_time_user")" 0
check "a sample while it ran saw the command below the worker (children >= 1)" \
    [ "$(q "select max(psutil_process_children_count) from resource")" != 0.0 ]
check "the end sample counts the child's CPU (over 0.1 s of user time)" \
    [ "$(q "select psutil_process_time_user > 0.1 from resource where task_id = 0 order by timestamp desc limit 1")" = 1 ]
check "... and the 2 MiB it wrote" \
    [ "$(q "select psutil_process_disk_write >= 2097152 from resource where task_id = 0 order by timestamp desc limit 1")" = 1 ]
check "resident memory and its share of the node are recorded" \
    [ "$(q "select min(psutil_process_memory_resident > 0 and psutil_process_memory_percent > 0) from resource")" = 1 ]
is "the samples carry the interval and the worker's pid" \
    "$(q "select count(distinct resource_monitoring_interval) || ':' || count(distinct psutil_process_pid) || ':' || min(psutil_process_pid > 0) from resource")" "1:1:1"

# 3. a second run into the first file: two workflow rows, rows kept apart
timeout -k 5 "$(secs 60)" "$RUN" -q --monitor failure.yaml >/dev/null 2>"$tmp/err"
db=$tmp/runinfo/monitoring.db
is "a second run adds a second workflow row" "$(q "select count(*) from workflow")" 2
is "each run has its own 5 tasks" \
    "$(q "select group_concat(c, ',') from (select count(*) c from task group by run_id)")" "5,5"
is "the first run's rows are untouched" "$(q "select count(*) from task where run_id = '$run1'")" 5

# 4. --monitor=FILE, and bad settings
timeout -k 5 "$(secs 60)" "$RUN" -q --monitor=explicit.db failure.yaml >/dev/null 2>"$tmp/err"
db=$tmp/explicit.db
is "--monitor=FILE writes there" "$(q "select count(*) from task")" 5
echo "this is not a database" > notadb.db
timeout -k 5 "$(secs 60)" "$RUN" -q --monitor=notadb.db failure.yaml >/dev/null 2>"$tmp/err"
rc=$?
check "a file that is not a database: the run does not start (rc $rc) and says why" \
    [ "$rc" = 2 -a -n "$(grep -l 'not an SQLite database' "$tmp/err")" ]
echo "1..$n"
