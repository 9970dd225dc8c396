/* executors/interchange_conn.c — one pool connection of the interchange: accept,
 * reads fed to a cp__wire_conn (role interchange), the handshake and REGISTER,
 * TASKS out and RESULTS in with the in-flight table, heartbeats and silence, DRAIN,
 * refusals, and loss. Loop thread only (interchange_impl.h).
 */
#include "executors/interchange_impl.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <link.h>
#include <pthread.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "common/log.h"
#include "monitoring/db.h"

#define CLOSE_GRACE 2.0   /* seconds a closing connection may take to flush */

static void on_write(uv_write_t *req, int status);

/* ------------------------------------------------------------ in flight */

static size_t slot(const struct ic_conn *c, long task_id, int try_id)
{
    uint64_t h = (uint64_t)task_id * 0x9E3779B97F4A7C15ull ^ (uint64_t)(uint32_t)try_id;
    h ^= h >> 29;
    return (size_t)(h & (c->nbuckets - 1));
}

static int flight_add(struct ic_conn *c, struct cp__job *job)
{
    if (c->nflight >= c->nbuckets) {
        size_t nb = c->nbuckets ? 2 * c->nbuckets : 16;
        struct ic_flight **b = calloc(nb, sizeof *b);
        if (!b)
            return -1;
        struct ic_flight **old = c->buckets;
        size_t onb = c->nbuckets;
        c->buckets = b;
        c->nbuckets = nb;
        for (size_t i = 0; i < onb; i++)
            for (struct ic_flight *f = old[i], *next; f; f = next) {
                next = f->hnext;
                size_t s = slot(c, f->job->task_id, f->job->try_id);
                f->hnext = b[s];
                b[s] = f;
            }
        free(old);
    }
    struct ic_flight *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    f->job = job;
    size_t s = slot(c, job->task_id, job->try_id);
    f->hnext = c->buckets[s];
    c->buckets[s] = f;
    f->next = c->flights;
    if (c->flights)
        c->flights->prev = f;
    c->flights = f;
    c->nflight++;
    return 0;
}

/* Removes and returns the job of (task_id, try_id), or NULL. */
static struct cp__job *flight_take(struct ic_conn *c, long task_id, int try_id)
{
    if (!c->nbuckets)
        return NULL;
    struct ic_flight **pp = &c->buckets[slot(c, task_id, try_id)];
    for (struct ic_flight *f; (f = *pp); pp = &f->hnext) {
        if (f->job->task_id != task_id || f->job->try_id != try_id)
            continue;
        *pp = f->hnext;
        if (f->prev)
            f->prev->next = f->next;
        else
            c->flights = f->next;
        if (f->next)
            f->next->prev = f->prev;
        struct cp__job *job = f->job;
        free(f);
        if (--c->nflight == 0)
            c->idle_since = cp__ic_wall();
        return job;
    }
    return NULL;
}

void cp__ic_conn_fail_flights(struct ic_conn *c, const char *text)
{
    /* Detach everything first: done may call back into the interchange. */
    struct ic_flight *f = c->flights;
    c->flights = NULL;
    if (c->nbuckets)
        memset(c->buckets, 0, c->nbuckets * sizeof *c->buckets);
    if (c->nflight)
        c->idle_since = cp__ic_wall();
    c->nflight = 0;
    for (struct ic_flight *next; f; f = next) {
        next = f->next;
        struct cp__job *job = f->job;
        free(f);
        cp__ic_fail_job(c->ic, job, "%s", text);
    }
}

int64_t cp__ic_conn_free(const struct ic_conn *c, bool extra)
{
    if (c->state != IC_READY || c->draining || c->held)
        return 0;
    /* Pools whose recent tasks were short are sent more than they asked for, so
     * that a worker never waits for a round trip to the engine between two
     * tasks: under IC_SHORT_TASK each, IC_SHORT_EXTRA more per worker (the pool
     * then hands a worker several at a time: pool.c, dispatch); under
     * IC_MEDIUM_TASK, one more per worker. The wait this can add behind a task
     * is about one such task, and the dispatcher gives every pool its asked-for
     * share before any extra, so a small burst is still spread over all. */
    int64_t cap = c->max_capacity;
    if (extra && c->nresults >= 8)
        cap += c->task_ewma < IC_SHORT_TASK ? c->worker_count * IC_SHORT_EXTRA
             : c->task_ewma < IC_MEDIUM_TASK ? c->worker_count : 0;
    int64_t room = cap - (int64_t)c->nflight;
    return room > 0 ? room : 0;
}

void cp__ic_want(struct ic_conn *c)
{
    struct cp__interchange *ic = c->ic;
    if (c->wanted)
        return;
    c->wanted = true;
    c->want_next = NULL;
    c->want_prev = ic->want_tail;
    if (ic->want_tail)
        ic->want_tail->want_next = c;
    else
        ic->want_head = c;
    ic->want_tail = c;
}

void cp__ic_unwant(struct ic_conn *c)
{
    struct cp__interchange *ic = c->ic;
    if (!c->wanted)
        return;
    c->wanted = false;
    if (c->want_prev)
        c->want_prev->want_next = c->want_next;
    else
        ic->want_head = c->want_next;
    if (c->want_next)
        c->want_next->want_prev = c->want_prev;
    else
        ic->want_tail = c->want_prev;
    c->want_prev = c->want_next = NULL;
}

/* ------------------------------------------------------------ closing */

static void on_closed(uv_handle_t *h)
{
    struct ic_conn *c = h->data;
    struct cp__interchange *ic = c->ic;
    if (c->prev)
        c->prev->next = c->next;
    else
        ic->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    cp__ic_unwant(c);
    if (c->nflight)   /* cannot happen: close is reached through lose or after drain */
        cp__ic_conn_fail_flights(c, "pool connection closed");
    free(c->buckets);
    cp__wire_conn_destroy(c->wc);
    free(c->pool_id);
    free(c->hostname);
    free(c->block_id);
    free(c->software);
    free(c);
    cp__ic_maybe_finish(ic);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    (void)status;
    uv_handle_t *h = (uv_handle_t *)req->handle;
    free(req);
    if (!uv_is_closing(h))
        uv_close(h, on_closed);
}

/* No longer counted as connected. */
/* ------------------------------------------------------------ pool ids */

static size_t id_hash(const char *s)
{
    size_t h = 1469598103934665603u;      /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

static struct ic_conn *id_find(struct cp__interchange *ic, const char *id)
{
    if (!ic->nids_buckets)
        return NULL;
    for (struct ic_conn *c = ic->ids[id_hash(id) & (ic->nids_buckets - 1)]; c; c = c->id_next)
        if (strcmp(c->pool_id, id) == 0)
            return c;
    return NULL;
}

/* A copy of s that lives as long as the interchange (NULL: no memory). */
static const char *keep(struct cp__interchange *ic, const char *s)
{
    size_t n = strlen(s) + 1;
    struct ic_kept *k = malloc(sizeof *k + n);
    if (!k)
        return NULL;
    memcpy(k->text, s, n);
    k->next = ic->kept;
    ic->kept = k;
    return k->text;
}

/* -1 only when the table cannot grow (no memory): that pool is then refused. */
static int id_add(struct cp__interchange *ic, struct ic_conn *c)
{
    if (ic->nids + 1 > ic->nids_buckets) {
        size_t n = ic->nids_buckets ? ic->nids_buckets * 2 : 64;
        struct ic_conn **b = calloc(n, sizeof *b);
        if (!b)
            return -1;
        for (size_t i = 0; i < ic->nids_buckets; i++)
            for (struct ic_conn *x = ic->ids[i], *nx; x; x = nx) {
                nx = x->id_next;
                size_t k = id_hash(x->pool_id) & (n - 1);
                x->id_next = b[k];
                b[k] = x;
            }
        free(ic->ids);
        ic->ids = b, ic->nids_buckets = n;
    }
    size_t k = id_hash(c->pool_id) & (ic->nids_buckets - 1);
    c->id_next = ic->ids[k];
    ic->ids[k] = c;
    ic->nids++;
    return 0;
}

static void id_del(struct cp__interchange *ic, struct ic_conn *c)
{
    if (!ic->nids_buckets || !c->pool_id)
        return;
    for (struct ic_conn **p = &ic->ids[id_hash(c->pool_id) & (ic->nids_buckets - 1)]; *p;
         p = &(*p)->id_next)
        if (*p == c) {
            *p = c->id_next;
            c->id_next = NULL;
            ic->nids--;
            return;
        }
}

/* The pool as a row of the monitoring database's `node` table. */
static void note_node(struct ic_conn *c, bool active)
{
    if (!c->ic->mon)
        return;
    double now = cp__ic_wall();
    struct cp__mon_node n = {
        .hostname = c->hostname, .uid = c->pool_id, .block_id = c->block_id,
        .cpu_count = (int)c->cores, .total_memory = (int64_t)(c->memory_gb * 1e9),
        .active = active, .worker_count = (int)c->worker_count, .python_v = c->software,
        .time = now, .last_heartbeat = now - (cp__ic_now() - c->last_recv),
    };
    cp__mon_node(c->ic->mon, &n);
}

static void unregister(struct ic_conn *c)
{
    if (!c->registered)
        return;
    note_node(c, false);
    id_del(c->ic, c);
    c->registered = false;
    atomic_fetch_sub(&c->ic->pools_connected, 1);
    atomic_fetch_sub(&c->ic->workers_connected, (int)c->worker_count);
}

void cp__ic_conn_close(struct ic_conn *c)
{
    if (c->state == IC_CLOSING)
        return;
    if (c->state == IC_HANDSHAKE)
        c->ic->nhandshakes--;
    c->state = IC_CLOSING;
    c->closing_at = cp__ic_now();
    unregister(c);
    uv_read_stop((uv_stream_t *)&c->tcp);
    /* Flush what is queued (REFUSE, SHUTDOWN), then close; the tick forces the
     * close after CLOSE_GRACE when the peer does not read. */
    uv_shutdown_t *req = malloc(sizeof *req);
    if (!req || uv_shutdown(req, (uv_stream_t *)&c->tcp, on_shutdown) < 0) {
        free(req);
        uv_close((uv_handle_t *)&c->tcp, on_closed);
    }
}

void cp__ic_conn_lose(struct ic_conn *c, const char *reason)
{
    if (c->lost_reported)
        return;
    c->lost_reported = true;
    if (c->pool_id) {
        char text[1200];
        snprintf(text, sizeof text, "pool lost: %s on %s (block %s): %s", c->pool_id,
                 c->hostname, c->block_id, reason);
        if (c->state == IC_READY) {
            /* Counted gone before the hooks run, so the engine sees it gone. */
            unregister(c);
            atomic_fetch_add(&c->ic->pools_lost, 1);
            CP_WARN(IC_SUBSYS, "%s: %s (%zu tries in flight)", c->ic->label, text, c->nflight);
        }
        cp__ic_conn_fail_flights(c, text);
    } else {
        CP_INFO(IC_SUBSYS, "%s: connection from %s ends before registering: %s", c->ic->label,
                c->peer, reason);
    }
    cp__ic_conn_close(c);
}

/* Refuses the peer (the wire connection's failure when why is 0) and closes. */
static void refuse(struct ic_conn *c, int why, const char *reason, const char *logtext)
{
    struct cp__interchange *ic = c->ic;
    atomic_fetch_add(&ic->connections_refused, 1);
    CP_WARN(IC_SUBSYS, "%s: refusing %s%s%s: %s", ic->label, c->pool_id ? "pool " : "",
            c->pool_id ? c->pool_id : "connection from ", c->pool_id ? "" : c->peer, logtext);
    struct cp__wire_buf b = {0};
    cp_err e;
    if (cp__wire_conn_refuse(c->wc, why, reason, &b, &e) == 0 && b.len) {
        /* Written without cp__ic_conn_send: the connection is closed for sending now. */
        uv_write_t *req = malloc(sizeof *req);
        uv_buf_t ub = uv_buf_init(b.data, (unsigned)b.len);
        if (req) {
            req->data = b.data;
            if (uv_write(req, (uv_stream_t *)&c->tcp, &ub, 1, on_write) == 0) {
                atomic_fetch_add(&ic->frames_sent, 1);
                b.data = NULL;
            } else {
                free(req);
            }
        }
    }
    cp__wire_buf_free(&b);
    char text[CP_ERR_TEXT_MAX + 32];
    snprintf(text, sizeof text, "refused: %s", logtext);
    cp__ic_conn_lose(c, text);
}

/* ------------------------------------------------------------ writing */

static void on_write(uv_write_t *req, int status)
{
    struct ic_conn *c = req->handle->data;
    free(req->data);
    free(req);
    if (status < 0 && status != UV_ECANCELED && c->state != IC_CLOSING) {
        char text[160];
        snprintf(text, sizeof text, "write failed: %s", uv_strerror(status));
        cp__ic_conn_lose(c, text);
    }
}

static int write_buf(struct ic_conn *c, struct cp__wire_buf *b)
{
    uv_write_t *req = malloc(sizeof *req);
    if (!req) {
        cp__wire_buf_free(b);
        cp__ic_conn_lose(c, "out of memory writing to the pool");
        return -1;
    }
    req->data = b->data;
    uv_buf_t ub = uv_buf_init(b->data, (unsigned)b->len);
    int rc = uv_write(req, (uv_stream_t *)&c->tcp, &ub, 1, on_write);
    *b = (struct cp__wire_buf){0};
    if (rc < 0) {
        free(req->data);
        free(req);
        char text[160];
        snprintf(text, sizeof text, "write failed: %s", uv_strerror(rc));
        cp__ic_conn_lose(c, text);
        return -1;
    }
    atomic_fetch_add(&c->ic->frames_sent, 1);
    return 0;
}

int cp__ic_conn_send(struct ic_conn *c, const struct cp__wire_msg *msg)
{
    if (c->state == IC_CLOSING)
        return -1;
    struct cp__wire_buf b = {0};
    cp_err e;
    if (cp__wire_conn_send(c->wc, msg, &b, &e) < 0) {
        cp__wire_buf_free(&b);
        CP_ERROR(IC_SUBSYS, "%s: cannot send %s to %s: %s", c->ic->label,
                 cp__wire_type_name(msg->type), c->peer, e.text);
        cp__ic_conn_lose(c, e.text);
        return -1;
    }
    return write_buf(c, &b);
}

static char self_path[PATH_MAX];

static void read_self(void)
{
    ssize_t n = readlink("/proc/self/exe", self_path, sizeof self_path - 1);
    self_path[n > 0 ? n : 0] = '\0';
}

/* Where a pool finds a native app: the shared library its definition lives in
 * (YAML workflows name their apps' libraries; C programs linking a library of
 * apps get the same), or, for an app of the main program, that program, which a
 * worker relaunches as an app host. dladdr's name is the path the library was
 * opened with, which pools on a shared file system can open too; the main
 * program's is argv[0]-ish, so /proc/self/exe names it instead. Returns the
 * kind (NATIVE or HOSTED) and sets *lib (NULL: the pool's --app-library). */
static int app_location(const cp_app_def *app, const char **lib)
{
    Dl_info info;
    struct link_map *lm = NULL;
    *lib = NULL;
    if (!app || !dladdr1(app, &info, (void **)&lm, RTLD_DL_LINKMAP))
        return CP_WIRE_TASK_NATIVE;
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, read_self);
    bool main_program = (lm && lm->l_name && !lm->l_name[0]) ||
                        (info.dli_fname && self_path[0] && strcmp(info.dli_fname, self_path) == 0);
    if (main_program) {
        *lib = self_path[0] ? self_path : NULL;
        return self_path[0] ? CP_WIRE_TASK_HOSTED : CP_WIRE_TASK_NATIVE;
    }
    *lib = info.dli_fname && info.dli_fname[0] == '/' ? info.dli_fname : NULL;
    return CP_WIRE_TASK_NATIVE;
}

/* A job as a task record; borrows everything from job. */
static void job_to_task(const struct cp__job *job, struct cp__wire_task *t)
{
    size_t nenv = 0;
    while (job->env && job->env[nenv])
        nenv++;
    bool shell = job->kind == CP_JOB_SHELL;
    const char *lib = NULL;
    int kind = shell ? CP_WIRE_TASK_SHELL : app_location(job->app, &lib);
    const char *app = job->app && job->app->name && *job->app->name ? job->app->name
                                                                    : shell ? "shell" : "";
    *t = (struct cp__wire_task){
        .task_id = job->task_id, .try_id = job->try_id,
        .kind = kind, .app = app, .library = lib,
        .args = shell ? NULL : job->args, .nargs = shell || job->nargs < 0 ? 0 : (size_t)job->nargs,
        .cmd = shell ? job->cmd : NULL,
        .stdout_path = job->stdout_path, .stderr_path = job->stderr_path,
        .stdout_append = job->stdout_append, .stderr_append = job->stderr_append,
        .walltime = job->walltime,
        .env = job->env, .nenv = nenv,
        .outputs = job->outputs, .noutputs = job->outputs ? job->noutputs : 0,
        .priority = job->priority,
    };
}

/* Packs jobs[0..n) into one TASKS frame appended to b. A batch over the cap, or
 * one whose pack fails, is split in halves; a single task that cannot be packed
 * fails alone. Returns how many jobs are in b (the others were failed or are put
 * back by the caller) — in order: jobs[0..*sent) are packed, in possibly several
 * frames. */
static void pack_tasks(struct ic_conn *c, struct cp__job **jobs, size_t n,
                       struct cp__wire_task *tasks, struct cp__wire_buf *b, struct cp__job **sent,
                       size_t *nsent, size_t *nframes)
{
    struct cp__wire_msg m = {.type = CP_WIRE_TASKS, .u.tasks = {.tasks = tasks, .n = n}};
    cp_err e;
    if (cp__wire_conn_send(c->wc, &m, b, &e) == 0) {
        for (size_t i = 0; i < n; i++)
            sent[(*nsent)++] = jobs[i];
        (*nframes)++;
        return;
    }
    if (n > 1) {
        size_t h = n / 2;
        pack_tasks(c, jobs, h, tasks, b, sent, nsent, nframes);
        pack_tasks(c, jobs + h, n - h, tasks + h, b, sent, nsent, nframes);
        return;
    }
    CP_WARN(IC_SUBSYS, "%s: task %ld try %d cannot be sent: %s", c->ic->label, jobs[0]->task_id,
            jobs[0]->try_id, e.text);
    cp__ic_fail_job(c->ic, jobs[0], "cannot send the task to a pool: %s", e.text);
}

void cp__ic_conn_send_tasks(struct ic_conn *c, struct cp__job **jobs, size_t n)
{
    struct cp__interchange *ic = c->ic;
    struct cp__wire_task *tasks = calloc(n, sizeof *tasks);
    struct cp__job **sent = calloc(n, sizeof *sent);
    if (!tasks || !sent) {
        free(tasks);
        free(sent);
        for (size_t i = 0; i < n; i++)
            cp__ic_fail_job(ic, jobs[i], "out of memory sending the task to a pool");
        return;
    }
    for (size_t i = 0; i < n; i++)
        job_to_task(jobs[i], &tasks[i]);
    struct cp__wire_buf b = {0};
    size_t nsent = 0, nframes = 0;
    pack_tasks(c, jobs, n, tasks, &b, sent, &nsent, &nframes);
    free(tasks);
    /* In flight before the write: a write that fails at once loses the pool, which
     * fails them as "pool lost" like any other try on it. */
    for (size_t i = 0; i < nsent; i++)
        if (flight_add(c, sent[i]) < 0) {
            /* Its bytes are in b already; the pool's result for it is then dropped. */
            cp__ic_fail_job(ic, sent[i], "out of memory tracking the task");
            sent[i] = NULL;
        }
    if (nsent) {
        if (write_buf(c, &b) == 0) {
            atomic_fetch_add(&ic->frames_sent, nframes - 1);   /* write_buf counted one */
            atomic_fetch_add(&ic->tasks_sent, nsent);
            atomic_fetch_add(&ic->tasks_frames, nframes);
            CP_DEBUG(IC_SUBSYS, "%s: %zu tasks to pool %s", ic->label, nsent, c->pool_id);
            for (size_t i = 0; i < nsent; i++)
                if (sent[i]) {
                    sent[i]->where_host = c->kept_host;
                    sent[i]->where_block = c->kept_block;
                    if (ic->hooks.running)
                        ic->hooks.running(ic->hooks.eng, sent[i]);
                }
        }
    } else {
        cp__wire_buf_free(&b);
    }
    free(sent);
}

/* ------------------------------------------------------------ messages */

static void send_drained(struct ic_conn *c)
{
    struct cp__wire_msg m = {.type = CP_WIRE_SHUTDOWN,
                             .u.shutdown = {.mode = CP_WIRE_SHUTDOWN_DRAINED,
                                            .reason = "drained"}};
    CP_INFO(IC_SUBSYS, "%s: pool %s drained", c->ic->label, c->pool_id);
    if (cp__ic_conn_send(c, &m) == 0)
        cp__ic_conn_close(c);
}

static void on_register(struct ic_conn *c, const struct cp__wire_register *r)
{
    struct cp__interchange *ic = c->ic;
    c->pool_id = strdup(r->pool_id);
    c->hostname = strdup(r->hostname);
    c->block_id = strdup(r->block_id ? r->block_id : "");
    if (!c->pool_id || !c->hostname || !c->block_id) {
        refuse(c, CP_WIRE_WHY_POLICY, "the interchange is out of memory", "out of memory");
        return;
    }
    if (ic->shut) {
        refuse(c, CP_WIRE_WHY_POLICY, "the interchange is shutting down", "shutting down");
        return;
    }
    struct ic_conn *o = id_find(ic, c->pool_id);
    if (o && o != c) {
        char text[300];
        snprintf(text, sizeof text, "a pool with id %s is already connected", c->pool_id);
        free(c->pool_id);   /* not this one's to report lost under that name */
        c->pool_id = NULL;
        refuse(c, CP_WIRE_WHY_POLICY, text, text);
        return;
    }
    c->software = r->software ? strdup(r->software) : NULL;
    c->pid = r->pid;
    c->cores = r->cores;
    c->memory_gb = r->memory_gb;
    c->worker_count = r->worker_count;
    c->max_capacity = r->max_capacity;
    struct cp__wire_msg w = {.type = CP_WIRE_WELCOME,
                             .u.welcome = {.heartbeat_period = ic->hb_period,
                                           .heartbeat_threshold = ic->hb_threshold,
                                           .software = "cparsl " CPARSL_VERSION}};
    /* Counted before WELCOME leaves: uv_write may send it at once, and a pool
     * that has its WELCOME is connected for anyone who asks. A failed send
     * unregisters it again (cp__ic_conn_lose). */
    if (id_add(ic, c) != 0) {
        refuse(c, CP_WIRE_WHY_POLICY, "out of memory", "out of memory registering a pool");
        return;
    }
    c->kept_host = keep(ic, c->hostname);
    c->kept_block = keep(ic, c->block_id);
    c->registered = true;
    atomic_fetch_add(&ic->pools_connected, 1);
    atomic_fetch_add(&ic->workers_connected, (int)c->worker_count);
    if (cp__ic_conn_send(c, &w) < 0)
        return;
    c->ic->nhandshakes--;
    c->state = IC_READY;
    note_node(c, true);
    c->idle_since = cp__ic_wall();
    c->next_heartbeat = cp__ic_now() + ic->hb_period;
    CP_INFO(IC_SUBSYS, "%s: pool %s registered from %s: host %s, block %s, pid %lld, "
            "%lld workers, capacity %lld, %lld cores, %.1f GB, %s, %s", ic->label, c->pool_id,
            c->peer, c->hostname, c->block_id, (long long)c->pid, (long long)c->worker_count,
            (long long)c->max_capacity, (long long)c->cores, c->memory_gb,
            cp__wire_conn_sealed(c->wc) ? "sealed" : "unsealed",
            r->software ? r->software : "?");
    if (cp__ic_block_held(ic, c->block_id)) {
        c->held = true;
        struct cp__wire_msg h = {.type = CP_WIRE_HOLD, .u.hold.held = true};
        (void)cp__ic_conn_send(c, &h);
    }
    cp__ic_want(c);
}

/* Samples of the pool's tries go straight to the database; nothing else uses
 * them. A pool that samples without monitoring (started by hand) is ignored. */
static void on_resources(struct ic_conn *c, const struct cp__wire_resources *b)
{
    struct cp__interchange *ic = c->ic;
    if (!ic->mon)
        return;
    struct cp__mon_resource rs[16];
    size_t k = 0;
    for (size_t i = 0; i < b->n; i++) {
        const struct cp__wire_sample *x = &b->samples[i];
        rs[k++] = (struct cp__mon_resource){
            .task_id = (long)x->task_id, .try_id = (int)x->try_id, .time = x->time,
            .interval = ic->mon_interval, .pid = (int)x->pid,
            .children_count = (int)x->children, .time_user = x->user,
            .time_system = x->system, .memory_virtual = x->vms, .memory_resident = x->rss,
            .disk_read = x->read_bytes, .disk_write = x->write_bytes,
            .memory_percent = c->memory_gb > 0 ? 100.0 * x->rss / (c->memory_gb * 1e9) : 0,
            .status = "running",
        };
        if (k == sizeof rs / sizeof rs[0] || i + 1 == b->n) {
            cp__mon_resources(ic->mon, rs, k);
            k = 0;
        }
    }
}

static void on_results(struct ic_conn *c, const struct cp__wire_results *rs)
{
    struct cp__interchange *ic = c->ic;
    atomic_fetch_add(&ic->results_received, rs->n);
    atomic_fetch_add(&ic->results_frames, 1);
    for (size_t i = 0; i < rs->n; i++) {
        const struct cp__wire_result *r = &rs->results[i];
        struct cp__job *job = NULL;
        if (r->task_id <= LONG_MAX && r->try_id <= INT32_MAX)
            job = flight_take(c, (long)r->task_id, (int)r->try_id);
        if (!job) {
            atomic_fetch_add(&ic->results_unknown, 1);
            CP_WARN(IC_SUBSYS, "%s: pool %s sent a result for task %lld try %lld, which is "
                    "not in flight there; dropped", ic->label, c->pool_id,
                    (long long)r->task_id, (long long)r->try_id);
            continue;
        }
        job->failed = !r->ok;
        job->timed_out = r->timed_out;
        job->t_start = r->t_start;
        job->t_end = r->t_end;
        double took = r->t_end > r->t_start ? r->t_end - r->t_start : 0;
        c->task_ewma = c->nresults++ ? c->task_ewma + (took - c->task_ewma) / 8 : took;
        free(job->error);
        job->error = NULL;
        if (r->ok) {
            cp__value_clear(&job->result);
            if (r->value)
                cp__value_copy(&job->result, r->value);
        } else {
            job->error = strdup(r->error ? r->error : "the try failed on the pool (no text)");
        }
        cp__ic_report(ic, job);
    }
    cp__ic_want(c);
    if (c->draining && c->nflight == 0)
        send_drained(c);
}

static void on_message(struct ic_conn *c, struct cp__wire_msg *m)
{
    struct cp__interchange *ic = c->ic;
    switch (m->type) {
    case CP_WIRE_CLIENT_HELLO: {
        struct cp__wire_msg s = {.type = CP_WIRE_SERVER_HELLO};
        (void)cp__ic_conn_send(c, &s);
        break;
    }
    case CP_WIRE_REGISTER:
        on_register(c, &m->u.reg);
        break;
    case CP_WIRE_RESULTS:
        on_results(c, &m->u.results);
        break;
    case CP_WIRE_RESOURCES:
        on_resources(c, &m->u.resources);
        break;
    case CP_WIRE_HEARTBEAT:
        break;   /* last_recv is enough */
    case CP_WIRE_DRAIN:
        if (!c->draining)
            CP_INFO(IC_SUBSYS, "%s: pool %s drains (%zu tries in flight)", ic->label,
                    c->pool_id, c->nflight);
        c->draining = true;
        if (c->nflight == 0)
            send_drained(c);
        break;
    case CP_WIRE_REFUSE: {
        char text[1024];
        snprintf(text, sizeof text, "the pool refused the interchange: %s",
                 m->u.refuse.reason ? m->u.refuse.reason : "(no reason)");
        cp__ic_conn_lose(c, text);
        break;
    }
    default:   /* the wire connection lets nothing else through */
        break;
    }
}

/* ------------------------------------------------------------ reading */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    struct ic_conn *c = h->data;
    *buf = uv_buf_init(c->ic->rbuf, sizeof c->ic->rbuf);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct ic_conn *c = s->data;
    struct cp__interchange *ic = c->ic;
    if (nread == 0 || c->state == IC_CLOSING)
        return;
    cp_err e = {0};
    if (nread < 0) {
        if (nread != UV_EOF) {
            char text[160];
            snprintf(text, sizeof text, "connection error: %s", uv_strerror((int)nread));
            cp__ic_conn_lose(c, text);
        } else if (cp__wire_conn_eof(c->wc, &e) < 0) {
            atomic_fetch_add(&ic->connections_refused, 1);
            cp__ic_conn_lose(c, e.text);
        } else {
            cp__ic_conn_lose(c, "connection closed");
        }
        cp__ic_dispatch(ic);
        return;
    }
    c->last_recv = cp__ic_now();
    size_t off = 0, n = (size_t)nread;
    while (off < n && c->state != IC_CLOSING) {
        struct cp__wire_msg m;
        size_t used = 0;
        int rc = cp__wire_conn_recv(c->wc, buf->base + off, n - off, &used, &m, &e);
        off += used;
        if (rc < 0) {
            if (cp__wire_conn_failure(c->wc))
                refuse(c, 0, NULL, e.text);
            else   /* the peer's REFUSE closed it */
                cp__ic_conn_lose(c, e.text);
            break;
        }
        if (rc == 1) {
            atomic_fetch_add(&ic->frames_received, 1);
            on_message(c, &m);
            cp__wire_msg_clear(&m);
        }
    }
    cp__ic_dispatch(ic);
}

/* Whether the pool's socket holds bytes this loop has not read yet. */
static bool bytes_waiting(struct ic_conn *c)
{
    uv_os_fd_t fd;
    int n = 0;
    return uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0 && ioctl(fd, FIONREAD, &n) == 0 && n > 0;
}

void cp__ic_conn_tick(struct ic_conn *c, double now)
{
    struct cp__interchange *ic = c->ic;
    if (c->state == IC_CLOSING) {
        if (now - c->closing_at > CLOSE_GRACE && !uv_is_closing((uv_handle_t *)&c->tcp))
            uv_close((uv_handle_t *)&c->tcp, on_closed);
        return;
    }
    /* A handshake gets threshold from accept in all, however it trickles bytes. */
    double silent = now - (c->state == IC_HANDSHAKE ? c->accepted_at : c->last_recv);
    if (silent > ic->hb_threshold && c->state == IC_READY && bytes_waiting(c)) {
        /* The loop is the one behind, not the pool: what it sent is waiting. */
        c->last_recv = now;
        silent = 0;
    }
    if (silent > ic->hb_threshold) {
        char text[200];
        if (c->state == IC_HANDSHAKE) {
            snprintf(text, sizeof text, "no handshake within %.3g s", ic->hb_threshold);
            refuse(c, CP_WIRE_WHY_POLICY, text, text);
        } else {
            snprintf(text, sizeof text, "no frame for %.3g s (heartbeat_threshold %.3g s)",
                     silent, ic->hb_threshold);
            cp__ic_conn_lose(c, text);
        }
        return;
    }
    if (c->state == IC_READY && now >= c->next_heartbeat) {
        c->next_heartbeat = now + ic->hb_period;
        struct cp__wire_msg m = {.type = CP_WIRE_HEARTBEAT,
                                 .u.heartbeat = {.free_slots = cp__ic_conn_free(c, false),
                                                 .running = (int64_t)c->nflight}};
        (void)cp__ic_conn_send(c, &m);
    }
}

/* ------------------------------------------------------------ accepting */

void cp__ic_on_connection(uv_stream_t *server, int status)
{
    struct cp__interchange *ic = server->data;
    if (status < 0) {
        CP_WARN(IC_SUBSYS, "%s: accept failed: %s", ic->label, uv_strerror(status));
        return;
    }
    bool shed = ic->nhandshakes >= ic->max_handshakes;
    struct ic_conn *c = shed ? NULL : calloc(1, sizeof *c);
    if (!c || uv_tcp_init(&ic->loop, &c->tcp) < 0) {
        /* Take the connection off the backlog and drop it. */
        if (shed) {
            atomic_fetch_add(&ic->connections_shed, 1);
            double now = cp__ic_now();
            if (now - ic->shed_logged > 1.0) {
                ic->shed_logged = now;
                CP_WARN(IC_SUBSYS, "%s: %d connections are in their handshake already; "
                        "closing new ones until some finish or time out", ic->label,
                        ic->nhandshakes);
            }
        } else {
            CP_ERROR(IC_SUBSYS, "%s: out of memory accepting a connection", ic->label);
        }
        free(c);
        uv_tcp_t *t = malloc(sizeof *t);
        if (t && uv_tcp_init(&ic->loop, t) == 0) {
            (void)uv_accept(server, (uv_stream_t *)t);
            uv_close((uv_handle_t *)t, (uv_close_cb)free);
        } else {
            free(t);
        }
        return;
    }
    c->ic = ic;
    c->tcp.data = c;
    c->state = IC_HANDSHAKE;
    ic->nhandshakes++;
    c->accepted_at = c->last_recv = cp__ic_now();
    c->next = ic->conns;
    if (ic->conns)
        ic->conns->prev = c;
    ic->conns = c;
    snprintf(c->peer, sizeof c->peer, "?");
    int rc = uv_accept(server, (uv_stream_t *)&c->tcp);
    cp_err e;
    if (rc == 0 && !(c->wc = cp__wire_conn_create(CP_WIRE_INTERCHANGE, ic->secret,
                                                  ic->encrypted, &e)))
        rc = UV_ENOMEM;
    if (rc == 0) {
        struct sockaddr_storage sa;
        int len = sizeof sa;
        if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&sa, &len) == 0) {
            char host[48] = "?";
            int port = 0;
            if (sa.ss_family == AF_INET6) {
                uv_ip6_name((struct sockaddr_in6 *)&sa, host, sizeof host);
                port = ntohs(((struct sockaddr_in6 *)&sa)->sin6_port);
            } else {
                uv_ip4_name((struct sockaddr_in *)&sa, host, sizeof host);
                port = ntohs(((struct sockaddr_in *)&sa)->sin_port);
            }
            snprintf(c->peer, sizeof c->peer, "%s:%d", host, port);
        }
        (void)uv_tcp_nodelay(&c->tcp, 1);
        rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    }
    if (rc < 0) {
        CP_WARN(IC_SUBSYS, "%s: cannot take a connection: %s", ic->label, uv_strerror(rc));
        ic->nhandshakes--;
        c->state = IC_CLOSING;
        uv_close((uv_handle_t *)&c->tcp, on_closed);
        return;
    }
    atomic_fetch_add(&ic->connections, 1);
    CP_DEBUG(IC_SUBSYS, "%s: connection from %s", ic->label, c->peer);
    if (ic->shut)
        refuse(c, CP_WIRE_WHY_POLICY, "the interchange is shutting down", "shutting down");
}
