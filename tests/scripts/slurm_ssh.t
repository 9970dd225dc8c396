#!/bin/bash
# The slurm provider through the ssh channel (issue 5): parsl-run drives a real
# single-node Slurm (tests/services/slurm.sh) through a real sshd on 127.0.0.1
# (tests/services/sshd.sh, a generated user key and a generated host key in a
# known_hosts file):
#   - a workflow runs end to end: scripts are copied by SFTP into the channel's
#     script_dir, sbatch/squeue/scancel run over ssh, pools run in Slurm jobs;
#   - a changed host key is refused before anything is submitted, and the error
#     shows the server's fingerprint and how to fix it; an unknown host too.
# The login node is this machine, so paths are the same on both sides (on a real
# cluster the run directory must be on a filesystem both see: docs/channels.md).
# Fails (never passes silently) when sshd or Slurm cannot start.
# Env: CP_BUILD, CP_TEST_TIMEOUT_MULTIPLIER.
cd "$(dirname "$0")/../.." || exit 1
ROOT=$PWD
BUILD=${CP_BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
RUN=$BUILD/parsl-run
MULT=${CP_TEST_TIMEOUT_MULTIPLIER:-1}
unset CPARSL_TEMPLATE_PATH CPARSL_LOG_LEVEL CPARSL_WORKER
tmp=$(mktemp -d /tmp/cp-slurm-ssh.XXXXXX)
chmod 755 "$tmp"
SVC=$ROOT/tests/services/slurm.sh
SSHD=$ROOT/tests/services/sshd.sh
up=0 sshd_up=0
tag="s$$"
cleanup() {
    if [ $up = 1 ]; then
        ids=$(squeue -h -o '%i %j' 2>/dev/null | awk -v t="$tag" '$2 ~ t {print $1}')
        [ -n "$ids" ] && scancel $ids 2>/dev/null
        "$SVC" down >&2
    fi
    [ $sshd_up = 1 ] && "$SSHD" down "$tmp/sshd" >&2
    rm -rf "$tmp" "$HOME/.cparsl/runs/"*"$tag"* 2>/dev/null
}
trap cleanup EXIT
secs() { awk -v s="$1" -v m="$MULT" 'BEGIN { printf "%d", s * m }'; }
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); echo "not ok $n - $1"; shift; for f in "$@"; do [ -f "$f" ] && sed 's/^/#   /' "$f" | tail -n 30; done; }
check() { local desc=$1; shift; if "$@"; then ok "$desc"; else nok "$desc" "$tmp/err"; fi; }
echo "1..9"

if "$SSHD" up "$tmp/sshd" > "$tmp/sshd.log" 2>&1; then
    sshd_up=1
    sed 's/^/# /' "$tmp/sshd.log"
    . "$tmp/sshd/sshd.env"
    ok "sshd is up on 127.0.0.1:$SSHD_PORT"
else
    nok "sshd could not be started: every case below fails" "$tmp/sshd.log"
    for i in $(seq 2 9); do echo "not ok $i - no sshd"; done
    exit 1
fi
if "$SVC" up > "$tmp/up.log" 2>&1; then
    up=1
    sed 's/^/# /' "$tmp/up.log"
    ok "Slurm is up"
else
    nok "Slurm could not be started: every case below fails" "$tmp/up.log"
    for i in $(seq 3 9); do echo "not ok $i - no Slurm"; done
    exit 1
fi

cfg() {     # cfg FILE KNOWN_HOSTS
    cat > "$1" <<EOF
retries: 1
strategy_period: 0.5
executors:
  - label: ${tag}
    type: high_throughput
    max_workers_per_node: 1
    heartbeat_period: 1
    provider:
      type: slurm
      init_blocks: 1
      max_blocks: 1
      walltime: "00:05:00"
      exclusive: false
      status_polling_interval: 1
      launcher: srun
      channel:
        type: ssh
        host: 127.0.0.1
        port: $SSHD_PORT
        user: $SSHD_USER
        identity: $SSHD_KEY
        known_hosts: $2
        script_dir: $tmp/remote-scripts
EOF
}
mkdir -p "$tmp/run"
cat > "$tmp/run/wf.yaml" <<'EOF'
name: over-ssh
apps:
  sq:
    shell: echo $(( {i} * {i} )) job=$SLURM_JOB_ID > {outputs[0]}
tasks:
  sq:
    app: sq
    foreach: {i: [1, 2, 3, 4]}
    outputs: ["out/{i}.txt"]
EOF
cfg "$tmp/run/cfg.yaml" "$SSHD_KNOWN_HOSTS"
timeout -k 5 "$(secs 150)" "$RUN" -q --config "$tmp/run/cfg.yaml" "$tmp/run/wf.yaml" >/dev/null 2>"$tmp/err"
rc=$?
check "a workflow through ssh + Slurm completes (rc $rc)" [ $rc = 0 ]
check "its tasks ran inside Slurm jobs" \
    [ "$(cat "$tmp"/run/out/*.txt 2>/dev/null | grep -c 'job=[0-9]')" = 4 ]
check "the submit script was put by SFTP into the channel's script_dir" \
    [ -n "$(ls "$tmp"/remote-scripts/parsl."$tag".block-0* 2>/dev/null)" ]
log=$(ls "$tmp"/run/runinfo/*/parsl.log | head -1)
check "the provider ran its commands on $SSHD_USER@127.0.0.1:$SSHD_PORT" \
    grep -q "provider on $SSHD_USER@127.0.0.1:$SSHD_PORT" "$log"

# A changed host key: known_hosts holds another key for [127.0.0.1]:PORT.
ssh-keygen -q -t ed25519 -N '' -f "$tmp/other" >/dev/null
echo "[127.0.0.1]:$SSHD_PORT $(cut -d' ' -f1,2 "$tmp/other.pub")" > "$tmp/changed_known_hosts"
mkdir -p "$tmp/changed"
cp "$tmp/run/wf.yaml" "$tmp/changed/"
cfg "$tmp/changed/cfg.yaml" "$tmp/changed_known_hosts"
before=$(squeue -h -o '%j' 2>/dev/null | grep -c "$tag")
timeout -k 5 "$(secs 60)" "$RUN" -q --config "$tmp/changed/cfg.yaml" "$tmp/changed/wf.yaml" >/dev/null 2>"$tmp/err"
rc=$?
fp=$(ssh-keygen -lf "$tmp/sshd/host_ed25519.pub" | awk '{print $2}')
check "a changed host key is refused: parsl-run fails (rc $rc)" [ $rc != 0 ]
check "... the error shows the server's fingerprint ($fp)" grep -q "$fp" "$tmp/err"
check "... and nothing was submitted" \
    [ "$(squeue -h -o '%j' 2>/dev/null | grep -c "$tag")" = "$before" ]
