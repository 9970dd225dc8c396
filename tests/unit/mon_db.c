/* tests/unit/mon_db.c — the monitoring database writer (monitoring/db.h): Parsl's
 * schema, the values of every kind of row, replace and ignore semantics, a file
 * shared by runs, and no lost rows while another connection reads or holds the
 * write lock. Each case uses its own file under a fresh temporary directory. */
#include <errno.h>
#include <pthread.h>
#include <pwd.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "monitoring/db.h"
#include "tap.h"

static char dir[64];

static const char *path_of(const char *name)
{
    static char buf[4][256];
    static int next;
    char *p = buf[next++ % 4];
    snprintf(p, sizeof buf[0], "%s/%s", dir, name);
    return p;
}

static sqlite3 *dbopen(const char *path)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        diag("cannot open %s: %s", path, db ? sqlite3_errmsg(db) : "?");
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_busy_timeout(db, 5000);
    return db;
}

static int exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        diag("%s: %s", sql, msg ? msg : sqlite3_errstr(rc));
    sqlite3_free(msg);
    return rc;
}

/* The first column of the first row as text ("(null)" for SQL NULL, "(none)" when
 * there is no row); the rows joined by '|' when all is set. Static buffer. */
static const char *q_all(sqlite3 *db, const char *sql, bool all)
{
    static char out[8192];
    sqlite3_stmt *st = NULL;
    snprintf(out, sizeof out, "(none)");
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        snprintf(out, sizeof out, "(error: %s)", sqlite3_errmsg(db));
        return out;
    }
    size_t n = 0;
    while (sqlite3_step(st) == SQLITE_ROW && n < sizeof out) {
        const unsigned char *v = sqlite3_column_text(st, 0);
        n += (size_t)snprintf(out + n, sizeof out - n, "%s%s", n ? "|" : "",
                              v ? (const char *)v : "(null)");
        if (!all)
            break;
    }
    sqlite3_finalize(st);
    return out;
}

static const char *q(sqlite3 *db, const char *sql) { return q_all(db, sql, false); }
static long long q_int(sqlite3 *db, const char *sql) { return atoll(q(db, sql)); }

static double at(int y, int mo, int d, int h, int mi, int s, double frac)
{
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h,
                    .tm_min = mi, .tm_sec = s};
    return (double)timegm(&tm) + frac;
}

static struct cp__mon *open_run(const char *path, const char *run_id, double lock_timeout,
                                cp_err *err)
{
    return cp__mon_open(&(struct cp__mon_opts){.path = path, .run_id = run_id,
                                               .workflow_name = "wf", .workflow_version = "1.0",
                                               .rundir = "runinfo/000",
                                               .time_began = at(2024, 1, 2, 3, 4, 5, 0.5),
                                               .flush_interval = 0.05,
                                               .lock_timeout = lock_timeout},
                        err);
}

/* ------------------------------------------------------------ schema */

/* Parsl's own tables, whole: columns, types, NOT NULL, primary key. */
static const struct { const char *table, *cols; } parsl[] = {
    {"workflow", "run_id TEXT 1 1,workflow_name TEXT 0 0,workflow_version TEXT 0 0,"
                 "time_began DATETIME 1 0,time_completed DATETIME 0 0,host TEXT 1 0,"
                 "user TEXT 1 0,rundir TEXT 1 0,tasks_failed_count INTEGER 1 0,"
                 "tasks_completed_count INTEGER 1 0"},
    {"node", "id INTEGER 1 1,run_id TEXT 1 0,hostname TEXT 1 0,uid TEXT 1 0,"
             "block_id TEXT 1 0,cpu_count INTEGER 1 0,total_memory BIGINT 1 0,"
             "active BOOLEAN 1 0,worker_count INTEGER 1 0,python_v TEXT 1 0,"
             "timestamp DATETIME 1 0,last_heartbeat DATETIME 1 0"},
    {"block", "run_id TEXT 1 1,executor_label TEXT 1 3,block_id TEXT 1 2,job_id TEXT 0 0,"
              "timestamp DATETIME 1 4,status TEXT 1 0"},
};

/* Parsl's bulk tables are views here: their columns, in Parsl's order, with the
 * declared type where the view passes a column through (a view has no NOT NULL
 * or key; its time columns are text made from our integers, typeless). */
static const struct { const char *view, *cols; } parsl_views[] = {
    {"status", "task_id INTEGER,task_status_name TEXT,timestamp ,run_id TEXT,try_id INTEGER"},
    {"task", "task_id INTEGER,run_id TEXT,task_depends TEXT,task_func_name TEXT,"
             "task_memoize TEXT,task_hashsum TEXT,task_inputs TEXT,task_outputs TEXT,"
             "task_stdin TEXT,task_stdout TEXT,task_stderr TEXT,task_time_invoked ,"
             "task_time_returned ,task_fail_count INTEGER,task_fail_cost FLOAT"},
    {"try", "try_id INTEGER,task_id INTEGER,run_id TEXT,block_id TEXT,hostname TEXT,"
            "task_executor ,task_try_time_launched ,task_try_time_running ,"
            "task_try_time_returned ,task_fail_history TEXT,task_joins TEXT"},
    {"resource", "try_id INTEGER,task_id INTEGER,run_id TEXT,timestamp ,"
                 "resource_monitoring_interval FLOAT,psutil_process_pid INTEGER,"
                 "psutil_process_memory_percent FLOAT,psutil_process_children_count FLOAT,"
                 "psutil_process_time_user FLOAT,psutil_process_time_system FLOAT,"
                 "psutil_process_memory_virtual FLOAT,psutil_process_memory_resident FLOAT,"
                 "psutil_process_disk_read FLOAT,psutil_process_disk_write FLOAT,"
                 "psutil_process_status TEXT,psutil_cpu_num TEXT,"
                 "psutil_process_num_ctx_switches_voluntary FLOAT,"
                 "psutil_process_num_ctx_switches_involuntary FLOAT"},
};

static void check_cols(sqlite3 *db, const char *name, const char *cols, const char *select,
                       const char *what)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT %s FROM pragma_table_info('%s')", select, name);
    char want[2048];
    snprintf(want, sizeof want, "%s", cols);
    for (char *c = want; *c; c++)
        if (*c == ',')
            *c = '|';
    is_str(q_all(db, sql, true), want, "%s %s", name, what);
}

static void test_schema(void)
{
    const char *path = path_of("new/sub/monitoring.db");
    cp_err err = {0};
    struct cp__mon *m = open_run(path, "run-schema", 0, &err);
    ok(m != NULL, "open creates a file in a directory that did not exist");
    if (!m) {
        diag("%s", err.text);
        return;
    }
    sqlite3 *db = dbopen(path);
    for (size_t i = 0; i < sizeof parsl / sizeof parsl[0]; i++)
        check_cols(db, parsl[i].table, parsl[i].cols,
                   "name || ' ' || type || ' ' || \"notnull\" || ' ' || pk",
                   "has Parsl's columns, types, NOT NULLs and primary key");
    for (size_t i = 0; i < sizeof parsl_views / sizeof parsl_views[0]; i++)
        check_cols(db, parsl_views[i].view, parsl_views[i].cols, "name || ' ' || type",
                   "has Parsl's columns, in Parsl's order");
    is_str(q_all(db, "SELECT type || ' ' || name FROM sqlite_master WHERE type IN ('table', "
                     "'view') ORDER BY type, name", true),
           "table block|table cp_resource|table cp_run|table cp_status|table cp_task|"
           "table cp_try|table node|table workflow|"
           "view cp_status_all|view resource|view status|view task|view try",
           "and no other table or view");
    is_str(q_all(db, "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
                     "ORDER BY name", true), "(none)",
           "no index is kept up to date while the run writes");
    is_str(q(db, "PRAGMA journal_mode"), "wal", "the file is in WAL mode");
    is_int(cp__mon_close(m, 0, 0, 0, &err), 0, "close");
    is_str(q_all(db, "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
                     "ORDER BY name", true),
           "ix_cparsl_block_run|ix_cparsl_node_run|ix_cparsl_resource_run_task|"
           "ix_cparsl_status_run_task",
           "at close: the report's indexes exist");
    is_str(q(db, "PRAGMA integrity_check"), "ok", "integrity_check is ok");
    sqlite3_close(db);
}

/* ------------------------------------------------------------ rows */

static void test_rows(void)
{
    const char *path = path_of("rows.db");
    cp_err err = {0};
    struct cp__mon *m = open_run(path, "run-rows", 0, &err);
    ok(m != NULL, "open");
    if (!m)
        return;
    double t = at(2024, 1, 2, 3, 4, 5, 0.678901);
    cp__mon_task(m, &(struct cp__mon_task){
        .task_id = 3, .func_name = "double_it", .depends = "1,2", .memoize = "False",
        .hashsum = "abc", .inputs = "[]", .outputs = "['out.txt']", .stdin_path = "in",
        .stdout_path = "o.out", .stderr_path = "o.err", .time_invoked = t});
    cp__mon_task(m, &(struct cp__mon_task){
        .task_id = 3, .func_name = "double_it", .depends = "1,2", .memoize = "False",
        .hashsum = "abc", .inputs = "[]", .outputs = "['out.txt']", .stdin_path = "in",
        .stdout_path = "o.out", .stderr_path = "o.err", .time_invoked = t,
        .time_returned = t + 2, .fail_count = 1, .fail_cost = 1.5});
    cp__mon_task(m, &(struct cp__mon_task){.task_id = 4, .hashsum = ""});
    cp__mon_status(m, 3, 0, "pending", t);
    cp__mon_status(m, 3, 0, "launched", t + 0.25);
    cp__mon_status(m, 3, 0, "launched", t + 0.25);     /* the same event twice */
    cp__mon_status(m, 3, 1, "exec_done", t + 2);
    cp__mon_status(m, 4, 0, NULL, 0);
    cp__mon_try(m, &(struct cp__mon_try){.task_id = 3, .try_id = 0, .executor = "htex",
                                         .time_launched = t});
    cp__mon_try(m, &(struct cp__mon_try){
        .task_id = 3, .try_id = 0, .block_id = "0", .hostname = "node1", .executor = "htex",
        .time_launched = t, .time_running = t + 0.5, .time_returned = t + 1,
        .fail_history = "boom", .joins = NULL});
    cp__mon_try(m, &(struct cp__mon_try){.task_id = 3, .try_id = 1, .executor = "htex"});
    cp__mon_block(m, "htex", "0", "12345", "PENDING", t);
    cp__mon_block(m, "htex", "0", "12345", "RUNNING", t + 1);
    cp__mon_node(m, &(struct cp__mon_node){
        .hostname = "node1", .uid = "pool-1", .block_id = "0", .cpu_count = 8,
        .total_memory = 17179869184LL, .active = true, .worker_count = 4,
        .python_v = "cparsl 0.1", .time = t, .last_heartbeat = t + 3});
    cp__mon_node(m, &(struct cp__mon_node){.hostname = "node1", .uid = "pool-1",
                                           .block_id = "0", .time = t + 9,
                                           .last_heartbeat = t + 9});
    cp__mon_resource(m, &(struct cp__mon_resource){
        .task_id = 3, .try_id = 0, .time = t + 0.5, .interval = 30, .pid = 4242,
        .memory_percent = 1.25, .children_count = 2, .time_user = 0.5, .time_system = 0.25,
        .memory_virtual = 1e9, .memory_resident = 5e7, .disk_read = 4096, .disk_write = 8192,
        .status = "running", .cpu_num = "3", .ctx_voluntary = 10, .ctx_involuntary = 2});
    cp__mon_resource(m, &(struct cp__mon_resource){.task_id = 3, .try_id = 0, .time = t + 1});

    struct cp__mon_stats s;
    cp__mon_get_stats(m, &s);
    is_int(s.rows_queued, 17, "every row is queued at once");
    double before = cp__now();
    is_int(cp__mon_close(m, t + 10, 5, 2, &err), 0, "close");
    cp__mon_get_stats(NULL, &s);
    is_int(s.rows_written, 0, "stats of NULL are zero");

    sqlite3 *db = dbopen(path);
    char host[256] = "";
    gethostname(host, sizeof host);
    struct passwd *pw = getpwuid(geteuid());
    is_str(q_all(db, "SELECT run_id FROM workflow", true), "run-rows",
           "the workflow row is there, once");
    is_str(q(db, "SELECT workflow_name || '/' || workflow_version || '/' || rundir FROM workflow"),
           "wf/1.0/runinfo/000", "with name, version and rundir");
    is_str(q(db, "SELECT time_began FROM workflow"), "2024-01-02 03:04:05.500000",
           "time_began as SQLAlchemy writes a DateTime (TZ=UTC0 here)");
    is_str(q(db, "SELECT time_completed FROM workflow"), "2024-01-02 03:04:15.678901",
           "close sets time_completed, microseconds kept");
    is_str(q(db, "SELECT tasks_completed_count || ',' || tasks_failed_count FROM workflow"),
           "5,2", "and the completed and failed counts");
    is_str(q(db, "SELECT host FROM workflow"), host, "host is gethostname()");
    is_str(q(db, "SELECT user FROM workflow"), pw ? pw->pw_name : "", "user is the login name");

    is_int(q_int(db, "SELECT count(*) FROM task WHERE task_id = 3"), 1,
           "a task sent twice is one row (replaced)");
    is_str(q(db, "SELECT task_func_name || '|' || task_depends || '|' || task_memoize || '|' "
                 "|| task_hashsum || '|' || task_inputs || '|' || task_outputs || '|' || "
                 "task_stdin || '|' || task_stdout || '|' || task_stderr || '|' || "
                 "task_time_invoked || '|' || task_time_returned || '|' || task_fail_count "
                 "|| '|' || task_fail_cost FROM task WHERE task_id = 3"),
           "double_it|1,2|False|abc|[]|['out.txt']|in|o.out|o.err|2024-01-02 03:04:05.678901|"
           "2024-01-02 03:04:07.678901|1|1.5", "with the later call's values");
    is_str(q(db, "SELECT quote(task_func_name) || quote(task_memoize) || quote(task_depends) "
                 "|| quote(task_hashsum) || quote(task_time_invoked) FROM task "
                 "WHERE task_id = 4"), "''''NULL''NULL",
           "NULL is '' in NOT NULL columns, NULL elsewhere; '' stays ''; time 0 is NULL");

    is_str(q_all(db, "SELECT task_id || ' ' || try_id || ' ' || task_status_name || ' ' || "
                     "timestamp FROM status WHERE task_id = 3 ORDER BY timestamp", true),
           "3 0 pending 2024-01-02 03:04:05.678901|3 0 launched 2024-01-02 03:04:05.928901|"
           "3 1 exec_done 2024-01-02 03:04:07.678901", "status rows, the duplicate once");
    const char *now_ts = q(db, "SELECT quote(task_status_name) || ' ' || timestamp FROM status "
                               "WHERE task_id = 4");
    ok(strncmp(now_ts, "'' ", 3) == 0 && strlen(now_ts) == 3 + 26,
       "a status with no name and time 0 is stored: '' at the time of the call (%s)", now_ts);
    double stamp = 0;
    {
        struct tm tm = {0};
        double frac = 0;
        if (sscanf(now_ts + 3, "%d-%d-%d %d:%d:%d%lf", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                   &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &frac) == 7) {
            tm.tm_year -= 1900;
            tm.tm_mon -= 1;
            stamp = (double)timegm(&tm) + frac;
        }
    }
    ok(stamp > before - 5 && stamp < before + 1, "that time is now");

    is_int(q_int(db, "SELECT count(*) FROM try"), 2, "a try sent twice is one row");
    is_str(q(db, "SELECT block_id || '|' || hostname || '|' || task_executor || '|' || "
                 "task_try_time_launched || '|' || task_try_time_running || '|' || "
                 "task_try_time_returned || '|' || task_fail_history || '|' || "
                 "quote(task_joins) FROM try WHERE task_id = 3 AND try_id = 0"),
           "0|node1|htex|2024-01-02 03:04:05.678901|2024-01-02 03:04:06.178901|"
           "2024-01-02 03:04:06.678901|boom|NULL", "with the later call's values");
    is_str(q(db, "SELECT quote(block_id) || quote(task_try_time_launched) FROM try "
                 "WHERE try_id = 1"), "NULLNULL", "a second try is its own row");

    is_str(q_all(db, "SELECT executor_label || ' ' || block_id || ' ' || job_id || ' ' || "
                     "status || ' ' || timestamp FROM block ORDER BY timestamp", true),
           "htex 0 12345 PENDING 2024-01-02 03:04:05.678901|"
           "htex 0 12345 RUNNING 2024-01-02 03:04:06.678901", "block rows");
    is_str(q_all(db, "SELECT id || ' ' || hostname || ' ' || uid || ' ' || block_id || ' ' || "
                     "cpu_count || ' ' || total_memory || ' ' || active || ' ' || "
                     "worker_count || ' ' || python_v || ' ' || timestamp || ' ' || "
                     "last_heartbeat FROM node ORDER BY id", true),
           "1 node1 pool-1 0 8 17179869184 1 4 cparsl 0.1 2024-01-02 03:04:05.678901 "
           "2024-01-02 03:04:08.678901|2 node1 pool-1 0 0 0 0 0  2024-01-02 03:04:14.678901 "
           "2024-01-02 03:04:14.678901",
           "node rows get their own ids; a NULL python_v is ''");
    is_str(q(db, "SELECT timestamp || ' ' || resource_monitoring_interval || ' ' || "
                 "psutil_process_pid || ' ' || psutil_process_memory_percent || ' ' || "
                 "psutil_process_children_count || ' ' || psutil_process_time_user || ' ' || "
                 "psutil_process_time_system || ' ' || psutil_process_memory_virtual || ' ' || "
                 "psutil_process_memory_resident || ' ' || psutil_process_disk_read || ' ' || "
                 "psutil_process_disk_write || ' ' || psutil_process_status || ' ' || "
                 "psutil_cpu_num || ' ' || psutil_process_num_ctx_switches_voluntary || ' ' "
                 "|| psutil_process_num_ctx_switches_involuntary FROM resource "
                 "ORDER BY timestamp"),
           "2024-01-02 03:04:06.178901 30.0 4242 1.25 2.0 0.5 0.25 1000000000.0 50000000.0 "
           "4096.0 8192.0 running 3 10.0 2.0", "resource row values");
    is_str(q(db, "SELECT quote(psutil_process_status) || quote(psutil_cpu_num) FROM resource "
                 "ORDER BY timestamp DESC"), "NULLNULL", "its NULL strings");
    is_str(q_all(db, "SELECT DISTINCT run_id FROM (SELECT run_id FROM task UNION ALL "
                     "SELECT run_id FROM try UNION ALL SELECT run_id FROM status UNION ALL "
                     "SELECT run_id FROM block UNION ALL SELECT run_id FROM node UNION ALL "
                     "SELECT run_id FROM resource)", true), "run-rows",
           "every row carries the run id");
    is_str(q(db, "PRAGMA integrity_check"), "ok", "integrity_check is ok");
    sqlite3_close(db);
}

static void test_stats_and_local_time(void)
{
    /* Another zone, to see the text is local time: UTC+05:30, no tzdata needed. */
    setenv("TZ", "XST-5:30", 1);
    tzset();
    const char *path = path_of("tz.db");
    cp_err err = {0};
    struct cp__mon *m = open_run(path, "run-tz", 0, &err);
    ok(m != NULL, "open");
    if (!m)
        goto out;
    double t = at(2024, 1, 2, 3, 4, 5, 0.999999);
    cp__mon_status(m, 1, 0, "pending", t);
    cp__mon_status(m, 1, 0, "pending", t);
    cp__mon_status(m, 1, 0, "launched", at(2024, 12, 31, 23, 59, 59, 0.9999998));
    struct cp__mon_stats s = {0};
    for (int i = 0; i < 300 && s.rows_written + s.rows_ignored < 3; i++) {
        usleep(10000);
        cp__mon_get_stats(m, &s);
    }
    ok(s.rows_queued == 3 && s.rows_written == 2 && s.rows_ignored == 1 && s.commits >= 1,
       "stats: 3 queued, 2 written, the duplicate ignored (%llu %llu %llu)",
       (unsigned long long)s.rows_queued, (unsigned long long)s.rows_written,
       (unsigned long long)s.rows_ignored);
    is_int(cp__mon_close(m, t, 1, 0, &err), 0, "close");
    sqlite3 *db = dbopen(path);
    is_str(q_all(db, "SELECT timestamp FROM status ORDER BY timestamp", true),
           "2024-01-02 08:34:05.999999|2025-01-01 05:30:00.000000",
           "times are local (UTC+05:30 here), rounded to the microsecond with carry");
    sqlite3_close(db);
out:
    setenv("TZ", "UTC0", 1);
    tzset();
}

/* ------------------------------------------------------------ runs sharing a file */

static void test_two_runs(void)
{
    const char *path = path_of("shared/monitoring.db");
    cp_err err = {0};
    struct cp__mon *a = open_run(path, "run-a", 0, &err);
    ok(a != NULL, "the first run opens");
    cp__mon_status(a, 0, 0, "pending", 0);
    ok(cp__mon_close(a, 0, 1, 0, &err) == 0, "and closes");
    a = open_run(path, "run-a", 0, &err);
    ok(a == NULL && err.code == EEXIST, "a run id already in the file is refused");
    like(err.text, "already has run run-a", "with a message naming it");
    a = open_run(path, "run-b", 0, &err);
    struct cp__mon *c = open_run(path, "run-c", 0, &err);
    ok(a && c, "two more runs open the same file at once");
    if (!a || !c)
        return;
    for (int i = 0; i < 500; i++) {
        cp__mon_status(a, i, 0, "pending", 1e9 + i);
        cp__mon_status(c, i, 0, "pending", 1e9 + i);
    }
    ok(cp__mon_close(a, 0, 500, 0, &err) == 0 && cp__mon_close(c, 0, 500, 0, &err) == 0,
       "both close");
    sqlite3 *db = dbopen(path);
    is_str(q_all(db, "SELECT run_id || ':' || tasks_completed_count FROM workflow "
                     "ORDER BY run_id", true),
           "run-a:1|run-b:500|run-c:500", "one workflow row per run, each completed");
    is_str(q_all(db, "SELECT run_id || ':' || count(*) FROM status GROUP BY run_id "
                     "ORDER BY run_id", true),
           "run-a:1|run-b:500|run-c:500", "each run's rows under its own id");
    is_str(q(db, "PRAGMA integrity_check"), "ok", "integrity_check is ok");
    sqlite3_close(db);
}

/* ------------------------------------------------------------ across batches */

/* Waits until the writer has committed everything queued so far. */
static void committed(struct cp__mon *m)
{
    struct cp__mon_stats s;
    for (int i = 0; i < 500; i++) {
        cp__mon_get_stats(m, &s);
        if (s.rows_written + s.rows_ignored >= s.rows_queued)
            return;
        usleep(10000);
    }
    diag("the writer did not catch up");
}

/* A task's rows arrive over several commits, as in a long run: its start in one,
 * its statuses and end in others. Each status lands once; one whose column its
 * try already holds (a state entered twice) is kept as a row of its own, both
 * when the writer remembers the try (it began in an earlier batch) and when it
 * must ask the file (a retry's first try row; a try after its end). */
static void test_across_batches(void)
{
    const char *path = path_of("batches.db");
    cp_err err = {0};
    struct cp__mon *m = open_run(path, "run-batches", 0, &err);
    ok(m != NULL, "open");
    if (!m)
        return;
    double t = at(2024, 1, 2, 3, 4, 5, 0.0);
    cp__mon_change(m, 7, 0, "pending", t, NULL,
                   &(struct cp__mon_task){.task_id = 7, .func_name = "f", .memoize = "False",
                                          .time_invoked = t}, NULL);
    committed(m);
    cp__mon_change(m, 7, 0, "launched", t + 1,
                   &(struct cp__mon_try){.task_id = 7, .try_id = 0, .executor = "htex",
                                         .time_launched = t + 1}, NULL, NULL);
    cp__mon_status(m, 7, 0, "pending", t);          /* the same event again */
    committed(m);
    cp__mon_status(m, 7, 0, "launched", t + 1);     /* again, a batch later */
    cp__mon_status(m, 7, 0, "launched", t + 2);     /* launched a second time */
    cp__mon_change(m, 7, 0, "fail_retryable", t + 3,
                   &(struct cp__mon_try){.task_id = 7, .try_id = 0, .executor = "htex",
                                         .time_launched = t + 1, .time_returned = t + 3,
                                         .fail_history = "lost"}, NULL, NULL);
    committed(m);
    /* try 1 begins with launched (a retry has no pending of its own) */
    cp__mon_change(m, 7, 1, "launched", t + 4,
                   &(struct cp__mon_try){.task_id = 7, .try_id = 1, .executor = "htex",
                                         .time_launched = t + 4}, NULL, NULL);
    committed(m);
    cp__mon_status(m, 7, 1, "launched", t + 4.5);   /* not remembered: the file says */
    cp__mon_change(m, 7, 1, "exec_done", t + 5,
                   &(struct cp__mon_try){.task_id = 7, .try_id = 1, .executor = "htex",
                                         .hostname = "n1", .time_launched = t + 4,
                                         .time_returned = t + 5}, NULL,
                   &(struct cp__mon_task_end){7, t + 5, 1, 1});
    committed(m);
    cp__mon_status(m, 7, 1, "exec_done", t + 6);    /* after the end */
    cp__mon_status(m, 7, 1, "exec_done", t + 5);    /* the end again */
    struct cp__mon_stats st;
    committed(m);
    cp__mon_get_stats(m, &st);
    ok(st.commits >= 6, "the rows went in over %llu commits", (unsigned long long)st.commits);
    /* A repeat only the file knew of (the try had ended, the task's pending) is
     * found not to change it, but is counted as written. */
    ok(st.rows_ignored >= 1 && st.rows_ignored <= 3 &&
       st.rows_written + st.rows_ignored == st.rows_queued,
       "repeats are counted as not stored (%llu), and every row is accounted for",
       (unsigned long long)st.rows_ignored);
    is_int(cp__mon_close(m, t + 10, 1, 0, &err), 0, "close");

    sqlite3 *db = dbopen(path);
    is_str(q_all(db, "SELECT try_id || ' ' || task_status_name || ' ' || "
                     "substr(timestamp, 18) FROM status WHERE task_id = 7 "
                     "ORDER BY timestamp, try_id", true),
           "0 pending 05.000000|0 launched 06.000000|0 launched 07.000000|"
           "0 fail_retryable 08.000000|1 launched 09.000000|1 launched 09.500000|"
           "1 exec_done 10.000000|1 exec_done 11.000000",
           "every status once, a state entered twice twice");
    is_str(q_all(db, "SELECT try_id || ' ' || ifnull(hostname, '-') || ' ' || "
                     "substr(task_try_time_launched, 18) || ' ' || "
                     "substr(task_try_time_returned, 18) || ' ' || "
                     "ifnull(task_fail_history, '-') FROM try WHERE task_id = 7 "
                     "ORDER BY try_id", true),
           "0 - 06.000000 08.000000 lost|1 n1 09.000000 10.000000 -",
           "each try's latest row");
    is_str(q(db, "SELECT task_func_name || ' ' || substr(task_time_invoked, 18) || ' ' || "
                 "substr(task_time_returned, 18) || ' ' || task_fail_count FROM task "
                 "WHERE task_id = 7"), "f 05.000000 10.000000 1",
           "the task's start and end, from different commits, in one row");
    is_int(q_int(db, "SELECT count(*) FROM cp_status"), 3,
           "three statuses did not fit their try's columns");
    is_str(q(db, "PRAGMA integrity_check"), "ok", "integrity_check is ok");
    sqlite3_close(db);
}

/* 3,000 tasks whose tries advance one state per commit, as in a run of many
 * concurrent tasks: the writer's table of open tries grows, and every try leaves
 * it at its end; each state lands in its column once, none as an extra row. */
static void test_many_open_tries(void)
{
    enum { NT = 3000 };
    const char *path = path_of("open.db");
    cp_err err = {0};
    struct cp__mon *m = open_run(path, "run-open", 0, &err);
    ok(m != NULL, "open");
    if (!m)
        return;
    static const char *const steps[] = {"pending", "launched", "running", "exec_done"};
    double t = 1.7e9;
    for (int st = 0; st < 4; st++) {
        /* in a scattered order, so the table's probe chains interleave */
        for (long k = 0; k < NT; k++) {
            long i = (k * 7919) % NT;
            double at = t + st + i * 1e-4;
            if (st == 0)
                cp__mon_change(m, i, 0, "pending", at, NULL,
                               &(struct cp__mon_task){.task_id = i, .func_name = "f",
                                                      .memoize = "False", .time_invoked = at},
                               NULL);
            else
                cp__mon_change(m, i, 0, steps[st], at,
                               &(struct cp__mon_try){.task_id = i, .try_id = 0,
                                                     .executor = "x", .time_launched = t + 1},
                               NULL, st == 3 ? &(struct cp__mon_task_end){i, at, 0, 0} : NULL);
            if (st == 2 && k % 3 == 0)      /* a third enter running twice: once in */
                cp__mon_status(m, i, 0, "running", at + 0.5);   /* the same commit, */
            if (st == 3 && k % 3 == 1)      /* a third in the next (the table knows) */
                cp__mon_status(m, i, 0, "running", at - 0.25);
        }
        committed(m);
    }
    is_int(cp__mon_close(m, t + 10, NT, 0, &err), 0, "close");
    sqlite3 *db = dbopen(path);
    is_int(q_int(db, "SELECT count(*) FROM status"), 4 * NT + 2 * NT / 3,
           "every status is there: four per task, and the repeated running");
    is_int(q_int(db, "SELECT count(*) FROM cp_status"), 2 * NT / 3,
           "only the repeats are rows of their own");
    is_int(q_int(db, "SELECT count(*) FROM (SELECT task_id FROM status GROUP BY task_id "
                     "HAVING group_concat(task_status_name) IS NOT NULL AND count(DISTINCT "
                     "task_status_name) = 4)"), NT, "each task has its four states");
    is_int(q_int(db, "SELECT count(*) FROM cp_try WHERE s_launched IS NULL OR s_running IS NULL "
                     "OR s_end IS NULL OR end_state <> 'exec_done'"), 0,
           "in its try's columns");
    is_int(q_int(db, "SELECT count(*) FROM task WHERE task_time_returned IS NULL"), 0,
           "every task has its end");
    sqlite3_close(db);
}

/* ------------------------------------------------------------ busy database */

#define PER_THREAD 10000

struct producer {
    struct cp__mon *m;
    long base;
};

static void *produce(void *arg)
{
    struct producer *p = arg;
    for (long i = 0; i < PER_THREAD; i++)
        cp__mon_status(p->m, p->base + i, 0, i % 2 ? "launched" : "pending", 1.7e9 + i * 1e-3);
    return NULL;
}

/* 20,000 status rows from 2 threads; seconds the calls took. */
static double flood(struct cp__mon *m)
{
    pthread_t th[2];
    struct producer p[2] = {{m, 0}, {m, 1000000}};
    double t0 = cp__mono();
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, produce, &p[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    return cp__mono() - t0;
}

static void test_long_reader(void)
{
    const char *path = path_of("reader.db");
    cp_err err = {0};
    struct cp__mon *m = open_run(path, "run-first", 0, &err);
    ok(m && cp__mon_close(m, 0, 0, 0, &err) == 0, "a first run makes the file");

    sqlite3 *reader = dbopen(path);
    ok(exec(reader, "BEGIN") == SQLITE_OK, "a reader begins a transaction");
    is_int(q_int(reader, "SELECT count(*) FROM status"), 0, "and reads (it now holds a snapshot)");
    m = open_run(path, "run-read", 0, &err);
    ok(m != NULL, "open succeeds while the reader holds its transaction");
    if (!m) {
        diag("%s", err.text);
        sqlite3_close(reader);
        return;
    }
    flood(m);
    struct cp__mon_stats s = {0};
    double t0 = cp__mono();
    while (s.rows_written < 2 * PER_THREAD && cp__mono() - t0 < 10) {
        usleep(10000);
        cp__mon_get_stats(m, &s);
    }
    is_int(s.rows_written, 2 * PER_THREAD,
           "the writer commits while the reader reads (in %.2f s)", cp__mono() - t0);
    is_int(cp__mon_close(m, 0, 0, 0, &err), 0, "close succeeds with the reader still open");
    is_int(q_int(reader, "SELECT count(*) FROM status"), 0, "the reader's snapshot is unchanged");
    ok(exec(reader, "COMMIT") == SQLITE_OK, "the reader ends");
    is_int(q_int(reader, "SELECT count(*) FROM status WHERE run_id = 'run-read'"), 2 * PER_THREAD,
           "all 20,000 rows are there");
    is_str(q(reader, "PRAGMA integrity_check"), "ok", "integrity_check is ok");
    sqlite3_close(reader);
}

struct locker {
    const char *path;
    int hold_ms;
    atomic_int state;               /* 1 locked, 2 released, -1 failed */
};

static void *hold_lock(void *arg)
{
    struct locker *l = arg;
    sqlite3 *db = dbopen(l->path);
    if (!db || exec(db, "BEGIN IMMEDIATE") != SQLITE_OK) {
        atomic_store(&l->state, -1);
        sqlite3_close(db);
        return NULL;
    }
    atomic_store(&l->state, 1);
    usleep((useconds_t)l->hold_ms * 1000);
    exec(db, "COMMIT");
    sqlite3_close(db);
    atomic_store(&l->state, 2);
    return NULL;
}

static bool start_locker(pthread_t *th, struct locker *l)
{
    pthread_create(th, NULL, hold_lock, l);
    while (atomic_load(&l->state) == 0)
        usleep(1000);
    return atomic_load(&l->state) == 1;
}

static void test_write_lock(void)
{
    const char *path = path_of("locked.db");
    cp_err err = {0};
    struct cp__mon *m = open_run(path, "run-lock", 0, &err);
    ok(m != NULL, "open");
    if (!m)
        return;
    struct locker l = {.path = path, .hold_ms = 700};
    pthread_t th;
    ok(start_locker(&th, &l), "another connection holds the write lock (BEGIN IMMEDIATE)");
    double took = flood(m);
    ok(took < 0.5, "20,000 calls return at once while the database is locked (%.3f s)", took);
    usleep(350000);
    ok(atomic_load(&l.state) == 1, "the lock is still held");
    is_int(cp__mon_close(m, 0, 0, 0, &err), 0, "close waits for the lock and succeeds");
    ok(atomic_load(&l.state) == 2, "(the lock was released first)");
    pthread_join(th, NULL);
    sqlite3 *db = dbopen(path);
    is_int(q_int(db, "SELECT count(*) FROM status"), 2 * PER_THREAD, "all 20,000 rows are there");
    is_int(q_int(db, "SELECT count(DISTINCT task_id) FROM status"), 2 * PER_THREAD,
           "each once");
    ok(strcmp(q(db, "SELECT quote(time_completed) FROM workflow"), "NULL") != 0,
       "and the run's completion");
    is_str(q(db, "PRAGMA integrity_check"), "ok", "integrity_check is ok");
    sqlite3_close(db);

    /* The same again, reading the counters before close frees m. */
    m = open_run(path, "run-lock-2", 0, &err);
    struct locker l2 = {.path = path, .hold_ms = 600};
    if (!ok(m != NULL, "a second run opens") || !ok(start_locker(&th, &l2), "again, locked"))
        return;
    flood(m);
    while (atomic_load(&l2.state) == 1)
        usleep(10000);
    pthread_join(th, NULL);
    for (int i = 0; i < 300; i++) {
        struct cp__mon_stats s;
        cp__mon_get_stats(m, &s);
        if (s.rows_written == 2 * PER_THREAD)
            break;
        usleep(10000);
    }
    struct cp__mon_stats s;
    cp__mon_get_stats(m, &s);
    ok(s.busy_retries > 0, "the writer counted busy retries (%llu)",
       (unsigned long long)s.busy_retries);
    is_int(s.rows_queued, 2 * PER_THREAD, "rows_queued");
    is_int(s.rows_written, 2 * PER_THREAD, "rows_written, once the lock is gone");
    is_int(s.rows_dropped + s.rows_ignored, 0, "nothing dropped or ignored");
    ok(s.commits >= 1 && s.commits < 100, "in a few transactions (%llu)",
       (unsigned long long)s.commits);
    is_int(cp__mon_close(m, 0, 0, 0, &err), 0, "close");
}

static void test_lock_timeout(void)
{
    const char *path = path_of("stuck.db");
    cp_err err = {0};
    struct cp__mon *m = open_run(path, "run-stuck", 0.5, &err);
    ok(m != NULL, "open");
    if (!m)
        return;
    struct locker l = {.path = path, .hold_ms = 2500};
    pthread_t th;
    ok(start_locker(&th, &l), "another connection holds the write lock for 2.5 s");
    for (int i = 0; i < 5; i++)
        cp__mon_status(m, i, 0, "pending", 0);
    double t0 = cp__mono();
    is_int(cp__mon_close(m, 0, 0, 0, &err), -1, "close gives up after lock_timeout (0.5 s)");
    double took = cp__mono() - t0;
    ok(took >= 0.45 && took < 2.0, "bounded (%.2f s)", took);
    is_int(err.code, EBUSY, "EBUSY");
    like(err.text, "5 rows and the run's completion were not written", "counting the rows");
    like(err.text, "locked", "and saying why");

    struct cp__mon *m2 = open_run(path, "run-stuck-2", 0.5, &err);
    ok(m2 == NULL && err.code == EBUSY, "open gives up too while the lock is held");
    like(err.text, "locked", "%s", err.text);
    pthread_join(th, NULL);
}

/* ------------------------------------------------------------ bad files */

static void test_bad_files(void)
{
    cp_err err = {0};
    const char *path = path_of("notes.txt");
    FILE *fp = fopen(path, "w");
    for (int i = 0; fp && i < 100; i++)
        fprintf(fp, "this is not a database, line %d\n", i);
    if (fp)
        fclose(fp);
    struct cp__mon *m = open_run(path, "run-x", 0, &err);
    ok(m == NULL, "a file that is not a database is refused");
    like(err.text, "is not an SQLite database", "clearly: %s", err.text);
    like(err.text, path, "naming the file");

    /* An older Parsl's resource table: psutil_process_cpu_percent, no cpu_num. */
    path = path_of("old-parsl.db");
    sqlite3 *db = NULL;
    sqlite3_open(path, &db);
    exec(db, "CREATE TABLE resource (try_id INTEGER NOT NULL, task_id INTEGER NOT NULL, "
             "run_id TEXT NOT NULL, timestamp DATETIME NOT NULL, "
             "resource_monitoring_interval FLOAT, psutil_process_pid INTEGER, "
             "psutil_process_cpu_percent FLOAT, psutil_process_memory_percent FLOAT, "
             "psutil_process_children_count FLOAT, psutil_process_time_user FLOAT, "
             "psutil_process_time_system FLOAT, psutil_process_memory_virtual FLOAT, "
             "psutil_process_memory_resident FLOAT, psutil_process_disk_read FLOAT, "
             "psutil_process_disk_write FLOAT, psutil_process_status TEXT, "
             "PRIMARY KEY (try_id, task_id, run_id, timestamp))");
    m = open_run(path, "run-old", 0, &err);
    ok(m == NULL, "Parsl's own resource table (an older Parsl's, even) is refused");
    like(err.text, "resource is a table, where cparsl keeps a view", "saying why: %s",
         err.text);
    is_int(q_int(db, "SELECT count(*) FROM sqlite_master WHERE name = 'workflow'"), 0,
           "and nothing was half made");
    sqlite3_close(db);

    m = cp__mon_open(&(struct cp__mon_opts){.path = path_of("x.db")}, &err);
    ok(m == NULL && err.code == EINVAL, "a run id is required");
    ok(cp__mon_open(NULL, &err) == NULL, "opts are required");

    fp = fopen(path_of("plain"), "w");
    if (fp)
        fclose(fp);
    m = open_run(path_of("plain/monitoring.db"), "run-y", 0, &err);
    ok(m == NULL, "a path under a plain file is refused: %s", err.text);

    cp__mon_status(NULL, 1, 0, "pending", 0);
    cp__mon_task(NULL, &(struct cp__mon_task){0});
    is_int(cp__mon_close(NULL, 0, 0, 0, &err), 0, "a NULL monitor is a no-op");
}

/* A queue of 128 KiB (two chunks) and a file another connection keeps locked:
 * the callers wait for the writer instead of growing the queue or dropping
 * rows, and go on once the lock is gone. */
static void test_bounded_queue(void)
{
    const char *path = path_of("bounded.db");
    cp_err err = {0};
    struct cp__mon *m = cp__mon_open(&(struct cp__mon_opts){
        .path = path, .run_id = "run-bounded", .time_began = 1.7e9, .flush_interval = 0.05,
        .max_queue_bytes = 128 << 10}, &err);
    ok(m != NULL, "open with max_queue_bytes 128 KiB");
    if (!m)
        return;
    struct locker l = {.path = path, .hold_ms = 600};
    pthread_t th;
    ok(start_locker(&th, &l), "another connection holds the write lock");
    double took = flood(m);
    ok(atomic_load(&l.state) == 2 || took > 0.3,
       "20,000 calls (about 2 MiB) wait for the writer while the file is locked (%.3f s)", took);
    pthread_join(th, NULL);
    struct cp__mon_stats s;
    cp__mon_get_stats(m, &s);
    ok(s.queue_waits >= 1, "the waits are counted (%llu)", (unsigned long long)s.queue_waits);
    is_int(s.rows_dropped, 0, "nothing dropped");
    is_int(cp__mon_close(m, 0, 0, 0, &err), 0, "close");
    sqlite3 *db = dbopen(path);
    is_int(q_int(db, "SELECT count(*) FROM status"), 2 * PER_THREAD, "all 20,000 rows are there");
    sqlite3_close(db);
}

int main(void)
{
    tap_start(83);
    setenv("TZ", "UTC0", 1);
    tzset();
    snprintf(dir, sizeof dir, "/tmp/cp-mon-db-XXXXXX");
    if (!mkdtemp(dir)) {
        printf("Bail out! mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    test_schema();
    test_rows();
    test_stats_and_local_time();
    test_two_runs();
    test_across_batches();
    test_many_open_tries();
    test_long_reader();
    test_write_lock();
    test_bounded_queue();
    test_lock_timeout();
    test_bad_files();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    system(cmd);
    return done_testing();
}
