/* monitoring/rep_fail.c — what went wrong, and where it ran: failed tries with
 * their errors, dep_fail tasks with what they waited on, and the blocks
 * (rep_parts.h).
 *
 * A failed try's error is its try row's task_fail_history. A dep_fail task never
 * ran, so it has no try and no error of its own: the page names the tasks it
 * depended on and how each of them ended, which leads to the root failure.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "monitoring/rep_html.h"
#include "monitoring/rep_parts.h"
#include "monitoring/rep_scan.h"
#include "monitoring/schema.h"

#define ERROR_CHARS 4000    /* of one error text; the rest is cut with "…" */

static const char tries_sql[] =
    "SELECT y.task_id, y.try_id, " CP__REP_TASK_COL("task_func_name", "y") ", y.hostname, "
    "y.task_try_time_returned, y.task_fail_history FROM try y "
    "WHERE y.run_id = ?1 AND ifnull(y.task_fail_history, '') <> '' "
    "ORDER BY y.task_id, y.try_id LIMIT ?2";

static const char depfail_sql[] =
    "SELECT s.task_id, " CP__REP_TASK_COL("task_func_name", "s") ", "
    CP__REP_TASK_COL("task_depends", "s") " "
    "FROM status s WHERE s.run_id = ?1 AND s.task_status_name = 'dep_fail' "
    "GROUP BY s.task_id ORDER BY s.task_id LIMIT ?2";

/* The unary + keeps SQLite from walking a (run_id, timestamp) index backwards
 * through the whole run (a file Parsl made has one) to satisfy the ORDER BY: the
 * task's few rows are found by task and sorted. */
static const char last_state_sql[] =
    "SELECT task_status_name FROM status WHERE run_id = ?1 AND task_id = ?2 "
    "ORDER BY +timestamp DESC, try_id DESC, " CP__REP_STATE_RANK " DESC LIMIT 1";

long cp__rep_count(struct cp__rep_db *r, const char *sql, const char *what, cp_err *err)
{
    sqlite3_stmt *st = cp__rep_prepare(r, sql, what, err);
    if (!st)
        return -1;
    long n = -1;
    if (cp__rep_step(r, st, what, err) == SQLITE_ROW)
        n = (long)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

static void shown_of(FILE *f, long shown, long total, const char *what)
{
    if (shown < total) {
        fputs("<p class=\"note\">Showing the first ", f);
        cp__h_count(f, shown);
        fputs(" of ", f);
        cp__h_count(f, total);
        fprintf(f, " %s (by task id).</p>\n", what);
    }
}

static int failed_tries(struct cp__rep_ctx *c, cp_err *err)
{
    FILE *f = c->f;
    long total = cp__rep_count(c->r, "SELECT count(*) FROM try WHERE run_id = ?1 AND "
                               "ifnull(task_fail_history, '') <> ''",
                               "counting failed tries", err);
    if (total < 0)
        return -1;
    fputs("<h3>Failed tries</h3>\n", f);
    if (total == 0) {
        fputs("<p class=\"none\" id=\"failures-none\">No try failed.</p>\n", f);
        return 0;
    }
    sqlite3_stmt *st = cp__rep_prepare(c->r, tries_sql, "reading failed tries", err);
    sqlite3_stmt *last = st ? cp__rep_prepare(c->r, last_state_sql, "a task's state", err) : NULL;
    if (!last) {
        sqlite3_finalize(st);
        return -1;
    }
    sqlite3_bind_int64(st, 2, c->o.failures);
    fputs("<input id=\"failures-filter\" type=\"search\" placeholder=\"filter the failures\">\n"
          "<table id=\"failures-table\"><thead><tr><th>task</th><th>app</th><th>try</th>"
          "<th>host</th><th>returned</th><th>task ended</th><th>error</th></tr></thead>"
          "<tbody>\n", f);
    long shown = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        long task = (long)sqlite3_column_int64(st, 0);
        sqlite3_bind_int64(last, 2, task);
        const char *ended = "";
        if (sqlite3_step(last) == SQLITE_ROW && sqlite3_column_text(last, 0))
            ended = (const char *)sqlite3_column_text(last, 0);
        fprintf(f, "<tr class=\"failed-try\" data-task=\"%ld\"><td class=\"num\">%ld</td><td>",
                task, task);
        cp__h_esc(f, (const char *)sqlite3_column_text(st, 2), 200);
        fprintf(f, "</td><td class=\"num\">%d</td><td>", sqlite3_column_int(st, 1));
        cp__h_esc(f, (const char *)sqlite3_column_text(st, 3), 200);
        fputs("</td><td>", f);
        cp__h_esc(f, (const char *)sqlite3_column_text(st, 4), 64);
        fputs("</td><td>", f);
        cp__h_esc(f, ended, 64);
        fputs("</td><td><pre>", f);
        cp__h_esc(f, (const char *)sqlite3_column_text(st, 5), ERROR_CHARS);
        fputs("</pre></td></tr>\n", f);
        sqlite3_reset(last);
        shown++;
    }
    fputs("</tbody></table>\n", f);
    shown_of(f, shown, total, "failed tries");
    int ret = 0;
    if (rc != SQLITE_DONE)
        ret = cp__mon_sqlerr(err, c->r->db, rc, "%s: reading failed tries", c->r->path);
    sqlite3_finalize(st);
    sqlite3_finalize(last);
    return ret;
}

/* "1 (failed), 0 (exec_done)": each dependency with how it ended. */
static void deps_with_states(FILE *f, sqlite3_stmt *last, const char *deps)
{
    int shown = 0;
    for (const char *p = deps; p && *p && shown < 20;) {
        char *end;
        long id = strtol(p, &end, 10);
        if (end == p)
            break;
        sqlite3_bind_int64(last, 2, id);
        const char *st = sqlite3_step(last) == SQLITE_ROW ?
                         (const char *)sqlite3_column_text(last, 0) : NULL;
        fprintf(f, "%s%ld (", shown ? ", " : "", id);
        cp__h_esc(f, st ? st : "no status", 64);
        fputc(')', f);
        sqlite3_reset(last);
        shown++;
        p = *end == ',' ? end + 1 : end;
    }
    if (shown == 20)
        fputs(", …", f);
}

static int dep_fails(struct cp__rep_ctx *c, cp_err *err)
{
    FILE *f = c->f;
    long total = c->scan.state[REP_ST_DEP_FAIL];
    fputs("<h3>Tasks not run because a dependency failed (dep_fail)</h3>\n", f);
    if (total == 0) {
        fputs("<p class=\"none\" id=\"depfail-none\">None.</p>\n", f);
        return 0;
    }
    sqlite3_stmt *st = cp__rep_prepare(c->r, depfail_sql, "reading dep_fail tasks", err);
    sqlite3_stmt *last = st ? cp__rep_prepare(c->r, last_state_sql, "a task's state", err) : NULL;
    if (!last) {
        sqlite3_finalize(st);
        return -1;
    }
    sqlite3_bind_int64(st, 2, c->o.failures);
    fputs("<table id=\"depfail-table\"><thead><tr><th>task</th><th>app</th>"
          "<th>depends on (how each ended)</th></tr></thead><tbody>\n", f);
    long shown = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        long task = (long)sqlite3_column_int64(st, 0);
        fprintf(f, "<tr class=\"depfail\" data-task=\"%ld\"><td class=\"num\">%ld</td><td>", task,
                task);
        cp__h_esc(f, (const char *)sqlite3_column_text(st, 1), 200);
        fputs("</td><td>", f);
        deps_with_states(f, last, (const char *)sqlite3_column_text(st, 2));
        fputs("</td></tr>\n", f);
        shown++;
    }
    fputs("</tbody></table>\n", f);
    shown_of(f, shown, total, "dep_fail tasks");
    int ret = 0;
    if (rc != SQLITE_DONE)
        ret = cp__mon_sqlerr(err, c->r->db, rc, "%s: reading dep_fail tasks", c->r->path);
    sqlite3_finalize(st);
    sqlite3_finalize(last);
    return ret;
}

int cp__rep_failures(struct cp__rep_ctx *c, cp_err *err)
{
    fputs("<section id=\"failures\"><h2>Failures</h2>\n", c->f);
    int ret = failed_tries(c, err);
    if (ret == 0)
        ret = dep_fails(c, err);
    fputs("</section>\n", c->f);
    return ret;
}

int cp__rep_blocks(struct cp__rep_ctx *c, cp_err *err)
{
    FILE *f = c->f;
    /* SQLite's bare columns: with max(), the other columns come from that row. */
    sqlite3_stmt *st = cp__rep_prepare(
        c->r, "SELECT executor_label, block_id, ifnull(job_id, ''), status, max(timestamp), "
              "min(timestamp), count(*) FROM block WHERE run_id = ?1 "
              "GROUP BY executor_label, block_id ORDER BY executor_label, min(timestamp) "
              "LIMIT 500", "reading blocks", err);
    if (!st)
        return -1;
    fputs("<section id=\"blocks\"><h2>Blocks</h2>\n", f);
    int rc, n = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n++ == 0)
            fputs("<table id=\"blocks-table\"><thead><tr><th>executor</th><th>block</th>"
                  "<th>job id</th><th>latest state</th><th>since</th><th>first seen</th>"
                  "<th>changes</th></tr></thead><tbody>\n", f);
        fputs("<tr>", f);
        for (int k = 0; k < 6; k++) {
            fputs("<td>", f);
            cp__h_esc(f, (const char *)sqlite3_column_text(st, k), 200);
            fputs("</td>", f);
        }
        fprintf(f, "<td class=\"num\">%d</td></tr>\n", sqlite3_column_int(st, 6));
    }
    if (n > 0)
        fputs("</tbody></table>\n", f);
    else
        fputs("<p class=\"none\" id=\"blocks-none\">No blocks: the run's executors do not "
              "use providers (thread_pool).</p>\n", f);
    fputs("</section>\n", f);
    int ret = 0;
    if (rc != SQLITE_DONE)
        ret = cp__mon_sqlerr(err, c->r->db, rc, "%s: reading blocks", c->r->path);
    sqlite3_finalize(st);
    return ret;
}
