#!/usr/bin/env bash
# bench/report.sh — parsl-run report and parsl-run status on a synthetic monitoring
# database of N tasks (default 1,000,000): report time, peak RSS and page size, the
# time of status --once, and the database's size per million tasks. Prints one
# markdown report on stdout (progress on stderr):
#
#   bench/report.sh > bench/results/report-$(date +%F).md
#
# The database is made by a real `parsl-run --monitor` run (so the schema and
# indexes are cparsl's own), emptied, and filled by bench/report_gen.sql (the shape
# is described there; it writes cparsl's cp_* tables, under Parsl's task, try,
# status and resource views). Environment: N, REPS (default 3), BUILD (default
# build), TMPDIR (where the database goes; it needs about 0.4 GB per million tasks).
set -u
cd "$(dirname "$0")/.." || exit 2
ROOT=$(pwd)
N=${N:-1000000}
REPS=${REPS:-3}
BUILD=${BUILD:-build}
case $N in ''|*[!0-9]*) echo "report.sh: N must be a number" >&2; exit 2 ;; esac
for tool in sqlite3 /usr/bin/time; do
    command -v $tool >/dev/null || { echo "report.sh: $tool is needed" >&2; exit 2; }
done

echo "report.sh: building (make bin)" >&2
make -s bin >&2 || { echo "report.sh: make bin failed" >&2; exit 2; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/cparsl-repbench.XXXXXX") || exit 2
trap 'rm -rf "$WORK"' EXIT
cp "$BUILD/parsl-run" "$WORK/" || exit 2     # others may rebuild build/ meanwhile
RUN=$WORK/parsl-run
DB=$WORK/monitoring.db
T_START=$(date +%s)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- the database
printf 'name: seed\napps:\n  a:\n    shell: "true"\ntasks:\n  a: {app: a}\n' > "$WORK/seed.yaml"
(cd "$WORK" && "$RUN" -q --monitor="$DB" seed.yaml >/dev/null 2>&1) ||
    { echo "report.sh: the seed run failed" >&2; exit 2; }
RUN_ID="bench-$N"
sed "s/@N@/$N/g; s/@RUN@/$RUN_ID/g" bench/report_gen.sql > "$WORK/gen.sql"
echo "report.sh: generating $N tasks into $DB" >&2
g0=$(date +%s.%N)
sqlite3 "$DB" < "$WORK/gen.sql" >/dev/null || { echo "report.sh: generation failed" >&2; exit 2; }
g1=$(date +%s.%N)
GEN_S=$(awk -v a="$g0" -v b="$g1" 'BEGIN { printf "%.0f", b - a }')
DB_BYTES=$(( $(stat -c %s "$DB") + $(stat -c %s "$DB-wal" 2>/dev/null || echo 0) ))
# Counted through Parsl's names (views over our tables), and our tables' own rows.
ROWS=$(sqlite3 "$DB" "SELECT 'task ' || (SELECT count(*) FROM task) || ', try ' || (SELECT count(*) FROM try) || ', status ' || (SELECT count(*) FROM status) || ', resource ' || (SELECT count(*) FROM resource) || ', block ' || (SELECT count(*) FROM block) || ', node ' || (SELECT count(*) FROM node)")
CP_ROWS=$(sqlite3 "$DB" "SELECT 'cp_task ' || (SELECT count(*) FROM cp_task) || ', cp_try ' || (SELECT count(*) FROM cp_try) || ', cp_status ' || (SELECT count(*) FROM cp_status) || ', cp_resource ' || (SELECT count(*) FROM cp_resource)")
INTEGRITY=$(sqlite3 "$DB" 'PRAGMA quick_check')
# Bytes per table and index (the dbstat virtual table, when this sqlite3 has it).
SPACE=$(sqlite3 "$DB" "SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC" 2>/dev/null)
# The report reads the file through the page cache, as it would right after a run.
cat "$DB" > /dev/null

# ---------------------------------------------------------------- measurements
median() { sort -n | awk '{ a[NR] = $1 } END { if (NR == 0) print "–"; else if (NR % 2) print a[(NR + 1) / 2]; else printf "%.2f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
: > "$WORK/report.txt"
: > "$WORK/status.txt"
FAIL=
for rep in $(seq 1 "$REPS"); do
    echo "report.sh: report, repetition $rep" >&2
    /usr/bin/time -f '%e %M' -o "$WORK/t" "$RUN" report "$DB" -o "$WORK/report.html" \
        2>"$WORK/err" || FAIL="$FAIL report(rep $rep): $(tail -1 "$WORK/err")"
    tail -1 "$WORK/t" >> "$WORK/report.txt"
    /usr/bin/time -f '%e %M' -o "$WORK/t" "$RUN" status "$DB" --once >"$WORK/status.out" \
        2>"$WORK/err" || FAIL="$FAIL status(rep $rep): $(tail -1 "$WORK/err")"
    tail -1 "$WORK/t" >> "$WORK/status.txt"
done
REP_S=$(cut -d' ' -f1 "$WORK/report.txt" | median)
REP_RSS=$(cut -d' ' -f2 "$WORK/report.txt" | median)
REP_ALL=$(cut -d' ' -f1 "$WORK/report.txt" | tr '\n' ' ')
ST_S=$(cut -d' ' -f1 "$WORK/status.txt" | median)
ST_RSS=$(cut -d' ' -f2 "$WORK/status.txt" | median)
HTML_BYTES=$(stat -c %s "$WORK/report.html" 2>/dev/null || echo 0)
NOTES=$(grep -o 'id="[a-z]*-note">[^<]*' "$WORK/report.html" | sed 's/^id="\([a-z]*\)-note">/- \1: /')

# The page in a browser: load time and console messages (when chromium is there).
BROWSER="not measured (no chromium)"
if command -v chromium >/dev/null; then
    b0=$(date +%s.%N)
    timeout 120 chromium --headless --no-sandbox --disable-gpu --no-first-run \
        --user-data-dir="$WORK/chrome" --enable-logging=stderr --v=0 \
        --dump-dom "file://$WORK/report.html" >"$WORK/dom" 2>"$WORK/chrome.log"
    b1=$(date +%s.%N)
    msgs=$(grep -c CONSOLE "$WORK/chrome.log")
    ready=$(grep -c '<body data-ready="1"' "$WORK/dom")
    BROWSER="$(awk -v a="$b0" -v b="$b1" 'BEGIN { printf "%.1f", b - a }') s for headless Chromium to load it and dump the DOM (browser start included); console messages: $msgs; page script ran: $([ "$ready" = 1 ] && echo yes || echo NO)"
fi
T_END=$(date +%s)

# ---------------------------------------------------------------- the report
mb() { awk -v b="$1" 'BEGIN { printf "%.1f MB", b / 1e6 }'; }
per_m() { awk -v b="$1" -v n="$N" 'BEGIN { printf "%.0f MB", b / 1e6 * 1e6 / n }'; }
cat <<EOF
# parsl-run report and status on a synthetic monitoring database — $(date -u +%F)

Command: \`bench/report.sh\`${N:+ (N=$N, REPS=$REPS)}; stdout is this file. Wall time of the
whole run: $((T_END - T_START)) s. Each measurement ran $REPS times in a fresh process;
the figures are medians (GNU time \`%e %M\`: wall seconds, peak RSS).

## Machine

|  |  |
|---|---|
| CPUs (nproc) | $(nproc) |
| CPU model | $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //') |
| kernel | $(uname -sr) ($(uname -m)) |
| OS | $(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME") |
| memory | $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo) |
| compiler | $(${CC:-cc} --version | head -1) |
| SQLite (library) | $(pkg-config --modversion sqlite3 2>/dev/null || echo unknown) |
| database directory (TMPDIR) | $(df -T "$WORK" | awk 'NR==2 {print $2}') at ${TMPDIR:-/tmp} |
| load average (1, 5, 15 min) at start / end | $LOAD_START / $(cut -d' ' -f1-3 /proc/loadavg) |
| date | $(date -u '+%Y-%m-%d %H:%M:%S UTC') |
| git commit | $(git rev-parse --short HEAD)$([ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ] && echo " + uncommitted changes") |

## The database

One run of $(printf "%'d" "$N") tasks made by \`bench/report_gen.sql\` in the schema a real
\`parsl-run --monitor\` run created (the shape: 5 apps, a DAG of ~2 edges per task, 97.5 %
exec_done with 4 status rows and 1 try, 2 % failed after a retry, 0.5 % dep_fail,
3 resource samples for every 10th task, 16 blocks, 128 nodes, one hour long). Parsl's
task, try, status and resource are views over cparsl's cp_* tables (docs/monitoring.md,
"How it is stored").

| | |
|---|---|
| rows (Parsl's names) | $ROWS |
| rows (our tables) | $CP_ROWS |
| file size (database + WAL) | $(mb "$DB_BYTES") |
| per million tasks | $(per_m "$DB_BYTES") |
| generation time (sqlite3, synchronous=OFF) | $GEN_S s |
| PRAGMA quick_check | $INTEGRITY |

$( [ -n "$SPACE" ] && { echo "Space by table and index (dbstat):"; echo; echo "| table or index | MB |"; echo "|---|---|"; echo "$SPACE" | awk -F'|' '{ printf "| %s | %.1f |\n", $1, $2 / 1e6 }'; } )

## Results

| | median | all runs |
|---|---|---|
| \`parsl-run report DB -o report.html\`: wall | $REP_S s | $REP_ALL |
| ... peak RSS | $(awk -v k="$REP_RSS" 'BEGIN { printf "%.1f MB", k / 1024 }') | |
| ... page size | $(mb "$HTML_BYTES") | |
| \`parsl-run status DB --once\`: wall | $ST_S s | |
| ... peak RSS | $(awk -v k="$ST_RSS" 'BEGIN { printf "%.1f MB", k / 1024 }') | |
| the page in a browser | $BROWSER | |

What the page says it capped (its own notes):

$NOTES

\`status --once\` printed:

\`\`\`
$(cat "$WORK/status.out")
\`\`\`
$( [ -n "$FAIL" ] && printf '\n## Failures\n\n%s\n' "$FAIL" )
EOF
