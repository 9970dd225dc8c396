/* Memoization and checkpoints from C (engine/memo.c, docs/checkpoints.md):
 * .cache calls are reused within a run and, with a checkpoint mode, by later runs;
 * task_exit commits before the future is done; periodic, dfk_exit and manual
 * write when they say; failures and calls without .cache are never reused; a
 * changed version, argument or missing output runs again. */
#include <cparsl.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tap.h"
#include "testutil.h"

static atomic_int runs;

CP_APP(long, square, (long, x))
{
    atomic_fetch_add(&runs, 1);
    return x * x;
}
CP_APP_VERSION(square, "1");

CP_APP(long, fails_on, (long, x))
{
    atomic_fetch_add(&runs, 1);
    if (x < 0)
        cp_fail("negative %ld", x);
    return x;
}

CP_SHELL_APP(writes, (const char *, path))
{
    return cp_fmt("echo run >> shell-runs.txt; echo hi > %s", cp_q(path));
}

/* Rows in this run's checkpoint file (-1 when there is no file). */
static int rows(const char *run_dir)
{
    char path[512];
    snprintf(path, sizeof path, "%s/checkpoint/tasks.db", run_dir);
    struct stat st;
    if (stat(path, &st) != 0)
        return -1;
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    int n = -2;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, "select count(*) from checkpoint", -1, &s, NULL) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW)
        n = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return n;
}

static long value_of(cp_future *f, cp_state *st)
{
    long v = cp_future_int(f);
    *st = cp_future_state(f);
    cp_future_release(f);
    return v;
}

/* writes("o.txt") with o.txt declared as its output. */
static cp_future *shell_call(void)
{
    cp_file *o = cp_file_new("o.txt");
    cp_future *f = cp_call_opts(writes, CP_OPTS(.cache = true, .outputs = CP_FILES(o)), "o.txt");
    cp_file_free(o);
    return f;
}

static const cp_opts cache_on = {.cache = true};
#define cached() (&cache_on)

int main(void)
{
    tap_start(120);
    char tmpl[] = "/tmp/cparsl-memo-XXXXXX";
    ok(mkdtemp(tmpl) && chdir(tmpl) == 0, "work dir");
    cp_state st;

    /* Run 1: task_exit. */
    ok(cp_load_config(&(cp_config){.checkpoint_mode = "task_exit", .max_threads = 2}) == 0,
       "load with checkpoint_mode task_exit");
    char run1[256];
    snprintf(run1, sizeof run1, "%s", cp_run_dir());
    is_int(value_of(cp_call_opts(square, cached(), 3), &st), 9, "square(3) = 9");
    is_int(st, CP_EXEC_DONE, "the first call runs (exec_done)");
    is_int(rows(run1), 1, "task_exit: the result is committed by the time the future is done");
    is_int(value_of(cp_call_opts(square, cached(), 3), &st), 9, "the same call again: 9");
    is_int(st, CP_MEMO_DONE, "... memo_done: reused within the run");
    is_int(atomic_load(&runs), 1, "... without running");
    is_int(value_of(cp_call(square, 3), &st), 9, "a call without .cache");
    ok(st == CP_EXEC_DONE && atomic_load(&runs) == 2, "... runs (caching is opt-in in C)");
    is_int(value_of(cp_call_opts(square, cached(), 4), &st), 16, "another argument runs");
    is_int(atomic_load(&runs), 3, "... once");
    cp_future *p = cp_call_opts(square, cached(), 3);
    cp_future *child = cp_call_opts(square, cached(), p);
    is_int(value_of(child, &st), 81, "a dependent of a memo_done task gets its value");
    is_int(cp_future_state(p), CP_MEMO_DONE, "... the parent was memo_done");
    cp_future_release(p);

    int before = rows(run1);
    cp_future *bad = cp_call_opts(fails_on, cached(), -1);
    ok(cp_future_wait(bad) == -1, "a failing cacheable call fails");
    cp_future_release(bad);
    is_int(rows(run1), before, "... and is not checkpointed");
    atomic_store(&runs, 0);
    bad = cp_call_opts(fails_on, cached(), -1);
    ok(cp_future_wait(bad) == -1 && atomic_load(&runs) == 1, "... the same call runs again");
    cp_future_release(bad);

    cp_future *w = shell_call();
    ok(cp_future_wait(w) == 0, "a cacheable shell call with a declared output");
    cp_future_release(w);
    w = shell_call();
    ok(cp_future_wait(w) == 0 && cp_future_state(w) == CP_MEMO_DONE,
       "... again while its output exists: memo_done");
    cp_future_release(w);
    unlink("o.txt");
    w = shell_call();
    ok(cp_future_wait(w) == 0 && cp_future_state(w) == CP_EXEC_DONE,
       "... with its output deleted: runs again");
    cp_future_release(w);
    is_str(slurp("shell-runs.txt"), "run\nrun\n", "the command ran twice in all");
    ok(cp_shutdown() == 1, "shutdown (a call failed)");
    int saved = rows(run1);
    ok(saved >= 4, "run 1 checkpointed its successes (%d rows)", saved);

    /* Run 2: a later run under the same root reuses run 1's results. */
    atomic_store(&runs, 0);
    ok(cp_load_config(&(cp_config){.checkpoint_mode = "task_exit"}) == 0, "run 2");
    is_int(value_of(cp_call_opts(square, cached(), 4), &st), 16, "square(4) from run 1");
    ok(st == CP_MEMO_DONE && atomic_load(&runs) == 0, "... memo_done, not run");
    cp__app_set_version(&square, "2");
    is_int(value_of(cp_call_opts(square, cached(), 4), &st), 16, "after a version change");
    ok(st == CP_EXEC_DONE && atomic_load(&runs) == 1, "... it runs again");
    cp__app_set_version(&square, "1");
    ok(cp_shutdown() == 0, "shutdown");

    /* manual: nothing is written until cp_checkpoint(). */
    ok(cp_load_config(&(cp_config){.checkpoint_mode = "manual", .run_dir = "m"}) == 0,
       "manual mode");
    char runm[256];
    snprintf(runm, sizeof runm, "%s", cp_run_dir());
    is_int(value_of(cp_call_opts(square, cached(), 5), &st), 25, "square(5)");
    is_int(rows(runm), -1, "manual: no checkpoint file before cp_checkpoint()");
    ok(cp_checkpoint() == 0, "cp_checkpoint()");
    is_int(rows(runm), 1, "... wrote the result");
    ok(cp_shutdown() == 0, "shutdown");

    /* dfk_exit: written at shutdown. */
    ok(cp_load_config(&(cp_config){.checkpoint_mode = "dfk_exit", .run_dir = "d"}) == 0,
       "dfk_exit mode");
    char rund[256];
    snprintf(rund, sizeof rund, "%s", cp_run_dir());
    is_int(value_of(cp_call_opts(square, cached(), 6), &st), 36, "square(6)");
    is_int(rows(rund), -1, "dfk_exit: nothing written during the run");
    ok(cp_shutdown() == 0, "shutdown");
    is_int(rows(rund), 1, "... written at shutdown");

    /* periodic: written within a period, before shutdown. */
    ok(cp_load_config(&(cp_config){.checkpoint_mode = "periodic", .checkpoint_period = 0.2,
                                   .run_dir = "p"}) == 0, "periodic mode, 0.2 s");
    char runp[256];
    snprintf(runp, sizeof runp, "%s", cp_run_dir());
    is_int(value_of(cp_call_opts(square, cached(), 7), &st), 49, "square(7)");
    int seen = -1;
    for (int i = 0; i < 100 && seen != 1; i++) {
        usleep(20000);
        seen = rows(runp);
    }
    is_int(seen, 1, "periodic: written within a period, while the run goes on");
    ok(cp_shutdown() == 0, "shutdown");

    /* No mode: Parsl's in-run memoization still works; nothing is written. */
    atomic_store(&runs, 0);
    ok(cp_load_config(&(cp_config){.run_dir = "n"}) == 0, "no checkpoint mode");
    char runn[256];
    snprintf(runn, sizeof runn, "%s", cp_run_dir());
    is_int(value_of(cp_call_opts(square, cached(), 8), &st), 64, "square(8)");
    is_int(value_of(cp_call_opts(square, cached(), 8), &st), 64, "square(8) again");
    ok(st == CP_MEMO_DONE && atomic_load(&runs) == 1, "... memo_done within the run");
    ok(cp_shutdown() == 0, "shutdown");
    is_int(rows(runn), -1, "no checkpoint file without a mode");

    ok(cp_load_config(&(cp_config){.checkpoint_mode = "task-exit"}) == -1,
       "a misspelt mode is refused");
    like(cp_last_error(), "checkpoint_mode 'task-exit' is not one of", "... saying so");
    ok(cp_checkpoint() == -1, "cp_checkpoint with nothing loaded fails");
    like(cp_last_error(), "nothing is loaded", "... saying so");
    return done_testing();
}
