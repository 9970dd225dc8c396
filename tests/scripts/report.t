#!/bin/bash
# parsl-run report and parsl-run status (issue 6), end to end on real runs:
#   - a workflow with successes, a retry, a failure and a dep_fail runs with
#     --monitor; the database passes PRAGMA integrity_check;
#   - `parsl-run report RUN_DIR` writes one HTML page; headless Chromium (started
#     here, torn down after each page) loads it with no console error, its script
#     ran, the charts are there (SVG ids), and the numbers in the DOM are the
#     database's: tasks, tries, tasks by final state, DAG nodes, failures;
#   - text from the database is escaped (an error text holding an <img onerror>
#     tag appears as text, no such element exists);
#   - with resource rows inserted into a copy of the database, the CPU and memory
#     charts show each try's values; without, the page says "No samples";
#   - bad inputs give a clear error and exit 2; a report killed while writing
#     leaves no temporary file; `status --once` prints the counts;
#     on a terminal (script(1)), status redraws while a run is live and exits when
#     it ends; a report of the live run works (read-only) and the run's database
#     stays whole.
# A screenshot is kept in $CP_BUILD/test-artifacts/report.png (the path is printed).
# Env: CP_BUILD, CP_TEST_TIMEOUT_MULTIPLIER.
cd "$(dirname "$0")/../.." || exit 1
ROOT=$PWD
BUILD=${CP_BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
RUN=$BUILD/parsl-run
MULT=${CP_TEST_TIMEOUT_MULTIPLIER:-1}
ART=$BUILD/test-artifacts
unset CPARSL_TEMPLATE_PATH CPARSL_LOG_LEVEL CPARSL_WORKER
tmp=$(mktemp -d)
bgpid=
cleanup() {
    [ -n "$bgpid" ] && kill "$bgpid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
secs() { awk -v s="$1" -v m="$MULT" 'BEGIN { printf "%d", s * m }'; }
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); echo "not ok $n - $1"; shift; for f in "$@"; do [ -f "$f" ] && sed 's/^/#   /' "$f" | tail -n 20; done; }
check() { local desc=$1; shift; if "$@"; then ok "$desc"; else nok "$desc" "$tmp/err"; fi; }
is() { if [ "$2" = "$3" ]; then ok "$1"; else nok "$1"; printf '#   got:  %s\n#   want: %s\n' "$2" "$3"; fi; }
for tool in sqlite3 chromium script; do
    if ! command -v $tool >/dev/null; then
        # The page must be checked in a real browser: no browser is a failure, not a skip.
        echo "1..1"
        echo "not ok 1 - $tool is not installed (./dev deps installs sqlite3, chromium, util-linux)"
        exit 1
    fi
done
q() { sqlite3 "$db" "$1" 2>>"$tmp/err"; }

# Loads a page in headless Chromium: the DOM after scripts ran into $2.dom, the
# browser's log (console messages included) into $2.log.
browse() {
    echo "# starting headless chromium on $1"
    timeout -k 5 "$(secs 60)" chromium --headless --no-sandbox --disable-gpu \
        --no-first-run --user-data-dir="$tmp/chrome" --enable-logging=stderr --v=0 \
        --dump-dom "file://$1" >"$2.dom" 2>"$2.log"
}
attr() { grep -o "id=\"$2\" data-value=\"[0-9]*\"" "$1" | grep -o '[0-9]*"$' | tr -d '"'; }
count_of() { grep -o "$2" "$1" | wc -l | tr -d ' '; }

cd "$tmp" || exit 1
cat > wf.yaml <<'EOF'
name: "report <demo> & 'co'"
apps:
  prepare:
    shell: seq 1 100 > {outputs[0]}
  square:
    shell: echo square {i} > {outputs[0]}
  calibrate:
    shell: |
      echo "<img src=x onerror=alert(1)> calibration & data missing" >&2; exit 3
    retries: 1
  analyse:
    shell: cat {inputs} > {outputs[0]}
tasks:
  prepare: {app: prepare, outputs: [raw.txt]}
  square:
    app: square
    foreach: {i: "range(0, 4)"}
    after: [prepare]
    outputs: ["sq-{i}.txt"]
  calibrate: {app: calibrate, after: [prepare], outputs: [cal.txt]}
  analyse:
    app: analyse
    inputs: ["{square[*].outputs[0]}", "{calibrate.outputs[0]}"]
    outputs: [out.txt]
EOF

# 1. the run
timeout -k 5 "$(secs 60)" "$RUN" -q --monitor wf.yaml >/dev/null 2>"$tmp/err"
is "the run with a failure exits 1" "$?" 1
db=$tmp/runinfo/monitoring.db
is "PRAGMA integrity_check" "$(q 'pragma integrity_check')" ok
LAST="WITH l AS (SELECT task_id, task_status_name AS s, max(timestamp) FROM status GROUP BY task_id)"
is "the database has 7 tasks: 5 exec_done, 1 failed, 1 dep_fail, 7 tries" \
    "$(q "$LAST SELECT (SELECT count(*) FROM task) || ' ' || (SELECT count(*) FROM l WHERE s = 'exec_done') || ' ' || (SELECT count(*) FROM l WHERE s = 'failed') || ' ' || (SELECT count(*) FROM l WHERE s = 'dep_fail') || ' ' || (SELECT count(*) FROM try)")" \
    "7 5 1 1 7"

# 2. the report
timeout -k 5 "$(secs 30)" "$RUN" report runinfo/000 -o report.html 2>"$tmp/err"
rc=$?
is "parsl-run report RUN_DIR exits 0" "$rc" 0
check "it wrote report.html and says so" [ -s report.html -a -n "$(grep -l 'wrote report.html' "$tmp/err")" ]
check "the page loads nothing from outside (no http(s) URL, src=\"…\", href=\"…\" or url())" \
    [ -z "$(grep -Eo 'https?://[^"]*|(src|href)="|url\(' report.html | grep -v 'http://www.w3.org/2000/svg')" ]
browse "$tmp/report.html" page
check "chromium loaded it" [ -s page.dom ]
check "no console message (errors, CSP violations) from the page" \
    [ -z "$(grep -i 'CONSOLE' page.log)" ]
check "its script ran (data-ready=1) and recorded no error" \
    [ -n "$(grep -o '<body data-ready="1"' page.dom)" -a -n "$(grep -o '<pre id="js-errors"></pre>' page.dom)" ]
for id in chart-states chart-gantt chart-durations chart-dag; do
    check "chart $id is there" [ -n "$(grep -o "<svg id=\"$id\"" page.dom)" ]
done
check "the CPU/memory section says no samples" [ -n "$(grep -o 'id="resource-none"' page.dom)" ]
is "tasks in the DOM = the database's" "$(attr page.dom sum-tasks)" "$(q 'select count(*) from task')"
is "tries in the DOM = the database's" "$(attr page.dom sum-tries)" "$(q 'select count(*) from try')"
for s in exec_done failed dep_fail pending running; do
    is "tasks ending $s in the DOM = the database's" "$(attr page.dom count-$s)" \
        "$(q "$LAST SELECT count(*) FROM l WHERE s = '$s'")"
done
is "the DAG has a node per task" "$(count_of page.dom '<g class="node"')" 7
is "the DAG has an edge per dependency (4 squares + calibrate after prepare, 5 into analyse)" \
    "$(grep -o '<g class="edges">.*</g>' page.dom | grep -o '<line' | wc -l | tr -d ' ')" 10
is "the dep_fail task is coloured dep_fail" \
    "$(grep -o '<g class="node" data-task="6" data-state="[a-z_]*"' page.dom | grep -o 'state="[a-z_]*"')" \
    'state="dep_fail"'
is "the Gantt chart has a bar group per try" "$(count_of page.dom '<g class="try ')" 7
is "two failed tries are listed" "$(count_of page.dom '<tr class="failed-try"')" 2
is "one dep_fail task, with its failed dependency named" \
    "$(grep -o '<tr class="depfail" data-task="6">.*</tr>' page.dom | grep -o '5 (failed)')" "5 (failed)"
check "the error text is shown escaped: as text, and no <img> element exists" \
    [ -n "$(grep -o '&lt;img src=x onerror=alert(1)&gt; calibration &amp; data missing' page.dom)" \
      -a -z "$(grep -o '<img' page.dom)" ]
check "the workflow name is escaped in the title" \
    [ -n "$(grep -o '<title>report &lt;demo&gt; &amp; .co. — cparsl run report</title>' page.dom)" ]
mkdir -p "$ART"
timeout -k 5 "$(secs 60)" chromium --headless --no-sandbox --disable-gpu --no-first-run \
    --user-data-dir="$tmp/chrome" --hide-scrollbars --window-size=1000,3200 \
    --screenshot="$ART/report.png" "file://$tmp/report.html" >/dev/null 2>&1
check "a screenshot was taken" [ -s "$ART/report.png" ]
echo "# screenshot of the report: $ART/report.png"

# 3. the same check can fail: a page with a script error is caught
printf '<html><body><script>no_such_function()</script></body></html>' > broken.html
browse "$tmp/broken.html" broken
check "the console check sees a script error when there is one" \
    [ -n "$(grep 'CONSOLE' broken.log | grep -o 'no_such_function is not defined')" ]

# 4. resource rows (inserted into a copy): the CPU and memory charts
cp "$db" res.db
db=$tmp/res.db
# (the resource view reads cp_resource: times are local microseconds there)
q "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < 3)
   INSERT INTO cp_resource (run, task_id, try_id, ts, interval, pid, memory_percent,
     children, time_user, time_system, memory_virtual, memory_resident, disk_read,
     disk_write, status, cpu_num, ctx_voluntary, ctx_involuntary)
   SELECT run, task_id, try_id, launched + i * 1000000, 1, 1000 + task_id, 1.5, 0,
     (task_id + 1) * 0.5 * i, 0.1 * i, 2e8, (task_id + 1) * 10485760.0 * i, 0, 0, 'running',
     '0', 1, 1 FROM cp_try, k WHERE tried"
is "21 resource rows inserted (3 per try)" "$(q 'select count(*) from resource')" 21
timeout -k 5 "$(secs 30)" "$RUN" report "$db" -o res.html 2>"$tmp/err"
is "report from a database path exits 0" "$?" 0
browse "$tmp/res.html" res
check "no console message" [ -z "$(grep -i 'CONSOLE' res.log)" ]
check "charts chart-cpu and chart-mem are there, 'no samples' is not" \
    [ -n "$(grep -o '<svg id="chart-cpu"' res.dom)" -a -n "$(grep -o '<svg id="chart-mem"' res.dom)" \
      -a -z "$(grep -o 'id="resource-none"' res.dom)" ]
is "a column per try in each chart" "$(count_of res.dom '<rect class="col"')" 14
check "calibrate's second try: 9.3 s CPU, 180 MiB peak ((5+1) x 1.5 + 0.3 s, (5+1) x 30 MiB)" \
    [ -n "$(grep -o 'task 5 try 1: 9.3 s CPU, 180 MiB peak (3 samples)' res.dom)" ]
is "the per-app table has a row per app that ran" \
    "$(sed -n '/<table id="resource-table">/,/<\/table>/p' res.dom | grep -c '<tr><td>')" 3

# 4b. a file in Parsl's layout (real task/try/status/resource tables, as Parsl or an
# older cparsl made them) is read through Parsl's names, ours from the cp_* tables:
# the same rows give the same page.
q "ATTACH '$tmp/parsl.db' AS p;
   CREATE TABLE p.workflow AS SELECT * FROM workflow; CREATE TABLE p.task AS SELECT * FROM task;
   CREATE TABLE p.try AS SELECT * FROM try; CREATE TABLE p.status AS SELECT * FROM status;
   CREATE TABLE p.resource AS SELECT * FROM resource; CREATE TABLE p.block AS SELECT * FROM block;
   CREATE TABLE p.node AS SELECT * FROM node;"
is "the copy in Parsl's layout has the same status rows" \
    "$(sqlite3 parsl.db 'select count(*) from status where typeof(timestamp) = "text"')" \
    "$(q 'select count(*) from status')"
timeout -k 5 "$(secs 30)" "$RUN" report "$tmp/parsl.db" -o parsl.html 2>"$tmp/err"
is "report of the Parsl-layout file exits 0" "$?" 0
check "it is the same page as from cparsl's layout (but for the file's name)" \
    cmp -s res.html <(sed "s|$tmp/parsl\.db|$db|g" parsl.html)
timeout -k 5 "$(secs 30)" "$RUN" status "$db" --once >status-cp.txt 2>"$tmp/err"
timeout -k 5 "$(secs 30)" "$RUN" status parsl.db --once >status-parsl.txt 2>>"$tmp/err"
check "status --once says the same of both" \
    [ -s status-cp.txt -a -n "$(cmp status-cp.txt status-parsl.txt && echo same)" ]

# 5. bad inputs: exit 2 and say what is wrong
db=$tmp/runinfo/monitoring.db
bad() {
    local desc=$1 want=$2; shift 2
    timeout -k 5 "$(secs 30)" "$RUN" "$@" >"$tmp/out" 2>"$tmp/err"
    local rc=$?
    if [ "$rc" = 2 ] && grep -q -- "$want" "$tmp/err"; then ok "$desc (exit 2: $(head -1 "$tmp/err"))"
    else nok "$desc: rc $rc, want 2 and '$want'" "$tmp/err"; fi
}
bad "report of a missing path" "no-such-dir: No such file or directory" report no-such-dir
echo "this is not a database" > notadb.db
bad "report of a file that is not a database" "file is not a database" report notadb.db
sqlite3 other.db 'create table t (a)'
bad "report of a database without Parsl's tables" "not a monitoring database (it has no table 'workflow'" report other.db
mkdir -p empty/000
bad "report of a directory with no database" "no monitoring database for this directory" report empty/000
bad "report of an unknown run id" "no run with id 'zzz'" report "$db" --run-id zzz
bad "report with an unknown option" "unknown option" report --bogus "$db"
bad "status of a missing path" "No such file or directory" status no-such-dir --once
check "no half-written page was left by the failures" [ -z "$(ls | grep -E 'report\.html\.tmp|^report\.html\.')" ]

# 5b. a report killed while it writes takes its temporary file with it. The
# file-size limit kills it at its first write of the page (SIGXFSZ), every time;
# the copy is in rollback-journal mode, so opening it writes no -shm file first.
cp "$db" cut.db && sqlite3 cut.db 'PRAGMA journal_mode=DELETE' >/dev/null
mkdir cut
( ulimit -f 1; exec "$RUN" report cut.db -o cut/report.html ) 2>/dev/null
is "a report stopped by a signal while writing dies of it (SIGXFSZ: 128 + 25)" "$?" 153
is "and leaves neither the page nor its temporary file" "$(ls -A cut)" ""

# 6. status --once, and without a terminal
timeout -k 5 "$(secs 30)" "$RUN" status runinfo/000 --once >status.txt 2>"$tmp/err"
is "status --once exits 0" "$?" 0
is "status: the counts by state" "$(grep '^tasks:' status.txt)" \
    "tasks:    7: pending 0, launched 0, running 0, done 5, failed 1, dep_fail 1; 1 retried"
check "status: the run ended, with its name" \
    [ -n "$(grep '^state:    ended ' status.txt)" -a -n "$(grep "^workflow: report <demo> & 'co' (run " status.txt)" ]
is "status: tries" "$(grep '^tries:' status.txt)" "tries:    7, 0 running now"
run_id=$(q 'select run_id from workflow')
timeout -k 5 "$(secs 30)" "$RUN" status --run-id "${run_id:0:8}" "$db" >status2.txt 2>"$tmp/err" </dev/null
is "status (not a terminal) of a database and a run-id prefix prints once and exits 0" \
    "$?:$(grep -c '^tasks:' status2.txt)" "0:1"

# 7. a live run: status on a terminal redraws until it ends; report reads it read-only
mkdir live && cd live || exit 1
cat > slow.yaml <<'EOF'
name: slow
apps:
  nap:
    shell: sleep 1; echo {i} > {outputs[0]}
tasks:
  a: {app: nap, vars: {i: 1}, outputs: [a.txt]}
  b: {app: nap, vars: {i: 2}, inputs: ["{a.outputs[0]}"], outputs: [b.txt]}
  c: {app: nap, vars: {i: 3}, inputs: ["{b.outputs[0]}"], outputs: [c.txt]}
EOF
"$RUN" -q --monitor slow.yaml >/dev/null 2>"$tmp/live.err" &
bgpid=$!
db=$tmp/live/runinfo/monitoring.db
for _ in $(seq 1 100); do
    [ -n "$(sqlite3 "$db" 'select run_id from workflow' 2>/dev/null)" ] && break
    sleep 0.05
done
timeout -k 5 "$(secs 30)" "$RUN" report runinfo -o live.html 2>"$tmp/err"
is "a report of the live run exits 0" "$?" 0
check "it says the run has not completed yet" [ -n "$(grep -o 'id="sum-completed">not yet' live.html)" ]
echo "# status on a terminal (script -q) while the run goes on"
timeout -k 5 "$(secs 30)" script -qec "$RUN status runinfo" /dev/null >live-status.txt 2>&1
rc=$?
wait "$bgpid"
bgpid=
is "status on a terminal exits 0 when the run ends" "$rc" 0
check "it redrew in place (cursor up 6 lines) at least twice" \
    [ "$(grep -o $'\033\\[6A' live-status.txt | wc -l)" -ge 2 ]
check "it showed the run going on, then ended" \
    [ -n "$(grep -a 'running for' live-status.txt)" -a -n "$(grep -a 'state:    ended' live-status.txt)" ]
is "the last frame has all 3 tasks done" \
    "$(grep -a '^tasks:' live-status.txt | tail -1 | tr -d '\r')" \
    "tasks:    3: pending 0, launched 0, running 0, done 3, failed 0, dep_fail 0; 0 retried"
is "the live run's database is whole" "$(sqlite3 "$db" 'pragma integrity_check')" ok
echo "1..$n"
