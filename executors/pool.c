/* executors/pool.c — the parsl-worker pool process (see pool.h).
 *
 * Event loop: poll(2), not libuv. The pool watches one TCP connection, one
 * socketpair per worker and a self-pipe for signals, and forks its workers from
 * inside the loop, replacing dead ones. libuv would add a loop structure, its
 * signal machinery and uv_loop_fork() handling in every child for no gain at this
 * descriptor count; poll keeps the pool small (the goal is <= 3 MB RSS) and the
 * forked worker free of any inherited loop state. Timers are deadlines compared
 * after each wake-up (heartbeat send, heartbeat silence, native walltimes, drain,
 * worker respawn back-off), and poll's timeout is the nearest of them.
 *
 * Each wake-up handles everything that is ready, then flushes the results gathered
 * meanwhile as one RESULTS frame: a lone task's result goes out in the same
 * wake-up that read it, and a burst is batched by itself.
 */
#include "executors/pool_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"

/* ------------------------------------------------------------ small helpers */

void cp__pool_fail(struct pool *p, const char *fmt, ...)
{
    va_list ap;
    char text[1200];
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    fprintf(stderr, "parsl-worker: %s\n", text);
    CP_ERROR(SUBSYS, "%s", text);
    if (p->state != ST_STOPPING)
        p->exit_code = CP_POOL_EXIT_FAIL;
    p->state = ST_STOPPING;
}

static void stop_ok(struct pool *p, const char *why)
{
    CP_INFO(SUBSYS, "stopping: %s", why);
    if (p->state != ST_STOPPING)
        p->exit_code = CP_POOL_EXIT_OK;
    p->state = ST_STOPPING;
}

static int running_count(const struct pool *p)
{
    int n = 0;
    for (int i = 0; i < p->nworkers; i++)
        n += p->workers[i].nsent;
    return n;
}

/* Sends what is buffered for the interchange, as much as the socket takes. */
static void flush_out(struct pool *p)
{
    while (p->sock >= 0 && p->out_off < p->out.len) {
        ssize_t n = send(p->sock, p->out.data + p->out_off, p->out.len - p->out_off,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            if (p->draining)
                stop_ok(p, "connection closed after DRAIN");
            else
                cp__pool_fail(p, "lost the interchange: %s", strerror(errno));
            p->out_off = p->out.len = 0;
            return;
        }
        p->out_off += (size_t)n;
    }
    if (p->out_off == p->out.len)
        p->out_off = p->out.len = 0;
}

void cp__pool_send(struct pool *p, const struct cp__wire_msg *m)
{
    cp_err err = {0};
    if (cp__wire_conn_send(p->conn, m, &p->out, &err) != 0)
        cp__pool_fail(p, "cannot send %s: %s", cp__wire_type_name(m->type), err.text);
}

static void send_heartbeat(struct pool *p)
{
    int64_t running = running_count(p), queued = (int64_t)p->nqueued;
    int64_t free_slots = p->held || p->draining ? 0 : p->max_capacity - running - queued;
    struct cp__wire_msg m = {.type = CP_WIRE_HEARTBEAT,
                             .u.heartbeat = {free_slots < 0 ? 0 : free_slots, running, queued}};
    cp__pool_send(p, &m);
    p->next_hb = cp__mono() + p->hb_period;
}

/* ------------------------------------------------------------ results */

static void flush_batch(struct pool *p)
{
    if (!p->nbatch || p->state == ST_HANDSHAKE)
        return;
    /* The body is [records]: 0x91, then the records' array header, written
     * right-aligned into the room left before them. */
    unsigned char h[BATCH_HDR];
    size_t hl;
    uint32_t n = (uint32_t)p->nbatch;
    if (n < 16) {
        h[0] = 0x91, h[1] = (unsigned char)(0x90 | n), hl = 2;
    } else if (n < 65536) {
        h[0] = 0x91, h[1] = 0xdc, h[2] = (unsigned char)(n >> 8), h[3] = (unsigned char)n, hl = 4;
    } else {
        h[0] = 0x91, h[1] = 0xdd, h[2] = (unsigned char)(n >> 24), h[3] = (unsigned char)(n >> 16);
        h[4] = (unsigned char)(n >> 8), h[5] = (unsigned char)n, hl = 6;
    }
    unsigned char *body = (unsigned char *)p->batch.data + BATCH_HDR - hl;
    memcpy(body, h, hl);
    cp_err err = {0};
    if (cp__wire_conn_write(p->conn, CP_WIRE_RESULTS, body, p->batch.len - BATCH_HDR + hl,
                            &p->out, &err) != 0)
        cp__pool_fail(p, "cannot send RESULTS: %s", err.text);
    p->nbatch = 0;
    p->batch.len = BATCH_HDR;
    if (p->batch.cap > (1u << 20)) {
        cp__wire_buf_free(&p->batch);
        p->batch = (struct cp__wire_buf){0};
    }
}

void cp__pool_add_record(struct pool *p, const void *rec, size_t len)
{
    cp_err err = {0};
    if (p->batch.len + len > BATCH_SOFT_CAP && p->nbatch)
        flush_batch(p);
    if (p->batch.len < BATCH_HDR) {
        if (cp__wire_buf_reserve(&p->batch, BATCH_HDR, &err) != 0)
            goto nomem;
        p->batch.len = BATCH_HDR;
    }
    if (cp__wire_buf_reserve(&p->batch, len, &err) != 0)
        goto nomem;
    memcpy(p->batch.data + p->batch.len, rec, len);
    p->batch.len += len;
    p->nbatch++;
    return;
nomem:
    cp__pool_fail(p, "out of memory for results: %s", err.text);
}

/* A result the pool itself reports (worker lost, walltime, refused). */
void cp__pool_add_result(struct pool *p, int64_t task_id, int64_t try_id, const char *error,
                         bool timed_out, double t_start, int rank)
{
    struct cp__wire_result r = {.task_id = task_id, .try_id = try_id, .error = error,
                                .timed_out = timed_out, .t_start = t_start,
                                .t_end = cp__now(), .worker_rank = rank};
    struct cp__wire_msg m = {.type = CP_WIRE_RESULTS, .u.results = {&r, 1}};
    struct cp__wire_buf b = {0};
    cp_err err = {0};
    if (cp__wire_msg_pack(&m, &b, &err) != 0)
        cp__pool_fail(p, "cannot pack a result: %s", err.text);
    else
        cp__pool_add_record(p, b.data + 2, b.len - 2);     /* strip [[ */
    cp__wire_buf_free(&b);
}

/* ------------------------------------------------------------ the queue */

static void q_insert(struct pool *p, struct qtask *t)
{
    /* Lower priority first, then lower task id. Batches arrive in that order, so
     * the scan from the tail is usually one step. */
    struct qtask *at = p->qtail;
    while (at && (at->priority > t->priority ||
                  (at->priority == t->priority && at->task_id > t->task_id)))
        at = at->prev;
    t->prev = at;
    t->next = at ? at->next : p->qhead;
    if (t->next)
        t->next->prev = t;
    else
        p->qtail = t;
    if (at)
        at->next = t;
    else
        p->qhead = t;
    p->nqueued++;
}

struct qtask *cp__pool_q_pop(struct pool *p)
{
    struct qtask *t = p->qhead;
    if (!t)
        return NULL;
    p->qhead = t->next;
    if (p->qhead)
        p->qhead->prev = NULL;
    else
        p->qtail = NULL;
    p->nqueued--;
    t->prev = t->next = NULL;
    return t;
}

void cp__pool_q_push_front(struct pool *p, struct qtask *t)
{
    t->prev = NULL;
    t->next = p->qhead;
    if (p->qhead)
        p->qhead->prev = t;
    else
        p->qtail = t;
    p->qhead = t;
    p->nqueued++;
}

/* Puts a list of tasks (linked by next, in order) back at the queue's front. */
void cp__pool_requeue(struct pool *p, struct qtask *list)
{
    struct qtask *rev = NULL;
    while (list) {
        struct qtask *nx = list->next;
        list->next = rev;
        rev = list;
        list = nx;
    }
    while (rev) {
        struct qtask *nx = rev->next;
        cp__pool_q_push_front(p, rev);
        rev = nx;
    }
}

static void take_tasks(struct pool *p, const struct cp__wire_tasks *ts)
{
    for (size_t i = 0; i < ts->n; i++) {
        const struct cp__wire_task *t = &ts->tasks[i];
        if (p->held || p->draining || p->state != ST_READY) {
            cp__pool_add_result(p, t->task_id, t->try_id,
                       p->draining ? "refused: this pool is draining (drain_period reached)"
                                   : "refused: this pool is held (scale-in) and takes no new tasks",
                       false, cp__now(), -1);
            continue;
        }
        struct cp__wire_msg one = {.type = CP_WIRE_TASKS,
                                   .u.tasks = {(struct cp__wire_task *)t, 1}};
        struct cp__wire_buf b = {0};
        cp_err err = {0};
        struct qtask *q = NULL;
        if (cp__wire_buf_reserve(&b, 4, &err) == 0) {
            b.len = 4;
            if (cp__wire_msg_pack(&one, &b, &err) == 0)
                q = malloc(sizeof *q + b.len);
        }
        if (!q) {
            cp__pool_add_result(p, t->task_id, t->try_id,
                       err.text[0] ? err.text : "out of memory queueing the task", false,
                       cp__now(), -1);
            cp__wire_buf_free(&b);
            continue;
        }
        uint32_t len = (uint32_t)(b.len - 4);
        memcpy(b.data, &len, 4);
        *q = (struct qtask){.task_id = t->task_id, .try_id = t->try_id,
                            .priority = t->priority, .kind = (int)t->kind,
                            .walltime = t->walltime, .len = b.len};
        memcpy(q->data, b.data, b.len);
        cp__wire_buf_free(&b);
        q_insert(p, q);
    }
}

/* ------------------------------------------------------------ the interchange */

static void on_welcome(struct pool *p, const struct cp__wire_welcome *wm)
{
    p->hb_period = wm->heartbeat_period;
    p->hb_threshold = wm->heartbeat_threshold;
    p->state = ST_READY;
    double now = cp__mono();
    p->next_hb = now + p->hb_period;
    CP_INFO(SUBSYS, "registered with the interchange (%s%s): heartbeat %g s, threshold %g s",
            wm->software ? wm->software : "?", cp__wire_conn_sealed(p->conn) ? ", sealed" : "",
            p->hb_period, p->hb_threshold);
    if (p->o->drain_period > 0)
        p->drain_at = now + p->o->drain_period;
    for (int i = 0; i < p->nworkers; i++)
        if (cp__pool_spawn_worker(p, &p->workers[i]) != 0)
            p->workers[i].respawn_at = now + RESPAWN_DELAY;
}

static void send_register(struct pool *p)
{
    size_t nacc = 0;
    const char **acc = p->nworkers ? calloc((size_t)p->nworkers, sizeof *acc) : NULL;
    for (int i = 0; acc && i < p->nworkers; i++)
        if (cp__pool_layout_accelerator(p->layout, i))
            acc[nacc++] = cp__pool_layout_accelerator(p->layout, i);
    double mem = p->facts.mem_total_gb >= 0 ? p->facts.mem_total_gb : 0;
    const char *memenv = getenv("PARSL_MEMORY_GB");
    if (memenv && *memenv && p->facts.mem_gb > 0)
        mem = p->facts.mem_gb;
    struct cp__wire_msg m = {.type = CP_WIRE_REGISTER, .u.reg = {
        .pool_id = p->pool_id, .hostname = p->hostname, .block_id = p->o->block_id,
        .pid = p->self_pid, .cores = p->facts.cores, .memory_gb = mem,
        .accelerators = acc, .naccelerators = nacc, .worker_count = p->nworkers,
        .max_capacity = p->max_capacity, .software = SOFTWARE}};
    cp__pool_send(p, &m);
    free(acc);
}

static void on_msg(struct pool *p, struct cp__wire_msg *m)
{
    p->last_rx = cp__mono();
    switch (m->type) {
    case CP_WIRE_SERVER_HELLO:
        send_register(p);
        break;
    case CP_WIRE_WELCOME:
        on_welcome(p, &m->u.welcome);
        break;
    case CP_WIRE_REFUSE:
        cp__pool_fail(p, "refused by the interchange: %s",
                 m->u.refuse.reason ? m->u.refuse.reason : "(no reason given)");
        break;
    case CP_WIRE_TASKS:
        take_tasks(p, &m->u.tasks);
        break;
    case CP_WIRE_HEARTBEAT:
        send_heartbeat(p);
        break;
    case CP_WIRE_INTERRUPT:
        cp__pool_interrupt(p, m->u.interrupt.reason);
        break;
    case CP_WIRE_HOLD:
        p->held = m->u.hold.held;
        CP_INFO(SUBSYS, "%s", p->held ? "held: no new tasks" : "hold released");
        break;
    case CP_WIRE_SHUTDOWN: {
        char why[1000];
        snprintf(why, sizeof why, "SHUTDOWN (%s)%s%s",
                 m->u.shutdown.mode == CP_WIRE_SHUTDOWN_NOW ? "now" : "drained",
                 m->u.shutdown.reason ? ": " : "",
                 m->u.shutdown.reason ? m->u.shutdown.reason : "");
        stop_ok(p, why);
        break;
    }
    default:
        break;
    }
}

static void read_interchange(struct pool *p)
{
    char buf[RX_CHUNK];
    for (int rounds = 0; rounds < 64 && p->sock >= 0; rounds++) {
        ssize_t n = recv(p->sock, buf, sizeof buf, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        cp_err err = {0};
        if (n <= 0) {
            int mid = cp__wire_conn_eof(p->conn, &err);
            if (p->draining && mid == 0)
                stop_ok(p, "the interchange closed the connection after DRAIN");
            else
                cp__pool_fail(p, "the interchange closed the connection%s%s", mid ? ": " : "",
                         mid ? err.text : "");
            return;
        }
        const char *d = buf;
        size_t left = (size_t)n;
        while (left && p->state != ST_STOPPING) {
            size_t used = 0;
            struct cp__wire_msg m = {0};
            int rc = cp__wire_conn_recv(p->conn, d, left, &used, &m, &err);
            d += used, left -= used;
            if (rc < 0) {
                cp_err e2 = {0};
                if (cp__wire_conn_refuse(p->conn, 0, NULL, &p->out, &e2) == 0)
                    flush_out(p);
                cp__pool_fail(p, "%s", err.text);
                return;
            }
            if (rc == 1) {
                on_msg(p, &m);
                cp__wire_msg_clear(&m);
            }
        }
    }
}

/* ------------------------------------------------------------ the loop */

static double min_pos(double a, double b)
{
    return a <= 0 ? b : b <= 0 ? a : a < b ? a : b;
}

/* Fires whatever deadline has passed; returns the nearest one still ahead (0: none). */
static double timers(struct pool *p)
{
    double now = cp__mono(), next = 0;
    if (p->state == ST_HANDSHAKE) {
        if (now >= p->handshake_deadline)
            cp__pool_fail(p, "the interchange did not complete the handshake within %g s",
                     HANDSHAKE_TIMEOUT);
        return p->handshake_deadline;
    }
    if (p->state != ST_READY)
        return 0;
    if (now - p->last_rx > p->hb_threshold) {
        cp__pool_fail(p, "the interchange has been silent for %.1f s (heartbeat_threshold %g s)",
                 now - p->last_rx, p->hb_threshold);
        return 0;
    }
    next = p->last_rx + p->hb_threshold + 0.001;
    if (now >= p->next_hb)
        send_heartbeat(p);
    next = min_pos(next, p->next_hb);
    next = min_pos(next, cp__pool_res_timer(p, now));
    if (p->drain_at > 0 && !p->draining) {
        if (now >= p->drain_at) {
            CP_INFO(SUBSYS, "drain_period of %g s reached: DRAIN", p->o->drain_period);
            cp__pool_send(p, &(struct cp__wire_msg){.type = CP_WIRE_DRAIN});
            p->draining = true;
        } else {
            next = min_pos(next, p->drain_at);
        }
    }
    for (int i = 0; i < p->nworkers; i++) {
        struct worker *w = &p->workers[i];
        if (w->pid && w->kill_at > 0) {
            if (now >= w->kill_at) {
                if (w->shell_pgid)
                    kill(-w->shell_pgid, SIGKILL);
                kill(-w->pid, SIGKILL);
                kill(w->pid, SIGKILL);
                w->kill_at = 0;
            } else {
                next = min_pos(next, w->kill_at);
            }
        }
        if (w->pid && w->cur && w->deadline > 0 && !w->wall_killed) {
            if (now >= w->deadline) {
                CP_WARN(SUBSYS, "worker %d: task %lld over its walltime; killing the worker",
                        w->rank, (long long)w->cur->task_id);
                w->wall_killed = true;
                kill(-w->pid, SIGKILL);
                kill(w->pid, SIGKILL);
            } else {
                next = min_pos(next, w->deadline);
            }
        }
        if (!w->pid && w->respawn_at > 0) {
            if (now >= w->respawn_at) {
                if (cp__pool_spawn_worker(p, w) != 0)
                    w->respawn_at = now + RESPAWN_DELAY;
            } else {
                next = min_pos(next, w->respawn_at);
            }
        }
    }
    return next;
}

static void loop(struct pool *p)
{
    struct pollfd *pf = calloc((size_t)p->nworkers + 2, sizeof *pf);
    if (!pf) {
        cp__pool_fail(p, "out of memory");
        return;
    }
    while (p->state != ST_STOPPING) {
        double next = timers(p);
        cp__pool_dispatch(p);
        cp__pool_res_flush(p);
        flush_batch(p);
        flush_out(p);
        if (p->state == ST_STOPPING)
            break;
        pf[0] = (struct pollfd){.fd = p->sock, .events = POLLIN |
                                (p->out_off < p->out.len ? POLLOUT : 0)};
        pf[1] = (struct pollfd){.fd = p->sigpipe[0], .events = POLLIN};
        for (int i = 0; i < p->nworkers; i++)
            pf[i + 2] = (struct pollfd){.fd = p->workers[i].fd, .events = POLLIN};
        int ms = -1;
        if (next > 0) {
            double d = (next - cp__mono()) * 1000;
            ms = d <= 0 ? 0 : d > 60000 ? 60000 : (int)d + 1;
        }
        int n = poll(pf, (nfds_t)p->nworkers + 2, ms);
        if (n < 0 && errno != EINTR) {
            cp__pool_fail(p, "poll: %s", strerror(errno));
            break;
        }
        if (n <= 0)
            continue;
        if (pf[1].revents) {
            char drain[64];
            while (read(p->sigpipe[0], drain, sizeof drain) > 0)
                ;
            if (cp__pool_stop_signal) {
                char sig[40];
                cp__pool_fail(p, "stopped by %s",
                         cp__pool_signame(cp__pool_stop_signal, sig, sizeof sig));
                p->exit_code = 128 + cp__pool_stop_signal;
                break;
            }
        }
        for (int i = 0; i < p->nworkers; i++) {
            struct worker *w = &p->workers[i];
            if (pf[i + 2].revents && w->fd == pf[i + 2].fd && !cp__pool_worker_read(p, w))
                cp__pool_worker_closed(w);   /* it is ending; SIGCHLD tells how */
        }
        cp__pool_reap(p);
        if (pf[0].revents & (POLLIN | POLLHUP | POLLERR))
            read_interchange(p);
        if (pf[0].revents & POLLOUT)
            flush_out(p);
    }
    free(pf);
}

int cp__pool_run(struct cp__pool_opts *o)
{
    struct pool pool = {.o = o, .sock = -1, .sigpipe = {-1, -1}};
    struct pool *p = &pool;
    cp_err err = {0};
    int rc = cp__pool_setup(p);
    if (rc != 0)
        goto done;
    if (cp__pool_signals_setup(p) != 0 || cp__pool_connect(p) != 0) {
        rc = CP_POOL_EXIT_FAIL;
        goto done;
    }
    p->conn = cp__wire_conn_create(CP_WIRE_POOL, o->secret, o->encrypted, &err);
    sodium_memzero(o->secret, sizeof o->secret);
    if (!p->conn) {
        cp__pool_fail(p, "%s", err.text);
        rc = CP_POOL_EXIT_FAIL;
        goto done;
    }
    p->handshake_deadline = cp__mono() + HANDSHAKE_TIMEOUT;
    cp__pool_send(p, &(struct cp__wire_msg){.type = CP_WIRE_CLIENT_HELLO});
    loop(p);
    flush_batch(p);
    flush_out(p);
    rc = p->exit_code;
done:
    if (p->workers)
        cp__pool_stop_workers(p);
    for (struct qtask *t; (t = cp__pool_q_pop(p));)
        free(t);
    free(p->workers);
    free(p->res);
    if (p->sock >= 0)
        close(p->sock);
    cp__wire_conn_destroy(p->conn);
    cp__wire_buf_free(&p->out);
    cp__wire_buf_free(&p->batch);
    cp__pool_layout_free(p->layout);
    cp__node_facts_clear(&p->facts);
    cp__pool_signals_reset(p);
    CP_INFO(SUBSYS, "exit %d", rc);
    cp__log_close();
    return rc;
}
