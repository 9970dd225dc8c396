/* tests/unit/wf_load.c — the workflow model: foreach/zip/product/range/glob,
 * mapping over tasks, labels, dependencies and their order, -D overrides,
 * settings, warnings, native argument values, the DAG text, and a 100,000-task
 * workflow (correctness only; its speed is measured in bench/). */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/value.h"
#include "tap.h"
#include "workflows/wf.h"

static char dir[] = "/tmp/cp-wfload-XXXXXX";

static void put(const char *name, const char *text)
{
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    if (!f)
        return;
    fputs(text, f);
    fclose(f);
}

/* Loads text as DIR/wf.yaml; on error, reports it and returns NULL. */
static struct cp__wf *load_defs(const char *text, const char *const *defs, size_t ndefs)
{
    char p[PATH_MAX];
    put("wf.yaml", text);
    snprintf(p, sizeof p, "%s/wf.yaml", dir);
    cp_err err = {0};
    struct cp__wf *wf = cp__wf_load(p, defs, ndefs, &err);
    if (!wf)
        diag("load failed: %s", err.text);
    return wf;
}
static struct cp__wf *load(const char *text) { return load_defs(text, NULL, 0); }

static const char *load_err(const char *text)
{
    static cp_err err;
    char p[PATH_MAX];
    put("wf.yaml", text);
    snprintf(p, sizeof p, "%s/wf.yaml", dir);
    struct cp__wf *wf = cp__wf_load(p, NULL, 0, &err);
    if (wf) {
        cp__wf_free(wf);
        return "(loaded)";
    }
    return err.text;
}

static const struct cp__wf_task *task(const struct cp__wf *wf, const char *name)
{
    for (size_t i = 0; i < wf->ntasks; i++)
        if (strcmp(wf->tasks[i].name, name) == 0)
            return &wf->tasks[i];
    return NULL;
}

static const struct cp__wf_inst *inst(const struct cp__wf *wf, const char *name, uint32_t i)
{
    const struct cp__wf_task *t = task(wf, name);
    return t && i < t->count ? &wf->insts[t->first + i] : NULL;
}

/* The repr of instance binding b, in a static buffer. */
static const char *bind(const struct cp__wf_inst *in, size_t b)
{
    static char buf[256];
    if (!in || b >= in->nbinds)
        return "(none)";
    char *r = cp__value_repr(&in->binds[b], 200);
    snprintf(buf, sizeof buf, "%s", r ? r : "?");
    free(r);
    return buf;
}

/* The instance's shell command, rendered without results; static buffer. */
static const char *cmd(const struct cp__wf *wf, const struct cp__wf_inst *in)
{
    static char buf[4096];
    cp_err err = {0};
    const struct cp__wf_app *a = &wf->apps[wf->tasks[in->task].app];
    char *s = cp__wf_render(wf, in, &a->cmd, NULL, true, &err);
    snprintf(buf, sizeof buf, "%s", s ? s : err.text);
    free(s);
    return buf;
}

static bool deps_first(const struct cp__wf *wf)
{
    for (size_t i = 0; i < wf->ninsts; i++)
        for (uint32_t d = 0; d < wf->insts[i].ndeps; d++)
            if (wf->insts[i].deps[d].inst >= i)
                return false;
    return true;
}

static void test_zip_product_range(void)
{
    like(load_err(
        "apps:\n"
        "  run: {shell: \"./sim {x} {y} {z}\"}\n"
        "tasks:\n"
        "  zip:\n"
        "    app: run\n"
        "    foreach: {x: [1, 2, 3], y: [a, b, c]}\n"
        "    vars: {z: 0}\n"
        "  cross:\n"
        "    app: run\n"
        "    foreach: {x: [1, 2]}\n"
        "    product: {y: [a, b], z: [true, false]}\n"
        "  prodonly:\n"
        "    app: run\n"
        "    product: {x: [1, 2], y: [3, 4, 5]}\n"
        "    vars: {z: 9}\n"
        "  up:\n"
        "    app: run\n"
        "    foreach: {x: \"range(0, 10, 3)\", y: \"range(5, -3, -2)\", z: \"range(4)\"}\n"),
         "wf.yaml:18:63: bad range 'range(4)'", "range(4) (one argument) is refused");
    struct cp__wf *wf = load(
        "apps:\n"
        "  run: {shell: \"./sim {x} {y} {z}\"}\n"
        "tasks:\n"
        "  zip:\n"
        "    app: run\n"
        "    foreach: {x: [1, 2, 3], y: [a, b, c]}\n"
        "    vars: {z: 0}\n"
        "  cross:\n"
        "    app: run\n"
        "    foreach: {x: [1, 2]}\n"
        "    product: {y: [a, b], z: [true, false]}\n"
        "  prodonly:\n"
        "    app: run\n"
        "    product: {x: [1, 2], y: [3, 4, 5]}\n"
        "    vars: {z: 9}\n"
        "  up:\n"
        "    app: run\n"
        "    foreach: {x: \"range(0, 10, 3)\", y: \"range(5, -3, -2)\", z: \"range(1, 5)\"}\n");
    if (!ok(wf, "zip/product/range workflow loads"))
        return;
    is_int(task(wf, "zip")->count, 3, "zip of two 3-lists: 3 instances");
    is_str(cmd(wf, inst(wf, "zip", 2)), "./sim 3 c 0", "zip pairs items by position");
    is_int(task(wf, "cross")->count, 8, "2 x 2 x 2 product: 8 instances");
    is_str(cmd(wf, inst(wf, "cross", 0)), "./sim 1 a true", "product order: first");
    is_str(cmd(wf, inst(wf, "cross", 1)), "./sim 1 a false", "product order: last axis fastest");
    is_str(cmd(wf, inst(wf, "cross", 2)), "./sim 1 b true", "product order: third");
    is_str(cmd(wf, inst(wf, "cross", 7)), "./sim 2 b false", "product order: last");
    is_int(task(wf, "prodonly")->count, 6, "product without foreach: 6 instances");
    is_str(cmd(wf, inst(wf, "prodonly", 4)), "./sim 2 4 9", "product without foreach: item 4");
    is_int(task(wf, "up")->count, 4, "range(0,10,3) has 4 values, zipped with two ranges of 4");
    is_str(cmd(wf, inst(wf, "up", 3)), "./sim 9 -1 4", "ranges: last values 9, -1, 4");
    is_str(inst(wf, "zip", 1)->label, "zip[1]", "label of a mapped instance");
    is_str(wf->tasks[0].bind_names[1], "y", "bind names in axis order");
    is_str(bind(inst(wf, "cross", 5), 2), "false", "binding keeps its type (bool)");
    ok(wf->nwarnings == 0, "no warnings");
    cp__wf_free(wf);
}

static void test_glob_and_empty(void)
{
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/data", dir);
    mkdir(p, 0755);
    put("data/b.csv", "2\n");
    put("data/a.csv", "1\n");
    put("data/c.txt", "3\n");
    struct cp__wf *wf = load(
        "apps:\n"
        "  count: {shell: \"wc -l {f} > {outputs[0]}\"}\n"
        "  merge: {shell: \"cat {inputs} > {outputs[0]}\"}\n"
        "  none: {shell: \"echo {f}\"}\n"
        "tasks:\n"
        "  count:\n"
        "    foreach: {f: \"glob(data/*.csv)\"}\n"
        "    outputs: [\"{f}.n\"]\n"
        "  merge:\n"
        "    inputs: [\"{count[*].outputs[0]}\"]\n"
        "    outputs: [all.n]\n"
        "  none:\n"
        "    foreach: {f: \"glob(nothing/*.x)\"}\n"
        "    outputs: [\"n{f}\"]\n"
        "  after_none:\n"
        "    app: merge\n"
        "    inputs: [\"{none[*].outputs}\"]\n"
        "    outputs: [empty.n]\n"
        "  over_none:\n"
        "    app: none\n"
        "    foreach: none\n"
        "  empty_list:\n"
        "    app: none\n"
        "    foreach: {f: []}\n");
    if (!ok(wf, "glob workflow loads"))
        return;
    is_int(task(wf, "count")->count, 2, "glob(data/*.csv) matches two files");
    is_str(bind(inst(wf, "count", 0), 0), "\"data/a.csv\"", "glob results are sorted");
    is_str(inst(wf, "count", 1)->outputs[0], "data/b.csv.n", "paths stay relative");
    const struct cp__wf_inst *m = inst(wf, "merge", 0);
    is_int(m->ninputs, 2, "a [*] list in inputs gives one input per item");
    is_str(cmd(wf, m), "cat data/a.csv.n data/b.csv.n > all.n", "inputs expand to words");
    is_int(m->ndeps, 2, "gather depends on every instance");
    is_int(task(wf, "none")->count, 0, "glob matching nothing: no instances");
    is_int(task(wf, "over_none")->count, 0, "mapping over an empty task: no instances");
    const struct cp__wf_inst *an = inst(wf, "after_none", 0);
    ok(an && an->ninputs == 0 && an->ndeps == 0, "gathering an empty task: empty list");
    is_int(wf->nwarnings, 2, "two warnings (glob, empty list)");
    if (wf->nwarnings == 2) {
        like(wf->warnings[0], "wf.yaml:13:18: warning: task 'none': foreach 'f': glob(",
             "glob warning is positioned");
        like(wf->warnings[0], "matches nothing", "glob warning says why");
        like(wf->warnings[1], ": warning: task 'empty_list': foreach 'f' is empty",
             "empty list warning");
    }
    cp__wf_free(wf);
}

static void test_map_over(void)
{
    struct cp__wf *wf = load(
        "apps:\n"
        "  sample: {shell: \"./s {seed} > {outputs[0]}\"}\n"
        "  post: {shell: \"./p {sample.outputs[0]} {k} {seed} > {outputs[0]}\"}\n"
        "  final: {shell: \"./f {post.outputs[0]} {sample.outputs[0]} {seed} {k}\"}\n"
        "tasks:\n"
        "  final:\n"
        "    foreach: post\n"
        "    after: [sample]\n"
        "  post:\n"
        "    foreach: sample\n"
        "    product: {k: [x, y]}\n"
        "    outputs: [\"p{seed}{k}\"]\n"
        "  sample:\n"
        "    foreach: {seed: [1, 2, 3]}\n"
        "    outputs: [\"s{seed}\"]\n");
    if (!ok(wf, "foreach over tasks loads"))
        return;
    ok(deps_first(wf), "every dependency comes before its dependent");
    is_int(wf->ninsts, 3 + 6 + 6, "3 samples, 6 posts (x2 product), 6 finals");
    const struct cp__wf_inst *p = inst(wf, "post", 3);
    is_str(cmd(wf, p), "./p s2 y 2 > p2y", "post[3] maps over sample[1] with k=y");
    is_int(p->ndeps, 1, "post depends on its matching sample only");
    is_int(p->deps[0].inst, inst(wf, "sample", 1) - wf->insts, "... which is sample[1]");
    const struct cp__wf_inst *f = inst(wf, "final", 5);
    is_str(cmd(wf, f), "./f p3y s3 3 y", "final[5]: transitive match through post to sample");
    is_int(f->ndeps, 2, "final[5]: post[5] and sample[2] (after: of a task it maps over "
           "means the matching one)");
    is_int(task(wf, "final")->nbind_names, 2, "final inherits k and seed");
    is_str(task(wf, "final")->bind_names[1], "seed", "inherited in order: k, then seed");
    cp__wf_free(wf);
}

static void test_deps(void)
{
    struct cp__wf *wf = load(
        "apps:\n"
        "  gen: {shell: \"echo {i} > {outputs[0]}\"}\n"
        "  use: {shell: \"cat {gen[*].outputs[0]} {gen[*].outputs} {g1.result} {g1.stdout}\"}\n"
        "tasks:\n"
        "  use:\n"
        "    after: [gen, g1]\n"
        "  gen:\n"
        "    foreach: {i: [1, 2]}\n"
        "    outputs: [\"g{i}\"]\n"
        "  g1:\n"
        "    app: gen\n"
        "    vars: {i: 9}\n"
        "    outputs: [g9]\n"
        "    stdout: logs/g1.out\n");
    if (!ok(wf, "dependency workflow loads"))
        return;
    ok(deps_first(wf), "tasks are ordered by dependency, not file order");
    const struct cp__wf_inst *u = inst(wf, "use", 0);
    is_int(u->ndeps, 3, "deps are deduplicated (refs twice plus after:)");
    int nres = 0;
    for (uint32_t i = 0; i < u->ndeps; i++)
        nres += u->deps[i].needs_result;
    is_int(nres, 1, "only the .result reference needs a result");
    is_str(u->label, "use", "label of an unmapped task");
    is_str(inst(wf, "g1", 0)->stdout_path, "logs/g1.out", "stdout rendered, relative");
    ok(inst(wf, "gen", 0)->stdout_path == NULL, "no stdout: NULL (the engine's default)");
    cp_err err = {0};
    const struct cp__wf_app *a = &wf->apps[task(wf, "use")->app];
    char *s = cp__wf_render(wf, u, &a->cmd, NULL, true, &err);
    ok(!s, "a .result cannot be rendered without results");
    like(err.text, "'{g1.result}': the result of 'g1' is known only when it has run",
         "... and says so");
    free(s);
    struct cp_value res;
    cp__value_str(&res, "it's 9", 6);
    s = cp__wf_render(wf, u, &a->cmd, &res, true, &err);
    is_str(s, "cat g1 g2 g1 g2 'it'\\''s 9' logs/g1.out", "rendered with the result, quoted");
    free(s);
    cp__value_clear(&res);
    cp__wf_free(wf);
}

static void test_defs_and_settings(void)
{
    const char *text =
        "vars: {n: 5, xs: [1, 2], name: x}\n"
        "apps:\n"
        "  run:\n"
        "    shell: \"./run {n} {name} {x}\"\n"
        "    walltime: 60\n"
        "    memory: 4GB\n"
        "    cache: false\n"
        "    retries: 2\n"
        "    executor: htex\n"
        "    stdout_mode: append\n"
        "    stdout: run.log\n"
        "tasks:\n"
        "  run:\n"
        "    foreach: {x: \"{xs}\"}\n"
        "    walltime: \"01:00:00\"\n"
        "    memory: 1.5G\n"
        "    priority: -3\n"
        "    cores: 4\n"
        "  other:\n"
        "    app: run\n"
        "    memory: 512\n"
        "    cache: true\n"
        "    vars: {x: 0}\n";
    const char *defs[] = {"n=7", "xs=[3, 4, 5]", "name=a b", "ACCOUNT=nobody"};
    struct cp__wf *wf = load_defs(text, defs, 4);
    if (!ok(wf, "-D overrides load"))
        return;
    is_int(task(wf, "run")->count, 3, "-D xs=[3, 4, 5] replaces the list");
    is_str(cmd(wf, inst(wf, "run", 2)), "./run 7 'a b' 5", "-D n=7 is an int, name a string");
    is_int(wf->var_vals[0].type, CP_INT, "-D value typed like a plain scalar");
    struct cp__wf_settings e;
    cp__wf_eff(wf, task(wf, "run"), &e);
    is_dbl(e.walltime, 3600, "task walltime \"01:00:00\" overrides the app's 60");
    is_int(e.memory_mb, 1536, "memory 1.5G = 1536 MB");
    is_int(e.priority, -3, "priority may be negative");
    is_int(e.cores, 4, "cores");
    is_int(e.retries, 2, "retries from the app");
    is_str(e.executor, "htex", "executor from the app");
    ok(!e.cache, "cache: false from the app");
    ok(e.stdout_append, "stdout_mode: append");
    cp__wf_eff(wf, task(wf, "other"), &e);
    is_int(e.memory_mb, 512, "plain memory number: MB");
    ok(e.cache, "a task's cache: true overrides the app");
    cp__wf_free(wf);

    wf = load("apps: {a: {shell: \"echo {n}\", memory: 4GB}}\ntasks: {a: {vars: {n: 1}}}\n");
    if (ok(wf, "app-only settings")) {
        cp__wf_eff(wf, &wf->tasks[0], &e);
        is_int(e.memory_mb, 4096, "memory 4GB = 4096 MB");
        ok(e.cache, "cache defaults to true in workflows");
        ok(!(e.set & CP_WF_S_WALLTIME) && e.walltime == 0, "unset walltime: 0, bit clear");
    }
    cp__wf_free(wf);
    const char *bad[] = {"noequals"};
    char p[PATH_MAX];
    cp_err err = {0};
    snprintf(p, sizeof p, "%s/wf.yaml", dir);
    ok(!cp__wf_load(p, bad, 1, &err), "-D without = is an error");
    is_str(err.text, "-D 'noequals': expected name=value", "... saying what it expects");
}

/* A native app with a parameter of each kind, linked into this test. */
CP_APP(long, t_add, (long, a), (long, b)) { return a + b; }
CP_APP(double, t_mean, (const cp_value *, xs)) { return (double)cp_value_list_len(xs); }
CP_APP(long, t_size, (cp_file *, f), (const char *, s), (double, d), (bool, b))
{
    (void)f, (void)s, (void)d, (void)b;
    return 0;
}

static char *arg_repr(const struct cp__wf *wf, const struct cp__wf_inst *in, size_t p,
                      const struct cp_value *results)
{
    struct cp_value v;
    cp_err err = {0};
    if (cp__wf_arg_value(wf, in, &wf->tasks[in->task].args[p], results, &v, &err) != 0)
        return strdup(err.text);
    char *r = cp__value_repr(&v, 300);
    cp__value_clear(&v);
    return r;
}

static void test_native_args(void)
{
    struct cp__wf *wf = load(
        "vars: {xs: [1, 2.5], n: 3}\n"
        "apps:\n"
        "  add: {native: t_add}\n"
        "  mean: {native: t_mean}\n"
        "  size: {native: t_size}\n"
        "  gen: {shell: \"echo {i} > {outputs[0]}\"}\n"
        "tasks:\n"
        "  gen:\n"
        "    foreach: {i: [1, 2]}\n"
        "    outputs: [\"g{i}.txt\"]\n"
        "  add:\n"
        "    args: {b: \"{n}\", a: 40}\n"
        "  mean:\n"
        "    args: [\"{gen[*].result}\"]\n"
        "  mean2:\n"
        "    app: mean\n"
        "    args: [\"{xs}\"]\n"
        "  mean3:\n"
        "    app: mean\n"
        "    args: [\"{gen[*].outputs[0]}\"]\n"
        "  size:\n"
        "    foreach: gen\n"
        "    args: [\"{gen.outputs[0]}\", \"n={n} i={i}\", 2.5, true]\n"
        "  sum:\n"
        "    app: add\n"
        "    args: [\"{add.result}\", 1]\n");
    if (!ok(wf, "native apps found with cp_app_find, args by name and position"))
        return;
    char *r;
    const struct cp__wf_inst *a = inst(wf, "add", 0);
    is_str(r = arg_repr(wf, a, 0, NULL), "40", "args by name land in parameter order");
    free(r);
    is_str(r = arg_repr(wf, a, 1, NULL), "3", "a single reference keeps an int an int");
    free(r);
    struct cp_value res[2];
    cp__value_int(&res[0], 10);
    cp__value_int(&res[1], 20);
    is_str(r = arg_repr(wf, inst(wf, "mean", 0), 0, res), "[10, 20]",
           "{gen[*].result} is the list of results");
    free(r);
    is_str(r = arg_repr(wf, inst(wf, "mean2", 0), 0, NULL), "[1, 2.5]", "a list var stays a list");
    free(r);
    is_str(r = arg_repr(wf, inst(wf, "mean3", 0), 0, NULL), "[file(\"g1.txt\"), file(\"g2.txt\")]",
           "[*].outputs[0] is a list of files");
    free(r);
    const struct cp__wf_inst *s = inst(wf, "size", 1);
    is_str(r = arg_repr(wf, s, 0, NULL), "file(\"g2.txt\")", "an output reference is a file");
    free(r);
    is_str(r = arg_repr(wf, s, 1, NULL), "\"n=3 i=2\"", "text around references: a string");
    free(r);
    is_str(r = arg_repr(wf, s, 2, NULL), "2.5", "a plain 2.5 is a double");
    free(r);
    is_str(r = arg_repr(wf, s, 3, NULL), "true", "a plain true is a bool");
    free(r);
    const struct cp__wf_inst *sum = inst(wf, "sum", 0);
    ok(sum->ndeps == 1 && sum->deps[0].needs_result, "{add.result}: a dep that needs its result");
    is_str(r = arg_repr(wf, sum, 0, &res[1]), "20", "the result value is passed through");
    free(r);
    cp__value_clear(&res[0]);
    cp__value_clear(&res[1]);
    cp__wf_free(wf);

    like(load_err("apps: {add: {native: t_add}}\ntasks: {add: {args: [1, \"x{y}\"], "
                  "vars: {y: 2}}}\n"), "must be a long, got a string", "text for a long");
    like(load_err("apps: {m: {native: t_size}}\ntasks: {m: {args: [a, b, x, true]}}\n"),
         "argument 'd' of app 'm' must be a double, got a string ('x')", "string for a double");
    like(load_err("apps: {m: {native: t_size}}\ntasks: {m: {args: [a, b, 1, 2.5]}}\n"),
         "argument 'b' of app 'm' must be a bool, got a float", "float for a bool");
    like(load_err("apps: {m: {native: t_mean}}\ntasks: {m: {args: [[1, 2]]}}\n"),
         "for a list, reference a list var", "an inline list argument is refused with a hint");
}

static void test_dag(void)
{
    struct cp__wf *wf = load(
        "name: 'my \"wf\"'\n"
        "apps: {a: {shell: \"echo {i}\"}, b: {shell: \"echo {a[*].result}\"}}\n"
        "tasks:\n"
        "  a: {foreach: {i: [1, 2]}}\n"
        "  b: {}\n");
    if (!ok(wf, "dag workflow loads"))
        return;
    cp_err err = {0};
    char *dot = cp__wf_dag(wf, "dot", &err);
    is_str(dot, "digraph \"my \\\"wf\\\"\" {\n  node [shape=box];\n"
                "  n0 [label=\"a[0]\"];\n  n1 [label=\"a[1]\"];\n  n2 [label=\"b\"];\n"
                "  n0 -> n2;\n  n1 -> n2;\n}\n", "dot text");
    free(dot);
    char *mm = cp__wf_dag(wf, "mermaid", &err);
    is_str(mm, "flowchart TD\n  n0[\"a[0]\"]\n  n1[\"a[1]\"]\n  n2[\"b\"]\n"
               "  n0 --> n2\n  n1 --> n2\n", "mermaid text");
    free(mm);
    ok(!cp__wf_dag(wf, "svg", &err), "unknown format refused");
    like(err.text, "dot or mermaid", "... naming the formats");
    cp__wf_free(wf);
}

static void test_misc_errors(void)
{
    like(load_err("apps: {a: {shell: \"echo {x}\"}}\ntasks:\n  a: {foreach: {x: [1, 2]}}\n"
                  "  b: {app: a, vars: {x: 1}, inputs: [\"{a[1].outputs}\"]}\n"),
         "(loaded)", "an instance index into a mapped task is allowed");
    like(load_err("apps: {a: {shell: \"echo\"}}\ntasks: {a: {outputs: [\"{v}\"], "
                  "vars: {v: \"\"}}}\n"), "renders empty", "an empty path is an error");
    like(load_err("apps: {a: {shell: \"cat {b.stdout}\"}, b: {shell: \"true\"}}\n"
                  "tasks: {a: {}, b: {}}\n"), "(loaded)",
         "{t.stdout} in a command is fine (rendered at run time)");
    like(load_err("apps: {a: {shell: \"echo {x}\"}}\ntasks: {a: {foreach: {x: [1]}, "
                  "product: {x: [2]}}}\n"), "foreach variable 'x' is defined twice",
         "the same variable in foreach and product");
}

/* 100,000 tasks in a chain written last-first (so the order must be computed
 * through the whole depth without recursion), plus a 100,000-instance map and
 * its gather. */
static void test_large(void)
{
    enum { N = 100000 };
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/big.yaml", dir);
    FILE *f = fopen(p, "w");
    fprintf(f, "apps:\n  step: {shell: \"echo {i} > {outputs[0]}\"}\n"
               "  sum: {shell: \"cat {inputs} > {outputs[0]}\"}\ntasks:\n");
    for (int i = N - 1; i >= 0; i--) {
        fprintf(f, "  t%d: {app: step, vars: {i: %d}, outputs: [o/%d]", i, i, i);
        if (i > 0)
            fprintf(f, ", inputs: [\"{t%d.outputs[0]}\"]", i - 1);
        fprintf(f, "}\n");
    }
    fprintf(f, "  map: {app: step, foreach: {i: \"range(0, %d)\"}, outputs: [\"m/{i}\"]}\n"
               "  all: {app: sum, inputs: [\"{map[*].outputs[0]}\"], outputs: [all]}\n", N);
    fclose(f);
    cp_err err = {0};
    struct cp__wf *wf = cp__wf_load(p, NULL, 0, &err);
    if (!ok(wf, "100,000-task chain plus a 100,000-instance map loads"))
        diag("%s", err.text);
    if (!wf)
        return;
    is_int(wf->ninsts, 2 * N + 1, "instances");
    ok(deps_first(wf), "dependency order through a 100,000-deep chain");
    is_int(inst(wf, "all", 0)->ndeps, N, "the gather has 100,000 dependencies");
    cp__wf_free(wf);

    /* A cycle through the whole chain is found and printed. */
    f = fopen(p, "w");
    fprintf(f, "apps:\n  step: {shell: \"true\"}\ntasks:\n");
    for (int i = 0; i < 1000; i++)
        fprintf(f, "  t%d: {app: step, after: [t%d]}\n", i, (i + 1) % 1000);
    fclose(f);
    wf = cp__wf_load(p, NULL, 0, &err);
    ok(!wf, "a 1000-task cycle is an error");
    like(err.text, "big.yaml:4:27: cycle: t0 -> t1 -> t2 -> t3 -> ... -> t996 -> t997 -> t998 -> t999 -> t0 "
         "(1000 tasks)", "... printed from its start, shortened");
    cp__wf_free(wf);
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *fw)
{
    (void)st, (void)flag, (void)fw;
    return remove(p);
}

int main(void)
{
    tap_start(120);
    if (!mkdtemp(dir)) {
        ok(0, "mkdtemp: %s", strerror(errno));
        return done_testing();
    }
    test_zip_product_range();
    test_glob_and_empty();
    test_map_over();
    test_deps();
    test_defs_and_settings();
    test_native_args();
    test_dag();
    test_misc_errors();
    test_large();
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return done_testing();
}
