/* monitoring/schema.c — see schema.h.
 *
 * One list of tables and columns serves both the CREATE TABLE statements and the
 * check of a file made earlier, so the two cannot disagree. Only constant names
 * from this list are ever pasted into SQL; values are always bound.
 *
 * Parsl's workflow, node and block tables are tables here too. Its task, try,
 * status and resource tables, which a run fills with several rows per task, are
 * views over compact tables of ours (docs/monitoring.md, "How it is stored"):
 * Parsl's readers only SELECT, and those rows cost a fifth as much to write.
 * NOT NULL is kept where Parsl declares it; db.c writes '' for a missing string
 * in those columns rather than lose the row.
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
    const char *options;                /* after the closing parenthesis */
};

#define END {NULL, NULL}

static const struct col workflow_cols[] = {
    {"run_id", "TEXT NOT NULL"}, {"workflow_name", "TEXT"}, {"workflow_version", "TEXT"},
    {"time_began", "DATETIME NOT NULL"}, {"time_completed", "DATETIME"},
    {"host", "TEXT NOT NULL"}, {"user", "TEXT NOT NULL"}, {"rundir", "TEXT NOT NULL"},
    {"tasks_failed_count", "INTEGER NOT NULL"}, {"tasks_completed_count", "INTEGER NOT NULL"},
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

/* ---- Our tables. The rows a run makes in bulk live here, keyed by integers:
 * cp_run gives each run_id a small number, and times are microseconds of local
 * wall-clock time (Parsl's naive datetime.now()), so a row is a few varints
 * instead of a 36-byte text key and 26-byte text times. One cp_try row carries a
 * try's whole status history in its s_* columns (the first pending, which comes
 * with the task before any try, in cp_task's); cp_status keeps what does not fit
 * there (a state seen twice in one try, a name we do not know). */

static const struct col cp_run_cols[] = {
    {"run", "INTEGER PRIMARY KEY"}, {"run_id", "TEXT NOT NULL UNIQUE"},
    END,
};

static const struct col cp_task_cols[] = {
    {"run", "INTEGER NOT NULL"}, {"task_id", "INTEGER NOT NULL"},
    {"func_name", "TEXT NOT NULL"}, {"depends", "TEXT"}, {"memoize", "TEXT NOT NULL"},
    {"hashsum", "TEXT"}, {"inputs", "TEXT"}, {"outputs", "TEXT"}, {"stdin", "TEXT"},
    {"stdout", "TEXT"}, {"stderr", "TEXT"}, {"invoked", "INTEGER"}, {"returned", "INTEGER"},
    {"fail_count", "INTEGER NOT NULL"}, {"fail_cost", "FLOAT NOT NULL"},
    {"s_pending", "INTEGER"},           /* try 0's pending status: its task is created then */
    END,
};

static const struct col cp_try_cols[] = {
    {"run", "INTEGER NOT NULL"}, {"task_id", "INTEGER NOT NULL"},
    {"try_id", "INTEGER NOT NULL"},
    {"tried", "INTEGER NOT NULL"},      /* 1 once a try row was given: `try` shows these */
    {"block_id", "TEXT"}, {"hostname", "TEXT"}, {"executor", "TEXT"},
    {"launched", "INTEGER"}, {"running", "INTEGER"}, {"returned", "INTEGER"},
    {"fail_history", "TEXT"}, {"joins", "TEXT"},
    {"s_pending", "INTEGER"}, {"s_launched", "INTEGER"}, {"s_running", "INTEGER"},
    {"s_running_ended", "INTEGER"}, {"s_joining", "INTEGER"},
    {"s_end", "INTEGER"}, {"end_state", "TEXT"},
    END,
};

static const struct col cp_status_cols[] = {
    {"run", "INTEGER NOT NULL"}, {"task_id", "INTEGER NOT NULL"},
    {"try_id", "INTEGER NOT NULL"}, {"name", "TEXT NOT NULL"}, {"ts", "INTEGER NOT NULL"},
    END,
};

static const struct col cp_resource_cols[] = {
    {"run", "INTEGER NOT NULL"}, {"task_id", "INTEGER NOT NULL"},
    {"try_id", "INTEGER NOT NULL"}, {"ts", "INTEGER NOT NULL"}, {"interval", "FLOAT"},
    {"pid", "INTEGER"}, {"memory_percent", "FLOAT"}, {"children", "FLOAT"},
    {"time_user", "FLOAT"}, {"time_system", "FLOAT"}, {"memory_virtual", "FLOAT"},
    {"memory_resident", "FLOAT"}, {"disk_read", "FLOAT"}, {"disk_write", "FLOAT"},
    {"status", "TEXT"}, {"cpu_num", "TEXT"}, {"ctx_voluntary", "FLOAT"},
    {"ctx_involuntary", "FLOAT"},
    END,
};

/* workflow, node and block are Parsl's own tables: a few rows per run. */
static const struct table tables[] = {
    {"workflow", workflow_cols, "PRIMARY KEY (run_id)", ""},
    {"node", node_cols, "PRIMARY KEY (id)", ""},
    {"block", block_cols, "PRIMARY KEY (run_id, block_id, executor_label, timestamp)", ""},
    {"cp_run", cp_run_cols, NULL, ""},
    {"cp_task", cp_task_cols, "PRIMARY KEY (run, task_id)", " WITHOUT ROWID"},
    {"cp_try", cp_try_cols, "PRIMARY KEY (run, task_id, try_id)", " WITHOUT ROWID"},
    {"cp_status", cp_status_cols, NULL, ""},
    {"cp_resource", cp_resource_cols, NULL, ""},
};

/* Parsl's text time from our microseconds: "YYYY-MM-DD HH:MM:SS.ffffff". */
#define TS(x)                                                                                \
    "strftime('%Y-%m-%d %H:%M:%S', " x " / 1000000, 'unixepoch') || printf('.%06d', " x    \
    " % 1000000)"

/* One arm of cp_status_all: a try's state held in column col. */
#define ARM(name, col, rank)                                                                 \
    "SELECT y.task_id AS task_id, '" name "' AS name, y." col " AS ts, r.run_id AS run_id, " \
    "y.try_id AS try_id, y.run AS run, " #rank " AS rank FROM cp_try y JOIN cp_run r ON "     \
    "r.run = y.run WHERE y." col " IS NOT NULL"

/* Parsl's task, try, status and resource, as views over our tables, with Parsl's
 * column names in Parsl's order: Parsl's readers only SELECT. cp_status_all is
 * status with the integer time and a rank that orders a try's states when two
 * share a microsecond (the report sorts by it). Each arm joins cp_run itself, so
 * "WHERE run_id = ?" reaches every arm and uses the keys. */
static const struct {
    const char *name, *sql;
} views[] = {
    {"task",
     "CREATE VIEW task AS SELECT t.task_id AS task_id, r.run_id AS run_id, "
     "t.depends AS task_depends, t.func_name AS task_func_name, t.memoize AS task_memoize, "
     "t.hashsum AS task_hashsum, t.inputs AS task_inputs, t.outputs AS task_outputs, "
     "t.stdin AS task_stdin, t.stdout AS task_stdout, t.stderr AS task_stderr, "
     TS("t.invoked") " AS task_time_invoked, " TS("t.returned") " AS task_time_returned, "
     "t.fail_count AS task_fail_count, t.fail_cost AS task_fail_cost "
     "FROM cp_task t JOIN cp_run r ON r.run = t.run"},
    {"try",
     "CREATE VIEW try AS SELECT y.try_id AS try_id, y.task_id AS task_id, "
     "r.run_id AS run_id, y.block_id AS block_id, y.hostname AS hostname, "
     "ifnull(y.executor, '') AS task_executor, "
     TS("y.launched") " AS task_try_time_launched, "
     TS("y.running") " AS task_try_time_running, "
     TS("y.returned") " AS task_try_time_returned, "
     "y.fail_history AS task_fail_history, y.joins AS task_joins "
     "FROM cp_try y JOIN cp_run r ON r.run = y.run WHERE y.tried"},
    {"cp_status_all",
     "CREATE VIEW cp_status_all AS "
     "SELECT t.task_id AS task_id, 'pending' AS name, t.s_pending AS ts, r.run_id AS run_id, "
     "0 AS try_id, t.run AS run, 0 AS rank FROM cp_task t "
     "JOIN cp_run r ON r.run = t.run WHERE t.s_pending IS NOT NULL UNION ALL "
     ARM("pending", "s_pending", 0) " UNION ALL "
     ARM("launched", "s_launched", 1) " UNION ALL "
     ARM("running", "s_running", 2) " UNION ALL "
     ARM("running_ended", "s_running_ended", 3) " UNION ALL "
     ARM("joining", "s_joining", 4) " UNION ALL "
     "SELECT y.task_id, y.end_state, y.s_end, r.run_id, y.try_id, y.run, 5 FROM cp_try y "
     "JOIN cp_run r ON r.run = y.run WHERE y.s_end IS NOT NULL UNION ALL "
     "SELECT s.task_id, s.name, s.ts, r.run_id, s.try_id, s.run, 6 FROM cp_status s "
     "JOIN cp_run r ON r.run = s.run"},
    {"status",
     "CREATE VIEW status AS SELECT task_id, name AS task_status_name, "
     TS("ts") " AS timestamp, run_id, try_id FROM cp_status_all"},
    {"resource",
     "CREATE VIEW resource AS SELECT x.try_id AS try_id, x.task_id AS task_id, "
     "r.run_id AS run_id, " TS("x.ts") " AS timestamp, "
     "x.interval AS resource_monitoring_interval, x.pid AS psutil_process_pid, "
     "x.memory_percent AS psutil_process_memory_percent, "
     "x.children AS psutil_process_children_count, "
     "x.time_user AS psutil_process_time_user, x.time_system AS psutil_process_time_system, "
     "x.memory_virtual AS psutil_process_memory_virtual, "
     "x.memory_resident AS psutil_process_memory_resident, "
     "x.disk_read AS psutil_process_disk_read, x.disk_write AS psutil_process_disk_write, "
     "x.status AS psutil_process_status, x.cpu_num AS psutil_cpu_num, "
     "x.ctx_voluntary AS psutil_process_num_ctx_switches_voluntary, "
     "x.ctx_involuntary AS psutil_process_num_ctx_switches_involuntary "
     "FROM cp_resource x JOIN cp_run r ON r.run = x.run"},
};

/* The report's queries always select one run: its tasks and tries (the primary
 * keys lead with run), the extra status rows per task, the resource samples per
 * try, blocks and nodes. Built at close (cp__mon_schema_indexes). */
static const char *const indexes[] = {
    "CREATE INDEX IF NOT EXISTS ix_cparsl_status_run_task ON cp_status (run, task_id, try_id)",
    ("CREATE INDEX IF NOT EXISTS ix_cparsl_resource_run_task "
     "ON cp_resource (run, task_id, try_id, ts)"),
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
        n += (size_t)snprintf(sql + n, sizeof sql - n, "\n\t%s %s%s", c->name, c->decl,
                              c[1].name || t->constraints ? "," : "");
    if (n < sizeof sql && t->constraints)
        n += (size_t)snprintf(sql + n, sizeof sql - n, "\n\t%s", t->constraints);
    if (n < sizeof sql)
        n += (size_t)snprintf(sql + n, sizeof sql - n, "\n)%s", t->options);
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

/* The type of the schema object called name ("table", "view", …), or "" when
 * there is none; NULL with err on a read error. Static buffer. */
static const char *object_type(sqlite3 *db, const char *name, const char *path, cp_err *err)
{
    static __thread char type[16];
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "SELECT type FROM sqlite_master WHERE name = ?1", -1, &st,
                                NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    type[0] = '\0';
    if (rc == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(st, 0);
        snprintf(type, sizeof type, "%s", t ? (const char *)t : "?");
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        cp__mon_sqlerr(err, db, rc, "monitoring database %s: reading its schema", path);
        return NULL;
    }
    return type;
}

int cp__mon_schema_create(sqlite3 *db, const char *path, cp_err *err)
{
    /* Parsl's bulk tables are views here. A file where they are tables was made
     * by Parsl or by cparsl before its views (2026-11-26): our rows would go where
     * its readers do not look, so it is refused before anything is added to it. */
    for (size_t i = 0; i < NELEM(views); i++) {
        const char *type = object_type(db, views[i].name, path, err);
        if (!type)
            return -1;
        if (type[0] && strcmp(type, "view") != 0)
            return cp__errf(err, EINVAL,
                            "monitoring database %s: %s is a %s, where cparsl keeps a view "
                            "(the file was made by Parsl or an older cparsl); give monitoring "
                            "a new file", path, views[i].name, type);
    }
    for (size_t i = 0; i < NELEM(tables); i++)
        if (create_table(db, &tables[i], path, err) != 0 ||
            check_columns(db, &tables[i], path, err) != 0)
            return -1;
    for (size_t i = 0; i < NELEM(views); i++) {
        const char *type = object_type(db, views[i].name, path, err);
        if (!type)
            return -1;
        if (type[0])
            continue;
        int rc = sqlite3_exec(db, views[i].sql, NULL, NULL, NULL);
        if (rc != SQLITE_OK)
            return cp__mon_sqlerr(err, db, rc, "monitoring database %s: creating view %s",
                                  path, views[i].name);
    }
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
