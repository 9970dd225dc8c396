/* monitoring/db_queue.c — the rows callers hand to the monitoring database
 * (db.h): their values, copied into the queue's chunks (db_int.h) under one lock;
 * and how values, times above all, are bound when the writer writes them.
 */
#include <math.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/util.h"
#include "monitoring/db_int.h"

typedef struct cp__mon_val val;

/* ------------------------------------------------------------ values */

/* The local time of second s, worked out once per second per thread: rows come
 * in bursts within a second. */
static const struct tm *local_tm(time_t s)
{
    static __thread time_t cached = (time_t)-1;
    static __thread struct tm tm;
    if (s != cached) {
        localtime_r(&s, &tm);
        cached = s;
    }
    return &tm;
}

static void split_time(double t, time_t *s, long *us)
{
    double whole = floor(t);
    *s = (time_t)whole;
    *us = lround((t - whole) * 1e6);
    if (*us >= 1000000) {
        (*s)++;
        *us -= 1000000;
    }
}

int64_t cp__mon_local_us(double t)
{
    time_t s;
    long us;
    split_time(t, &s, &us);
    return ((int64_t)s + local_tm(s)->tm_gmtoff) * 1000000 + us;
}

/* Parsl stores naive datetime.now() values, which SQLAlchemy writes to SQLite as
 * text with six fractional digits; readers (parsl-visualize, pandas) parse exactly
 * that, in local time. */
static void format_time(double t, char *out, size_t size)
{
    time_t s;
    long us;
    split_time(t, &s, &us);
    const struct tm *tm = local_tm(s);
    snprintf(out, size, "%04d-%02d-%02d %02d:%02d:%02d.%06ld", tm->tm_year + 1900,
             tm->tm_mon + 1, tm->tm_mday, tm->tm_hour, tm->tm_min, tm->tm_sec, us);
}

int cp__mon_bind(sqlite3_stmt *st, const val *v, int n, bool time_text)
{
    int rc = SQLITE_OK;
    char buf[64];
    for (int i = 0; i < n && rc == SQLITE_OK; i++) {
        int p = i + 2;
        switch (v[i].t) {
        case V_NULL: rc = sqlite3_bind_null(st, p); break;
        case V_INT: rc = sqlite3_bind_int64(st, p, v[i].i); break;
        case V_REAL: rc = sqlite3_bind_double(st, p, v[i].d); break;
        case V_TEXT: rc = sqlite3_bind_text(st, p, v[i].s, -1, SQLITE_STATIC); break;
        case V_TIME:
            if (!time_text) {
                rc = sqlite3_bind_int64(st, p, cp__mon_local_us(v[i].d));
                break;
            }
            format_time(v[i].d, buf, sizeof buf);
            rc = sqlite3_bind_text(st, p, buf, -1, SQLITE_TRANSIENT);
            break;
        }
    }
    return rc;
}

/* ------------------------------------------------------------ queue */

void cp__mon_free_chunks(struct cp__mon_chunk *c)
{
    while (c) {
        struct cp__mon_chunk *next = c->next;
        free(c);
        c = next;
    }
}

size_t cp__mon_count_rows(const struct cp__mon_chunk *c, bool *has_end)
{
    size_t n = 0;
    for (; c; c = c->next)
        for (size_t off = 0; off < c->used;) {
            const struct cp__mon_row *r = (const struct cp__mon_row *)(c->data + off);
            off += r->size;
            if (r->kind == K_END)
                *has_end = true;
            else
                n++;
        }
    return n;
}

static size_t row_bytes(const struct cp__mon_spec *s)
{
    size_t bytes = sizeof(struct cp__mon_row) + (size_t)s->n * sizeof(val);
    for (int i = 0; i < s->n; i++)
        if (s->v[i].t == V_TEXT)
            bytes += strlen(s->v[i].s) + 1;
    return (bytes + 15) & ~(size_t)15;
}

static void copy_row(unsigned char *at, const struct cp__mon_spec *s, size_t size)
{
    struct cp__mon_row *r = (struct cp__mon_row *)at;
    r->size = (uint32_t)size;
    r->kind = (uint16_t)s->k;
    r->n = (uint16_t)s->n;
    char *p = (char *)(r->v + s->n);
    for (int i = 0; i < s->n; i++) {
        r->v[i] = s->v[i];
        if (s->v[i].t == V_TEXT) {
            size_t len = strlen(s->v[i].s) + 1;
            memcpy(p, s->v[i].s, len);
            r->v[i].s = p;
            p += len;
        }
    }
}

/* Queues the rows together (one lock). 0; -1 when memory ran out: the rows are
 * counted as dropped and logged here, except the run's completion, which close
 * reports itself. */
int cp__mon_enqueue(struct cp__mon *m, const struct cp__mon_spec *s, int n)
{
    size_t size[CP__MON_GROUP], total = 0;
    for (int i = 0; i < n; i++)
        total += size[i] = row_bytes(&s[i]);
    pthread_mutex_lock(&m->mu);
    struct cp__mon_chunk *c = m->tail;
    bool warn = false;
    /* Full: wait for the writer to take chunks (it always can, even from a locked
     * file: it keeps what it took). An empty queue takes anything. */
    while ((!c || c->cap - c->used < total) && m->head && !m->closing &&
           m->queued_bytes + (total > CHUNK_BYTES ? total : CHUNK_BYTES) > m->max_bytes) {
        if (!m->callers_waiting++)
            m->stats.queue_waits++;
        double now = cp__mono();
        if (now - m->warned_at >= 10) {
            m->warned_at = now;
            warn = true;
        }
        if (m->writer_waiting) {
            m->writer_waiting = false;
            pthread_cond_signal(&m->cv);
        }
        pthread_cond_wait(&m->space, &m->mu);
        m->callers_waiting--;
        c = m->tail;
    }
    if (!c || c->cap - c->used < total) {
        size_t cap = total > CHUNK_BYTES ? total : CHUNK_BYTES;
        if (cap == CHUNK_BYTES && m->spare) {
            c = m->spare;
            m->spare = c->next;
            m->nspare--;
        } else {
            c = malloc(sizeof *c + cap);
        }
        if (!c) {
            bool end = s[0].k == K_END;
            if (!end)
                m->stats.rows_dropped += (uint64_t)n;
            pthread_mutex_unlock(&m->mu);
            if (!end)
                CP_ERROR("monitoring", "out of memory: %d rows were dropped", n);
            return -1;
        }
        c->next = NULL;
        c->used = c->rows = 0;
        c->cap = cap;
        m->queued_bytes += cap;
        if (m->tail)
            m->tail->next = c;
        else
            m->head = c;
        m->tail = c;
    }
    for (int i = 0; i < n; i++) {
        copy_row(c->data + c->used, &s[i], size[i]);
        c->used += size[i];
        c->rows++;
        if (s[i].k != K_END)
            m->stats.rows_queued++;
    }
    m->queued_rows += (size_t)n;
    if (m->writer_waiting && m->queued_rows >= WAKE_ROWS) {
        m->writer_waiting = false;
        pthread_cond_signal(&m->cv);
    }
    pthread_mutex_unlock(&m->mu);
    if (warn)
        CP_WARN("monitoring", "%s: %zu MiB of rows wait for the writer (the database is slower "
                "than the run, or another connection keeps it locked); the run waits for it",
                m->path, m->max_bytes >> 20);
    return 0;
}

int cp__mon_enqueue1(struct cp__mon *m, enum kind k, const val *v, int n)
{
    return cp__mon_enqueue(m, &(struct cp__mon_spec){k, v, n}, 1);
}

/* ------------------------------------------------------------ rows */

static void task_vals(val v[N_TASK], const struct cp__mon_task *t)
{
    const val x[N_TASK] = {
        v_int(t->task_id), v_text_nn(t->func_name), v_text(t->depends), v_text_nn(t->memoize),
        v_text(t->hashsum), v_text(t->inputs), v_text(t->outputs), v_text(t->stdin_path),
        v_text(t->stdout_path), v_text(t->stderr_path), v_time(t->time_invoked),
        v_time(t->time_returned), v_int(t->fail_count), v_real(t->fail_cost),
    };
    memcpy(v, x, sizeof x);
}

static void try_vals(val v[N_TRY], const struct cp__mon_try *t)
{
    const val x[N_TRY] = {
        v_int(t->task_id), v_int(t->try_id), v_text(t->block_id), v_text(t->hostname),
        v_text_nn(t->executor), v_time(t->time_launched), v_time(t->time_running),
        v_time(t->time_returned), v_text(t->fail_history), v_text(t->joins),
    };
    memcpy(v, x, sizeof x);
}

static void end_vals(val v[N_TASK_END], const struct cp__mon_task_end *e)
{
    const val x[N_TASK_END] = {
        v_int(e->task_id), v_time(e->time_returned), v_int(e->fail_count),
        v_real(e->fail_cost),
    };
    memcpy(v, x, sizeof x);
}

void cp__mon_task(struct cp__mon *m, const struct cp__mon_task *t)
{
    if (!m || !t)
        return;
    val v[N_TASK];
    task_vals(v, t);
    cp__mon_enqueue1(m, K_TASK, v, N_TASK);
}

void cp__mon_task_end(struct cp__mon *m, long task_id, double time_returned, int fail_count,
                      double fail_cost)
{
    if (!m)
        return;
    val v[N_TASK_END];
    end_vals(v, &(struct cp__mon_task_end){task_id, time_returned, fail_count, fail_cost});
    cp__mon_enqueue1(m, K_TASK_END, v, N_TASK_END);
}

void cp__mon_status(struct cp__mon *m, long task_id, int try_id, const char *state_name,
                    double time)
{
    if (!m)
        return;
    const val v[N_STATUS] = {
        v_int(task_id), v_int(try_id), v_text_nn(state_name), v_time_nn(time),
    };
    cp__mon_enqueue1(m, K_STATUS, v, N_STATUS);
}

void cp__mon_try(struct cp__mon *m, const struct cp__mon_try *t)
{
    if (!m || !t)
        return;
    val v[N_TRY];
    try_vals(v, t);
    cp__mon_enqueue1(m, K_TRY, v, N_TRY);
}

void cp__mon_change(struct cp__mon *m, long task_id, int try_id, const char *state_name,
                    double time, const struct cp__mon_try *try_row,
                    const struct cp__mon_task *task_row, const struct cp__mon_task_end *end)
{
    if (!m)
        return;
    val vs[N_STATUS] = {
        v_int(task_id), v_int(try_id), v_text_nn(state_name), v_time_nn(time),
    };
    val vy[N_TRY], vt[N_TASK], ve[N_TASK_END];
    struct cp__mon_spec s[4] = {{K_STATUS, vs, N_STATUS}};
    int n = 1;
    if (try_row) {
        try_vals(vy, try_row);
        s[n++] = (struct cp__mon_spec){K_TRY, vy, N_TRY};
    }
    if (task_row) {
        task_vals(vt, task_row);
        s[n++] = (struct cp__mon_spec){K_TASK, vt, N_TASK};
    }
    if (end) {
        end_vals(ve, end);
        s[n++] = (struct cp__mon_spec){K_TASK_END, ve, N_TASK_END};
    }
    cp__mon_enqueue(m, s, n);
}

void cp__mon_block(struct cp__mon *m, const char *executor, const char *block_id,
                   const char *job_id, const char *status, double time)
{
    if (!m)
        return;
    const val v[N_BLOCK] = {
        v_text_nn(executor), v_text_nn(block_id), v_text(job_id), v_text_nn(status),
        v_time_nn(time),
    };
    cp__mon_enqueue1(m, K_BLOCK, v, N_BLOCK);
}

void cp__mon_node(struct cp__mon *m, const struct cp__mon_node *n)
{
    if (!m || !n)
        return;
    const val v[N_NODE] = {
        v_text_nn(n->hostname), v_text_nn(n->uid), v_text_nn(n->block_id),
        v_int(n->cpu_count), v_int(n->total_memory), v_int(n->active ? 1 : 0),
        v_int(n->worker_count), v_text_nn(n->python_v), v_time_nn(n->time),
        v_time_nn(n->last_heartbeat),
    };
    cp__mon_enqueue1(m, K_NODE, v, N_NODE);
}

static void resource_vals(val v[N_RESOURCE], const struct cp__mon_resource *r)
{
    const val x[N_RESOURCE] = {
        v_int(r->task_id), v_int(r->try_id), v_time_nn(r->time), v_real(r->interval),
        v_int(r->pid), v_real(r->memory_percent), v_real(r->children_count),
        v_real(r->time_user), v_real(r->time_system), v_real(r->memory_virtual),
        v_real(r->memory_resident), v_real(r->disk_read), v_real(r->disk_write),
        v_text(r->status), v_text(r->cpu_num), v_real(r->ctx_voluntary),
        v_real(r->ctx_involuntary),
    };
    memcpy(v, x, sizeof x);
}

void cp__mon_resource(struct cp__mon *m, const struct cp__mon_resource *r)
{
    if (!m || !r)
        return;
    val v[N_RESOURCE];
    resource_vals(v, r);
    cp__mon_enqueue1(m, K_RESOURCE, v, N_RESOURCE);
}

void cp__mon_resources(struct cp__mon *m, const struct cp__mon_resource *r, size_t n)
{
    if (!m || !r)
        return;
    val v[CP__MON_GROUP][N_RESOURCE];
    struct cp__mon_spec s[CP__MON_GROUP];
    for (size_t i = 0; i < n;) {
        int k = 0;
        for (; k < CP__MON_GROUP && i < n; k++, i++) {
            resource_vals(v[k], &r[i]);
            s[k] = (struct cp__mon_spec){K_RESOURCE, v[k], N_RESOURCE};
        }
        cp__mon_enqueue(m, s, k);
    }
}
