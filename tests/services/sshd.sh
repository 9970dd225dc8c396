#!/bin/sh
# tests/services/sshd.sh — a private OpenSSH server on 127.0.0.1 for the tests
# (the ssh channel, and the batch providers run over it).
#
#   sshd.sh up DIR      start sshd on a free port; everything lives in DIR
#   sshd.sh agent DIR   start an ssh-agent holding DIR's user key
#   sshd.sh down DIR    stop what up/agent started (by their pid files)
#
# `up` generates a host key (DIR/host_ed25519), a user key (DIR/id_ed25519, in
# DIR/authorized_keys) and DIR/known_hosts with the `[127.0.0.1]:PORT` entry
# (a non-22 port must be written that way: libssh does not fall back to the
# bare host name as OpenSSH's client does). It writes DIR/sshd.env, shell
# assignments the tests read:
#   SSHD_HOST SSHD_PORT SSHD_USER SSHD_KEY SSHD_KNOWN_HOSTS SSHD_PID SSHD_LOG
# and `agent` appends SSHD_AUTH_SOCK and SSHD_AGENT_PID.
# It logs in as the user running the script (root on CI: PermitRootLogin
# prohibit-password allows keys). Needs openssh-server and openssh-client; no
# systemd. Exit status 0 when the service runs, 1 with the reason on stderr.
set -u

die() { echo "sshd.sh: $*" >&2; exit 1; }

SSHD=${SSHD:-/usr/sbin/sshd}

cmd=${1:-}
D=${2:-}
[ -n "$cmd" ] && [ -n "$D" ] || { echo "usage: sshd.sh up|agent|down DIR" >&2; exit 2; }
case $D in /*) ;; *) D=$PWD/$D ;; esac

# A port nobody listens on: random in 20000-59999, checked against /proc's
# listening TCP sockets; sshd's own bind is the final word (up retries).
pick_port() {
    while :; do
        p=$(( 20000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 40000 ))
        hex=$(printf '%04X' "$p")
        if ! awk -v h=":$hex" '$4 == "0A" && substr($2, length($2) - 4) == h { f = 1 } END { exit !f }' \
                /proc/net/tcp /proc/net/tcp6 2>/dev/null; then
            echo "$p"
            return
        fi
    done
}

up() {
    [ -x "$SSHD" ] || die "$SSHD not found (apt-get install openssh-server)"
    command -v ssh-keygen >/dev/null || die "ssh-keygen not found (apt-get install openssh-client)"
    mkdir -p "$D" && chmod 700 "$D" || die "cannot create $D"
    if [ -s "$D/sshd.pid" ] && kill -0 "$(cat "$D/sshd.pid")" 2>/dev/null; then
        die "an sshd from $D already runs (pid $(cat "$D/sshd.pid")); sshd.sh down $D first"
    fi
    # The privilege-separation directory: sshd refuses to start without it.
    if [ "$(id -u)" = 0 ]; then
        install -d -m 0755 /run/sshd || die "cannot create /run/sshd"
    fi
    user=$(id -un)
    [ -f "$D/host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C cparsl-test-host -f "$D/host_ed25519" ||
        die "ssh-keygen (host key) failed"
    [ -f "$D/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C cparsl-test-user -f "$D/id_ed25519" ||
        die "ssh-keygen (user key) failed"
    cp "$D/id_ed25519.pub" "$D/authorized_keys" && chmod 600 "$D/authorized_keys"
    tries=0
    while :; do
        tries=$((tries + 1))
        port=$(pick_port)
        # StrictModes no: the keys live under a temporary directory whose
        # parents' modes sshd would otherwise refuse. MaxStartups/MaxSessions
        # are generous because the tests open and drop many connections.
        cat > "$D/sshd_config" <<EOF
Port $port
ListenAddress 127.0.0.1
HostKey $D/host_ed25519
PidFile $D/sshd.pid
AuthorizedKeysFile $D/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
AllowUsers $user
UsePAM no
StrictModes no
MaxStartups 100
MaxSessions 100
LogLevel VERBOSE
Subsystem sftp internal-sftp
EOF
        "$SSHD" -t -f "$D/sshd_config" 2>"$D/sshd-t.err" || die "sshd -t: $(cat "$D/sshd-t.err")"
        rm -f "$D/sshd.pid"
        # sshd binds before it detaches: a taken port is a non-zero exit here.
        if "$SSHD" -f "$D/sshd_config" -E "$D/sshd.log"; then
            break
        fi
        [ "$tries" -lt 5 ] || die "sshd did not start after $tries ports; $D/sshd.log: $(tail -n 3 "$D/sshd.log")"
    done
    i=0
    until [ -s "$D/sshd.pid" ]; do
        i=$((i + 1))
        [ "$i" -lt 100 ] || die "sshd wrote no pid file in 5 s; $D/sshd.log: $(tail -n 3 "$D/sshd.log")"
        sleep 0.05
    done
    pid=$(cat "$D/sshd.pid")
    printf '[127.0.0.1]:%s %s\n' "$port" "$(cut -d' ' -f1,2 "$D/host_ed25519.pub")" > "$D/known_hosts"
    cat > "$D/sshd.env" <<EOF
SSHD_HOST=127.0.0.1
SSHD_PORT=$port
SSHD_USER=$user
SSHD_KEY=$D/id_ed25519
SSHD_KNOWN_HOSTS=$D/known_hosts
SSHD_PID=$pid
SSHD_LOG=$D/sshd.log
EOF
    echo "sshd.sh: started sshd pid $pid on 127.0.0.1:$port for user $user (host key $D/host_ed25519.pub, user key $D/id_ed25519, known_hosts $D/known_hosts)"
}

agent() {
    [ -f "$D/sshd.env" ] || die "no $D/sshd.env: run sshd.sh up $D first"
    command -v ssh-agent >/dev/null || die "ssh-agent not found (apt-get install openssh-client)"
    rm -f "$D/agent.sock"
    out=$(ssh-agent -s -a "$D/agent.sock") || die "ssh-agent failed"
    apid=$(printf '%s\n' "$out" | sed -n 's/^SSH_AGENT_PID=\([0-9]*\);.*/\1/p')
    [ -n "$apid" ] || die "ssh-agent printed no pid: $out"
    echo "$apid" > "$D/agent.pid"
    SSH_AUTH_SOCK=$D/agent.sock ssh-add -q "$D/id_ed25519" 2>"$D/ssh-add.err" ||
        die "ssh-add failed: $(cat "$D/ssh-add.err")"
    printf 'SSHD_AUTH_SOCK=%s\nSSHD_AGENT_PID=%s\n' "$D/agent.sock" "$apid" >> "$D/sshd.env"
    echo "sshd.sh: started ssh-agent pid $apid on $D/agent.sock holding $D/id_ed25519"
}

# Ends one process from a pid file: TERM, then KILL after 5 s.
stop_pidfile() {
    [ -s "$1" ] || return 0
    p=$(cat "$1")
    if kill "$p" 2>/dev/null; then
        i=0
        while kill -0 "$p" 2>/dev/null; do
            i=$((i + 1))
            [ "$i" -lt 100 ] || { kill -9 "$p" 2>/dev/null; break; }
            sleep 0.05
        done
        echo "sshd.sh: stopped $2 pid $p"
    fi
    rm -f "$1"
}

down() {
    stop_pidfile "$D/agent.pid" ssh-agent
    stop_pidfile "$D/sshd.pid" sshd
}

case $cmd in
    up) up ;;
    agent) agent ;;
    down) down ;;
    *) echo "usage: sshd.sh up|agent|down DIR" >&2; exit 2 ;;
esac
