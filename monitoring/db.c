/* monitoring/db.c — see db.h.
 *
 * Rows are copied into one allocation each (values, then the strings they point
 * to) and appended to a mutex-protected FIFO; callers never touch SQLite. The
 * writer thread wakes every flush interval (or at close), takes the whole FIFO and
 * writes it in one BEGIN IMMEDIATE … COMMIT with prepared statements. Callers do
 * not signal per row: the writer would only wake to wait out the interval again.
 *
 * A busy database never loses rows. SQLite's busy timeout waits a little inside
 * each attempt; when that is not enough the transaction is rolled back, the rows
 * stay in the writer's pending list (ahead of newer ones, so order is kept) and
 * the whole batch is tried again later. A failed batch is rolled back whole, so
 * retrying it cannot write a row twice (not even node's plain INSERT).
 *
 * Primary keys are Parsl's, and they decide how each kind of row is written:
 *   task, try  INSERT OR REPLACE: the engine sends a task when it is created and
 *              again when it ends; the later row is the truth (db.h).
 *   status, block, resource  INSERT OR IGNORE: their keys end in the timestamp, so
 *              two rows with the same key are the same event sent twice (at the
 *              microsecond the text keeps); a plain INSERT would fail the batch.
 *   node       INSERT: its key is an autoincrement id, so every row is new.
 *   workflow   INSERT at open (a run id already in the file is an error: ids must be
 *              unique), UPDATE of the completion columns at close.
 */
#include "monitoring/db.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <pwd.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "monitoring/schema.h"

/* How long SQLite itself waits for a lock inside one attempt. Short, so the writer
 * comes back to its own loop (and its close deadline) often. */
#define BUSY_WAIT_MS 250

enum kind { K_TASK, K_STATUS, K_TRY, K_BLOCK, K_NODE, K_RESOURCE, K_TASK_END, K_END, K_COUNT };

/* Values bound after run_id, in each statement's order. */
enum { N_TASK = 14, N_STATUS = 4, N_TRY = 10, N_BLOCK = 5, N_NODE = 10, N_RESOURCE = 17,
       N_TASK_END = 4, N_END = 3, N_WORKFLOW = 6 };

/* ?1 is run_id in every statement, bound once when it is prepared. */
static const struct {
    const char *table, *sql;
    int nvals;
} kinds[K_COUNT] = {
    [K_TASK] = {"task",
                "INSERT OR REPLACE INTO task (run_id, task_id, task_func_name, task_depends, "
                "task_memoize, task_hashsum, task_inputs, task_outputs, task_stdin, "
                "task_stdout, task_stderr, task_time_invoked, task_time_returned, "
                "task_fail_count, task_fail_cost) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", N_TASK},
    [K_STATUS] = {"status",
                  "INSERT OR IGNORE INTO status (run_id, task_id, try_id, task_status_name, "
                  "timestamp) VALUES (?, ?, ?, ?, ?)", N_STATUS},
    [K_TRY] = {"try",
               "INSERT OR REPLACE INTO try (run_id, task_id, try_id, block_id, hostname, "
               "task_executor, task_try_time_launched, task_try_time_running, "
               "task_try_time_returned, task_fail_history, task_joins) "
               "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", N_TRY},
    [K_BLOCK] = {"block",
                 "INSERT OR IGNORE INTO block (run_id, executor_label, block_id, job_id, "
                 "status, timestamp) VALUES (?, ?, ?, ?, ?, ?)", N_BLOCK},
    [K_NODE] = {"node",
                "INSERT INTO node (run_id, hostname, uid, block_id, cpu_count, total_memory, "
                "active, worker_count, python_v, timestamp, last_heartbeat) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", N_NODE},
    [K_RESOURCE] = {"resource",
                    "INSERT OR IGNORE INTO resource (run_id, task_id, try_id, timestamp, "
                    "resource_monitoring_interval, psutil_process_pid, "
                    "psutil_process_memory_percent, psutil_process_children_count, "
                    "psutil_process_time_user, psutil_process_time_system, "
                    "psutil_process_memory_virtual, psutil_process_memory_resident, "
                    "psutil_process_disk_read, psutil_process_disk_write, "
                    "psutil_process_status, psutil_cpu_num, "
                    "psutil_process_num_ctx_switches_voluntary, "
                    "psutil_process_num_ctx_switches_involuntary) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", N_RESOURCE},
    [K_TASK_END] = {"task",
                    "UPDATE task SET task_time_returned = ?3, task_fail_count = ?4, "
                    "task_fail_cost = ?5 WHERE run_id = ?1 AND task_id = ?2", N_TASK_END},
    [K_END] = {"workflow",
               "UPDATE workflow SET time_completed = ?2, tasks_completed_count = ?3, "
               "tasks_failed_count = ?4 WHERE run_id = ?1", N_END},
};

static const char workflow_sql[] =
    "INSERT INTO workflow (run_id, workflow_name, workflow_version, time_began, host, user, "
    "rundir, time_completed, tasks_failed_count, tasks_completed_count) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, NULL, 0, 0)";

enum vtype { V_NULL, V_INT, V_REAL, V_TEXT, V_TIME };

struct val {
    enum vtype t;
    union {
        int64_t i;
        double d;                       /* V_REAL; V_TIME: CLOCK_REALTIME seconds */
        const char *s;                  /* V_TEXT; in a queued row, points into the row */
    };
};

struct row {
    struct row *next;
    enum kind kind;
    bool folded;                        /* a later row of its batch holds its data */
    int n;
    struct val v[];                     /* then the bytes of the strings */
};

struct cp__mon {
    sqlite3 *db;                        /* the opening thread, then only the writer */
    sqlite3_stmt *st[K_COUNT];
    char *path, *run_id;
    double flush_interval, lock_timeout;
    pthread_t thread;

    pthread_mutex_t mu;                 /* guards the fields below */
    pthread_cond_t cv;                  /* signalled by close */
    struct row *head, *tail;            /* queued, not yet taken by the writer */
    bool closing;
    struct cp__mon_stats stats;

    /* Set by the writer when it gives up at close; read by close after the join. */
    uint64_t lost_rows;
    bool lost_end;
    int last_rc;
    char last_error[256];
};

/* ------------------------------------------------------------ values */

static struct val v_int(int64_t i) { return (struct val){.t = V_INT, .i = i}; }
static struct val v_real(double d) { return (struct val){.t = V_REAL, .d = d}; }

static struct val v_text(const char *s)
{
    return s ? (struct val){.t = V_TEXT, .s = s} : (struct val){.t = V_NULL};
}

/* For the columns Parsl declares NOT NULL: a row with '' beats a lost row. */
static struct val v_text_nn(const char *s) { return v_text(s ? s : ""); }

static struct val v_time(double t)
{
    return t > 0 ? (struct val){.t = V_TIME, .d = t} : (struct val){.t = V_NULL};
}

static struct val v_time_nn(double t) { return v_time(t > 0 ? t : cp__now()); }

/* Parsl stores naive datetime.now() values, which SQLAlchemy writes to SQLite as
 * text with six fractional digits; readers (parsl-visualize, pandas) parse exactly
 * that, in local time. */
static void format_time(double t, char *out, size_t size)
{
    double whole = floor(t);
    time_t s = (time_t)whole;
    long us = lround((t - whole) * 1e6);
    if (us >= 1000000) {
        s++;
        us -= 1000000;
    }
    /* Rows come in bursts within a second (per thread: the writer, and open):
     * the date and time part is worked out once per second. */
    static __thread time_t cached = (time_t)-1;
    static __thread char prefix[80];
    static __thread size_t plen;
    if (s != cached) {
        struct tm tm;
        localtime_r(&s, &tm);
        plen = (size_t)snprintf(prefix, sizeof prefix, "%04d-%02d-%02d %02d:%02d:%02d",
                                tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                                tm.tm_min, tm.tm_sec);
        cached = s;
    }
    if (plen + 8 > size) {
        out[0] = '\0';
        return;
    }
    memcpy(out, prefix, plen);
    out[plen] = '.';
    for (size_t i = plen + 6; i > plen; i--, us /= 10)
        out[i] = (char)('0' + us % 10);
    out[plen + 7] = '\0';
}

/* Binds v to ?2, ?3, … (?1 is run_id). Strings are SQLITE_STATIC: the row outlives
 * the step, and the next use of the statement rebinds every parameter first. */
static int bind_vals(sqlite3_stmt *st, const struct val *v, int n)
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
            format_time(v[i].d, buf, sizeof buf);
            rc = sqlite3_bind_text(st, p, buf, -1, SQLITE_TRANSIENT);
            break;
        }
    }
    return rc;
}

/* ------------------------------------------------------------ queue */

static void free_rows(struct row *r)
{
    while (r) {
        struct row *next = r->next;
        free(r);
        r = next;
    }
}

/* 0; -1 when memory ran out (counted and logged here, except for the completion,
 * which close reports itself). */
static int enqueue(struct cp__mon *m, enum kind k, const struct val *v, int n)
{
    size_t bytes = 0;
    for (int i = 0; i < n; i++)
        if (v[i].t == V_TEXT)
            bytes += strlen(v[i].s) + 1;
    struct row *r = malloc(sizeof *r + (size_t)n * sizeof *v + bytes);
    if (!r) {
        if (k == K_END)
            return -1;
        pthread_mutex_lock(&m->mu);
        m->stats.rows_dropped++;
        pthread_mutex_unlock(&m->mu);
        CP_ERROR("monitoring", "out of memory: a %s row was dropped", kinds[k].table);
        return -1;
    }
    r->next = NULL;
    r->kind = k;
    r->folded = false;
    r->n = n;
    char *p = (char *)(r->v + n);
    for (int i = 0; i < n; i++) {
        r->v[i] = v[i];
        if (v[i].t == V_TEXT) {
            size_t len = strlen(v[i].s) + 1;
            memcpy(p, v[i].s, len);
            r->v[i].s = p;
            p += len;
        }
    }
    pthread_mutex_lock(&m->mu);
    if (m->tail)
        m->tail->next = r;
    else
        m->head = r;
    m->tail = r;
    if (k != K_END)
        m->stats.rows_queued++;
    pthread_mutex_unlock(&m->mu);
    return 0;
}

/* ------------------------------------------------------------ the writer */

/* A row SQLite refuses for its own content (a constraint or type of a schema that
 * is not ours) would fail every retry; it is skipped and logged instead. */
static bool row_refused(int rc)
{
    rc &= 0xff;
    return rc == SQLITE_CONSTRAINT || rc == SQLITE_MISMATCH || rc == SQLITE_TOOBIG;
}

static void note_failure(struct cp__mon *m, int rc)
{
    char msg[sizeof m->last_error];
    snprintf(msg, sizeof msg, "%s", sqlite3_errcode(m->db) != SQLITE_OK
                                        ? sqlite3_errmsg(m->db) : sqlite3_errstr(rc));
    if (cp__mon_is_busy(rc))
        CP_DEBUG("monitoring", "%s is busy (%s); the batch will be retried", m->path, msg);
    else if (m->last_rc != rc || strcmp(m->last_error, msg) != 0)
        CP_WARN("monitoring", "writing %s failed (%s); the rows are kept and retried",
                m->path, msg);
    m->last_rc = rc;
    memcpy(m->last_error, msg, sizeof msg);
}

/* Folds rows of one batch that a later row makes redundant, so SQLite sees each
 * task and try once per batch rather than once per state: a try's rows are
 * cumulative (each carries every time known so far) and replace each other, and
 * a task's end is an UPDATE of the row its start inserted. For a task that starts
 * and ends within one flush interval that turns five statements into two, and
 * the rows in the file are the same. An optimisation only: without memory for
 * the table, every row is written as it came. */
struct fold_slot {
    int64_t task, try_;
    int cls;                            /* 0 empty, 1 try, 2 task */
    struct row *r;
};

static void fold(struct row *rows)
{
    size_t n = 0;
    for (struct row *r = rows; r; r = r->next)
        n += r->kind == K_TRY || r->kind == K_TASK || r->kind == K_TASK_END;
    if (n < 2)
        return;
    size_t cap = 16;
    while (cap < 2 * n)
        cap <<= 1;
    struct fold_slot *tab = calloc(cap, sizeof *tab);
    if (!tab)
        return;
    for (struct row *r = rows; r; r = r->next) {
        int cls = r->kind == K_TRY ? 1 : r->kind == K_TASK || r->kind == K_TASK_END ? 2 : 0;
        if (!cls || r->folded)
            continue;
        int64_t task = r->v[0].i, try_ = cls == 1 ? r->v[1].i : 0;
        uint64_t h = ((uint64_t)task * 0x9E3779B97F4A7C15ull) ^ ((uint64_t)try_ << 1) ^
                     (uint64_t)cls;
        size_t i = (size_t)(h ^ (h >> 29)) & (cap - 1);
        while (tab[i].cls && !(tab[i].cls == cls && tab[i].task == task && tab[i].try_ == try_))
            i = (i + 1) & (cap - 1);
        struct fold_slot *sl = &tab[i];
        if (!sl->cls) {
            *sl = (struct fold_slot){task, try_, cls, r};
            continue;
        }
        struct row *prev = sl->r;
        if (r->kind == K_TASK_END && prev->kind == K_TASK) {
            prev->v[11] = r->v[1];      /* task_time_returned */
            prev->v[12] = r->v[2];      /* task_fail_count */
            prev->v[13] = r->v[3];      /* task_fail_cost */
            r->folded = true;
        } else {
            prev->folded = true;        /* a replace, or a later UPDATE of the same */
            sl->r = r;
        }
    }
    free(tab);
}

/* Writes rows in one transaction: SQLITE_OK when committed, otherwise rolled back
 * (the caller keeps the rows). Counts rows that changed the file and rows SQLite
 * did not store (duplicates of a Parsl key, refused rows). */
static int write_batch(struct cp__mon *m, const struct row *rows, uint64_t *written,
                       uint64_t *ignored)
{
    uint64_t w = 0, ig = 0;
    int rc = sqlite3_exec(m->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    for (const struct row *r = rows; r && rc == SQLITE_OK; r = r->next) {
        if (r->folded) {
            w++;                        /* its data went into a later row */
            continue;
        }
        sqlite3_stmt *st = m->st[r->kind];
        rc = bind_vals(st, r->v, r->n);
        if (rc == SQLITE_OK)
            rc = sqlite3_step(st);
        if (rc == SQLITE_DONE) {
            rc = SQLITE_OK;
            if (r->kind != K_END && sqlite3_changes(m->db) > 0)
                w++;
            else if (r->kind != K_END)
                ig++;
        } else if (row_refused(rc)) {
            CP_WARN("monitoring", "a %s row was not stored: %s", kinds[r->kind].table,
                    sqlite3_errmsg(m->db));
            ig++;
            rc = SQLITE_OK;
        }
        sqlite3_reset(st);      /* keeps the error and its message for note_failure */
    }
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(m->db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        note_failure(m, rc);
        if (!sqlite3_get_autocommit(m->db))
            sqlite3_exec(m->db, "ROLLBACK", NULL, NULL, NULL);
        return rc;
    }
    *written = w;
    *ignored = ig;
    return SQLITE_OK;
}

static void wait_until(struct cp__mon *m, double when)
{
    struct timespec ts;
    ts.tv_sec = (time_t)when;
    ts.tv_nsec = (long)((when - (double)ts.tv_sec) * 1e9);
    if (ts.tv_nsec >= 1000000000L)
        ts.tv_nsec = 999999999L;
    pthread_cond_timedwait(&m->cv, &m->mu, &ts);
}

/* At the close deadline: what could not be written is counted and freed. */
static void give_up(struct cp__mon *m, struct row *rows)
{
    for (struct row *r = rows; r; r = r->next) {
        if (r->kind == K_END)
            m->lost_end = true;
        else
            m->lost_rows++;
    }
    free_rows(rows);
}

static void *writer_main(void *arg)
{
    struct cp__mon *m = arg;
    struct row *pend = NULL, *pend_tail = NULL;     /* taken, not yet committed */
    double next = cp__mono() + m->flush_interval, deadline = 0;

    pthread_mutex_lock(&m->mu);
    for (;;) {
        while (!m->closing && cp__mono() < next)
            wait_until(m, next);
        if (m->closing && deadline == 0)
            deadline = cp__mono() + m->lock_timeout;
        if (m->head) {
            if (pend_tail)
                pend_tail->next = m->head;
            else
                pend = m->head;
            pend_tail = m->tail;
            m->head = m->tail = NULL;
        }
        bool closing = m->closing;
        pthread_mutex_unlock(&m->mu);

        uint64_t written = 0, ignored = 0;
        int rc = SQLITE_OK;
        bool tried = pend != NULL;
        fold(pend);
        if (pend && (rc = write_batch(m, pend, &written, &ignored)) == SQLITE_OK) {
            free_rows(pend);
            pend = pend_tail = NULL;
            m->last_rc = 0;
        }
        double now = cp__mono();

        pthread_mutex_lock(&m->mu);
        if (tried && rc == SQLITE_OK) {
            m->stats.rows_written += written;
            m->stats.rows_ignored += ignored;
            m->stats.commits++;
        } else if (cp__mon_is_busy(rc)) {
            m->stats.busy_retries++;
        }
        if (!closing) {
            next = now + m->flush_interval;
            continue;
        }
        if (!pend && !m->head)
            break;
        if (now >= deadline) {
            give_up(m, pend);
            give_up(m, m->head);
            m->head = m->tail = NULL;
            break;
        }
        /* Closing: try again at once after a busy attempt (SQLite already waited),
         * a little later after another failure, so a broken disk is not spun on. */
        next = rc == SQLITE_OK || cp__mon_is_busy(rc) ? now : now + 0.05;
    }
    pthread_mutex_unlock(&m->mu);
    return NULL;
}

/* ------------------------------------------------------------ open */

static void who_and_where(char *host, size_t hsize, char *user, size_t usize)
{
    if (gethostname(host, hsize) != 0)
        host[0] = '\0';
    host[hsize - 1] = '\0';
    struct passwd pw, *res = NULL;
    char buf[1024];
    if (getpwuid_r(geteuid(), &pw, buf, sizeof buf, &res) == 0 && res && res->pw_name)
        snprintf(user, usize, "%s", res->pw_name);
    else if (getlogin_r(user, usize) != 0)
        user[0] = '\0';
}

static int insert_workflow(struct cp__mon *m, const struct cp__mon_opts *o, cp_err *err)
{
    char host[256], user[256];
    who_and_where(host, sizeof host, user, sizeof user);
    const struct val v[N_WORKFLOW] = {
        v_text(o->workflow_name), v_text(o->workflow_version), v_time_nn(o->time_began),
        v_text_nn(host), v_text_nn(user), v_text_nn(o->rundir),
    };
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(m->db, workflow_sql, -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_bind_text(st, 1, m->run_id, -1, SQLITE_STATIC)) ==
                               SQLITE_OK && (rc = bind_vals(st, v, N_WORKFLOW)) == SQLITE_OK)
        rc = sqlite3_step(st);
    int ret = 0;
    if ((rc & 0xff) == SQLITE_CONSTRAINT)
        ret = cp__errf(err, EEXIST, "monitoring database %s already has run %s (run ids must "
                       "be unique)", m->path, m->run_id);
    else if (rc != SQLITE_DONE)
        ret = cp__mon_sqlerr(err, m->db, rc, "monitoring database %s: adding run %s", m->path,
                             m->run_id);
    sqlite3_finalize(st);
    return ret;
}

/* WAL lets readers (a report, sqlite3 in a terminal) read while we write; NORMAL
 * is safe with WAL (a power cut loses at most the last commits, never the file). */
static int set_journal(struct cp__mon *m, cp_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(m->db, "PRAGMA journal_mode=WAL", -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const unsigned char *mode = sqlite3_column_text(st, 0);
        if (!mode || strcmp((const char *)mode, "wal") != 0)
            CP_WARN("monitoring", "%s: journal mode is %s, not wal; readers will delay the "
                    "writer more", m->path, mode ? (const char *)mode : "unknown");
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    if ((rc & 0xff) == SQLITE_NOTADB)
        return cp__errf(err, ENOTSUP, "monitoring database %s is not an SQLite database "
                        "(%s); give monitoring another file", m->path, sqlite3_errstr(rc));
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(m->db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return cp__mon_sqlerr(err, m->db, rc, "monitoring database %s", m->path);
    return 0;
}

static int setup_once(struct cp__mon *m, const struct cp__mon_opts *o, cp_err *err)
{
    if (set_journal(m, err) != 0)
        return -1;
    int rc = sqlite3_exec(m->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return cp__mon_sqlerr(err, m->db, rc, "monitoring database %s", m->path);
    int ret = -1;
    if (cp__mon_schema_create(m->db, m->path, err) != 0 || insert_workflow(m, o, err) != 0)
        goto out;
    if ((rc = sqlite3_exec(m->db, "COMMIT", NULL, NULL, NULL)) != SQLITE_OK) {
        cp__mon_sqlerr(err, m->db, rc, "monitoring database %s", m->path);
        goto out;
    }
    ret = 0;
out:
    if (!sqlite3_get_autocommit(m->db))
        sqlite3_exec(m->db, "ROLLBACK", NULL, NULL, NULL);
    return ret;
}

/* Another connection may hold the file (Parsl's own manager fails here; see its
 * TODO in db_manager.py). Retry until lock_timeout. */
static int setup(struct cp__mon *m, const struct cp__mon_opts *o, cp_err *err)
{
    double deadline = cp__mono() + m->lock_timeout;
    for (;;) {
        cp_err e = {0};
        if (setup_once(m, o, &e) == 0)
            return 0;
        if (e.code != EBUSY)
            return cp__errf(err, e.code, "%s", e.text);
        if (cp__mono() >= deadline)
            return cp__errf(err, EBUSY, "%s (still locked by another connection after %g s)",
                            e.text, m->lock_timeout);
        m->stats.busy_retries++;
        usleep(10000);
    }
}

static int prepare(struct cp__mon *m, cp_err *err)
{
    for (int k = 0; k < K_COUNT; k++) {
        int rc = sqlite3_prepare_v3(m->db, kinds[k].sql, -1, SQLITE_PREPARE_PERSISTENT,
                                    &m->st[k], NULL);
        if (rc == SQLITE_OK)
            rc = sqlite3_bind_text(m->st[k], 1, m->run_id, -1, SQLITE_STATIC);
        if (rc != SQLITE_OK)
            return cp__mon_sqlerr(err, m->db, rc, "monitoring database %s: preparing the %s "
                                  "statement", m->path, kinds[k].table);
        if (sqlite3_bind_parameter_count(m->st[k]) != kinds[k].nvals + 1)
            return cp__errf(err, EINVAL, "monitoring: the %s statement takes %d values, not "
                            "%d (a bug)", kinds[k].table,
                            sqlite3_bind_parameter_count(m->st[k]) - 1, kinds[k].nvals);
    }
    return 0;
}

/* Frees m and whatever it holds; fine on a partly built one. The writer thread must
 * have ended (or never started). */
static void destroy(struct cp__mon *m)
{
    if (!m)
        return;
    for (int k = 0; k < K_COUNT; k++)
        sqlite3_finalize(m->st[k]);
    sqlite3_close_v2(m->db);
    free_rows(m->head);
    pthread_cond_destroy(&m->cv);
    pthread_mutex_destroy(&m->mu);
    free(m->path);
    free(m->run_id);
    free(m);
}

struct cp__mon *cp__mon_open(const struct cp__mon_opts *o, cp_err *err)
{
    if (!o || !o->path || !o->path[0] || !o->run_id || !o->run_id[0]) {
        cp__errf(err, EINVAL, "monitoring database: a path and a run id are required");
        return NULL;
    }
    struct cp__mon *m = calloc(1, sizeof *m);
    pthread_condattr_t ca;
    if (!m || pthread_condattr_init(&ca) != 0) {
        free(m);
        cp__errf(err, ENOMEM, "out of memory");
        return NULL;
    }
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);    /* cp__mono's clock */
    pthread_mutex_init(&m->mu, NULL);
    pthread_cond_init(&m->cv, &ca);
    pthread_condattr_destroy(&ca);
    m->flush_interval = o->flush_interval > 0 ? o->flush_interval : 0.2;
    m->lock_timeout = o->lock_timeout > 0 ? o->lock_timeout : 60;
    m->path = strdup(o->path);
    m->run_id = strdup(o->run_id);
    if (!m->path || !m->run_id) {
        cp__errf(err, ENOMEM, "out of memory");
        goto error;
    }
    if (cp__mkdir_parent(o->path, err) != 0) {
        cp__err_prefix(err, "monitoring database %s", o->path);
        goto error;
    }
    int rc = sqlite3_open_v2(o->path, &m->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                             NULL);
    if (rc != SQLITE_OK) {
        cp__mon_sqlerr(err, m->db, rc, "cannot open monitoring database %s", o->path);
        goto error;
    }
    sqlite3_busy_timeout(m->db, BUSY_WAIT_MS);
    if (setup(m, o, err) != 0 || prepare(m, err) != 0)
        goto error;
    int e = pthread_create(&m->thread, NULL, writer_main, m);
    if (e != 0) {
        cp__errf(err, e, "monitoring: cannot start the writer thread: %s", strerror(e));
        goto error;
    }
    return m;
error:
    destroy(m);
    return NULL;
}

/* ------------------------------------------------------------ rows */

void cp__mon_task(struct cp__mon *m, const struct cp__mon_task *t)
{
    if (!m || !t)
        return;
    const struct val v[N_TASK] = {
        v_int(t->task_id), v_text_nn(t->func_name), v_text(t->depends), v_text_nn(t->memoize),
        v_text(t->hashsum), v_text(t->inputs), v_text(t->outputs), v_text(t->stdin_path),
        v_text(t->stdout_path), v_text(t->stderr_path), v_time(t->time_invoked),
        v_time(t->time_returned), v_int(t->fail_count), v_real(t->fail_cost),
    };
    enqueue(m, K_TASK, v, N_TASK);
}

void cp__mon_task_end(struct cp__mon *m, long task_id, double time_returned, int fail_count,
                      double fail_cost)
{
    if (!m)
        return;
    const struct val v[N_TASK_END] = {
        v_int(task_id), v_time(time_returned), v_int(fail_count), v_real(fail_cost),
    };
    enqueue(m, K_TASK_END, v, N_TASK_END);
}

void cp__mon_status(struct cp__mon *m, long task_id, int try_id, const char *state_name,
                    double time)
{
    if (!m)
        return;
    const struct val v[N_STATUS] = {
        v_int(task_id), v_int(try_id), v_text_nn(state_name), v_time_nn(time),
    };
    enqueue(m, K_STATUS, v, N_STATUS);
}

void cp__mon_try(struct cp__mon *m, const struct cp__mon_try *t)
{
    if (!m || !t)
        return;
    const struct val v[N_TRY] = {
        v_int(t->task_id), v_int(t->try_id), v_text(t->block_id), v_text(t->hostname),
        v_text_nn(t->executor), v_time(t->time_launched), v_time(t->time_running),
        v_time(t->time_returned), v_text(t->fail_history), v_text(t->joins),
    };
    enqueue(m, K_TRY, v, N_TRY);
}

void cp__mon_block(struct cp__mon *m, const char *executor, const char *block_id,
                   const char *job_id, const char *status, double time)
{
    if (!m)
        return;
    const struct val v[N_BLOCK] = {
        v_text_nn(executor), v_text_nn(block_id), v_text(job_id), v_text_nn(status),
        v_time_nn(time),
    };
    enqueue(m, K_BLOCK, v, N_BLOCK);
}

void cp__mon_node(struct cp__mon *m, const struct cp__mon_node *n)
{
    if (!m || !n)
        return;
    const struct val v[N_NODE] = {
        v_text_nn(n->hostname), v_text_nn(n->uid), v_text_nn(n->block_id),
        v_int(n->cpu_count), v_int(n->total_memory), v_int(n->active ? 1 : 0),
        v_int(n->worker_count), v_text_nn(n->python_v), v_time_nn(n->time),
        v_time_nn(n->last_heartbeat),
    };
    enqueue(m, K_NODE, v, N_NODE);
}

void cp__mon_resource(struct cp__mon *m, const struct cp__mon_resource *r)
{
    if (!m || !r)
        return;
    const struct val v[N_RESOURCE] = {
        v_int(r->task_id), v_int(r->try_id), v_time_nn(r->time), v_real(r->interval),
        v_int(r->pid), v_real(r->memory_percent), v_real(r->children_count),
        v_real(r->time_user), v_real(r->time_system), v_real(r->memory_virtual),
        v_real(r->memory_resident), v_real(r->disk_read), v_real(r->disk_write),
        v_text(r->status), v_text(r->cpu_num), v_real(r->ctx_voluntary),
        v_real(r->ctx_involuntary),
    };
    enqueue(m, K_RESOURCE, v, N_RESOURCE);
}

void cp__mon_get_stats(struct cp__mon *m, struct cp__mon_stats *out)
{
    if (!out)
        return;
    if (!m) {
        memset(out, 0, sizeof *out);
        return;
    }
    pthread_mutex_lock(&m->mu);
    *out = m->stats;
    pthread_mutex_unlock(&m->mu);
}

/* ------------------------------------------------------------ close */

int cp__mon_close(struct cp__mon *m, double time_completed, int tasks_completed,
                  int tasks_failed, cp_err *err)
{
    if (!m)
        return 0;
    const struct val v[N_END] = {
        v_time_nn(time_completed), v_int(tasks_completed), v_int(tasks_failed),
    };
    bool end_queued = enqueue(m, K_END, v, N_END) == 0;
    pthread_mutex_lock(&m->mu);
    m->closing = true;
    pthread_cond_signal(&m->cv);
    pthread_mutex_unlock(&m->mu);
    pthread_join(m->thread, NULL);

    int ret = 0;
    if (m->lost_rows || m->lost_end) {
        bool busy = cp__mon_is_busy(m->last_rc);
        ret = cp__errf(err, busy ? EBUSY : EIO,
                       "monitoring database %s: %llu rows%s were not written: the database %s "
                       "for %g s (last error: %s)", m->path,
                       (unsigned long long)m->lost_rows,
                       m->lost_end ? " and the run's completion" : "",
                       busy ? "stayed locked by another connection" : "kept failing",
                       m->lock_timeout, m->last_error);
    } else if (!end_queued) {
        ret = cp__errf(err, ENOMEM, "monitoring database %s: out of memory: the run's "
                       "completion was not written", m->path);
    }
    cp_err ie = {0};
    if (cp__mon_schema_indexes(m->db, m->path, &ie) != 0) {
        CP_WARN("monitoring", "%s", ie.text);
        if (ret == 0)
            ret = cp__errf(err, ie.code, "%s", ie.text);
    }
    /* Best effort: fold the WAL back into the file, so a copied monitoring.db is
     * whole; a reader still holding the WAL only makes this a no-op. */
    sqlite3_wal_checkpoint_v2(m->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
    CP_INFO("monitoring", "%s: %llu rows written in %llu commits, %llu busy retries, "
            "%llu ignored, %llu dropped", m->path, (unsigned long long)m->stats.rows_written,
            (unsigned long long)m->stats.commits, (unsigned long long)m->stats.busy_retries,
            (unsigned long long)m->stats.rows_ignored, (unsigned long long)m->stats.rows_dropped);
    destroy(m);
    return ret;
}
