/* tests/unit/observe.c — task events, extra dependencies and tags (cp__call_ex),
 * and the interrupt that parsl-run's Ctrl-C uses (engine/observe.h). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cparsl.h"
#include "common/util.h"
#include "engine/observe.h"
#include "tap.h"

CP_APP(long, twice, (long, x)) { return 2 * x; }
CP_APP(long, boom, (long, x)) { cp_fail("boom %ld", x); return 0; }
CP_SHELL_APP(nap, (double, s)) { return cp_fmt("sleep %g", s); }

#define MAXEV 4096
static struct {
    long id, tag;
    cp_state state;
    int try_id;
    char error[200];
} evs[MAXEV];
static int nev;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static void record(void *arg, const struct cp__task_event *ev)
{
    (void)arg;
    pthread_mutex_lock(&mu);
    if (nev < MAXEV) {
        evs[nev].id = ev->id;
        evs[nev].tag = ev->tag;
        evs[nev].state = ev->state;
        evs[nev].try_id = ev->try_id;
        snprintf(evs[nev].error, sizeof evs[nev].error, "%s", ev->error ? ev->error : "");
        nev++;
    }
    pthread_mutex_unlock(&mu);
}

/* The states task id went through, as "pending,launched,…". */
static const char *trail(long id)
{
    static char buf[512];
    buf[0] = '\0';
    pthread_mutex_lock(&mu);
    for (int i = 0; i < nev; i++)
        if (evs[i].id == id) {
            if (buf[0])
                strcat(buf, ",");
            strcat(buf, cp_state_name(evs[i].state));
        }
    pthread_mutex_unlock(&mu);
    return buf;
}

static long tag_of(long id)
{
    long tag = -2;
    pthread_mutex_lock(&mu);
    for (int i = 0; i < nev; i++)
        if (evs[i].id == id)
            tag = evs[i].tag;
    pthread_mutex_unlock(&mu);
    return tag;
}

static void test_events(void)
{
    nev = 0;
    ok(cp__observe_add(record, NULL) == 0, "an observer registers before the run");
    ok(cp_load_config(&(cp_config){.max_threads = 2, .retries = 1,
                                   .run_dir = "observe-runinfo"}) == 0, "loaded");
    ok(cp__observe_add(record, NULL) == -1, "but not while a run is loaded");
    cp_arg a = cp__a_long(21);
    cp_future *f = cp__call_ex(&twice, NULL, 1, &a, NULL, 0, 7);
    is_int(cp_future_int(f), 42, "cp__call_ex runs the app");
    cp_future *b = cp_call(boom, 1);
    cp_future *after[] = {b};
    cp_future *g = cp__call_ex(&twice, NULL, 1, &a, after, 1, 8);
    ok(cp_future_wait(g) == -1 && cp_future_state(g) == CP_DEP_FAIL,
       "a failed `after` dependency makes the task dep_fail");
    like(cp_future_error(g), "dependency failure", "with the usual message");
    cp_future *h = cp__call_ex(&twice, NULL, 1, &a, (cp_future *[]){f}, 1, 9);
    is_int(cp_future_int(h), 42, "a done `after` dependency lets it run");
    is_int(cp_shutdown(), 1, "shutdown reports the failures");
    cp__observe_clear();

    is_str(trail(cp_future_id(f)), "pending,launched,running,running_ended,exec_done",
           "every state of a successful task is an event, in order");
    is_int(tag_of(cp_future_id(f)), 7, "events carry the caller's tag");
    is_int(tag_of(cp_future_id(b)), -1, "and -1 for a plain cp_call");
    is_str(trail(cp_future_id(b)),
           "pending,launched,running,fail_retryable,launched,running,failed",
           "a retried failure shows fail_retryable, then the second try");
    bool saw_error = false;
    for (int i = 0; i < nev; i++)
        if (evs[i].id == cp_future_id(b) && evs[i].state == CP_FAIL_RETRYABLE)
            saw_error = strstr(evs[i].error, "boom 1") != NULL && evs[i].try_id == 0;
    ok(saw_error, "fail_retryable carries the try's error and try id");
    is_str(trail(cp_future_id(g)), "pending,dep_fail", "a dep_fail task never launches");
    cp_future_release(f);
    cp_future_release(b);
    cp_future_release(g);
    cp_future_release(h);
}

static void test_interrupt(void)
{
    nev = 0;
    cp__observe_add(record, NULL);
    ok(cp_load_config(&(cp_config){.max_threads = 1, .retries = 3,
                                   .run_dir = "observe-runinfo"}) == 0, "loaded, one thread");
    cp_future *sleeper = cp_call(nap, 30.0);
    cp_future *queued[5];
    for (int i = 0; i < 5; i++)
        queued[i] = cp_call(twice, (long)i);
    cp_future *later = cp_call(twice, sleeper);
    for (int i = 0; i < 200 && cp_future_state(sleeper) != CP_RUNNING; i++)
        usleep(10000);
    ok(cp_future_state(sleeper) == CP_RUNNING, "the shell task is running");
    double t0 = cp__mono();
    cp__dfk_interrupt();
    ok(cp__dfk_interrupted(), "the run knows it was interrupted");
    ok(cp_future_wait_for(sleeper, 10) == -1, "the running shell task ends");
    ok(cp__mono() - t0 < 5, "at once, not after its 30 s");
    like(cp_future_error(sleeper), "interrupted", "its error says interrupted");
    like(trail(cp_future_id(sleeper)), "running,failed", "and it was not retried");
    for (int i = 0; i < 5; i++)
        ok(cp_future_wait(queued[i]) == -1 && strstr(cp_future_error(queued[i]), "interrupted"),
           "queued task %d failed without running", i);
    ok(cp_future_wait(later) == -1 && cp_future_state(later) == CP_DEP_FAIL,
       "its dependent is dep_fail");
    cp_future *after = cp_call(twice, 1L);
    ok(cp_future_wait(after) == -1 && strstr(cp_future_error(after), "not launched"),
       "a task called after the interrupt is not launched");
    is_int(cp_shutdown(), 1, "shutdown returns");
    cp__observe_clear();
    ok(!cp__dfk_interrupted(), "the flag is reset for the next run");
    cp_future_release(sleeper);
    for (int i = 0; i < 5; i++)
        cp_future_release(queued[i]);
    cp_future_release(later);
    cp_future_release(after);
}

int main(void)
{
    tap_start(60);
    test_events();
    test_interrupt();
    system("rm -rf observe-runinfo");
    return done_testing();
}
