/* monitoring/db.c — see db.h; rows are queued by db_queue.c, written by db_write.c.
 *
 * Callers copy rows into the queue's chunks (db_int.h) under one mutex and
 * return; they never touch SQLite. The writer thread wakes every flush interval,
 * at close, or as soon as a few thousand rows wait (so a busy run is written as
 * it goes rather than in one long drain at the end), takes every queued chunk
 * and writes them in one BEGIN IMMEDIATE … COMMIT.
 *
 * A busy database never loses rows. SQLite's busy timeout waits a little inside
 * each attempt; when that is not enough the transaction is rolled back, the
 * chunks stay in the writer's pending list (ahead of newer ones, so order is
 * kept) and the whole batch is tried again later. A failed batch is rolled back
 * whole, so retrying it cannot write a row twice (not even node's plain INSERT).
 *
 * How each kind of row is stored:
 *   task, try, status, resource  in our tables (schema.c), folded per task and
 *              try by db_write.c: a later task or try row replaces an earlier one
 *              (db.h), a task's end updates its row, a status fills its try's
 *              column once.
 *   block      INSERT OR IGNORE: Parsl's key ends in the timestamp, so two rows
 *              with the same key are the same event sent twice.
 *   node       INSERT: its key is an autoincrement id, so every row is new.
 *   workflow   INSERT at open (a run id already in the file is an error: ids must be
 *              unique), UPDATE of the completion columns at close.
 */
#include "monitoring/db.h"

#include <errno.h>
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
#include "monitoring/db_int.h"
#include "monitoring/schema.h"

/* How long SQLite itself waits for a lock inside one attempt. Short, so the writer
 * comes back to its own loop (and its close deadline) often. */
#define BUSY_WAIT_MS 250

/* At most this many rows in one transaction (more wait for the next): bounds
 * the writer's fold table and how long one commit holds the file. */
#define BATCH_ROWS 65536

#define TRY_INSERT \
    " INTO cp_try (run, task_id, try_id, tried, block_id, hostname, " \
    "executor, launched, running, returned, fail_history, joins, s_pending, " \
    "s_launched, s_running, s_running_ended, s_joining, s_end, end_state) " \
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, " \
    "?16, ?17, ?18, ?19) "

#define TRY_UPDATE \
    "ON CONFLICT (run, task_id, try_id) DO UPDATE SET " \
    "tried = max(tried, excluded.tried), " \
    "block_id = iif(excluded.tried, excluded.block_id, block_id), " \
    "hostname = iif(excluded.tried, excluded.hostname, hostname), " \
    "executor = iif(excluded.tried, excluded.executor, executor), " \
    "launched = iif(excluded.tried, excluded.launched, launched), " \
    "running = iif(excluded.tried, excluded.running, running), " \
    "returned = iif(excluded.tried, excluded.returned, returned), " \
    "fail_history = iif(excluded.tried, excluded.fail_history, fail_history), " \
    "joins = iif(excluded.tried, excluded.joins, joins), " \
    "s_pending = ifnull(s_pending, excluded.s_pending), " \
    "s_launched = ifnull(s_launched, excluded.s_launched), " \
    "s_running = ifnull(s_running, excluded.s_running), " \
    "s_running_ended = ifnull(s_running_ended, excluded.s_running_ended), " \
    "s_joining = ifnull(s_joining, excluded.s_joining), " \
    "s_end = ifnull(s_end, excluded.s_end), " \
    "end_state = iif(s_end IS NULL, excluded.end_state, end_state) "

struct stmt_def {
    const char *table, *sql;
    int nvals;                          /* after ?1 */
    bool ours;                          /* ?1 is the run's number, not its run_id */
};

static const struct stmt_def stmts[S_COUNT] = {
    /* A task's first pending comes with its row (s_pending, ?16). A new task is
     * one INSERT; a task already in the file (its row sent again) is replaced,
     * keeping the pending it had, and says what it holds. */
    [S_TASK_NEW] = {"task",
                    "INSERT OR IGNORE INTO cp_task (run, task_id, func_name, depends, memoize, "
                    "hashsum, inputs, outputs, stdin, stdout, stderr, invoked, returned, "
                    "fail_count, fail_cost, s_pending) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", N_TASK + 1, true},
    [S_TASK] = {"task",
                "INSERT INTO cp_task (run, task_id, func_name, depends, memoize, hashsum, "
                "inputs, outputs, stdin, stdout, stderr, invoked, returned, fail_count, "
                "fail_cost, s_pending) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (run, task_id) DO UPDATE SET func_name = excluded.func_name, "
                "depends = excluded.depends, memoize = excluded.memoize, "
                "hashsum = excluded.hashsum, inputs = excluded.inputs, "
                "outputs = excluded.outputs, stdin = excluded.stdin, stdout = excluded.stdout, "
                "stderr = excluded.stderr, invoked = excluded.invoked, "
                "returned = excluded.returned, fail_count = excluded.fail_count, "
                "fail_cost = excluded.fail_cost, s_pending = ifnull(s_pending, "
                "excluded.s_pending) RETURNING s_pending", N_TASK + 1, true},
    [S_TASK_PENDING] = {"task",
                        "UPDATE cp_task SET s_pending = ifnull(s_pending, ?3) "
                        "WHERE run = ?1 AND task_id = ?2 RETURNING s_pending", 2, true},
    [S_TASK_END] = {"task",
                    "UPDATE cp_task SET returned = ?3, fail_count = ?4, fail_cost = ?5 "
                    "WHERE run = ?1 AND task_id = ?2", N_TASK_END, true},
    /* A try row's fields replace the file's when this batch had one (?4); each
     * status fills its column only when it is empty. A try the writer does not
     * remember (db_write.c) is tried as new first; one already in the file is
     * then upserted and says what its columns hold, so a status that lost its
     * column is kept apart. */
    [S_TRY_NEW] = {"try", "INSERT OR IGNORE" TRY_INSERT, 18, true},
    [S_TRY] = {"try", "INSERT" TRY_INSERT TRY_UPDATE, 18, true},
    [S_TRY_CHECK] = {"try",
                     "INSERT" TRY_INSERT TRY_UPDATE "RETURNING s_pending, s_launched, s_running, "
                     "s_running_ended, s_joining, s_end, end_state", 18, true},
    [S_STATUS] = {"status",
                  "INSERT INTO cp_status (run, task_id, try_id, name, ts) "
                  "VALUES (?, ?, ?, ?, ?)", 4, true},
    [S_RESOURCE] = {"resource",
                    "INSERT INTO cp_resource (run, task_id, try_id, ts, interval, pid, "
                    "memory_percent, children, time_user, time_system, memory_virtual, "
                    "memory_resident, disk_read, disk_write, status, cpu_num, ctx_voluntary, "
                    "ctx_involuntary) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    N_RESOURCE, true},
    [S_BLOCK] = {"block",
                 "INSERT OR IGNORE INTO block (run_id, executor_label, block_id, job_id, "
                 "status, timestamp) VALUES (?, ?, ?, ?, ?, ?)", N_BLOCK, false},
    [S_NODE] = {"node",
                "INSERT INTO node (run_id, hostname, uid, block_id, cpu_count, total_memory, "
                "active, worker_count, python_v, timestamp, last_heartbeat) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", N_NODE, false},
    [S_END] = {"workflow",
               "UPDATE workflow SET time_completed = ?2, tasks_completed_count = ?3, "
               "tasks_failed_count = ?4 WHERE run_id = ?1", N_END, false},
};

static const char workflow_sql[] =
    "INSERT INTO workflow (run_id, workflow_name, workflow_version, time_began, host, user, "
    "rundir, time_completed, tasks_failed_count, tasks_completed_count) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, NULL, 0, 0)";

typedef struct cp__mon_val val;

/* ------------------------------------------------------------ the writer */

bool cp__mon_row_refused(int rc)
{
    rc &= 0xff;
    return rc == SQLITE_CONSTRAINT || rc == SQLITE_MISMATCH || rc == SQLITE_TOOBIG;
}

void cp__mon_note_failure(struct cp__mon *m, int rc)
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

static void wait_until(struct cp__mon *m, double when)
{
    struct timespec ts;
    ts.tv_sec = (time_t)when;
    ts.tv_nsec = (long)((when - (double)ts.tv_sec) * 1e9);
    if (ts.tv_nsec >= 1000000000L)
        ts.tv_nsec = 999999999L;
    m->writer_waiting = true;
    pthread_cond_timedwait(&m->cv, &m->mu, &ts);
    m->writer_waiting = false;
}

/* Written chunks go back for reuse, up to SPARE_CHUNKS; m->mu is held. */
static void recycle(struct cp__mon *m, struct cp__mon_chunk *c)
{
    while (c) {
        struct cp__mon_chunk *next = c->next;
        if (c->cap == CHUNK_BYTES && m->nspare < SPARE_CHUNKS) {
            c->next = m->spare;
            m->spare = c;
            m->nspare++;
        } else {
            free(c);
        }
        c = next;
    }
}

/* At the close deadline: what could not be written is counted and freed. */
static void give_up(struct cp__mon *m, struct cp__mon_chunk *chunks)
{
    bool end = false;
    m->lost_rows += cp__mon_count_rows(chunks, &end);
    m->lost_end |= end;
    cp__mon_free_chunks(chunks);
}

static void *writer_main(void *arg)
{
    struct cp__mon *m = arg;
    struct cp__mon_chunk *pend = NULL, *pend_tail = NULL;   /* taken, not yet committed */
    size_t pend_rows = 0;
    double next = cp__mono() + m->flush_interval, deadline = 0;

    pthread_mutex_lock(&m->mu);
    for (;;) {
        while (!m->closing && m->queued_rows < WAKE_ROWS && cp__mono() < next)
            wait_until(m, next);
        if (m->closing && deadline == 0)
            deadline = cp__mono() + m->lock_timeout;
        while (m->head && pend_rows < BATCH_ROWS) {
            struct cp__mon_chunk *c = m->head;
            if (c == m->tail && c->cap - c->used >= 512 && pend_rows > 0)
                break;      /* producers still fill it; the next batch takes it */
            m->head = c->next;
            if (!m->head)
                m->tail = NULL;
            c->next = NULL;
            if (pend_tail)
                pend_tail->next = c;
            else
                pend = c;
            pend_tail = c;
            pend_rows += c->rows;
            m->queued_rows -= c->rows < m->queued_rows ? c->rows : m->queued_rows;
            m->queued_bytes -= c->cap < m->queued_bytes ? c->cap : m->queued_bytes;
        }
        if (m->callers_waiting)
            pthread_cond_broadcast(&m->space);
        bool closing = m->closing;
        pthread_mutex_unlock(&m->mu);

        uint64_t written = 0, ignored = 0;
        int rc = SQLITE_OK;
        bool tried = pend != NULL;
        if (pend && (rc = cp__mon_write_batch(m, pend, &written, &ignored)) == SQLITE_OK) {
            m->last_rc = 0;
        }
        double now = cp__mono();

        pthread_mutex_lock(&m->mu);
        if (tried && rc == SQLITE_OK) {
            recycle(m, pend);
            pend = pend_tail = NULL;
            pend_rows = 0;
        }
        if (tried && rc == SQLITE_OK) {
            m->stats.rows_written += written;
            m->stats.rows_ignored += ignored;
            m->stats.commits++;
        } else if (cp__mon_is_busy(rc)) {
            m->stats.busy_retries++;
        }
        if (!closing) {
            /* More than a batch was waiting: go on at once. */
            next = m->queued_rows >= WAKE_ROWS ? now : now + m->flush_interval;
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
    const val v[N_WORKFLOW] = {
        v_text(o->workflow_name), v_text(o->workflow_version), v_time_nn(o->time_began),
        v_text_nn(host), v_text_nn(user), v_text_nn(o->rundir),
    };
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(m->db, workflow_sql, -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_bind_text(st, 1, m->run_id, -1, SQLITE_STATIC)) ==
                               SQLITE_OK && (rc = cp__mon_bind(st, v, N_WORKFLOW, true)) ==
                               SQLITE_OK)
        rc = sqlite3_step(st);
    sqlite3_finalize(st);
    st = NULL;
    if (rc == SQLITE_DONE) {
        rc = sqlite3_prepare_v2(m->db, "INSERT INTO cp_run (run_id) VALUES (?1)", -1, &st,
                                NULL);
        if (rc == SQLITE_OK && (rc = sqlite3_bind_text(st, 1, m->run_id, -1, SQLITE_STATIC)) ==
                                   SQLITE_OK)
            rc = sqlite3_step(st);
        m->run = sqlite3_last_insert_rowid(m->db);
    }
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
    for (int k = 0; k < S_COUNT; k++) {
        const struct stmt_def *d = &stmts[k];
        int rc = sqlite3_prepare_v3(m->db, d->sql, -1, SQLITE_PREPARE_PERSISTENT, &m->st[k],
                                    NULL);
        if (rc == SQLITE_OK)
            rc = d->ours ? sqlite3_bind_int64(m->st[k], 1, m->run)
                         : sqlite3_bind_text(m->st[k], 1, m->run_id, -1, SQLITE_STATIC);
        if (rc != SQLITE_OK)
            return cp__mon_sqlerr(err, m->db, rc, "monitoring database %s: preparing the %s "
                                  "statement", m->path, d->table);
        if (sqlite3_bind_parameter_count(m->st[k]) != d->nvals + 1)
            return cp__errf(err, EINVAL, "monitoring: the %s statement takes %d values, not "
                            "%d (a bug)", d->table, sqlite3_bind_parameter_count(m->st[k]) - 1,
                            d->nvals);
    }
    return 0;
}

/* Frees m and whatever it holds; fine on a partly built one. The writer thread must
 * have ended (or never started). */
static void destroy(struct cp__mon *m)
{
    if (!m)
        return;
    for (int k = 0; k < S_COUNT; k++)
        sqlite3_finalize(m->st[k]);
    sqlite3_close_v2(m->db);
    cp__mon_free_chunks(m->head);
    cp__mon_free_chunks(m->spare);
    cp__mon_fold_free(m);
    pthread_cond_destroy(&m->cv);
    pthread_cond_destroy(&m->space);
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
    pthread_cond_init(&m->space, NULL);
    pthread_condattr_destroy(&ca);
    m->max_bytes = o->max_queue_bytes > 0 ? o->max_queue_bytes : (size_t)256 << 20;
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
    const val v[N_END] = {
        v_time_nn(time_completed), v_int(tasks_completed), v_int(tasks_failed),
    };
    bool end_queued = cp__mon_enqueue1(m, K_END, v, N_END) == 0;
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
