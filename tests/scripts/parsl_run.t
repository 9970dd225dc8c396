#!/bin/bash
# parsl-run, really run: the error corpora through --check and a plain run (exit 2,
# the exact first error line, nothing written), shell quoting end to end, exit
# statuses, --dag, -D, -j, --run-dir, Ctrl-C/SIGTERM and the progress lines.
# Env: CP_BUILD (build dir), CC, CP_TEST_TIMEOUT_MULTIPLIER (slow sanitizer builds).
cd "$(dirname "$0")/../.." || exit 1
ROOT=$PWD
BUILD=${CP_BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
RUN=$BUILD/parsl-run
CC=${CC:-cc}
MULT=${CP_TEST_TIMEOUT_MULTIPLIER:-1}
export LC_ALL=C
unset CPARSL_T_UNDEFINED CPARSL_TEMPLATE_PATH CPARSL_LOG_LEVEL

tmp=$(mktemp -d)
bg_pids=()
cleanup() {
    local p
    for p in "${bg_pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT

# Seconds scaled by the multiplier (it may be fractional).
secs() { awk -v s="$1" -v m="$MULT" 'BEGIN { printf "%g", s * m }'; }
# The same, a whole number (rounded up).
isecs() { awk -v s="$1" -v m="$MULT" 'BEGIN { x = s * m; printf "%d", x == int(x) ? x : int(x) + 1 }'; }
# Runs parsl-run with a time limit; its exit status (124/137 when it hung).
prun() { timeout -k 5 "$(secs 120)" "$RUN" "$@"; }

n=0
# report STATUS DESCRIPTION [FILE...]: one TAP line; the files are shown on failure.
report() {
    local st=$1 desc=$2 f
    shift 2
    n=$((n + 1))
    if [ "$st" = 0 ]; then
        echo "ok $n - $desc"
    else
        echo "not ok $n - $desc"
        for f in "$@"; do [ -f "$f" ] && sed 's/^/#   /' "$f" | head -n 40; done
    fi
}
diag() { printf '%s\n' "$@" | sed 's/^/# /'; }
# A listing of everything under a directory (paths, types and sizes).
listing() { (cd "$1" && find . -printf '%p %y %s\n' | sort); }

# --- the corpora ------------------------------------------------------------
wfc=$tmp/wfc cfc=$tmp/cfc cwf=$tmp/cfg-wf
mkdir -p "$wfc" "$cfc" "$cwf"
cp -R tests/corpus/wf/. "$wfc/"
cp -R tests/corpus/config/. "$cfc/"
# Native-app type checks need the library: parsl-run exports the cparsl symbols.
"$CC" -shared -fPIC -Iinclude -o "$wfc/lib/typed.so" "$wfc/lib/typed.c" 2>"$tmp/typed.err"
typed_rc=$?
wf_cases=()
for y in "$wfc"/*.yaml; do b=${y##*/}; wf_cases+=("${b%.yaml}"); done
cf_cases=()
for y in "$cfc"/*.yaml; do
    b=${y##*/}
    case $b in _*) continue ;; esac
    cf_cases+=("${b%.yaml}")
done
plain_cases=()
for c in cycle unknown_app unknown_task_ref type_str_for_long dup_output yaml_syntax; do
    [ -f "$wfc/$c.yaml" ] && plain_cases+=("$c")
done

# Quoting: hostile values, each one argument of printf.
qvals=('a b' "it's" 'say "hi"' '$(touch pwned)' '`touch pwned`' 'x; touch pwned'
       'x && touch pwned' 'x | touch pwned' $'line1\nline2' '*' '-n' '--' '{outputs[0]}'
       '$HOME' 'back\slash' "  lead and trail  ")

echo "1..$((1 + ${#wf_cases[@]} + ${#plain_cases[@]} + ${#cf_cases[@]} + ${#qvals[@]} + 51))"

report "$typed_rc" "tests/corpus/wf/lib/typed.so builds with $CC" "$tmp/typed.err"

# first_line FILE: its first line (empty when none).
first_line() { head -n 1 "$1" 2>/dev/null; }

before=$tmp/before after=$tmp/after
listing "$wfc" >"$before"
for c in "${wf_cases[@]}"; do
    (cd "$wfc" && prun --check "$c.yaml") >"$tmp/out" 2>"$tmp/err"
    rc=$?
    got=$(first_line "$tmp/err") want=$(first_line "$wfc/$c.expect")
    listing "$wfc" >"$after"
    if [ "$rc" = 2 ] && [ "$got" = "$want" ] && cmp -s "$before" "$after"; then
        report 0 "wf corpus $c: --check exits 2 with the expected first line, writes nothing"
    else
        report 1 "wf corpus $c: --check exits 2 with the expected first line, writes nothing"
        diag "exit $rc" "want: $want" "got:  $got"
        diff "$before" "$after" | sed 's/^/# /'
        listing "$wfc" >"$before"
    fi
done
for c in "${plain_cases[@]}"; do
    (cd "$wfc" && prun "$c.yaml") >"$tmp/out" 2>"$tmp/err"
    rc=$?
    got=$(first_line "$tmp/err") want=$(first_line "$wfc/$c.expect")
    listing "$wfc" >"$after"
    if [ "$rc" = 2 ] && [ "$got" = "$want" ] && cmp -s "$before" "$after" &&
       [ ! -e "$wfc/runinfo" ]; then
        report 0 "wf corpus $c: a plain run exits 2, runs and writes nothing"
    else
        report 1 "wf corpus $c: a plain run exits 2, runs and writes nothing"
        diag "exit $rc" "want: $want" "got:  $got"
        diff "$before" "$after" | sed 's/^/# /'
        listing "$wfc" >"$before"
    fi
done

# Config corpus: a valid workflow outside the corpus copy, run from inside it so
# that the names in messages are the ones the .expect files use.
cat >"$cwf/ok.yaml" <<'EOF'
name: ok
apps:
  a:
    shell: echo hi > {outputs[0]}
tasks:
  a:
    app: a
    outputs: [a.txt]
EOF
{ listing "$cfc"; listing "$cwf"; } >"$before"
for c in "${cf_cases[@]}"; do
    (cd "$cfc" && prun --check --config "$c.yaml" ../cfg-wf/ok.yaml) >"$tmp/out" 2>"$tmp/err"
    rc=$?
    got=$(first_line "$tmp/err") want=$(first_line "$cfc/$c.expect")
    { listing "$cfc"; listing "$cwf"; } >"$after"
    desc="config corpus $c: --check --config exits 2 with the expected first line, writes nothing"
    if [ "$rc" = 2 ] && [ "$got" = "$want" ] && cmp -s "$before" "$after"; then
        report 0 "$desc"
    else
        report 1 "$desc"
        diag "exit $rc" "want: $want" "got:  $got"
        diff "$before" "$after" | sed 's/^/# /'
        { listing "$cfc"; listing "$cwf"; } >"$before"
    fi
done

# --- quoting ----------------------------------------------------------------
q=$tmp/quote
mkdir -p "$q"
cat >"$q/q.yaml" <<'EOF'
name: quote
vars: {v: plain}
apps:
  p:
    shell: printf '<%s>\n' {v} > {outputs[0]}
tasks:
  p:
    app: p
    outputs: [out.txt]
EOF
i=0
for v in "${qvals[@]}"; do
    i=$((i + 1))
    rm -f "$q/out.txt"
    prun -q -D "v=$v" "$q/q.yaml" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    printf '<%s>\n' "$v" >"$tmp/want"
    shown=$(printf '%q' "$v")
    if [ "$rc" = 0 ] && cmp -s "$tmp/want" "$q/out.txt" && [ -z "$(find "$tmp" -name pwned)" ]; then
        report 0 "-D v=$shown reaches printf as one literal argument"
    else
        report 1 "-D v=$shown reaches printf as one literal argument" "$tmp/err"
        diag "exit $rc; out.txt:"
        sed 's/^/#   /' "$q/out.txt" 2>/dev/null
    fi
done

# The same values written in the YAML: as task vars, and as a foreach list.
# yq VALUE: a double-quoted YAML scalar.
yq() {
    local s=$1
    s=${s//\\/\\\\}
    s=${s//\"/\\\"}
    s=${s//$'\n'/\\n}
    printf '"%s"' "$s"
}
y=$tmp/yvars
mkdir -p "$y"
{
    cat <<'EOF'
name: yvars
apps:
  p:
    shell: printf '<%s>\n' {v} > {outputs[0]}
tasks:
EOF
    i=0
    for v in "${qvals[@]}"; do
        printf '  t%d:\n    app: p\n    vars: {v: %s}\n    outputs: [tv/%d.txt]\n' "$i" "$(yq "$v")" "$i"
        i=$((i + 1))
    done
    printf '  each:\n    app: p\n    foreach:\n      v:\n'
    for v in "${qvals[@]}"; do printf '        - %s\n' "$(yq "$v")"; done
    printf '      k:\n'
    i=0
    for v in "${qvals[@]}"; do printf '        - %d\n' "$i"; i=$((i + 1)); done
    printf '    outputs: ["fe/{k}.txt"]\n'
} >"$y/y.yaml"
prun -q "$y/y.yaml" >"$tmp/out" 2>"$tmp/err"
rc=$?
bad=0
i=0
for v in "${qvals[@]}"; do
    printf '<%s>\n' "$v" >"$tmp/want"
    for f in "$y/tv/$i.txt" "$y/fe/$i.txt"; do
        if ! cmp -s "$tmp/want" "$f"; then
            bad=1
            diag "$f: want $(printf '%q' "$v")"
        fi
    done
    i=$((i + 1))
done
if [ "$rc" = 0 ] && [ "$bad" = 0 ]; then
    report 0 "the same values from YAML task vars and a foreach list are one argument each"
else
    report 1 "the same values from YAML task vars and a foreach list are one argument each" \
        "$tmp/err" "$y/y.yaml"
fi
if [ -z "$(find "$tmp" -name pwned)" ]; then
    report 0 "no value ran a command (no pwned file anywhere)"
else
    report 1 "no value ran a command (no pwned file anywhere)"
    find "$tmp" -name pwned | sed 's/^/# /'
fi

# --- exit statuses ----------------------------------------------------------
ok_wf=$tmp/okwf
mkdir -p "$ok_wf"
cat >"$ok_wf/ok.yaml" <<'EOF'
name: hello
apps:
  greet:
    shell: echo hello {who} > {outputs[0]}
  shout:
    shell: tr a-z A-Z < {inputs[0]} > {outputs[0]}
vars: {who: world}
tasks:
  greet:
    app: greet
    outputs: [hello.txt]
  shout:
    app: shout
    inputs: ["{greet.outputs[0]}"]
    outputs: [HELLO.txt]
EOF
prun "$ok_wf/ok.yaml" >"$tmp/out" 2>"$tmp/err"
rc=$?
[ "$rc" = 0 ] && [ "$(cat "$ok_wf/HELLO.txt" 2>/dev/null)" = "HELLO WORLD" ]
report $? "a workflow that succeeds exits 0 and writes its outputs (exit $rc)" "$tmp/err"

fw=$tmp/failure
cp -R examples/workflows/failure "$fw"
prun "$fw/failure.yaml" >"$tmp/out" 2>"$tmp/err"
rc=$?
report "$([ "$rc" = 1 ]; echo $?)" "examples/workflows/failure exits 1 (exit $rc)" "$tmp/err"
grep -Eq '(^| )analyse dep_fail ' "$tmp/err" && grep -Eq '(^| )plot dep_fail ' "$tmp/err"
report $? "its stderr shows dep_fail for analyse and plot" "$tmp/err"
[ -f "$fw/inventory.txt" ] && [ "$(tr -d ' ' <"$fw/inventory.txt")" = 100 ] &&
    [ ! -e "$fw/data/analysis.txt" ] && [ ! -e "$fw/plot.txt" ]
report $? "inventory.txt is written (100 lines counted); data/analysis.txt and plot.txt are not"

# usage_case DESC ARGS...: exit 2, a "Try 'parsl-run --help'" hint, nothing written.
listing "$ok_wf" >"$before"
usage_case() {
    local desc=$1
    shift
    (cd "$ok_wf" && prun "$@") >"$tmp/out" 2>"$tmp/err"
    local rc=$?
    listing "$ok_wf" >"$after"
    [ "$rc" = 2 ] && grep -q "^parsl-run: " "$tmp/err" && grep -q -- "--help" "$tmp/err" &&
        cmp -s "$before" "$after"
    report $? "usage error, $desc: exit 2 with a hint, nothing written (exit $rc)" "$tmp/err"
}
usage_case "no workflow file"
usage_case "unknown option" --frobnicate ok.yaml
usage_case "--dag svg" --dag svg ok.yaml
usage_case "-j 0" -j 0 ok.yaml
usage_case "-j x" -j x ok.yaml
usage_case "two workflow files" ok.yaml ok.yaml
usage_case "-D without =" -D who ok.yaml

(cd "$ok_wf" && prun nothere.yaml) >"$tmp/out" 2>"$tmp/err"
rc=$?
listing "$ok_wf" >"$after"
[ "$rc" = 2 ] && grep -q "nothere.yaml" "$tmp/err" && cmp -s "$before" "$after"
report $? "a missing workflow file: exit 2, named in the message, nothing written (exit $rc)" \
    "$tmp/err"

ex=$tmp/exec
mkdir -p "$ex"
cat >"$ex/w.yaml" <<'EOF'
name: wrong-executor
apps:
  a:
    shell: echo a > {outputs[0]}
tasks:
  first:
    app: a
    outputs: [a.txt]
  second:
    app: a
    executor: gpu
    outputs: [b.txt]
EOF
listing "$ex" >"$before"
(cd "$ex" && prun w.yaml) >"$tmp/out" 2>"$tmp/err"
rc=$?
listing "$ex" >"$after"
want="w.yaml:11:15: task 'second' uses executor 'gpu', which the config does not define (executors: threads)"
[ "$rc" = 2 ] && [ "$(first_line "$tmp/err")" = "$want" ] && cmp -s "$before" "$after"
report $? "a task naming an executor the config lacks: exit 2 at its executor: line, nothing run" \
    "$tmp/err"

prun --help >"$tmp/out" 2>"$tmp/err"
rc=$?
missing=""
# Every option the man page lists, and the ones the brief names.
opts=$(sed -n '/^\.SH OPTIONS/,/^\.SH /p' docs/parsl-run.1 | grep -A1 '^\.TP' |
       sed -e 's/\\-/-/g' -e 's/\\f[BRIP]//g' | grep -oE -- '(^|[ "])--?[a-zA-Z][a-z-]*' | tr -d ' "' | sort -u)
for o in $opts --check --dag --config -D --define --run-dir -j --max-workers -q --quiet \
         -h --help -V --version; do
    grep -qE -- "(^|[ ,])$o([ ,=]|$)" "$tmp/out" || missing="$missing $o"
done
[ "$rc" = 0 ] && [ -z "$missing" ] && [ -n "$opts" ]
report $? "--help exits 0 and mentions every option (missing:${missing:- none})" "$tmp/err"

prun --version >"$tmp/out" 2>"$tmp/err"
rc=$?
ver=$(sed -n 's/^#define CPARSL_VERSION "\(.*\)"/\1/p' include/cparsl.h)
[ "$rc" = 0 ] && [ -n "$ver" ] && grep -q "^parsl-run .*$ver\$" "$tmp/out"
report $? "--version exits 0 and prints $ver (exit $rc)" "$tmp/out" "$tmp/err"

# --- --dag --------------------------------------------------------------------
wc=$tmp/wordcount
cp -R examples/workflows/wordcount "$wc"
listing "$wc" >"$before"
{
    for i in 0 1 2 3; do echo "split[$i] -> count[$i]"; echo "count[$i] -> merge"; done
} | sort >"$tmp/edges.want"
for fmt in dot mermaid; do
    (cd "$tmp" && prun --dag "$fmt" wordcount/wordcount.yaml) >"$tmp/dag.$fmt" 2>"$tmp/err"
    rc=$?
    listing "$wc" >"$after"
    # Node ids to labels, then edges by label.
    if [ "$fmt" = dot ]; then
        awk '/^ *[A-Za-z0-9_]+ \[label="/ { id = $1; l = $0; sub(/^[^"]*"/, "", l); sub(/".*/, "", l); lab[id] = l }
             / -> / { a = $1; b = $3; sub(/;$/, "", b); print lab[a] " -> " lab[b] }' \
            "$tmp/dag.$fmt" | sort >"$tmp/edges.got"
    else
        awk '/^ *[A-Za-z0-9_]+\["/ { l = $0; sub(/^ */, "", l); id = l; sub(/\[.*/, "", id);
                                     sub(/^[^"]*"/, "", l); sub(/".*/, "", l); lab[id] = l }
             / --> / { print lab[$1] " -> " lab[$3] }' "$tmp/dag.$fmt" | sort >"$tmp/edges.got"
    fi
    [ "$rc" = 0 ] && cmp -s "$tmp/edges.want" "$tmp/edges.got" && cmp -s "$before" "$after"
    report $? "--dag $fmt of wordcount: exactly split[i] -> count[i] -> merge, nothing run or written" \
        "$tmp/edges.got" "$tmp/err"
done
nodes=$(grep -c '\[label="' "$tmp/dag.dot")
head -n 1 "$tmp/dag.mermaid" | grep -qE '^(flowchart|graph) ' && [ "$nodes" = 9 ]
report $? "the dot graph has 9 nodes and the mermaid text starts with a flowchart header"
if command -v dot >/dev/null 2>&1; then
    dot -Tsvg "$tmp/dag.dot" >"$tmp/dag.svg" 2>"$tmp/err" && grep -q '<svg' "$tmp/dag.svg"
    report $? "graphviz dot renders the --dag dot output" "$tmp/err"
else
    n=$((n + 1))
    echo "ok $n # skip graphviz dot is not installed"
fi

# --- -D and -j -------------------------------------------------------------------
pi=$tmp/pi
cp -R examples/workflows/pi "$pi"
"$CC" -shared -fPIC -Iinclude -o "$pi/libpi.so" "$pi/libpi.c" 2>"$tmp/err"
prun -q -D samples=1000 "$pi/pi.yaml" >"$tmp/out" 2>>"$tmp/err"
rc=$?
[ "$rc" = 0 ] && grep -qw 1000 "$pi/pi.txt" && ! grep -qw 200000 "$pi/pi.txt"
report $? "-D samples=1000 reaches the pi tasks (pi.txt: $(cat "$pi/pi.txt" 2>/dev/null))" "$tmp/err"

jw=$tmp/jobs
mkdir -p "$jw"
cat >"$jw/j.yaml" <<'EOF'
name: jobs
vars: {pause: 0.5}
apps:
  nap:
    shell: s=$(date +%s.%N); sleep {pause}; e=$(date +%s.%N); echo "$s $e" > {outputs[0]}
tasks:
  nap:
    app: nap
    foreach:
      i: [1, 2, 3, 4]
    outputs: ["t/{i}"]
EOF
# overlaps: how many consecutive (by start) intervals overlap; -1 when files are missing.
overlaps() {
    [ "$(cat "$jw"/t/* 2>/dev/null | wc -l)" = 4 ] || { echo -1; return; }
    cat "$jw"/t/* | sort -g | awk 'NR > 1 && $1 < end { o++ } { if ($2 > end) end = $2 } END { print o + 0 }'
}
rm -rf "$jw/t"
prun -q -j 1 -D pause=0.3 "$jw/j.yaml" >"$tmp/out" 2>"$tmp/err"
rc=$?
o=$(overlaps)
[ "$rc" = 0 ] && [ "$o" = 0 ]
report $? "-j 1 runs the 4 tasks one at a time (overlaps: $o)" "$tmp/err"
rm -rf "$jw/t"
prun -q -j 4 -D "pause=$(secs 1)" "$jw/j.yaml" >"$tmp/out" 2>"$tmp/err"
rc=$?
o=$(overlaps)
[ "$rc" = 0 ] && [ "$o" -ge 1 ]
report $? "-j 4 runs them concurrently (overlaps: $o)" "$tmp/err"

# --- run directories ---------------------------------------------------------
rd=$tmp/rd
mkdir -p "$rd/wf" "$rd/elsewhere"
cat >"$rd/wf/w.yaml" <<'EOF'
name: where
apps:
  a:
    shell: echo hi > {outputs[0]}; pwd -P > here.txt
tasks:
  a:
    app: a
    outputs: [sub/o.txt]
EOF
(cd "$rd/elsewhere" && prun -q ../wf/w.yaml) >"$tmp/out" 2>"$tmp/err"
rc=$?
[ "$rc" = 0 ] && [ -f "$rd/wf/runinfo/000/parsl.log" ] && [ ! -e "$rd/elsewhere/runinfo" ] &&
    grep -q "$rd/wf/runinfo/000" "$tmp/err"
report $? "started elsewhere, runinfo/000 lands beside the workflow (and the summary names it)" \
    "$tmp/err"
[ -f "$rd/wf/sub/o.txt" ] && [ ! -e "$rd/elsewhere/sub" ] &&
    [ "$(cat "$rd/wf/here.txt" 2>/dev/null)" = "$(cd "$rd/wf" && pwd -P)" ]
report $? "relative outputs land in the workflow's directory, where the task ran"
(cd "$rd/elsewhere" && prun -q ../wf/w.yaml) >"$tmp/out" 2>"$tmp/err"
rc=$?
[ "$rc" = 0 ] && [ -f "$rd/wf/runinfo/001/parsl.log" ]
report $? "a second run gets runinfo/001" "$tmp/err"
(cd "$rd/elsewhere" && prun -q --run-dir runs ../wf/w.yaml) >"$tmp/out" 2>"$tmp/err"
rc=$?
[ "$rc" = 0 ] && [ -f "$rd/elsewhere/runs/000/parsl.log" ] && [ ! -e "$rd/wf/runinfo/002" ] &&
    grep -q "$rd/elsewhere/runs/000" "$tmp/err"
report $? "--run-dir runs (relative to the current directory) gets runs/000 instead" "$tmp/err"
prun -q --run-dir "$rd/abs" "$rd/wf/w.yaml" >"$tmp/out" 2>"$tmp/err"
rc=$?
[ "$rc" = 0 ] && [ -f "$rd/abs/000/parsl.log" ] && [ ! -e "$rd/wf/runinfo/002" ]
report $? "--run-dir with an absolute path" "$tmp/err"

# --- interrupts -------------------------------------------------------------------
# interrupt NAME SIGNAL HOW COMMAND: six TAP lines. HOW is "group" (the whole
# process group, as a terminal's Ctrl-C does) or "pid"; COMMAND is the long task,
# which writes its shell's PID to sleeper.pid first.
interrupt() {
    local name=$1 sig=$2 how=$3 cmd=$4 d=$tmp/int-$1 p sp="" i rc gone
    mkdir -p "$d"
    {
        printf 'name: interrupt\napps:\n  sleeper:\n    shell: %s\n' "$cmd"
        cat <<'EOF'
  mark:
    shell: echo ran > {outputs[0]}
tasks:
  sleeper:
    app: sleeper
    priority: -1
  queued:
    app: mark
    foreach:
      i: range(0, 20)
    outputs: ["ran/{i}.txt"]
EOF
    } >"$d/w.yaml"
    set -m      # its own process group, like a foreground job of a terminal
    "$RUN" -j 1 "$d/w.yaml" >"$d/out" 2>"$d/err" &
    p=$!
    set +m
    bg_pids+=("$p")
    for ((i = 0; i < $(isecs 300); i++)); do
        sp=$(cat "$d/sleeper.pid" 2>/dev/null)
        [ -n "$sp" ] && kill -0 "$sp" 2>/dev/null && break
        sleep 0.1
    done
    [ -n "$sp" ] && kill -0 "$sp" 2>/dev/null
    report $? "$name: the long task is running (pid ${sp:-none})" "$d/err"
    sleep 0.2
    if [ "$how" = group ]; then kill -"$sig" -- "-$p"; else kill -"$sig" "$p"; fi
    for ((i = 0; i < $(isecs 150); i++)); do
        kill -0 "$p" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$p" 2>/dev/null; then
        diag "parsl-run still running $(isecs 15) s after SIG$sig: killing it"
        kill -KILL "$p"
    fi
    wait "$p"
    rc=$?
    [ "$rc" = 130 ]
    report $? "$name: parsl-run exits 130 within $(isecs 15) s (exit $rc)" "$d/err"
    gone=1
    for ((i = 0; i < $(isecs 30); i++)); do
        [ -n "$sp" ] && kill -0 "$sp" 2>/dev/null || { gone=0; break; }
        sleep 0.1
    done
    [ -n "$sp" ] || gone=1
    report "$gone" "$name: the long task's process is gone"
    [ -n "$sp" ] && [ "$gone" != 0 ] && kill -KILL "$sp" 2>/dev/null
    [ -f "$d/runinfo/000/parsl.log" ] && grep -qi interrupt "$d/runinfo/000/parsl.log"
    report $? "$name: runinfo/000/parsl.log exists and records the interrupt" \
        "$d/runinfo/000/parsl.log"
    [ ! -e "$d/ran" ] || [ -z "$(ls -A "$d/ran")" ]
    report $? "$name: none of the 20 queued tasks ran ($(ls "$d/ran" 2>/dev/null | wc -l) did)"
    tail -n 1 "$d/err" | grep -q "^interrupt: 21 tasks: .*interrupted.*runinfo/000"
    report $? "$name: the summary line says interrupted" "$d/err"
}
interrupt "Ctrl-C (SIGINT to the process group)" INT group 'echo $$ > sleeper.pid; exec sleep 60'
interrupt "SIGTERM" TERM pid 'echo $$ > sleeper.pid; exec sleep 60'
# A task that ignores SIGTERM gets SIGKILL 2 s later (parsl-run(1), INTERRUPTING).
interrupt "SIGINT, a task ignoring SIGTERM" INT pid \
    "trap '' TERM INT; echo \$\$ > sleeper.pid; while :; do sleep 0.1; done"

# --- progress lines -----------------------------------------------------------------
pw=$tmp/progress
mkdir -p "$pw"
cat >"$pw/p.yaml" <<'EOF'
name: lines
apps:
  a:
    shell: echo {i} > {outputs[0]}
  b:
    shell: cat {inputs} > {outputs[0]}
tasks:
  a:
    app: a
    foreach:
      i: [1, 2, 3]
    outputs: ["a{i}.txt"]
  b:
    app: b
    inputs: ["{a[*].outputs[0]}"]
    outputs: [b.txt]
EOF
prun "$pw/p.yaml" >"$tmp/out" 2>"$tmp/err"
rc=$?
bad=""
for t in 'a\[0\]' 'a\[1\]' 'a\[2\]' b; do
    for s in running exec_done; do
        [ "$(grep -cE "^[0-9]{2}:[0-9]{2}:[0-9]{2} $t $s \(task [0-9]+\)\$" "$tmp/err")" = 1 ] ||
            bad="$bad $t/$s"
    done
done
[ "$rc" = 0 ] && [ -z "$bad" ] && [ "$(wc -l <"$tmp/err")" = 9 ] && [ ! -s "$tmp/out" ]
report $? "not on a terminal: one line per running/exec_done of each task${bad:+ (missing:$bad)}" \
    "$tmp/err"
tail -n 1 "$tmp/err" |
    grep -qE "^lines: 4 tasks: 4 done, 0 failed, 0 dep_fail in [0-9]+:[0-9]{2}; run directory $pw/runinfo/000\$"
report $? "then the summary line" "$tmp/err"
prun -q "$pw/p.yaml" >"$tmp/out" 2>"$tmp/err"
rc=$?
[ "$rc" = 0 ] && [ "$(wc -l <"$tmp/err")" = 1 ] && [ ! -s "$tmp/out" ] &&
    grep -qE "^lines: 4 tasks: 4 done, 0 failed, 0 dep_fail in [0-9:]+; run directory $pw/runinfo/001\$" "$tmp/err"
report $? "-q prints only the summary for a successful run" "$tmp/err"
prun -q "$fw/failure.yaml" >"$tmp/out" 2>"$tmp/err"
rc=$?
[ "$rc" = 1 ] && grep -q ' calibrate failed ' "$tmp/err" && ! grep -q ' running ' "$tmp/err" &&
    tail -n 1 "$tmp/err" | grep -q "^failure-demo: 5 tasks: 2 done, 1 failed, 2 dep_fail"
report $? "-q still prints failures, and the summary counts them" "$tmp/err"
