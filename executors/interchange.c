/* executors/interchange.c — the interchange's loop, queue, heap, dispatch,
 * timers and lifecycle (interchange.h). Connections (handshake, reads, writes,
 * results, loss) are in interchange_conn.c.
 *
 * Threads: a uv_loop_t is not thread-safe, so every pool, the heap and every
 * in-flight table live on the loop thread. Other threads only push jobs (and
 * synchronous calls) onto queues under `lock` and poke the loop with
 * uv_async_send, as executors/shell_runner.c does. Hooks run with no lock held.
 */
#include "executors/interchange_impl.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "common/log.h"

/* The interchange whose loop runs on this thread (for hooks calling back in). */
static _Thread_local struct cp__interchange *tl_loop_ic;

/* ------------------------------------------------------------ small helpers */

double cp__ic_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double cp__ic_wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void cp__ic_report(struct cp__interchange *ic, struct cp__job *job)
{
    atomic_fetch_sub(&ic->outstanding, 1);
    ic->hooks.done(ic->hooks.eng, job);
}

static void vfail_job(struct cp__interchange *ic, struct cp__job *job, const char *fmt,
                      va_list ap)
{
    char *text = NULL;
    if (vasprintf(&text, fmt, ap) < 0)
        text = NULL;
    free(job->error);
    job->error = text;          /* NULL when even the text could not be made */
    job->failed = true;
    job->timed_out = false;
    cp__ic_report(ic, job);
}

void cp__ic_fail_job(struct cp__interchange *ic, struct cp__job *job, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail_job(ic, job, fmt, ap);
    va_end(ap);
}

/* ------------------------------------------------------------ the heap */

/* Lower priority first, then the lower task id, then submission order. */
static bool before(const struct cp__job *a, const struct cp__job *b)
{
    if (a->priority != b->priority)
        return a->priority < b->priority;
    if (a->task_id != b->task_id)
        return a->task_id < b->task_id;
    return a->seq < b->seq;
}

static int heap_push(struct cp__interchange *ic, struct cp__job *job)
{
    if (ic->nheap == ic->heap_cap) {
        size_t cap = ic->heap_cap ? 2 * ic->heap_cap : 64;
        struct cp__job **h = realloc(ic->heap, cap * sizeof *h);
        if (!h)
            return -1;
        ic->heap = h;
        ic->heap_cap = cap;
    }
    job->seq = ic->seq++;
    size_t i = ic->nheap++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!before(job, ic->heap[p]))
            break;
        ic->heap[i] = ic->heap[p];
        i = p;
    }
    ic->heap[i] = job;
    return 0;
}

static struct cp__job *heap_pop(struct cp__interchange *ic)
{
    if (ic->nheap == 0)
        return NULL;
    struct cp__job *top = ic->heap[0], *last = ic->heap[--ic->nheap];
    size_t i = 0, n = ic->nheap;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        const struct cp__job *best = last;
        if (l < n && before(ic->heap[l], best))
            m = l, best = ic->heap[l];
        if (r < n && before(ic->heap[r], best))
            m = r;
        if (m == i)
            break;
        ic->heap[i] = ic->heap[m];
        i = m;
    }
    if (n > 0)
        ic->heap[i] = last;
    return top;
}

/* Moves the submission queue into the heap (loop thread). */
static void take_queue(struct cp__interchange *ic)
{
    uv_mutex_lock(&ic->lock);
    struct cp__job *j = ic->q_head;
    ic->q_head = ic->q_tail = NULL;
    uv_mutex_unlock(&ic->lock);
    while (j) {
        struct cp__job *next = j->next;
        j->next = NULL;
        if (ic->shut)
            cp__ic_fail_job(ic, j, "executor shut down");
        else if (ic->broken)
            cp__ic_fail_job(ic, j, "%s", ic->broken);
        else if (heap_push(ic, j) < 0)
            cp__ic_fail_job(ic, j, "out of memory queueing the task");
        j = next;
    }
}

/* ------------------------------------------------------------ dispatch */

/* Each pool on ic->want gets min(free capacity, pending) tries in one TASKS
 * frame: first what each asked for, then what its short tasks earn it beyond
 * that (cp__ic_conn_free). A pool found full leaves the list; results bring it
 * back at the tail, which also rotates who is served first. */
void cp__ic_dispatch(struct cp__interchange *ic)
{
    take_queue(ic);
    if (ic->shut || ic->nheap == 0)
        return;
    for (int pass = 0; pass < 2 && ic->nheap > 0; pass++) {
        for (struct ic_conn *c = ic->want_head, *nxt; c && ic->nheap > 0; c = nxt) {
            nxt = c->want_next;
            int64_t room = cp__ic_conn_free(c, pass == 1);
            if (room <= 0) {
                if (pass == 1 || cp__ic_conn_free(c, true) == 0)
                    cp__ic_unwant(c);
                continue;
            }
            size_t n = (size_t)room < ic->nheap ? (size_t)room : ic->nheap;
            struct cp__job *stackbuf[64], **jobs = stackbuf;
            if (n > 64 && !(jobs = malloc(n * sizeof *jobs))) {
                jobs = stackbuf;
                n = 64;
            }
            for (size_t i = 0; i < n; i++)
                jobs[i] = heap_pop(ic);
            cp__ic_conn_send_tasks(c, jobs, n);
            if (jobs != stackbuf)
                free(jobs);
            if (c->wanted && cp__ic_conn_free(c, true) == 0)
                cp__ic_unwant(c);
        }
    }
}

/* ------------------------------------------------------------ giving up */

static void call_on_loop(struct cp__interchange *ic, void (*fn)(struct cp__interchange *, void *),
                         void *arg);

static void do_fail_pending(struct cp__interchange *ic, void *arg)
{
    const char *reason = arg;
    if (!ic->broken && !(ic->broken = strdup(reason)))
        ic->broken = NULL;      /* no memory: fail what is pending now, at least */
    take_queue(ic);
    while (ic->nheap > 0)
        cp__ic_fail_job(ic, heap_pop(ic), "%s", reason);
}

void cp__interchange_fail_pending(struct cp__interchange *ic, const char *reason)
{
    call_on_loop(ic, do_fail_pending, (void *)reason);
}

struct interrupt_arg {
    const char *pending, *running;
};

static void do_interrupt(struct cp__interchange *ic, void *arg)
{
    struct interrupt_arg *a = arg;
    do_fail_pending(ic, (void *)a->pending);
    for (struct ic_conn *c = ic->conns; c; c = c->next)
        if (c->state == IC_READY && c->nflight > 0) {
            struct cp__wire_msg m = {.type = CP_WIRE_INTERRUPT,
                                     .u.interrupt.reason = a->running};
            (void)cp__ic_conn_send(c, &m);
        }
}

void cp__interchange_interrupt(struct cp__interchange *ic, const char *pending,
                               const char *running)
{
    struct interrupt_arg a = {pending, running};
    call_on_loop(ic, do_interrupt, &a);
}

/* ------------------------------------------------------------ blocks */

bool cp__ic_block_held(struct cp__interchange *ic, const char *block_id)
{
    for (size_t i = 0; i < ic->nheld; i++)
        if (strcmp(ic->held_blocks[i], block_id) == 0)
            return true;
    return false;
}

/* Runs fn on the loop thread and waits; inline on the loop thread itself. After
 * the loop has finished, fn does not run. */
static void call_on_loop(struct cp__interchange *ic, void (*fn)(struct cp__interchange *, void *),
                         void *arg)
{
    if (tl_loop_ic == ic) {
        fn(ic, arg);
        return;
    }
    struct ic_call call = {.fn = fn, .arg = arg};
    uv_mutex_lock(&ic->lock);
    if (!ic->loop_done) {
        call.next = ic->calls;
        ic->calls = &call;
        uv_async_send(&ic->wake);
        while (!call.done)
            uv_cond_wait(&ic->called, &ic->lock);
    }
    uv_mutex_unlock(&ic->lock);
}

struct hold_arg {
    const char *block_id;
    bool held;
    int told;
};

static void do_hold(struct cp__interchange *ic, void *arg)
{
    struct hold_arg *a = arg;
    bool was = cp__ic_block_held(ic, a->block_id);
    if (a->held && !was) {
        char **h = realloc(ic->held_blocks, (ic->nheld + 1) * sizeof *h);
        char *copy = strdup(a->block_id);
        if (h)
            ic->held_blocks = h;
        if (h && copy)
            ic->held_blocks[ic->nheld++] = copy;
        else
            free(copy);   /* the pools below are still held; only late ones are not */
    } else if (!a->held && was) {
        for (size_t i = 0; i < ic->nheld; i++)
            if (strcmp(ic->held_blocks[i], a->block_id) == 0) {
                free(ic->held_blocks[i]);
                ic->held_blocks[i] = ic->held_blocks[--ic->nheld];
                break;
            }
    }
    for (struct ic_conn *c = ic->conns; c; c = c->next) {
        if (c->state != IC_READY || strcmp(c->block_id, a->block_id) != 0 ||
            c->held == a->held)
            continue;
        c->held = a->held;
        if (!a->held)
            cp__ic_want(c);
        struct cp__wire_msg m = {.type = CP_WIRE_HOLD, .u.hold.held = a->held};
        if (cp__ic_conn_send(c, &m) == 0)
            a->told++;
    }
    if (!a->held)
        cp__ic_dispatch(ic);
}

int cp__interchange_hold_block(struct cp__interchange *ic, const char *block_id, bool held)
{
    struct hold_arg a = {.block_id = block_id ? block_id : "", .held = held};
    call_on_loop(ic, do_hold, &a);
    return a.told;
}

struct info_arg {
    const char *block_id;
    struct cp__ic_block_info *out;
};

static void do_info(struct cp__interchange *ic, void *arg)
{
    struct info_arg *a = arg;
    struct cp__ic_block_info *o = a->out;
    bool all_held = true;
    for (struct ic_conn *c = ic->conns; c; c = c->next) {
        if (c->state != IC_READY || strcmp(c->block_id, a->block_id) != 0)
            continue;
        o->pools++;
        o->workers += (int)c->worker_count;
        o->in_flight += (int)c->nflight;
        all_held = all_held && c->held;
        if (c->idle_since > o->idle_since)
            o->idle_since = c->idle_since;
    }
    o->held = all_held;
    if (o->pools == 0 || o->in_flight > 0)
        o->idle_since = 0;
}

void cp__interchange_block_info(struct cp__interchange *ic, const char *block_id,
                                struct cp__ic_block_info *out)
{
    *out = (struct cp__ic_block_info){.held = true};
    struct info_arg a = {.block_id = block_id ? block_id : "", .out = out};
    call_on_loop(ic, do_info, &a);
}

/* ------------------------------------------------------------ the loop */

static void on_handle_closed(uv_handle_t *h)
{
    (void)h;
}

/* The stop sequence, once: nothing new is accepted, every job comes back. */
static void shut_down(struct cp__interchange *ic)
{
    ic->shut = true;
    uv_close((uv_handle_t *)&ic->listener, on_handle_closed);
    take_queue(ic);   /* fails them: shut is set */
    struct cp__job *j;
    while ((j = heap_pop(ic)))
        cp__ic_fail_job(ic, j, "executor shut down");
    for (struct ic_conn *c = ic->conns; c; c = c->next) {
        if (c->state == IC_READY) {
            cp__ic_conn_fail_flights(c, "executor shut down");
            struct cp__wire_msg m = {.type = CP_WIRE_SHUTDOWN,
                                     .u.shutdown = {.mode = CP_WIRE_SHUTDOWN_NOW,
                                                    .reason = "the executor is shutting down"}};
            (void)cp__ic_conn_send(c, &m);
        }
        cp__ic_conn_close(c);
    }
    cp__ic_maybe_finish(ic);
}

void cp__ic_maybe_finish(struct cp__interchange *ic)
{
    if (!ic->shut || ic->conns || uv_is_closing((uv_handle_t *)&ic->wake))
        return;
    /* Calls still queued get to run (they see no pools) before the handle goes. */
    uv_mutex_lock(&ic->lock);
    ic->loop_done = true;
    struct ic_call *calls = ic->calls;
    ic->calls = NULL;
    uv_mutex_unlock(&ic->lock);
    for (struct ic_call *c = calls, *next; c; c = next) {
        next = c->next;
        c->fn(ic, c->arg);
        uv_mutex_lock(&ic->lock);
        c->done = true;
        uv_cond_broadcast(&ic->called);
        uv_mutex_unlock(&ic->lock);
    }
    uv_close((uv_handle_t *)&ic->tick, on_handle_closed);
    uv_close((uv_handle_t *)&ic->wake, on_handle_closed);
}

static void on_wake(uv_async_t *a)
{
    struct cp__interchange *ic = a->data;
    uv_mutex_lock(&ic->lock);
    struct ic_call *calls = ic->calls;
    ic->calls = NULL;
    bool stopping = ic->stopping;
    uv_mutex_unlock(&ic->lock);
    for (struct ic_call *c = calls, *next; c; c = next) {
        next = c->next;   /* c lives on its caller's stack until done is set */
        c->fn(ic, c->arg);
        uv_mutex_lock(&ic->lock);
        c->done = true;
        uv_cond_broadcast(&ic->called);
        uv_mutex_unlock(&ic->lock);
    }
    if (stopping && !ic->shut)
        shut_down(ic);
    else
        cp__ic_dispatch(ic);
}

static void on_tick(uv_timer_t *t)
{
    struct cp__interchange *ic = t->data;
    double now = cp__ic_now();
    for (struct ic_conn *c = ic->conns; c; c = c->next)
        cp__ic_conn_tick(c, now);
}

static void close_any(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static void loop_main(void *arg)
{
    struct cp__interchange *ic = arg;
    tl_loop_ic = ic;
    uv_run(&ic->loop, UV_RUN_DEFAULT);
    while (uv_loop_close(&ic->loop) == UV_EBUSY) {
        uv_walk(&ic->loop, close_any, NULL);
        uv_run(&ic->loop, UV_RUN_DEFAULT);
    }
}

/* ------------------------------------------------------------ listening */

/* A listening socket on address at port, or the first free port of [lo, hi]. */
static int listen_on(const char *address, int lo, int hi, int *port_out, cp_err *err)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    int rc = getaddrinfo(address, "0", &hints, &ai);
    if (rc != 0)
        return cp__errf(err, EINVAL, "cannot use listen address %s: %s", address,
                        gai_strerror(rc));
    int fd = -1, code = 0;
    for (int p = lo; p <= hi; p++) {
        struct sockaddr_storage sa;
        memcpy(&sa, ai->ai_addr, ai->ai_addrlen);
        if (sa.ss_family == AF_INET6)
            ((struct sockaddr_in6 *)&sa)->sin6_port = htons((uint16_t)p);
        else
            ((struct sockaddr_in *)&sa)->sin_port = htons((uint16_t)p);
        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            code = errno;
            break;
        }
        int one = 1;
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, (struct sockaddr *)&sa, ai->ai_addrlen) == 0 && listen(fd, 511) == 0)
            break;
        code = errno;
        close(fd);
        fd = -1;
        if (code != EADDRINUSE && code != EACCES)
            break;
    }
    freeaddrinfo(ai);
    if (fd < 0) {
        if (lo != hi && (code == EADDRINUSE || code == EACCES))
            return cp__errf(err, code, "cannot listen on %s: no free port in %d-%d", address,
                            lo, hi);
        return cp__errf(err, code, "cannot listen on %s port %d: %s", address, lo,
                        strerror(code));
    }
    struct sockaddr_storage sa;
    socklen_t len = sizeof sa;
    if (getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
        code = errno;
        close(fd);
        return cp__errf(err, code, "cannot read the bound port: %s", strerror(code));
    }
    *port_out = ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port
                                                : ((struct sockaddr_in *)&sa)->sin_port);
    return fd;
}

/* ------------------------------------------------------------ the API */

static void destroy_fields(struct cp__interchange *ic)
{
    for (size_t i = 0; i < ic->nheld; i++)
        free(ic->held_blocks[i]);
    free(ic->held_blocks);
    free(ic->ids);
    for (struct ic_kept *k = ic->kept, *nx; k; k = nx) {
        nx = k->next;
        free(k);
    }
    free(ic->broken);
    free(ic->heap);
    free(ic->label);
    free(ic->address);
    sodium_memzero(ic->secret, sizeof ic->secret);
}

struct cp__interchange *cp__interchange_start(const struct cp__ic_settings *s,
                                              const struct cp__executor_hooks *hooks,
                                              cp_err *err)
{
    if (!s || !hooks || !hooks->done) {
        cp__errf(err, EINVAL, "the interchange needs settings and a done hook");
        return NULL;
    }
    int lo = 0, hi = 0;
    if (s->port > 0)
        lo = hi = s->port;
    else if (s->port_min > 0)
        lo = s->port_min, hi = s->port_max >= s->port_min ? s->port_max : s->port_min;
    if (lo < 0 || hi > 65535 || s->port < 0) {
        cp__errf(err, EINVAL, "worker port %d-%d is out of range 1-65535", lo, hi);
        return NULL;
    }
    struct cp__interchange *ic = calloc(1, sizeof *ic);
    if (!ic) {
        cp__errf(err, ENOMEM, "out of memory starting the interchange");
        return NULL;
    }
    bool have_lock = false, have_cond = false, have_loop = false;
    int fd = -1, rc = 0;
    ic->label = strdup(s->label ? s->label : "htex");
    ic->address = strdup(s->address ? s->address : "127.0.0.1");
    if (!ic->label || !ic->address) {
        cp__errf(err, ENOMEM, "out of memory starting the interchange");
        goto error;
    }
    memcpy(ic->secret, s->secret, sizeof ic->secret);
    ic->encrypted = s->encrypted;
    ic->max_handshakes = s->max_handshakes > 0 ? s->max_handshakes : IC_MAX_HANDSHAKES;
    ic->mon = s->mon;
    ic->mon_interval = s->mon_interval;
    ic->hb_period = s->heartbeat_period > 0 ? s->heartbeat_period : 30.0;
    ic->hb_threshold = s->heartbeat_threshold > 0 ? s->heartbeat_threshold : 2 * ic->hb_period;
    ic->hooks = *hooks;
    atomic_init(&ic->outstanding, 0);
    atomic_init(&ic->pools_connected, 0);
    atomic_init(&ic->workers_connected, 0);

    if ((fd = listen_on(ic->address, lo, hi, &ic->port, err)) < 0)
        goto error;
    if ((rc = uv_mutex_init(&ic->lock)) < 0)
        goto uv_error;
    have_lock = true;
    if ((rc = uv_cond_init(&ic->called)) < 0)
        goto uv_error;
    have_cond = true;
    if ((rc = uv_loop_init(&ic->loop)) < 0)
        goto uv_error;
    have_loop = true;
    ic->loop.data = ic;
    if ((rc = uv_async_init(&ic->loop, &ic->wake, on_wake)) < 0)
        goto uv_error;
    ic->wake.data = ic;
    if ((rc = uv_timer_init(&ic->loop, &ic->tick)) < 0)
        goto uv_error;
    ic->tick.data = ic;
    if ((rc = uv_tcp_init(&ic->loop, &ic->listener)) < 0)
        goto uv_error;
    ic->listener.data = ic;
    if ((rc = uv_tcp_open(&ic->listener, fd)) < 0)
        goto uv_error;
    fd = -1;   /* the handle's now */
    if ((rc = uv_listen((uv_stream_t *)&ic->listener, 511, cp__ic_on_connection)) < 0)
        goto uv_error;
    /* Ticks: fine enough that a silent pool is noticed within threshold + a bit. */
    double tick = (ic->hb_period < ic->hb_threshold ? ic->hb_period : ic->hb_threshold) / 4;
    uint64_t tick_ms = tick < 0.01 ? 10 : tick > 1.0 ? 1000 : (uint64_t)(tick * 1000);
    if ((rc = uv_timer_start(&ic->tick, on_tick, tick_ms, tick_ms)) < 0)
        goto uv_error;

    /* The loop thread takes no signals, so it never steals one the program handles. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = uv_thread_create(&ic->thread, loop_main, ic);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc < 0)
        goto uv_error;
    CP_INFO(IC_SUBSYS, "%s: interchange listening on %s port %d (%s, heartbeat %.3g s, "
            "threshold %.3g s)", ic->label, ic->address, ic->port,
            ic->encrypted ? "encrypted" : "unencrypted", ic->hb_period, ic->hb_threshold);
    return ic;

uv_error:
    cp__errf(err, rc == UV_ENOMEM ? ENOMEM : -rc, "cannot start the interchange: %s",
             uv_strerror(rc));
error:
    if (fd >= 0)
        close(fd);
    if (have_loop) {
        uv_walk(&ic->loop, close_any, NULL);
        uv_run(&ic->loop, UV_RUN_DEFAULT);
        (void)uv_loop_close(&ic->loop);
    }
    if (have_cond)
        uv_cond_destroy(&ic->called);
    if (have_lock)
        uv_mutex_destroy(&ic->lock);
    destroy_fields(ic);
    free(ic);
    return NULL;
}

int cp__interchange_port(struct cp__interchange *ic)
{
    return ic->port;
}

void cp__interchange_submit(struct cp__interchange *ic, struct cp__job *job)
{
    atomic_fetch_add(&ic->outstanding, 1);
    if (job->kind != CP_JOB_NATIVE && job->kind != CP_JOB_SHELL) {
        cp__ic_fail_job(ic, job, "the high_throughput executor cannot run %s jobs",
                    job->kind == CP_JOB_JOIN ? "join" : "unknown");
        return;
    }
    job->next = NULL;
    uv_mutex_lock(&ic->lock);
    bool refused = ic->stopping;
    if (!refused) {
        if (ic->q_tail)
            ic->q_tail->next = job;
        else
            ic->q_head = job;
        ic->q_tail = job;
        uv_async_send(&ic->wake);
    }
    uv_mutex_unlock(&ic->lock);
    if (refused)
        cp__ic_fail_job(ic, job, "executor shut down");
}

size_t cp__interchange_outstanding(struct cp__interchange *ic)
{
    return atomic_load(&ic->outstanding);
}

int cp__interchange_workers(struct cp__interchange *ic)
{
    return atomic_load(&ic->workers_connected);
}

void cp__interchange_stats(struct cp__interchange *ic, struct cp__ic_stats *o)
{
    *o = (struct cp__ic_stats){
        .frames_sent = atomic_load(&ic->frames_sent),
        .frames_received = atomic_load(&ic->frames_received),
        .tasks_sent = atomic_load(&ic->tasks_sent),
        .tasks_frames = atomic_load(&ic->tasks_frames),
        .results_frames = atomic_load(&ic->results_frames),
        .results_received = atomic_load(&ic->results_received),
        .results_unknown = atomic_load(&ic->results_unknown),
        .connections = atomic_load(&ic->connections),
        .connections_refused = atomic_load(&ic->connections_refused),
        .connections_shed = atomic_load(&ic->connections_shed),
        .pools_lost = atomic_load(&ic->pools_lost),
        .pools_connected = atomic_load(&ic->pools_connected),
        .workers_connected = atomic_load(&ic->workers_connected),
        .outstanding = atomic_load(&ic->outstanding),
    };
}

void cp__interchange_stop(struct cp__interchange *ic)
{
    if (!ic)
        return;
    uv_mutex_lock(&ic->lock);
    ic->stopping = true;
    uv_async_send(&ic->wake);
    uv_mutex_unlock(&ic->lock);
    uv_thread_join(&ic->thread);
    CP_INFO(IC_SUBSYS, "%s: interchange stopped", ic->label);
    uv_cond_destroy(&ic->called);
    uv_mutex_destroy(&ic->lock);
    destroy_fields(ic);
    free(ic);
}
