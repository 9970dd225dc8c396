/* tests/unit/shell_runner.c — the shell runner against real processes.
 *
 * The plain tests run four times: submitted to the loop and run on the calling
 * thread, each with pidfds and with the SIGCHLD fallback (CPARSL_SHELL_NO_PIDFD).
 * Bounds on time are deliberately loose (seconds where milliseconds are expected)
 * so a loaded two-core machine never makes the test flaky.
 */
#include "executors/shell_runner.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "tap.h"
#include "testutil.h"

static char tmp[256];
static struct cp__shell_runner *runner;
static bool use_run; /* the helpers use cp__shell_runner_run, not submit */

/* ------------------------------------------------------------ helpers */

struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t started_on, done_on;
    int calls, started, pid;
    bool ok, timed_out;
    int exit_code, term_signal;
    char error[4096];
    bool has_error;
    double t_start, t_end;
};

static void waiter_init(struct waiter *w)
{
    memset(w, 0, sizeof *w);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
}

static void waiter_fini(struct waiter *w)
{
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
}

static void on_done(void *arg, const struct cp__shell_result *res)
{
    struct waiter *w = arg;
    pthread_mutex_lock(&w->mu);
    w->ok = res->ok;
    w->timed_out = res->timed_out;
    w->exit_code = res->exit_code;
    w->term_signal = res->term_signal;
    w->has_error = res->error != NULL;
    snprintf(w->error, sizeof w->error, "%s", res->error ? res->error : "");
    w->t_start = res->t_start;
    w->t_end = res->t_end;
    w->done_on = pthread_self();
    w->calls++;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static void on_started(void *arg, int pid)
{
    struct waiter *w = arg;
    pthread_mutex_lock(&w->mu);
    w->started++;
    w->pid = pid;
    w->started_on = pthread_self();
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static void wait_calls(struct waiter *w, int n)
{
    pthread_mutex_lock(&w->mu);
    while (w->calls < n)
        pthread_cond_wait(&w->cv, &w->mu);
    pthread_mutex_unlock(&w->mu);
}

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *path(const char *name)
{
    static char bufs[8][512];
    static int next;
    char *b = bufs[next++ % 8];
    snprintf(b, sizeof bufs[0], "%s/%s", tmp, name);
    return b;
}


static void spit(const char *p, const char *text)
{
    FILE *f = fopen(p, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static struct cp__shell_req basic(const char *cmd, const char *name, struct waiter *w)
{
    static char out[8][512], err[8][512];
    static int next;
    int i = next++ % 8;
    snprintf(out[i], sizeof out[i], "%s/%s.out", tmp, name);
    snprintf(err[i], sizeof err[i], "%s/%s.err", tmp, name);
    return (struct cp__shell_req){
        .cmd = cmd, .stdout_path = out[i], .stderr_path = err[i],
        .started = on_started, .done = on_done, .arg = w,
    };
}

static void wait_started(struct waiter *w)
{
    pthread_mutex_lock(&w->mu);
    while (w->started < 1)
        pthread_cond_wait(&w->cv, &w->mu);
    pthread_mutex_unlock(&w->mu);
}

/* Submits (or runs here), waits for the one done call, returns its wall time in
 * seconds. */
static double run(const struct cp__shell_req *req, struct waiter *w)
{
    waiter_init(w);
    double t0 = mono();
    cp_err e = {0};
    int rc = use_run ? cp__shell_runner_run(runner, req, &e)
                     : cp__shell_runner_submit(runner, req, &e);
    if (rc < 0) {
        diag("%s failed: %s", use_run ? "run" : "submit", e.text);
        w->calls = 1;
        return 0;
    }
    wait_calls(w, 1);
    return mono() - t0;
}

/* Until the file at p holds want (a command saying it has set its traps up). */
static bool wait_file(const char *p, const char *want, double seconds)
{
    double end = mono() + seconds;
    for (;;) {
        const char *text = slurp(p);
        if (text && strcmp(text, want) == 0)
            return true;
        if (mono() > end)
            return false;
        nanosleep(&(struct timespec){0, 5 * 1000 * 1000}, NULL);
    }
}

static bool gone(int pid)
{
    if (kill(pid, 0) < 0 && errno == ESRCH)
        return true;
    /* Our init may be slow to reap (or not reap at all): a zombie is dead too. */
    char p[64], buf[256];
    snprintf(p, sizeof p, "/proc/%d/stat", pid);
    FILE *f = fopen(p, "r");
    if (!f)
        return true;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *rp = strrchr(buf, ')');
    return rp && rp[1] == ' ' && (rp[2] == 'Z' || rp[2] == 'X');
}

static bool wait_gone(int pid, double seconds)
{
    double end = mono() + seconds;
    while (!gone(pid)) {
        if (mono() > end)
            return false;
        nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL);
    }
    return true;
}

static void rm_rf(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
            rm_rf(p);
        else
            unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

/* ------------------------------------------------------------ plain runs */

static void test_stdout_stderr(void)
{
    struct waiter w;
    struct cp__shell_req req = basic("echo hello; echo oops >&2", "echo", &w);
    double before = (double)time(NULL) - 1;
    run(&req, &w);
    ok(w.ok, "echo succeeds");
    is_int(w.exit_code, 0, "exit code 0");
    is_int(w.term_signal, 0, "no signal");
    ok(!w.has_error, "no error text on success");
    ok(!w.timed_out, "not timed out");
    is_int(w.calls, 1, "done called once");
    is_int(w.started, 1, "started called once");
    ok(w.pid > 0, "started got a pid");
    ok(w.t_start >= before && w.t_end >= w.t_start, "t_start/t_end are wall-clock times");
    is_str(slurp(path("echo.out")), "hello\n", "stdout captured");
    is_str(slurp(path("echo.err")), "oops\n", "stderr captured");
    waiter_fini(&w);
}

static void test_append_truncate(void)
{
    struct waiter w;
    struct cp__shell_req req = basic("echo new; echo enew >&2", "app", &w);
    spit(path("app.out"), "old\n");
    spit(path("app.err"), "eold\n");
    req.stdout_append = true;
    req.stderr_append = true;
    run(&req, &w);
    is_str(slurp(path("app.out")), "old\nnew\n", "stdout appended");
    is_str(slurp(path("app.err")), "eold\nenew\n", "stderr appended");
    waiter_fini(&w);

    req.stdout_append = req.stderr_append = false;
    run(&req, &w);
    is_str(slurp(path("app.out")), "new\n", "stdout truncated");
    is_str(slurp(path("app.err")), "enew\n", "stderr truncated");
    waiter_fini(&w);
}

static void test_same_file_and_dirs(void)
{
    struct waiter w;
    struct cp__shell_req req = basic("echo a; echo b >&2; echo c", "x", &w);
    const char *both = path("deep/er/both.log");
    req.stdout_path = req.stderr_path = both;
    run(&req, &w);
    ok(w.ok, "runs with stdout and stderr in one new directory");
    is_str(slurp(both), "a\nb\nc\n", "shared stdout/stderr file keeps both in order");
    waiter_fini(&w);
}

static void test_exit_code(void)
{
    struct waiter w;
    struct cp__shell_req req = basic("echo out; echo line1 >&2; echo line2 >&2; exit 3",
                                     "exit3", &w);
    run(&req, &w);
    ok(!w.ok, "exit 3 fails");
    is_int(w.exit_code, 3, "exit code 3");
    is_int(w.term_signal, 0, "no signal");
    is_str(w.error, "exit code 3; stderr: line1\nline2", "error names code and stderr tail");
    waiter_fini(&w);

    req = basic("for i in $(seq 1 20); do echo line$i >&2; done; exit 1", "tail", &w);
    run(&req, &w);
    is_str(w.error, "exit code 1; stderr: line16\nline17\nline18\nline19\nline20",
           "only the last five stderr lines");
    waiter_fini(&w);

    req = basic("head -c 5000 /dev/zero | tr '\\0' x >&2; echo >&2; echo last >&2; exit 1",
                "bigtail", &w);
    run(&req, &w);
    is_str(w.error, "exit code 1; stderr: last", "a long line cut by the byte limit is dropped");
    waiter_fini(&w);

    req = basic("head -c 5000 /dev/zero | tr '\\0' y >&2; exit 1", "oneline", &w);
    run(&req, &w);
    ok(strlen(w.error) <= strlen("exit code 1; stderr: ") + 1000 &&
           strstr(w.error, "; stderr: yyyy"), "at most 1000 bytes of one long stderr line");
    waiter_fini(&w);
}

static void test_signal(void)
{
    struct waiter w;
    struct cp__shell_req req = basic("kill -SEGV $$", "segv", &w);
    req.cwd = tmp; /* in case a core file is written after all */
    run(&req, &w);
    ok(!w.ok, "killed command fails");
    is_int(w.exit_code, -1, "exit_code -1 when signalled");
    is_int(w.term_signal, SIGSEGV, "term_signal SIGSEGV");
    is_str(w.error, "killed by signal SIGSEGV", "error names the signal");
    waiter_fini(&w);
}

/* ------------------------------------------------------------ walltime */

static void test_walltime(void)
{
    struct waiter w;
    struct cp__shell_req req = basic("sleep 30", "wall", &w);
    req.walltime = 0.5;
    double took = run(&req, &w);
    ok(w.timed_out, "walltime fires");
    ok(!w.ok, "timed out is a failure");
    is_str(w.error, "walltime of 0.5 s exceeded", "walltime error text");
    is_int(w.term_signal, SIGTERM, "SIGTERM ended it");
    ok(took >= 0.45 && took < 10, "ended near the walltime (%.2f s)", took);
    waiter_fini(&w);

    req = basic("trap 'exit 0' TERM; sleep 30 & wait", "wall0", &w);
    req.walltime = 0.3;
    run(&req, &w);
    ok(w.timed_out && !w.ok, "timed out even though the command then exits 0");
    is_int(w.exit_code, 0, "its exit code is still reported");
    waiter_fini(&w);

    req = basic("true", "wallok", &w);
    req.walltime = 30;
    took = run(&req, &w);
    ok(w.ok && !w.timed_out, "a quick command under a walltime succeeds");
    ok(took < 10, "and does not wait for the walltime");
    waiter_fini(&w);
}

static void test_walltime_grandchild(void)
{
    struct waiter w;
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "sleep 300 & echo $! > '%s'; sleep 30", path("gc.pid"));
    struct cp__shell_req req = basic(cmd, "gc", &w);
    req.walltime = 0.5;
    run(&req, &w);
    ok(w.timed_out, "grandchild test timed out");
    const char *text = slurp(path("gc.pid"));
    int pid = text ? atoi(text) : 0;
    ok(pid > 0, "grandchild pid recorded");
    ok(pid > 0 && wait_gone(pid, 5.0), "the background grandchild is dead too");
    waiter_fini(&w);
}

static void test_term_ignored(void)
{
    struct waiter w;
    struct cp__shell_req req = basic("trap '' TERM; sleep 30", "noterm", &w);
    req.walltime = 0.3;
    req.kill_grace = 0.3;
    double took = run(&req, &w);
    ok(w.timed_out, "TERM-ignoring command times out");
    is_int(w.term_signal, SIGKILL, "it dies by SIGKILL after the grace");
    ok(took >= 0.5 && took < 10, "after walltime plus grace (%.2f s)", took);
    waiter_fini(&w);
}

/* ------------------------------------------------------------ options */

static void test_outputs(void)
{
    struct waiter w;
    char a[512], b[512], c[512];
    snprintf(a, sizeof a, "%s/a.txt", tmp);
    snprintf(b, sizeof b, "%s/b.txt", tmp);
    snprintf(c, sizeof c, "%s/c.txt", tmp);
    const char *outs[] = {a, b, c};
    unlink(a);
    unlink(b);
    unlink(c);
    struct cp__shell_req req = basic("touch a.txt; echo made a >&2", "outs", &w);
    req.cwd = tmp;
    req.outputs = outs;
    req.noutputs = 3;
    run(&req, &w);
    ok(!w.ok, "missing outputs fail the try");
    is_int(w.exit_code, 0, "although the exit code is 0");
    char want[2048];
    snprintf(want, sizeof want, "missing outputs: %s, %s; stderr: made a", b, c);
    is_str(w.error, want, "error lists the missing outputs");
    waiter_fini(&w);

    req.cmd = "touch b.txt c.txt";
    run(&req, &w);
    ok(w.ok, "succeeds once every output exists");
    waiter_fini(&w);
}

static void test_env_cwd(void)
{
    struct waiter w;
    const char *env[] = {"CP_TEST_X=hello world", "HOME=/override", NULL};
    struct cp__shell_req req = basic("echo \"$CP_TEST_X|$HOME|${PATH:+path}\"", "env", &w);
    req.env = env;
    run(&req, &w);
    is_str(slurp(path("env.out")), "hello world|/override|path\n",
           "extra env visible, overriding, the rest inherited");
    waiter_fini(&w);

    const char *none[] = {NULL};
    req.env = none;
    req.cmd = "echo \"${CP_TEST_X-unset}\"";
    run(&req, &w);
    is_str(slurp(path("env.out")), "unset\n", "an empty env list adds nothing");
    waiter_fini(&w);

    char sub[512], real[4096];
    snprintf(sub, sizeof sub, "%s/sub dir", tmp);
    mkdir(sub, 0755);
    req = basic("pwd -P", "cwd", &w);
    req.cwd = sub;
    run(&req, &w);
    snprintf(real, sizeof real, "%s\n", sub);
    char *rp = realpath(sub, NULL);
    if (rp) {
        snprintf(real, sizeof real, "%s\n", rp);
        free(rp);
    }
    is_str(slurp(path("cwd.out")), real, "runs in cwd");
    waiter_fini(&w);

    req.cwd = path("no/such/dir");
    run(&req, &w);
    ok(!w.ok, "a bad cwd fails");
    is_int(w.exit_code, -1, "not started: exit_code -1");
    is_int(w.started, 0, "started not called");
    like(w.error, "cannot start: ", "bad cwd says cannot start");
    waiter_fini(&w);

    spit(path("afile"), "");
    req = basic("true", "badout", &w);
    req.stdout_path = path("afile/x/out");
    run(&req, &w);
    like(w.error, "cannot start: cannot open stdout file", "an unopenable stdout path fails");
    waiter_fini(&w);

    req = basic("cat; echo eof", "stdin", &w);
    req.walltime = 60;
    run(&req, &w);
    ok(w.ok, "stdin is /dev/null, so cat does not wait");
    is_str(slurp(path("stdin.out")), "eof\n", "and reads nothing");
    waiter_fini(&w);

    req = basic("printf '%s\\n' \"a  b\" 'c$d'", "quote", &w);
    run(&req, &w);
    is_str(slurp(path("quote.out")), "a  b\nc$d\n", "command run as given");
    waiter_fini(&w);
}

static void test_fds(const bool *baseline)
{
    struct waiter w;
    struct cp__shell_req req = basic("ls /proc/self/fd", "fds", &w);
    run(&req, &w);
    char *text = slurp(path("fds.out"));
    int extra = 0;
    for (char *line = text ? strtok(text, "\n") : NULL; line; line = strtok(NULL, "\n")) {
        int fd = atoi(line);
        if (fd > 2 && !(fd < 1024 && baseline[fd]))
            extra++;
    }
    /* One is ls's own handle on /proc/self/fd. */
    ok(w.ok && extra <= 1, "child inherits no runner fds (%d extra)", extra);
    waiter_fini(&w);
}

static void test_invalid(void)
{
    cp_err e = {0};
    struct cp__shell_req req = {.cmd = "true", .stdout_path = "/dev/null"};
    ok(cp__shell_runner_submit(runner, &req, &e) == -1 && e.code == EINVAL,
       "a request without stderr_path/done is refused");
    ok(e.text[0] != '\0', "with a message");
}

/* ------------------------------------------------------------ concurrency */

#define MANY 200
static atomic_int many_calls[MANY], many_ok;

static void many_done(void *arg, const struct cp__shell_result *res)
{
    atomic_fetch_add(&many_calls[(intptr_t)arg], 1);
    if (res->ok)
        atomic_fetch_add(&many_ok, 1);
}

static void test_many(void)
{
    for (int i = 0; i < MANY; i++)
        atomic_store(&many_calls[i], 0);
    atomic_store(&many_ok, 0);
    double t0 = mono();
    int submitted = 0;
    for (intptr_t i = 0; i < MANY; i++) {
        struct cp__shell_req req = {
            .cmd = "true", .stdout_path = path("many.out"), .stderr_path = path("many.err"),
            .stdout_append = true, .stderr_append = true, .done = many_done, .arg = (void *)i,
        };
        submitted += cp__shell_runner_submit(runner, &req, NULL) == 0;
    }
    is_int(submitted, MANY, "200 submitted");
    while (cp__shell_runner_active(runner) > 0)
        nanosleep(&(struct timespec){0, 1000 * 1000}, NULL);
    double took = mono() - t0;
    int once = 0;
    for (int i = 0; i < MANY; i++)
        once += atomic_load(&many_calls[i]) == 1;
    is_int(once, MANY, "each completed exactly once");
    is_int(atomic_load(&many_ok), MANY, "all succeeded");
    diag("200 concurrent `true`: %.3f s", took);
}

/* The loop thread blocks in `started` until released, so requests submitted
 * meanwhile are certainly still queued when kill_all arrives. */
static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static int gate_state; /* 0 idle, 1 loop is inside started, 2 released */

static void gated_started(void *arg, int pid)
{
    on_started(arg, pid);
    pthread_mutex_lock(&gate_mu);
    gate_state = 1;
    pthread_cond_broadcast(&gate_cv);
    while (gate_state != 2)
        pthread_cond_wait(&gate_cv, &gate_mu);
    pthread_mutex_unlock(&gate_mu);
}

static void test_kill_all(void)
{
    struct waiter first, queued[3];
    gate_state = 0;
    struct cp__shell_req req = basic("sleep 30", "ka", &first);
    req.started = gated_started;
    waiter_init(&first);
    double t0 = mono();
    cp__shell_runner_submit(runner, &req, NULL);
    pthread_mutex_lock(&gate_mu);
    while (gate_state != 1)
        pthread_cond_wait(&gate_cv, &gate_mu);
    pthread_mutex_unlock(&gate_mu);

    for (int i = 0; i < 3; i++) {
        waiter_init(&queued[i]);
        struct cp__shell_req q = basic("echo should-not-run > ka.ran", "kaq", &queued[i]);
        q.cwd = tmp;
        cp__shell_runner_submit(runner, &q, NULL);
    }
    ok(cp__shell_runner_active(runner) == 4, "active counts running and queued");
    cp__shell_runner_kill_all(runner);
    pthread_mutex_lock(&gate_mu);
    gate_state = 2;
    pthread_cond_broadcast(&gate_cv);
    pthread_mutex_unlock(&gate_mu);

    wait_calls(&first, 1);
    int queued_ok = 0;
    for (int i = 0; i < 3; i++) {
        wait_calls(&queued[i], 1);
        queued_ok += !queued[i].ok && queued[i].started == 0 && queued[i].exit_code == -1 &&
                     strcmp(queued[i].error, "interrupted") == 0;
        waiter_fini(&queued[i]);
    }
    is_int(queued_ok, 3, "queued requests are reported interrupted, never started");
    ok(access(path("ka.ran"), F_OK) < 0, "none of them ran");
    ok(!first.ok && strncmp(first.error, "interrupted", 11) == 0, "running one interrupted");
    is_int(first.term_signal, SIGTERM, "by SIGTERM");
    ok(mono() - t0 < 20, "kill_all ends running work promptly");
    is_int(first.calls, 1, "done once");
    waiter_fini(&first);
    while (cp__shell_runner_active(runner) > 0)
        nanosleep(&(struct timespec){0, 1000 * 1000}, NULL);
    is_int(cp__shell_runner_active(runner), 0, "nothing active afterwards");

    struct waiter w;
    req = basic("echo again", "after", &w);
    run(&req, &w);
    ok(w.ok, "the runner still works after kill_all");
    waiter_fini(&w);
}

struct chain {
    struct waiter w;
    int left;
    int runs;
};

static void chain_done(void *arg, const struct cp__shell_result *res)
{
    struct chain *c = arg;
    c->runs += res->ok;
    if (--c->left > 0) {
        struct cp__shell_req req = {
            .cmd = "echo link", .stdout_path = path("chain.out"),
            .stderr_path = path("chain.err"), .stdout_append = true,
            .done = chain_done, .arg = c,
        };
        if (cp__shell_runner_submit(runner, &req, NULL) == 0)
            return;
    }
    on_done(&c->w, res);
}

static void test_resubmit(void)
{
    struct chain c = {.left = 5};
    waiter_init(&c.w);
    unlink(path("chain.out"));
    struct cp__shell_req req = {
        .cmd = "echo link", .stdout_path = path("chain.out"), .stderr_path = path("chain.err"),
        .done = chain_done, .arg = &c,
    };
    cp__shell_runner_submit(runner, &req, NULL);
    wait_calls(&c.w, 1);
    is_int(c.runs, 5, "done callbacks can submit again");
    is_str(slurp(path("chain.out")), "link\nlink\nlink\nlink\nlink\n", "all five ran");
    waiter_fini(&c.w);
}

static atomic_int destroy_calls;

static void destroy_done(void *arg, const struct cp__shell_result *res)
{
    (void)arg;
    if (!res->ok && res->error)
        atomic_fetch_add(&destroy_calls, 1);
}

static void test_destroy_busy(void)
{
    struct cp__shell_runner *r = cp__shell_runner_create(NULL);
    ok(r != NULL, "second runner");
    const char *cmds[] = {"sleep 30", "sleep 30", "trap '' TERM; sleep 30", "sleep 30"};
    for (int i = 0; i < 4; i++) {
        struct cp__shell_req req = {
            .cmd = cmds[i], .stdout_path = path("d.out"), .stderr_path = path("d.err"),
            .kill_grace = 0.5, .done = destroy_done,
        };
        cp__shell_runner_submit(r, &req, NULL);
    }
    nanosleep(&(struct timespec){0, 200 * 1000 * 1000}, NULL);
    double t0 = mono();
    cp__shell_runner_destroy(r);
    double took = mono() - t0;
    ok(took < 20, "destroy with running work returns (%.2f s)", took);
    is_int(atomic_load(&destroy_calls), 4, "every done ran before destroy returned");

    cp__shell_runner_destroy(NULL);
    ok(1, "destroy(NULL) is fine");
    r = cp__shell_runner_create(NULL);
    cp__shell_runner_destroy(r);
    ok(r != NULL, "an idle runner is created and destroyed");
}


/* ------------------------------------------------------------ runs on the caller */

static void test_run_thread(void)
{
    struct waiter w;
    struct cp__shell_req req = basic("echo here", "here", &w);
    run(&req, &w);
    ok(w.ok && w.calls == 1, "run: succeeds, done once");
    ok(pthread_equal(w.started_on, pthread_self()) && pthread_equal(w.done_on, pthread_self()),
       "run: started and done are called on the calling thread");
    is_int(w.calls, 1, "run: done has run when it returns");
    is_int((int)cp__shell_runner_active(runner), 0, "run: nothing active afterwards");
    waiter_fini(&w);
}

/* The child starts with nothing blocked and nothing ignored, whatever the thread
 * that spawns it (a pool thread, or the loop thread, which blocks almost all). */
static void test_signal_state(void)
{
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGUSR1);
    sigaddset(&block, SIGINT);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    struct sigaction ign = {.sa_handler = SIG_IGN}, oldpipe, oldhup;
    sigaction(SIGPIPE, &ign, &oldpipe);
    sigaction(SIGHUP, &ign, &oldhup);

    struct waiter w;
    struct cp__shell_req req = basic("exec grep -E '^Sig(Blk|Ign)' /proc/self/status",
                                     "sigs", &w);
    run(&req, &w);
    is_str(slurp(path("sigs.out")), "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n",
           "%s: the child has no signal blocked or ignored", use_run ? "run" : "submit");
    waiter_fini(&w);

    sigaction(SIGHUP, &oldhup, NULL);
    sigaction(SIGPIPE, &oldpipe, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

struct runner_thread {
    pthread_t tid;
    struct cp__shell_runner *r;
    struct cp__shell_req req;
    struct waiter w;
    int rc;
};

static void *run_main(void *arg)
{
    struct runner_thread *t = arg;
    t->rc = cp__shell_runner_run(t->r, &t->req, NULL);
    return NULL;
}

static void start_run(struct runner_thread *t, struct cp__shell_runner *r, const char *cmd,
                      const char *name, double grace)
{
    waiter_init(&t->w);
    t->r = r;
    t->req = basic(cmd, name, &t->w);
    t->req.kill_grace = grace;
    t->rc = 99;
    pthread_create(&t->tid, NULL, run_main, t);
}

static void test_run_kill_all(void)
{
    struct runner_thread a, b;
    unlink(path("rkb.out"));
    start_run(&a, runner, "sleep 30", "rka", 0);
    start_run(&b, runner, "trap '' TERM; echo ready; sleep 30", "rkb", 0.3);
    wait_started(&a.w);
    ok(wait_file(path("rkb.out"), "ready\n", 20), "run+kill_all: the TERM-ignoring run is ready");
    ok(cp__shell_runner_active(runner) == 2, "run+kill_all: both runs counted active");
    double t0 = mono();
    cp__shell_runner_kill_all(runner);
    pthread_join(a.tid, NULL);
    pthread_join(b.tid, NULL);
    double took = mono() - t0;
    ok(a.rc == 0 && a.w.calls == 1 && !a.w.ok, "run+kill_all: the run returns, failed");
    ok(strncmp(a.w.error, "interrupted", 11) == 0, "run+kill_all: reported interrupted");
    is_int(a.w.term_signal, SIGTERM, "run+kill_all: by SIGTERM");
    is_int(b.w.term_signal, SIGKILL, "run+kill_all: a TERM-ignoring run gets SIGKILL");
    ok(took >= 0.25 && took < 20, "run+kill_all: after the grace (%.2f s)", took);
    is_int((int)cp__shell_runner_active(runner), 0, "run+kill_all: nothing active afterwards");
    waiter_fini(&a.w);
    waiter_fini(&b.w);

    struct waiter w;
    struct cp__shell_req req = basic("echo again", "rafter", &w);
    run(&req, &w);
    ok(w.ok, "run+kill_all: later runs run normally");
    waiter_fini(&w);
}

#define RUNNERS 4
#define PER_RUNNER 25
static atomic_int mixed_ok, mixed_calls;

static void mixed_done(void *arg, const struct cp__shell_result *res)
{
    (void)arg;
    atomic_fetch_add(&mixed_calls, 1);
    if (res->ok)
        atomic_fetch_add(&mixed_ok, 1);
}

static void *mixed_main(void *arg)
{
    intptr_t k = (intptr_t)arg;
    char out[512], err[512];
    snprintf(out, sizeof out, "%s/mixed%d.out", tmp, (int)k);
    snprintf(err, sizeof err, "%s/mixed%d.err", tmp, (int)k);
    for (int i = 0; i < PER_RUNNER; i++) {
        struct cp__shell_req req = {
            .cmd = "echo x", .stdout_path = out, .stderr_path = err, .stdout_append = true,
            .done = mixed_done,
        };
        /* Odd threads also submit to the loop, so both paths run at once. */
        if (k % 2 && cp__shell_runner_submit(runner, &req, NULL) != 0)
            atomic_fetch_add(&mixed_calls, 1000);
        if (cp__shell_runner_run(runner, &req, NULL) != 0)
            atomic_fetch_add(&mixed_calls, 1000);
    }
    return NULL;
}

static void test_run_many(void)
{
    atomic_store(&mixed_ok, 0);
    atomic_store(&mixed_calls, 0);
    for (int k = 0; k < RUNNERS; k++) {
        char p[512];
        snprintf(p, sizeof p, "%s/mixed%d.out", tmp, k);
        unlink(p);
    }
    pthread_t tids[RUNNERS];
    double t0 = mono();
    for (intptr_t k = 0; k < RUNNERS; k++)
        pthread_create(&tids[k], NULL, mixed_main, (void *)k);
    for (int k = 0; k < RUNNERS; k++)
        pthread_join(tids[k], NULL);
    while (cp__shell_runner_active(runner) > 0)
        nanosleep(&(struct timespec){0, 1000 * 1000}, NULL);
    int want = RUNNERS * PER_RUNNER + RUNNERS / 2 * PER_RUNNER;
    is_int(atomic_load(&mixed_calls), want, "%d threads running at once: done once each",
           RUNNERS);
    is_int(atomic_load(&mixed_ok), want, "and every one succeeded");
    int lines = 0;
    for (int k = 0; k < RUNNERS; k++) {
        char p[512];
        snprintf(p, sizeof p, "%s/mixed%d.out", tmp, k);
        const char *text = slurp(p);
        for (; text && *text; text++)
            lines += *text == '\n';
    }
    is_int(lines, want, "every command wrote its line");
    diag("%d commands from %d threads: %.3f s", want, RUNNERS, mono() - t0);
}

static int count_threads(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/task");
    for (struct dirent *e; d && (e = readdir(d));)
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

static bool pidfds_here(void)
{
#ifdef SYS_pidfd_open
    int fd = (int)syscall(SYS_pidfd_open, getpid(), 0);
    if (fd >= 0)
        close(fd);
    return fd >= 0 && !getenv("CPARSL_SHELL_NO_PIDFD");
#else
    return false;
#endif
}

/* A runner used only through run() has no loop, so libuv cannot abort it when memory
 * runs out; the loop's only trace outside the runner is its thread. Threads joined by
 * earlier tests may still be listed for a moment, hence "no more than before". Then
 * destroy must still wait for a run on another thread, with no loop to wait on. */
static void test_run_destroy(void)
{
    int before = count_threads();
    struct cp__shell_runner *r = cp__shell_runner_create(NULL);
    struct waiter w;
    waiter_init(&w);
    struct cp__shell_req req = basic("echo alone", "alone", &w);
    int rc = cp__shell_runner_run(r, &req, NULL);
    int after = count_threads();
    ok(rc == 0 && w.ok, "run on a fresh runner succeeds");
    if (pidfds_here())
        ok(after <= before, "a runner used only through run() starts no thread (%d, then %d)",
           before, after);
    else
        skip("no pidfds: the SIGCHLD fallback needs the loop thread");
    waiter_fini(&w);

    struct runner_thread a;
    unlink(path("rdestroy.out"));
    start_run(&a, r, "trap '' TERM; echo ready; sleep 30", "rdestroy", 0.3);
    ok(wait_file(path("rdestroy.out"), "ready\n", 20), "a run that ignores TERM is ready");
    double t0 = mono();
    cp__shell_runner_destroy(r);
    double took = mono() - t0;
    pthread_mutex_lock(&a.w.mu);
    int calls = a.w.calls;
    pthread_mutex_unlock(&a.w.mu);
    is_int(calls, 1, "destroy waits for a run on another thread to call done");
    ok(took < 20, "destroy with a run in progress returns (%.2f s)", took);
    pthread_join(a.tid, NULL);
    ok(a.rc == 0 && !a.w.ok && a.w.term_signal == SIGKILL, "that run was killed");
    waiter_fini(&a.w);
}

/* With SIGCHLD ignored the kernel reaps children itself; the runner says so rather
 * than hanging or inventing an exit code. */
static void test_lost_status(void)
{
    /* The SIGCHLD fallback cannot see such an exit at all: with SIGCHLD ignored no
     * signal arrives. The fallback sections below leave this test out; this skip is
     * for a whole run with CPARSL_SHELL_NO_PIDFD set. */
    if (!pidfds_here()) {
        skip("no pidfds: the SIGCHLD fallback needs SIGCHLD");
        skip("no pidfds: the SIGCHLD fallback needs SIGCHLD");
        return;
    }
    struct sigaction ign = {.sa_handler = SIG_IGN}, old;
    sigaction(SIGCHLD, &ign, &old);
    struct waiter w;
    struct cp__shell_req req = basic("exit 3", "lost", &w);
    run(&req, &w);
    ok(!w.ok && w.exit_code == -1, "%s: an exit reaped elsewhere fails, exit_code -1",
       use_run ? "run" : "submit");
    ok(strncmp(w.error, "exit status lost: ", 18) == 0, "and says the status was lost");
    if (strncmp(w.error, "exit status lost: ", 18) != 0)
        diag("got \"%s\"", w.error);
    waiter_fini(&w);
    sigaction(SIGCHLD, &old, NULL);
}

static void plain_tests(const bool *baseline, const char *mode)
{
    diag("---- %s", mode);
    test_stdout_stderr();
    test_append_truncate();
    test_same_file_and_dirs();
    test_exit_code();
    test_signal();
    test_walltime();
    test_walltime_grandchild();
    test_term_ignored();
    test_outputs();
    test_env_cwd();
    test_fds(baseline);
    test_signal_state();
}

int main(void)
{
    tap_start(120);
    /* A core file per SIGSEGV test would litter; the children inherit the limit. */
    setrlimit(RLIMIT_CORE, &(struct rlimit){0, 0});

    static bool baseline[1024];
    DIR *d = opendir("/proc/self/fd");
    for (struct dirent *e; d && (e = readdir(d));)
        if (atoi(e->d_name) > 0 && atoi(e->d_name) < 1024 && atoi(e->d_name) != dirfd(d))
            baseline[atoi(e->d_name)] = true;
    if (d)
        closedir(d);

    snprintf(tmp, sizeof tmp, "/tmp/cp_shell_runner.XXXXXX");
    if (!mkdtemp(tmp)) {
        printf("Bail out! mkdtemp failed\n");
        return 1;
    }
    cp_err e = {0};
    runner = cp__shell_runner_create(&e);
    if (!ok(runner != NULL, "runner created")) {
        diag("%s", e.text);
        return done_testing();
    }

    use_run = false;
    plain_tests(baseline, "pidfd, submitted");
    test_invalid();
    test_many();
    test_kill_all();
    test_resubmit();
    test_destroy_busy();
    test_lost_status();
    use_run = true;
    plain_tests(baseline, "pidfd, run on the calling thread");
    test_run_thread();
    test_run_kill_all();
    test_run_many();
    test_run_destroy();
    test_lost_status();
    cp__shell_runner_destroy(runner);

    /* Only the creation reads the variable. */
    setenv("CPARSL_SHELL_NO_PIDFD", "1", 1);
    runner = cp__shell_runner_create(&e);
    unsetenv("CPARSL_SHELL_NO_PIDFD");
    if (!ok(runner != NULL, "SIGCHLD-fallback runner created")) {
        diag("%s", e.text);
        return done_testing();
    }
    use_run = false;
    plain_tests(baseline, "SIGCHLD fallback, submitted");
    test_many();
    test_kill_all();
    use_run = true;
    plain_tests(baseline, "SIGCHLD fallback, run on the calling thread");
    test_run_thread();
    test_run_kill_all();
    test_run_many();
    cp__shell_runner_destroy(runner);

    rm_rf(tmp);
    return done_testing();
}
