#!/bin/bash
# The config templates (templates/, docs/templates.md): every one loads and passes
# --check with its ${…} values given, and is refused naming the value when one is
# missing; the script one block would submit (--render-submit) equals its golden
# file (tests/golden/templates/NAME.sh; CP_UPDATE_GOLDEN=1 rewrites them); and
# every Slurm one is judged by a real `sbatch --test-only` on the test cluster
# (tests/services/slurm.sh), with the site's partition, constraint, QOS, GPU and
# memory lines swapped for what the one-node test cluster has.
# Env: CP_BUILD, CP_TEST_TIMEOUT_MULTIPLIER, CP_UPDATE_GOLDEN.
cd "$(dirname "$0")/../.." || exit 1
ROOT=$PWD
BUILD=${CP_BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
RUN=$BUILD/parsl-run
SVC=$ROOT/tests/services/slurm.sh
unset CPARSL_TEMPLATE_PATH CPARSL_LOG_LEVEL
tmp=$(mktemp -d)
up=0
cleanup() { [ "$up" = 1 ] && "$SVC" down >/dev/null 2>&1; rm -rf "$tmp"; }
trap cleanup EXIT
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); echo "not ok $n - $1"; shift; for f in "$@"; do [ -f "$f" ] && sed 's/^/#   /' "$f" | tail -n 15; done; }
DEFS=(-D ACCOUNT=abc123 -D PARTITION=debug -D QUEUE=workq -D PROJECT=p42)
cat > "$tmp/wf.yaml" <<'YAML'
name: t
apps:
  hi:
    shell: echo hi
tasks:
  hi:
    app: hi
YAML
# The parts of a rendered script that belong to this machine and this build.
normalize() {
    sed -e "s#$BUILD/parsl-worker#PARSL_WORKER#g" \
        -e "s#--addresses '\\\\''[0-9.,]*'\\\\''#--addresses '\\\\''ADDRESSES'\\\\''#g" \
        -e "s#--workdir '\\\\''[^']*'\\\\''#--workdir '\\\\''WORKDIR'\\\\''#g"
}
names=$(cd templates && ls *.yaml | sed 's/\.yaml$//' | grep -v '^local$')
for t in $names; do
    if "$RUN" --check --config "$t" "${DEFS[@]}" "$tmp/wf.yaml" >/dev/null 2>"$tmp/err"; then
        ok "$t: loads and passes --check"
    else
        nok "$t: loads and passes --check" "$tmp/err"
    fi
    need=$(grep -o '\${[A-Z_]*}' "templates/$t.yaml" | head -1 | tr -d '${}')
    if [ -n "$need" ]; then
        "$RUN" --check --config "$t" "$tmp/wf.yaml" >/dev/null 2>"$tmp/err"
        rc=$?
        if [ $rc = 2 ] && grep -q "\${$need} is not defined" "$tmp/err"; then
            ok "$t: without -D $need it is refused, naming it"
        else
            nok "$t: without -D $need it is refused, naming it (rc $rc)" "$tmp/err"
        fi
    fi
    "$RUN" --render-submit --config "$t" "${DEFS[@]}" 2>"$tmp/err" | normalize > "$tmp/$t.sh"
    golden=tests/golden/templates/$t.sh
    if [ "${CP_UPDATE_GOLDEN:-}" = 1 ]; then cp "$tmp/$t.sh" "$golden"; fi
    if [ -s "$tmp/$t.sh" ] && cmp -s "$tmp/$t.sh" "$golden"; then
        ok "$t: the rendered submit script equals $golden"
    else
        nok "$t: the rendered submit script equals $golden" "$tmp/err"
        diff "$golden" "$tmp/$t.sh" 2>&1 | head -20 | sed 's/^/#   /'
    fi
done

# sbatch --test-only on the real cluster; PBS scripts through Slurm's Torque
# wrapper, submitted held (qsub -h) and deleted: it passes #PBS -N, -q, -A,
# walltime and nodes:ppn on to Slurm, so those are judged for real; PBS Pro's
# select and filesystems resources and NSCC's -P project only by the golden
# files (sbatch does not know -P).
if "$SVC" up > "$tmp/svc" 2>&1; then
    up=1
    sed 's/^/# /' "$tmp/svc"
else
    nok "the test cluster starts (tests/services/slurm.sh up)" "$tmp/svc"
fi
for t in $names; do
    grep -q '^#SBATCH' "$tmp/$t.sh" || continue
    [ "$up" = 1 ] || { nok "$t: sbatch --test-only (no cluster)"; continue; }
    mkdir -p "$tmp/out"
    sed -e '/^# ---/d' -e "s#<script_dir>#$tmp/out#g" \
        -e 's/^#SBATCH --partition=.*/#SBATCH --partition=debug/' \
        -e 's/^#SBATCH --nodes=.*/#SBATCH --nodes=1/' \
        -e '/^#SBATCH --\(constraint\|qos\|gpus-per-node\|gres\|mem\)=/d' \
        "$tmp/$t.sh" > "$tmp/$t.test.sh"
    if out=$(sbatch --test-only "$tmp/$t.test.sh" 2>&1) && echo "$out" | grep -q "to start at"; then
        ok "$t: sbatch --test-only accepts its script"
    else
        nok "$t: sbatch --test-only accepts its script"
        echo "$out" | head -5 | sed 's/^/#   /'
    fi
done
for t in $names; do
    grep -q '^#PBS' "$tmp/$t.sh" || continue
    [ "$up" = 1 ] || { nok "$t: qsub -h (no cluster)"; continue; }
    mkdir -p "$tmp/out"
    sed -e '/^# ---/d' -e "s#<script_dir>#$tmp/out#g" -e 's/^#PBS -q .*/#PBS -q debug/' \
        -e 's/^#PBS -l nodes=[0-9]*/#PBS -l nodes=1/' -e 's/^#PBS -l select=[0-9]*/#PBS -l select=1/' \
        -e '/^#PBS -P /d' \
        "$tmp/$t.sh" > "$tmp/$t.test.sh"
    if id=$(cd "$tmp" && qsub -h "$tmp/$t.test.sh" 2>&1) && [ -n "$id" ] && [ "${id//[0-9]/}" = "" ]; then
        ok "$t: Slurm's qsub accepts its script (job $id, held, then deleted)"
        qdel "$id" >/dev/null 2>&1
    else
        nok "$t: Slurm's qsub accepts its script"
        echo "$id" | tail -3 | sed 's/^/#   /'
    fi
done
echo "1..$n"
