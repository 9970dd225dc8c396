/* monitoring/schema.c — see schema.h.
 *
 * One list of tables and columns serves both the CREATE TABLE statements and the
 * check of a file made earlier, so the two cannot disagree. Only constant names
 * from this list are ever pasted into SQL; values are always bound.
 *
 * NOT NULL is kept where Parsl declares it, so the schema is Parsl's; db.c writes
 * '' for a missing string in those columns rather than lose the row.
 */
#include "monitoring/schema.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

struct col {
    const char *name, *decl;
};

struct table {
    const char *name;
    const struct col *cols;
    const char *constraints;            /* after the columns, as SQLAlchemy puts them */
};

#define END {NULL, NULL}

static const struct col workflow_cols[] = {
    {"run_id", "TEXT NOT NULL"}, {"workflow_name", "TEXT"}, {"workflow_version", "TEXT"},
    {"time_began", "DATETIME NOT NULL"}, {"time_completed", "DATETIME"},
    {"host", "TEXT NOT NULL"}, {"user", "TEXT NOT NULL"}, {"rundir", "TEXT NOT NULL"},
    {"tasks_failed_count", "INTEGER NOT NULL"}, {"tasks_completed_count", "INTEGER NOT NULL"},
    END,
};

static const struct col status_cols[] = {
    {"task_id", "INTEGER NOT NULL"}, {"task_status_name", "TEXT NOT NULL"},
    {"timestamp", "DATETIME NOT NULL"}, {"run_id", "TEXT NOT NULL"},
    {"try_id", "INTEGER NOT NULL"},
    END,
};

static const struct col task_cols[] = {
    {"task_id", "INTEGER NOT NULL"}, {"run_id", "TEXT NOT NULL"}, {"task_depends", "TEXT"},
    {"task_func_name", "TEXT NOT NULL"}, {"task_memoize", "TEXT NOT NULL"},
    {"task_hashsum", "TEXT"}, {"task_inputs", "TEXT"}, {"task_outputs", "TEXT"},
    {"task_stdin", "TEXT"}, {"task_stdout", "TEXT"}, {"task_stderr", "TEXT"},
    {"task_time_invoked", "DATETIME"}, {"task_time_returned", "DATETIME"},
    {"task_fail_count", "INTEGER NOT NULL"}, {"task_fail_cost", "FLOAT NOT NULL"},
    END,
};

static const struct col try_cols[] = {
    {"try_id", "INTEGER NOT NULL"}, {"task_id", "INTEGER NOT NULL"}, {"run_id", "TEXT NOT NULL"},
    {"block_id", "TEXT"}, {"hostname", "TEXT"}, {"task_executor", "TEXT NOT NULL"},
    {"task_try_time_launched", "DATETIME"}, {"task_try_time_running", "DATETIME"},
    {"task_try_time_returned", "DATETIME"}, {"task_fail_history", "TEXT"},
    {"task_joins", "TEXT"},
    END,
};

static const struct col node_cols[] = {
    {"id", "INTEGER NOT NULL"}, {"run_id", "TEXT NOT NULL"}, {"hostname", "TEXT NOT NULL"},
    {"uid", "TEXT NOT NULL"}, {"block_id", "TEXT NOT NULL"}, {"cpu_count", "INTEGER NOT NULL"},
    {"total_memory", "BIGINT NOT NULL"}, {"active", "BOOLEAN NOT NULL"},
    {"worker_count", "INTEGER NOT NULL"}, {"python_v", "TEXT NOT NULL"},
    {"timestamp", "DATETIME NOT NULL"}, {"last_heartbeat", "DATETIME NOT NULL"},
    END,
};

static const struct col block_cols[] = {
    {"run_id", "TEXT NOT NULL"}, {"executor_label", "TEXT NOT NULL"},
    {"block_id", "TEXT NOT NULL"}, {"job_id", "TEXT"}, {"timestamp", "DATETIME NOT NULL"},
    {"status", "TEXT NOT NULL"},
    END,
};

static const struct col resource_cols[] = {
    {"try_id", "INTEGER NOT NULL"}, {"task_id", "INTEGER NOT NULL"},
    {"run_id", "TEXT NOT NULL"}, {"timestamp", "DATETIME NOT NULL"},
    {"resource_monitoring_interval", "FLOAT"}, {"psutil_process_pid", "INTEGER"},
    {"psutil_process_memory_percent", "FLOAT"}, {"psutil_process_children_count", "FLOAT"},
    {"psutil_process_time_user", "FLOAT"}, {"psutil_process_time_system", "FLOAT"},
    {"psutil_process_memory_virtual", "FLOAT"}, {"psutil_process_memory_resident", "FLOAT"},
    {"psutil_process_disk_read", "FLOAT"}, {"psutil_process_disk_write", "FLOAT"},
    {"psutil_process_status", "TEXT"}, {"psutil_cpu_num", "TEXT"},
    {"psutil_process_num_ctx_switches_voluntary", "FLOAT"},
    {"psutil_process_num_ctx_switches_involuntary", "FLOAT"},
    END,
};

/* workflow comes first because status and resource refer to it (SQLite does not
 * enforce the reference unless a connection asks, and we do not: Parsl's readers
 * never rely on it, and a resource sample may arrive before anything else). */
static const struct table tables[] = {
    {"workflow", workflow_cols, "PRIMARY KEY (run_id)"},
    {"task", task_cols, "PRIMARY KEY (task_id, run_id)"},
    {"try", try_cols, "PRIMARY KEY (try_id, task_id, run_id)"},
    {"status", status_cols,
     "PRIMARY KEY (task_id, run_id, task_status_name, timestamp), "
     "FOREIGN KEY(run_id) REFERENCES workflow (run_id)"},
    {"node", node_cols, "PRIMARY KEY (id)"},
    {"block", block_cols, "PRIMARY KEY (run_id, block_id, executor_label, timestamp)"},
    {"resource", resource_cols,
     "PRIMARY KEY (try_id, task_id, run_id, timestamp), "
     "FOREIGN KEY(run_id) REFERENCES workflow (run_id)"},
};

/* ix_task_task_hashsum is Parsl's own (index=True on task_hashsum). The others serve
 * the report's queries, which always select one run: a run's tasks by app, its
 * tries, its status history per task and over time, its resource samples per try.
 * The primary keys lead with task_id or try_id, so they cannot answer "one run". */
static const char *const indexes[] = {
    "CREATE INDEX IF NOT EXISTS ix_task_task_hashsum ON task (task_hashsum)",
    "CREATE INDEX IF NOT EXISTS ix_cparsl_task_run ON task (run_id, task_func_name)",
    "CREATE INDEX IF NOT EXISTS ix_cparsl_try_run ON try (run_id, task_id, try_id)",
    "CREATE INDEX IF NOT EXISTS ix_cparsl_status_run_task ON status (run_id, task_id, try_id)",
    "CREATE INDEX IF NOT EXISTS ix_cparsl_status_run_time ON status (run_id, timestamp)",
    ("CREATE INDEX IF NOT EXISTS ix_cparsl_resource_run_task "
     "ON resource (run_id, task_id, try_id, timestamp)"),
    "CREATE INDEX IF NOT EXISTS ix_cparsl_block_run ON block (run_id, executor_label, block_id)",
    "CREATE INDEX IF NOT EXISTS ix_cparsl_node_run ON node (run_id)",
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

int cp__mon_sqlerr(cp_err *err, sqlite3 *db, int rc, const char *fmt, ...)
{
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    int code = cp__mon_is_busy(rc) ? EBUSY : (rc & 0xff) == SQLITE_NOTADB ? ENOTSUP : EIO;
    const char *msg = db && sqlite3_errcode(db) != SQLITE_OK ? sqlite3_errmsg(db)
                                                              : sqlite3_errstr(rc);
    return cp__errf(err, code, "%s: %s", what, msg);
}

static int create_table(sqlite3 *db, const struct table *t, const char *path, cp_err *err)
{
    char sql[4096];
    size_t n = (size_t)snprintf(sql, sizeof sql, "CREATE TABLE IF NOT EXISTS %s (", t->name);
    for (const struct col *c = t->cols; c->name && n < sizeof sql; c++)
        n += (size_t)snprintf(sql + n, sizeof sql - n, "\n\t%s %s,", c->name, c->decl);
    if (n < sizeof sql)
        n += (size_t)snprintf(sql + n, sizeof sql - n, "\n\t%s\n)", t->constraints);
    if (n >= sizeof sql)    /* only if the lists above grow past the buffer */
        return cp__errf(err, EOVERFLOW, "monitoring schema: table %s too long", t->name);
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return cp__mon_sqlerr(err, db, rc, "monitoring database %s: creating table %s", path,
                              t->name);
    return 0;
}

/* A table made earlier (by Parsl, an older cparsl, or another program) must have
 * every column we write; extra columns are fine. Adding the missing ones would
 * change someone else's file behind their back, so we stop and say which. */
static int check_columns(sqlite3 *db, const struct table *t, const char *path, cp_err *err)
{
    char sql[128];
    snprintf(sql, sizeof sql, "PRAGMA table_info(%s)", t->name);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return cp__mon_sqlerr(err, db, rc, "monitoring database %s: reading table %s", path,
                              t->name);
    int ret = 0;
    for (const struct col *c = t->cols; c->name && ret == 0; c++) {
        bool found = false;
        while (!found && (rc = sqlite3_step(st)) == SQLITE_ROW) {
            const unsigned char *name = sqlite3_column_text(st, 1);
            found = name && strcmp((const char *)name, c->name) == 0;
        }
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            ret = cp__mon_sqlerr(err, db, rc, "monitoring database %s: reading table %s",
                                 path, t->name);
        else if (!found)
            ret = cp__errf(err, EINVAL,
                           "monitoring database %s: table %s has no column %s (the file was "
                           "made by another program or an older Parsl; use a new file)",
                           path, t->name, c->name);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    return ret;
}

int cp__mon_schema_create(sqlite3 *db, const char *path, cp_err *err)
{
    for (size_t i = 0; i < NELEM(tables); i++)
        if (create_table(db, &tables[i], path, err) != 0 ||
            check_columns(db, &tables[i], path, err) != 0)
            return -1;
    return 0;
}

int cp__mon_schema_indexes(sqlite3 *db, const char *path, cp_err *err)
{
    for (size_t i = 0; i < NELEM(indexes); i++) {
        int rc = sqlite3_exec(db, indexes[i], NULL, NULL, NULL);
        if (rc != SQLITE_OK)
            return cp__mon_sqlerr(err, db, rc, "monitoring database %s: creating an index",
                                  path);
    }
    return 0;
}
