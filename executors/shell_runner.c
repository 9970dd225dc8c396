/* executors/shell_runner.c — see shell_runner.h.
 *
 * Why two paths. Bench B5 (2,000 `/bin/true` tasks on the thread_pool) used to hand
 * each command to the loop thread, which opened its two stream files, forked the
 * whole engine with uv_spawn (blocking until the child had exec'd) and learnt of the
 * exit through SIGCHLD, before a condition variable woke the pool thread again. A
 * profile of that loop thread showed about 0.6 ms per task creating the files (ext4
 * inode allocation), 0.1 ms forking, and everything serialised on one thread while
 * the pool threads only waited. So cp__shell_runner_run does all of it on the thread
 * that wants the result: the files are created there (in parallel across threads),
 * the child comes from posix_spawn (glibc uses clone(CLONE_VM|CLONE_VFORK): no page
 * tables copied, no copy-on-write faults afterwards), and the thread sleeps in poll()
 * on the child's pidfd with the walltime as the timeout, so no other thread is
 * involved. The loop thread stays for what needs one: requests submitted to run
 * concurrently with a callback, and, without pidfds, SIGCHLD.
 *
 * The loop is made only when one of those needs it: by the first submit, or at
 * create when pidfds do not work. libuv 1.44 calls abort() when it cannot grow a
 * loop's watcher array (uv__io_start), and the library promises not to abort when
 * memory runs out, so a runner used only through run() keeps libuv out of it. Such a
 * runner has no loop to wait on in destroy; the condition variable `idle` is what
 * destroy waits on for the runs on other threads, loop or not.
 *
 * Loop side: a uv_loop_t is not thread-safe, so everything that touches libuv happens
 * on the runner's own thread. Other threads only append to a queue under a mutex and
 * poke the loop with uv_async_send. The done callbacks run with the mutex released,
 * so a callback may submit again without deadlocking. A submitted request is one
 * allocation (struct job plus copies of its strings); its handles are closed after
 * done has run and the memory is freed in the last close callback, as libuv requires.
 *
 * Caller side: a run's job lives on the caller's stack and is listed in `callers`
 * under the mutex, with an eventfd through which kill_all wakes it. Only its own
 * thread signals its process group, so no signal can race with the reaping.
 *
 * What is done to one child, starting it and putting its end into words, is in
 * shell_spawn.c; this file decides when and on which thread.
 */
#include "executors/shell_runner.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "common/util.h"
#include "executors/shell_spawn.h"

#define DEFAULT_GRACE 2.0

struct job {
    struct job *next, *prev;    /* the queue (next only), then the running list */
    struct cp__shell_runner *r;
    struct cp__shell_child c;   /* pid, pidfd, times, and how it was signalled */
    bool kill_sent;
    double kill_at;             /* CLOCK_MONOTONIC, the SIGKILL after a run's grace */
    /* Submitted requests, loop thread only. */
    uv_poll_t poll;             /* the pidfd */
    uv_timer_t timer;           /* the walltime, then the grace before SIGKILL */
    int open_handles;
    bool has_poll, has_timer;
    /* Runs on a calling thread. kill_req and exited are set by other threads under
     * the runner's lock, then wakefd is written. watched_pid (under the lock) is what
     * the SIGCHLD watcher tests, once the child exists. */
    int wakefd, wake_err;
    int watched_pid;
    atomic_bool kill_req, exited;
    struct cp__shell_req req;   /* submitted: strings point into this allocation */
};

struct job_list {
    struct job *head, *tail;
};

struct cp__shell_runner {
    uv_loop_t loop;
    uv_async_t wake;
    uv_signal_t sigchld;        /* only without pidfds */
    uv_thread_t thread;
    uv_mutex_t lock;
    uv_cond_t idle;             /* signalled when the last run ends while stopping */
    /* Under lock. `have_loop`: loop, wake, sigchld (without pidfds) and thread exist.
     * `doomed` holds what kill_all took off the queue: those requests are reported
     * interrupted without ever starting. `callers` are the runs in progress on other
     * threads. */
    bool have_loop;
    struct job_list queue, doomed;
    struct job *callers;
    size_t ncallers;
    bool kill_pending, stopping, closed;
    /* Loop thread only. */
    struct job *running;
    size_t nrunning;
    /* Read-only after create. */
    struct cp__shell_spawn sp;
    atomic_size_t active;
};

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

static void link_job(struct job **head, struct job *j)
{
    j->prev = NULL;
    j->next = *head;
    if (*head)
        (*head)->prev = j;
    *head = j;
}

static void unlink_job(struct job **head, struct job *j)
{
    if (j->prev)
        j->prev->next = j->next;
    else
        *head = j->next;
    if (j->next)
        j->next->prev = j->prev;
}

static void wake_fd(int fd)
{
    uint64_t one = 1;
    ssize_t n = write(fd, &one, sizeof one);
    (void)n; /* only EAGAIN, when a wake is already pending */
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
    j->req.env = nenv ? ptrs : NULL;
    for (size_t i = 0; i < nenv; i++)
        *ptrs++ = put(&cursor, req->env[i]);
    if (nenv)
        *ptrs = NULL;
    return j;
}

static void job_init(struct job *j, struct cp__shell_runner *r)
{
    j->r = r;
    j->c.pidfd = j->wakefd = -1;
    atomic_init(&j->kill_req, false);
    atomic_init(&j->exited, false);
    if (!(j->req.kill_grace > 0))
        j->req.kill_grace = DEFAULT_GRACE;
    /* An empty extra environment is no environment: spawn then skips the copy. */
    if (j->req.env && !j->req.env[0])
        j->req.env = NULL;
}

/* ------------------------------------------------------------ results */

static void report_unstarted(struct job *j, const char *error)
{
    struct cp__shell_result res = {
        .exit_code = -1, .error = error, .t_start = j->c.t_start ? j->c.t_start : cp__now(),
    };
    res.t_end = j->c.t_start ? cp__now() : res.t_start;
    j->req.done(j->req.arg, &res);
}

/* For a child that has ended: reaps it, then calls done with what became of it. */
static void report_exit(struct job *j)
{
    struct cp__shell_result res;
    char *text = cp__shell_spawn_collect(&j->c, &j->req, &res);
    j->req.done(j->req.arg, &res);
    free(text);
}

/* Without pidfds: whether the child has ended, leaving it to be reaped. ECHILD
 * counts: reaped elsewhere, it has ended too (cp__shell_spawn_collect then says so). */
static bool has_exited(int pid)
{
    siginfo_t si;
    si.si_pid = 0;
    int rc = waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT);
    return rc == 0 ? si.si_pid == pid : errno == ECHILD;
}

/* ------------------------------------------------------------ runs on the caller */

static void caller_term(struct job *j)
{
    j->c.term_sent = true;
    j->kill_at = cp__mono() + j->req.kill_grace;
    kill(-j->c.pid, SIGTERM);
}

/* Sleeps in poll() until the child ends, applying the walltime, its grace, and any
 * kill_all. Without pidfds the loop thread's SIGCHLD watcher sets `exited` and writes
 * wakefd; checking once here covers an exit before the pid was listed. */
static void caller_wait(struct job *j)
{
    if (j->c.lost)
        return;
    if (j->c.pidfd < 0 && has_exited(j->c.pid))
        atomic_store(&j->exited, true);
    double wall_at = j->req.walltime > 0 ? j->c.t_spawn + j->req.walltime : 0;
    for (;;) {
        if (atomic_load(&j->exited))
            return;
        double t = cp__mono(), next = 0;
        if (!j->c.term_sent && wall_at > 0 && t >= wall_at) {
            j->c.timed_out = true;
            caller_term(j);
        }
        if (j->c.term_sent && !j->kill_sent && t >= j->kill_at) {
            kill(-j->c.pid, SIGKILL);
            j->kill_sent = true;
        }
        if (!j->c.term_sent)
            next = wall_at;
        else if (!j->kill_sent)
            next = j->kill_at;
        uint64_t ms = next > 0 ? to_ms(next - t) : 0;
        int timeout = next <= 0 ? -1 : ms > INT_MAX ? INT_MAX : (int)ms;
        struct pollfd p[2] = {{.fd = j->c.pidfd, .events = POLLIN},
                              {.fd = j->wakefd, .events = POLLIN}};
        int n = poll(p, 2, timeout);
        if (n < 0 && errno != EINTR) /* ENOMEM: try again soon rather than spin */
            nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
        if (n <= 0)
            continue;
        if (p[0].revents)
            return;
        if (p[1].revents) {
            uint64_t v;
            ssize_t n = read(j->wakefd, &v, sizeof v);
            (void)n;
            if (atomic_load(&j->kill_req) && !j->c.term_sent) {
                j->c.interrupted = true;
                caller_term(j);
            }
        }
    }
}

static void run_here(struct cp__shell_runner *r, struct job *j)
{
    char msg[1024], buf[128];
    if (j->wakefd < 0) {
        snprintf(msg, sizeof msg, "cannot start: %s",
                 cp__shell_spawn_errtext(j->wake_err, buf, sizeof buf));
        report_unstarted(j, msg);
    } else if (atomic_load(&j->kill_req)) {
        report_unstarted(j, "interrupted");
    } else if (cp__shell_spawn_start(&r->sp, &j->req, &j->c, msg, sizeof msg) < 0) {
        report_unstarted(j, msg);
    } else {
        if (!r->sp.use_pidfd) {
            uv_mutex_lock(&r->lock);
            j->watched_pid = j->c.pid;
            uv_mutex_unlock(&r->lock);
        }
        if (j->req.started)
            j->req.started(j->req.arg, j->c.pid);
        caller_wait(j);
        report_exit(j);
    }
}

/* ------------------------------------------------------------ submitted requests */

static void maybe_stop(struct cp__shell_runner *r);

static void on_handle_closed(uv_handle_t *h)
{
    struct job *j = h->data;
    if (--j->open_handles == 0) {
        if (j->c.pidfd >= 0)
            close(j->c.pidfd);
        free(j);
    }
}

/* After done: the active count drops only after done has returned, so a caller that
 * waits for zero also waits for the callback, and a callback that submits again never
 * lets the count touch zero. */
static void release(struct job *j)
{
    atomic_fetch_sub(&j->r->active, 1);
    if (j->open_handles == 0) {
        if (j->c.pidfd >= 0)
            close(j->c.pidfd);
        free(j);
        return;
    }
    if (j->has_poll)
        uv_close((uv_handle_t *)&j->poll, on_handle_closed);
    if (j->has_timer)
        uv_close((uv_handle_t *)&j->timer, on_handle_closed);
}

static void on_timer(uv_timer_t *t);

/* SIGTERM to the whole group, SIGKILL after the grace. The group id is the shell's
 * pid because the shell was started in a new session. */
static void start_term(struct job *j)
{
    j->c.term_sent = true;
    kill(-j->c.pid, SIGTERM);
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
    if (j->c.term_sent) {
        kill(-j->c.pid, SIGKILL);
        return;
    }
    j->c.timed_out = true;
    start_term(j);
}

static void interrupt(struct job *j)
{
    if (j->c.term_sent)
        return;
    j->c.interrupted = true;
    start_term(j);
}

static void child_exited(struct job *j)
{
    struct cp__shell_runner *r = j->r;
    unlink_job(&r->running, j);
    r->nrunning--;
    if (j->has_timer)
        uv_timer_stop(&j->timer);
    if (j->has_poll)
        uv_poll_stop(&j->poll);
    report_exit(j);
    release(j);
}

static void on_pidfd(uv_poll_t *p, int status, int events)
{
    (void)status;
    (void)events;
    struct job *j = p->data;
    struct cp__shell_runner *r = j->r;
    child_exited(j);
    maybe_stop(r);
}

/* Without pidfds, one SIGCHLD may stand for several exits, of submitted requests
 * and of runs on other threads alike. */
static void on_sigchld(uv_signal_t *s, int signum)
{
    (void)signum;
    struct cp__shell_runner *r = s->data;
    for (struct job *j = r->running, *next; j; j = next) {
        next = j->next;
        if (has_exited(j->c.pid))
            child_exited(j);
    }
    uv_mutex_lock(&r->lock);
    for (struct job *j = r->callers; j; j = j->next)
        if (j->watched_pid > 0 && !atomic_load(&j->exited) && has_exited(j->watched_pid)) {
            atomic_store(&j->exited, true);
            wake_fd(j->wakefd);
        }
    uv_mutex_unlock(&r->lock);
    maybe_stop(r);
}

static void start_job(struct cp__shell_runner *r, struct job *j)
{
    char msg[1024];
    if (cp__shell_spawn_start(&r->sp, &j->req, &j->c, msg, sizeof msg) < 0) {
        report_unstarted(j, msg);
        release(j);
        return;
    }
    if (j->c.lost) {
        if (j->req.started)
            j->req.started(j->req.arg, j->c.pid);
        report_exit(j);
        release(j);
        return;
    }
    if (j->c.pidfd >= 0) {
        int rc = uv_poll_init(&r->loop, &j->poll, j->c.pidfd);
        if (rc == 0) {
            j->poll.data = j;
            j->has_poll = true;
            j->open_handles++;
            rc = uv_poll_start(&j->poll, UV_READABLE, on_pidfd);
        }
        if (rc < 0) {
            /* Unwatchable: end it now rather than lose it. */
            char buf[128];
            snprintf(msg, sizeof msg, "cannot start: cannot watch the process: %s",
                     cp__shell_spawn_errtext(-rc, buf, sizeof buf));
            cp__shell_spawn_abandon(j->c.pid);
            report_unstarted(j, msg);
            release(j);
            return;
        }
    }
    /* Without pidfds an early exit is still seen: SIGCHLD is handled on this thread,
     * after this returns. */
    link_job(&r->running, j);
    r->nrunning++;
    if (j->req.walltime > 0) {
        uv_timer_init(&r->loop, &j->timer);
        j->timer.data = j;
        j->has_timer = true;
        j->open_handles++;
        /* The loop's clock is stale after a long batch of spawns; the walltime
         * counts from now. */
        uv_update_time(&r->loop);
        uv_timer_start(&j->timer, on_timer, to_ms(j->req.walltime), 0);
    }
    if (j->req.started)
        j->req.started(j->req.arg, j->c.pid);
}

/* The loop ends once the runner is stopping and nothing is left, runs on other
 * threads included (without pidfds they need the SIGCHLD watcher): closing the async
 * handle is what lets uv_run return. `closed` is set under the lock so no thread
 * sends on a handle that is being closed. */
static void maybe_stop(struct cp__shell_runner *r)
{
    uv_mutex_lock(&r->lock);
    bool stop = r->stopping && !r->closed && r->nrunning == 0 && !r->queue.head &&
                !r->doomed.head && r->ncallers == 0;
    if (stop)
        r->closed = true;
    uv_mutex_unlock(&r->lock);
    if (stop)
        uv_close((uv_handle_t *)&r->wake, NULL);
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
        report_unstarted(j, "interrupted");
        release(j);
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

/* Makes the loop, its handles and its thread; under the lock, once. 0, or a negative
 * libuv error with nothing left behind. */
static int start_loop(struct cp__shell_runner *r)
{
    bool have_async = false;
    int rc = uv_loop_init(&r->loop);
    if (rc < 0)
        return rc;
    if ((rc = uv_async_init(&r->loop, &r->wake, on_wake)) < 0)
        goto error;
    have_async = true;
    r->wake.data = r;
    if (!r->sp.use_pidfd) {
        /* Unreferenced: the async handle alone decides when the loop ends. */
        if ((rc = uv_signal_init(&r->loop, &r->sigchld)) < 0 ||
            (rc = uv_signal_start(&r->sigchld, on_sigchld, SIGCHLD)) < 0)
            goto error;
        r->sigchld.data = r;
        uv_unref((uv_handle_t *)&r->sigchld);
    }

    /* The loop thread takes no signals but SIGCHLD (which the fallback needs), so it
     * never steals one that the program handles on another thread. */
    sigset_t all, old;
    sigfillset(&all);
    sigdelset(&all, SIGCHLD);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = uv_thread_create(&r->thread, loop_main, r);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc < 0)
        goto error;
    r->have_loop = true;
    return 0;

error:
    if (have_async)
        uv_close((uv_handle_t *)&r->wake, NULL);
    uv_walk(&r->loop, close_any, NULL);
    uv_run(&r->loop, UV_RUN_DEFAULT);
    uv_loop_close(&r->loop);
    return rc;
}

static int errno_of(int rc)
{
    return rc == UV_ENOMEM ? ENOMEM : -rc;
}

struct cp__shell_runner *cp__shell_runner_create(cp_err *err)
{
    bool have_mutex = false, have_cond = false, have_spawn = false;
    struct cp__shell_runner *r = calloc(1, sizeof *r);
    int rc = UV_ENOMEM;
    if (!r)
        goto error;
    atomic_init(&r->active, 0);
    if ((rc = cp__shell_spawn_init(&r->sp)) < 0)
        goto error;
    have_spawn = true;
    if ((rc = uv_mutex_init(&r->lock)) < 0)
        goto error;
    have_mutex = true;
    if ((rc = uv_cond_init(&r->idle)) < 0)
        goto error;
    have_cond = true;
    /* Without pidfds, run() needs the SIGCHLD watcher too. No other thread has the
     * runner yet; the lock is taken only because start_loop expects it. */
    if (!r->sp.use_pidfd) {
        uv_mutex_lock(&r->lock);
        rc = start_loop(r);
        uv_mutex_unlock(&r->lock);
        if (rc < 0)
            goto error;
    }
    return r;

error:;
    int code = errno_of(rc);
    if (have_cond)
        uv_cond_destroy(&r->idle);
    if (have_mutex)
        uv_mutex_destroy(&r->lock);
    if (have_spawn)
        cp__shell_spawn_fini(&r->sp);
    free(r);
    char buf[128];
    cp__errf(err, code, "cannot create the shell runner: %s",
             cp__shell_spawn_errtext(code, buf, sizeof buf));
    return NULL;
}

static int check_req(struct cp__shell_runner *r, const struct cp__shell_req *req, cp_err *err)
{
    if (!r || !req || !req->cmd || !req->stdout_path || !req->stderr_path || !req->done)
        return cp__errf(err, EINVAL,
                        "shell request needs cmd, stdout_path, stderr_path and done");
    for (size_t i = 0; i < req->noutputs; i++)
        if (!req->outputs || !req->outputs[i])
            return cp__errf(err, EINVAL, "shell request has a NULL output path");
    return 0;
}

int cp__shell_runner_submit(struct cp__shell_runner *r, const struct cp__shell_req *req,
                            cp_err *err)
{
    if (check_req(r, req, err) < 0)
        return -1;
    struct job *j = job_copy(req);
    if (!j)
        return cp__errf(err, ENOMEM, "cannot queue the shell command: out of memory");
    job_init(j, r);

    uv_mutex_lock(&r->lock);
    int rc = r->stopping ? UV_ECANCELED : r->have_loop ? 0 : start_loop(r);
    if (rc == 0) {
        list_push(&r->queue, j);
        atomic_fetch_add(&r->active, 1);
        uv_async_send(&r->wake);
    }
    uv_mutex_unlock(&r->lock);
    if (rc == UV_ECANCELED) {
        free(j);
        return cp__errf(err, ECANCELED, "the shell runner is shutting down");
    }
    if (rc < 0) {
        free(j);
        char buf[128];
        return cp__errf(err, errno_of(rc), "cannot start the shell runner's loop: %s",
                        cp__shell_spawn_errtext(errno_of(rc), buf, sizeof buf));
    }
    return 0;
}

int cp__shell_runner_run(struct cp__shell_runner *r, const struct cp__shell_req *req,
                         cp_err *err)
{
    if (check_req(r, req, err) < 0)
        return -1;
    struct job j = {.req = *req};
    job_init(&j, r);
    /* Made before the job is listed, so kill_all can always write it; a failure is
     * reported through done by run_here. */
    j.wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    j.wake_err = errno;

    uv_mutex_lock(&r->lock);
    bool refused = r->stopping;
    if (!refused) {
        link_job(&r->callers, &j);
        r->ncallers++;
        atomic_fetch_add(&r->active, 1);
    }
    uv_mutex_unlock(&r->lock);
    if (refused) {
        if (j.wakefd >= 0)
            close(j.wakefd);
        return cp__errf(err, ECANCELED, "the shell runner is shutting down");
    }

    run_here(r, &j);

    uv_mutex_lock(&r->lock);
    unlink_job(&r->callers, &j);
    r->ncallers--;
    atomic_fetch_sub(&r->active, 1);
    if (r->stopping && r->ncallers == 0) {
        /* destroy waits for this, and so does the loop's end (maybe_stop). */
        uv_cond_signal(&r->idle);
        if (r->have_loop && !r->closed)
            uv_async_send(&r->wake);
    }
    uv_mutex_unlock(&r->lock);
    if (j.c.pidfd >= 0)
        close(j.c.pidfd);
    if (j.wakefd >= 0)
        close(j.wakefd);
    return 0;
}

/* Under the lock. */
static void kill_everything(struct cp__shell_runner *r)
{
    for (struct job *j = r->callers; j; j = j->next)
        if (j->wakefd >= 0 && !atomic_exchange(&j->kill_req, true))
            wake_fd(j->wakefd);
    if (r->have_loop && !r->closed) {
        list_splice(&r->doomed, &r->queue);
        r->kill_pending = true;
        uv_async_send(&r->wake);
    }
}

void cp__shell_runner_kill_all(struct cp__shell_runner *r)
{
    if (!r)
        return;
    uv_mutex_lock(&r->lock);
    kill_everything(r);
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
    kill_everything(r);
    while (r->ncallers > 0)
        uv_cond_wait(&r->idle, &r->lock);
    bool have_loop = r->have_loop;
    uv_mutex_unlock(&r->lock);
    /* The loop ends once its own requests are done (maybe_stop). */
    if (have_loop)
        uv_thread_join(&r->thread);
    uv_cond_destroy(&r->idle);
    uv_mutex_destroy(&r->lock);
    cp__shell_spawn_fini(&r->sp);
    free(r);
}
