/* monitoring/rep_db.c — see rep_db.h.
 *
 * Which run a path means: a run directory stores no run id of its own, but the
 * workflow row stores the run directory (rundir), so the row is found by it.
 * The database is normally runinfo/monitoring.db, beside the run directories;
 * when --monitor=FILE or a config's monitoring: db put it elsewhere, the run's
 * parsl.log names it ("run_id ID in PATH", written by engine/monitor.c).
 */
#include "monitoring/rep_db.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/util.h"
#include "monitoring/schema.h"

/* Every table the report reads; a file without one of them is not ours. */
static const char *const needed[] = {"workflow", "task", "try", "status", "block", "node",
                                     "resource"};

static const char workflow_sql[] =
    "SELECT run_id, workflow_name, workflow_version, host, user, rundir, time_began, "
    "time_completed, tasks_completed_count, tasks_failed_count FROM workflow WHERE run_id = ?1";

double cp__rep_time(const unsigned char *s)
{
    if (!s)
        return NAN;
    int f[6] = {0};
    static const char seps[] = " -- ::";   /* seps[i]: the separator before field i */
    const unsigned char *p = s;
    for (int i = 0; i < 6; i++) {
        if (i > 0) {
            if (*p != (unsigned char)seps[i] && !(i == 3 && *p == 'T'))
                return NAN;
            p++;
        }
        if (*p < '0' || *p > '9')
            return NAN;
        for (int digits = 0; *p >= '0' && *p <= '9' && digits < 4; p++, digits++)
            f[i] = f[i] * 10 + (*p - '0');
    }
    double frac = 0, scale = 0.1;
    if (*p == '.')
        for (p++; *p >= '0' && *p <= '9'; p++, scale /= 10)
            frac += (*p - '0') * scale;
    /* Days from the civil date (proleptic Gregorian), as in H. Hinnant's algorithm. */
    int y = f[0] - (f[1] <= 2), m = f[1], d = f[2];
    long era = (y >= 0 ? y : y - 399) / 400;
    long yoe = y - era * 400;
    long doy = (153L * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    long days = era * 146097 + doe - 719468;
    return (double)days * 86400 + f[3] * 3600 + f[4] * 60 + f[5] + frac;
}

double cp__rep_time_us(int64_t us)
{
    /* The views print whole seconds (SQLite's integer division truncates) and
     * printf('.%06d', us % 1000000); the fraction is summed digit by digit as
     * cp__rep_time does, so both give the same double and the same chart bins. */
    int64_t whole = us / 1000000, rest = us % 1000000;
    double frac = 0, scale = 0.1;
    for (int64_t div = 100000; rest >= 0 && div > 0; div /= 10, scale /= 10)
        frac += (double)(rest / div % 10) * scale;
    return (double)whole + frac;
}

double cp__rep_now(void)
{
    double now = cp__now();
    time_t s = (time_t)now;
    struct tm tm;
    localtime_r(&s, &tm);
    return now + (double)tm.tm_gmtoff;
}

bool cp__rep_bad_input(const cp_err *err)
{
    return err && (err->code == ENOENT || err->code == ENOTSUP || err->code == EINVAL);
}

sqlite3_stmt *cp__rep_prepare(struct cp__rep_db *r, const char *sql, const char *what,
                              cp_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(r->db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK && sqlite3_bind_parameter_count(st) >= 1 && r->wf.run_id)
        rc = sqlite3_bind_text(st, 1, r->wf.run_id, -1, SQLITE_STATIC);
    if (rc != SQLITE_OK) {
        cp__mon_sqlerr(err, r->db, rc, "%s: %s", r->path, what);
        sqlite3_finalize(st);
        return NULL;
    }
    return st;
}

int cp__rep_step(struct cp__rep_db *r, sqlite3_stmt *st, const char *what, cp_err *err)
{
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        cp__mon_sqlerr(err, r->db, rc, "%s: %s", r->path, what);
    return rc;
}

static char *col_dup(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? strdup((const char *)t) : NULL;
}

static void workflow_free(struct cp__rep_workflow *w)
{
    free(w->run_id), free(w->name), free(w->version), free(w->host), free(w->user);
    free(w->rundir), free(w->began_text), free(w->completed_text);
    memset(w, 0, sizeof *w);
}

int cp__rep_reload(struct cp__rep_db *r, cp_err *err)
{
    sqlite3_stmt *st = cp__rep_prepare(r, workflow_sql, "reading the workflow row", err);
    if (!st)
        return -1;
    int rc = cp__rep_step(r, st, "reading the workflow row", err), ret = -1;
    if (rc == SQLITE_DONE) {
        cp__errf(err, EINVAL, "%s: no run with id %s", r->path, r->wf.run_id);
    } else if (rc == SQLITE_ROW) {
        struct cp__rep_workflow w = {
            .run_id = col_dup(st, 0), .name = col_dup(st, 1), .version = col_dup(st, 2),
            .host = col_dup(st, 3), .user = col_dup(st, 4), .rundir = col_dup(st, 5),
            .began_text = col_dup(st, 6), .completed_text = col_dup(st, 7),
            .began = cp__rep_time(sqlite3_column_text(st, 6)),
            .completed = cp__rep_time(sqlite3_column_text(st, 7)),
            .tasks_completed = sqlite3_column_int64(st, 8),
            .tasks_failed = sqlite3_column_int64(st, 9),
        };
        if (!w.run_id) {
            workflow_free(&w);
            cp__errf(err, ENOMEM, "out of memory");
        } else {
            workflow_free(&r->wf);
            r->wf = w;
            ret = 0;
        }
    }
    sqlite3_finalize(st);
    return ret;
}

static int check_tables(struct cp__rep_db *r, cp_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(r->db, "SELECT 1 FROM sqlite_master WHERE type IN "
                                "('table', 'view') AND name = ?1", -1, &st, NULL);
    for (size_t i = 0; rc == SQLITE_OK && i < sizeof needed / sizeof needed[0]; i++) {
        sqlite3_bind_text(st, 1, needed[i], -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc == SQLITE_DONE) {
            sqlite3_finalize(st);
            return cp__errf(err, ENOTSUP, "%s: not a monitoring database (it has no table "
                            "'%s'; make one with parsl-run --monitor)", r->path, needed[i]);
        }
        if (rc == SQLITE_ROW)
            rc = SQLITE_OK;
    }
    if (rc != SQLITE_OK) {
        cp__mon_sqlerr(err, r->db, rc, "%s", r->path);  /* NOTADB: ENOTSUP already */
        sqlite3_finalize(st);
        return -1;
    }
    sqlite3_finalize(st);
    /* cparsl's layout: the compact tables, and status a view over them. */
    rc = sqlite3_prepare_v2(r->db, "SELECT count(*) = 5 FROM sqlite_master WHERE (type = "
                            "'table' AND name IN ('cp_run', 'cp_task', 'cp_try', "
                            "'cp_status')) OR (type = 'view' AND name = 'status')", -1, &st,
                            NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        r->compact = sqlite3_column_int(st, 0) != 0;
        rc = SQLITE_OK;
    }
    if (rc != SQLITE_OK)
        cp__mon_sqlerr(err, r->db, rc, "%s", r->path);
    sqlite3_finalize(st);
    return rc == SQLITE_OK ? 0 : -1;
}

/* The run id: `want` exactly or as a unique prefix, else the run whose rundir is
 * `rundir`, else the latest. */
static int choose_run(struct cp__rep_db *r, const char *want, const char *rundir, cp_err *err)
{
    const char *sql, *what;
    if (want) {
        sql = "SELECT run_id FROM workflow WHERE run_id = ?1 OR substr(run_id, 1, length(?1)) "
              "= ?1 ORDER BY run_id = ?1 DESC, time_began DESC LIMIT 2";
        what = "finding the run";
    } else if (rundir) {
        sql = "SELECT run_id FROM workflow WHERE rundir = ?1 ORDER BY time_began DESC LIMIT 1";
        what = "finding the run of a run directory";
    } else {
        sql = "SELECT run_id FROM workflow ORDER BY time_began DESC, rowid DESC LIMIT 1";
        what = "finding the latest run";
    }
    sqlite3_stmt *st = cp__rep_prepare(r, sql, what, err);
    if (!st)
        return -1;
    if (want || rundir)
        sqlite3_bind_text(st, 1, want ? want : rundir, -1, SQLITE_STATIC);
    int ret = -1, rc = cp__rep_step(r, st, what, err);
    if (rc == SQLITE_ROW) {
        r->wf.run_id = col_dup(st, 0);
        bool exact = want && r->wf.run_id && strcmp(r->wf.run_id, want) == 0;
        if (!r->wf.run_id)
            cp__errf(err, ENOMEM, "out of memory");
        else if (want && !exact && cp__rep_step(r, st, what, err) == SQLITE_ROW)
            cp__errf(err, EINVAL, "%s: run id '%s' is ambiguous (several runs start so)",
                     r->path, want);
        else
            ret = 0;
    } else if (rc == SQLITE_DONE) {
        if (want)
            cp__errf(err, EINVAL, "%s: no run with id '%s'", r->path, want);
        else if (rundir)
            cp__errf(err, EINVAL, "%s: no run recorded for run directory %s (was it run "
                     "with --monitor?)", r->path, rundir);
        else
            cp__errf(err, EINVAL, "%s: no runs recorded yet", r->path);
    }
    sqlite3_finalize(st);
    return ret;
}

static bool is_file(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* "run_id ID in PATH (" from the run's parsl.log; the last such line wins. */
static int db_from_log(const char *dir, char **db, char **run_id)
{
    char *log = cp__strdup_printf("%s/parsl.log", dir);
    FILE *f = log ? fopen(log, "r") : NULL;
    free(log);
    if (!f)
        return -1;
    char line[PATH_MAX + 256];
    while (fgets(line, sizeof line, f)) {
        const char *at = strstr(line, " monitoring ");
        at = at ? strstr(at, ": run_id ") : NULL;
        if (!at)
            continue;
        char id[64];
        int used = 0;
        if (sscanf(at, ": run_id %63s in %n", id, &used) != 1 || used == 0)
            continue;
        const char *path = at + used, *end = strstr(path, " (resource_interval");
        if (!end)
            continue;
        free(*db), free(*run_id);
        *db = strndup(path, (size_t)(end - path));
        *run_id = strdup(id);
    }
    fclose(f);
    return *db && *run_id ? 0 : -1;
}

/* Works out the database file and, for a run directory, the run. */
static int locate(const char *input, char **db, char **rundir, char **run_id, cp_err *err)
{
    struct stat sb;
    if (stat(input, &sb) != 0)
        return cp__errf(err, ENOENT, "%s: %s", input, strerror(errno));
    if (!S_ISDIR(sb.st_mode))
        return (*db = strdup(input)) ? 0 : cp__errf(err, ENOMEM, "out of memory");
    char real[PATH_MAX];
    if (!realpath(input, real))
        return cp__errf(err, ENOENT, "%s: %s", input, strerror(errno));
    char *inside = cp__strdup_printf("%s/monitoring.db", real);
    if (inside && is_file(inside)) {
        *db = inside;
        return 0;
    }
    free(inside);
    if (db_from_log(real, db, run_id) == 0)
        return 0;
    char *slash = strrchr(real, '/');
    char *beside = cp__strdup_printf("%.*s/monitoring.db", (int)(slash - real), real);
    if (beside && is_file(beside)) {
        *db = beside;
        *rundir = strdup(real);
        return *rundir ? 0 : cp__errf(err, ENOMEM, "out of memory");
    }
    free(beside);
    return cp__errf(err, ENOENT, "%s: no monitoring database for this directory (no "
                    "monitoring.db in it or beside it, none named in its parsl.log); was the "
                    "run made with --monitor?", input);
}

struct cp__rep_db *cp__rep_open(const char *input, const char *run_id, cp_err *err)
{
    struct cp__rep_db *r = calloc(1, sizeof *r);
    char *rundir = NULL, *log_run = NULL;
    if (!r) {
        cp__errf(err, ENOMEM, "out of memory");
        return NULL;
    }
    if (!input || !*input) {
        cp__errf(err, EINVAL, "no run directory or database given");
        goto error;
    }
    if (locate(input, &r->path, &rundir, &log_run, err) != 0)
        goto error;
    int rc = sqlite3_open_v2(r->path, &r->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        cp__mon_sqlerr(err, r->db, rc, "cannot open %s", r->path);
        if (err && (rc & 0xff) == SQLITE_CANTOPEN)
            err->code = ENOENT;
        goto error;
    }
    /* A writer's transaction is short (one batch); wait it out rather than fail. */
    sqlite3_busy_timeout(r->db, 5000);
    if (check_tables(r, err) != 0 ||
        choose_run(r, run_id ? run_id : log_run, run_id || log_run ? NULL : rundir, err) != 0 ||
        cp__rep_reload(r, err) != 0)
        goto error;
    free(rundir);
    free(log_run);
    return r;
error:
    free(rundir);
    free(log_run);
    cp__rep_close(r);
    return NULL;
}

void cp__rep_close(struct cp__rep_db *r)
{
    if (!r)
        return;
    sqlite3_close_v2(r->db);
    workflow_free(&r->wf);
    free(r->path);
    free(r);
}
