#!/usr/bin/env python3
"""bench/wfgen.py - workflow files and a timing helper for bench/workflow.sh.

Python standard library only (no PyYAML). Generators print a document on stdout:

  foreach N     shape (a): one shell app mapped over `foreach: {i: "range(0, N)"}`,
                each writing out/{i}.txt, plus one reduce task whose inputs are
                "{t[*].outputs[0]}" (N + 1 task instances, a tiny file)
  chain N       shape (b): N tasks t0 .. t(N-1) written out one by one, each taking
                the previous one's output as input via "{t(i-1).outputs[0]}" (a chain)
  chain-json N  the same document as `chain N`, as JSON (for the json.load baseline)
  cold          one task whose command writes bash's ${EPOCHREALTIME} to stamp.txt
  true N        W3 of reference/peers.md: N instances of the shell command /bin/true

Measurements (one JSON object per line on stdout):

  time [--cwd D] [--out F] [--err F] [--stamp F] [--merge] -- CMD ARG...
        spawns CMD (os.posix_spawn), waits for it (os.wait4) and prints wall_ms
        (CLOCK_MONOTONIC around spawn + wait) and rc. (No peak RSS: the child's
        ru_maxrss would include this interpreter's, since Linux charges the memory
        of the image an exec replaces, here the vfork'd Python, to the process; use
        GNU time, whose forked child is small.) With --stamp, first_ms = the
        CLOCK_REALTIME seconds written in F (by the task) minus CLOCK_REALTIME read
        just before the spawn. With --merge, the last line of the child's stdout
        (--out, a JSON object) is merged into the result.
  jsonload FILE   json.load(FILE) timed in-process: parse_ms, tasks
  pyexpand N      the Python floor of expanding shape (a): N task records (dicts with
                  the rendered command and output path) and the reduce's input list
                  built in-process: expand_ms
  massif FILE N [SHOWN]  a summary of valgrind massif's peak snapshot: the heap by
                  allocation site, bytes per task (N tasks), as markdown table rows
"""
import json
import os
import sys
import time


# ---------------------------------------------------------------- generators

def gen_foreach(n):
    return (f"name: foreach-{n}\n"
            "apps:\n"
            "  gen:\n"
            "    shell: echo {i} > {outputs[0]}\n"
            "  reduce:\n"
            "    shell: cat {inputs} > {outputs[0]}\n"
            "tasks:\n"
            "  t:\n"
            "    app: gen\n"
            f"    foreach: {{i: \"range(0, {n})\"}}\n"
            "    outputs: [\"out/{i}.txt\"]\n"
            "  all:\n"
            "    app: reduce\n"
            "    inputs: [\"{t[*].outputs[0]}\"]\n"
            "    outputs: [all.txt]\n")


CHAIN_CMD = "cat {inputs} > {outputs[0]}; echo x >> {outputs[0]}"


def chain_doc(n):
    """The chain as a Python dict (what the YAML below says, key for key)."""
    tasks = {"t0": {"app": "step", "outputs": ["out/0.txt"]}}
    for i in range(1, n):
        tasks[f"t{i}"] = {"app": "step", "inputs": [f"{{t{i - 1}.outputs[0]}}"],
                          "outputs": [f"out/{i}.txt"]}
    return {"name": f"chain-{n}", "apps": {"step": {"shell": CHAIN_CMD}}, "tasks": tasks}


def write_chain(n, out):
    out.write(f"name: chain-{n}\napps:\n  step:\n    shell: {CHAIN_CMD}\ntasks:\n"
              "  t0:\n    app: step\n    outputs: [out/0.txt]\n")
    for i in range(1, n):
        out.write(f"  t{i}:\n    app: step\n    inputs: [\"{{t{i - 1}.outputs[0]}}\"]\n"
                  f"    outputs: [out/{i}.txt]\n")


COLD = """name: cold-start
apps:
  stamp:
    shell: printf '%s\\n' "${EPOCHREALTIME}" > {outputs[0]}
tasks:
  stamp:
    app: stamp
    outputs: [stamp.txt]
"""


def gen_true(n):
    return (f"name: w3-{n}\napps:\n  t:\n    shell: /bin/true\ntasks:\n  t:\n    app: t\n"
            f"    foreach: {{i: \"range(0, {n})\"}}\n")


# ---------------------------------------------------------------- measurements

def cmd_time(args):
    cwd = out = err = stamp = None
    merge = False
    while args and args[0] != "--":
        a = args.pop(0)
        if a == "--merge":
            merge = True
        elif a in ("--cwd", "--out", "--err", "--stamp"):
            v = args.pop(0)
            if a == "--cwd":
                cwd = v
            elif a == "--out":
                out = v
            elif a == "--err":
                err = v
            else:
                stamp = v
        else:
            sys.exit(f"wfgen.py time: unknown option {a}")
    argv = args[1:]
    if not argv:
        sys.exit("wfgen.py time: no command")
    out, err = [os.path.abspath(p) if p else None for p in (out, err)]
    if cwd:
        os.chdir(cwd)
    if stamp and os.path.exists(stamp):
        os.unlink(stamp)
    acts = [(os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0)]
    for fd, path in ((1, out), (2, err)):
        acts.append((os.POSIX_SPAWN_OPEN, fd, path or "/dev/null",
                     os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644))
    t_real = time.clock_gettime_ns(time.CLOCK_REALTIME)
    t0 = time.monotonic_ns()
    pid = os.posix_spawnp(argv[0], argv, os.environ, file_actions=acts)
    _, status = os.waitpid(pid, 0)
    t1 = time.monotonic_ns()
    rc = os.waitstatus_to_exitcode(status)
    res = {"wall_ms": (t1 - t0) / 1e6, "rc": rc}
    if stamp:
        try:
            with open(stamp) as f:
                s = f.read().strip()
            sec, _, frac = s.partition(".")
            ns = int(sec) * 10**9 + int((frac + "000000000")[:9])
            res["first_ms"] = (ns - t_real) / 1e6
        except (OSError, ValueError):
            res["rc"] = rc or 99          # no stamp: the task did not run
            res["why"] = f"no timestamp in {stamp}"
    if merge and out:
        with open(out) as f:
            lines = [l for l in f.read().splitlines() if l.strip()]
        if lines:
            try:
                res.update(json.loads(lines[-1]))
            except ValueError:
                res["rc"] = rc or 98
    print(json.dumps(res))


def cmd_jsonload(path):
    t0 = time.perf_counter()
    with open(path) as f:
        doc = json.load(f)
    t1 = time.perf_counter()
    print(json.dumps({"parse_ms": (t1 - t0) * 1e3, "tasks": len(doc["tasks"])}))


def cmd_pyexpand(n):
    t0 = time.perf_counter()
    insts = []
    for i in range(n):
        out = f"out/{i}.txt"
        insts.append({"task": "t", "index": i, "label": f"t[{i}]", "binds": {"i": i},
                      "outputs": [out], "command": f"echo {i} > {out}"})
    inputs = [t["outputs"][0] for t in insts]
    insts.append({"task": "all", "label": "all", "inputs": inputs, "outputs": ["all.txt"],
                  "command": "cat " + " ".join(inputs) + " > all.txt", "deps": list(range(n))})
    t1 = time.perf_counter()
    print(json.dumps({"expand_ms": (t1 - t0) * 1e3, "insts": len(insts)}))


# Functions that only allocate on behalf of their caller: the summary shows who
# called them instead (one level further down the massif tree).
GENERIC = {"cp__wf_buf_add", "cp__wf_buf_add.part.0", "cp__wf_buf_str", "cp__wf_buf_take",
           "hmap_grow", "cp__wf_hmap_put", "__vasprintf_internal", "cp__strdup_vprintf",
           "cp__strdup_printf", "cp__strdup", "strdup", "__strdup", "vasprintf",
           "__asprintf_chk", "asprintf", "push_path", "cp__xmalloc", "cp__xrealloc"}


def cmd_massif(path, ntasks, shown=12):
    """Peak snapshot of a massif.out file -> markdown rows: bytes/task by site."""
    snaps, cur = [], None
    with open(path) as f:
        for line in f:
            if line.startswith("snapshot="):
                cur = {"tree": []}
                snaps.append(cur)
            elif cur is not None and line.startswith("heap_tree="):
                cur["kind"] = line.split("=", 1)[1].strip()
            elif cur is not None and line.startswith("mem_heap_B="):
                cur["heap"] = int(line.split("=")[1])
            elif cur is not None and line.startswith("mem_heap_extra_B="):
                cur["extra"] = int(line.split("=")[1])
            elif cur is not None and line.lstrip().startswith("n") and ":" in line:
                depth = len(line) - len(line.lstrip(" "))
                head, _, rest = line.strip().partition(": ")
                nbytes, _, where = rest.partition(" ")
                cur["tree"].append((depth, int(nbytes), where.strip()))
    peak = next((s for s in snaps if s.get("kind") == "peak"), None)
    if not peak:
        print("| (no peak snapshot) | | |")
        return
    tree = peak["tree"]

    def fn_of(where):
        # "0x113514: arena_alloc (yaml.c:51)" -> ("arena_alloc", "yaml.c:51")
        w = where.split(": ", 1)[-1]
        name, _, loc = w.partition(" (")
        return name.strip(), loc.rstrip(")")

    def kids(i):
        d = tree[i][0]
        j = i + 1
        while j < len(tree) and tree[j][0] > d:
            if tree[j][0] == d + 1:
                yield j
            j += 1

    rows = []

    def walk(i, chain):
        name, loc = fn_of(tree[i][2])
        label = f"{name} ({loc})" if loc else name
        ks = list(kids(i))
        if name in GENERIC and ks:
            for k in ks:
                walk_or_other(k, chain + [label])
            return
        rows.append((tree[i][1], f"{label} ← {chain[-1]}" if chain else label))

    def walk_or_other(k, chain):
        if "below massif's threshold" in tree[k][2]:
            rows.append((tree[k][1], "other sites, each below 1 % of the heap"
                         + (f" ← {chain[-1]}" if chain else "")))
        else:
            walk(k, chain)

    for k in kids(0):
        walk_or_other(k, [])
    rows.sort(key=lambda r: -r[0])
    total = peak["heap"] + peak.get("extra", 0)
    print(f"| **whole heap at the peak (requested + malloc overhead)** | "
          f"{total / ntasks:,.0f} | {total / 2**20:,.1f} |")
    print(f"| malloc's own overhead (headers, rounding) | {peak.get('extra', 0) / ntasks:,.0f} | "
          f"{peak.get('extra', 0) / 2**20:,.1f} |")
    for nbytes, label in [r for r in rows if r[0] >= total / 200][:shown]:
        print(f"| {label} | {nbytes / ntasks:,.0f} | {nbytes / 2**20:,.1f} |")


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    cmd, rest = argv[1], argv[2:]
    if cmd == "foreach":
        sys.stdout.write(gen_foreach(int(rest[0])))
    elif cmd == "chain":
        write_chain(int(rest[0]), sys.stdout)
    elif cmd == "chain-json":
        json.dump(chain_doc(int(rest[0])), sys.stdout, separators=(",", ":"))
    elif cmd == "cold":
        sys.stdout.write(COLD)
    elif cmd == "true":
        sys.stdout.write(gen_true(int(rest[0])))
    elif cmd == "time":
        cmd_time(rest)
    elif cmd == "jsonload":
        cmd_jsonload(rest[0])
    elif cmd == "pyexpand":
        cmd_pyexpand(int(rest[0]))
    elif cmd == "massif":
        cmd_massif(rest[0], int(rest[1]), int(rest[2]) if len(rest) > 2 else 12)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
