#!/bin/bash
# {t.stdout} / {t.stderr} of a task that names no stdout/stderr refer to its
# default files under runinfo/NNN/task_logs (DESIGN §9), so a later task can read
# what an earlier one printed.
cd "$(dirname "$0")/../.." || exit 1
ROOT=$PWD
BUILD=${CP_BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
RUN=$BUILD/parsl-run
unset CPARSL_TEMPLATE_PATH CPARSL_LOG_LEVEL
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "1..4"

cat > "$tmp/s.yaml" <<'YAML'
name: streams
apps:
  talk:
    shell: echo said {word}; echo complained {word} >&2
  read:
    shell: cat {talk.stdout} {talk.stderr} > {outputs[0]}
tasks:
  talk:
    app: talk
    foreach: {word: [one, two]}
  read:
    app: read
    foreach: talk
    outputs: ["got-{word}.txt"]
YAML
"$RUN" -q "$tmp/s.yaml" >/dev/null 2>"$tmp/err"
rc=$?
[ $rc = 0 ] && echo "ok 1 - a workflow reading default streams succeeds" ||
    { echo "not ok 1 - exit $rc"; sed 's/^/# /' "$tmp/err"; }
printf 'said one\ncomplained one\n' | cmp -s - "$tmp/got-one.txt" &&
    echo "ok 2 - {talk.stdout} and {talk.stderr} name the matching instance's files" ||
    { echo "not ok 2 - got-one.txt"; sed 's/^/# /' "$tmp/got-one.txt"; }
printf 'said two\ncomplained two\n' | cmp -s - "$tmp/got-two.txt" &&
    echo "ok 3 - for every instance" || echo "not ok 3 - got-two.txt"
ls "$tmp"/runinfo/000/task_logs/task_*_talk.stdout >/dev/null 2>&1 &&
    echo "ok 4 - the files are the engine's task_logs ones" || echo "not ok 4 - no task_logs"
