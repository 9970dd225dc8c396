/* executors/pool_worker.c — one forked worker of parsl-worker (see pool.h).
 *
 * A worker is deliberately simple and blocking: it reads one task, runs it, writes
 * one result, and reads again. It never has two tasks, so the only thing that can
 * arrive while it runs a shell command is the pool closing the socketpair, which it
 * watches together with the command's pidfd (or, without pidfds, by polling the
 * child every 20 ms). Native apps run on this thread; their walltime is the pool's
 * business (it kills this process and starts another), since a C function cannot
 * be stopped from inside.
 *
 * A SIGTERM (from the pool when it stops, or from the kernel as PDEATHSIG when the
 * pool dies) takes the running shell command's process group with it: the command
 * runs in its own session (common/spawn.h), so nothing else would reach it.
 *
 * The same loop runs in an app host: a worker given a HOSTED task for another
 * program execs that program in its place, and the program's cp_init comes back
 * here through cp__pool_app_host (docs/htex.md, "App hosts").
 */
#include "executors/pool.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/spawn.h"
#include "common/util.h"
#include "executors/app_invoke.h"
#include "executors/shell_runner.h"
#include "executors/shell_spawn.h"

#define KILL_GRACE 2.0

static volatile sig_atomic_t shell_pid;   /* the running command's group, 0: none */

static void on_term(int sig)
{
    (void)sig;
    if (shell_pid > 0)
        kill(-shell_pid, SIGKILL);
    _exit(143);
}

const char *cp__pool_signame(int sig, char *buf, size_t cap)
{
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
    const char *abbrev = sigabbrev_np(sig);
    if (abbrev) {
        snprintf(buf, cap, "SIG%s", abbrev);
        return buf;
    }
#endif
    snprintf(buf, cap, "signal %d", sig);
    return buf;
}

/* ------------------------------------------------------------ framing */

/* The whole of n bytes, or -1. `sock`: fd is the pool's socketpair, written with
 * send(MSG_NOSIGNAL) so a pool that is gone is an error, not a SIGPIPE. */
static int io_all(int fd, void *p, size_t n, bool reading, bool sock)
{
    char *c = p;
    while (n) {
        ssize_t r = reading ? read(fd, c, n)
                  : sock    ? send(fd, c, n, MSG_NOSIGNAL) : write(fd, c, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        c += r, n -= (size_t)r;
    }
    return 0;
}

static int read_all(int fd, void *p, size_t n) { return io_all(fd, p, n, true, false); }
static int write_all(int fd, const void *p, size_t n)
{
    return io_all(fd, (void *)p, n, false, true);
}
static int write_file(int fd, const void *p, size_t n)
{
    return io_all(fd, (void *)p, n, false, false);
}

/* What the pool has sent and this worker has not handled yet. The pool may send
 * several short tasks at once (pool.c, "depth"), so one read takes them all. */
static struct {
    unsigned char *d;
    size_t off, len, cap;
} in;

/* The next whole message from the pool: its body (valid until the next call) and
 * length. NULL when the pool has closed the socketpair. */
static unsigned char *next_msg(int fd, uint32_t *lenp)
{
    for (;;) {
        size_t have = in.len - in.off, need = 4;
        if (have >= 4) {
            uint32_t len;
            memcpy(&len, in.d + in.off, 4);
            if (have - 4 >= len) {
                unsigned char *body = in.d + in.off + 4;
                in.off += 4 + (size_t)len;
                *lenp = len;
                return body;
            }
            need = 4 + (size_t)len;
        }
        if (in.off) {
            memmove(in.d, in.d + in.off, have);
            in.off = 0, in.len = have;
        }
        if (in.cap < need || in.cap - in.len < 4096) {
            size_t cap = need > in.len + 65536 ? need : in.len + 65536;
            unsigned char *d = realloc(in.d, cap);
            if (!d)
                _exit(70);
            in.d = d, in.cap = cap;
        }
        ssize_t r = read(fd, in.d + in.len, in.cap - in.len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return NULL;
        in.len += (size_t)r;
    }
}

/* Packs a RESULTS of one result behind a 4-byte length and writes it. A result
 * that cannot be packed (a value too deep, no memory) is replaced by its failure,
 * so the pool always hears back about the task it sent. */
static void send_result(int fd, struct cp__wire_result *r)
{
    struct cp__wire_buf b = {0};
    struct cp__wire_msg m = {.type = CP_WIRE_RESULTS, .u.results = {r, 1}};
    cp_err err = {0};
    if (cp__wire_buf_reserve(&b, 4, &err) == 0) {
        b.len = 4;
        if (cp__wire_msg_pack(&m, &b, &err) != 0) {
            char text[CP_ERR_TEXT_MAX + 40];
            snprintf(text, sizeof text, "cannot send the result: %s", err.text);
            r->ok = false, r->value = NULL, r->error = text;
            b.len = 4;
            if (cp__wire_msg_pack(&m, &b, &err) != 0)
                _exit(70);
        }
        uint32_t len = (uint32_t)(b.len - 4);
        memcpy(b.data, &len, 4);
        if (write_all(fd, b.data, b.len) != 0)
            _exit(0);     /* the pool is gone */
    } else {
        _exit(70);
    }
    cp__wire_buf_free(&b);
}

/* ------------------------------------------------------------ native apps */

static const cp_app_def *find_app(const struct cp__wire_task *t, void *deflib, char *why,
                                  size_t cap)
{
    void *h = deflib;
    if (t->kind == CP_WIRE_TASK_HOSTED) {
        h = NULL;               /* this program: its apps are in the registry */
    } else if (t->library) {
        dlerror();
        h = dlopen(t->library, RTLD_NOW | RTLD_LOCAL);
        if (!h) {
            const char *e = dlerror();
            snprintf(why, cap, "cannot load library '%s': %s", t->library, e ? e : "unknown");
            return NULL;
        }
    }
    const cp_app_def *d = h ? dlsym(h, t->app) : NULL;
    if (!(d && d->name && strcmp(d->name, t->app) == 0))
        d = cp_app_find(t->app);
    if (!d)
        snprintf(why, cap, "native app '%s' is not known to this worker (%s)", t->app,
                 t->kind == CP_WIRE_TASK_HOSTED ? "not defined in its program"
                 : t->library ? "not in the task's library"
                              : "give parsl-worker --app-library, or name the library in the task");
    else if (d->kind != CP_APP_NATIVE)
        snprintf(why, cap, "'%s' is not a native app (CP_APP)", t->app);
    return d && d->kind == CP_APP_NATIVE ? d : NULL;
}

/* Sets the task's NAME=value entries; saved[i] keeps what each replaced (NULL:
 * unset) for restore_env. */
static char **apply_env(const struct cp__wire_task *t)
{
    char **saved = t->nenv ? calloc(t->nenv, sizeof *saved) : NULL;
    for (size_t i = 0; saved && i < t->nenv; i++) {
        const char *eq = strchr(t->env[i], '=');
        char *name = eq ? strndup(t->env[i], (size_t)(eq - t->env[i])) : NULL;
        if (!name)
            continue;
        const char *old = getenv(name);
        saved[i] = cp__strdup_printf("%s=%s", name, old ? old : "");
        if (saved[i] && !old)
            saved[i][strlen(name)] = '\0';      /* "NAME" alone: was unset */
        setenv(name, eq + 1, 1);
        free(name);
    }
    return saved;
}

static void restore_env(const struct cp__wire_task *t, char **saved)
{
    for (size_t i = 0; saved && i < t->nenv; i++) {
        if (!saved[i])
            continue;
        char *eq = strchr(saved[i], '=');
        if (eq) {
            *eq = '\0';
            setenv(saved[i], eq + 1, 1);
        } else {
            unsetenv(saved[i]);
        }
        free(saved[i]);
    }
    free(saved);
}

static void run_native(int fd, const struct cp__wire_task *t, int rank, void *deflib)
{
    char why[1200];
    struct cp__wire_result r = {.task_id = t->task_id, .try_id = t->try_id,
                                .worker_rank = rank, .t_start = cp__now()};
    const cp_app_def *app = find_app(t, deflib, why, sizeof why);
    if (!app) {
        r.error = why;
        r.t_end = cp__now();
        send_result(fd, &r);
        return;
    }
    char **saved = apply_env(t);
    struct cp__ctx cx;
    cp__ctx_init(&cx, app, t->args, (int)t->nargs, (long)t->task_id, (int)t->try_id);
    cp__app_invoke(&cx);
    r.t_end = cp__now();
    restore_env(t, saved);
    r.ok = !cx.failed;
    if (r.ok)
        r.value = &cx.result;
    else
        r.error = cx.error ? cx.error : "failed";
    send_result(fd, &r);
    cp__value_clear(&cx.result);
    free(cx.error);
    free(cx.shell_cmd);
    cx.error = cx.shell_cmd = NULL;
    cp__ctx_release(&cx);
}

/* ------------------------------------------------------------ shell commands */

/* Waits for the command to end, applying its walltime (TERM to the group, KILL
 * after the grace) and giving up on it when the pool goes away. */
static void wait_shell(int fd, struct cp__shell_child *c, double walltime)
{
    double wall_at = walltime > 0 ? c->t_spawn + walltime : 0, kill_at = 0;
    for (;;) {
        siginfo_t si = {0};
        int rc = waitid(P_PID, (id_t)c->pid, &si, WEXITED | WNOHANG | WNOWAIT);
        if (rc == 0 && si.si_pid)
            return;
        if (rc < 0 && errno != EINTR) {
            c->lost = errno;    /* ECHILD: reaped elsewhere */
            return;
        }
        double now = cp__mono(), next = 0.02;
        if (wall_at > 0 && !c->term_sent) {
            if (now >= wall_at) {
                c->term_sent = c->timed_out = true;
                kill(-c->pid, SIGTERM);
                kill_at = now + KILL_GRACE;
            } else if (c->pidfd >= 0) {
                next = wall_at - now;
            }
        }
        if (kill_at > 0) {
            if (now >= kill_at) {
                kill(-c->pid, SIGKILL);
                kill_at = 0;
            } else {
                next = next < kill_at - now ? next : kill_at - now;
            }
        }
        struct pollfd p[2] = {{.fd = fd, .events = POLLIN}, {.fd = c->pidfd, .events = POLLIN}};
        int ms = c->pidfd >= 0 && !(wall_at > 0 && !c->term_sent) && kill_at == 0
                     ? -1 : (int)(next * 1000) + 1;
        int n = poll(p, 2, ms);
        if (n > 0 && (p[0].revents & (POLLIN | POLLHUP | POLLERR))) {
            /* Nothing but EOF is expected while a task runs: the pool is gone. */
            kill(-c->pid, SIGKILL);
            _exit(0);
        }
    }
}

static void run_shell(int fd, const struct cp__wire_task *t, int rank,
                      struct cp__shell_spawn *sp, bool *sp_ready)
{
    struct cp__wire_result r = {.task_id = t->task_id, .try_id = t->try_id,
                                .worker_rank = rank, .t_start = cp__now()};
    char msg[600];
    int rc = 0;
    if (!*sp_ready && (rc = cp__shell_spawn_init(sp)) == 0)
        *sp_ready = true;
    if (rc != 0) {
        snprintf(msg, sizeof msg, "cannot start: cannot set up spawning: %s", strerror(-rc));
        r.error = msg;
        r.t_end = cp__now();
        send_result(fd, &r);
        return;
    }
    const char **env = calloc(t->nenv + 1, sizeof *env);
    for (size_t i = 0; env && i < t->nenv; i++)
        env[i] = t->env[i];
    struct cp__shell_req req = {
        .cmd = t->cmd,
        .stdout_path = t->stdout_path ? t->stdout_path : "/dev/null",
        .stderr_path = t->stderr_path ? t->stderr_path : "/dev/null",
        .stdout_append = t->stdout_append, .stderr_append = t->stderr_append,
        .walltime = t->walltime, .kill_grace = KILL_GRACE,
        .outputs = t->outputs, .noutputs = t->noutputs,
        .env = t->nenv ? env : NULL,
    };
    struct cp__shell_child c = {.pidfd = -1};
    if (t->nenv && !env) {
        r.error = "cannot start: out of memory";
    } else if (cp__shell_spawn_start(sp, &req, &c, msg, sizeof msg) != 0) {
        r.error = msg;
    } else {
        shell_pid = c.pid;
        /* The pool kills this group itself if this worker dies first. */
        unsigned char started[9] = {5, 0, 0, 0, 'P'};
        int32_t pid = c.pid;
        memcpy(started + 5, &pid, 4);
        if (write_all(fd, started, sizeof started) != 0) {
            kill(-c.pid, SIGKILL);
            _exit(0);
        }
        if (!c.lost)
            wait_shell(fd, &c, t->walltime);
        struct cp__shell_result res;
        char *text = cp__shell_spawn_collect(&c, &req, &res);
        shell_pid = 0;
        if (c.pidfd >= 0)
            close(c.pidfd);
        struct cp_value zero;
        cp__value_int(&zero, 0);
        r.ok = res.ok;
        r.value = res.ok ? &zero : NULL;
        r.error = res.ok ? NULL : res.error;
        r.timed_out = res.timed_out;
        r.t_start = res.t_start;
        r.t_end = res.t_end;
        send_result(fd, &r);
        free(text);
        free(env);
        return;
    }
    free(env);
    r.t_end = cp__now();
    send_result(fd, &r);
}

/* ------------------------------------------------------------ app hosts */

/* Whether path is this very program (compared by inode, so another path to the
 * same file counts). */
static bool is_self(const char *path)
{
    static struct stat self;
    static int known = -1;
    if (known < 0)
        known = stat("/proc/self/exe", &self) == 0;
    struct stat st;
    return known && stat(path, &st) == 0 && st.st_dev == self.st_dev && st.st_ino == self.st_ino;
}

/* A one-letter notice to the pool, with optional text: 'H' "relaunching as the
 * app host <path>", 'A' "the app host is serving". */
static void notice(int fd, char tag, const char *text)
{
    unsigned char b[5 + PATH_MAX];
    size_t n = text ? strnlen(text, PATH_MAX - 1) : 0;
    uint32_t len = (uint32_t)(1 + n);
    memcpy(b, &len, 4);
    b[4] = (unsigned char)tag;
    if (n)
        memcpy(b + 5, text, n);
    if (write_all(fd, b, 5 + n) != 0)
        _exit(0);
}

/* Replaces this worker with the program that defines a HOSTED task's app, run
 * as an app host (cp__pool_app_host): same pid, CPUs, environment and socketpair,
 * so the pool sees the same worker. The task, and whatever else was read off the
 * socketpair after it, travel in a memfd. Returns only when that fails, having
 * reported the task failed. */
static void relaunch(int fd, int rank, const char *app_library, const struct cp__wire_task *t,
                     const unsigned char *body, uint32_t len)
{
    char why[PATH_MAX + 200];
    struct cp__wire_result r = {.task_id = t->task_id, .try_id = t->try_id,
                                .worker_rank = rank, .t_start = cp__now(), .error = why};
    int mfd = memfd_create("cparsl-task", 0);
    if (mfd < 0 || write_file(mfd, &len, 4) != 0 || write_file(mfd, body, len) != 0 ||
        write_file(mfd, in.d + in.off, in.len - in.off) != 0 || lseek(mfd, 0, SEEK_SET) != 0) {
        snprintf(why, sizeof why, "cannot relaunch '%s' as an app host: cannot keep the task: %s",
                 t->library, strerror(errno));
        goto fail;
    }
    int fl = fcntl(fd, F_GETFD);
    char spec[80];
    snprintf(spec, sizeof spec, "fd=%d task=%d rank=%d", fd, mfd, rank);
    if (fl < 0 || fcntl(fd, F_SETFD, fl & ~FD_CLOEXEC) != 0 ||
        setenv(CP_APP_HOST_ENV, spec, 1) != 0 ||
        (app_library ? setenv(CP_APP_HOST_LIBRARY_ENV, app_library, 1)
                     : unsetenv(CP_APP_HOST_LIBRARY_ENV)) != 0) {
        snprintf(why, sizeof why, "cannot relaunch '%s' as an app host: %s", t->library,
                 strerror(errno));
        goto fail;
    }
    notice(fd, 'H', t->library);
    char *argv[] = {(char *)t->library, NULL};
    execv(t->library, argv);
    snprintf(why, sizeof why, "cannot start '%s' as an app host: %s", t->library,
             strerror(errno));
    unsetenv(CP_APP_HOST_ENV);
    unsetenv(CP_APP_HOST_LIBRARY_ENV);
fail:
    if (mfd >= 0)
        close(mfd);
    r.t_end = cp__now();
    send_result(fd, &r);
}

/* ------------------------------------------------------------ the loop */

/* Serves tasks until the pool closes fd. When first_mine, the first message in
 * `in` is the one an app host was relaunched for: its HOSTED program is this one
 * whatever its path says. */
static void serve(int fd, int rank, const char *app_library, bool first_mine)
    __attribute__((noreturn));
static void serve(int fd, int rank, const char *app_library, bool first_mine)
{
    struct sigaction sa = {.sa_handler = on_term};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);

    void *deflib = NULL;
    char libwhy[600] = "";
    if (app_library) {
        dlerror();
        if (!(deflib = dlopen(app_library, RTLD_NOW | RTLD_LOCAL))) {
            const char *e = dlerror();
            snprintf(libwhy, sizeof libwhy, "cannot load --app-library '%s': %s", app_library,
                     e ? e : "unknown error");
        }
    }
    struct cp__shell_spawn sp;
    bool sp_ready = false;
    for (;;) {
        uint32_t len;
        unsigned char *body = next_msg(fd, &len);
        if (!body)
            _exit(0);
        bool mine = first_mine;
        first_mine = false;
        struct cp__wire_msg m;
        cp_err err = {0};
        int rc = cp__wire_msg_decode(CP_WIRE_TASKS, body, len, &m, &err);
        if (rc != 0 || m.u.tasks.n != 1) {
            /* Only a bug in the pool can cause this; without a task id there is
             * no one to tell but the pool's log (our stderr). */
            fprintf(stderr, "parsl-worker %d: bad task from the pool: %s\n", rank,
                    rc ? err.text : "not exactly one task");
            _exit(70);
        }
        const struct cp__wire_task *t = &m.u.tasks.tasks[0];
        if (t->kind == CP_WIRE_TASK_SHELL) {
            run_shell(fd, t, rank, &sp, &sp_ready);
        } else if (t->kind == CP_WIRE_TASK_HOSTED && !mine && !is_self(t->library)) {
            relaunch(fd, rank, app_library, t, body, len);
        } else if (t->kind == CP_WIRE_TASK_NATIVE && app_library && !deflib && !t->library) {
            struct cp__wire_result r = {.task_id = t->task_id, .try_id = t->try_id,
                                        .worker_rank = rank, .error = libwhy,
                                        .t_start = cp__now(), .t_end = cp__now()};
            send_result(fd, &r);
        } else {
            run_native(fd, t, rank, deflib);
        }
        cp__wire_msg_clear(&m);
    }
}

void cp__pool_worker_main(int fd, int rank, const char *app_library)
{
    serve(fd, rank, app_library, false);
}

int cp__pool_app_host(const char *spec, cp_err *err)
{
    int fd = -1, tfd = -1, rank = -1;
    char tail;
    if (!spec || sscanf(spec, "fd=%d task=%d rank=%d%c", &fd, &tfd, &rank, &tail) != 3 ||
        fd < 0 || tfd < 0 || rank < 0 || fcntl(fd, F_GETFD) < 0 || fcntl(tfd, F_GETFD) < 0)
        return cp__errf(err, EINVAL, "%s is set to '%.100s', which is not what a parsl-worker "
                        "sets when it starts an app host; unset it to run this program normally",
                        CP_APP_HOST_ENV, spec ? spec : "");
    const char *lib = getenv(CP_APP_HOST_LIBRARY_ENV);
    char *app_library = lib ? strdup(lib) : NULL;
    /* What the apps start must not take itself for an app host. */
    unsetenv(CP_APP_HOST_ENV);
    unsetenv(CP_APP_HOST_LIBRARY_ENV);
    /* The task it was relaunched for, and what the pool had sent after it. */
    struct stat st;
    if (fstat(tfd, &st) != 0 || st.st_size < 4 ||
        !(in.d = malloc((size_t)st.st_size + 65536)) ||
        read_all(tfd, in.d, (size_t)st.st_size) != 0) {
        fprintf(stderr, "parsl-worker %d: the app host cannot read its first task\n", rank);
        _exit(70);
    }
    in.off = 0, in.len = (size_t)st.st_size, in.cap = (size_t)st.st_size + 65536;
    close(tfd);
    fcntl(fd, F_SETFD, FD_CLOEXEC);     /* the tasks' own children get none of it */
    notice(fd, 'A', NULL);
    serve(fd, rank, app_library, true);
}
