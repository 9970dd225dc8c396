/* tests/unit/interchange.c — the interchange (executors/interchange.h) against fake
 * pools written here with the wire API (role pool) over real loopback TCP, and
 * raw-byte clients: ports, handshakes (plain and sealed), registration, batches
 * sized to capacity, results and errors through the done hook, priority order,
 * pools lost by close and by silence (exactly once, the others keep working),
 * refusals of bad clients while a good pool keeps getting work, DRAIN, HOLD, and
 * stop failing what is left. */
#include "executors/interchange.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tap.h"

static const unsigned char SECRET_A[32] = "0123456789abcdef0123456789abcdef";
static const unsigned char SECRET_B[32] = "fedcba9876543210fedcba9876543210";

static double mult = 1.0;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ------------------------------------------------------------------ stub engine */

struct tjob {
    struct cp__job job;         /* first: the hooks get &tjob.job */
    int ndone, nrunning;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int ndone, nrunning;
static struct tjob *done_order[256];

static void on_done(void *eng, struct cp__job *job)
{
    (void)eng;
    pthread_mutex_lock(&mu);
    struct tjob *t = (struct tjob *)job;
    t->ndone++;
    if (ndone < 256)
        done_order[ndone] = t;
    ndone++;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

static void on_running(void *eng, struct cp__job *job)
{
    (void)eng;
    pthread_mutex_lock(&mu);
    ((struct tjob *)job)->nrunning++;
    nrunning++;
    pthread_mutex_unlock(&mu);
}

static const struct cp__executor_hooks HOOKS = {.running = on_running, .done = on_done};

static void reset_engine(void)
{
    pthread_mutex_lock(&mu);
    ndone = nrunning = 0;
    pthread_mutex_unlock(&mu);
}

/* Waits until at least n jobs are done; returns the count. */
static int wait_done(int n, double seconds)
{
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    double end = (double)dl.tv_sec + (double)dl.tv_nsec * 1e-9 + seconds * mult;
    dl.tv_sec = (time_t)end;
    dl.tv_nsec = (long)((end - (double)dl.tv_sec) * 1e9);
    pthread_mutex_lock(&mu);
    while (ndone < n && pthread_cond_timedwait(&cv, &mu, &dl) != ETIMEDOUT)
        ;
    int got = ndone;
    pthread_mutex_unlock(&mu);
    return got;
}

static const cp_app_def APP = {.name = "add", .kind = 0};

static void make_job(struct tjob *t, long id, int prio)
{
    cp__value_clear(&t->job.result);
    free(t->job.error);
    *t = (struct tjob){0};
    t->job.kind = CP_JOB_NATIVE;
    t->job.task_id = id;
    t->job.priority = prio;
    t->job.app = &APP;
    t->job.nargs = 0;
}

static void clear_job(struct tjob *t)
{
    cp__value_clear(&t->job.result);
    free(t->job.error);
    t->job.error = NULL;
}

static struct cp__interchange *start_ic(bool encrypted, double period, cp_err *err)
{
    struct cp__ic_settings s = {.encrypted = encrypted, .heartbeat_period = period,
                                .label = "test"};
    memcpy(s.secret, SECRET_A, 32);
    return cp__interchange_start(&s, &HOOKS, err);
}

/* ------------------------------------------------------------------ fake pools */

struct fpool {
    int fd;
    struct cp__wire_conn *wc;
    unsigned char buf[65536];
    size_t len, off;
    bool eof;
    int heartbeats;             /* HEARTBEATs skipped by fp_recv */
    cp_err err;
};

static int tcp_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static bool write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w <= 0)
            return false;
        c += w;
        n -= (size_t)w;
    }
    return true;
}

static bool fp_send(struct fpool *p, const struct cp__wire_msg *m)
{
    struct cp__wire_buf b = {0};
    bool okay = cp__wire_conn_send(p->wc, m, &b, &p->err) == 0 && write_all(p->fd, b.data, b.len);
    cp__wire_buf_free(&b);
    return okay;
}

/* The next message (HEARTBEATs are counted and skipped unless want_hb): 1, 0 on
 * timeout, -1 on EOF or a refusal. */
static int fp_recv_any(struct fpool *p, struct cp__wire_msg *m, double seconds, bool want_hb)
{
    double end = now_s() + seconds * mult;
    for (;;) {
        while (p->off < p->len) {
            size_t used = 0;
            int rc = cp__wire_conn_recv(p->wc, p->buf + p->off, p->len - p->off, &used, m,
                                        &p->err);
            p->off += used;
            if (rc < 0)
                return -1;
            if (rc == 1) {
                if (m->type == CP_WIRE_HEARTBEAT && !want_hb) {
                    p->heartbeats++;
                    cp__wire_msg_clear(m);
                    continue;
                }
                return 1;
            }
        }
        if (p->eof)
            return -1;
        double left = end - now_s();
        if (left <= 0)
            return 0;
        struct pollfd pfd = {.fd = p->fd, .events = POLLIN};
        if (poll(&pfd, 1, (int)(left * 1000) + 1) <= 0)
            continue;
        ssize_t r = read(p->fd, p->buf, sizeof p->buf);
        if (r <= 0) {
            p->eof = true;
            return -1;
        }
        p->len = (size_t)r;
        p->off = 0;
    }
}

static int fp_recv(struct fpool *p, struct cp__wire_msg *m, double seconds)
{
    return fp_recv_any(p, m, seconds, false);
}

static void fp_free(struct fpool *p)
{
    if (!p)
        return;
    if (p->fd >= 0)
        close(p->fd);
    cp__wire_conn_destroy(p->wc);
    free(p);
}

/* A registered pool, or NULL (diag says why). */
static struct fpool *fp_connect(int port, const unsigned char *secret, bool enc, const char *id,
                                const char *block, int workers, int cap)
{
    struct fpool *p = calloc(1, sizeof *p);
    p->fd = tcp_connect(port);
    p->wc = cp__wire_conn_create(CP_WIRE_POOL, secret, enc, &p->err);
    struct cp__wire_msg m;
    struct cp__wire_msg hello = {.type = CP_WIRE_CLIENT_HELLO};
    struct cp__wire_msg reg = {.type = CP_WIRE_REGISTER};
    reg.u.reg = (struct cp__wire_register){
        .pool_id = id, .hostname = "node-test", .block_id = block, .pid = 1234, .cores = 4,
        .memory_gb = 8, .worker_count = workers, .max_capacity = cap, .software = "test"};
    if (p->fd < 0 || !p->wc || !fp_send(p, &hello))
        goto fail;
    if (fp_recv(p, &m, 5) != 1 || m.type != CP_WIRE_SERVER_HELLO) {
        if (m.type)
            cp__wire_msg_clear(&m);
        goto fail;
    }
    cp__wire_msg_clear(&m);
    if (!fp_send(p, &reg) || fp_recv(p, &m, 5) != 1)
        goto fail;
    bool welcome = m.type == CP_WIRE_WELCOME;
    cp__wire_msg_clear(&m);
    if (!welcome)
        goto fail;
    return p;
fail:
    diag("pool %s: handshake failed: %s", id, p->err.text);
    fp_free(p);
    return NULL;
}

/* Receives one TASKS frame; returns its count (-1 if something else came). ids
 * (optional) gets the task ids, tries the try ids. */
static int fp_tasks(struct fpool *p, long *ids, int *tries, double seconds)
{
    struct cp__wire_msg m = {0};
    if (fp_recv(p, &m, seconds) != 1)
        return -1;
    int n = -1;
    if (m.type == CP_WIRE_TASKS) {
        n = (int)m.u.tasks.n;
        for (int i = 0; i < n; i++) {
            if (ids)
                ids[i] = (long)m.u.tasks.tasks[i].task_id;
            if (tries)
                tries[i] = (int)m.u.tasks.tasks[i].try_id;
        }
    } else {
        diag("expected TASKS, got %s", cp__wire_type_name(m.type));
    }
    cp__wire_msg_clear(&m);
    return n;
}

/* Sends ok results (value = 10 × task id) for tasks ids[0..n), each reporting
 * that it ran `took` seconds. */
static bool fp_results_took(struct fpool *p, const long *ids, const int *tries, int n,
                            double took)
{
    struct cp__wire_result rs[64];
    struct cp_value vals[64];
    for (int i = 0; i < n; i++) {
        cp__value_int(&vals[i], ids[i] * 10);
        rs[i] = (struct cp__wire_result){.task_id = ids[i], .try_id = tries ? tries[i] : 0,
                                         .ok = true, .value = &vals[i], .t_start = 1.0,
                                         .t_end = 1.0 + took, .worker_rank = 0};
    }
    struct cp__wire_msg m = {.type = CP_WIRE_RESULTS, .u.results = {.results = rs, .n = (size_t)n}};
    return fp_send(p, &m);
}

static bool fp_results(struct fpool *p, const long *ids, const int *tries, int n)
{
    return fp_results_took(p, ids, tries, n, 1.0);
}

/* ------------------------------------------------------------------ raw clients */

/* Reads until a REFUSE frame (returns its code) or EOF/timeout (returns 0 / -1). */
static int raw_refuse(int fd, char *reason, size_t rlen)
{
    struct cp__wire_reader r;
    cp__wire_reader_init(&r, 1u << CP_WIRE_REFUSE | 1u << CP_WIRE_SERVER_HELLO, CP_WIRE_SEAL_NO);
    unsigned char buf[4096];
    int code = -1;
    double end = now_s() + 5 * mult;
    while (code < 0 && now_s() < end) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, 100) <= 0)
            continue;
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0) {
            code = 0;
            break;
        }
        size_t off = 0;
        while (off < (size_t)n) {
            struct cp__wire_frame f;
            size_t used;
            cp_err e;
            int rc = cp__wire_reader_feed(&r, buf + off, (size_t)n - off, &used, &f, &e);
            off += used;
            if (rc < 0) {
                diag("raw reader: %s", e.text);
                off = (size_t)n;
                break;
            }
            if (rc == 1) {
                struct cp__wire_msg m;
                if (f.type == CP_WIRE_REFUSE &&
                    cp__wire_msg_decode(f.type, f.body, f.len, &m, &e) == 0) {
                    code = (int)m.u.refuse.code;
                    snprintf(reason, rlen, "%s", m.u.refuse.reason ? m.u.refuse.reason : "");
                    cp__wire_msg_clear(&m);
                }
                cp__wire_frame_clear(&f);
            }
        }
    }
    cp__wire_reader_clear(&r);
    return code;
}

/* After a REFUSE, the interchange closes: read() gives 0. */
static bool raw_closed(int fd)
{
    unsigned char b[256];
    double end = now_s() + 5 * mult;
    while (now_s() < end) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, 100) <= 0)
            continue;
        ssize_t n = read(fd, b, sizeof b);
        if (n <= 0)
            return true;
    }
    return false;
}

static void frame(struct cp__wire_buf *out, uint8_t version, uint8_t type,
                  const struct cp__wire_msg *m)
{
    struct cp__wire_buf body = {0};
    cp_err e;
    if (cp__wire_msg_pack(m, &body, &e) < 0)
        diag("pack: %s", e.text);
    (void)cp__wire_buf_reserve(out, CP_WIRE_HEADER_LEN + body.len, &e);
    cp__wire_header_put((unsigned char *)out->data + out->len, version, type, 0,
                        (uint32_t)body.len);
    memcpy(out->data + out->len + CP_WIRE_HEADER_LEN, body.data, body.len);
    out->len += CP_WIRE_HEADER_LEN + body.len;
    cp__wire_buf_free(&body);
}

/* ------------------------------------------------------------------ tests */

static void test_ports(void)
{
    cp_err err = {0};
    struct cp__interchange *a = start_ic(false, 30, &err);
    ok(a && cp__interchange_port(a) > 0, "an ephemeral port: %d", a ? cp__interchange_port(a) : -1);
    if (!a)
        return;
    int pa = cp__interchange_port(a);
    struct cp__ic_settings s = {.port_min = pa, .port_max = pa + 30};
    memcpy(s.secret, SECRET_A, 32);
    struct cp__interchange *b = cp__interchange_start(&s, &HOOKS, &err);
    int pb = b ? cp__interchange_port(b) : -1;
    ok(b && pb > pa && pb <= pa + 30, "a range skips the port in use: %d in %d-%d", pb, pa,
       pa + 30);
    s = (struct cp__ic_settings){.port = pa};
    struct cp__interchange *c = cp__interchange_start(&s, &HOOKS, &err);
    ok(!c && strstr(err.text, "cannot listen") && err.code == EADDRINUSE,
       "a fixed port in use is refused: %s", err.text);
    s = (struct cp__ic_settings){.port_min = pa, .port_max = pa};
    c = cp__interchange_start(&s, &HOOKS, &err);
    ok(!c, "a range of one busy port is refused: %s", err.text);
    s = (struct cp__ic_settings){.address = "no such host.invalid"};
    c = cp__interchange_start(&s, &HOOKS, &err);
    ok(!c && strstr(err.text, "listen address"), "a bad address: %s", err.text);
    cp__interchange_stop(b);
    cp__interchange_stop(a);
}

static void test_handshake_and_batches(bool ic_enc, bool pool_enc)
{
    reset_engine();
    cp_err err = {0};
    struct cp__interchange *ic = start_ic(ic_enc, 30, &err);
    if (!ok(ic, "start: %s", err.text))
        return;
    const char *mode = ic_enc ? "ic requires sealing" : pool_enc ? "pool asks sealing" : "plain";
    /* Queued before any pool: batches are then exactly capacity-sized. */
    static struct tjob jobs[10];
    for (int i = 0; i < 10; i++) {
        make_job(&jobs[i], i, 0);
        cp__interchange_submit(ic, &jobs[i].job);
    }
    is_int(cp__interchange_outstanding(ic), 10, "%s: 10 outstanding", mode);
    struct fpool *p = fp_connect(cp__interchange_port(ic), SECRET_A, pool_enc, "p1", "0", 2, 4);
    if (!ok(p, "%s: handshake and registration", mode))
        goto out;
    ok(cp__wire_conn_sealed(p->wc) == (ic_enc || pool_enc), "%s: sealed is %d", mode,
       ic_enc || pool_enc);
    int sizes[3] = {0}, frames = 0, total = 0;
    long ids[16];
    int tries[16];
    bool order_ok = true;
    while (total < 10 && frames < 3) {
        int n = fp_tasks(p, ids, tries, 5);
        if (n <= 0)
            break;
        for (int i = 0; i < n; i++)
            order_ok = order_ok && ids[i] == total + i;
        sizes[frames++] = n;
        total += n;
        fp_results(p, ids, tries, n);
    }
    ok(frames == 3 && sizes[0] == 4 && sizes[1] == 4 && sizes[2] == 2,
       "%s: 10 jobs at capacity 4 come in TASKS frames of 4,4,2 (got %d,%d,%d)", mode, sizes[0],
       sizes[1], sizes[2]);
    ok(order_ok, "%s: in task id order", mode);
    is_int(wait_done(10, 5), 10, "%s: 10 jobs done", mode);
    bool values = true, once = true;
    for (int i = 0; i < 10; i++) {
        values = values && !jobs[i].job.failed && jobs[i].job.result.type == CP_INT &&
                 jobs[i].job.result.u.i == i * 10 && jobs[i].job.t_end == 2.0;
        once = once && jobs[i].ndone == 1 && jobs[i].nrunning == 1;
    }
    ok(values, "%s: results carry values and times", mode);
    ok(once, "%s: running and done once per job", mode);
    struct cp__ic_stats st;
    cp__interchange_stats(ic, &st);
    ok(st.tasks_sent == 10 && st.results_received == 10 && st.pools_connected == 1 &&
       st.workers_connected == 2 && st.outstanding == 0,
       "%s: stats: tasks %llu results %llu pools %d workers %d outstanding %zu", mode,
       (unsigned long long)st.tasks_sent, (unsigned long long)st.results_received,
       st.pools_connected, st.workers_connected, st.outstanding);
    ok(st.frames_sent >= 5 && st.frames_received >= 5, "%s: frames sent %llu received %llu",
       mode, (unsigned long long)st.frames_sent, (unsigned long long)st.frames_received);
    fp_free(p);
out:
    cp__interchange_stop(ic);
    for (int i = 0; i < 10; i++)
        clear_job(&jobs[i]);
}

static void test_errors_priority_unknown(void)
{
    reset_engine();
    cp_err err = {0};
    struct cp__interchange *ic = start_ic(false, 30, &err);
    static struct tjob jobs[5];
    int prios[5] = {5, 1, 3, 1, 0};
    for (int i = 0; i < 5; i++) {
        make_job(&jobs[i], i, prios[i]);
        cp__interchange_submit(ic, &jobs[i].job);
    }
    struct fpool *p = fp_connect(cp__interchange_port(ic), SECRET_A, false, "prio", "0", 1, 1);
    long order[5] = {-1, -1, -1, -1, -1};
    for (int k = 0; p && k < 5; k++) {
        long id;
        int tr;
        if (fp_tasks(p, &id, &tr, 5) != 1)
            break;
        order[k] = id;
        if (id == 2) {   /* a failure that timed out */
            struct cp__wire_result r = {.task_id = id, .try_id = tr, .ok = false,
                                        .error = "walltime of 1 s exceeded", .timed_out = true,
                                        .t_start = 1, .t_end = 3, .worker_rank = 0};
            struct cp__wire_msg m = {.type = CP_WIRE_RESULTS, .u.results = {.results = &r, .n = 1}};
            fp_send(p, &m);
        } else {
            if (k == 0) {   /* a result for nothing in flight, before the real one */
                long bogus = 999;
                fp_results(p, &bogus, NULL, 1);
            }
            fp_results(p, &id, &tr, 1);
        }
    }
    ok(order[0] == 4 && order[1] == 1 && order[2] == 3 && order[3] == 2 && order[4] == 0,
       "priority order (lower first, then lower id): %ld %ld %ld %ld %ld", order[0], order[1],
       order[2], order[3], order[4]);
    is_int(wait_done(5, 5), 5, "5 done");
    ok(jobs[2].job.failed && jobs[2].job.timed_out && jobs[2].job.error &&
       strcmp(jobs[2].job.error, "walltime of 1 s exceeded") == 0,
       "a failed result reaches done with its error and timed_out: %s",
       jobs[2].job.error ? jobs[2].job.error : "(null)");
    struct cp__ic_stats st;
    cp__interchange_stats(ic, &st);
    is_int(st.results_unknown, 1, "a result for an unknown task is dropped and counted");
    is_int(st.pools_connected, 1, "and the pool stays connected");
    fp_free(p);
    cp__interchange_stop(ic);
    for (int i = 0; i < 5; i++)
        clear_job(&jobs[i]);
}

static bool starts(const char *s, const char *prefix)
{
    return s && strncmp(s, prefix, strlen(prefix)) == 0;
}

static void test_pool_closes(void)
{
    reset_engine();
    cp_err err = {0};
    struct cp__interchange *ic = start_ic(false, 30, &err);
    int port = cp__interchange_port(ic);
    struct fpool *a = fp_connect(port, SECRET_A, false, "pool-a", "0", 3, 3);
    struct fpool *b = fp_connect(port, SECRET_A, false, "pool-b", "1", 3, 3);
    if (!ok(a && b, "two pools registered"))
        goto out;
    is_int(cp__interchange_workers(ic), 6, "6 workers connected");
    static struct tjob jobs[6];
    for (int i = 0; i < 6; i++) {
        make_job(&jobs[i], i, 0);
        cp__interchange_submit(ic, &jobs[i].job);
    }
    /* Both pools fill up (frames may come in pieces as submissions arrive). */
    long ida[8], idb[8];
    int tra[8], trb[8], na = 0, nb = 0;
    double end = now_s() + 5 * mult;
    while (na + nb < 6 && now_s() < end) {
        int n = na < 3 ? fp_tasks(a, ida + na, tra + na, 0.2) : 0;
        if (n > 0)
            na += n;
        n = nb < 3 ? fp_tasks(b, idb + nb, trb + nb, 0.2) : 0;
        if (n > 0)
            nb += n;
    }
    ok(na == 3 && nb == 3, "each pool holds 3 (a %d, b %d)", na, nb);
    close(a->fd);   /* pool a dies mid-task */
    a->fd = -1;
    is_int(wait_done(3, 5), 3, "pool a's 3 tries come back");
    bool lost = true;
    for (int i = 0; i < na; i++) {
        struct tjob *t = &jobs[ida[i]];
        lost = lost && t->ndone == 1 && t->job.failed &&
               starts(t->job.error, "pool lost: pool-a on node-test (block 0): connection closed");
    }
    ok(lost, "each failed once with \"pool lost: pool-a on node-test (block 0): …\": %s",
       jobs[ida[0]].job.error ? jobs[ida[0]].job.error : "(null)");
    struct cp__ic_stats st;
    cp__interchange_stats(ic, &st);
    ok(st.pools_lost == 1 && st.pools_connected == 1 && st.workers_connected == 3,
       "stats: lost %llu, connected %d, workers %d", (unsigned long long)st.pools_lost,
       st.pools_connected, st.workers_connected);
    /* The engine retries them; pool b finishes its own and then theirs. */
    for (int i = 0; i < na; i++) {
        struct tjob *t = &jobs[ida[i]];
        clear_job(t);
        t->job.failed = false;
        t->job.try_id++;
        cp__interchange_submit(ic, &t->job);
    }
    fp_results(b, idb, trb, nb);
    int got = fp_tasks(b, idb, trb, 5);
    ok(got == 3 && trb[0] == 1, "pool b gets the retries (%d, try %d)", got, trb[0]);
    if (got > 0)
        fp_results(b, idb, trb, got);
    is_int(wait_done(9, 5), 9, "every try reported");
    bool fine = true;
    for (int i = 0; i < 6; i++)
        fine = fine && !jobs[i].job.failed && jobs[i].job.result.u.i == i * 10;
    ok(fine, "every task completed");
    is_int(cp__interchange_outstanding(ic), 0, "nothing outstanding");
    for (int i = 0; i < 6; i++)
        clear_job(&jobs[i]);
out:
    fp_free(a);
    fp_free(b);
    cp__interchange_stop(ic);
}

static void test_silent_pool(void)
{
    reset_engine();
    cp_err err = {0};
    struct cp__interchange *ic = start_ic(false, 0.2, &err);
    struct fpool *p = fp_connect(cp__interchange_port(ic), SECRET_A, false, "quiet", "2", 1, 2);
    static struct tjob jobs[2];
    for (int i = 0; i < 2; i++) {
        make_job(&jobs[i], i, 0);
        cp__interchange_submit(ic, &jobs[i].job);
    }
    int n = 0;
    while (p && n < 2) {
        int k = fp_tasks(p, NULL, NULL, 5);
        if (k <= 0)
            break;
        n += k;
    }
    double t0 = now_s();
    is_int(n, 2, "the pool holds 2 tries, then stays silent (reading only)");
    /* Read (heartbeats) until the interchange closes on us. */
    struct cp__wire_msg m;
    int rc;
    while (p && (rc = fp_recv(p, &m, 3)) == 1)
        cp__wire_msg_clear(&m);
    double took = now_s() - t0;
    is_int(wait_done(2, 3), 2, "both tries fail");
    ok(took >= 0.35 && took < 1.0 * mult + 0.3, "lost after %.2f s (threshold 0.4 s)", took);
    ok(p && p->heartbeats >= 1, "the interchange sent heartbeats meanwhile (%d)",
       p ? p->heartbeats : 0);
    ok(jobs[0].ndone == 1 && jobs[1].ndone == 1 &&
       starts(jobs[0].job.error, "pool lost: quiet on node-test (block 2): no frame for"),
       "failed once each: %s", jobs[0].job.error ? jobs[0].job.error : "(null)");
    /* A client that never completes the handshake is refused after the threshold. */
    int fd = tcp_connect(cp__interchange_port(ic));
    write_all(fd, "CP", 2);
    char reason[1024] = "";
    t0 = now_s();
    int code = raw_refuse(fd, reason, sizeof reason);
    took = now_s() - t0;
    ok(code == CP_WIRE_WHY_POLICY && strstr(reason, "no handshake within") && took < 1.0 * mult + 0.3,
       "a stalled handshake is refused after %.2f s: %s", took, reason);
    ok(raw_closed(fd), "and closed");
    close(fd);
    fp_free(p);
    cp__interchange_stop(ic);
    for (int i = 0; i < 2; i++)
        clear_job(&jobs[i]);
}

/* Pool ids are unique among connected pools: a second pool with a connected
 * id is refused, the first keeps working, and once it is gone its id is free
 * again. 100 pools take the id table through growth. */
static int connected_pools(struct cp__interchange *ic)
{
    struct cp__ic_stats st;
    cp__interchange_stats(ic, &st);
    return st.pools_connected;
}

static void test_pool_ids(void)
{
    reset_engine();
    cp_err err = {0};
    struct cp__interchange *ic = start_ic(false, 1.0, &err);
    int port = cp__interchange_port(ic);
    enum { NP = 100 };
    static struct fpool *ps[NP];
    char id[32];
    int up = 0;
    for (int i = 0; i < NP; i++) {
        snprintf(id, sizeof id, "pool-%d", i);
        ps[i] = fp_connect(port, SECRET_A, false, id, "0", 1, 1);
        up += ps[i] != NULL;
    }
    is_int(up, NP, "%d pools with distinct ids register", NP);
    struct fpool *dup = fp_connect(port, SECRET_A, false, "pool-17", "0", 1, 1);
    ok(!dup, "a pool with a connected pool's id is refused");
    fp_free(dup);
    is_int(connected_pools(ic), NP, "... and the others are all still connected");
    fp_free(ps[17]);
    ps[17] = NULL;
    double until = now_s() + 5 * mult;
    while (connected_pools(ic) != NP - 1 && now_s() < until)
        usleep(10000);
    struct fpool *again = fp_connect(port, SECRET_A, false, "pool-17", "0", 1, 1);
    ok(again != NULL, "once that pool is gone its id registers again");
    fp_free(again);
    for (int i = 0; i < NP; i++)
        fp_free(ps[i]);
    cp__interchange_stop(ic);
}

static bool good_pool_works(struct cp__interchange *ic, struct fpool *good, struct tjob *t,
                            long id, const char *after)
{
    int before = wait_done(0, 0);
    make_job(t, id, 0);
    cp__interchange_submit(ic, &t->job);
    long got;
    int tr;
    bool okay = fp_tasks(good, &got, &tr, 5) == 1 && got == id &&
                fp_results(good, &got, &tr, 1) && wait_done(before + 1, 5) == before + 1 &&
                !t->job.failed;
    ok(okay, "after %s, the good pool still gets and finishes work", after);
    clear_job(t);
    return okay;
}

/* Clients that connect and never finish the handshake hold at most
 * max_handshakes slots: one more is closed at once, while a pool already
 * registered keeps working; when the stalled ones go, pools register again. */
static bool still_open(int fd, double s)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    return poll(&pfd, 1, (int)(s * 1000)) == 0;
}

static void test_handshake_cap(void)
{
    reset_engine();
    cp_err err = {0};
    struct cp__ic_settings set = {.heartbeat_period = 5, .label = "test", .max_handshakes = 4};
    memcpy(set.secret, SECRET_A, 32);
    struct cp__interchange *ic = cp__interchange_start(&set, &HOOKS, &err);
    int port = cp__interchange_port(ic);
    struct fpool *good = fp_connect(port, SECRET_A, false, "early", "0", 1, 1);
    ok(good != NULL, "a pool registers before the flood");
    int fds[4];
    for (int i = 0; i < 4; i++) {
        fds[i] = tcp_connect(port);
        write_all(fds[i], "CP", 2);     /* a start, never finished */
    }
    usleep(200000);
    int extra = tcp_connect(port);
    ok(raw_closed(extra), "with 4 handshakes stalled, a 5th connection is closed at once");
    close(extra);
    int open_ones = 0;
    for (int i = 0; i < 4; i++)
        open_ones += still_open(fds[i], 0.1);
    is_int(open_ones, 4, "... the 4 stalled ones are still open (until their time-out)");
    struct cp__ic_stats st;
    cp__interchange_stats(ic, &st);
    ok(st.connections_shed >= 1, "... and it is counted as shed (%llu)",
       (unsigned long long)st.connections_shed);
    static struct tjob t;
    good_pool_works(ic, good, &t, 500, "a handshake flood");
    for (int i = 0; i < 4; i++)
        close(fds[i]);
    usleep(200000);
    struct fpool *late = fp_connect(port, SECRET_A, false, "late", "0", 1, 1);
    ok(late != NULL, "once they are gone, a new pool registers");
    fp_free(late);
    fp_free(good);
    cp__interchange_stop(ic);
}

/* A pool of one worker asking for 1 task is sent more once its tasks are known
 * to be short: 32 more per worker under 1 ms, one more under 50 ms, none for
 * longer tasks (and none before 8 results have told). */
static int held_after_warmup(double took, long base)
{
    reset_engine();
    cp_err err = {0};
    struct cp__interchange *ic = start_ic(false, 5, &err);
    struct fpool *p = fp_connect(cp__interchange_port(ic), SECRET_A, false, "quick", "0", 1, 1);
    static struct tjob jobs[48];
    int held = -1;
    for (int i = 0; p && i < 8; i++) {      /* one at a time: 8 results of `took` */
        make_job(&jobs[i], base + i, 0);
        cp__interchange_submit(ic, &jobs[i].job);
        long id;
        int tr;
        if (fp_tasks(p, &id, &tr, 5) != 1 || !fp_results_took(p, &id, &tr, 1, took))
            goto out;
    }
    if (wait_done(8, 5) != 8)
        goto out;
    for (int i = 8; i < 48; i++) {
        make_job(&jobs[i], base + i, 0);
        cp__interchange_submit(ic, &jobs[i].job);
    }
    held = 0;
    for (int k; (k = fp_tasks(p, NULL, NULL, 0.5)) > 0;)
        held += k;
out:
    fp_free(p);
    cp__interchange_stop(ic);
    for (int i = 0; i < 48; i++)
        clear_job(&jobs[i]);
    return held;
}

static void test_short_tasks(void)
{
    is_int(held_after_warmup(0.0001, 1000), 33, "tasks of 0.1 ms: a 1-worker pool holds 1 + 32");
    is_int(held_after_warmup(0.01, 2000), 2, "tasks of 10 ms: it holds 1 + 1");
    is_int(held_after_warmup(1.0, 3000), 1, "tasks of 1 s: only what it asked for");
}

static void test_bad_clients(void)
{
    reset_engine();
    cp_err err = {0};
    struct cp__interchange *ic = start_ic(false, 30, &err);
    int port = cp__interchange_port(ic);
    struct fpool *good = fp_connect(port, SECRET_A, false, "good", "0", 1, 1);
    if (!ok(good, "a good pool is connected"))
        goto out;
    static struct tjob t;
    char reason[1024];

    /* Garbage: an HTTP probe. */
    int fd = tcp_connect(port);
    write_all(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27);
    int code = raw_refuse(fd, reason, sizeof reason);
    ok(code == CP_WIRE_WHY_PROTOCOL && strstr(reason, "not a cparsl wire frame"),
       "garbage: REFUSE %d: %s", code, reason);
    ok(raw_closed(fd), "garbage: closed");
    close(fd);
    good_pool_works(ic, good, &t, 100, "garbage");

    /* A frame over its cap. */
    fd = tcp_connect(port);
    unsigned char h[CP_WIRE_HEADER_LEN];
    cp__wire_header_put(h, CP_WIRE_VERSION, CP_WIRE_CLIENT_HELLO, 0, 257);
    write_all(fd, h, sizeof h);
    code = raw_refuse(fd, reason, sizeof reason);
    ok(code == CP_WIRE_WHY_TOO_BIG && strstr(reason, "over its cap"), "over the cap: REFUSE %d: %s",
       code, reason);
    ok(raw_closed(fd), "over the cap: closed");
    close(fd);
    good_pool_works(ic, good, &t, 101, "an oversized frame");

    /* Another protocol version. */
    struct cp__wire_msg hello = {.type = CP_WIRE_CLIENT_HELLO};
    hello.u.client_hello.version = CP_WIRE_VERSION + 1;
    struct cp__wire_buf b = {0};
    frame(&b, CP_WIRE_VERSION + 1, CP_WIRE_CLIENT_HELLO, &hello);
    fd = tcp_connect(port);
    write_all(fd, b.data, b.len);
    code = raw_refuse(fd, reason, sizeof reason);
    ok(code == CP_WIRE_WHY_VERSION &&
       strstr(reason, "pool speaks wire protocol 4, interchange speaks 3"),
       "wrong version: REFUSE %d: %s", code, reason);
    ok(raw_closed(fd), "wrong version: closed");
    close(fd);
    good_pool_works(ic, good, &t, 102, "a wrong version");

    /* No secret: a REGISTER whose proof is zeros. */
    b.len = 0;
    hello.u.client_hello.version = CP_WIRE_VERSION;
    frame(&b, CP_WIRE_VERSION, CP_WIRE_CLIENT_HELLO, &hello);
    fd = tcp_connect(port);
    write_all(fd, b.data, b.len);
    struct cp__wire_reader r;
    cp__wire_reader_init(&r, 1u << CP_WIRE_SERVER_HELLO, CP_WIRE_SEAL_NO);
    unsigned char rb[512];
    ssize_t rn = read(fd, rb, sizeof rb);   /* SERVER_HELLO: 12 + ~70 bytes, one segment */
    struct cp__wire_frame f = {0};
    size_t used = 0;
    ok(rn > 0 && cp__wire_reader_feed(&r, rb, (size_t)rn, &used, &f, &err) == 1 &&
       f.type == CP_WIRE_SERVER_HELLO, "no secret: SERVER_HELLO arrives");
    cp__wire_frame_clear(&f);
    cp__wire_reader_clear(&r);
    struct cp__wire_msg reg = {.type = CP_WIRE_REGISTER};
    reg.u.reg = (struct cp__wire_register){.pool_id = "thief", .hostname = "x", .block_id = "",
                                           .pid = 1, .cores = 1, .worker_count = 1,
                                           .max_capacity = 1, .software = ""};
    b.len = 0;
    frame(&b, CP_WIRE_VERSION, CP_WIRE_REGISTER, &reg);
    write_all(fd, b.data, b.len);
    code = raw_refuse(fd, reason, sizeof reason);
    ok(code == CP_WIRE_WHY_AUTH && strstr(reason, "failed authentication"),
       "no secret: REFUSE %d: %s", code, reason);
    ok(raw_closed(fd), "no secret: closed");
    close(fd);
    good_pool_works(ic, good, &t, 103, "a client without the secret");

    /* A pool with another secret refuses the interchange itself. */
    struct fpool *wrong = fp_connect(port, SECRET_B, false, "wrong", "0", 1, 1);
    ok(!wrong, "a pool with another secret does not get in");
    fp_free(wrong);
    good_pool_works(ic, good, &t, 104, "a pool with another secret");

    /* A truncated frame, then close. */
    b.len = 0;
    frame(&b, CP_WIRE_VERSION, CP_WIRE_CLIENT_HELLO, &hello);
    fd = tcp_connect(port);
    write_all(fd, b.data, CP_WIRE_HEADER_LEN + 8);
    shutdown(fd, SHUT_WR);
    ok(raw_closed(fd), "a truncated frame then EOF: closed");
    close(fd);
    good_pool_works(ic, good, &t, 105, "a truncated frame");
    cp__wire_buf_free(&b);

    struct cp__ic_stats st;
    cp__interchange_stats(ic, &st);
    ok(st.connections_refused >= 5 && st.pools_connected == 1 && st.pools_lost == 0,
       "stats: %llu refused, %d pool connected, %llu lost",
       (unsigned long long)st.connections_refused, st.pools_connected,
       (unsigned long long)st.pools_lost);
out:
    fp_free(good);
    cp__interchange_stop(ic);
}

static void test_drain_hold_stop(void)
{
    reset_engine();
    cp_err err = {0};
    struct cp__interchange *ic = start_ic(false, 30, &err);
    int port = cp__interchange_port(ic);
    struct fpool *d = fp_connect(port, SECRET_A, false, "drainer", "0", 2, 2);
    struct fpool *h = fp_connect(port, SECRET_A, false, "holder", "1", 2, 2);
    if (!ok(d && h, "two pools"))
        goto out;
    /* Hold block 1: only the drainer gets work. */
    is_int(cp__interchange_hold_block(ic, "1", true), 1, "hold block 1 tells 1 pool");
    struct cp__wire_msg m = {0};
    ok(fp_recv(h, &m, 5) == 1 && m.type == CP_WIRE_HOLD && m.u.hold.held, "HOLD(true) arrives");
    cp__wire_msg_clear(&m);
    static struct tjob jobs[5];
    for (int i = 0; i < 2; i++) {
        make_job(&jobs[i], i, 0);
        cp__interchange_submit(ic, &jobs[i].job);
    }
    long ids[4];
    int tr[4], n = 0;
    while (n < 2) {
        int k = fp_tasks(d, ids + n, tr + n, 5);
        if (k <= 0)
            break;
        n += k;
    }
    is_int(n, 2, "the unheld pool gets both");
    struct cp__ic_block_info bi;
    cp__interchange_block_info(ic, "1", &bi);
    ok(bi.pools == 1 && bi.held && bi.in_flight == 0 && bi.idle_since > 0,
       "block 1: 1 pool, held, idle since %.0f", bi.idle_since);
    cp__interchange_block_info(ic, "0", &bi);
    ok(bi.pools == 1 && !bi.held && bi.in_flight == 2 && bi.idle_since == 0 && bi.workers == 2,
       "block 0: 1 pool, busy with 2");
    cp__interchange_block_info(ic, "nope", &bi);
    ok(bi.pools == 0, "an unknown block has no pools");

    /* The drainer drains: it gets nothing more, and SHUTDOWN(drained) once idle. */
    struct cp__wire_msg dr = {.type = CP_WIRE_DRAIN};
    fp_send(d, &dr);
    for (int i = 2; i < 5; i++) {
        make_job(&jobs[i], i, 0);
        cp__interchange_submit(ic, &jobs[i].job);
    }
    ok(fp_recv(d, &m, 0.3) == 0, "a draining pool gets no more work");
    ok(fp_recv(h, &m, 0.1) == 0, "a held pool gets no work");
    fp_results(d, ids, tr, 2);
    ok(fp_recv(d, &m, 5) == 1 && m.type == CP_WIRE_SHUTDOWN &&
       m.u.shutdown.mode == CP_WIRE_SHUTDOWN_DRAINED && m.u.shutdown.reason &&
       strcmp(m.u.shutdown.reason, "drained") == 0, "SHUTDOWN(drained) once idle");
    cp__wire_msg_clear(&m);
    ok(fp_recv(d, &m, 5) < 0 && d->eof, "then the connection closes");
    is_int(wait_done(2, 5), 2, "the drained tries are done");
    is_int(cp__interchange_outstanding(ic), 3, "3 still pending");

    /* Releasing the hold gives block 1 work: 2 of 3. */
    is_int(cp__interchange_hold_block(ic, "1", false), 1, "release block 1");
    ok(fp_recv(h, &m, 5) == 1 && m.type == CP_WIRE_HOLD && !m.u.hold.held, "HOLD(false) arrives");
    cp__wire_msg_clear(&m);
    is_int(fp_tasks(h, ids, tr, 5), 2, "the released pool gets 2");

    /* Stop: 1 pending and 2 in flight fail "executor shut down"; the pool is told. */
    cp__interchange_stop(ic);
    ic = NULL;
    is_int(wait_done(5, 1), 5, "stop reports every job");
    bool shut = true;
    for (int i = 0; i < 5; i++)
        shut = shut && jobs[i].ndone == 1 &&
               (i < 2 ? !jobs[i].job.failed
                      : jobs[i].job.failed && strcmp(jobs[i].job.error, "executor shut down") == 0);
    ok(shut, "pending and in-flight jobs fail \"executor shut down\", once");
    ok(fp_recv(h, &m, 5) == 1 && m.type == CP_WIRE_SHUTDOWN &&
       m.u.shutdown.mode == CP_WIRE_SHUTDOWN_NOW, "the pool gets SHUTDOWN(now)");
    cp__wire_msg_clear(&m);
    ok(fp_recv(h, &m, 5) < 0 && h->eof, "and its connection closes");
    for (int i = 0; i < 5; i++)
        clear_job(&jobs[i]);
out:
    fp_free(d);
    fp_free(h);
    cp__interchange_stop(ic);
}

/* A job the interchange cannot run, and submit/done from the done hook itself. */
static void test_join_refused(void)
{
    reset_engine();
    cp_err err = {0};
    struct cp__interchange *ic = start_ic(false, 30, &err);
    static struct tjob t;
    make_job(&t, 1, 0);
    t.job.kind = CP_JOB_JOIN;
    cp__interchange_submit(ic, &t.job);
    ok(t.ndone == 1 && t.job.failed && strstr(t.job.error, "join"), "a join job comes back: %s",
       t.job.error ? t.job.error : "(null)");
    is_int(cp__interchange_outstanding(ic), 0, "not outstanding");
    clear_job(&t);
    cp__interchange_stop(ic);
}

int main(void)
{
    tap_start(120);
    const char *m = getenv("CP_TEST_TIMEOUT_MULTIPLIER");
    if (m && atof(m) > 0)
        mult = atof(m);
    signal(SIGPIPE, SIG_IGN);
    test_ports();
    test_handshake_and_batches(false, false);
    test_handshake_and_batches(true, false);
    test_handshake_and_batches(false, true);
    test_errors_priority_unknown();
    test_pool_closes();
    test_silent_pool();
    test_pool_ids();
    test_handshake_cap();
    test_short_tasks();
    test_bad_clients();
    test_drain_hold_stop();
    test_join_refused();
    return done_testing();
}
