/* Config files (docs/config.md): keys really change the run (max_threads bounds
 * concurrency, retries retry), extends merges (executors by label), ${NAME}
 * comes from -D then the environment and is typed again, templates are found on
 * $CPARSL_TEMPLATE_PATH before the embedded ones, and every file of the error
 * corpus (tests/corpus/config) fails with its exact first error line and
 * creates nothing. */
#include <cparsl.h>
#include <dirent.h>
#include <errno.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <time.h>

#include "tap.h"
#include "testutil.h"
#include "common/util.h"
#include "common/yaml.h"
#include "engine/config_file.h"

/* ------------------------------------------------------------ apps */

static atomic_int running, peak, tries[8];
static atomic_bool met;

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Waits (at most timeout_ms) until `want` copies run at once: only possible when
 * the executor has at least that many threads. Returns the peak it saw. */
CP_APP(long, meet, (long, want), (long, timeout_ms))
{
    int now = atomic_fetch_add(&running, 1) + 1;
    int p = atomic_load(&peak);
    while (now > p && !atomic_compare_exchange_weak(&peak, &p, now))
        ;
    if (now >= want)
        atomic_store(&met, true);
    for (long waited = 0; !atomic_load(&met) && waited < timeout_ms; waited++)
        nap_ms(1);
    nap_ms(5);
    atomic_fetch_sub(&running, 1);
    return atomic_load(&peak);
}

static void meet_reset(void)
{
    atomic_store(&running, 0);
    atomic_store(&peak, 0);
    atomic_store(&met, false);
}

CP_APP(long, flaky, (long, slot), (long, ok_after))
{
    int n = atomic_fetch_add(&tries[slot], 1) + 1;
    if (n < ok_after)
        cp_fail("try %d fails", n);
    return n;
}

CP_APP(long, twice, (long, x)) { return 2 * x; }

/* ------------------------------------------------------------ helpers */

static void put(const char *path, const char *text)
{
    if (cp__mkdir_parent(path, NULL) != 0)
        diag("cannot make the directory of %s", path);
    FILE *f = fopen(path, "w");
    if (!f) {
        diag("cannot write %s: %s", path, strerror(errno));
        return;
    }
    fputs(text, f);
    fclose(f);
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static const struct cp__tp_settings *tp_of(const struct cp__run_config *rc, size_t i)
{
    return i < rc->nexecs && rc->execs[i].type == &cp__exec_type_thread_pool
               ? rc->execs[i].settings : NULL;
}

static int max_threads_of(const struct cp__run_config *rc, size_t i)
{
    const struct cp__tp_settings *s = tp_of(rc, i);
    return s ? s->max_threads : -1;
}

/* Loads text as c.yaml; NULL with err on failure. */
static struct cp__run_config *load_text(const char *text, const char *const *defs, size_t n,
                                        cp_err *err)
{
    put("c.yaml", text);
    return cp__config_load("c.yaml", ".", defs, n, err);
}

/* ------------------------------------------------------------ parts */

static void defaults_and_local(void)
{
    cp_err err = {0};
    struct cp__run_config *rc = cp__config_load("local", ".", NULL, 0, &err);
    ok(rc != NULL, "the embedded 'local' template loads: %s", rc ? "" : err.text);
    if (!rc)
        return;
    is_int(rc->nexecs, 1, "local: one executor");
    is_str(rc->execs[0].label, "threads", "... labelled threads");
    ok(rc->execs[0].type == &cp__exec_type_thread_pool, "... a thread_pool");
    is_int(max_threads_of(rc, 0), 0, "... max_threads unset: the CPU count");
    is_int(rc->retries, 0, "local: retries 0");
    is_str(rc->run_dir, "runinfo", "local: run_dir runinfo");
    ok(rc->log_level == NULL, "local: log_level from the environment");
    is_str(cp__config_labels(rc), "threads", "labels text");
    ok(cp__config_has_executor(rc, "threads") && !cp__config_has_executor(rc, "gpu"),
       "has_executor: threads yes, gpu no");
    is_int(cp__config_executor_count(rc), 1, "executor_count");
    is_str(cp__config_executor_label(rc, 0), "threads", "executor_label(0)");
    ok(cp__config_executor_label(rc, 1) == NULL, "executor_label(1) is NULL");
    cp__run_config_free(rc);

    rc = cp__config_load(NULL, NULL, NULL, 0, &err);
    ok(rc && rc->nexecs == 1 && strcmp(rc->execs[0].label, "threads") == 0,
       "spec NULL is 'local'");
    cp__run_config_free(rc);

    rc = load_text("", NULL, 0, &err);
    ok(rc && rc->nexecs == 1 && strcmp(rc->execs[0].label, "threads") == 0 &&
       max_threads_of(rc, 0) == 0, "an empty file: Parsl's default, one thread pool 'threads'");
    cp__run_config_free(rc);

    rc = load_text("retries: 2\n", NULL, 0, &err);
    ok(rc && rc->retries == 2 && rc->nexecs == 1, "no executors key: the default executor");
    cp__run_config_free(rc);

    rc = load_text("retries: 1\nexecutors: ~\nlog_level: ~\nmonitoring: none\n"
                   "checkpoint: none\ncheckpoint_files: none\napp_cache: false\n"
                   "strategy: none\nmax_idletime: 30\nstrategy_period: 2.5\n"
                   "checkpoint_period: \"01:00:00\"\ninternal_tasks_max_threads: 3\n",
                   NULL, 0, &err);
    ok(rc != NULL, "every 'off' value is accepted: %s", rc ? "" : err.text);
    if (rc) {
        is_dbl(rc->max_idletime, 30, "max_idletime kept");
        is_dbl(rc->strategy_period, 2.5, "strategy_period kept");
        is_dbl(rc->checkpoint_period, 3600, "checkpoint_period \"01:00:00\" is 3600 s");
        is_int(rc->internal_threads, 3, "internal_tasks_max_threads kept");
    }
    cp__run_config_free(rc);
    rc = load_text("checkpoint_mode: none\ncheckpoint_period: 90\nmonitoring: false\n",
                   NULL, 0, &err);
    ok(rc && rc->checkpoint_period == 90, "checkpoint_mode (Parsl's spelling), seconds");
    cp__run_config_free(rc);
}

static void concurrency(void)
{
    int cpus = cp__cpu_count(), k = cpus + 2;
    char def[64];
    snprintf(def, sizeof def, "N=%d", k);
    const char *defs[] = {def};
    cp_err err = {0};
    struct cp__run_config *rc = load_text("executors:\n  - label: wide\n    type: thread_pool\n"
                                          "    max_threads: ${N}\n", defs, 1, &err);
    ok(rc != NULL, "max_threads: ${N} with -D N=%d: %s", k, rc ? "ok" : err.text);
    if (!rc)
        return;
    is_int(max_threads_of(rc, 0), k, "${N} is typed again: the integer %d", k);
    const char *const *used = cp__config_used_defs(rc);
    ok(used && used[0] && strcmp(used[0], "N") == 0 && !used[1], "used defs: N");
    is_int(cp__load_run_config(rc, &err), 0, "start the run: %s", err.text);
    cp__run_config_free(rc);
    meet_reset();
    cp_future *f[64];
    for (int i = 0; i < k; i++)
        f[i] = cp_call(meet, (long)k, 10000L);
    int okc = 0;
    for (int i = 0; i < k; i++)
        okc += cp_future_wait(f[i]) == 0;
    is_int(okc, k, "all %d tasks ran", k);
    ok(atomic_load(&met), "%d tasks (CPU count + 2) ran at once on max_threads %d", k, k);
    is_int(atomic_load(&peak), k, "peak concurrency %d", k);
    for (int i = 0; i < k; i++)
        cp_future_release(f[i]);
    is_int(cp_shutdown(), 0, "shutdown");

    rc = load_text("executors: [{label: one, type: thread_pool, max_threads: 1}]\n", NULL, 0,
                   &err);
    ok(rc && cp__load_run_config(rc, &err) == 0, "max_threads: 1");
    cp__run_config_free(rc);
    meet_reset();
    for (int i = 0; i < 3; i++)
        f[i] = cp_call(meet, 2L, 100L);
    for (int i = 0; i < 3; i++)
        cp_future_wait(f[i]);
    is_int(atomic_load(&peak), 1, "max_threads 1: never two at once");
    for (int i = 0; i < 3; i++)
        cp_future_release(f[i]);
    is_int(cp_shutdown(), 0, "shutdown");

    /* -j: the same config with its workers set from outside. */
    rc = load_text("executors: [{label: one, type: thread_pool, max_threads: 1}]\n", NULL, 0,
                   &err);
    ok(rc && cp__config_set_max_workers(rc, 3, &err) == 0, "set_max_workers 3");
    is_int(rc ? max_threads_of(rc, 0) : -1, 3, "... sets max_threads");
    ok(rc && cp__config_set_max_workers(rc, 0, &err) == -1, "set_max_workers 0 is refused");
    like(err.text, "at least 1", "... saying why: %s", err.text);
    ok(rc && cp__load_run_config(rc, &err) == 0, "start it");
    cp__run_config_free(rc);
    meet_reset();
    for (int i = 0; i < 3; i++)
        f[i] = cp_call(meet, 3L, 10000L);
    for (int i = 0; i < 3; i++)
        cp_future_wait(f[i]);
    ok(atomic_load(&met) && atomic_load(&peak) == 3, "three at once after -j 3 (peak %d)",
       atomic_load(&peak));
    for (int i = 0; i < 3; i++)
        cp_future_release(f[i]);
    is_int(cp_shutdown(), 0, "shutdown");
}

static void retries_and_labels(void)
{
    put("conf/base.yaml", "retries: 2\nrun_dir: base-runs\n"
                          "executors:\n  - label: threads\n    type: thread_pool\n"
                          "    max_threads: 2\n  - label: other\n    type: thread_pool\n"
                          "    max_threads: 1\n");
    put("conf/site.yaml", "extends: base.yaml\nrun_dir: site-runs\n"
                          "executors:\n  - label: other\n    max_threads: 5\n"
                          "  - {label: extra, type: thread_pool}\n");
    cp_err err = {0};
    struct cp__run_config *rc = cp__config_load("conf/site.yaml", ".", NULL, 0, &err);
    ok(rc != NULL, "site.yaml extends base.yaml: %s", rc ? "" : err.text);
    if (!rc)
        return;
    is_int(rc->retries, 2, "retries inherited from the base");
    is_str(rc->run_dir, "site-runs", "run_dir replaced by the child");
    is_int(rc->nexecs, 3, "executors merged by label: 3");
    is_str(cp__config_labels(rc), "threads, other, extra", "in order: base's, then new ones");
    is_int(max_threads_of(rc, 0), 2, "threads untouched (2)");
    is_int(max_threads_of(rc, 1), 5, "other merged: max_threads 5 over 1, type kept");
    is_int(max_threads_of(rc, 2), 0, "extra appended with defaults");
    cp__run_config_free(rc);

    /* Through the public API: a path, runs in the config's run_dir, retries retry,
     * labels pick executors. */
    is_int(cp_load("conf/site.yaml"), 0, "cp_load(\"conf/site.yaml\"): %s", cp_last_error());
    is_str(cp_run_dir(), "site-runs/000", "the run is in the config's run_dir");
    cp_future *a = cp_call(flaky, 0L, 3L);
    is_int(cp_future_int(a), 3, "retries: 2 from the base: succeeds on the third try");
    is_int(atomic_load(&tries[0]), 3, "... three tries ran");
    cp_future *b = cp_call(flaky, 1L, 4L);
    ok(cp_future_wait(b) == -1 && atomic_load(&tries[1]) == 3, "a fourth try is not made");
    cp_future *c = cp_call_opts(twice, CP_OPTS(.executor = "extra"), 21L);
    is_int(cp_future_int(c), 42, "a task on executor 'extra' runs");
    cp_future *d = cp_call_opts(twice, CP_OPTS(.executor = "gpu"), 1L);
    ok(cp_future_wait(d) == -1, "a task on an undefined executor fails");
    cp_future_release(a);
    cp_future_release(b);
    cp_future_release(c);
    cp_future_release(d);
    is_int(cp_shutdown(), 1, "shutdown (two failed)");

    /* Naming the same type again still merges (a different type would replace). */
    put("conf/swap.yaml",
        "extends: base.yaml\nexecutors:\n  - {label: other, type: thread_pool}\n");
    rc = cp__config_load("conf/swap.yaml", ".", NULL, 0, &err);
    ok(rc && max_threads_of(rc, 1) == 1, "same label, same type (given): merged");
    cp__run_config_free(rc);

    /* null resets to the default, also over a template. */
    put("conf/reset.yaml", "extends: base.yaml\nretries: ~\nexecutors: ~\n");
    rc = cp__config_load("conf/reset.yaml", ".", NULL, 0, &err);
    ok(rc && rc->retries == 0 && rc->nexecs == 1 && max_threads_of(rc, 0) == 0,
       "null resets retries and executors to the defaults");
    cp__run_config_free(rc);

    /* Chains of three, and base_dir. */
    put("conf/deep/leaf.yaml", "extends: ../site.yaml\nretries: 4\n");
    rc = cp__config_load("deep/leaf.yaml", "conf", NULL, 0, &err);
    ok(rc && rc->retries == 4 && rc->nexecs == 3, "a chain of three, relative to each file: %s",
       rc ? "" : err.text);
    if (rc)
        is_str(rc->run_dir, "conf/site-runs", "a relative run_dir lands in base_dir");
    ok(rc && cp__config_set_run_dir(rc, "elsewhere", &err) == 0 &&
       strcmp(rc->run_dir, "elsewhere") == 0, "set_run_dir replaces it as given");
    cp__run_config_free(rc);

    /* Errors in an ancestor name the ancestor's file and line. */
    put("conf/badbase.yaml", "retries: 1\nexecutors:\n  - label: threads\n"
                             "    type: thread_pool\n    max_thread: 3\n");
    put("conf/usesbad.yaml", "extends: badbase.yaml\nretries: 2\n");
    rc = cp__config_load("conf/usesbad.yaml", ".", NULL, 0, &err);
    ok(!rc, "a bad key in the base fails the child");
    is_str(err.text, "conf/badbase.yaml:5:5: unknown key 'max_thread' in executor 'threads' "
                     "(thread_pool) (did you mean 'max_threads'?)", "... at the base's line");
    cp__run_config_free(rc);

    /* Errors name files relative to the current directory when base_dir (an
     * absolute path, as parsl-run passes) lies under it, else as given. */
    char cwd[512], abs[700];
    ok(getcwd(cwd, sizeof cwd) != NULL, "getcwd");
    snprintf(abs, sizeof abs, "%s/conf", cwd);
    rc = cp__config_load("usesbad.yaml", abs, NULL, 0, &err);
    is_str(rc ? "" : err.text, "conf/badbase.yaml:5:5: unknown key 'max_thread' in executor "
                               "'threads' (thread_pool) (did you mean 'max_threads'?)",
           "an absolute base_dir under the current directory is shown relative");
    char out[128], want[256];
    snprintf(out, sizeof out, "/tmp/cparsl-config-outside-%d.yaml", (int)getpid());
    put(out, "retries: x\n");
    rc = cp__config_load(out + 5, "/tmp", NULL, 0, &err);
    snprintf(want, sizeof want, "%s:1:10: retries must be an integer, got 'x'", out);
    is_str(rc ? "" : err.text, want, "... and absolute when outside it");
    unlink(out);
}

static void variables(void)
{
    cp_err err = {0};
    setenv("CPARSL_T_RETRIES", "3", 1);
    setenv("CPARSL_T_LABEL", "fromenv", 1);
    const char *defs[] = {"CPARSL_T_LABEL=first", "CPARSL_T_LABEL=fromdef", "UNUSED=1"};
    struct cp__run_config *rc = load_text(
        "retries: ${CPARSL_T_RETRIES}\n"
        "run_dir: runs-${CPARSL_T_LABEL}-$${HOME}-$HOME-$\n"
        "executors:\n  - label: ${CPARSL_T_LABEL}\n    type: thread_pool\n",
        defs, 3, &err);
    ok(rc != NULL, "variables load: %s", rc ? "" : err.text);
    if (rc) {
        is_int(rc->retries, 3, "retries from the environment, typed as an integer");
        is_str(rc->execs[0].label, "fromdef", "-D beats the environment; the last -D wins");
        is_str(rc->run_dir, "runs-fromdef-${HOME}-$HOME-$", "$${ is a literal ${; a lone $ stays");
        const char *const *u = cp__config_used_defs(rc);
        ok(u && u[0] && strcmp(u[0], "CPARSL_T_LABEL") == 0 && !u[1],
           "used defs: CPARSL_T_LABEL once, UNUSED not");
    }
    cp__run_config_free(rc);

    unsetenv("CPARSL_T_MISSING");
    rc = load_text("retries: 1\nrun_dir: runs/${CPARSL_T_MISSING}/x\n", NULL, 0, &err);
    ok(!rc, "an undefined variable fails");
    is_str(err.text, "c.yaml:2:15: ${CPARSL_T_MISSING} is not defined: give -D "
                     "CPARSL_T_MISSING=... or set it in the environment",
           "... naming it at its column");
    rc = load_text("executors:\n  - {label: q, type: thread_pool, max_threads: \"${N}\"}\n",
                   (const char *[]){"N=4"}, 1, &err);
    ok(!rc, "a quoted ${N} stays a string");
    like(err.text, "max_threads must be an integer, got '4'", "... %s", err.text);
    rc = load_text("retries: 1\n", (const char *[]){"no-equals"}, 1, &err);
    ok(!rc, "a definition without '=' is refused");
    like(err.text, "NAME=value", "... %s", err.text);

    /* extends: ${SITE} */
    put("siteA.yaml", "retries: 6\n");
    rc = load_text("extends: ${SITE}\n", (const char *[]){"SITE=siteA.yaml"}, 1, &err);
    ok(rc && rc->retries == 6, "extends: ${SITE} is filled before it is followed");
    ok(rc && cp__config_used_defs(rc)[0] && !strcmp(cp__config_used_defs(rc)[0], "SITE"),
       "... and SITE counts as used");
    cp__run_config_free(rc);
    unsetenv("CPARSL_T_RETRIES");
    unsetenv("CPARSL_T_LABEL");
}

static void templates(void)
{
    cp_err err = {0};
    put("tdir/local.yaml", "retries: 7\n");
    put("tdir/mine.yaml", "extends: local\nretries: 9\n");
    setenv("CPARSL_TEMPLATE_PATH", "/nonexistent:tdir", 1);
    struct cp__run_config *rc = cp__config_load("local", ".", NULL, 0, &err);
    ok(rc && rc->retries == 7, "a template on CPARSL_TEMPLATE_PATH wins over the embedded one");
    cp__run_config_free(rc);
    rc = cp__config_load("mine", ".", NULL, 0, &err);
    ok(rc && rc->retries == 9, "templates found by name extend others by name");
    cp__run_config_free(rc);
    rc = cp__config_load("lokal", ".", NULL, 0, &err);
    ok(!rc, "an unknown template fails");
    is_str(err.text, "unknown config template 'lokal' (did you mean 'local'?)", "... with a hint");
    rc = cp__config_load("zzzzzzzz", ".", NULL, 0, &err);
    like(err.text, "one of: anvil, ", "an unknown name lists the templates: %s", err.text);
    like(err.text, " local, ", "... the embedded local among them");
    like(err.text, "mine", "... those on the path too");
    unsetenv("CPARSL_TEMPLATE_PATH");
    rc = cp__config_load("local", ".", NULL, 0, &err);
    ok(rc && rc->retries == 0, "without the path: the embedded local");
    cp__run_config_free(rc);
    rc = cp__config_load("mine", ".", NULL, 0, &err);
    ok(!rc, "without the path 'mine' is unknown");

    /* cp_load("local") starts the same run as cp_load(NULL). */
    is_int(cp_load("local"), 0, "cp_load(\"local\") with nothing installed");
    ok(cp_run_dir() && strncmp(cp_run_dir(), "runinfo/", 8) == 0, "... in runinfo/ (%s)",
       cp_run_dir());
    cp_future *f = cp_call(twice, 5L);
    is_int(cp_future_int(f), 10, "... runs a task");
    cp_future_release(f);
    is_int(cp_shutdown(), 0, "shutdown");
    is_int(cp_load("no-such.yaml"), -1, "cp_load of a missing file fails");
    is_str(cp_last_error(), "cannot read config file 'no-such.yaml': No such file or directory",
           "... naming it");
    is_int(cp_load("bad.yml"), -1, "a .yml name is a path too");
    like(cp_last_error(), "'bad.yml'", "... %s", cp_last_error());
}

static void inline_node(void)
{
    cp_err err = {0};
    const char *wf = "name: w\nconfig: {extends: local, retries: 5}\nc2: local\nc3: ~\n"
                     "c4: [a]\nc5: lokal\nc6: {retries: x}\nc7: ${CFG}\n";
    struct cp__ydoc *doc = cp__ydoc_load_mem("wf.yaml", wf, strlen(wf), &err);
    ok(doc != NULL, "a workflow document");
    if (!doc)
        return;
    struct cp__run_config *rc =
        cp__config_from_node(cp__ymap_get(doc->root, "config"), ".", NULL, 0, &err);
    ok(rc && rc->retries == 5 && rc->nexecs == 1, "inline config extending local: %s",
       rc ? "" : err.text);
    cp__run_config_free(rc);
    rc = cp__config_from_node(cp__ymap_get(doc->root, "c2"), ".", NULL, 0, &err);
    ok(rc && rc->nexecs == 1, "a scalar names a template");
    cp__run_config_free(rc);
    rc = cp__config_from_node(cp__ymap_get(doc->root, "c3"), ".", NULL, 0, &err);
    ok(rc && rc->nexecs == 1, "null is local");
    cp__run_config_free(rc);
    rc = cp__config_from_node(cp__ymap_get(doc->root, "c4"), ".", NULL, 0, &err);
    is_str(rc ? "" : err.text, "wf.yaml:5:5: config must be a template name, a path or a "
                               "mapping, got a list", "a list is refused at its position");
    rc = cp__config_from_node(cp__ymap_get(doc->root, "c5"), ".", NULL, 0, &err);
    is_str(rc ? "" : err.text, "wf.yaml:6:5: unknown config template 'lokal' (did you mean "
                               "'local'?)", "an unknown template at the workflow's line");
    rc = cp__config_from_node(cp__ymap_get(doc->root, "c6"), ".", NULL, 0, &err);
    is_str(rc ? "" : err.text, "wf.yaml:7:15: retries must be an integer, got 'x'",
           "inline errors point into the workflow");
    rc = cp__config_from_node(cp__ymap_get(doc->root, "c7"), ".", (const char *[]){"CFG=local"},
                              1, &err);
    ok(rc && rc->nexecs == 1, "config: ${CFG} is filled");
    cp__run_config_free(rc);
    cp__ydoc_free(doc);
}

static void c_config(void)
{
    cp_err err = {0};
    struct cp__run_config *rc = cp__config_from_c(&(cp_config){.max_threads = 3, .retries = 1,
                                                                .run_dir = "r"}, &err);
    ok(rc && rc->nexecs == 1 && max_threads_of(rc, 0) == 3 && rc->retries == 1 &&
       !strcmp(rc->run_dir, "r") && !strcmp(rc->execs[0].label, "threads"),
       "a cp_config is one thread_pool 'threads' with its settings");
    cp__run_config_free(rc);
    rc = cp__config_from_c(&(cp_config){.retries = -1}, &err);
    ok(!rc, "negative retries refused");
    like(err.text, "retries", "... %s", err.text);
}

/* ------------------------------------------------------------ the corpus */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void corpus(const char *src)
{
    char dir[600], cmd[1400];
    snprintf(dir, sizeof dir, "%s/tests/corpus/config", src);
    char tmpl[] = "/tmp/cparsl-corpus-XXXXXX";
    if (!mkdtemp(tmpl)) {
        ok(0, "corpus work dir");
        return;
    }
    snprintf(cmd, sizeof cmd, "cp -R '%s/.' '%s/'", dir, tmpl);
    ok(system(cmd) == 0, "copy the corpus to %s", tmpl);
    char here[600];
    if (!getcwd(here, sizeof here) || chdir(tmpl) != 0) {
        ok(0, "enter the corpus copy");
        return;
    }
    unsetenv("CPARSL_TEMPLATE_PATH");
    unsetenv("CPARSL_T_UNDEFINED");
    DIR *d = opendir(".");
    char *names[512];
    size_t n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) && n < 512) {
        size_t l = strlen(e->d_name);
        if (l > 5 && strcmp(e->d_name + l - 5, ".yaml") == 0 && e->d_name[0] != '_')
            names[n++] = strdup(e->d_name);
    }
    if (d)
        closedir(d);
    qsort(names, n, sizeof *names, cmp_str);
    ok(n >= 25, "the corpus has %zu cases (at least 25)", n);
    for (size_t i = 0; i < n; i++) {
        char expect_path[300];
        snprintf(expect_path, sizeof expect_path, "%.*s.expect", (int)(strlen(names[i]) - 5),
                 names[i]);
        char *want = slurp(expect_path);
        if (!want) {
            ok(0, "%s has a .expect file", names[i]);
            free(names[i]);
            continue;
        }
        want[strcspn(want, "\n")] = '\0';
        const char *wantc = want;   /* slurp's buffer: no other slurp until compared */
        int rc = cp_load(names[i]);
        if (rc == 0)
            cp_shutdown();
        char got[1024];
        snprintf(got, sizeof got, "%s", cp_last_error());
        got[strcspn(got, "\n")] = '\0';
        ok(rc == -1 && strcmp(got, wantc) == 0, "%s", names[i]);
        if (rc != -1 || strcmp(got, wantc) != 0)
            diag("got  \"%s\"\n# want \"%s\"", rc == 0 ? "(it loaded)" : got, wantc);
        free(names[i]);
    }
    ok(!exists("runinfo"), "no case created a run directory");
    if (chdir(here) != 0)
        diag("cannot go back to %s", here);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpl);
    if (system(cmd) != 0)
        diag("cannot remove %s", tmpl);
}

int main(void)
{
    tap_start(120);
    char src[600];
    const char *s = getenv("CP_SRC");
    if (s)
        snprintf(src, sizeof src, "%s", s);
    else if (!getcwd(src, sizeof src))
        src[0] = '\0';
    char tmpl[] = "/tmp/cparsl-config-XXXXXX";
    ok(mkdtemp(tmpl) && chdir(tmpl) == 0, "work in %s", tmpl);
    unsetenv("CPARSL_TEMPLATE_PATH");

    defaults_and_local();
    concurrency();
    retries_and_labels();
    variables();
    templates();
    inline_node();
    c_config();
    corpus(src);
    return done_testing();
}
