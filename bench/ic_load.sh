#!/usr/bin/env bash
# bench/ic_load.sh — issue 4's scale test: one interchange holding 1,000 and 10,000
# simulated worker pools on loopback (bench/ic_load.c), REPS times each (default 3),
# printed as one markdown report of medians on stdout; progress goes to stderr.
# See the "ic_load" section of bench/README.md.
#
#   bench/ic_load.sh > bench/results/ic-load-$(date +%F).md
#   ICL_REF=HEAD bench/ic_load.sh      # measure a commit's interchange (git archive),
#                                      # with bench/ic_load.c from the working tree
#
# Environment: REPS (3), SIZES ("1000 10000"), IDLE (25 s), HB (heartbeat period,
# 10 s), TASKS (30000), TASK_MS (the run time each result reports, 10 ms; nothing
# waits), DEADLINE (per run, 120 s), ICL_REF (unset: build the working tree with
# make), PYTHON, TMPDIR, NO_PERF=1 (skip the perf profile), NO_DIAG=1 (skip the
# heartbeat-2-s, sealed-frames, 0-ms-results and overload runs).
set -u
cd "$(dirname "$0")/.." || exit 2
ROOT=$(pwd)
REPS=${REPS:-3}
SIZES=${SIZES:-"1000 10000"}
# Two heartbeat periods and a margin: each pool then sees exactly two of the
# interchange's heartbeats in the idle phase whatever the size (the interchange's
# are in step with registration), and two or three of its own.
IDLE=${IDLE:-25}
HB=${HB:-10}
TASKS=${TASKS:-30000}
TASK_MS=${TASK_MS:-10}
DEADLINE=${DEADLINE:-120}
if [ -n "${PYTHON:-}" ]; then PY=$PYTHON
elif [ -x /usr/bin/python3 ]; then PY=/usr/bin/python3
else PY=python3; fi
MAXN=$(printf '%s\n' $SIZES | sort -n | tail -1)

WORK=$(mktemp -d "${TMPDIR:-/tmp}/cparsl-icload.XXXXXX") || exit 2
trap 'rm -rf "$WORK"' EXIT

# Build. Someone else may be rebuilding build/ (or editing the interchange) while
# this runs, so the binary measured is a private copy.
if [ -n "${ICL_REF:-}" ]; then
    echo "ic_load.sh: exporting $ICL_REF (git archive) and building it" >&2
    mkdir -p "$WORK/src"
    git archive "$ICL_REF" | tar -x -C "$WORK/src" || { echo "ic_load.sh: git archive failed" >&2; exit 2; }
    cp bench/ic_load.c "$WORK/src/bench/ic_load.c"
    make -s -j2 -C "$WORK/src" build/bench/ic_load >&2 || { echo "ic_load.sh: build failed" >&2; exit 2; }
    cp "$WORK/src/build/bench/ic_load" "$WORK/ic_load"
    M_COMMIT="$(git rev-parse --short "$ICL_REF") ($ICL_REF, exported with git archive; bench/ic_load.c from the working tree)"
else
    echo "ic_load.sh: building (make build/bench/ic_load)" >&2
    make -s build/bench/ic_load >&2 || { echo "ic_load.sh: build failed" >&2; exit 2; }
    cp build/bench/ic_load "$WORK/ic_load"
    M_COMMIT="$(git rev-parse --short HEAD 2>/dev/null || echo unknown) (working tree)"
    DIRTY=$(git status --porcelain --untracked-files=no 2>/dev/null | awk '{print $2}' | tr '\n' ' ')
    [ -n "$DIRTY" ] && M_COMMIT="$M_COMMIT + uncommitted changes to: $DIRTY"
fi
export M_COMMIT
BIN=$WORK/ic_load
RAW=$WORK/raw.jsonl
: > "$RAW"
T_START=$(date +%s)
export M_LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

# One run: CFG names it; its JSON lines are tagged, a failure is kept with its text.
run() {
    local cfg=$1 rep=$2; shift 2
    local out rc why
    echo "ic_load.sh: $cfg rep $rep: ic_load $*" >&2
    out=$(cd "$WORK" && "$BIN" "$@" 2>"$WORK/err")
    rc=$?
    [ -n "$out" ] && printf '%s\n' "$out" | sed "s/^{/{\"cfg\":\"$cfg\",\"rep\":$rep,\"rc\":$rc,/" >> "$RAW"
    if [ $rc -ne 0 ]; then
        why=$(grep 'FAILED' "$WORK/err" | head -c 400 | tr '\n"\\' '   ')
        [ -n "$why" ] || why=$(tail -c 300 "$WORK/err" | tr '\n"\\' '   ')
        printf '{"cfg":"%s","rep":%s,"rc":%s,"bench":"failure","args":"%s","why":"%s"}\n' \
            "$cfg" "$rep" "$rc" "$*" "$why" >> "$RAW"
        echo "ic_load.sh: FAILED (rc $rc): $why" >&2
    fi
}

COMMON="--idle $IDLE --heartbeat $HB --tasks $TASKS --task-ms $TASK_MS --deadline $DEADLINE"
for rep in $(seq 1 "$REPS"); do
    for n in $SIZES; do
        run main "$rep" --pools "$n" $COMMON
    done
done
if [ -z "${NO_DIAG:-}" ]; then
    # Five times the heartbeat rate (idle must outlast one period plus a tick).
    run hb2 1 --pools "$MAXN" --idle 6 --heartbeat 2 --tasks "$TASKS" --task-ms "$TASK_MS" \
        --deadline "$DEADLINE"
    run sealed 1 --pools "$MAXN" --encrypted $COMMON
    # True no-op timing: results say 0 ms, so after 8 results a pool counts as one of
    # short tasks and gets 32 extra slots per worker (cp__ic_conn_free); 10 tasks per
    # pool get past that warm-up.
    run noop0 1 --pools "$MAXN" --idle "$IDLE" --heartbeat "$HB" --tasks $((10 * MAXN)) \
        --task-ms 0 --deadline "$DEADLINE"
    # A long backlog at heartbeat 2 s: may fail by losing healthy pools (the loop
    # reads their heartbeats later than the threshold); such a failure is the finding.
    run overload 1 --pools "$MAXN" --idle 3 --heartbeat 2 --tasks $((10 * MAXN)) \
        --task-ms "$TASK_MS" --deadline "$DEADLINE"
fi
PERF_SYM="" PERF_LINE=""
if [ -z "${NO_PERF:-}" ] && command -v perf >/dev/null 2>&1; then
    echo "ic_load.sh: perf record of one $MAXN-pool run" >&2
    if (cd "$WORK" && perf record -q -e cpu-clock -F 999 -o "$WORK/perf.data" -- \
            "$BIN" --pools "$MAXN" $COMMON >/dev/null 2>"$WORK/perf.err"); then
        PERF_SYM=$(perf report -i "$WORK/perf.data" --no-children --comm ic_load -s sym \
            -g none --stdio 2>/dev/null | grep -v '^#' | grep -v '^$' | head -12)
        PERF_LINE=$(perf report -i "$WORK/perf.data" --no-children --comm ic_load -s srcline \
            -g none --stdio 2>/dev/null | grep -v '^#' | grep -v '^$' | head -8)
    else
        PERF_SYM="(perf record failed: $(tail -c 200 "$WORK/perf.err"))"
    fi
fi
export PERF_SYM PERF_LINE
T_END=$(date +%s)

# The machine.
export M_NPROC=$(nproc)
export M_CPU=$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')
export M_KERNEL="$(uname -sr) ($(uname -m))"
export M_OS=$(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME")
export M_MEM=$(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)
export M_CC=$(${CC:-cc} --version | head -1)
export M_DATE=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
export M_NOFILE="soft $(ulimit -Sn), hard $(ulimit -Hn) (ic_load raises soft to hard)"
export M_NET="somaxconn $(cat /proc/sys/net/core/somaxconn), tcp_max_syn_backlog $(cat /proc/sys/net/ipv4/tcp_max_syn_backlog), ephemeral ports $(tr '\t' '-' < /proc/sys/net/ipv4/ip_local_port_range)"
export M_LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
export M_CMD="${ICL_REF:+ICL_REF=$ICL_REF }$0${*:+ $*}"
export M_REPS=$REPS M_SECS=$((T_END - T_START)) M_IDLE=$IDLE M_HB=$HB M_TASKS=$TASKS M_TASK_MS=$TASK_MS
export M_DEADLINE=$DEADLINE M_SIZES=$SIZES

"$PY" - "$RAW" <<'PYEOF'
import json, os, statistics, sys

rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
env = os.environ
sizes = [int(x) for x in env["M_SIZES"].split()]


EXPECTED_FAIL = {"overload"}   # stress diagnostics that may fail: that is their finding


def pick(bench, cfg="main", **kw):
    return [r for r in rows if r.get("bench") == bench and r.get("cfg") == cfg
            and (r.get("rc", 0) == 0 or cfg in EXPECTED_FAIL)
            and all(r.get(k) == v for k, v in kw.items())]


def med(bench, key, cfg="main", **kw):
    vals = [r[key] for r in pick(bench, cfg, **kw) if key in r]
    return statistics.median(vals) if vals else None


def spread(bench, key, nd=0, cfg="main", **kw):
    vals = [r[key] for r in pick(bench, cfg, **kw) if key in r]
    return f"{f(min(vals), nd)} – {f(max(vals), nd)}" if vals else "–"


def f(x, nd=0):
    if x is None:
        return "–"
    return f"{x:,.{nd}f}"


def ratio(a, b, nd=1):
    return "–" if a is None or b is None or b == 0 else f"×{a / b:,.{nd}f}"


def table(head, body):
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in body]
    return "\n".join(out)


P = print
hb = float(env["M_HB"])
P(f"# Interchange scale: N simulated worker pools on loopback — {env['M_DATE'][:10]}")
P()
P(f"Command: `{env['M_CMD']}` (stdout is this file). Each size ran {env['M_REPS']} times, "
  f"each in a fresh pair of processes; figures are medians (each column's median on its "
  f"own), with the min – max over repetitions where it matters. Wall time of the whole "
  f"run: {env['M_SECS']} s.")
P()
P(f"Every run: `ic_load --pools N --idle {env['M_IDLE']} --heartbeat {env['M_HB']} "
  f"--tasks {env['M_TASKS']} --task-ms {env['M_TASK_MS']} --deadline {env['M_DEADLINE']}` — "
  f"the interchange in-process (heartbeat_period {env['M_HB']} s, heartbeat_threshold 2 × "
  f"that), unsealed frames; a forked generator holds N pools (1 worker, max_capacity 1 "
  f"each), connects them at most 256 at a time (handshake + REGISTER), heartbeats each "
  f"pool every period (phases spread over the period) and answers every TASKS frame at "
  f"once with RESULTS echoing the argument. Each result reports {env['M_TASK_MS']} ms of "
  f"run time (t_end − t_start; nothing waits), so the interchange keeps every pool at its "
  f"registered capacity: it gives pools whose tasks take under 1 ms 32 extra slots per "
  f"worker once they have returned 8 results, which would make 1,000 and 10,000 pools "
  f"run different regimes (the `noop0` diagnostic shows that regime). CPU is user + system time from getrusage: the interchange's is its libuv "
  f"loop thread's (the process minus the main thread, which only submits), the "
  f"generator's its whole process. RSS per pool is the interchange process's RSS growth "
  f"(/proc/self/statm) from before the interchange started to after N pools registered, "
  f"÷ N; kernel socket buffers are not in it.")
P()
P("## Machine")
P()
P(table(["", ""], [
    ["CPUs (nproc)", env["M_NPROC"]], ["CPU model", env["M_CPU"]], ["kernel", env["M_KERNEL"]],
    ["OS", env["M_OS"]], ["memory", env["M_MEM"]], ["compiler", env["M_CC"]],
    ["RLIMIT_NOFILE", env["M_NOFILE"]], ["network limits", env["M_NET"]],
    ["load average at start / end", f"{env['M_LOAD_START']} / {env['M_LOAD_END']}"],
    ["date", env["M_DATE"]], ["git commit", env["M_COMMIT"]],
]))
P()

# ---------------------------------------------------------------- summary
P("## Summary (medians)")
P()
body = []
for n in sizes:
    idle_frame = med("ic_idle", "ic_cpu_us_per_frame", n=n)
    body.append([
        f"{n:,}",
        f(med("ic_register", "seconds", n=n), 2), f(med("ic_register", "pools_per_s", n=n)),
        f(med("ic_register", "ic_cpu_us_per_pool", n=n), 1),
        f(med("ic_register", "ic_rss_per_pool_b", n=n)),
        f(med("ic_idle", "ic_cpu_us_per_pool_s", n=n), 3),
        f(med("ic_idle", "ic_cpu_pct", n=n), 2),
        f(idle_frame, 2),
        f(None if idle_frame is None else idle_frame * 2 / 30, 3),
        f(med("ic_wave", "tasks_per_s", n=n)), f(med("ic_tasks", "tasks_per_s", n=n)),
        f(med("ic_tasks", "ic_cpu_us_per_task", n=n), 1),
    ])
P(table(["pools", "connect + register s", "pools/s", "interchange CPU µs per registration",
         "interchange RSS B per pool", f"idle: interchange CPU µs per pool per s (heartbeat {hb:g} s)",
         "idle: % of a core", "µs per heartbeat frame", "→ µs per pool per s at heartbeat 30 s",
         "tasks/s, one wave (N tasks)", f"tasks/s, {int(env['M_TASKS']):,} tasks (backlog)",
         "interchange CPU µs per task (backlog)"], body))
P()
P("\"→ at heartbeat 30 s\" is derived, not measured: the measured cost per heartbeat frame × "
  "2 frames (one each way) per pool per 30 s, cparsl's and Parsl's default period.")
P()
if len(sizes) >= 2:
    a, b = sizes[0], sizes[-1]
    g = lambda bench, key, n: med(bench, key, n=n)
    P(f"Scaling from {a:,} to {b:,} pools (×{b / a:g}); a cost that is constant per pool or "
      f"per task stays ×1.0:")
    P()
    P(f"- interchange CPU per registration: "
      f"{ratio(g('ic_register', 'ic_cpu_us_per_pool', b), g('ic_register', 'ic_cpu_us_per_pool', a))}; "
      f"registration rate at {b:,}, last tenth ÷ second tenth of the pools: "
      f"{ratio(g('ic_register', 'pools_per_s_last_tenth', b), g('ic_register', 'pools_per_s_second_tenth', b), 2)}")
    P(f"- RSS per pool: {ratio(g('ic_register', 'ic_rss_per_pool_b', b), g('ic_register', 'ic_rss_per_pool_b', a), 2)}")
    P(f"- idle CPU per heartbeat frame: "
      f"{ratio(g('ic_idle', 'ic_cpu_us_per_frame', b), g('ic_idle', 'ic_cpu_us_per_frame', a), 2)}")
    P(f"- interchange CPU per task, one wave: "
      f"{ratio(g('ic_wave', 'ic_cpu_us_per_task', b), g('ic_wave', 'ic_cpu_us_per_task', a), 2)}; "
      f"with a backlog: {ratio(g('ic_tasks', 'ic_cpu_us_per_task', b), g('ic_tasks', 'ic_cpu_us_per_task', a))}; "
      f"per frame read with a backlog: "
      f"{ratio(g('ic_tasks', 'ic_cpu_us_per_frame_in', b), g('ic_tasks', 'ic_cpu_us_per_frame_in', a))}")
    P()

# ---------------------------------------------------------------- phases
P("## Connect + register")
P()
P(table(["pools", "seconds (min – max)", "pools/s", "pools/s, 2nd tenth", "pools/s, last tenth",
         "handshake p50 ms", "p99 ms", "max ms", "interchange CPU s", "generator CPU s",
         "interchange RSS MB before → after", "generator RSS MB"],
        [[f"{n:,}", f"{f(med('ic_register', 'seconds', n=n), 3)} ({spread('ic_register', 'seconds', 3, n=n)})",
          f(med("ic_register", "pools_per_s", n=n)),
          f(med("ic_register", "pools_per_s_second_tenth", n=n)),
          f(med("ic_register", "pools_per_s_last_tenth", n=n)),
          f(med("ic_register", "latency_p50_ms", n=n), 1), f(med("ic_register", "latency_p99_ms", n=n), 1),
          f(med("ic_register", "latency_max_ms", n=n), 1), f(med("ic_register", "ic_cpu_s", n=n), 3),
          f(med("ic_register", "gen_cpu_s", n=n), 3),
          f"{f(med('ic_register', 'ic_rss_base_mb', n=n), 1)} → {f(med('ic_register', 'ic_rss_mb', n=n), 1)}",
          f(med("ic_register", "gen_rss_mb", n=n), 1)] for n in sizes]))
P()
P("Handshake = connect() → WELCOME for one pool, with up to 256 in flight (so the p50 is "
  "mostly the queue: 256 ÷ the rate). The first tenth is the window filling, so the "
  "early rate is the second tenth's. A tenth of a small N lasts a few milliseconds and "
  "its WELCOMEs arrive in bursts (one epoll batch), so the tenths' rates mean something "
  "only where registration takes long enough to be measured, as at 10,000.")
P()
P(f"## Idle with heartbeats ({env['M_IDLE']} s, heartbeat every {hb:g} s)")
P()
P(table(["pools", "interchange CPU s", "% of a core (min – max)", "µs per pool per s",
         "µs per frame", "frames in / out", "generator % of a core",
         "RSS growth over the phase KB", "lowest connected count", "pools lost"],
        [[f"{n:,}", f(med("ic_idle", "ic_cpu_s", n=n), 3),
          f"{f(med('ic_idle', 'ic_cpu_pct', n=n), 2)} ({spread('ic_idle', 'ic_cpu_pct', 2, n=n)})",
          f(med("ic_idle", "ic_cpu_us_per_pool_s", n=n), 3), f(med("ic_idle", "ic_cpu_us_per_frame", n=n), 2),
          f"{f(med('ic_idle', 'frames_from_pools', n=n))} / {f(med('ic_idle', 'frames_to_pools', n=n))}",
          f(None if med("ic_idle", "gen_cpu_s", n=n) is None else
            med("ic_idle", "gen_cpu_s", n=n) / med("ic_idle", "seconds", n=n) * 100, 2),
          f(None if med("ic_idle", "ic_rss_growth_b", n=n) is None else med("ic_idle", "ic_rss_growth_b", n=n) / 1024),
          f(med("ic_idle", "pools_min", n=n)), f(med("ic_idle", "pools_lost", n=n))] for n in sizes]))
P()
P("The connected count is sampled every 100 ms; a run fails if it ever drops below N, if "
  "any pool is lost, or if fewer heartbeats crossed than every pool owes.")
P()
P("## Tasks")
P()
P(table(["pools", "phase", "tasks", "seconds", "tasks/s (min – max)", "interchange CPU µs per task",
         "interchange CPU µs per frame read", "generator CPU µs per task", "frames to / from pools",
         "interchange RSS MB after"],
        [[f"{n:,}", label, f(med(b, "tasks", n=n)), f(med(b, "seconds", n=n), 3),
          f"{f(med(b, 'tasks_per_s', n=n))} ({spread(b, 'tasks_per_s', 0, n=n)})",
          f(med(b, "ic_cpu_us_per_task", n=n), 1), f(med(b, "ic_cpu_us_per_frame_in", n=n), 1),
          f(med(b, "gen_cpu_us_per_task", n=n), 1),
          f"{f(med(b, 'frames_to_pools', n=n))} / {f(med(b, 'frames_from_pools', n=n))}",
          f(med(b, "ic_rss_mb", n=n), 1)]
         for n in sizes for b, label in (("ic_wave", "one wave: one task per pool"),
                                         ("ic_tasks", "backlog: submitted at once"))]))
P()
P("One wave: exactly as many tasks as slots, so every dispatch finds a free pool at once. "
  "Backlog: more tasks than slots, so tasks wait in the interchange's heap while every "
  "pool is busy — the usual state of a run with more tasks than workers. Frames from "
  "pools include the heartbeats that arrived meanwhile. Every result value is checked.")
P()
P(table(["pools", "stop s (SHUTDOWN to each, close)", "pools told SHUTDOWN"],
        [[f"{n:,}", f(med("ic_stop", "seconds", n=n), 3), f(med("ic_stop", "gen_shutdowns", n=n))]
         for n in sizes]))
P()

# ---------------------------------------------------------------- diagnostics
diag = [(c, label) for c, label in (
    ("hb2", "`hb2`: heartbeat 2 s (5 × the rate; idle 6 s)"),
    ("sealed", "`sealed`: sealed frames (--encrypted)"),
    ("noop0", f"`noop0`: results report 0 ms, {10 * max(sizes):,} tasks (short-task extra slots)"),
    ("overload", f"`overload`: heartbeat 2 s, {10 * max(sizes):,} tasks (a long backlog)"))
    if any(r.get("cfg") == c for r in rows)]
if diag:
    n = max(sizes)
    P(f"## Diagnostics ({n:,} pools, one run each; not medians)")
    P()
    body = []
    for c, label in diag:
        body.append([label, f(med("ic_register", "seconds", c, n=n), 2),
                     f(med("ic_register", "ic_cpu_us_per_pool", c, n=n), 1),
                     f(med("ic_idle", "ic_cpu_pct", c, n=n), 2), f(med("ic_idle", "ic_cpu_us_per_frame", c, n=n), 2),
                     f(med("ic_wave", "tasks_per_s", c, n=n)), f(med("ic_tasks", "tasks_per_s", c, n=n)),
                     f(med("ic_tasks", "ic_cpu_us_per_frame_in", c, n=n), 1),
                     f(med("ic_tasks", "pools_lost", c, n=n)),
                     f"{f(med('ic_tasks', 'gen_heartbeats_sent', c, n=n))} / "
                     f"{f(med('ic_tasks', 'gen_heartbeats_due', c, n=n))}",
                     "yes" if any(r.get("cfg") == c and r.get("rc", 0) != 0 for r in rows) else "no"])
    P(table(["run", "register s", "interchange CPU µs per registration", "idle % of a core",
             "µs per heartbeat frame", "tasks/s one wave", "tasks/s backlog",
             "µs per frame read (backlog)", "pools lost (backlog)",
             "generator heartbeats sent / due (backlog)", "failed (see Failures)"], body))
    P()
    P("`noop0`'s backlog tasks/s includes each pool's first 8 results, which it needs "
      "before it counts as a pool of short tasks.")
    lost = med("ic_tasks", "pools_lost", "overload", n=n)
    if lost is not None:
        P()
        P("`overload` keeps the interchange's loop saturated for tens of seconds with "
          "heartbeats every 2 s (heartbeat_threshold 4 s). Whether it loses pools depends "
          "on how far its reads fall behind, so it varies from run to run; " +
          (f"this run lost {lost:,.0f} pools, and the run fails when it does. " if lost
           else "this run lost none. ") +
          "\"Due\" is every pool heartbeating every period for the whole phase: sent ≈ "
          "due means the generator kept its schedule, so a pool lost here was lost because "
          "the interchange read its heartbeats too late, not because none came (a dropped "
          "pool stops sending, which is any shortfall).")
    P()
if env.get("PERF_SYM"):
    P(f"## Where the interchange's time goes (perf, one {max(sizes):,}-pool run, all phases)")
    P()
    P("`perf record -e cpu-clock -F 999` of the whole run, samples of the interchange "
      "process only (`--comm ic_load`; the generator is `ic_gen`), self time:")
    P()
    P("```")
    P(env["PERF_SYM"])
    P("```")
    if env.get("PERF_LINE"):
        P()
        P("By source line:")
        P()
        P("```")
        P(env["PERF_LINE"])
        P("```")
    P()

fails = [r for r in rows if r.get("bench") == "failure" or r.get("bad") or r.get("failed")]
P("## Failures")
P()
if not fails:
    P("None: every run exited 0 — no pool refused or dropped, every result present and correct.")
else:
    for r in fails:
        if r.get("bench") != "failure":
            continue   # the run's own failure line below says why
        P(f"- `{r.get('cfg')}` rep {r.get('rep')}: rc {r.get('rc')} — {r.get('why', json.dumps(r))}"
          + (f" (`ic_load {r['args']}`)" if r.get("args") else "")
          + (" — a stress diagnostic: this failure is its finding (see Diagnostics)."
             if r.get("cfg") in EXPECTED_FAIL else ""))
P()
P("## Raw measurements")
P()
P("Every JSON line the runs printed, tagged with the configuration (`cfg`), repetition "
  "and exit status (`rc`).")
P()
P("```jsonl")
for r in rows:
    P(json.dumps(r, separators=(",", ":")))
P("```")
PYEOF
