/* monitoring/rep_apps.c — per app: how many tasks and tries, how many failed,
 * and how long tries ran (rep_parts.h). Aggregated by SQLite in one query over
 * the tries, so a million tries cost one scan and the page gets one row per app.
 *
 * Run time is running → returned: what the app itself took on a worker, not the
 * wait in queues (the Gantt chart shows that part).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "monitoring/rep_html.h"
#include "monitoring/rep_parts.h"
#include "monitoring/schema.h"

#define MAX_APPS 40

static const char sql[] =
    "SELECT t.task_func_name, count(DISTINCT y.task_id), count(*), "
    "  sum(ifnull(y.task_fail_history, '') <> ''), "
    "  count(y.d), avg(y.d), min(y.d), max(y.d), sum(y.d) "
    "FROM (SELECT task_id, task_fail_history, "
    "        (julianday(task_try_time_returned) - julianday(task_try_time_running)) * 86400.0 "
    "        AS d FROM try WHERE run_id = ?1) y "
    "JOIN task t ON t.run_id = ?1 AND t.task_id = y.task_id "
    "GROUP BY t.task_func_name ORDER BY sum(y.d) DESC, t.task_func_name";

struct app {
    char *name;
    long tasks, tries, failed, timed;
    double avg, lo, hi, sum;
};

static void chart(FILE *f, const struct app *a, int n)
{
    const int rowh = 22, w = 920, h = n * rowh + 50;
    double hi = 0;
    for (int i = 0; i < n; i++)
        if (a[i].timed && a[i].hi > hi)
            hi = a[i].hi;
    struct cp__plot p = {.x0 = 200, .y0 = 10, .x1 = w - 20, .y1 = 10 + n * rowh};
    struct cp__axis ax;
    cp__axis_nice(&ax, 0, hi > 0 ? hi : 1, 6);
    cp__svg_open(f, "chart-durations", w, h, "Run time of tries per app");
    for (int i = 0; i <= ax.nticks - 1; i++) {
        double v = ax.lo + i * ax.step, x = p.x0 + v / ax.hi * (p.x1 - p.x0);
        fprintf(f, "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
                   "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">",
                x, p.y0, x, p.y1, x, p.y1 + 16);
        cp__h_secs(f, v);
        fputs("</text>\n", f);
    }
    for (int i = 0; i < n; i++) {
        double y = p.y0 + i * rowh;
        fprintf(f, "<text class=\"lanelabel\" x=\"4\" y=\"%.1f\">", y + 15);
        cp__h_esc(f, a[i].name, 28);
        fputs("</text>", f);
        if (!a[i].timed)
            continue;
        double xl = p.x0 + a[i].lo / ax.hi * (p.x1 - p.x0);
        double xh = p.x0 + a[i].hi / ax.hi * (p.x1 - p.x0);
        double xm = p.x0 + a[i].avg / ax.hi * (p.x1 - p.x0);
        fprintf(f, "<g class=\"app\"><title>");
        cp__h_esc(f, a[i].name, 200);
        fputs(": ", f);
        cp__h_count(f, a[i].timed);
        fputs(" tries ran; min ", f);
        cp__h_secs(f, a[i].lo);
        fputs(", mean ", f);
        cp__h_secs(f, a[i].avg);
        fputs(", max ", f);
        cp__h_secs(f, a[i].hi);
        fprintf(f, "</title><rect class=\"range\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
                   "height=\"12\"/><rect class=\"mean\" x=\"%.1f\" y=\"%.1f\" width=\"3\" "
                   "height=\"18\"/></g>\n",
                xl, y + 5, xh - xl < 1 ? 1 : xh - xl, xm - 1.5, y + 2);
    }
    fputs("</svg>\n", f);
}

static void table(FILE *f, const struct app *a, int n)
{
    fputs("<table id=\"apps-table\"><thead><tr><th>app</th><th>tasks</th><th>tries</th>"
          "<th>failed tries</th><th>mean run time</th><th>min</th><th>max</th>"
          "<th>total</th></tr></thead><tbody>\n", f);
    for (int i = 0; i < n; i++) {
        fputs("<tr><td>", f);
        cp__h_esc(f, a[i].name, 200);
        long v[3] = {a[i].tasks, a[i].tries, a[i].failed};
        for (int k = 0; k < 3; k++) {
            fputs("</td><td class=\"num\">", f);
            cp__h_count(f, v[k]);
        }
        double d[4] = {a[i].avg, a[i].lo, a[i].hi, a[i].sum};
        for (int k = 0; k < 4; k++) {
            fputs("</td><td class=\"num\">", f);
            cp__h_secs(f, a[i].timed ? d[k] : NAN);
        }
        fputs("</td></tr>\n", f);
    }
    fputs("</tbody></table>\n", f);
}

int cp__rep_apps(struct cp__rep_ctx *c, cp_err *err)
{
    FILE *f = c->f;
    sqlite3_stmt *st = cp__rep_prepare(c->r, sql, "run time per app", err);
    if (!st)
        return -1;
    struct app a[MAX_APPS];
    int n = 0, more = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == MAX_APPS) {
            more++;
            continue;
        }
        const unsigned char *name = sqlite3_column_text(st, 0);
        a[n] = (struct app){
            .name = strdup(name ? (const char *)name : ""),
            .tasks = (long)sqlite3_column_int64(st, 1), .tries = (long)sqlite3_column_int64(st, 2),
            .failed = (long)sqlite3_column_int64(st, 3), .timed = (long)sqlite3_column_int64(st, 4),
            .avg = sqlite3_column_double(st, 5), .lo = sqlite3_column_double(st, 6),
            .hi = sqlite3_column_double(st, 7), .sum = sqlite3_column_double(st, 8),
        };
        if (a[n].name)
            n++;
    }
    int ret = 0;
    if (rc != SQLITE_DONE)
        ret = cp__mon_sqlerr(err, c->r->db, rc, "%s: run time per app", c->r->path);
    sqlite3_finalize(st);
    if (ret == 0) {
        fputs("<section id=\"apps\"><h2>Run time per app</h2>\n", f);
        if (n == 0) {
            fputs("<p class=\"none\" id=\"apps-none\">No tries were launched.</p>\n", f);
        } else {
            fputs("<p class=\"note\">Each bar spans the shortest to the longest try of the "
                  "app (running to returned); the mark is the mean.</p>\n", f);
            chart(f, a, n);
            table(f, a, n);
            if (more)
                fprintf(f, "<p class=\"note\">%d more apps with less total run time are "
                           "not listed.</p>\n", more);
        }
        fputs("</section>\n", f);
    }
    for (int i = 0; i < n; i++)
        free(a[i].name);
    return ret;
}
