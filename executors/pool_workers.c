/* executors/pool_workers.c — the pool's workers (see pool.h, pool_int.h): forking
 * and pinning them, reading what they send, noticing their end and replacing
 * them, handing them tasks (several at a time to fast ones), and ending them at
 * stop or on INTERRUPT. pool.c is the loop and the interchange side.
 */
#include "executors/pool_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"

/* ------------------------------------------------------------ workers */

static void close_fds_from(int lowfd)
{
#ifdef SYS_close_range
    if (syscall(SYS_close_range, (unsigned)lowfd, ~0u, 0) == 0)
        return;
#endif
    long max = sysconf(_SC_OPEN_MAX);
    for (long fd = lowfd; fd < (max > 0 && max < 65536 ? max : 65536); fd++)
        close((int)fd);
}

/* In the child, right after fork: becomes worker `rank`. */
static void become_worker(struct pool *p, int rank, int fd) __attribute__((noreturn));
static void become_worker(struct pool *p, int rank, int fd)
{
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != p->self_pid)
        _exit(0);
    struct sigaction dfl = {.sa_handler = SIG_DFL};
    sigemptyset(&dfl.sa_mask);
    int sigs[] = {SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGPIPE};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigaction(sigs[i], &dfl, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    cp__log_close();
    /* Tasks run in this process: leave them no session keys to find. */
    cp__wire_conn_destroy(p->conn);
    p->conn = NULL;
    if (dup2(fd, 3) < 0)
        _exit(70);
    close_fds_from(4);
    if (cp__pool_layout_apply(p->layout, rank, NULL) != 0) {
        fprintf(stderr, "parsl-worker %d: cannot pin to its CPUs: %s\n", rank, strerror(errno));
        _exit(71);
    }
    for (char *const *e = cp__pool_layout_env(p->layout, rank); e && *e; e++) {
        const char *eq = strchr(*e, '=');
        char name[128];
        if (eq && (size_t)(eq - *e) < sizeof name) {
            memcpy(name, *e, (size_t)(eq - *e));
            name[eq - *e] = '\0';
            setenv(name, eq + 1, 1);
        }
    }
    cp__pool_worker_main(3, rank, p->o->app_library);
}

int cp__pool_spawn_worker(struct pool *p, struct worker *w)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        CP_ERROR(SUBSYS, "worker %d: socketpair: %s", w->rank, strerror(errno));
        return -1;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        CP_ERROR(SUBSYS, "worker %d: fork: %s", w->rank, strerror(errno));
        close(sv[0]);
        close(sv[1]);
        return -1;
    }
    if (pid == 0) {
        close(sv[0]);
        become_worker(p, w->rank, sv[1]);
    }
    close(sv[1]);
    w->pid = pid;
    w->fd = sv[0];
    w->started = cp__mono();
    w->respawn_at = 0;
    CP_DEBUG(SUBSYS, "worker %d started: pid %d", w->rank, (int)pid);
    return 0;
}

/* Worker w sent a whole message: the result of its task. */
static void worker_result(struct pool *p, struct worker *w, const unsigned char *body, size_t len)
{
    if (w->cur && len == 5 && body[0] == 'P') {      /* "started a shell command" */
        int32_t pid;
        memcpy(&pid, body + 1, 4);
        w->shell_pgid = pid > 1 ? pid : 0;
        return;
    }
    if (w->interrupted && !w->cur) {
        /* The end of a task INTERRUPT has already failed: it stopped in time. */
        if (len >= 2 && body[0] == 0x91 && body[1] == 0x91) {
            w->interrupted = false;
            w->kill_at = 0;
            w->shell_pgid = 0;
        }
        return;
    }
    if (w->cur && len >= 1 && body[0] == 'H') {     /* "relaunching as an app host" */
        free(w->host);
        w->host = strndup((const char *)body + 1, len - 1);
        CP_DEBUG(SUBSYS, "worker %d relaunches as the app host %s", w->rank,
                 w->host ? w->host : "?");
        return;
    }
    if (len == 1 && body[0] == 'A') {               /* "the app host serves" */
        free(w->host);
        w->host = NULL;
        return;
    }
    if (!w->cur || len < 3 || body[0] != 0x91 || body[1] != 0x91) {
        CP_ERROR(SUBSYS, "worker %d sent an unexpected message (%zu bytes); replacing it",
                 w->rank, len);
        kill(-w->pid, SIGKILL);
        return;
    }
    if (len - 2 > CP_WIRE_CAP_BATCH - BATCH_HDR) {
        char text[160];
        snprintf(text, sizeof text, "result of %zu bytes is over the wire's RESULTS cap of %u "
                 "bytes", len, CP_WIRE_CAP_BATCH);
        cp__pool_add_result(p, w->cur->task_id, w->cur->try_id, text, false, w->t_dispatch, w->rank);
    } else {
        cp__pool_add_record(p, body + 2, len - 2);
    }
    cp__pool_res_end(p, w);
    /* Results come in the order the worker got its tasks: the next one starts now. */
    double now = cp__now(), took = now - w->t_dispatch;
    w->ewma = w->ewma < 0 ? took : w->ewma + (took - w->ewma) / 8;
    struct qtask *next = w->cur->next;
    free(w->cur);
    w->cur = next;
    if (!next)
        w->last = NULL;
    w->nsent--;
    w->t_dispatch = now;
    w->deadline = 0;
    w->shell_pgid = 0;
    free(w->host);
    w->host = NULL;
    if (next)
        cp__pool_res_begin(p, w);
}

/* Handles the whole messages at the start of w->in and keeps the rest. */
static void worker_messages(struct pool *p, struct worker *w)
{
    size_t off = 0;
    while (w->inlen - off >= 4) {
        uint32_t len;
        memcpy(&len, w->in + off, 4);
        if (w->inlen - off - 4 < len)
            break;
        worker_result(p, w, w->in + off + 4, len);
        off += 4 + (size_t)len;
    }
    if (off) {
        memmove(w->in, w->in + off, w->inlen - off);
        w->inlen -= off;
    }
    if (!w->inlen && w->incap > 65536) {
        free(w->in);
        w->in = NULL, w->incap = 0;
    }
}

/* Reads what worker w has written; false once its end is closed. */
bool cp__pool_worker_read(struct pool *p, struct worker *w)
{
    for (;;) {
        /* Room for the rest of the message under way (its length is known once 4
         * bytes are in), and at least RX_CHUNK. */
        size_t need = RX_CHUNK;
        if (w->inlen >= 4) {
            uint32_t len;
            memcpy(&len, w->in, 4);
            if ((size_t)len + 4 > need)
                need = (size_t)len + 4;
        }
        if (w->incap < need) {
            unsigned char *in = realloc(w->in, need);
            if (!in) {
                cp__pool_fail(p, "out of memory reading worker %d", w->rank);
                return false;
            }
            w->in = in, w->incap = need;
        }
        if (w->inlen == w->incap)
            return true;        /* cannot happen: need > inlen whenever incomplete */
        ssize_t n = recv(w->fd, w->in + w->inlen, w->incap - w->inlen, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return true;
        if (n <= 0)
            return false;
        w->inlen += (size_t)n;
        worker_messages(p, w);
    }
}

void cp__pool_worker_closed(struct worker *w)
{
    if (w->fd >= 0)
        close(w->fd);
    w->fd = -1;
    w->inlen = 0;
}

/* Worker w (pid) has ended with status: its try fails, and it is replaced. */
static void worker_reaped(struct pool *p, struct worker *w, int status)
{
    if (w->fd >= 0) {
        (void)cp__pool_worker_read(p, w);        /* a result written just before it ended */
        cp__pool_worker_closed(w);
    }
    char why[PATH_MAX + 300], how[60], sig[40];
    if (WIFSIGNALED(status))
        snprintf(how, sizeof how, "%s", cp__pool_signame(WTERMSIG(status), sig, sizeof sig));
    else
        snprintf(how, sizeof how, "exit code %d", WEXITSTATUS(status));
    if (w->host)
        /* Most likely its main() did other work before cp_init(), or never calls it. */
        snprintf(why, sizeof why, "app host '%s' ended (%s) before it served the task: its "
                 "main() must call cp_init() before anything else", w->host, how);
    else
        snprintf(why, sizeof why, "worker lost: %s", how);
    CP_WARN(SUBSYS, "worker %d (pid %d) ended: %s%s", w->rank, w->pid, w->host ? why : how,
            w->cur ? " while running a task" : "");
    free(w->host);
    w->host = NULL;
    w->pid = 0;
    if (w->shell_pgid)          /* its shell command would otherwise run on, orphaned */
        kill(-w->shell_pgid, SIGKILL);
    w->shell_pgid = 0;
    if (w->cur) {
        if (w->wall_killed) {
            char text[120];
            snprintf(text, sizeof text, "walltime of %g s exceeded", w->cur->walltime);
            cp__pool_add_result(p, w->cur->task_id, w->cur->try_id, text, true, w->t_dispatch, w->rank);
        } else {
            cp__pool_add_result(p, w->cur->task_id, w->cur->try_id, why, false, w->t_dispatch, -1);
        }
        /* Tasks sent behind it never started: back to the front of the queue. */
        struct qtask *rest = w->cur->next;
        free(w->cur);
        cp__pool_requeue(p, rest);
        w->cur = w->last = NULL;
        w->nsent = 0;
        w->ewma = -1;
        w->respawn_at = cp__mono();
    } else {
        /* A worker that dies idle right after its start would die again: wait. */
        double now = cp__mono();
        w->respawn_at = now - w->started < RESPAWN_DELAY && !w->interrupted
                            ? now + RESPAWN_DELAY : now;
    }
    w->interrupted = false;
    w->kill_at = 0;
    w->wall_killed = false;
    w->deadline = 0;
}

void cp__pool_reap(struct pool *p)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
        for (int i = 0; i < p->nworkers; i++)
            if (p->workers[i].pid == pid) {
                worker_reaped(p, &p->workers[i], status);
                break;
            }
}

/* A task another may be sent behind: native, no walltime (the pool times only
 * the task a worker runs), and small enough that the socketpair's buffer takes
 * several without blocking. */
static bool plain(const struct qtask *t)
{
    return t->kind != CP_WIRE_TASK_SHELL && t->walltime <= 0 && t->len <= DEPTH_TASK_MAX;
}

/* How many more tasks worker w may be sent now. An idle worker takes one task
 * of any kind. A worker whose recent tasks took under DEPTH_FAST may also hold
 * up to DEPTH_MAX plain ones: it reads them in one go and never sleeps between
 * them, which is most of the cost of a short task. Longer tasks get one at a
 * time, so none waits behind a long one for long. */
static int room(const struct worker *w)
{
    /* A worker an INTERRUPT is ending takes nothing until it has ended or
     * reported that its command did. */
    if (!w->pid || w->fd < 0 || w->kill_at > 0)
        return 0;
    if (!w->cur)
        return 1;
    if (w->ewma < 0 || w->ewma >= DEPTH_FAST || !plain(w->cur))
        return 0;
    return DEPTH_MAX - w->nsent;
}

/* Sends the queue's head tasks to workers with room: idle workers first, one
 * task each, then the fast ones share what is left, each in one sendmsg. */
void cp__pool_dispatch(struct pool *p)
{
    for (int pass = 0; pass < 2 && p->qhead; pass++) {
        int eligible = 0;
        for (int i = 0; i < p->nworkers; i++)
            eligible += pass == 0 ? room(&p->workers[i]) > 0 && !p->workers[i].cur
                                  : room(&p->workers[i]) > 0;
        if (!eligible)
            continue;
        size_t share = (p->nqueued + (size_t)eligible - 1) / (size_t)eligible;
        for (int i = 0; i < p->nworkers && p->qhead; i++) {
            struct worker *w = &p->workers[i];
            int r = room(w);
            if (r <= 0 || (pass == 0 && w->cur))
                continue;
            if (pass == 0)
                r = 1;
            else if ((size_t)r > share)
                r = (int)share;
            struct qtask *batch[DEPTH_MAX];
            struct iovec iov[DEPTH_MAX];
            int nb = 0;
            while (nb < r && p->qhead && (nb == 0 && !w->cur ? true : plain(p->qhead))) {
                if (nb > 0 && !plain(batch[0]))
                    break;
                batch[nb] = cp__pool_q_pop(p);
                iov[nb] = (struct iovec){batch[nb]->data, batch[nb]->len};
                nb++;
            }
            if (!nb)
                continue;
            /* Blocking send: an idle worker is waiting in read(), and a busy one has
             * room for a few small tasks; a worker that died gives EPIPE. */
            struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)nb};
            bool lost = false;
            while (mh.msg_iovlen) {
                ssize_t n = sendmsg(w->fd, &mh, MSG_NOSIGNAL);
                if (n < 0 && errno == EINTR)
                    continue;
                if (n <= 0) {
                    lost = true;
                    break;
                }
                while (mh.msg_iovlen && (size_t)n >= mh.msg_iov->iov_len) {
                    n -= (ssize_t)mh.msg_iov->iov_len;
                    mh.msg_iov++, mh.msg_iovlen--;
                }
                if (mh.msg_iovlen && n > 0) {
                    mh.msg_iov->iov_base = (char *)mh.msg_iov->iov_base + n;
                    mh.msg_iov->iov_len -= (size_t)n;
                }
            }
            if (lost) {
                /* It got none of them whole that it will ever run; SIGCHLD follows. */
                for (int k = nb - 1; k >= 0; k--)
                    cp__pool_q_push_front(p, batch[k]);
                cp__pool_worker_closed(w);
                continue;
            }
            double now = cp__now();
            for (int k = 0; k < nb; k++) {
                batch[k]->next = NULL;
                if (w->last)
                    w->last->next = batch[k];
                else
                    w->cur = batch[k];
                w->last = batch[k];
                w->nsent++;
            }
            if (w->nsent == nb) {           /* it was idle: the first one starts now */
                w->t_dispatch = now;
                cp__pool_res_begin(p, w);
                double wall = w->cur->walltime;
                if (wall > 0 && w->cur->kind == CP_WIRE_TASK_SHELL)
                    wall += 2.0 + SHELL_BACKSTOP;
                w->deadline = wall > 0 ? cp__mono() + wall : 0;
            }
        }
    }
}

/* Ends every worker: TERM to each group (a worker takes its shell command's group
 * with it), KILL to what is left after STOP_GRACE, and reaps them all. */
void cp__pool_stop_workers(struct pool *p)
{
    int alive = 0;
    for (int i = 0; i < p->nworkers; i++)
        if (p->workers[i].pid) {
            kill(-p->workers[i].pid, SIGTERM);
            kill(p->workers[i].pid, SIGTERM);
            alive++;
        }
    double until = cp__mono() + STOP_GRACE;
    while (alive) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid < 0)
            break;
        if (pid == 0) {
            if (cp__mono() >= until)
                break;
            usleep(5000);
            continue;
        }
        for (int i = 0; i < p->nworkers; i++)
            if (p->workers[i].pid == pid)
                p->workers[i].pid = 0, alive--;
    }
    for (int i = 0; i < p->nworkers; i++) {
        struct worker *w = &p->workers[i];
        if (w->pid) {
            kill(-w->pid, SIGKILL);
            kill(w->pid, SIGKILL);
            waitpid(w->pid, NULL, 0);
            w->pid = 0;
        }
        if (w->shell_pgid)
            kill(-w->shell_pgid, SIGKILL);
        w->shell_pgid = 0;
        cp__pool_worker_closed(w);
        for (struct qtask *t = w->cur, *nx; t; t = nx) {
            nx = t->next;
            free(t);
        }
        free(w->in);
        free(w->host);
        w->cur = w->last = NULL, w->in = NULL, w->host = NULL;
        w->nsent = 0;
    }
}

/* ------------------------------------------------------------ the interchange */

/* INTERRUPT: every try here fails now with the reason. A running shell command's
 * group gets TERM (its worker reports its end, which is then dropped, and goes
 * on); a native app can only be stopped by ending its worker (TERM), which is
 * replaced. Whatever is still there after STOP_GRACE gets KILL. */
void cp__pool_interrupt(struct pool *p, const char *reason)
{
    char text[1000];
    snprintf(text, sizeof text, "interrupted: %s", reason);
    size_t n = 0;
    for (struct qtask *t; (t = cp__pool_q_pop(p)); n++) {
        cp__pool_add_result(p, t->task_id, t->try_id, text, false, cp__now(), -1);
        free(t);
    }
    for (int i = 0; i < p->nworkers; i++) {
        struct worker *w = &p->workers[i];
        if (!w->cur)
            continue;
        bool shell = w->cur->kind == CP_WIRE_TASK_SHELL;
        for (struct qtask *t = w->cur, *nx; t; t = nx, n++) {
            nx = t->next;
            cp__pool_add_result(p, t->task_id, t->try_id, text, false, w->t_dispatch, w->rank);
            free(t);
        }
        w->cur = w->last = NULL;
        w->nsent = 0;
        w->deadline = 0;
        w->interrupted = true;
        /* A worker's TERM handler takes its command's group with it, so a
         * command whose start has not been reported yet is not left behind. */
        if (shell && w->shell_pgid)
            kill(-w->shell_pgid, SIGTERM);
        else
            kill(w->pid, SIGTERM);
        w->kill_at = cp__mono() + STOP_GRACE;
    }
    if (n)
        CP_INFO(SUBSYS, "INTERRUPT (%s): %zu tries failed", reason, n);
}
