/* Walltime: a shell task's whole process group is killed (its child's child too)
 * and the try fails; a native task on thread_pool fails at its deadline, the pool
 * keeps its size, and the late result is dropped. */
#include <cparsl.h>
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>

#include "tap.h"

CP_SHELL_APP(spawner, (const char *, pidfile))
{
    /* The grandchild: a background sleep in a subshell, its pid written down. */
    return cp_fmt("( sleep 300 & echo $! > %s; wait ) & sleep 300", cp_q(pidfile));
}

static atomic_int slow_finished;
CP_APP(long, slow, (double, secs))
{
    struct timespec ts = {(time_t)secs, (long)((secs - (long)secs) * 1e9)};
    nanosleep(&ts, NULL);
    atomic_fetch_add(&slow_finished, 1);
    return 99;
}
CP_APP(long, quick, (long, x)) { return x; }

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int gone(pid_t pid)
{
    /* A zombie waiting for a reaper counts as gone: it runs nothing. */
    char path[64], state = '?';
    for (int i = 0; i < 100; i++) {
        if (kill(pid, 0) != 0 && errno == ESRCH)
            return 1;
        snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
        FILE *fp = fopen(path, "r");
        if (fp) {
            int r = fscanf(fp, "%*d %*s %c", &state);
            fclose(fp);
            if (r == 1 && state == 'Z')
                return 1;
        }
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return 0;
}

int main(void)
{
    tap_start(60);
    char tmpl[] = "/tmp/cparsl-wall-XXXXXX";
    ok(mkdtemp(tmpl) && chdir(tmpl) == 0, "work dir");
    ok(cp_load_config(&(cp_config){.max_threads = 2}) == 0, "load with 2 threads");

    double t0 = mono();
    cp_future *s = cp_call_opts(spawner, CP_OPTS(.walltime = 1.0, .retries = CP_NONE), "gc.pid");
    ok(cp_future_wait(s) == -1, "shell task past its walltime fails");
    double took = mono() - t0;
    ok(took < 15, "it ended promptly (%.1f s for a 1 s walltime)", took);
    like(cp_future_error(s), "walltime of 1 s exceeded", "error says walltime");
    FILE *fp = fopen("gc.pid", "r");
    int gpid = 0;
    ok(fp && fscanf(fp, "%d", &gpid) == 1 && gpid > 0, "grandchild pid recorded (%d)", gpid);
    if (fp)
        fclose(fp);
    ok(gpid > 0 && gone(gpid), "the grandchild was killed with the group");

    /* Native: 0.3 s walltime on a 2 s sleep. */
    t0 = mono();
    cp_future *n = cp_call_opts(slow, CP_OPTS(.walltime = 0.3, .retries = CP_NONE), 2.0);
    ok(cp_future_wait(n) == -1, "native task past its walltime fails");
    took = mono() - t0;
    ok(took < 1.9, "it fails at the deadline, not when the thread returns (%.2f s)", took);
    like(cp_future_error(n), "walltime of 0.3 s exceeded", "error says walltime");
    is_int(atomic_load(&slow_finished), 0, "the abandoned thread is still running");
    /* Both pool threads stay usable: two more slow tasks run side by side. */
    t0 = mono();
    cp_future *p1 = cp_call(slow, 0.5), *p2 = cp_call(slow, 0.5);
    ok(cp_future_wait(p1) == 0 && cp_future_wait(p2) == 0, "pool still runs tasks");
    took = mono() - t0;
    ok(took < 0.95, "with both threads: the stuck one was replaced (%.2f s)", took);
    cp_future *q = cp_call(quick, 5);
    is_int(cp_future_int(q), 5, "quick task after a timeout");
    is_int(cp_future_state(n), CP_FAILED, "timed-out task stays failed");

    cp_future *all[] = {s, n, p1, p2, q};
    for (size_t i = 0; i < 5; i++)
        cp_future_release(all[i]);
    is_int(cp_shutdown(), 1, "shutdown (does not wait for the abandoned thread)");
    int rc = system("rm -rf \"$PWD\"");
    (void)rc;
    return done_testing();
}
