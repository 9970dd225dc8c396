#!/usr/bin/env bash
# bench/run.sh — builds the benchmarks, runs every measurement REPS times (default 3)
# and prints one markdown report (medians) on stdout; progress and the build log go
# to stderr. See bench/README.md.
#
#   bench/run.sh > bench/results/engine-$(date +%F).md
#
# Environment: REPS (default 3), PYTHON (default /usr/bin/python3, else python3),
# TMPDIR (where the runs' temporary work directories go), NO_PERF=1 (skip the
# perf-stat diagnostic).
set -u
cd "$(dirname "$0")/.." || exit 2
ROOT=$(pwd)
REPS=${REPS:-3}
if [ -n "${PYTHON:-}" ]; then PY=$PYTHON
elif [ -x /usr/bin/python3 ]; then PY=/usr/bin/python3
else PY=python3; fi
BUILD=${BUILD:-build}
E=$ROOT/$BUILD/bench/engine
F=$ROOT/$BUILD/bench/floor

echo "run.sh: building (make bench)" >&2
make -s bench >&2 || { echo "run.sh: make bench failed" >&2; exit 2; }

RAW=$(mktemp "${TMPDIR:-/tmp}/cparsl-bench-raw.XXXXXX")
trap 'rm -f "$RAW"' EXIT
T_START=$(date +%s)

# One measurement: tag its JSON line(s) with the repetition, keep failures visible.
run() {
    local rep=$1; shift
    local out rc
    out=$("$@" 2>/tmp/cparsl-bench-err.$$)
    rc=$?
    if [ -n "$out" ]; then
        printf '%s\n' "$out" | sed "s/^{/{\"rep\":$rep,\"rc\":$rc,/" >> "$RAW"
    fi
    if [ $rc -ne 0 ]; then
        local why
        why=$(head -c 300 /tmp/cparsl-bench-err.$$ | tr '\n"\\' '   ')
        printf '{"rep":%s,"rc":%s,"bench":"failure","cmd":"%s","stderr":"%s"}\n' \
            "$rep" "$rc" "$(basename "$1") ${*:2}" "$why" >> "$RAW"
        echo "run.sh: FAILED (rc $rc): $*" >&2
    fi
    rm -f /tmp/cparsl-bench-err.$$
}

for rep in $(seq 1 "$REPS"); do
    echo "run.sh: repetition $rep of $REPS" >&2
    # B1: one million no-op tasks, held, then with a sliding window
    run "$rep" "$E" burst 1000000
    run "$rep" "$E" stream 1000000 10000
    run "$rep" "$E" stream 1000000 1000
    # B2: W1 shapes
    run "$rep" "$E" burst 10000
    run "$rep" "$E" burst 100000
    # B3: W2
    run "$rep" "$E" rtt 1000
    # B4: W5 and the issue's fan-out
    run "$rep" "$E" fanin 1000
    run "$rep" "$E" fanin 10000
    # B5: W3 and its floors (2 parallel loops, and 1 loop as in peers.md)
    run "$rep" "$E" shell 2000
    run "$rep" "$F" spawn bash 2000 2
    run "$rep" "$F" spawn sh 2000 2
    run "$rep" "$F" spawn true 2000 2
    run "$rep" "$F" spawn true 2000 1
    run "$rep" "$F" spawn spawn_true 2000 1
    run "$rep" "$F" spawn sh 2000 1
    # B6: W4, native and shell, and the shell variant's floor
    run "$rep" "$E" sleep 200 10
    run "$rep" "$E" shsleep 200 10
    run "$rep" "$F" spawn bash_sleep 200 2
    # TCP loopback ping-pong floor (for later issues)
    run "$rep" "$F" pingpong 20000 free
    run "$rep" "$F" pingpong 20000 same
    run "$rep" "$F" pingpong 20000 split
    # Baseline: multiprocessing.Pool(2), one interpreter per workload
    for w in w1_10k w1_100k w2 w4 w5 w5_10k; do
        run "$rep" "$PY" bench/mp_pool.py "$w"
    done
    # Diagnostics for B1 (not goal numbers): worker-thread count, THP-backed heap
    for t in 1 4; do
        run "$rep" env CPARSL_BENCH_THREADS=$t "$E" burst 1000000
        sed -i "\$s/^{\"rep\":$rep,/{\"rep\":$rep,\"diag\":\"threads$t\",/" "$RAW"
    done
    run "$rep" env GLIBC_TUNABLES=glibc.malloc.hugetlb=1 "$E" burst 1000000
    sed -i "\$s/^{\"rep\":$rep,/{\"rep\":$rep,\"diag\":\"thp\",/" "$RAW"
    # Diagnostic for B5: the same run with runinfo/ (and its task logs) on tmpfs
    if [ -d /dev/shm ] && [ -w /dev/shm ]; then
        run "$rep" env TMPDIR=/dev/shm "$E" shell 2000
        sed -i "\$s/^{\"rep\":$rep,/{\"rep\":$rep,\"diag\":\"shm\",/" "$RAW"
    fi
done

# perf stat of one B1 run, when perf can count here (diagnostic).
PERF_TXT=""
if [ -z "${NO_PERF:-}" ] && command -v perf >/dev/null 2>&1; then
    echo "run.sh: perf stat of B1" >&2
    PERF_TXT=$(cd "${TMPDIR:-/tmp}" && perf stat -x, \
        -e task-clock,context-switches,cpu-migrations,page-faults,syscalls:sys_enter_futex \
        "$E" burst 1000000 2>&1 >/dev/null | grep -v '^$' || true)
fi

T_END=$(date +%s)

# The machine.
export M_NPROC=$(nproc)
export M_CPU=$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')
export M_KERNEL="$(uname -sr) ($(uname -m))"
export M_MEM=$(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)
export M_CC=$(${CC:-cc} --version | head -1)
export M_PY=$("$PY" -c 'import sys; print(sys.executable, sys.version.split()[0])')
export M_DATE=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
export M_COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
    M_COMMIT="$M_COMMIT + uncommitted changes to tracked files"
fi
export M_COMMIT
export M_OS=$(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME")
export M_CMD="$0${*:+ $*}"
export M_REPS=$REPS
export M_TMPFS="$(df -T "${TMPDIR:-/tmp}" 2>/dev/null | awk 'NR==2 {print $2}') at ${TMPDIR:-/tmp}"
export M_SECS=$((T_END - T_START))
export PERF_TXT

"$PY" - "$RAW" <<'PYEOF'
import json, os, statistics, sys

rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
env = os.environ


def pick(bench, **kw):
    """Successful rows of one benchmark matching kw; diagnostic runs (tagged "diag")
    only when kw asks for them by diag=..."""
    kw.setdefault("diag", None)
    return [r for r in rows if r.get("bench") == bench and r.get("rc", 0) == 0
            and all(r.get(k) == v for k, v in kw.items())]


def med(bench, key, **kw):
    vals = [r[key] for r in pick(bench, **kw) if key in r]
    return statistics.median(vals) if vals else None


def rng(bench, key, **kw):
    vals = [r[key] for r in pick(bench, **kw) if key in r]
    return (min(vals), max(vals), len(vals)) if vals else None


def f(x, nd=0, unit=""):
    if x is None:
        return "–"
    if isinstance(x, str):
        return x
    if nd == 0:
        return f"{x:,.0f}{unit}"
    return f"{x:,.{nd}f}{unit}"


def ratio(a, b, nd=2):
    if a is None or b is None or b == 0:
        return "–"
    return f"{a / b:,.{nd}f}×"


def spread(bench, key, nd=0, **kw):
    r = rng(bench, key, **kw)
    if not r:
        return "–"
    lo, hi, n = r
    return f"{f(lo, nd)} – {f(hi, nd)} (n={n})"


def table(head, body):
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in body]
    return "\n".join(out)


P = print
P(f"# cparsl engine benchmarks — {env['M_DATE'][:10]}")
P()
P(f"Command: `{env['M_CMD']}` (stdout is this file; run from any directory). "
  f"Every measurement ran {env['M_REPS']} times, each in a fresh process; the figures "
  f"are medians (each column's median taken on its own). Wall time of the whole run: "
  f"{env['M_SECS']} s.")
P()
P("## Machine")
P()
P(table(["", ""], [
    ["CPUs (nproc)", env["M_NPROC"]], ["CPU model", env["M_CPU"]], ["kernel", env["M_KERNEL"]],
    ["OS", env["M_OS"]], ["memory", env["M_MEM"]], ["compiler", env["M_CC"]],
    ["python (baseline)", env["M_PY"]], ["work directories (TMPDIR)", env["M_TMPFS"]],
    ["date", env["M_DATE"]], ["git commit", env["M_COMMIT"]],
]))
P()
P("cparsl: `cp_load_config` with `max_threads = 2`, `log_level = \"warning\"`, in a "
  "fresh temporary directory; `-O2 -g` static library (`make bench`). Baseline: "
  "`multiprocessing.Pool(2)` (bench/mp_pool.py). Ratios are written so that **> 1× "
  "means cparsl is better** (cparsl ÷ baseline for rates, baseline ÷ cparsl for "
  "times); against a floor, the fraction of the floor's rate cparsl reaches.")
P()

# ---------------------------------------------------------------- B1
b1 = dict(n=1000000)
tps = med("burst", "tasks_per_s", **b1)
bpt = med("burst", "bytes_per_task_held", **b1)
P("## B1 — 1,000,000 no-op native tasks")
P()
def per_task(bench, **kw):
    """Median context switches (voluntary + involuntary) and minor faults per task."""
    sel = pick(bench, **kw)
    n = kw.get("n", 1)
    cs = [(r["vcsw"] + r["ivcsw"]) / n for r in sel if "vcsw" in r]
    pf = [r["minflt"] / n for r in sel if "minflt" in r]
    return (f(statistics.median(cs), 2) if cs else "–", f(statistics.median(pf), 3) if pf else "–")


cs_h, pf_h = per_task("burst", **b1)
P(table(["mode", "tasks/s", "first result ms", "submit s", "wait s", "release s",
         "total s", "peak RSS MB", "engine memory", "context switches / task",
         "page faults / task"], [
    ["held: submit all, wait all, release all", f(tps), f(med("burst", "first_ms", **b1), 3),
     f(med("burst", "submit_s", **b1), 3), f(med("burst", "wait_s", **b1), 3),
     f(med("burst", "release_s", **b1), 3), f(med("burst", "total_s", **b1), 3),
     f(med("burst", "peak_rss_mb", **b1), 1),
     f(bpt, 0, " B/task") + f" (RSS growth ÷ N with all {1000000:,} futures held)", cs_h, pf_h],
    *[[f"window {w:,}: wait + release the oldest before each submit",
       f(med("stream", "tasks_per_s", n=1000000, window=w)), "–", "–", "–", "–",
       f(med("stream", "total_s", n=1000000, window=w), 3),
       f(med("stream", "peak_rss_mb", n=1000000, window=w), 1),
       f(med("stream", "peak_growth_mb", n=1000000, window=w), 1, " MB peak growth"),
       *per_task("stream", n=1000000, window=w)]
      for w in (10000, 1000)],
]))
P()
P("Context switches are the whole process's (`getrusage` ru_nvcsw + ru_nivcsw, all "
  "threads) over the timed part; page faults are minor faults (ru_minflt).")
P()
met = lambda ok: "**met**" if ok else "**not met**"
P(f"Goals from the issue: ≥ 1,000,000 tasks/s on 2 cores — held: "
  f"{met(tps is not None and tps >= 1e6)} ({f(tps)}/s); best window: "
  f"{met(max((med('stream', 'tasks_per_s', n=1000000, window=w) or 0) for w in (10000, 1000)) >= 1e6)}; "
  f"≤ 1 KiB of engine memory per task — {met(bpt is not None and bpt <= 1024)} ({f(bpt)} B). "
  f"The submitting thread's rate alone (submit phase): "
  f"{f(med('burst', 'submit_per_s', **b1))} cp_call/s. RSS after releasing all: "
  f"{f(med('burst', 'rss_after_release_mb', **b1), 1)} MB.")
P()
P(f"Spread (min – max over repetitions), held tasks/s: {spread('burst', 'tasks_per_s', **b1)}; "
  f"window 10,000: {spread('stream', 'tasks_per_s', n=1000000, window=10000)}.")
P()

# ---------------------------------------------------------------- B2
P("## B2 — W1: N no-op tasks, submit all, wait all")
P()
body = []
for n, key in ((10000, "w1_10k"), (100000, "w1_100k")):
    c = med("burst", "tasks_per_s", n=n)
    m = med("mp_w1_apply_async", "tasks_per_s", n=n)
    mm = med("mp_w1_map", "tasks_per_s", n=n)
    cf = med("burst", "first_ms", n=n)
    mf = med("mp_w1_apply_async", "first_ms", n=n)
    body.append([f"{n:,}", f(c), f(cf, 3), f(med("burst", "peak_rss_mb", n=n), 1),
                 f(m), f(mf, 1), f(med("mp_w1_apply_async", "peak_rss_driver_mb", n=n), 1),
                 ratio(c, m), ratio(mf, cf, 0), f(mm), ratio(c, mm)])
P(table(["N", "cparsl tasks/s", "cparsl first result ms", "cparsl peak RSS MB",
         "mp apply_async tasks/s", "mp first result ms", "mp driver peak RSS MB",
         "tasks/s ratio", "first-result ratio", "mp map tasks/s", "ratio vs map"], body))
P()
P("`mp map` is `Pool.map` with its default chunking (N/8 items per message), not "
  "one message per task; it is shown for completeness, the per-task comparison is "
  "apply_async.")
P()

# ---------------------------------------------------------------- B3
P("## B3 — W2: 1,000 single-task round trips (submit one, wait, release)")
P()
cm, cp99 = med("rtt", "median_us", n=1000), med("rtt", "p99_us", n=1000)
mm, mp99 = med("mp_w2", "median_us", n=1000), med("mp_w2", "p99_us", n=1000)
P(table(["", "median µs", "p99 µs", "mean µs"], [
    ["cparsl", f(cm, 1), f(cp99, 1), f(med("rtt", "mean_us", n=1000), 1)],
    ["multiprocessing apply_async().get()", f(mm, 1), f(mp99, 1), f(med("mp_w2", "mean_us"), 1)],
    ["ratio (mp ÷ cparsl)", ratio(mm, cm, 1), ratio(mp99, cp99, 1), ""],
]))
P()
P("Both after 20 unmeasured warm-up round trips.")
P()

# ---------------------------------------------------------------- B4
P("## B4 — W5 / fan-in: N independent no-op tasks, then one task on all of them")
P()
body = []
for n, mk in ((1000, dict(n=1000)), (10000, dict(n=10000))):
    c = med("fanin", "seconds", n=n)
    m = med("mp_w5", "seconds", **mk)
    body.append([f"{n:,}", f(c, 4), f(m, 4), ratio(m, c, 1)])
P(table(["N", "cparsl s (cp_gather → app taking const cp_value *)",
         "mp s (get all, then one apply_async with the list)", "ratio"], body))
P()

# ---------------------------------------------------------------- B5
P("## B5 — W3: 2,000 shell tasks running `/bin/true`")
P()
c = med("shell_true", "tasks_per_s", n=2000)
fl = {k: med("floor_spawn", "per_s", kind=k, par=2, n=2000) for k in ("bash", "sh", "true")}
P(table(["", "tasks/s", "cparsl as a fraction of it"], [
    ["cparsl (`CP_SHELL_APP` → `/bin/bash -c /bin/true`, stdout/stderr files, 2 threads)",
     f(c, 1), ""],
    ["cparsl, diagnostic: run directory on tmpfs (/dev/shm) instead of " + env["M_TMPFS"],
     f(med("shell_true", "tasks_per_s", n=2000, diag="shm"), 1), ""],
    ["floor: fork/exec/wait `/bin/bash -c /bin/true`, 2 parallel loops", f(fl["bash"], 1),
     ratio(c, fl["bash"])],
    ["floor: fork/exec/wait `/bin/sh -c true`, 2 parallel loops", f(fl["sh"], 1),
     ratio(c, fl["sh"])],
    ["floor: fork/exec/wait `/bin/true`, 2 parallel loops", f(fl["true"], 1),
     ratio(c, fl["true"])],
]))
P()
P("cparsl's shell apps run under bash (DESIGN §4, as Parsl does); the bash floor is "
  "the like-for-like one. `/bin/sh` here is dash. cparsl also creates two files per "
  "task (task_logs/task_N_btrue.stdout/.stderr), which the floors do not; the tmpfs "
  "row shows what that costs on this file system.")
P()

# ---------------------------------------------------------------- B6
P("## B6 — W4: 200 tasks sleeping 10 ms on 2 workers (ideal 1.0 s)")
P()
rows6 = [
    ["cparsl native (`nanosleep`)", med("native_sleep", "seconds"), med("native_sleep", "efficiency")],
    ["multiprocessing (`time.sleep`)", med("mp_w4", "seconds"), med("mp_w4", "efficiency")],
    ["cparsl shell (`sleep 0.01` under bash)", med("shell_sleep", "seconds"), med("shell_sleep", "efficiency")],
]
fs = med("floor_spawn", "seconds", kind="bash_sleep", par=2)
rows6.append(["floor: fork/exec/wait `/bin/bash -c \"sleep 0.01\"`, 2 parallel loops", fs,
              1.0 / fs if fs else None])
P(table(["", "seconds", "efficiency (1.0 s ÷ measured)"],
        [[a, f(b, 3), f(e, 3)] for a, b, e in rows6]))
P()
P(f"Ratios: native cparsl ÷ multiprocessing efficiency "
  f"{ratio(med('native_sleep', 'efficiency'), med('mp_w4', 'efficiency'))}; shell cparsl "
  f"time vs its floor: {ratio(fs, med('shell_sleep', 'seconds'))} of the floor's speed.")
P()

# ---------------------------------------------------------------- floors
P("## Physical floors measured in this run (bench/floor.c)")
P()
PEER_FLOOR = {
    ("true", 1): (731.8, 703.5, 1252.2), ("spawn_true", 1): (743.4, 733.8, 1053.6),
    ("sh", 1): (1443.9, 1468.3, 2145.5),
    "free": (62.7, 60.5, 103.2), "same": (14.4, 13.6, 20.1), "split": (77.8, 71.1, 143.0),
}
names = {"true": "fork/exec/wait `/bin/true`", "sh": "fork/exec/wait `/bin/sh -c true`",
         "bash": "fork/exec/wait `/bin/bash -c /bin/true`",
         "bash_sleep": "fork/exec/wait `/bin/bash -c \"sleep 0.01\"`",
         "spawn_true": "posix_spawn/wait `/bin/true`"}
body = []
for kind, par, n in (("true", 1, 2000), ("spawn_true", 1, 2000), ("sh", 1, 2000),
                     ("true", 2, 2000), ("sh", 2, 2000), ("bash", 2, 2000),
                     ("bash_sleep", 2, 200)):
    kw = dict(kind=kind, par=par, n=n)
    pf = PEER_FLOOR.get((kind, par))
    body.append([names[kind], par, f"{n:,}", f(med("floor_spawn", "per_s", **kw), 1),
                 f(med("floor_spawn", "mean_us", **kw), 1),
                 f(med("floor_spawn", "median_us", **kw), 1),
                 f(med("floor_spawn", "p99_us", **kw), 1),
                 " / ".join(f"{x:,.1f}" for x in pf) if pf else "–"])
for mode in ("free", "same", "split"):
    pf = PEER_FLOOR[mode]
    body.append([f"TCP loopback ping-pong 64 B, {mode}", "–", "20,000", "–",
                 f(med("floor_pingpong", "mean_us", mode=mode), 1),
                 f(med("floor_pingpong", "median_us", mode=mode), 1),
                 f(med("floor_pingpong", "p99_us", mode=mode), 1),
                 " / ".join(f"{x:,.1f}" for x in pf)])
P(table(["test", "loops", "n", "per s (all loops)", "mean µs", "median µs", "p99 µs",
         "peers.md mean / median / p99 µs (recorded elsewhere)"], body))
P()
P("µs figures are per operation as seen by one loop. Ping-pong: free = the scheduler "
  "places both ends, same = both pinned to CPU 0, split = CPU 0 and CPU 1; round trips "
  "after 10 % unmeasured warm-up. The last column is from peers.md (another machine of "
  "this kind), as a gauge of how this machine differs.")
P()

# ---------------------------------------------------------------- peers side by side
P("## Side by side with peers.md — recorded elsewhere, NOT measured in this run")
P()
P("The peer columns are copied from `reference/peers.md` (2 vCPUs, AMD EPYC, Debian 12, "
  "Linux 6.18; each peer with 2 workers). They were measured on the same kind of "
  "machine, not this one and not in this run: compare the same-run multiprocessing "
  "columns to see how far apart the machines are before reading across.")
P()
PEERS = [  # W1 10k, first ms, W1 100k, W2 med, W2 p99, W3, W4 s, W5 s
    ("multiprocessing Pool(2)", 30063, 20.3, 27865, 186, 565, 925, 1.04, 0.03),
    ("parsl ThreadPoolExecutor(2)", 4207, 3.4, 3913, 216, 374, 754, 1.05, 0.22),
    ("parsl HTEX, 2 workers", 1974, 13.2, 1977, 21943, 23170, 637, 1.18, 0.72),
    ("dask LocalCluster 2×1", 347, 30.8, None, 10632, 17811, 295, 1.15, 1.89),
    ("Work Queue C API submit-while-hungry", 971, 1.6, 935, 1558, 2062, 790, 1.39, 1.12),
    ("GNU parallel -j2", 420, None, None, 78289, 99931, 327, 1.86, 2.49),
]
ours = ["**cparsl thread_pool(2) — this run**", med("burst", "tasks_per_s", n=10000),
        med("burst", "first_ms", n=10000), med("burst", "tasks_per_s", n=100000),
        med("rtt", "median_us"), med("rtt", "p99_us"), med("shell_true", "tasks_per_s"),
        med("native_sleep", "seconds"), med("fanin", "seconds", n=1000)]
mp = ["**multiprocessing Pool(2) apply_async — this run**",
      med("mp_w1_apply_async", "tasks_per_s", n=10000), med("mp_w1_apply_async", "first_ms", n=10000),
      med("mp_w1_apply_async", "tasks_per_s", n=100000), med("mp_w2", "median_us"),
      med("mp_w2", "p99_us"), None, med("mp_w4", "seconds"), med("mp_w5", "seconds", n=1000)]


def fmt_row(r, mark=""):
    name, w1, fr, w1b, m, p, w3, w4, w5 = r
    return [name + mark, f(w1), f(fr, 3 if fr is not None and fr < 1 else 1), f(w1b), f(m, 1),
            f(p, 1), f(w3), f(w4, 2), f(w5, 3)]


P(table(["system", "W1 10k tasks/s", "W1 10k first result ms", "W1 100k tasks/s",
         "W2 median µs", "W2 p99 µs", "W3 tasks/s", "W4 s (ideal 1.0)", "W5 s"],
        [fmt_row(ours), fmt_row(mp)] + [fmt_row(r, " (peers.md)") for r in PEERS]))
P()
P("W5 for cparsl is B4 at N = 1,000. W3 for multiprocessing was not run here (its floor "
  "is the fork/exec rows above).")
P()

# ---------------------------------------------------------------- diagnostics
P("## Diagnostics for B1 (not goal numbers)")
P()
body = []
for label, diag in (("1 worker thread", "threads1"), ("2 worker threads (B1 above)", None),
                    ("4 worker threads", "threads4"),
                    ("2 threads, GLIBC_TUNABLES=glibc.malloc.hugetlb=1", "thp")):
    g = lambda k: med("burst", k, n=1000000, diag=diag)
    body.append([label, f(g("tasks_per_s")), f(g("submit_s"), 3), f(g("wait_s"), 3),
                 f(g("total_s"), 3), f(g("bytes_per_task_held")),
                 *per_task("burst", n=1000000, diag=diag),
                 spread("burst", "tasks_per_s", n=1000000, diag=diag)])
P(table(["B1 held, 1,000,000 tasks", "tasks/s", "submit s", "wait s", "total s",
         "B/task", "context switches / task", "page faults / task", "tasks/s min – max"], body))
P()
if env.get("PERF_TXT"):
    P("`perf stat` of one more B1 held run (1,000,000 tasks):")
    P()
    P("```")
    for line in env["PERF_TXT"].splitlines():
        parts = line.split(",")
        if len(parts) >= 3 and parts[0] and parts[0][0].isdigit():
            extra = f"  ({parts[5].strip()} {parts[6].strip()})" if len(parts) > 6 and parts[5] else ""
            P(f"{parts[2]:<34} {parts[0]:>14} {parts[1]}{extra}")
        elif line.strip():
            P(line.strip())
    P("```")
    P()

fails = [r for r in rows if r.get("bench") == "failure" or r.get("rc", 0) != 0]
bad = [r for r in rows if r.get("bad")]
P("## Failures")
P()
if not fails and not bad:
    P("None: every run exited 0 and every future held the expected value.")
else:
    for r in fails + bad:
        P(f"- {json.dumps(r)}")
PYEOF
exit
