/* bench/ic_load.c — one interchange holding N simulated worker pools over loopback
 * (issue 4: "one interchange holding 10,000 simulated pools … with heartbeats;
 * report CPU and memory per pool").
 *
 * The parent process runs a real interchange in-process (executors/interchange.h,
 * as tests/unit/interchange.c does: a secret, a done hook counting results). A
 * forked child, the load generator, opens N TCP connections to it on 127.0.0.1
 * (one epoll loop, non-blocking sockets) and, through the wire library, performs
 * for each simulated pool the real authenticated handshake and REGISTER, then
 * sends a HEARTBEAT every heartbeat period and answers every TASKS frame with a
 * RESULTS frame at once (each result echoes the task's first argument). The two
 * processes talk over a SOCK_SEQPACKET socketpair: the parent asks, the
 * generator reports its own counters and CPU time.
 *
 * Phases, each printed as one JSON line on stdout (a human summary goes to stderr):
 *
 *   ic_register  connect + handshake + REGISTER of N pools, at most --window of
 *                them between connect() and WELCOME at a time (the listen backlog
 *                is 511: more would drop SYNs and measure TCP's 1 s retransmit
 *                instead of the interchange). Wall time, pools/s over the second
 *                and the last tenth (a per-REGISTER cost that grows with the pools
 *                already connected shows up as a falling rate), handshake latency,
 *                and the interchange's CPU and RSS growth per pool.
 *   ic_idle      --idle seconds with nothing to do but heartbeats both ways: the
 *                interchange loop thread's CPU (utime + stime) per pool per second
 *                and per heartbeat frame, the generator's CPU, RSS growth, and the
 *                connected count sampled every 100 ms (it must stay N).
 *   ic_wave      N × capacity no-op tasks, one per slot, submitted at once and
 *                waited for (every value checked): tasks/s and CPU per task when
 *                every dispatch finds a free pool.
 *   ic_tasks     --tasks no-op tasks the same way (default three waves): tasks
 *                beyond the slots wait in the interchange's heap while every pool
 *                is busy, the usual state of a run with more tasks than workers.
 *   ic_stop      cp__interchange_stop with N pools connected (SHUTDOWN to each,
 *                close): seconds.
 *
 * Each result reports --task-ms of run time (t_end − t_start, default 0) though
 * nothing waits: the interchange sizes a pool's share by how long its tasks take.
 *
 * Everything is bounded by --deadline (default 120 s): a phase that would run past
 * it fails the run. Exit status 0 when every check passed, 1 when something is
 * wrong (a pool refused or dropped, a result missing or wrong, the deadline), 2 for
 * a usage or set-up problem. RLIMIT_NOFILE is raised to its hard limit first; each
 * process needs about N + 64 descriptors.
 *
 *   build/bench/ic_load --pools 10000 --idle 25 --heartbeat 10 --tasks 30000 --task-ms 10
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "executors/interchange.h"
#include "executors/wire.h"

struct opts {
    int pools;                  /* N simulated pools */
    double idle;                /* seconds of the heartbeat-only phase */
    long tasks;                 /* no-op tasks of ic_tasks (0 skips it) */
    double hb_period;           /* the interchange's heartbeat_period, seconds */
    double hb_threshold;        /* its heartbeat_threshold; 0: 2 × period */
    int window;                 /* handshakes in flight at once */
    int workers, capacity;      /* each pool's worker_count and max_capacity */
    double deadline;            /* the whole run, seconds */
    double task_ms;             /* the run time each result reports (t_end − t_start);
                                 * nothing waits for it */
    bool encrypted;             /* sealed frames */
};

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Resident set now, bytes (/proc/self/statm). */
static long rss_now(void)
{
    long total = 0, res = 0;
    FILE *fp = fopen("/proc/self/statm", "r");
    if (fp) {
        if (fscanf(fp, "%ld %ld", &total, &res) != 2)
            res = 0;
        fclose(fp);
    }
    return res * sysconf(_SC_PAGESIZE);
}

static double tv_s(struct timeval tv)
{
    return (double)tv.tv_sec + (double)tv.tv_usec * 1e-6;
}

/* User + system CPU seconds of who (RUSAGE_SELF: every thread; RUSAGE_THREAD:
 * the caller). */
static double cpu_s(int who)
{
    struct rusage ru;
    if (getrusage(who, &ru) < 0)
        return 0;
    return tv_s(ru.ru_utime) + tv_s(ru.ru_stime);
}

/* How late the interchange may send a heartbeat: it checks on a tick of a quarter
 * of min(period, threshold), kept within [0.01, 1] s (interchange.c), and then
 * schedules the next one a period after that tick. */
static double hb_lag(const struct opts *o)
{
    double thr = o->hb_threshold > 0 ? o->hb_threshold : 2 * o->hb_period;
    double tick = (o->hb_period < thr ? o->hb_period : thr) / 4;
    return tick < 0.01 ? 0.01 : tick > 1.0 ? 1.0 : tick;
}

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* ------------------------------------------------------------------ control */

/* Parent ⇄ generator, one struct per SOCK_SEQPACKET message. */
enum { CTL_GO = 1, CTL_SNAP, CTL_QUIT,            /* parent → generator */
       CTL_REGISTERED, CTL_STATE, CTL_FAIL };     /* generator → parent */

struct ctl {
    int type;
    int port;                   /* GO */
    /* REGISTERED */
    double reg_s;               /* first connect() → last WELCOME */
    double rate_second, rate_last;  /* pools/s over the second and the last tenth */
    double lat_p50_ms, lat_p99_ms, lat_max_ms;  /* connect() → WELCOME, per pool */
    /* STATE (and REGISTERED) */
    double cpu;                 /* the generator's utime + stime so far */
    long rss;
    uint64_t hb_sent, hb_recv, tasks_recv, results_sent, frames_recv;
    int registered, open, dropped, shutdowns;
    char text[400];             /* FAIL */
};

static int ctl_send(int fd, const struct ctl *m)
{
    ssize_t n;
    while ((n = send(fd, m, sizeof *m, MSG_NOSIGNAL)) < 0 && errno == EINTR)
        ;
    return n == (ssize_t)sizeof *m ? 0 : -1;
}

/* ------------------------------------------------------------------ the generator */

enum { SP_CONNECTING = 1, SP_HELLO, SP_REGISTERING, SP_READY, SP_CLOSED };

struct sim_pool {
    int fd;
    int state;
    bool want_out;              /* EPOLLOUT is armed */
    bool told_shutdown;         /* SHUTDOWN arrived before the close */
    struct cp__wire_conn *wc;
    struct cp__wire_buf out;    /* bytes not yet written, from out_off */
    size_t out_off;
    double opened, next_hb;
};

struct gen {
    const struct opts *o;
    const unsigned char *secret;
    int ctl, ep, port;
    struct sim_pool *pools;
    int started, registered, in_handshake, open, dropped, shutdowns;
    int *hbq;                   /* ring of ready pools in next_hb order */
    size_t hb_head, hb_len;
    double *reg_at, *lat;       /* per registration, in order: when, connect→WELCOME */
    double t0;
    bool reported, quitting;
    uint64_t hb_sent, hb_recv, tasks_recv, results_sent, frames_recv;
    unsigned char rbuf[64 * 1024];
};

static void gen_state(struct gen *g, struct ctl *m)
{
    m->cpu = cpu_s(RUSAGE_SELF);
    m->rss = rss_now();
    m->hb_sent = g->hb_sent;
    m->hb_recv = g->hb_recv;
    m->tasks_recv = g->tasks_recv;
    m->results_sent = g->results_sent;
    m->frames_recv = g->frames_recv;
    m->registered = g->registered;
    m->open = g->open;
    m->dropped = g->dropped;
    m->shutdowns = g->shutdowns;
}

/* Tells the parent what went wrong and exits: the run is over. */
static void gen_fail(struct gen *g, const char *fmt, ...) __attribute__((format(printf, 2, 3),
                                                                        noreturn));
static void gen_fail(struct gen *g, const char *fmt, ...)
{
    struct ctl m = {.type = CTL_FAIL};
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m.text, sizeof m.text, fmt, ap);
    va_end(ap);
    gen_state(g, &m);
    (void)ctl_send(g->ctl, &m);
    _exit(1);
}

static void arm(struct gen *g, int i, bool out)
{
    struct sim_pool *p = &g->pools[i];
    if (p->want_out == out)
        return;
    struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0), .data.u32 = (uint32_t)i};
    if (epoll_ctl(g->ep, EPOLL_CTL_MOD, p->fd, &ev) < 0)
        gen_fail(g, "epoll_ctl: %s", strerror(errno));
    p->want_out = out;
}

static void pool_close(struct gen *g, int i)
{
    struct sim_pool *p = &g->pools[i];
    if (p->state == SP_CLOSED)
        return;
    close(p->fd);   /* also leaves the epoll set */
    p->fd = -1;
    p->state = SP_CLOSED;
    cp__wire_conn_destroy(p->wc);
    p->wc = NULL;
    cp__wire_buf_free(&p->out);
    p->out_off = 0;
    g->open--;
}

/* The interchange closed a registered pool: after a SHUTDOWN that is the stop;
 * without one, the pool was dropped. */
static void pool_gone(struct gen *g, int i)
{
    if (!g->pools[i].told_shutdown)
        g->dropped++;
    pool_close(g, i);
}

/* Writes what is queued; arms EPOLLOUT for the rest. */
static void pool_flush(struct gen *g, int i)
{
    struct sim_pool *p = &g->pools[i];
    while (p->out_off < p->out.len) {
        ssize_t n = send(p->fd, p->out.data + p->out_off, p->out.len - p->out_off,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            arm(g, i, true);
            return;
        }
        if (n < 0 && (errno == EPIPE || errno == ECONNRESET) && p->state == SP_READY) {
            pool_gone(g, i);   /* the parent judges drops; the stop closes every pool */
            return;
        }
        if (n <= 0)
            gen_fail(g, "pool %d: write: %s", i, n < 0 ? strerror(errno) : "closed");
        p->out_off += (size_t)n;
    }
    p->out.len = 0;
    p->out_off = 0;
    if (p->out.cap > 64 * 1024)   /* a big RESULTS batch went out: give it back */
        cp__wire_buf_free(&p->out);
    arm(g, i, false);
}

static void pool_send(struct gen *g, int i, const struct cp__wire_msg *m)
{
    struct sim_pool *p = &g->pools[i];
    cp_err e;
    if (cp__wire_conn_send(p->wc, m, &p->out, &e) < 0)
        gen_fail(g, "pool %d: cannot send %s: %s", i, cp__wire_type_name(m->type), e.text);
    pool_flush(g, i);
}

static void pool_open(struct gen *g, int i)
{
    struct sim_pool *p = &g->pools[i];
    cp_err e;
    p->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (p->fd < 0)
        gen_fail(g, "pool %d: socket: %s (RLIMIT_NOFILE?)", i, strerror(errno));
    /* Without it Nagle holds REGISTER behind CLIENT_HELLO's delayed ACK. */
    int one = 1;
    (void)setsockopt(p->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g->port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(p->fd, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != EINPROGRESS)
        gen_fail(g, "pool %d: connect: %s", i, strerror(errno));
    if (!(p->wc = cp__wire_conn_create(CP_WIRE_POOL, g->secret, g->o->encrypted, &e)))
        gen_fail(g, "pool %d: %s", i, e.text);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.u32 = (uint32_t)i};
    if (epoll_ctl(g->ep, EPOLL_CTL_ADD, p->fd, &ev) < 0)
        gen_fail(g, "epoll_ctl: %s", strerror(errno));
    p->want_out = true;
    p->state = SP_CONNECTING;
    p->opened = mono();
    g->open++;
    g->in_handshake++;
}

static void send_register(struct gen *g, int i)
{
    char id[32];
    snprintf(id, sizeof id, "sim-%06d", i);
    struct cp__wire_msg m = {.type = CP_WIRE_REGISTER};
    m.u.reg = (struct cp__wire_register){
        .pool_id = id, .hostname = "ic-load", .block_id = "0", .pid = getpid(), .cores = 1,
        .memory_gb = 1.0, .worker_count = g->o->workers, .max_capacity = g->o->capacity,
        .software = "ic_load"};
    pool_send(g, i, &m);
    g->pools[i].state = SP_REGISTERING;
}

static void hb_push(struct gen *g, int i, double when)
{
    g->pools[i].next_hb = when;
    g->hbq[(g->hb_head + g->hb_len++) % (size_t)g->o->pools] = i;
}

static void on_welcome(struct gen *g, int i)
{
    struct sim_pool *p = &g->pools[i];
    double now = mono();
    p->state = SP_READY;
    g->reg_at[g->registered] = now;
    g->lat[g->registered] = now - p->opened;
    g->registered++;
    g->in_handshake--;
    /* Heartbeats run from registration: the interchange drops a pool silent for
     * heartbeat_threshold, however long the other N - 1 take to register. The
     * k-th pool's first one comes k/N of a period after its WELCOME, so the
     * pools' phases spread over the period as those of pools started at
     * different moments do, and the ring stays in time order (both terms grow
     * with k). */
    double after = g->o->hb_period * (double)(g->registered - 1) / g->o->pools;
    hb_push(g, i, now + after);
}

/* Every task comes straight back as a success carrying its first argument. */
static void on_tasks(struct gen *g, int i, const struct cp__wire_tasks *ts)
{
    struct cp__wire_result stack[64], *rs = stack;
    if (ts->n > 64 && !(rs = malloc(ts->n * sizeof *rs)))
        gen_fail(g, "out of memory answering %zu tasks", ts->n);
    double now = wall(), start = now - g->o->task_ms / 1e3;
    for (size_t k = 0; k < ts->n; k++) {
        const struct cp__wire_task *t = &ts->tasks[k];
        rs[k] = (struct cp__wire_result){.task_id = t->task_id, .try_id = t->try_id,
                                         .ok = true, .value = t->nargs ? &t->args[0] : NULL,
                                         .t_start = start, .t_end = now, .worker_rank = 0};
    }
    struct cp__wire_msg m = {.type = CP_WIRE_RESULTS,
                             .u.results = {.results = rs, .n = ts->n}};
    g->tasks_recv += ts->n;
    pool_send(g, i, &m);
    g->results_sent += ts->n;
    if (rs != stack)
        free(rs);
}

static void on_msg(struct gen *g, int i, const struct cp__wire_msg *m)
{
    struct sim_pool *p = &g->pools[i];
    g->frames_recv++;
    switch (m->type) {
    case CP_WIRE_SERVER_HELLO:
        send_register(g, i);
        break;
    case CP_WIRE_WELCOME:
        on_welcome(g, i);
        break;
    case CP_WIRE_HEARTBEAT:
        g->hb_recv++;
        break;
    case CP_WIRE_TASKS:
        on_tasks(g, i, &m->u.tasks);
        break;
    case CP_WIRE_SHUTDOWN:
        p->told_shutdown = true;
        g->shutdowns++;
        break;
    case CP_WIRE_REFUSE:
        gen_fail(g, "pool %d was refused by the interchange (%s): %s", i,
                 p->state == SP_READY ? "after registering" : "during the handshake",
                 m->u.refuse.reason ? m->u.refuse.reason : "(no reason)");
    default:   /* HOLD: nothing to do for a pool that holds nothing */
        break;
    }
}

static void on_eof(struct gen *g, int i)
{
    struct sim_pool *p = &g->pools[i];
    cp_err e;
    if (p->state != SP_READY)
        gen_fail(g, "pool %d: the interchange closed the connection during the handshake", i);
    if (cp__wire_conn_eof(p->wc, &e) < 0)
        gen_fail(g, "pool %d: %s", i, e.text);
    pool_gone(g, i);
}

static void on_readable(struct gen *g, int i)
{
    struct sim_pool *p = &g->pools[i];
    ssize_t n = read(p->fd, g->rbuf, sizeof g->rbuf);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n < 0 && errno == ECONNRESET && p->state == SP_READY) {
        pool_gone(g, i);
        return;
    }
    if (n < 0)
        gen_fail(g, "pool %d: read: %s", i, strerror(errno));
    if (n == 0) {
        on_eof(g, i);
        return;
    }
    size_t off = 0;
    while (off < (size_t)n && p->state != SP_CLOSED) {
        struct cp__wire_msg m;
        size_t used = 0;
        cp_err e;
        int rc = cp__wire_conn_recv(p->wc, g->rbuf + off, (size_t)n - off, &used, &m, &e);
        off += used;
        if (rc < 0)
            gen_fail(g, "pool %d: %s", i, e.text);
        if (rc == 0)
            break;
        on_msg(g, i, &m);
        cp__wire_msg_clear(&m);
    }
}

static void on_pool_event(struct gen *g, int i, uint32_t events)
{
    struct sim_pool *p = &g->pools[i];
    if (p->state == SP_CONNECTING && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
            err = errno;
        if (err)
            gen_fail(g, "pool %d: connect to 127.0.0.1:%d: %s", i, g->port, strerror(err));
        p->state = SP_HELLO;
        struct cp__wire_msg m = {.type = CP_WIRE_CLIENT_HELLO};
        pool_send(g, i, &m);
        return;
    }
    if (events & EPOLLOUT)
        pool_flush(g, i);
    if (p->state != SP_CLOSED && (events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
        on_readable(g, i);
}

/* Sends every heartbeat that is due; returns seconds until the next one. */
static double heartbeats(struct gen *g, double now)
{
    struct cp__wire_msg m = {.type = CP_WIRE_HEARTBEAT,
                             .u.heartbeat = {.free_slots = g->o->capacity}};
    while (g->hb_len > 0) {
        int i = g->hbq[g->hb_head];
        struct sim_pool *p = &g->pools[i];
        if (p->state == SP_READY && p->next_hb > now)
            return p->next_hb - now;
        g->hb_head = (g->hb_head + 1) % (size_t)g->o->pools;
        g->hb_len--;
        if (p->state != SP_READY)
            continue;
        pool_send(g, i, &m);
        g->hb_sent++;
        hb_push(g, i, now + g->o->hb_period);
    }
    return 1.0;
}

static void report_registered(struct gen *g)
{
    int n = g->registered, tenth = n / 10;
    struct ctl m = {.type = CTL_REGISTERED};
    m.reg_s = g->reg_at[n - 1] - g->t0;
    /* The first tenth is the window filling (all its handshakes overlap), so the
     * second tenth is the early rate to compare with the last. */
    if (tenth > 0) {
        double early = g->reg_at[2 * tenth - 1] - g->reg_at[tenth - 1];
        double late = g->reg_at[n - 1] - g->reg_at[n - tenth - 1];
        m.rate_second = early > 0 ? tenth / early : 0;
        m.rate_last = late > 0 ? tenth / late : 0;
    }
    double *lat = malloc((size_t)n * sizeof *lat);
    if (lat) {
        memcpy(lat, g->lat, (size_t)n * sizeof *lat);
        qsort(lat, (size_t)n, sizeof *lat, cmp_dbl);
        m.lat_p50_ms = lat[(n - 1) / 2] * 1e3;
        m.lat_p99_ms = lat[(size_t)((n - 1) * 0.99)] * 1e3;
        m.lat_max_ms = lat[n - 1] * 1e3;
        free(lat);
    }
    gen_state(g, &m);
    if (ctl_send(g->ctl, &m) < 0)
        _exit(1);
    g->reported = true;
}

/* A control message: QUIT starts the wind-down, anything else asks for a STATE. */
static void on_ctl(struct gen *g)
{
    struct ctl m;
    ssize_t n = recv(g->ctl, &m, sizeof m, 0);
    if (n < 0 && errno == EINTR)
        return;
    if (n != (ssize_t)sizeof m)
        _exit(1);   /* the parent is gone */
    if (m.type == CTL_QUIT) {
        g->quitting = true;
        return;
    }
    struct ctl r = {.type = CTL_STATE};
    gen_state(g, &r);
    if (ctl_send(g->ctl, &r) < 0)
        _exit(1);
}

static void gen_loop(struct gen *g, double deadline)
{
    struct epoll_event evs[512];
    double quit_by = 0;
    for (;;) {
        double now = mono();
        if (now > deadline)
            gen_fail(g, "deadline: %d of %d pools registered, %d open", g->registered,
                     g->o->pools, g->open);
        while (g->started < g->o->pools && g->in_handshake < g->o->window)
            pool_open(g, g->started++);
        if (!g->reported && g->registered == g->o->pools)
            report_registered(g);
        if (g->quitting) {
            /* The interchange has stopped: drain SHUTDOWNs and EOFs briefly. */
            if (!quit_by)
                quit_by = now + 5.0;
            if (g->open == 0 || now > quit_by)
                return;
        }
        double wait = heartbeats(g, now);
        int ms = wait > 0.1 ? 100 : (int)(wait * 1000) + 1;
        int nev = epoll_wait(g->ep, evs, 512, ms);
        if (nev < 0 && errno != EINTR)
            gen_fail(g, "epoll_wait: %s", strerror(errno));
        for (int k = 0; k < nev; k++) {
            if (evs[k].data.u32 == UINT32_MAX)
                on_ctl(g);
            else if (g->pools[evs[k].data.u32].state != SP_CLOSED)
                on_pool_event(g, (int)evs[k].data.u32, evs[k].events);
        }
    }
}

static int gen_main(const struct opts *o, const unsigned char *secret, int ctl)
{
    static struct gen g;   /* big (the read buffer); one per process */
    g.o = o;
    g.secret = secret;
    g.ctl = ctl;
    g.pools = calloc((size_t)o->pools, sizeof *g.pools);
    g.hbq = calloc((size_t)o->pools, sizeof *g.hbq);
    g.reg_at = calloc((size_t)o->pools, sizeof *g.reg_at);
    g.lat = calloc((size_t)o->pools, sizeof *g.lat);
    if (!g.pools || !g.hbq || !g.reg_at || !g.lat)
        gen_fail(&g, "out of memory for %d pools", o->pools);
    struct ctl go;
    if (recv(ctl, &go, sizeof go, 0) != (ssize_t)sizeof go || go.type != CTL_GO)
        return 1;   /* the parent gave up before starting */
    g.port = go.port;
    if ((g.ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
        gen_fail(&g, "epoll_create1: %s", strerror(errno));
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = UINT32_MAX};
    if (epoll_ctl(g.ep, EPOLL_CTL_ADD, ctl, &ev) < 0)
        gen_fail(&g, "epoll_ctl: %s", strerror(errno));
    g.t0 = mono();
    gen_loop(&g, g.t0 + o->deadline);
    struct ctl r = {.type = CTL_STATE};
    gen_state(&g, &r);
    (void)ctl_send(ctl, &r);
    return 0;
}

/* ------------------------------------------------------------------ the parent */

struct tjob {
    struct cp__job job;         /* first: the done hook gets &tjob.job */
    struct cp_value arg;        /* the one argument, echoed back as the value */
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static atomic_long ndone, nfailed;
static atomic_long want_done;
static char first_error[300];

static void on_done(void *eng, struct cp__job *job)
{
    (void)eng;
    if (job->failed && atomic_fetch_add(&nfailed, 1) == 0) {
        pthread_mutex_lock(&mu);
        snprintf(first_error, sizeof first_error, "task %ld: %s", job->task_id,
                 job->error ? job->error : "(no text)");
        pthread_mutex_unlock(&mu);
    }
    if (atomic_fetch_add(&ndone, 1) + 1 == atomic_load(&want_done)) {
        pthread_mutex_lock(&mu);
        pthread_cond_broadcast(&cv);
        pthread_mutex_unlock(&mu);
    }
}

static const struct cp__executor_hooks HOOKS = {.done = on_done};
static const cp_app_def NOOP = {.name = "noop"};

struct run {
    const struct opts *o;
    struct cp__interchange *ic;
    int ctl;
    pid_t child;
    double deadline;            /* CLOCK_MONOTONIC */
    struct tjob *jobs;
    bool ok;
};

/* The interchange's CPU: every thread of this process but the main one (which
 * only submits and sleeps), so the libuv loop thread. */
static double ic_cpu(void)
{
    return cpu_s(RUSAGE_SELF) - cpu_s(RUSAGE_THREAD);
}

static void fail(struct run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct run *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "ic_load: FAILED: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    r->ok = false;
}

/* The generator's next message, within the deadline. -1 on timeout, a FAIL (its
 * text printed) or a dead generator. */
static int ctl_recv(struct run *r, struct ctl *m, int want)
{
    for (;;) {
        double left = r->deadline - mono();
        if (left <= 0) {
            fail(r, "deadline (%.0f s) reached waiting for the load generator", r->o->deadline);
            return -1;
        }
        struct pollfd pfd = {.fd = r->ctl, .events = POLLIN};
        int pr = poll(&pfd, 1, left > 1 ? 1000 : (int)(left * 1000) + 1);
        if (pr < 0 && errno != EINTR) {
            fail(r, "poll: %s", strerror(errno));
            return -1;
        }
        if (pr <= 0)
            continue;
        ssize_t n = recv(r->ctl, m, sizeof *m, 0);
        if (n != (ssize_t)sizeof *m) {
            fail(r, "the load generator died");
            return -1;
        }
        if (m->type == CTL_FAIL) {
            fail(r, "load generator: %s", m->text);
            return -1;
        }
        if (m->type == want)
            return 0;
    }
}

static int snap(struct run *r, struct ctl *m)
{
    struct ctl q = {.type = CTL_SNAP};
    if (ctl_send(r->ctl, &q) < 0) {
        fail(r, "the load generator died");
        return -1;
    }
    return ctl_recv(r, m, CTL_STATE);
}

/* Sleeps seconds in 100 ms steps, keeping the lowest connected count seen. */
static int watch(struct run *r, double seconds, int *pools_min)
{
    double end = mono() + seconds;
    while (mono() < end) {
        struct cp__ic_stats st;
        cp__interchange_stats(r->ic, &st);
        if (st.pools_connected < *pools_min)
            *pools_min = st.pools_connected;
        if (mono() > r->deadline) {
            fail(r, "deadline (%.0f s) reached in the idle phase", r->o->deadline);
            return -1;
        }
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return 0;
}

static int phase_register(struct run *r, long rss0)
{
    int n = r->o->pools;
    double c0 = ic_cpu();
    struct ctl go = {.type = CTL_GO, .port = cp__interchange_port(r->ic)}, m;
    if (ctl_send(r->ctl, &go) < 0 || ctl_recv(r, &m, CTL_REGISTERED) < 0)
        return -1;
    double cpu = ic_cpu() - c0;
    long rss1 = rss_now();
    struct cp__ic_stats st;
    cp__interchange_stats(r->ic, &st);
    printf("{\"bench\":\"ic_register\",\"n\":%d,\"window\":%d,\"encrypted\":%s,\"seconds\":%.3f,"
           "\"pools_per_s\":%.0f,\"pools_per_s_second_tenth\":%.0f,"
           "\"pools_per_s_last_tenth\":%.0f,\"latency_p50_ms\":%.2f,\"latency_p99_ms\":%.2f,"
           "\"latency_max_ms\":%.2f,\"ic_cpu_s\":%.3f,\"ic_cpu_us_per_pool\":%.1f,"
           "\"gen_cpu_s\":%.3f,\"ic_rss_base_mb\":%.1f,\"ic_rss_mb\":%.1f,"
           "\"ic_rss_per_pool_b\":%.0f,\"gen_rss_mb\":%.1f,"
           "\"pools_connected\":%d,\"refused\":%llu}\n",
           n, r->o->window, r->o->encrypted ? "true" : "false", m.reg_s, n / m.reg_s,
           m.rate_second, m.rate_last, m.lat_p50_ms, m.lat_p99_ms, m.lat_max_ms, cpu,
           cpu / n * 1e6, m.cpu, rss0 / 1048576.0, rss1 / 1048576.0,
           (double)(rss1 - rss0) / n, m.rss / 1048576.0, st.pools_connected, (unsigned long long)st.connections_refused);
    fprintf(stderr, "ic_load: %d pools registered in %.2f s (%.0f/s; second tenth %.0f/s, last "
            "tenth %.0f/s; handshake p50 %.1f ms, p99 %.1f ms); interchange %.1f µs CPU and "
            "%.0f B RSS per pool\n", n, m.reg_s, n / m.reg_s, m.rate_second, m.rate_last,
            m.lat_p50_ms, m.lat_p99_ms, cpu / n * 1e6, (double)(rss1 - rss0) / n);
    if (st.pools_connected != n || st.connections_refused) {
        fail(r, "after registration the interchange counts %d pools connected (want %d) and "
             "%llu connections refused", st.pools_connected, n,
             (unsigned long long)st.connections_refused);
        return -1;
    }
    return 0;
}

static int phase_idle(struct run *r, long rss0)
{
    int n = r->o->pools, pools_min = n;
    double s = r->o->idle;
    struct ctl m0, m1;
    struct cp__ic_stats st0, st1;
    if (snap(r, &m0) < 0)
        return -1;
    cp__interchange_stats(r->ic, &st0);
    long rss_a = rss_now();
    double c0 = ic_cpu(), t0 = mono();
    if (watch(r, s, &pools_min) < 0)
        return -1;
    double c1 = ic_cpu(), t1 = mono();
    long rss_b = rss_now();
    cp__interchange_stats(r->ic, &st1);
    if (snap(r, &m1) < 0)
        return -1;
    double el = t1 - t0, cpu = c1 - c0, gcpu = m1.cpu - m0.cpu;
    uint64_t fin = st1.frames_received - st0.frames_received;
    uint64_t fout = st1.frames_sent - st0.frames_sent;
    double expect = n * el / r->o->hb_period;
    /* Every pool's heartbeats are at most period + one tick apart, so a window of
     * el seconds holds at least floor(el / that) of them each way. */
    double least = n * floor(el / (r->o->hb_period + hb_lag(r->o)));
    printf("{\"bench\":\"ic_idle\",\"n\":%d,\"seconds\":%.2f,\"heartbeat_period\":%g,"
           "\"ic_cpu_s\":%.3f,\"ic_cpu_pct\":%.2f,\"ic_cpu_us_per_pool_s\":%.3f,"
           "\"ic_cpu_us_per_frame\":%.2f,\"gen_cpu_s\":%.3f,\"gen_cpu_us_per_pool_s\":%.3f,"
           "\"frames_from_pools\":%llu,\"frames_to_pools\":%llu,\"heartbeats_expected_each_way\":%.0f,"
           "\"gen_heartbeats_sent\":%llu,\"gen_heartbeats_received\":%llu,"
           "\"ic_rss_mb\":%.1f,\"ic_rss_per_pool_b\":%.0f,\"ic_rss_growth_b\":%ld,"
           "\"pools_min\":%d,\"pools_lost\":%llu,\"gen_dropped\":%d}\n",
           n, el, r->o->hb_period, cpu, cpu / el * 100, cpu / el / n * 1e6,
           fin + fout ? cpu / (double)(fin + fout) * 1e6 : 0.0, gcpu, gcpu / el / n * 1e6,
           (unsigned long long)fin, (unsigned long long)fout, expect,
           (unsigned long long)(m1.hb_sent - m0.hb_sent),
           (unsigned long long)(m1.hb_recv - m0.hb_recv), rss_b / 1048576.0,
           (double)(rss_b - rss0) / n, rss_b - rss_a, pools_min,
           (unsigned long long)(st1.pools_lost - st0.pools_lost), m1.dropped);
    fprintf(stderr, "ic_load: idle %.1f s with heartbeats every %g s: interchange %.2f %% of a "
            "core = %.3f µs CPU per pool per second (%.2f µs per frame, %llu in, %llu out), "
            "RSS %+ld B; generator %.2f %% of a core; pools connected ≥ %d\n", el,
            r->o->hb_period, cpu / el * 100, cpu / el / n * 1e6,
            fin + fout ? cpu / (double)(fin + fout) * 1e6 : 0.0, (unsigned long long)fin,
            (unsigned long long)fout, rss_b - rss_a, gcpu / el * 100, pools_min);
    if (pools_min != n || st1.pools_lost != st0.pools_lost || m1.dropped) {
        fail(r, "pools were dropped while idle: connected fell to %d of %d, %llu lost",
             pools_min, n, (unsigned long long)(st1.pools_lost - st0.pools_lost));
        return -1;
    }
    if ((double)fin < least || (double)fout < least) {
        fail(r, "heartbeats missing: %llu from pools and %llu to pools, at least %.0f expected "
             "each way", (unsigned long long)fin, (unsigned long long)fout, least);
        return -1;
    }
    return 0;
}

/* Waits for every task within the deadline. */
static int wait_tasks(struct run *r)
{
    pthread_mutex_lock(&mu);
    while (atomic_load(&ndone) < atomic_load(&want_done)) {
        double dl = wall() + (r->deadline - mono());
        struct timespec ts = {(time_t)dl, (long)((dl - (double)(time_t)dl) * 1e9)};
        if (pthread_cond_timedwait(&cv, &mu, &ts) == ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock(&mu);
    long got = atomic_load(&ndone);
    if (got < atomic_load(&want_done)) {
        fail(r, "deadline (%.0f s) reached with %ld of %ld task results in", r->o->deadline, got,
             atomic_load(&want_done));
        return -1;
    }
    return 0;
}

/* Counts the jobs [0, t) that failed or carry a wrong value, and makes them ready
 * to be submitted again. */
static long check_values(struct run *r, long t)
{
    long bad = 0;
    for (long i = 0; i < t; i++) {
        struct cp__job *j = &r->jobs[i].job;
        if (j->failed || j->result.type != CP_INT || j->result.u.i != r->jobs[i].arg.u.i)
            bad++;
        cp__value_clear(&j->result);
        free(j->error);
        j->error = NULL;
        j->failed = j->timed_out = false;
    }
    return bad;
}

/* t no-op tasks submitted at once, waited for and checked; bench names the JSON line. */
static int phase_tasks(struct run *r, const char *bench, long t)
{
    int n = r->o->pools;
    struct ctl m0, m1;
    struct cp__ic_stats st0, st1;
    if (snap(r, &m0) < 0)
        return -1;
    cp__interchange_stats(r->ic, &st0);
    atomic_store(&ndone, 0);
    atomic_store(&nfailed, 0);
    atomic_store(&want_done, t);
    double c0 = ic_cpu(), cm0 = cpu_s(RUSAGE_THREAD), t0 = mono();
    for (long i = 0; i < t; i++)
        cp__interchange_submit(r->ic, &r->jobs[i].job);
    double t_sub = mono();
    if (wait_tasks(r) < 0)
        return -1;
    double t1 = mono(), c1 = ic_cpu(), cm1 = cpu_s(RUSAGE_THREAD);
    cp__interchange_stats(r->ic, &st1);
    if (snap(r, &m1) < 0)
        return -1;
    long bad = check_values(r, t);
    double el = t1 - t0, cpu = c1 - c0, gcpu = m1.cpu - m0.cpu;
    printf("{\"bench\":\"%s\",\"n\":%d,\"tasks\":%ld,\"capacity\":%d,\"seconds\":%.3f,"
           "\"tasks_per_s\":%.0f,\"submit_s\":%.3f,\"ic_cpu_s\":%.3f,\"ic_cpu_us_per_task\":%.2f,"
           "\"ic_cpu_us_per_frame_in\":%.2f,"
           "\"submit_cpu_s\":%.3f,\"gen_cpu_s\":%.3f,\"gen_cpu_us_per_task\":%.2f,"
           "\"frames_to_pools\":%llu,\"frames_from_pools\":%llu,\"gen_heartbeats_sent\":%llu,"
           "\"gen_heartbeats_due\":%.0f,\"ic_rss_mb\":%.1f,"
           "\"pools_lost\":%llu,\"failed\":%ld,\"bad\":%ld}\n",
           bench, n, t, r->o->capacity, el, t / el, t_sub - t0, cpu, cpu / t * 1e6,
           cpu / (double)(st1.frames_received - st0.frames_received + 1) * 1e6, cm1 - cm0, gcpu,
           gcpu / t * 1e6,
           (unsigned long long)(st1.frames_sent - st0.frames_sent),
           (unsigned long long)(st1.frames_received - st0.frames_received),
           (unsigned long long)(m1.hb_sent - m0.hb_sent), n * el / r->o->hb_period,
           rss_now() / 1048576.0,
           (unsigned long long)(st1.pools_lost - st0.pools_lost), atomic_load(&nfailed), bad);
    fprintf(stderr, "ic_load: %s: %ld no-op tasks over %d pools in %.2f s = %.0f tasks/s "
            "(interchange %.1f µs CPU per task, generator %.1f µs)\n", bench, t, n, el, t / el,
            cpu / t * 1e6, gcpu / t * 1e6);
    if (bad || st1.pools_lost != st0.pools_lost || st1.pools_connected != n ||
        m1.dropped != m0.dropped) {
        fail(r, "%ld of %ld results failed or were wrong (%s); %llu pools lost, %d dropped", bad,
             t, first_error[0] ? first_error : "values differ",
             (unsigned long long)(st1.pools_lost - st0.pools_lost), m1.dropped - m0.dropped);
        return -1;
    }
    return 0;
}

static int phase_stop(struct run *r)
{
    double t0 = mono();
    cp__interchange_stop(r->ic);
    r->ic = NULL;
    double el = mono() - t0;
    struct ctl q = {.type = CTL_QUIT}, m;
    if (ctl_send(r->ctl, &q) < 0 || ctl_recv(r, &m, CTL_STATE) < 0)
        return -1;
    printf("{\"bench\":\"ic_stop\",\"n\":%d,\"seconds\":%.3f,\"gen_shutdowns\":%d,"
           "\"gen_still_open\":%d,\"gen_cpu_total_s\":%.3f,\"gen_rss_mb\":%.1f}\n",
           r->o->pools, el, m.shutdowns, m.open, m.cpu, m.rss / 1048576.0);
    fprintf(stderr, "ic_load: stop with %d pools: %.2f s (%d told SHUTDOWN)\n", r->o->pools, el,
            m.shutdowns);
    return 0;
}

/* ------------------------------------------------------------------ set-up */

static int raise_nofile(int pools)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
        fprintf(stderr, "ic_load: getrlimit: %s\n", strerror(errno));
        return -1;
    }
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
        fprintf(stderr, "ic_load: cannot raise RLIMIT_NOFILE to %llu: %s\n",
                (unsigned long long)rl.rlim_max, strerror(errno));
        return -1;
    }
    rlim_t need = (rlim_t)pools + 64;
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need) {
        fprintf(stderr, "ic_load: RLIMIT_NOFILE hard limit is %llu, below the %llu descriptors "
                "%d pools need in each process; raise it (ulimit -Hn, limits.conf) or use "
                "fewer --pools\n", (unsigned long long)rl.rlim_max, (unsigned long long)need,
                pools);
        return -1;
    }
    return 0;
}

static int make_jobs(struct run *r)
{
    long wave = (long)r->o->pools * r->o->capacity;
    long t = r->o->tasks > wave ? r->o->tasks : wave;
    r->jobs = calloc((size_t)t, sizeof *r->jobs);   /* calloc + the loop touch it */
    if (!r->jobs)
        return -1;
    for (long i = 0; i < t; i++) {
        struct tjob *j = &r->jobs[i];
        cp__value_int(&j->arg, 3 * i + 1);
        j->job.kind = CP_JOB_NATIVE;
        j->job.task_id = i;
        j->job.app = &NOOP;
        j->job.nargs = 1;
        j->job.args = &j->arg;
    }
    return 0;
}

static pid_t alarm_child;

/* The backstop behind every phase's own deadline check. */
static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "ic_load: FAILED: hard deadline (--deadline + 15 s) reached\n";
    (void)!write(2, msg, sizeof msg - 1);
    if (alarm_child > 0)
        kill(alarm_child, SIGKILL);
    _exit(1);
}

static pid_t start_generator(const struct opts *o, const unsigned char *secret, int *ctl)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(sv[0]);
        prctl(PR_SET_NAME, "ic_gen");
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() == 1)
            _exit(1);
        _exit(gen_main(o, secret, sv[1]));
    }
    close(sv[1]);
    *ctl = sv[0];
    if (pid < 0)
        close(sv[0]);
    return pid;
}

static int run_phases(struct run *r)
{
    unsigned char secret[CP_WIRE_SECRET_LEN];
    cp_err err = {0};
    if (cp__wire_secret_new(secret, &err) < 0) {
        fprintf(stderr, "ic_load: set-up: %s\n", err.text);
        return 2;
    }
    /* Forked before the jobs exist, so the generator's RSS is its own. */
    if ((r->child = alarm_child = start_generator(r->o, secret, &r->ctl)) < 0) {
        fprintf(stderr, "ic_load: cannot start the load generator: %s\n", strerror(errno));
        return 2;
    }
    if (make_jobs(r) < 0) {
        fprintf(stderr, "ic_load: set-up: out of memory for %ld jobs\n", r->o->tasks);
        return 2;
    }
    struct cp__ic_settings s = {.heartbeat_period = r->o->hb_period,
                                .heartbeat_threshold = r->o->hb_threshold,
                                .encrypted = r->o->encrypted, .label = "ic_load"};
    memcpy(s.secret, secret, sizeof secret);
    long rss0 = rss_now();   /* before the interchange: its own share */
    if (!(r->ic = cp__interchange_start(&s, &HOOKS, &err))) {
        fprintf(stderr, "ic_load: cannot start the interchange: %s\n", err.text);
        return 2;
    }
    r->ok = true;
    if (phase_register(r, rss0) == 0 && phase_idle(r, rss0) == 0 &&
        phase_tasks(r, "ic_wave", (long)r->o->pools * r->o->capacity) == 0 &&
        (r->o->tasks == 0 || phase_tasks(r, "ic_tasks", r->o->tasks) == 0))
        phase_stop(r);
    return r->ok ? 0 : 1;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: ic_load [--pools N] [--idle S] [--tasks T] [--heartbeat P] [--threshold S]\n"
            "               [--window W] [--workers W] [--capacity C] [--deadline S] [--encrypted]\n"
            "               [--task-ms MS]\n"
            "defaults: 10000 pools, 25 s idle, 3 × pools × capacity tasks, heartbeat 10 s\n"
            "(threshold 2 × period), window 256, 1 worker and capacity 1 per pool, deadline 120 s,\n"
            "results report 0 ms of run time\n");
}

static int parse(int argc, char **argv, struct opts *o)
{
    static const struct option lo[] = {
        {"pools", 1, 0, 'n'}, {"idle", 1, 0, 'i'}, {"tasks", 1, 0, 't'},
        {"heartbeat", 1, 0, 'p'}, {"threshold", 1, 0, 'T'}, {"window", 1, 0, 'w'},
        {"workers", 1, 0, 'W'}, {"capacity", 1, 0, 'c'}, {"deadline", 1, 0, 'd'},
        {"encrypted", 0, 0, 'e'}, {"task-ms", 1, 0, 'm'}, {0, 0, 0, 0}};
    *o = (struct opts){.pools = 10000, .idle = 25, .tasks = -1, .hb_period = 10, .window = 256,
                       .workers = 1, .capacity = 0, .deadline = 120};
    int c;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case 'n': o->pools = atoi(optarg); break;
        case 'i': o->idle = atof(optarg); break;
        case 't': o->tasks = atol(optarg); break;
        case 'p': o->hb_period = atof(optarg); break;
        case 'T': o->hb_threshold = atof(optarg); break;
        case 'w': o->window = atoi(optarg); break;
        case 'W': o->workers = atoi(optarg); break;
        case 'c': o->capacity = atoi(optarg); break;
        case 'd': o->deadline = atof(optarg); break;
        case 'e': o->encrypted = true; break;
        case 'm': o->task_ms = atof(optarg); break;
        default: return -1;
        }
    }
    if (o->capacity <= 0)
        o->capacity = o->workers;
    if (o->tasks < 0)   /* three full waves: two of them queue behind busy pools */
        o->tasks = 3L * o->pools * o->capacity;
    if (o->hb_period > 0 && o->idle < o->hb_period + hb_lag(o)) {
        fprintf(stderr, "ic_load: --idle (%g s) must be at least --heartbeat + %g s, so that "
                "every pool heartbeats both ways in the idle phase\n", o->idle, hb_lag(o));
        return -1;
    }
    if (optind != argc || o->pools < 1 || o->hb_period <= 0 || o->window < 1 ||
        o->workers < 0 || o->capacity < o->workers || o->capacity < 1 || o->deadline <= 0 ||
        o->task_ms < 0)
        return -1;
    return 0;
}

int main(int argc, char **argv)
{
    struct opts o;
    if (parse(argc, argv, &o) < 0) {
        usage();
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    if (raise_nofile(o.pools) < 0)
        return 2;
    signal(SIGALRM, on_alarm);
    alarm((unsigned)o.deadline + 15);
    struct run r = {.o = &o, .ctl = -1, .child = -1, .deadline = mono() + o.deadline};
    int rc = run_phases(&r);
    if (rc != 0 && r.child > 0)
        kill(r.child, SIGKILL);   /* a failed run: nothing more to learn from it */
    cp__interchange_stop(r.ic);   /* a failed phase left it running; NULL is fine */
    if (r.child > 0) {
        int st;
        double end = mono() + 5;
        while (waitpid(r.child, &st, WNOHANG) == 0 && mono() < end)
            nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL);
        if (waitpid(r.child, &st, WNOHANG) == 0) {
            kill(r.child, SIGKILL);
            waitpid(r.child, &st, 0);
        }
    }
    free(r.jobs);
    return rc;
}
