/* tests/unit/pool.c — the real parsl-worker binary against a fake interchange
 * written here with the wire API (role interchange, loopback TCP).
 *
 * Covers: registration facts (worker counts from settings and PARSL_CORES), shell
 * tasks (ok, exit code, walltime), native tasks from a library built here with
 * $CC (value, cp_fail, walltime → worker replaced), affinity and
 * PARSL_WORKER_RANK seen by tasks, kill -9 of a worker mid-task, the interchange
 * closing or going silent, a wrong secret, a version refusal, HOLD, SHUTDOWN and
 * drain. Env: CP_BUILD (build dir), CC, CP_TEST_TIMEOUT_MULTIPLIER.
 */
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tap.h"
#include "testutil.h"
#include "common/util.h"
#include "executors/wire.h"

static double mult = 1;
static char tmp[] = "/tmp/cp-pool-XXXXXX";
static char worker_bin[2 * PATH_MAX + 32], libpath[PATH_MAX + 32];
static unsigned char secret[CP_WIRE_SECRET_LEN];

static const char lib_src[] =
    "#define _GNU_SOURCE\n#include <cparsl.h>\n#include <sched.h>\n#include <stdio.h>\n#include <stdlib.h>\n"
    "#include <signal.h>\n#include <string.h>\n#include <time.h>\n#include <unistd.h>\n"
    "static void nap(double s) { struct timespec t = {(time_t)s, (long)((s - (long)s) * 1e9)};"
    " nanosleep(&t, NULL); }\n"
    "CP_APP(long, inc, (long, x)) { return x + 1; }\n"
    "CP_APP(long, spin, (double, s)) { nap(s); return 0; }\n"
    "CP_APP(long, fails, (long, x)) { cp_fail(\"no good: %ld\", x); return 0; }\n"
    "CP_APP(long, stubborn, (double, s)) { sigset_t t; sigemptyset(&t); sigaddset(&t, SIGTERM);"
    " sigprocmask(SIG_BLOCK, &t, NULL); nap(s); return 0; }\n"
    "CP_APP(long, pidspin, (const char *, path)) { FILE *f = fopen(path, \"w\");"
    " if (f) { fprintf(f, \"%d\", (int)getpid()); fclose(f); } nap(30); return 0; }\n"
    "CP_APP(const char *, whoami, (double, s)) {\n"
    "  static char buf[512]; cpu_set_t set; CPU_ZERO(&set);\n"
    "  sched_getaffinity(0, sizeof set, &set); nap(s);\n"
    "  int n = snprintf(buf, sizeof buf, \"rank=%s pid=%d cpus=\", getenv(\"PARSL_WORKER_RANK\"),"
    " (int)getpid());\n"
    "  for (int c = 0; c < CPU_SETSIZE && n < 480; c++) if (CPU_ISSET(c, &set))"
    " n += snprintf(buf + n, sizeof buf - n, \"%d,\", c);\n"
    "  return buf; }\n";

/* ------------------------------------------------------------ the fake interchange */

struct fake {
    int lfd, fd, port;
    pid_t pool;
    struct cp__wire_conn *c;
    char rbuf[65536];
    size_t roff, rlen;
    struct cp__wire_msg reg;        /* the REGISTER, kept */
    int heartbeats, drains;
    char errpath[PATH_MAX + 32];
};

struct res {
    int64_t task_id;
    bool ok, timed_out;
    int64_t rank, ival;
    char text[600];                 /* error, or a string value */
};

static int ms(double s) { return (int)(s * mult * 1000); }

static void fake_listen(struct fake *f)
{
    memset(f, 0, sizeof *f);
    f->fd = -1;
    f->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    if (bind(f->lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(f->lfd, 4) != 0 ||
        getsockname(f->lfd, (struct sockaddr *)&a, &al) != 0)
        diag("listen: %s", strerror(errno));
    f->port = ntohs(a.sin_port);
}

/* Starts parsl-worker with args (NULL-terminated) and env entries "K=V". */
static void start_pool(struct fake *f, const unsigned char *key, const char *const *args,
                       const char *const *env)
{
    static int seq;
    snprintf(f->errpath, sizeof f->errpath, "%s/pool-%d.err", tmp, ++seq);
    char port[16], hex[65];
    snprintf(port, sizeof port, "%d", f->port);
    cp__wire_secret_hex(key, hex);
    const char *argv[40] = {worker_bin, "--addresses", "127.0.0.1", "--port", port};
    int n = 5;
    for (; args && *args && n < 38; args++)
        argv[n++] = *args;
    argv[n] = NULL;
    fflush(NULL);
    f->pool = fork();
    if (f->pool == 0) {
        setenv(CP_WIRE_SECRET_ENV, hex, 1);
        unsetenv("PARSL_CORES");
        for (; env && *env; env++)
            putenv((char *)*env);
        FILE *e = freopen(f->errpath, "w", stderr);
        (void)e;
        execv(worker_bin, (char **)argv);
        _exit(127);
    }
}

static bool fake_accept(struct fake *f)
{
    struct pollfd p = {.fd = f->lfd, .events = POLLIN};
    if (poll(&p, 1, ms(10)) != 1)
        return false;
    f->fd = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC);
    f->c = cp__wire_conn_create(CP_WIRE_INTERCHANGE, secret, false, NULL);
    f->roff = f->rlen = 0;
    return f->fd >= 0 && f->c;
}

static void put(struct fake *f, const struct cp__wire_msg *m)
{
    struct cp__wire_buf b = {0};
    cp_err err = {0};
    if (cp__wire_conn_send(f->c, m, &b, &err) != 0)
        diag("send %s: %s", cp__wire_type_name(m->type), err.text);
    else if (b.len && send(f->fd, b.data, b.len, MSG_NOSIGNAL) != (ssize_t)b.len)
        diag("send %s: short", cp__wire_type_name(m->type));
    cp__wire_buf_free(&b);
}

/* The next message within s seconds (heartbeats and drains are counted and
 * skipped unless asked for); false on timeout, EOF or a refusal. */
static bool next_msg(struct fake *f, struct cp__wire_msg *m, double s, bool all)
{
    double until = cp__mono() + s * mult;
    for (;;) {
        while (f->roff < f->rlen) {
            size_t used = 0;
            cp_err err = {0};
            int rc = cp__wire_conn_recv(f->c, f->rbuf + f->roff, f->rlen - f->roff, &used, m, &err);
            f->roff += used;
            if (rc < 0) {
                diag("fake interchange refused: %s", err.text);
                return false;
            }
            if (rc == 1) {
                if (m->type == CP_WIRE_HEARTBEAT)
                    f->heartbeats++;
                if (m->type == CP_WIRE_DRAIN)
                    f->drains++;
                if (!all && (m->type == CP_WIRE_HEARTBEAT || m->type == CP_WIRE_DRAIN)) {
                    cp__wire_msg_clear(m);
                    continue;
                }
                return true;
            }
        }
        double left = until - cp__mono();
        struct pollfd p = {.fd = f->fd, .events = POLLIN};
        if (left <= 0 || poll(&p, 1, (int)(left * 1000) + 1) != 1)
            return false;
        ssize_t n = recv(f->fd, f->rbuf, sizeof f->rbuf, 0);
        if (n <= 0)
            return false;
        f->roff = 0, f->rlen = (size_t)n;
    }
}

/* Accepts the pool and completes its handshake; the REGISTER is kept in f->reg. */
static bool handshake(struct fake *f, double hb_period, double hb_threshold)
{
    struct cp__wire_msg m = {0};
    if (!fake_accept(f) || !next_msg(f, &m, 10, true) || m.type != CP_WIRE_CLIENT_HELLO)
        return false;
    cp__wire_msg_clear(&m);
    put(f, &(struct cp__wire_msg){.type = CP_WIRE_SERVER_HELLO});
    if (!next_msg(f, &f->reg, 10, true) || f->reg.type != CP_WIRE_REGISTER)
        return false;
    put(f, &(struct cp__wire_msg){.type = CP_WIRE_WELCOME,
                                  .u.welcome = {.heartbeat_period = hb_period,
                                                .heartbeat_threshold = hb_threshold,
                                                .software = "fake"}});
    return cp__wire_conn_ready(f->c);
}

static void send_tasks(struct fake *f, struct cp__wire_task *t, size_t n)
{
    put(f, &(struct cp__wire_msg){.type = CP_WIRE_TASKS, .u.tasks = {t, n}});
}

static struct cp__wire_task shell_task(int64_t id, const char *cmd, double walltime)
{
    return (struct cp__wire_task){.task_id = id, .kind = CP_WIRE_TASK_SHELL, .app = "sh",
                                  .cmd = cmd, .walltime = walltime};
}

static struct cp_value args1[64];
static struct cp__wire_task native_task(int64_t id, const char *app, struct cp_value arg,
                                        double walltime)
{
    args1[id % 64] = arg;
    return (struct cp__wire_task){.task_id = id, .kind = CP_WIRE_TASK_NATIVE, .app = app,
                                  .args = &args1[id % 64], .nargs = 1, .walltime = walltime};
}

static struct cp_value dbl(double d) { struct cp_value v; cp__value_double(&v, d); return v; }
static struct cp_value lng(long i) { struct cp_value v; cp__value_int(&v, i); return v; }

/* Collects n results within s seconds into out (by arrival). Returns how many. */
static size_t results(struct fake *f, struct res *out, size_t n, double s)
{
    size_t got = 0;
    double until = cp__mono() + s * mult;
    while (got < n) {
        struct cp__wire_msg m = {0};
        double left = until - cp__mono();
        if (left <= 0 || !next_msg(f, &m, left / mult, false))
            break;
        if (m.type == CP_WIRE_RESULTS)
            for (size_t i = 0; i < m.u.results.n && got < n; i++) {
                const struct cp__wire_result *r = &m.u.results.results[i];
                struct res *o = &out[got++];
                *o = (struct res){.task_id = r->task_id, .ok = r->ok, .timed_out = r->timed_out,
                                  .rank = r->worker_rank};
                if (r->error)
                    snprintf(o->text, sizeof o->text, "%s", r->error);
                else if (r->value && r->value->type == CP_INT)
                    o->ival = r->value->u.i;
                else if (r->value && r->value->type == CP_STR)
                    snprintf(o->text, sizeof o->text, "%s", cp__value_strp(r->value));
            }
        cp__wire_msg_clear(&m);
    }
    return got;
}

static struct res *by_id(struct res *r, size_t n, int64_t id)
{
    for (size_t i = 0; i < n; i++)
        if (r[i].task_id == id)
            return &r[i];
    static struct res none = {.task_id = -1, .text = "(no result)"};
    return &none;
}

/* Waits up to s seconds for the pool to exit; its status, or -1 if it did not. */
static int pool_exit(struct fake *f, double s)
{
    double until = cp__mono() + s * mult;
    int st;
    while (cp__mono() < until) {
        pid_t r = waitpid(f->pool, &st, WNOHANG);
        if (r == f->pool) {
            f->pool = 0;
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        }
        usleep(10000);
    }
    return -1;
}

static void fake_close(struct fake *f)
{
    if (f->pool > 0) {
        kill(f->pool, SIGKILL);
        waitpid(f->pool, NULL, 0);
    }
    if (f->fd >= 0)
        close(f->fd);
    close(f->lfd);
    cp__wire_conn_destroy(f->c);
    cp__wire_msg_clear(&f->reg);
    f->fd = -1, f->c = NULL, f->pool = 0;
}

static bool gone(pid_t pid)
{
    for (int i = 0; i < 100; i++) {
        if (kill(pid, 0) != 0 && errno == ESRCH)
            return true;
        usleep(20000);
    }
    return false;
}

/* ------------------------------------------------------------ tests */

static void test_registration(void)
{
    struct fake f;
    fake_listen(&f);
    start_pool(&f, secret, (const char *[]){"--block-id", "7", "--cores-per-worker", "2",
                                            "--prefetch-capacity", "3", NULL},
               (const char *[]){"PARSL_CORES=4", "PARSL_MEMORY_GB=6", NULL});
    ok(handshake(&f, 5, 20), "registration: handshake completes");
    is_str(f.reg.u.reg.block_id, "7", "block id registered");
    is_int(f.reg.u.reg.cores, 4, "cores from PARSL_CORES");
    is_dbl(f.reg.u.reg.memory_gb, 6, "memory from PARSL_MEMORY_GB");
    is_int(f.reg.u.reg.worker_count, 2, "4 cores / 2 per worker = 2 workers");
    is_int(f.reg.u.reg.max_capacity, 5, "max_capacity = workers + prefetch");
    is_int(f.reg.u.reg.pid, f.pool, "pid is the pool's");
    put(&f, &(struct cp__wire_msg){.type = CP_WIRE_SHUTDOWN,
                                   .u.shutdown = {CP_WIRE_SHUTDOWN_NOW, "test"}});
    is_int(pool_exit(&f, 5), 0, "SHUTDOWN: the pool exits 0");
    fake_close(&f);

    fake_listen(&f);
    start_pool(&f, secret, (const char *[]){"--max-workers-per-node", "3",
                                            "--available-accelerators", "a;b,c", NULL},
               (const char *[]){"PARSL_CORES=8", NULL});
    ok(handshake(&f, 5, 20), "second pool: handshake");
    is_int(f.reg.u.reg.worker_count, 2, "max_workers_per_node 3, 2 accelerators: 2 workers");
    is_int(f.reg.u.reg.naccelerators, 2, "accelerators registered");
    if (f.reg.u.reg.naccelerators == 2)
        is_str(f.reg.u.reg.accelerators[1], "b,c", "a name may hold commas");
    fake_close(&f);
}

static void test_tasks(void)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    sched_getaffinity(0, sizeof set, &set);
    int cpus[CPU_SETSIZE], ncpus = 0;
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &set))
            cpus[ncpus++] = c;
    bool pin = ncpus >= 2;

    struct fake f;
    fake_listen(&f);
    start_pool(&f, secret, (const char *[]){"--app-library", libpath, "--prefetch-capacity", "4",
                                            "--cpu-affinity", pin ? "block" : "none", NULL},
               (const char *[]){"PARSL_CORES=2", NULL});
    if (!ok(handshake(&f, 5, 30), "tasks: handshake")) {
        fake_close(&f);
        return;
    }
    is_int(f.reg.u.reg.worker_count, 2, "2 workers");
    char out[PATH_MAX + 64], c1[PATH_MAX * 2];
    snprintf(out, sizeof out, "%s/t3.out", tmp);
    snprintf(c1, sizeof c1, "echo to-stderr >&2; exit 3");
    struct cp__wire_task ts[] = {
        shell_task(1, "true", 0),
        shell_task(2, c1, 0),
        shell_task(3, "sleep 5", 0.3),
        native_task(4, "inc", lng(41), 0),
        native_task(5, "fails", lng(7), 0),
        native_task(6, "nosuchapp", lng(0), 0),
    };
    char errpath[PATH_MAX + 32];
    snprintf(errpath, sizeof errpath, "%s/t2.err", tmp);
    ts[1].stderr_path = errpath;
    send_tasks(&f, ts, 6);
    struct res r[8];
    size_t n = results(&f, r, 6, 20);
    is_int(n, 6, "6 results");
    ok(by_id(r, n, 1)->ok && by_id(r, n, 1)->ival == 0, "shell exit 0: ok, value 0");
    ok(!by_id(r, n, 2)->ok, "shell exit 3: failed");
    like(by_id(r, n, 2)->text, "exit code 3", "... with the exit code");
    like(by_id(r, n, 2)->text, "to-stderr", "... and the stderr tail");
    ok(!by_id(r, n, 3)->ok && by_id(r, n, 3)->timed_out, "shell walltime: failed, timed_out");
    like(by_id(r, n, 3)->text, "walltime of 0.3 s exceeded", "... walltime text");
    ok(by_id(r, n, 4)->ok && by_id(r, n, 4)->ival == 42, "native inc(41) = 42");
    ok(by_id(r, n, 4)->rank == 0 || by_id(r, n, 4)->rank == 1, "native result has a rank");
    like(by_id(r, n, 5)->text, "no good: 7", "native cp_fail text");
    like(by_id(r, n, 6)->text, "not known", "an unknown app fails clearly");

    /* Not a pass/fail check (bench/ measures): the idle pool's footprint. */
    char status[64];
    snprintf(status, sizeof status, "/proc/%d/status", (int)f.pool);
    const char *st = slurp(status), *rss = st ? strstr(st, "VmRSS:") : NULL;
    if (rss)
        diag("idle pool with 2 workers: %.*s", (int)strcspn(rss, "\n"), rss);

    /* Affinity and PARSL_WORKER_RANK: two tasks held long enough that each worker
     * takes one. */
    struct cp__wire_task who[] = {native_task(10, "whoami", dbl(0.4), 0),
                                  native_task(11, "whoami", dbl(0.4), 0)};
    send_tasks(&f, who, 2);
    n = results(&f, r, 2, 10);
    is_int(n, 2, "two whoami results");
    int seen = 0;
    pid_t wpid[2] = {0, 0};
    for (size_t i = 0; i < n; i++) {
        int rank = -1, pid = 0;
        char cpus_s[400] = "";
        sscanf(r[i].text, "rank=%d pid=%d cpus=%399s", &rank, &pid, cpus_s);
        ok(rank == r[i].rank, "PARSL_WORKER_RANK %d matches the result's rank %lld", rank,
           (long long)r[i].rank);
        if (rank == 0 || rank == 1) {
            seen |= 1 << rank;
            wpid[rank] = pid;
        }
        if (pin && rank >= 0 && rank <= 1) {
            int k = ncpus / 2;
            char want[400] = "";
            for (int c = k * rank; c < k * (rank + 1); c++)
                snprintf(want + strlen(want), sizeof want - strlen(want), "%d,", cpus[c]);
            is_str(cpus_s, want, "cpu_affinity block: worker %d's CPUs", rank);
        }
    }
    if (!pin)
        skip("fewer than 2 CPUs allowed: no affinity check");
    is_int(seen, 3, "both workers ran one");

    /* kill -9 of a worker mid-task: "worker lost", and a new worker serves. */
    char pidfile[PATH_MAX + 32], cmd[PATH_MAX * 4];
    snprintf(pidfile, sizeof pidfile, "%s/w.pid", tmp);
    snprintf(cmd, sizeof cmd, "echo $PPID $$ > %s.tmp && mv %s.tmp %s && sleep 30", pidfile,
             pidfile, pidfile);
    struct cp__wire_task k = shell_task(20, cmd, 0);
    send_tasks(&f, &k, 1);
    int worker = 0, shell = 0;
    for (int i = 0; i < ms(5) / 20 && worker == 0; i++) {
        usleep(20000);
        char *s = slurp(pidfile);
        if (s)
            sscanf(s, "%d %d", &worker, &shell);
    }
    ok(worker > 0 && (worker == wpid[0] || worker == wpid[1]), "the shell's parent is a worker");
    if (worker > 0)
        kill(worker, SIGKILL);
    n = results(&f, r, 1, 5);
    ok(n == 1 && !r[0].ok && r[0].task_id == 20, "killed worker: its task failed");
    is_str(n ? r[0].text : NULL, "worker lost: SIGKILL", "... with 'worker lost: SIGKILL'");
    ok(shell > 0 && gone(shell), "... and its shell command was killed too");
    struct cp__wire_task again[] = {native_task(21, "whoami", dbl(0.4), 0),
                                    native_task(22, "whoami", dbl(0.4), 0)};
    send_tasks(&f, again, 2);
    n = results(&f, r, 2, 10);
    ok(n == 2 && r[0].ok && r[1].ok && r[0].rank != r[1].rank,
       "after the kill both ranks serve again (the lost one was replaced)");

    /* Native walltime: the worker is killed and replaced, the try times out. */
    struct cp__wire_task wt = native_task(30, "spin", dbl(30), 0.3);
    send_tasks(&f, &wt, 1);
    n = results(&f, r, 1, 5);
    ok(n == 1 && !r[0].ok && r[0].timed_out, "native walltime: failed, timed_out");
    like(n ? r[0].text : NULL, "walltime of 0.3 s exceeded", "... walltime text");
    struct cp__wire_task after = native_task(31, "inc", lng(1), 0);
    send_tasks(&f, &after, 1);
    n = results(&f, r, 1, 5);
    ok(n == 1 && r[0].ok && r[0].ival == 2, "the next native task runs");

    /* Hosted tasks whose program cannot serve: a clear failure, and the worker
     * (replaced where it ended) still takes the next task. */
    struct cp__wire_task hs = native_task(32, "inc", lng(1), 0);
    hs.kind = CP_WIRE_TASK_HOSTED;
    hs.library = "/nonexistent/app-host";
    send_tasks(&f, &hs, 1);
    n = results(&f, r, 1, 5);
    ok(n == 1 && !r[0].ok, "hosted: a program that cannot be started fails the try");
    like(n ? r[0].text : NULL, "cannot start '/nonexistent/app-host' as an app host: No such file",
         "... naming the program and why");
    hs.task_id = 33;
    hs.library = "/bin/true";
    send_tasks(&f, &hs, 1);
    n = results(&f, r, 1, 5);
    ok(n == 1 && !r[0].ok, "hosted: a program that exits before serving fails the try");
    like(n ? r[0].text : NULL, "app host '/bin/true' ended (exit code 0) before it served the "
         "task: its main() must call cp_init()", "... saying what its main() must do");
    hs.task_id = 34;
    hs.app = "nosuchapp";
    hs.library = worker_bin;    /* parsl-worker itself: the worker's own program */
    send_tasks(&f, &hs, 1);
    n = results(&f, r, 1, 5);
    ok(n == 1 && !r[0].ok, "hosted in the worker's own program: run there, not relaunched");
    like(n ? r[0].text : NULL, "native app 'nosuchapp' is not known to this worker (not defined in its "
         "program)", "... an app it does not define is named");
    send_tasks(&f, &after, 1);
    n = results(&f, r, 1, 5);
    ok(n == 1 && r[0].ok && r[0].ival == 2, "the pool still runs native tasks after them");

    /* Depth: after a run of short tasks a worker is sent several at once. Kill
     * one holding a long task with short ones behind it: the long one fails
     * "worker lost", the ones behind it never started and are not lost — each
     * short task comes back exactly once, right. */
    struct cp__wire_task many[31];
    for (int i = 0; i < 31; i++)
        many[i] = native_task(100 + i, "inc", lng(i), 0);
    send_tasks(&f, many, 31);
    struct res rr[64];
    n = results(&f, rr, 31, 5);
    is_int(n, 31, "depth: a run of 31 short tasks");
    char spinpid[PATH_MAX + 32];
    snprintf(spinpid, sizeof spinpid, "%s/spin.pid", tmp);
    unlink(spinpid);
    struct cp_value sv;
    cp__value_str(&sv, spinpid, strlen(spinpid));
    args1[0] = sv;
    many[0] = (struct cp__wire_task){.task_id = 200, .kind = CP_WIRE_TASK_NATIVE,
                                     .app = "pidspin", .args = &args1[0], .nargs = 1};
    for (int i = 1; i < 31; i++)
        many[i] = native_task(200 + i, "inc", lng(i), 0);
    send_tasks(&f, many, 31);
    cp__value_clear(&sv);
    int victim = 0;
    for (int i = 0; i < ms(5) / 20 && victim == 0; i++) {
        usleep(20000);
        char *txt = slurp(spinpid);
        if (txt)
            victim = atoi(txt);
    }
    size_t early = results(&f, rr, 30, 0.5);
    ok(victim > 0 && early < 30, "depth: short tasks wait behind the long one (%zu of 30 "
       "came back first)", early);
    if (victim > 0)
        kill(victim, SIGKILL);
    n = early + results(&f, rr + early, 31 - early, 10);
    int times[31] = {0}, right = 0;
    for (size_t i = 0; i < n; i++)
        if (rr[i].task_id > 200 && rr[i].task_id <= 230) {
            times[rr[i].task_id - 200]++;
            right += rr[i].ok && rr[i].ival == rr[i].task_id - 200 + 1;
        }
    int once = 0;
    for (int i = 1; i < 31; i++)
        once += times[i] == 1;
    is_int(once, 30, "... after kill -9 of that worker every short task came back once");
    is_int(right, 30, "... with its right value");
    struct res *sp = by_id(rr, n, 200);
    ok(sp->task_id == 200 && !sp->ok, "... the long task failed");
    like(sp->text, "worker lost: SIGKILL", "... as worker lost");

    /* INTERRUPT: running and waiting tries all fail with the reason at once; the
     * native app is stopped by ending its worker (one ignores TERM and gets KILL
     * after the grace, and is given no task meanwhile); the pool serves on. */
    struct cp__wire_task it[6];
    it[0] = native_task(300, "stubborn", dbl(30), 0);
    it[1] = native_task(301, "spin", dbl(30), 0);
    for (int i = 2; i < 6; i++)
        it[i] = native_task(300 + i, "inc", lng(i), 0);
    send_tasks(&f, it, 6);
    usleep(200000);
    double ti = cp__mono();
    put(&f, &(struct cp__wire_msg){.type = CP_WIRE_INTERRUPT,
                                   .u.interrupt.reason = "the test says stop"});
    n = results(&f, rr, 6, 5);
    int intr = 0;
    for (size_t i = 0; i < n; i++)
        intr += !rr[i].ok && strcmp(rr[i].text, "interrupted: the test says stop") == 0;
    is_int(intr, 6, "INTERRUPT: all 6 tries (2 running, 4 waiting) fail with its reason");
    ok(cp__mono() - ti < 2 * mult, "... at once (%.2f s)", cp__mono() - ti);
    struct cp__wire_task next_one = native_task(310, "inc", lng(9), 0);
    send_tasks(&f, &next_one, 1);
    n = results(&f, rr, 1, 5);
    ok(n == 1 && rr[0].ok && rr[0].ival == 10, "... and the pool serves the next task");

    /* HOLD: tasks are refused; released: they run. */
    put(&f, &(struct cp__wire_msg){.type = CP_WIRE_HOLD, .u.hold = {true}});
    struct cp__wire_task h = native_task(40, "inc", lng(1), 0);
    send_tasks(&f, &h, 1);
    n = results(&f, r, 1, 5);
    ok(n == 1 && !r[0].ok, "held: a task is refused");
    like(n ? r[0].text : NULL, "held", "... saying the pool is held");
    put(&f, &(struct cp__wire_msg){.type = CP_WIRE_HOLD, .u.hold = {false}});
    h.task_id = 41;
    send_tasks(&f, &h, 1);
    n = results(&f, r, 1, 5);
    ok(n == 1 && r[0].ok, "hold released: the task runs");

    /* The interchange closes while a shell command runs: all gone, promptly. */
    snprintf(cmd, sizeof cmd, "echo $PPID $$ > %s.tmp && mv %s.tmp %s && sleep 30", pidfile,
             pidfile, pidfile);
    unlink(pidfile);
    k.task_id = 50;
    send_tasks(&f, &k, 1);
    worker = shell = 0;
    for (int i = 0; i < ms(5) / 20 && worker == 0; i++) {
        usleep(20000);
        char *s = slurp(pidfile);
        if (s)
            sscanf(s, "%d %d", &worker, &shell);
    }
    close(f.fd);
    f.fd = -1;
    double t0 = cp__mono();
    is_int(pool_exit(&f, 5), 1, "interchange closed: the pool exits 1");
    ok(cp__mono() - t0 < 3 * mult, "... promptly (%.2f s)", cp__mono() - t0);
    ok(worker > 0 && gone(worker) && gone(wpid[0] == worker ? wpid[1] : wpid[0]),
       "... its workers are gone");
    ok(shell > 0 && gone(shell), "... and so is the running shell command");
    like(slurp(f.errpath), "closed the connection", "... saying why on stderr");
    fake_close(&f);
}

static void test_silence_and_refusals(void)
{
    struct fake f;
    fake_listen(&f);
    start_pool(&f, secret, NULL, (const char *[]){"PARSL_CORES=1", NULL});
    ok(handshake(&f, 0.2, 0.8), "silence: handshake (period 0.2 s, threshold 0.8 s)");
    struct cp__wire_msg m = {0};
    double t0 = cp__mono();
    while (next_msg(&f, &m, 0.5, true))
        cp__wire_msg_clear(&m);     /* never answer: the pool must give up */
    ok(f.heartbeats >= 2, "the pool heartbeats (%d)", f.heartbeats);
    is_int(pool_exit(&f, 5), 1, "silent interchange: the pool exits 1");
    ok(cp__mono() - t0 < 3 * mult, "... within the threshold and a margin (%.2f s)",
       cp__mono() - t0);
    like(slurp(f.errpath), "silent", "... saying so");
    fake_close(&f);

    unsigned char other[CP_WIRE_SECRET_LEN];
    memset(other, 0x5a, sizeof other);
    fake_listen(&f);
    start_pool(&f, other, NULL, (const char *[]){"PARSL_CORES=1", NULL});
    ok(!handshake(&f, 5, 20), "wrong secret: no handshake");
    ok(pool_exit(&f, 5) > 0, "wrong secret: the pool exits non-zero");
    like(slurp(f.errpath), "authentication", "... naming the failed authentication");
    fake_close(&f);

    fake_listen(&f);
    start_pool(&f, secret, NULL, (const char *[]){"PARSL_CORES=1", NULL});
    if (fake_accept(&f) && next_msg(&f, &m, 10, true)) {
        cp__wire_msg_clear(&m);
        struct cp__wire_buf b = {0};
        if (cp__wire_conn_refuse(f.c, CP_WIRE_WHY_VERSION,
                                 "pool speaks wire protocol 1, interchange speaks 2", &b,
                                 NULL) == 0 &&
            send(f.fd, b.data, b.len, MSG_NOSIGNAL) < 0)
            diag("send refuse failed");
        cp__wire_buf_free(&b);
    }
    is_int(pool_exit(&f, 5), 1, "refused: the pool exits 1");
    like(slurp(f.errpath), "pool speaks wire protocol 1, interchange speaks 2",
         "... printing the interchange's reason");
    fake_close(&f);

    fake_listen(&f);
    start_pool(&f, secret, (const char *[]){"--cpu-affinity", "blokc", NULL}, NULL);
    is_int(pool_exit(&f, 5), 2, "bad --cpu-affinity: exit 2");
    like(slurp(f.errpath), "block", "... with a did-you-mean");
    fake_close(&f);
}

static void test_drain(void)
{
    struct fake f;
    fake_listen(&f);
    start_pool(&f, secret, (const char *[]){"--drain-period", "0.5", NULL},
               (const char *[]){"PARSL_CORES=1", NULL});
    if (!ok(handshake(&f, 5, 20), "drain: handshake")) {
        fake_close(&f);
        return;
    }
    struct cp__wire_task t = shell_task(1, "sleep 1", 0);
    send_tasks(&f, &t, 1);
    struct cp__wire_msg m = {0};
    bool drained = false;
    while (!drained && next_msg(&f, &m, 3, true)) {
        drained = m.type == CP_WIRE_DRAIN;
        cp__wire_msg_clear(&m);
    }
    ok(drained, "DRAIN after drain_period");
    struct cp__wire_task late = shell_task(2, "true", 0);
    send_tasks(&f, &late, 1);
    struct res r[2];
    size_t n = results(&f, r, 2, 5);
    is_int(n, 2, "two results after DRAIN");
    ok(by_id(r, n, 1)->ok, "the in-flight task finished");
    like(by_id(r, n, 2)->text, "draining", "a task sent after DRAIN is refused");
    put(&f, &(struct cp__wire_msg){.type = CP_WIRE_SHUTDOWN,
                                   .u.shutdown = {CP_WIRE_SHUTDOWN_DRAINED, NULL}});
    is_int(pool_exit(&f, 5), 0, "SHUTDOWN drained: exit 0");
    fake_close(&f);
}

int main(void)
{
    tap_start(120);
    const char *m = getenv("CP_TEST_TIMEOUT_MULTIPLIER");
    mult = m && atof(m) > 0 ? atof(m) : 1;
    signal(SIGPIPE, SIG_IGN);
    char root[PATH_MAX];
    if (!getcwd(root, sizeof root) || !mkdtemp(tmp)) {
        ok(0, "scratch directory");
        return done_testing();
    }
    const char *build = getenv("CP_BUILD");
    build = build && *build ? build : "build";
    if (build[0] == '/')
        snprintf(worker_bin, sizeof worker_bin, "%s/parsl-worker", build);
    else
        snprintf(worker_bin, sizeof worker_bin, "%s/%s/parsl-worker", root, build);
    ok(access(worker_bin, X_OK) == 0, "parsl-worker is built (%s)", worker_bin);

    char src[PATH_MAX + 32], cmd[4 * PATH_MAX];
    snprintf(src, sizeof src, "%s/apps.c", tmp);
    snprintf(libpath, sizeof libpath, "%s/libapps.so", tmp);
    FILE *fp = fopen(src, "w");
    if (fp) {
        fputs(lib_src, fp);
        fclose(fp);
    }
    const char *cc = getenv("CC");
    snprintf(cmd, sizeof cmd, "%s -std=gnu11 -shared -fPIC -I'%s/include' '%s' -o '%s'",
             cc && *cc ? cc : "cc", root, src, libpath);
    ok(system(cmd) == 0, "the app library builds");
    if (cp__wire_secret_new(secret, NULL) != 0)
        diag("no secret");

    test_registration();
    test_tasks();
    test_silence_and_refusals();
    test_drain();

    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0)
        diag("cleanup failed");
    return done_testing();
}
