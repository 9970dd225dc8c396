/* Retries: tries are counted, the retry handler sets the cost, a failing handler
 * stops retrying, dep_fail is never retried, shell streams per try. */
#include <cparsl.h>
#include <math.h>
#include <stdatomic.h>

#include "tap.h"
#include "testutil.h"

static atomic_int tries[16];

/* Fails until it has been tried `ok_after` times. */
CP_APP(long, flaky, (long, slot), (long, ok_after))
{
    int n = atomic_fetch_add(&tries[slot], 1) + 1;
    if (n < ok_after)
        cp_fail("try %d of slot %ld fails", n, slot);
    return n;
}

CP_SHELL_APP(flaky_sh, (const char *, counter))
{
    /* Appends a line per try to a counter file and fails until the third try. */
    return cp_fmt("echo try >> %s; echo out-$(wc -l < %s); echo err >&2; "
                  "[ $(wc -l < %s) -ge 3 ]", cp_q(counter), cp_q(counter), cp_q(counter));
}

static atomic_int renders;
CP_SHELL_APP(never_renders, (long, x))
{
    atomic_fetch_add(&renders, 1);
    cp_fail("cannot build the command for %ld", x);
    return NULL;
}

static atomic_int handler_calls;
static double cost_half(const cp_try_info *info, void *arg)
{
    (void)arg;
    atomic_fetch_add(&handler_calls, 1);
    /* A "worker lost"-style failure costs little; here every failure costs 0.5. */
    return info->error && strstr(info->error, "fails") ? 0.5 : 1.0;
}
static double broken_handler(const cp_try_info *info, void *arg)
{
    (void)info, (void)arg;
    return NAN;
}


int main(void)
{
    tap_start(60);
    char tmpl[] = "/tmp/cparsl-retry-XXXXXX";
    ok(mkdtemp(tmpl) && chdir(tmpl) == 0, "work dir");

    ok(cp_load_config(&(cp_config){.retries = 2, .max_threads = 2}) == 0, "retries: 2");
    cp_future *a = cp_call(flaky, 0, 3);
    is_int(cp_future_int(a), 3, "succeeds on the third try");
    is_int(atomic_load(&tries[0]), 3, "three tries ran");
    cp_future *b = cp_call(flaky, 1, 4);
    ok(cp_future_wait(b) == -1, "fails when it needs a fourth try");
    is_int(atomic_load(&tries[1]), 3, "1 + 2 retries = 3 tries");
    like(cp_future_error(b), "try 2:", "the error is the last try's");
    cp_future *c = cp_call_opts(flaky, CP_OPTS(.retries = CP_NONE), 2, 2);
    ok(cp_future_wait(c) == -1 && atomic_load(&tries[2]) == 1, ".retries = CP_NONE: one try");
    cp_future *d = cp_call_opts(flaky, CP_OPTS(.retries = 5), 3, 6);
    ok(cp_future_wait(d) == 0 && atomic_load(&tries[3]) == 6, "per-call .retries = 5 overrides");
    cp_future *dep = cp_call(flaky, b, 1);
    ok(cp_future_wait(dep) == -1 && cp_future_state(dep) == CP_DEP_FAIL, "dependent is dep_fail");
    is_int(atomic_load(&tries[1]), 3, "dep_fail is not retried and does not rerun the parent");

    cp_future *sh = cp_call_opts(flaky_sh, CP_OPTS(.stdout_path = "s.out", .stderr_path = "s.err"),
                                 "counter.txt");
    ok(cp_future_wait(sh) == 0, "shell app succeeds on its third try");
    is_str(slurp("s.out"), "out-3\n", "stdout is truncated per try: it holds the last try");
    cp_future *sha = cp_call_opts(flaky_sh, CP_OPTS(.stdout_path = "a.out", .stdout_append = true),
                                  "counter2.txt");
    ok(cp_future_wait(sha) == 0, "again with stdout_append");
    is_str(slurp("a.out"), "out-1\nout-2\nout-3\n", "stdout_append keeps every try");
    cp_future *all1[] = {a, b, c, d, dep, sh, sha};
    for (size_t i = 0; i < 7; i++)
        cp_future_release(all1[i]);
    is_int(cp_shutdown(), 1, "shutdown: some failed");
    /* The log records retries, failures with their reason, and the run's totals. */
    char *log = slurp("runinfo/000/parsl.log");
    like(log, "retrying (1 of 2)", "parsl.log records a retry");
    like(log, "try 2: try 3 of slot 1 fails", "parsl.log records the failure and its reason");
    like(log, "dep_fail", "parsl.log records the dependency failure");
    like(log, "tasks done, 2 failed, 1 dep_fail", "parsl.log ends with the run's totals");

    /* Many retries of a try that fails before reaching an executor do not recurse. */
    ok(cp_load_config(&(cp_config){.retries = 200000}) == 0, "retries: 200,000");
    cp_future *nr = cp_call(never_renders, 1);
    ok(cp_future_wait(nr) == -1, "a body that never renders fails in the end");
    is_int(atomic_load(&renders), 200001, "after 1 + 200,000 tries, without stack overflow");
    like(cp_future_error(nr), "try 200000: cannot build the command for 1", "last try's error");
    cp_future_release(nr);
    cp_shutdown();

    /* A retry handler that makes failures cheap: 0.5 each, retries 1 → 3 tries. */
    ok(cp_load_config(&(cp_config){.retries = 1, .retry_handler = cost_half}) == 0, "handler");
    cp_future *e = cp_call(flaky, 4, 3);
    ok(cp_future_wait(e) == 0 && atomic_load(&tries[4]) == 3, "cost 0.5: two retries fit in 1");
    is_int(atomic_load(&handler_calls), 2, "handler called once per failed try");
    cp_future_release(e);
    is_int(cp_shutdown(), 0, "shutdown: all good");

    /* A handler that fails: no retry, and the error says why. */
    ok(cp_load_config(&(cp_config){.retries = 3, .retry_handler = broken_handler}) == 0, "broken");
    cp_future *f = cp_call(flaky, 5, 2);
    ok(cp_future_wait(f) == -1 && atomic_load(&tries[5]) == 1, "no retry after a failing handler");
    like(cp_future_error(f), "retry handler failed", "error names the handler failure");
    cp_future_release(f);
    cp_shutdown();
    int rc = system("rm -rf \"$PWD\"");
    (void)rc;
    return done_testing();
}
