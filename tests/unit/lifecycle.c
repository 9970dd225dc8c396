/* Bad input and the lifecycle of a run: calls before cp_load and after
 * cp_shutdown, rejected configs, a second run, NULL everywhere, time-outs, and
 * that task records are freed once nobody holds them (and only then), and
 * cp_future_wait_for with an unbounded time. Nothing here may abort or hang. */
#include <cparsl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>

#include "engine/task.h"
#include "tap.h"

CP_APP(long, add, (long, a), (long, b)) { return a + b; }
CP_APP(long, noop) { return 1; }
CP_APP(long, blen, (cp_bytes, y)) { return (long)y.len; }
CP_APP(const char *, shout, (const char *, s)) { return s ? s : "(nil)"; }
CP_APP(long, refuse, (long, x))
{
    cp_fail("refusing %ld", x);
    return x;
}
CP_SHELL_APP(touch_it, (cp_file *, out)) { return cp_fmt("touch %s", cp_q(cp_file_path(out))); }

/* A gate: tasks of `gated` block until the test opens it. */
static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static bool gate_open;

CP_APP(long, gated, (long, x))
{
    pthread_mutex_lock(&gate_mu);
    while (!gate_open)
        pthread_cond_wait(&gate_cv, &gate_mu);
    pthread_mutex_unlock(&gate_mu);
    return x;
}

static void open_gate(void)
{
    pthread_mutex_lock(&gate_mu);
    gate_open = true;
    pthread_cond_broadcast(&gate_cv);
    pthread_mutex_unlock(&gate_mu);
}

static void close_gate(void)
{
    pthread_mutex_lock(&gate_mu);
    gate_open = false;
    pthread_mutex_unlock(&gate_mu);
}

/* cp_future_wait_for in a thread, so that the test can give up on it. */
struct wf_job {
    cp_future *f;
    double seconds;
    int rc;
    bool finished;
};

static void *wf_main(void *arg)
{
    struct wf_job *j = arg;
    int rc = cp_future_wait_for(j->f, j->seconds);
    pthread_mutex_lock(&gate_mu);
    j->rc = rc;
    j->finished = true;
    pthread_cond_broadcast(&gate_cv);
    pthread_mutex_unlock(&gate_mu);
    return NULL;
}

/* Waits up to `seconds` for the thread of j to finish. */
static bool wf_finished(struct wf_job *j, double seconds)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += (time_t)seconds;
    pthread_mutex_lock(&gate_mu);
    while (!j->finished && pthread_cond_timedwait(&gate_cv, &gate_mu, &ts) == 0)
        ;
    bool done = j->finished;
    pthread_mutex_unlock(&gate_mu);
    return done;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static long live(void) { return atomic_load(&cp__live_tasks); }

/* The engine drops its own hold just after waking waiters, so a count can lag
 * a moment behind: wait (bounded) until it is at most `want`, return it. */
static long live_settle(long want, double seconds)
{
    double end = now() + seconds;
    long n;
    while ((n = live()) > want && now() < end) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    return n;
}

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

#define NMANY 20000

int main(void)
{
    tap_start(60);
    char tmpl[] = "/tmp/cparsl-lifecycle-XXXXXX";
    char *dir = mkdtemp(tmpl);
    ok(dir && chdir(dir) == 0, "work in %s", dir);
    ok(cp_init(NULL, NULL) == 0, "cp_init");
    long base = live();
    is_int(base, 0, "no task records before anything is called");

    /* ---------------------------------------------------------- not loaded */
    cp_future *pre = cp_call(add, 1, 2);
    ok(pre != NULL, "cp_call before cp_load returns a future");
    ok(cp_future_done(pre), "... that is already done");
    is_int(cp_future_wait(pre), -1, "... and failed");
    is_int(cp_future_state(pre), CP_FAILED, "... state failed");
    like(cp_future_error(pre), "cp_load", "... its error says to call cp_load");
    like(cp_future_error(pre), "add", "... and names the app");
    is_int(cp_future_int(pre), 0, "... reading it as int gives 0");
    cp_future_release(pre);
    is_int(live(), base, "its record is freed on release");

    is_int(cp_shutdown(), -1, "cp_shutdown with nothing loaded returns -1");
    like(cp_last_error(), "nothing is loaded", "cp_last_error explains: %s", cp_last_error());
    ok(cp_run_dir() == NULL, "cp_run_dir is NULL when not loaded");

    is_int(cp_load("no-such.yaml"), -1, "cp_load of a missing config file fails");
    like(cp_last_error(), "no-such.yaml", "the message names the file: %s", cp_last_error());
    ok(cp_run_dir() == NULL, "nothing is loaded after the failed cp_load");

    is_int(cp_load_config(&(cp_config){.retries = -1}), -1, "retries -1 is refused");
    like(cp_last_error(), "retries", "the message names retries: %s", cp_last_error());
    is_int(cp_load_config(&(cp_config){.max_threads = -2}), -1, "max_threads -2 is refused");
    ok(cp_run_dir() == NULL, "nothing is loaded after refused configs");
    ok(!is_dir("runinfo/000"), "refused configs leave no run directory behind");
    cp_future *pre2 = cp_call(noop);
    like(cp_future_error(pre2), "cp_load", "cp_call after a refused config still says to load");
    cp_future_release(pre2);

    /* ---------------------------------------------------------- run 1 */
    is_int(cp_load(NULL), 0, "cp_load(NULL)");
    is_str(cp_run_dir(), "runinfo/000", "the first run is runinfo/000");
    is_int(cp_load(NULL), -1, "cp_load while loaded fails");
    like(cp_last_error(), "runinfo/000", "the message names the loaded run: %s", cp_last_error());
    is_int(cp_load_config(&(cp_config){.max_threads = 1}), -1, "cp_load_config while loaded fails");
    like(cp_last_error(), "runinfo/000", "... naming the loaded run");
    is_str(cp_run_dir(), "runinfo/000", "the first run is still loaded");

    /* NULL futures */
    is_int(cp_future_wait(NULL), -1, "cp_future_wait(NULL) == -1");
    is_int(cp_future_wait_for(NULL, 0.01), -1, "cp_future_wait_for(NULL) == -1");
    is_int(cp_future_int(NULL), 0, "cp_future_int(NULL) == 0");
    is_dbl(cp_future_double(NULL), 0.0, "cp_future_double(NULL) == 0");
    ok(cp_future_bool(NULL) == false, "cp_future_bool(NULL) is false");
    ok(cp_future_str(NULL) == NULL, "cp_future_str(NULL) is NULL");
    ok(cp_future_value(NULL) == NULL, "cp_future_value(NULL) is NULL");
    like(cp_future_error(NULL), "NULL", "cp_future_error(NULL) says the future is NULL");
    ok(!cp_future_done(NULL), "cp_future_done(NULL) is false");
    is_int(cp_future_id(NULL), -1, "cp_future_id(NULL) == -1");
    is_int(cp_future_state(NULL), CP_FAILED, "cp_future_state(NULL) is failed");
    cp_future_release(NULL);
    ok(1, "cp_future_release(NULL) is harmless");
    ok(cp_future_output(NULL, 0) == NULL, "cp_future_output(NULL, 0) is NULL");

    /* Gather with NULLs */
    cp_future *gn = cp_gather(NULL, 2);
    ok(gn != NULL, "cp_gather(NULL, 2) returns a future");
    is_int(cp_future_wait(gn), -1, "... that failed");
    like(cp_future_error(gn), "NULL", "... saying the list is NULL: %s", cp_future_error(gn));
    cp_future_release(gn);
    cp_future *m0 = cp_call(add, 1, 1), *m2 = cp_call(add, 2, 2);
    cp_future *members[3] = {m0, NULL, m2};
    cp_future *gm = cp_gather(members, 3);
    is_int(cp_future_wait(gm), -1, "a NULL member fails cp_gather");
    like(cp_future_error(gm), "member 1", "... naming the member: %s", cp_future_error(gm));
    cp_future_release(gm);
    is_int(cp_future_int(m0), 2, "the other members are untouched (0)");
    is_int(cp_future_int(m2), 4, "the other members are untouched (2)");
    cp_future_release(m0);
    cp_future_release(m2);

    /* Value accessors on NULL and on the wrong types */
    is_int(cp_value_type(NULL), CP_NIL, "cp_value_type(NULL) is nil");
    is_int(cp_value_int(NULL), 0, "cp_value_int(NULL)");
    is_dbl(cp_value_double(NULL), 0.0, "cp_value_double(NULL)");
    ok(!cp_value_bool(NULL), "cp_value_bool(NULL)");
    ok(cp_value_str(NULL) == NULL, "cp_value_str(NULL)");
    ok(cp_value_bytes(NULL).data == NULL && cp_value_bytes(NULL).len == 0, "cp_value_bytes(NULL)");
    is_int(cp_value_list_len(NULL), 0, "cp_value_list_len(NULL)");
    ok(cp_value_list_at(NULL, 0) == NULL, "cp_value_list_at(NULL, 0)");
    char *rn = cp_value_repr(NULL);
    ok(1, "cp_value_repr(NULL) does not crash (%s)", rn ? rn : "NULL");
    free(rn);
    cp_value_free(NULL);
    cp_value *vs = cp_str("text"), *vi = cp_int(7), *vl = cp_list_new();
    is_int(cp_value_int(vs), 0, "cp_value_int of a str is 0");
    ok(cp_value_str(vi) == NULL, "cp_value_str of an int is NULL");
    ok(!cp_value_bool(vs), "cp_value_bool of a str is false");
    is_int(cp_value_list_len(vi), 0, "cp_value_list_len of an int is 0");
    ok(cp_value_list_at(vi, 0) == NULL, "cp_value_list_at of an int is NULL");
    ok(cp_value_list_at(vl, 0) == NULL, "cp_value_list_at past the end is NULL");
    ok(cp_value_list_at(vl, SIZE_MAX) == NULL, "cp_value_list_at(SIZE_MAX) is NULL");
    is_int(cp_list_push(vi, cp_str("taken")), -1, "cp_list_push onto an int fails (and takes the item)");
    is_int(cp_list_push(NULL, cp_str("taken")), -1, "cp_list_push onto NULL fails (and takes the item)");
    is_int(cp_list_push(vl, NULL), -1, "cp_list_push of a NULL item fails");
    ok(cp_value_equal(NULL, NULL), "cp_value_equal(NULL, NULL): both nil");
    ok(!cp_value_equal(vi, NULL), "cp_value_equal(int, NULL) is false");
    cp_value_free(vs);
    cp_value_free(vi);
    cp_value_free(vl);

    /* Files */
    ok(cp_file_new(NULL) == NULL, "cp_file_new(NULL) is NULL");
    cp_file_free(NULL);
    ok(cp_file_url(NULL) == NULL && cp_file_path(NULL) == NULL, "cp_file_url/path(NULL)");

    /* Bad arguments fail the call, not the program */
    cp_future *bn = cp_call(blen, ((cp_bytes){NULL, 5}));
    is_int(cp_future_wait(bn), -1, "cp_bytes with NULL data and length 5 fails the call");
    like(cp_future_error(bn), "NULL data", "... saying so: %s", cp_future_error(bn));
    like(cp_future_error(bn), "blen", "... naming the app");
    cp_future *b0 = cp_call(blen, ((cp_bytes){NULL, 0}));
    is_int(cp_future_int(b0), 0, "cp_bytes with NULL data and length 0 is empty bytes");
    cp_future *sn = cp_call(shout, (const char *)NULL);
    is_str(cp_future_str(sn), "(nil)", "a NULL string argument arrives as NULL");
    cp_future *fn = cp_call(touch_it, (cp_file *)NULL);
    is_int(cp_future_wait(fn), -1, "a NULL cp_file argument fails the call");
    like(cp_future_error(fn), "NULL cp_file", "... saying so: %s", cp_future_error(fn));
    cp_future *gpu = cp_call_opts(add, CP_OPTS(.executor = "gpu"), 1, 2);
    is_int(cp_future_wait(gpu), -1, "an unknown executor label fails the call");
    like(cp_future_error(gpu), "'gpu'", "... naming it: %s", cp_future_error(gpu));
    cp_future *thr = cp_call_opts(add, CP_OPTS(.executor = "threads"), 1, 2);
    is_int(cp_future_int(thr), 3, "the default executor by its label 'threads' works");

    /* Outputs out of range */
    cp_file *out = cp_file_new("made/by/touch.txt");
    cp_future *tf = cp_call_opts(touch_it, CP_OPTS(.outputs = CP_FILES(out)), out);
    is_int(cp_future_wait(tf), 0, "a task with one output: %s",
           cp_future_error(tf) ? cp_future_error(tf) : "ok");
    ok(cp_future_output(tf, 0) != NULL, "cp_future_output(f, 0) is its output");
    ok(cp_future_output(tf, 1) == NULL, "cp_future_output(f, 1) is NULL");
    ok(cp_future_output(tf, SIZE_MAX) == NULL, "cp_future_output(f, SIZE_MAX) is NULL");
    ok(cp_future_output(thr, 0) == NULL, "cp_future_output of a task without outputs is NULL");
    cp_file_free(out);

    /* wait_for on a long task */
    cp_future *slow = cp_call(gated, 11);
    ok(!cp_future_done(slow), "a gated task is not done");
    is_int(cp_future_wait_for(slow, 0), 1, "wait_for(0) on a running task times out at once");
    is_int(cp_future_wait_for(slow, -5), 1, "wait_for(-5) acts as 0");
    double t0 = now();
    int wf = cp_future_wait_for(slow, 0.3);
    double took = now() - t0;
    is_int(wf, 1, "wait_for(0.3) on a long task returns 1 (time-out)");
    ok(took >= 0.29, "... after waiting its time (%.3f s)", took);
    ok(cp_future_error(slow) == NULL, "no error while still running");
    open_gate();
    is_int(cp_future_wait_for(slow, 30), 0, "after the gate opens, wait_for returns 0");
    is_int(cp_future_int(slow), 11, "... with its value");
    is_int(cp_future_wait_for(slow, 0), 0, "wait_for(0) on a done task returns 0");

    /* Futures held across cp_shutdown */
    cp_future *keep_ok = cp_call(shout, "kept");
    cp_future *keep_bad = cp_call_opts(refuse, CP_OPTS(.retries = CP_NONE), 3);

    is_int(cp_shutdown(), 1, "cp_shutdown returns 1 when some task failed");
    is_int(cp_shutdown(), -1, "a second cp_shutdown returns -1");
    like(cp_last_error(), "nothing is loaded", "... explaining: %s", cp_last_error());
    ok(cp_run_dir() == NULL, "cp_run_dir is NULL after cp_shutdown");
    is_str(cp_future_str(keep_ok), "kept", "a future held across cp_shutdown keeps its value");
    is_int(cp_future_wait(keep_bad), -1, "a failed future held across cp_shutdown");
    like(cp_future_error(keep_bad), "refusing 3", "... keeps its error");

    cp_future *post = cp_call(add, 1, 2);
    ok(post && cp_future_done(post), "cp_call after cp_shutdown returns a done future");
    is_int(cp_future_wait(post), -1, "... that failed");
    like(cp_future_error(post), "shut down", "... saying cparsl was shut down: %s",
         cp_future_error(post));
    cp_future_release(post);

    cp_future *all1[] = {bn, b0, sn, fn, gpu, thr, tf, slow, keep_ok, keep_bad};
    for (size_t i = 0; i < sizeof all1 / sizeof all1[0]; i++)
        cp_future_release(all1[i]);
    is_int(live(), base, "every record of run 1 is freed once released");

    /* ---------------------------------------------------------- run 2 */
    char *root = strdup("runinfo"), *level = strdup("warning");
    is_int(cp_load_config(&(cp_config){.max_threads = 2, .run_dir = root, .log_level = level}),
           0, "cp_load after cp_shutdown");
    memset(root, 'x', strlen(root));
    memset(level, 'x', strlen(level));
    free(root);
    free(level);
    is_str(cp_run_dir(), "runinfo/001", "the new run is runinfo/001");
    ok(is_dir("runinfo/001"), "runinfo/001 exists");
    cp_future *first = cp_call(add, 20, 22);
    is_int(cp_future_id(first), 0, "task ids start at 0 again");
    is_int(cp_future_int(first), 42, "the new run runs tasks");
    cp_future_release(first);

    /* Many tasks: wait for each, release it, and every record goes. */
    cp_future **many = calloc(NMANY, sizeof *many);
    ok(many != NULL, "room for %d futures", NMANY);
    size_t nbad = 0;
    for (size_t i = 0; i < NMANY; i++)
        many[i] = cp_call(noop);
    for (size_t i = 0; i < NMANY; i++) {
        if (cp_future_wait(many[i]) != 0 || cp_future_int(many[i]) != 1)
            nbad++;
        cp_future_release(many[i]);
    }
    is_int(nbad, 0, "%d no-op tasks all succeeded", NMANY);
    is_int(live_settle(base, 10), base, "after releasing them, cp__live_tasks is back to baseline");

    /* Futures released before their tasks finish still run, then go. */
    for (size_t i = 0; i < 5000; i++)
        cp_future_release(cp_call(noop));
    is_int(live_settle(base, 10), base, "tasks released at once still finish and are freed");

    /* A chain whose links are released at once: each child holds its parent. */
    cp_future *link = cp_call(add, 0, 1);
    for (int i = 1; i < 300; i++) {
        cp_future *next = cp_call(add, link, 1);
        cp_future_release(link);
        link = next;
    }
    is_int(cp_future_int(link), 300, "a chain of 300 with released links computes 300");
    cp_future_release(link);
    is_int(live_settle(base, 10), base, "... and frees every link");

    /* Futures the user keeps stay alive, even across cp_shutdown. */
    cp_future *held[10];
    for (int i = 0; i < 10; i++)
        held[i] = cp_call(add, i, 100);
    for (int i = 0; i < 10; i++)
        cp_future_wait(held[i]);
    is_int(live_settle(base + 10, 10), base + 10, "10 finished, unreleased futures are still alive");

    /* cp_shutdown waits for tasks nobody holds any more. */
    for (size_t i = 0; i < 500; i++)
        cp_future_release(cp_call(add, (long)i, 1));
    is_int(cp_shutdown(), 0, "cp_shutdown returns 0 when every task succeeded");
    is_int(live(), base + 10, "after cp_shutdown only the held futures remain");
    long sum = 0;
    for (int i = 0; i < 10; i++)
        sum += cp_future_int(held[i]);
    is_int(sum, 1045, "held futures are readable after cp_shutdown");
    for (int i = 0; i < 10; i++)
        cp_future_release(held[i]);
    is_int(live(), base, "releasing them frees them");
    free(many);

    /* Refused configs that carry strings (last: a crash here must not hide the
     * checks above). */
    is_int(cp_load_config(&(cp_config){.log_level = "loud"}), -1, "log_level 'loud' is refused");
    like(cp_last_error(), "loud", "the message names the value: %s", cp_last_error());
    char *mine = strdup("my-runs");
    is_int(cp_load_config(&(cp_config){.retries = -1, .run_dir = mine, .log_level = "info"}), -1,
           "a refused config with strings of the caller's");
    is_str(mine, "my-runs", "... leaves the caller's strings alone");
    free(mine);
    ok(cp_run_dir() == NULL, "nothing is loaded after them");
    ok(!is_dir("runinfo/002"), "... and no run directory was made");

    /* ---------------------------------------------------------- run 3 */
    /* Last, because a broken wait_for can hang: each runs in a thread watched
     * with a bound, and a hang ends the test here. */
    is_int(cp_load(NULL), 0, "a third run");
    const double forever[] = {INFINITY, 1e300};
    for (size_t i = 0; i < sizeof forever / sizeof forever[0]; i++) {
        close_gate();
        struct wf_job job = {.f = cp_call(gated, 9), .seconds = forever[i], .rc = 99};
        pthread_t th;
        pthread_create(&th, NULL, wf_main, &job);
        struct timespec nap = {0, 200000000};
        nanosleep(&nap, NULL);          /* let it start waiting (not needed to pass) */
        open_gate();
        if (!wf_finished(&job, 10)) {
            ok(0, "cp_future_wait_for(f, %g) returns once the task is done", forever[i]);
            diag("still waiting after 10 s; the task is %s", cp_state_name(cp_future_state(job.f)));
            done_testing();
            int rr = system("rm -rf \"$PWD\"");
            (void)rr;
            _exit(1);                   /* the waiter cannot be stopped */
        }
        pthread_join(th, NULL);
        is_int(job.rc, 0, "cp_future_wait_for(f, %g) waits like cp_future_wait", forever[i]);
        cp_future_release(job.f);
    }
    is_int(cp_shutdown(), 0, "the third run ends with 0");
    is_int(live(), base, "nothing is left alive at the end");

    int rc = system("rm -rf \"$PWD\"");
    (void)rc;
    return done_testing();
}
