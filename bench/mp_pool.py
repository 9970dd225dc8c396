#!/usr/bin/env python3
"""bench/mp_pool.py - the same-run baseline: Python's multiprocessing.Pool(2).

The peers' workloads (reference/peers.md) on the pool every Debian machine has:
  W1  N no-op tasks (a function returning its integer argument), N = 10,000 and
      100,000, through pool.map (default chunking) and through one apply_async per
      task; tasks/s end to end and, for apply_async, the time to the first result
      (when the first callback runs).
  W2  1,000 single-task round trips: apply_async(noop, (i,)).get(); median/p99 us
      (after 20 unmeasured warm-ups).
  W4  200 tasks sleeping 10 ms on the 2 workers; seconds (ideal 1.0 s).
  W5  1,000 independent no-op tasks, then one task given all their results;
      seconds until its result is read.
Each workload gets a fresh Pool(2), started (and its workers warmed with one tiny
map) before the clock starts. One JSON object per line on stdout, like bench/engine.

Usage: mp_pool.py [w1_10k w1_100k w2 w4 w5 ...]   (default: all)
"""
import json
import multiprocessing as mp
import resource
import sys
import time


def noop(x):
    return x


def nap(ms):
    time.sleep(ms / 1000.0)
    return ms


def total(xs):
    return sum(xs)


def pool():
    p = mp.Pool(2)
    p.map(noop, [0, 1])     # both workers up
    return p


def rss_mb():
    self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return self_kb / 1024.0, kids_kb / 1024.0


def emit(obj):
    drv, wrk = rss_mb()
    obj["peak_rss_driver_mb"] = round(drv, 1)
    obj["peak_rss_worker_mb"] = round(wrk, 1)     # largest child that has exited
    print(json.dumps(obj), flush=True)


def w1(n):
    with pool() as p:
        t0 = time.perf_counter()
        out = p.map(noop, range(n))
        secs = time.perf_counter() - t0
    assert out == list(range(n))
    emit({"bench": "mp_w1_map", "n": n, "tasks_per_s": round(n / secs), "total_s": round(secs, 4)})

    first = []

    def cb(_):
        if not first:
            first.append(time.perf_counter())

    with pool() as p:
        t0 = time.perf_counter()
        rs = [p.apply_async(noop, (i,), callback=cb) for i in range(n)]
        t_sub = time.perf_counter()
        bad = sum(1 for i, r in enumerate(rs) if r.get() != i)
        secs = time.perf_counter() - t0
    emit({"bench": "mp_w1_apply_async", "n": n, "tasks_per_s": round(n / secs),
          "first_ms": round((first[0] - t0) * 1e3, 3), "submit_s": round(t_sub - t0, 4),
          "total_s": round(secs, 4), "bad": bad})


def w2(n=1000):
    lat = []
    with pool() as p:
        for i in range(20):
            p.apply_async(noop, (i,)).get()
        for i in range(n):
            a = time.perf_counter()
            v = p.apply_async(noop, (i,)).get()
            lat.append((time.perf_counter() - a) * 1e6)
            assert v == i
    lat.sort()
    p99 = lat[max(1, int(n * 0.99 + 0.999999)) - 1]
    emit({"bench": "mp_w2", "n": n, "median_us": round((lat[n // 2 - 1] + lat[n // 2]) / 2
                                                       if n % 2 == 0 else lat[n // 2], 1),
          "p99_us": round(p99, 1), "mean_us": round(sum(lat) / n, 1)})


def w4(n=200, ms=10):
    with pool() as p:
        t0 = time.perf_counter()
        rs = [p.apply_async(nap, (ms,)) for _ in range(n)]
        for r in rs:
            r.get()
        secs = time.perf_counter() - t0
    ideal = n * ms / 1000.0 / 2
    emit({"bench": "mp_w4", "n": n, "ms": ms, "seconds": round(secs, 4),
          "efficiency": round(ideal / secs, 3)})


def w5(n=1000):
    with pool() as p:
        t0 = time.perf_counter()
        rs = [p.apply_async(noop, (i,)) for i in range(n)]
        vals = [r.get() for r in rs]
        s = p.apply_async(total, (vals,)).get()
        secs = time.perf_counter() - t0
    assert s == n * (n - 1) // 2
    emit({"bench": "mp_w5", "n": n, "seconds": round(secs, 4)})


WORK = {
    "w1_10k": lambda: w1(10_000),
    "w1_100k": lambda: w1(100_000),
    "w2": w2,
    "w4": w4,
    "w5": w5,
    "w5_10k": lambda: w5(10_000),
}

if __name__ == "__main__":
    names = sys.argv[1:] or ["w1_10k", "w1_100k", "w2", "w4", "w5", "w5_10k"]
    for name in names:
        if name not in WORK:
            sys.exit(f"mp_pool.py: unknown workload {name}; known: {' '.join(WORK)}")
    for name in names:
        WORK[name]()
