/* executors/shell_runner.c — see shell_runner.h.
 *
 * Everything that touches libuv happens on the runner's own thread, because a
 * uv_loop_t is not thread-safe. Other threads only append to a queue under a mutex
 * and poke the loop with uv_async_send, which libuv allows from any thread. The
 * done callbacks run on the loop thread with the mutex released, so a callback may
 * submit again without deadlocking.
 *
 * A request is one allocation (struct job plus copies of its strings). Its handles
 * (the process, and a timer only when a walltime or a kill needs one) are closed
 * after done has run, and the memory is freed in the last close callback, as libuv
 * requires.
 */
#include "executors/shell_runner.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#define DEFAULT_GRACE 2.0
#define TAIL_BYTES 1000
#define TAIL_LINES 5

struct job {
    struct job *next, *prev;    /* the queue (next only), then the running list */
    struct cp__shell_runner *r;
    uv_process_t proc;
    uv_timer_t timer;           /* the walltime, then the grace before SIGKILL */
    int open_handles;
    bool has_proc, has_timer;
    bool term_sent, timed_out, interrupted;
    int pid;
    double t_start;
    struct cp__shell_req req;   /* strings point into this allocation */
};

struct job_list {
    struct job *head, *tail;
};

struct cp__shell_runner {
    uv_loop_t loop;
    uv_async_t wake;
    uv_thread_t thread;
    uv_mutex_t lock;
    /* Under lock. `doomed` holds what kill_all took off the queue: those requests
     * are reported interrupted without ever starting. */
    struct job_list queue, doomed;
    bool kill_pending, stopping, closed;
    /* Loop thread only. */
    struct job *running;
    size_t nrunning;
    const char *shell;
    atomic_size_t active;
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t to_ms(double sec)
{
    if (sec > 1e12)
        sec = 1e12;
    return (uint64_t)(sec * 1000.0 + 0.999);
}

static void list_push(struct job_list *l, struct job *j)
{
    j->next = NULL;
    if (l->tail)
        l->tail->next = j;
    else
        l->head = j;
    l->tail = j;
}

static void list_splice(struct job_list *dst, struct job_list *src)
{
    if (!src->head)
        return;
    if (dst->tail)
        dst->tail->next = src->head;
    else
        dst->head = src->head;
    dst->tail = src->tail;
    *src = (struct job_list){0};
}

/* ------------------------------------------------------------ copying requests */

static char *put(char **cursor, const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *d = memcpy(*cursor, s, n);
    *cursor += n;
    return d;
}

static size_t str_size(const char *s)
{
    return s ? strlen(s) + 1 : 0;
}

static struct job *job_copy(const struct cp__shell_req *req)
{
    size_t nenv = 0, bytes = 0;
    while (req->env && req->env[nenv])
        bytes += str_size(req->env[nenv++]);
    for (size_t i = 0; i < req->noutputs; i++)
        bytes += str_size(req->outputs[i]);
    bytes += str_size(req->cmd) + str_size(req->stdout_path) + str_size(req->stderr_path) +
             str_size(req->cwd);
    size_t nptrs = req->noutputs + (nenv ? nenv + 1 : 0);

    struct job *j = calloc(1, sizeof *j + nptrs * sizeof(char *) + bytes);
    if (!j)
        return NULL;
    const char **ptrs = (const char **)(void *)(j + 1);
    char *cursor = (char *)(ptrs + nptrs);
    j->req = *req;
    j->req.cmd = put(&cursor, req->cmd);
    j->req.stdout_path = put(&cursor, req->stdout_path);
    j->req.stderr_path = put(&cursor, req->stderr_path);
    j->req.cwd = put(&cursor, req->cwd);
    j->req.outputs = req->noutputs ? ptrs : NULL;
    for (size_t i = 0; i < req->noutputs; i++)
        *ptrs++ = put(&cursor, req->outputs[i]);
    /* An empty extra environment is no environment: spawn then skips the copy. */
    j->req.env = nenv ? ptrs : NULL;
    for (size_t i = 0; i < nenv; i++)
        *ptrs++ = put(&cursor, req->env[i]);
    if (nenv)
        *ptrs = NULL;
    if (!(j->req.kill_grace > 0))
        j->req.kill_grace = DEFAULT_GRACE;
    return j;
}

/* ------------------------------------------------------------ finishing */

static void on_handle_closed(uv_handle_t *h)
{
    struct job *j = h->data;
    if (--j->open_handles == 0)
        free(j);
}

/* Reports the result, then lets go of the job. The active count drops only after
 * done has returned, so a caller that waits for zero also waits for the callback,
 * and a callback that submits again never lets the count touch zero. */
static void finish(struct job *j, const struct cp__shell_result *res)
{
    struct cp__shell_runner *r = j->r;
    j->req.done(j->req.arg, res);
    atomic_fetch_sub(&r->active, 1);
    if (j->open_handles == 0) {
        free(j);
        return;
    }
    if (j->has_proc)
        uv_close((uv_handle_t *)&j->proc, on_handle_closed);
    if (j->has_timer)
        uv_close((uv_handle_t *)&j->timer, on_handle_closed);
}

static void finish_unstarted(struct job *j, const char *error)
{
    struct cp__shell_result res = {
        .exit_code = -1, .error = error, .t_start = j->t_start ? j->t_start : now(),
    };
    res.t_end = j->t_start ? now() : res.t_start;
    finish(j, &res);
}

/* The loop ends once the runner is stopping and nothing is left: closing the async
 * handle is what lets uv_run return. `closed` is set under the lock so no thread
 * sends on a handle that is being closed. */
static void maybe_stop(struct cp__shell_runner *r)
{
    uv_mutex_lock(&r->lock);
    bool stop = r->stopping && !r->closed && r->nrunning == 0 && !r->queue.head &&
                !r->doomed.head;
    if (stop)
        r->closed = true;
    uv_mutex_unlock(&r->lock);
    if (stop)
        uv_close((uv_handle_t *)&r->wake, NULL);
}

/* ------------------------------------------------------------ failure text */

static void put_signal_name(FILE *out, int sig)
{
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
    const char *abbrev = sigabbrev_np(sig);
    if (abbrev) {
        fprintf(out, "SIG%s", abbrev);
        return;
    }
#else
    static const struct { int sig; const char *name; } names[] = {
        {SIGHUP, "SIGHUP"}, {SIGINT, "SIGINT"}, {SIGQUIT, "SIGQUIT"}, {SIGILL, "SIGILL"},
        {SIGABRT, "SIGABRT"}, {SIGFPE, "SIGFPE"}, {SIGKILL, "SIGKILL"}, {SIGBUS, "SIGBUS"},
        {SIGSEGV, "SIGSEGV"}, {SIGPIPE, "SIGPIPE"}, {SIGALRM, "SIGALRM"},
        {SIGTERM, "SIGTERM"}, {SIGUSR1, "SIGUSR1"}, {SIGUSR2, "SIGUSR2"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].sig == sig) {
            fputs(names[i].name, out);
            return;
        }
#endif
    fprintf(out, "%d", sig);
}

/* Appends "; stderr: <last lines>". Only the tail is read, since a failing task may
 * have written gigabytes of stderr. */
static void put_stderr_tail(FILE *out, const char *path)
{
    char buf[TAIL_BYTES];
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t n = -1;
    off_t off = 0;
    if (fstat(fd, &st) == 0 && st.st_size > 0) {
        off = st.st_size > TAIL_BYTES ? st.st_size - TAIL_BYTES : 0;
        n = pread(fd, buf, (size_t)(st.st_size - off), off);
    }
    close(fd);
    while (n > 0 && strchr(" \t\r\n", buf[n - 1]) && buf[n - 1])
        n--;
    if (n <= 0)
        return;
    size_t start = (size_t)n, lines = 0;
    while (start > 0 && !(buf[start - 1] == '\n' && ++lines == TAIL_LINES))
        start--;
    /* A tail cut by the byte limit starts mid-line; drop that fragment when a whole
     * line follows it. */
    if (start == 0 && off > 0) {
        char *nl = memchr(buf, '\n', (size_t)n);
        if (nl)
            start = (size_t)(nl + 1 - buf);
    }
    for (size_t i = start; i < (size_t)n; i++)
        if (buf[i] == '\0')
            buf[i] = '?';
    fputs("; stderr: ", out);
    fwrite(buf + start, 1, (size_t)n - start, out);
}

static bool outputs_missing(const struct cp__shell_req *req)
{
    struct stat st;
    for (size_t i = 0; i < req->noutputs; i++)
        if (stat(req->outputs[i], &st) < 0)
            return true;
    return false;
}

static void put_failure(FILE *out, const struct job *j, int64_t status, int sig)
{
    const struct cp__shell_req *req = &j->req;
    struct stat st;
    if (j->timed_out) {
        fprintf(out, "walltime of %g s exceeded", req->walltime);
    } else if (j->interrupted) {
        fputs("interrupted", out);
    } else if (sig) {
        fputs("killed by signal ", out);
        put_signal_name(out, sig);
    } else if (status) {
        fprintf(out, "exit code %d", (int)status);
    } else {
        const char *sep = "missing outputs: ";
        for (size_t i = 0; i < req->noutputs; i++)
            if (stat(req->outputs[i], &st) < 0) {
                fprintf(out, "%s%s", sep, req->outputs[i]);
                sep = ", ";
            }
    }
    put_stderr_tail(out, req->stderr_path);
}

/* ------------------------------------------------------------ running */

static void on_timer(uv_timer_t *t);

/* SIGTERM to the whole group, SIGKILL after the grace. The group id is the shell's
 * pid because the shell was started in a new session. */
static void start_term(struct job *j)
{
    j->term_sent = true;
    kill(-j->pid, SIGTERM);
    if (!j->has_timer) {
        uv_timer_init(&j->r->loop, &j->timer);
        j->timer.data = j;
        j->has_timer = true;
        j->open_handles++;
    }
    uv_timer_start(&j->timer, on_timer, to_ms(j->req.kill_grace), 0);
}

static void on_timer(uv_timer_t *t)
{
    struct job *j = t->data;
    if (j->term_sent) {
        kill(-j->pid, SIGKILL);
        return;
    }
    j->timed_out = true;
    start_term(j);
}

static void interrupt(struct job *j)
{
    if (j->term_sent)
        return;
    j->interrupted = true;
    start_term(j);
}

static void child_exited(uv_process_t *p, int64_t status, int sig)
{
    struct job *j = p->data;
    struct cp__shell_runner *r = j->r;
    if (j->prev)
        j->prev->next = j->next;
    else
        r->running = j->next;
    if (j->next)
        j->next->prev = j->prev;
    r->nrunning--;
    if (j->has_timer)
        uv_timer_stop(&j->timer);
    /* Once a signalled shell is gone its grace is over: whatever it left behind in
     * the group would otherwise outlive the task. The group id stays reserved while
     * any member lives, and pids are handed out cyclically, so with no member left
     * the kill finds nothing rather than a stranger. */
    if (j->term_sent)
        kill(-j->pid, SIGKILL);

    struct cp__shell_result res = {
        .exit_code = sig ? -1 : (int)status, .term_signal = sig,
        .timed_out = j->timed_out, .t_start = j->t_start, .t_end = now(),
    };
    char *text = NULL;
    size_t len = 0;
    res.ok = !j->timed_out && !j->interrupted && !sig && !status && !outputs_missing(&j->req);
    if (!res.ok) {
        FILE *out = open_memstream(&text, &len);
        if (out) {
            put_failure(out, j, status, sig);
            fclose(out);
        }
        res.error = text ? text : "failed (no memory to describe why)";
    }
    finish(j, &res);
    free(text);
    maybe_stop(r);
}

static int mkdir_parents(const char *path)
{
    char *dir = strdup(path);
    int rc = -1;
    if (!dir)
        goto error;
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        for (char *p = dir + 1;; p++) {
            if (*p != '/' && *p != '\0')
                continue;
            char c = *p;
            *p = '\0';
            if (mkdir(dir, 0777) < 0 && errno != EEXIST)
                goto error;
            *p = c;
            if (!c)
                break;
        }
    }
    rc = 0;
error:
    free(dir);
    return rc;
}

/* Tries the open first: the directory usually exists, and mkdir -p costs a system
 * call per path component. O_CLOEXEC keeps the file out of children spawned for
 * other requests; libuv's dup2 onto fd 1/2 clears the flag for this child. */
static int open_output(const char *path, bool append)
{
    int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC);
    int fd = open(path, flags, 0644);
    if (fd < 0 && errno == ENOENT && mkdir_parents(path) == 0)
        fd = open(path, flags, 0644);
    return fd;
}

static bool overridden(const char *entry, const char *const *extra)
{
    size_t len = strcspn(entry, "=");
    for (; *extra; extra++)
        if (strncmp(*extra, entry, len) == 0 && (*extra)[len] == '=')
            return true;
    return false;
}

/* environ with the extra entries appended; a name given in extra replaces the
 * inherited one, since getenv and shells disagree about which duplicate wins. */
static char **merge_env(const char *const *extra)
{
    size_t n = 0, m = 0, k = 0;
    while (environ && environ[n])
        n++;
    while (extra[m])
        m++;
    char **env = malloc((n + m + 1) * sizeof *env);
    if (!env)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (!overridden(environ[i], extra))
            env[k++] = environ[i];
    for (size_t i = 0; i < m; i++)
        env[k++] = (char *)extra[i];
    env[k] = NULL;
    return env;
}

static void start_job(struct cp__shell_runner *r, struct job *j)
{
    const struct cp__shell_req *req = &j->req;
    char msg[1024];
    char **env = NULL;
    int out = -1, err = -1;
    j->t_start = now();

    if ((out = open_output(req->stdout_path, req->stdout_append)) < 0) {
        snprintf(msg, sizeof msg, "cannot start: cannot open stdout file %s: %s",
                 req->stdout_path, uv_strerror(-errno));
        goto error;
    }
    /* One open file for both streams when they share a path, or each would
     * overwrite the other from its own offset. */
    if (strcmp(req->stdout_path, req->stderr_path) == 0)
        err = out;
    else if ((err = open_output(req->stderr_path, req->stderr_append)) < 0) {
        snprintf(msg, sizeof msg, "cannot start: cannot open stderr file %s: %s",
                 req->stderr_path, uv_strerror(-errno));
        goto error;
    }
    if (req->env && !(env = merge_env(req->env))) {
        snprintf(msg, sizeof msg, "cannot start: out of memory");
        goto error;
    }

    char *args[] = {(char *)r->shell, (char *)"-c", (char *)req->cmd, NULL};
    uv_stdio_container_t stdio[3] = {
        {.flags = UV_IGNORE}, /* libuv gives fds 0-2 /dev/null when ignored */
        {.flags = UV_INHERIT_FD, .data.fd = out},
        {.flags = UV_INHERIT_FD, .data.fd = err},
    };
    uv_process_options_t opts = {
        .exit_cb = child_exited, .file = r->shell, .args = args, .env = env,
        .cwd = req->cwd, .flags = UV_PROCESS_DETACHED, .stdio_count = 3, .stdio = stdio,
    };
    j->proc.data = j;
    j->has_proc = true;
    j->open_handles++;
    int rc = uv_spawn(&r->loop, &j->proc, &opts);
    if (rc < 0) {
        snprintf(msg, sizeof msg, "cannot start: %s", uv_strerror(rc));
        goto error;
    }
    free(env);
    if (err != out)
        close(err);
    close(out);

    j->pid = j->proc.pid;
    j->prev = NULL;
    j->next = r->running;
    if (r->running)
        r->running->prev = j;
    r->running = j;
    r->nrunning++;
    if (req->walltime > 0) {
        uv_timer_init(&r->loop, &j->timer);
        j->timer.data = j;
        j->has_timer = true;
        j->open_handles++;
        /* The loop's clock is stale after a long batch of spawns; the walltime
         * counts from now. */
        uv_update_time(&r->loop);
        uv_timer_start(&j->timer, on_timer, to_ms(req->walltime), 0);
    }
    if (req->started)
        req->started(req->arg, j->pid);
    return;

error:
    free(env);
    if (err >= 0 && err != out)
        close(err);
    if (out >= 0)
        close(out);
    finish_unstarted(j, msg);
}

static void on_wake(uv_async_t *a)
{
    struct cp__shell_runner *r = a->data;
    uv_mutex_lock(&r->lock);
    struct job_list todo = r->queue, doomed = r->doomed;
    bool kill_running = r->kill_pending;
    r->queue = r->doomed = (struct job_list){0};
    r->kill_pending = false;
    uv_mutex_unlock(&r->lock);

    for (struct job *j = doomed.head, *next; j; j = next) {
        next = j->next;
        finish_unstarted(j, "interrupted");
    }
    /* Before starting `todo`: those were submitted after the kill_all. */
    if (kill_running)
        for (struct job *j = r->running; j; j = j->next)
            interrupt(j);
    for (struct job *j = todo.head, *next; j; j = next) {
        next = j->next;
        start_job(r, j);
    }
    maybe_stop(r);
}

/* ------------------------------------------------------------ the thread */

static void close_any(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static void loop_main(void *arg)
{
    struct cp__shell_runner *r = arg;
    uv_run(&r->loop, UV_RUN_DEFAULT);
    while (uv_loop_close(&r->loop) == UV_EBUSY) {
        uv_walk(&r->loop, close_any, NULL);
        uv_run(&r->loop, UV_RUN_DEFAULT);
    }
}

struct cp__shell_runner *cp__shell_runner_create(cp_err *err)
{
    bool have_mutex = false, have_loop = false, have_async = false;
    struct cp__shell_runner *r = calloc(1, sizeof *r);
    int rc = UV_ENOMEM;
    if (!r)
        goto error;
    r->shell = access("/bin/bash", X_OK) == 0 ? "/bin/bash" : "/bin/sh";
    atomic_init(&r->active, 0);
    if ((rc = uv_mutex_init(&r->lock)) < 0)
        goto error;
    have_mutex = true;
    if ((rc = uv_loop_init(&r->loop)) < 0)
        goto error;
    have_loop = true;
    if ((rc = uv_async_init(&r->loop, &r->wake, on_wake)) < 0)
        goto error;
    have_async = true;
    r->wake.data = r;

    /* The loop thread takes no signals but SIGCHLD (which libuv needs somewhere),
     * so it never steals one that the program handles on another thread. */
    sigset_t all, old;
    sigfillset(&all);
    sigdelset(&all, SIGCHLD);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = uv_thread_create(&r->thread, loop_main, r);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc < 0)
        goto error;
    return r;

error:;
    int code = rc == UV_ENOMEM ? ENOMEM : -rc;
    if (have_async)
        uv_close((uv_handle_t *)&r->wake, NULL);
    if (have_loop) {
        uv_run(&r->loop, UV_RUN_DEFAULT);
        uv_loop_close(&r->loop);
    }
    if (have_mutex)
        uv_mutex_destroy(&r->lock);
    free(r);
    cp__errf(err, code, "cannot create the shell runner: %s", uv_strerror(rc));
    return NULL;
}

int cp__shell_runner_submit(struct cp__shell_runner *r, const struct cp__shell_req *req,
                            cp_err *err)
{
    if (!r || !req || !req->cmd || !req->stdout_path || !req->stderr_path || !req->done)
        return cp__errf(err, EINVAL,
                        "shell request needs cmd, stdout_path, stderr_path and done");
    for (size_t i = 0; i < req->noutputs; i++)
        if (!req->outputs || !req->outputs[i])
            return cp__errf(err, EINVAL, "shell request has a NULL output path");
    struct job *j = job_copy(req);
    if (!j)
        return cp__errf(err, ENOMEM, "cannot queue the shell command: out of memory");
    j->r = r;

    uv_mutex_lock(&r->lock);
    bool refused = r->stopping;
    if (!refused) {
        list_push(&r->queue, j);
        atomic_fetch_add(&r->active, 1);
        uv_async_send(&r->wake);
    }
    uv_mutex_unlock(&r->lock);
    if (refused) {
        free(j);
        return cp__errf(err, ECANCELED, "the shell runner is shutting down");
    }
    return 0;
}

void cp__shell_runner_kill_all(struct cp__shell_runner *r)
{
    if (!r)
        return;
    uv_mutex_lock(&r->lock);
    if (!r->closed) {
        list_splice(&r->doomed, &r->queue);
        r->kill_pending = true;
        uv_async_send(&r->wake);
    }
    uv_mutex_unlock(&r->lock);
}

size_t cp__shell_runner_active(struct cp__shell_runner *r)
{
    return r ? atomic_load(&r->active) : 0;
}

void cp__shell_runner_destroy(struct cp__shell_runner *r)
{
    if (!r)
        return;
    uv_mutex_lock(&r->lock);
    r->stopping = true;
    if (!r->closed) {
        list_splice(&r->doomed, &r->queue);
        r->kill_pending = true;
        uv_async_send(&r->wake);
    }
    uv_mutex_unlock(&r->lock);
    uv_thread_join(&r->thread);
    uv_mutex_destroy(&r->lock);
    free(r);
}
