/* monitoring/ckpt_db.c — checkpoint files in SQLite (monitoring/ckpt_db.h). */
#include <errno.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "monitoring/ckpt_db.h"

#define BUSY_MS 60000   /* a resuming run reading our file must not fail us */

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS checkpoint ("
    " key BLOB PRIMARY KEY NOT NULL,"
    " app TEXT NOT NULL,"
    " task_id INTEGER NOT NULL,"
    " result BLOB NOT NULL,"
    " time REAL NOT NULL)";

struct cp__ckdb {
    sqlite3 *db;
    sqlite3_stmt *ins;
    char *path;
};

static int db_err(cp_err *err, sqlite3 *db, const char *path, const char *what)
{
    return cp__errf(err, EIO, "checkpoint file %s: %s: %s", path, what,
                    db ? sqlite3_errmsg(db) : "out of memory");
}

static int exec(sqlite3 *db, const char *path, const char *sql, cp_err *err)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK)
        return 0;
    cp__errf(err, EIO, "checkpoint file %s: %s", path, msg ? msg : sqlite3_errmsg(db));
    sqlite3_free(msg);
    return -1;
}

void cp__ckdb_close(struct cp__ckdb *c)
{
    if (!c)
        return;
    sqlite3_finalize(c->ins);
    sqlite3_close(c->db);
    free(c->path);
    free(c);
}

struct cp__ckdb *cp__ckdb_open(const char *path, cp_err *err)
{
    struct cp__ckdb *c = calloc(1, sizeof *c);
    if (!c || !(c->path = strdup(path))) {
        free(c);
        cp__errf(err, ENOMEM, "out of memory");
        return NULL;
    }
    if (sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                                          SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        db_err(err, c->db, path, "cannot open");
        goto fail;
    }
    sqlite3_busy_timeout(c->db, BUSY_MS);
    if (exec(c->db, path, "PRAGMA journal_mode=WAL", err) != 0 ||
        exec(c->db, path, "PRAGMA synchronous=FULL", err) != 0 ||
        exec(c->db, path, schema, err) != 0)
        goto fail;
    if (sqlite3_prepare_v2(c->db, "INSERT OR REPLACE INTO checkpoint (key, app, task_id, "
                                  "result, time) VALUES (?, ?, ?, ?, ?)",
                           -1, &c->ins, NULL) != SQLITE_OK) {
        db_err(err, c->db, path, "not a checkpoint file");
        goto fail;
    }
    return c;
fail:
    cp__ckdb_close(c);
    return NULL;
}

static double now_s(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + tv.tv_usec / 1e6;
}

int cp__ckdb_write(struct cp__ckdb *c, const struct cp__ckpt_rec *recs, size_t n, cp_err *err)
{
    if (n == 0)
        return 0;
    if (exec(c->db, c->path, "BEGIN IMMEDIATE", err) != 0)
        return -1;
    double t = now_s();
    for (size_t i = 0; i < n; i++) {
        const struct cp__ckpt_rec *r = &recs[i];
        sqlite3_reset(c->ins);
        sqlite3_bind_blob(c->ins, 1, r->key, CP_CKPT_KEY_LEN, SQLITE_STATIC);
        sqlite3_bind_text(c->ins, 2, r->app ? r->app : "", -1, SQLITE_STATIC);
        sqlite3_bind_int64(c->ins, 3, r->task_id);
        sqlite3_bind_blob(c->ins, 4, r->result_len ? r->result : "", (int)r->result_len,
                          SQLITE_STATIC);
        sqlite3_bind_double(c->ins, 5, t);
        if (sqlite3_step(c->ins) != SQLITE_DONE) {
            db_err(err, c->db, c->path, "cannot write a record");
            sqlite3_reset(c->ins);
            sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
            return -1;
        }
    }
    sqlite3_reset(c->ins);
    if (exec(c->db, c->path, "COMMIT", err) != 0) {
        sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    return 0;
}

int cp__ckdb_load(const char *path, int (*fn)(void *arg, const struct cp__ckpt_rec *r,
                                              cp_err *err),
                  void *arg, long *count, cp_err *err)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int ret = -1;
    long n = 0;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        int e = errno;
        cp__errf(err, e == ENOENT ? ENOENT : EIO, "checkpoint file %s: cannot open: %s", path,
                 db ? sqlite3_errmsg(db) : "out of memory");
        goto done;
    }
    sqlite3_busy_timeout(db, BUSY_MS);
    if (sqlite3_prepare_v2(db, "SELECT key, app, task_id, result FROM checkpoint", -1, &st,
                           NULL) != SQLITE_OK) {
        db_err(err, db, path, "not a checkpoint file");
        goto done;
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (sqlite3_column_bytes(st, 0) != CP_CKPT_KEY_LEN)
            continue;   /* not one of ours: a key of another length never matches */
        struct cp__ckpt_rec r = {
            .key = sqlite3_column_blob(st, 0),
            .app = (const char *)sqlite3_column_text(st, 1),
            .task_id = (long)sqlite3_column_int64(st, 2),
            .result = sqlite3_column_blob(st, 3),
            .result_len = (size_t)sqlite3_column_bytes(st, 3),
        };
        if (fn(arg, &r, err) != 0)
            goto done;
        n++;
    }
    if (rc != SQLITE_DONE) {
        db_err(err, db, path, "cannot read");
        goto done;
    }
    ret = 0;
done:
    sqlite3_finalize(st);
    sqlite3_close(db);
    if (count)
        *count = n;
    return ret;
}
