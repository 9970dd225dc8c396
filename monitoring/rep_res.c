/* monitoring/rep_res.c — CPU and memory per try from the resource samples
 * (rep_parts.h).
 *
 * A try's samples are cumulative CPU times and a current resident size, so its
 * CPU time is the largest user+system seen and its peak memory the largest
 * resident size. The per-app table covers every sampled try; the column charts
 * show at most the cap, every k-th task past it (said in the page).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "monitoring/rep_html.h"
#include "monitoring/rep_parts.h"
#include "monitoring/schema.h"

#define PER_TRY                                                                          \
    "SELECT task_id, try_id, "                                                           \
    "  max(ifnull(psutil_process_time_user, 0) + ifnull(psutil_process_time_system, 0)) " \
    "  AS cpu, max(ifnull(psutil_process_memory_resident, 0)) AS mem, count(*) AS n "    \
    "FROM resource WHERE run_id = ?1"

static const char tries_sql[] =
    PER_TRY " AND task_id % ?2 = 0 GROUP BY task_id, try_id ORDER BY task_id, try_id LIMIT ?3";

static const char apps_sql[] =
    "SELECT " CP__REP_TASK_COL("task_func_name", "x") " AS app, count(*), avg(x.cpu), "
    "max(x.cpu), avg(x.mem), max(x.mem), sum(x.n) FROM (" PER_TRY " GROUP BY task_id, try_id) x "
    "GROUP BY app ORDER BY app LIMIT 100";

static int app_table(struct cp__rep_ctx *c, cp_err *err)
{
    FILE *f = c->f;
    sqlite3_stmt *st = cp__rep_prepare(c->r, apps_sql, "resource use per app", err);
    if (!st)
        return -1;
    fputs("<table id=\"resource-table\"><thead><tr><th>app</th><th>tries sampled</th>"
          "<th>samples</th><th>mean CPU time</th><th>max CPU time</th><th>mean peak memory</th>"
          "<th>max peak memory</th></tr></thead><tbody>\n", f);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *name = sqlite3_column_text(st, 0);
        fputs("<tr><td>", f);
        cp__h_esc(f, name ? (const char *)name : "(unknown task)", 200);
        fputs("</td><td class=\"num\">", f);
        cp__h_count(f, (long)sqlite3_column_int64(st, 1));
        fputs("</td><td class=\"num\">", f);
        cp__h_count(f, (long)sqlite3_column_int64(st, 6));
        for (int k = 2; k <= 5; k++) {
            fputs("</td><td class=\"num\">", f);
            if (k <= 3)
                cp__h_secs(f, sqlite3_column_double(st, k));
            else
                cp__h_bytes(f, sqlite3_column_double(st, k));
        }
        fputs("</td></tr>\n", f);
    }
    fputs("</tbody></table>\n", f);
    int ret = 0;
    if (rc != SQLITE_DONE)
        ret = cp__mon_sqlerr(err, c->r->db, rc, "%s: resource use per app", c->r->path);
    sqlite3_finalize(st);
    return ret;
}

static int charts(struct cp__rep_ctx *c, long ntries, cp_err *err)
{
    FILE *f = c->f;
    long cap = c->o.resource_tries, k = (ntries + cap - 1) / cap;
    sqlite3_stmt *st = cp__rep_prepare(c->r, tries_sql, "resource use per try", err);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 2, k);
    sqlite3_bind_int64(st, 3, cap);
    double *cpu = calloc((size_t)cap, sizeof *cpu), *mem = calloc((size_t)cap, sizeof *mem);
    char **tips = calloc((size_t)cap, sizeof *tips);
    int n = 0, rc = SQLITE_DONE, ret = 0;
    if (!cpu || !mem || !tips)
        ret = cp__errf(err, ENOMEM, "out of memory");
    while (ret == 0 && n < cap && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        cpu[n] = sqlite3_column_double(st, 2);
        mem[n] = sqlite3_column_double(st, 3) / (1024.0 * 1024.0);
        tips[n] = cp__strdup_printf("task %lld try %d: %.3g s CPU, %.4g MiB peak (%d samples)",
                                    (long long)sqlite3_column_int64(st, 0),
                                    sqlite3_column_int(st, 1), cpu[n], mem[n],
                                    sqlite3_column_int(st, 4));
        n++;
    }
    if (ret == 0 && rc != SQLITE_DONE && rc != SQLITE_ROW)
        ret = cp__mon_sqlerr(err, c->r->db, rc, "%s: resource use per try", c->r->path);
    sqlite3_finalize(st);
    if (ret == 0) {
        fputs("<h3>CPU time per try (user + system)</h3>\n", f);
        cp__svg_columns(f, "chart-cpu", "CPU time per try", cpu, (const char *const *)tips, n,
                        " s", "#0072b2");
        fputs("<h3>Peak resident memory per try</h3>\n", f);
        cp__svg_columns(f, "chart-mem", "Peak resident memory per try", mem,
                        (const char *const *)tips, n, " MiB", "#e69f00");
        fputs("<p class=\"note\" id=\"resource-note\">", f);
        if (n < ntries) {
            fputs("Showing ", f);
            cp__h_count(f, n);
            fputs(" of ", f);
            cp__h_count(f, ntries);
            fprintf(f, " sampled tries (those of every %ld%s task by id), in task order.", k,
                    cp__h_ordinal(k));
        } else {
            fputs("All ", f);
            cp__h_count(f, ntries);
            fputs(" sampled tries, in task order.", f);
        }
        fputs("</p>\n", f);
    }
    for (int i = 0; tips && i < n; i++)
        free(tips[i]);
    free(tips), free(cpu), free(mem);
    return ret;
}

int cp__rep_resources(struct cp__rep_ctx *c, cp_err *err)
{
    FILE *f = c->f;
    long samples = cp__rep_count(c->r, "SELECT count(*) FROM resource WHERE run_id = ?1",
                                 "counting resource samples", err);
    if (samples < 0)
        return -1;
    fputs("<section id=\"resources\"><h2>CPU and memory</h2>\n", f);
    if (samples == 0) {
        fputs("<p class=\"none\" id=\"resource-none\">No samples: the run recorded no "
              "resource rows (resource monitoring was off, or no task ran long enough "
              "to be sampled).</p></section>\n", f);
        return 0;
    }
    long ntries = cp__rep_count(c->r, "SELECT count(*) FROM (SELECT 1 FROM resource WHERE "
                                "run_id = ?1 GROUP BY task_id, try_id)",
                                "counting sampled tries", err);
    int ret = ntries < 0 ? -1 : charts(c, ntries, err);
    if (ret == 0)
        ret = app_table(c, err);
    fputs("</section>\n", f);
    return ret;
}
