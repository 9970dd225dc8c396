/* monitoring/rep_apps.c — per app: how many tasks and tries, how many failed,
 * and how long tries ran (rep_parts.h). From a file Parsl made, aggregated by
 * SQLite in one query over the tries, so the page gets one row per app. From
 * ours, the tries are read once in key order and summed per app here: grouping
 * a million rows by app name made SQLite sort them all, which cost more than
 * the rest of the report (a run has a handful of apps: the YAML's).
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

/* The same from our tables, without making every try's times text first. A
 * duration is computed as julianday() computes it from the views' text: the
 * seconds of the minute as a double, rounded to whole milliseconds; days as a
 * double. So the page shows the same figures whichever way the file is read.
 * 210866760000000: 1970-01-01 in julian-day milliseconds. */
#define JD(x)                                                                              \
    "((" x " / 60000000 * 60000 + CAST(((" x " / 1000000 % 60) + (" x " % 1000000) / "      \
    "1000000.0) * 1000 + 0.5 AS INTEGER) + 210866760000000) / 86400000.0)"
static const char compact_sql[] =
    "SELECT t.func_name, y.task_id, ifnull(y.fail_history, '') <> '', "
    "  (" JD("y.returned") " - " JD("y.running") ") * 86400.0 "
    "FROM cp_try y JOIN cp_task t ON t.run = y.run AND t.task_id = y.task_id "
    "WHERE y.run = " CP__REP_RUN " AND y.tried ORDER BY y.task_id, y.try_id";

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

/* Apps by name while the tries are summed: a hash index (entry + 1; 0 is free)
 * into a growing array. */
struct apps {
    struct app *v;
    size_t n, cap;
    size_t *idx, icap;                  /* icap a power of two, at most half full */
};

static size_t name_hash(const char *s)
{
    size_t h = 14695981039346656037u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

static struct app *app_of(struct apps *t, const char *name)
{
    size_t i = t->icap ? name_hash(name) & (t->icap - 1) : 0;
    for (; t->icap && t->idx[i]; i = (i + 1) & (t->icap - 1))
        if (strcmp(t->v[t->idx[i] - 1].name, name) == 0)
            return &t->v[t->idx[i] - 1];
    if (2 * (t->n + 1) > t->icap) {
        size_t nic = t->icap ? 2 * t->icap : 64;
        size_t *ni = calloc(nic, sizeof *ni);
        if (!ni)
            return NULL;
        for (size_t k = 0; k < t->n; k++) {
            size_t j = name_hash(t->v[k].name) & (nic - 1);
            while (ni[j])
                j = (j + 1) & (nic - 1);
            ni[j] = k + 1;
        }
        free(t->idx);
        t->idx = ni;
        t->icap = nic;
        for (i = name_hash(name) & (nic - 1); ni[i]; i = (i + 1) & (nic - 1))
            ;
    }
    if (t->n == t->cap) {
        size_t nc = t->cap ? 2 * t->cap : 16;
        struct app *nv = realloc(t->v, nc * sizeof *nv);
        if (!nv)
            return NULL;
        t->v = nv;
        t->cap = nc;
    }
    char *copy = strdup(name);
    if (!copy)
        return NULL;
    t->v[t->n] = (struct app){.name = copy};
    t->idx[i] = ++t->n;
    return &t->v[t->n - 1];
}

/* SQLite's ORDER BY sum(d) DESC, name: an app with no timed try (sum NULL) last. */
static int by_total(const void *pa, const void *pb)
{
    const struct app *a = pa, *b = pb;
    if ((a->timed > 0) != (b->timed > 0))
        return a->timed > 0 ? -1 : 1;
    if (a->timed > 0 && a->sum != b->sum)
        return a->sum > b->sum ? -1 : 1;
    return strcmp(a->name, b->name);
}

/* Our tables: the apps into a[] (MAX_APPS at most, the rest counted in *more),
 * in the order the SQL of a Parsl file gives them. */
static int sum_compact(struct cp__rep_ctx *c, struct app *a, int *n, int *more, cp_err *err)
{
    sqlite3_stmt *st = cp__rep_prepare(c->r, compact_sql, "run time per app", err);
    if (!st)
        return -1;
    struct apps t = {0};
    struct app *cur = NULL;
    long task = 0;
    int rc, ret = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        long id = (long)sqlite3_column_int64(st, 1);
        if (!cur || id != task) {       /* a task's tries are one app's, and come together */
            const unsigned char *name = sqlite3_column_text(st, 0);
            if (!(cur = app_of(&t, name ? (const char *)name : ""))) {
                ret = cp__errf(err, ENOMEM, "out of memory");
                break;
            }
            cur->tasks++;
            task = id;
        }
        cur->tries++;
        cur->failed += sqlite3_column_int(st, 2);
        if (sqlite3_column_type(st, 3) != SQLITE_NULL) {
            double d = sqlite3_column_double(st, 3);
            cur->lo = cur->timed == 0 || d < cur->lo ? d : cur->lo;
            cur->hi = cur->timed == 0 || d > cur->hi ? d : cur->hi;
            cur->sum += d;
            cur->timed++;
        }
    }
    if (ret == 0 && rc != SQLITE_DONE)
        ret = cp__mon_sqlerr(err, c->r->db, rc, "%s: run time per app", c->r->path);
    sqlite3_finalize(st);
    if (t.n > 0)
        qsort(t.v, t.n, sizeof *t.v, by_total);
    *n = *more = 0;
    for (size_t k = 0; k < t.n; k++) {
        if (ret == 0 && *n < MAX_APPS) {
            t.v[k].avg = t.v[k].timed ? t.v[k].sum / (double)t.v[k].timed : 0;
            a[(*n)++] = t.v[k];         /* its name moves to a[] */
        } else {
            *more += ret == 0;
            free(t.v[k].name);
        }
    }
    free(t.v);
    free(t.idx);
    return ret;
}

int cp__rep_apps(struct cp__rep_ctx *c, cp_err *err)
{
    FILE *f = c->f;
    struct app a[MAX_APPS];
    int n = 0, more = 0, rc = SQLITE_DONE, ret = 0;
    sqlite3_stmt *st = NULL;
    if (c->r->compact)
        ret = sum_compact(c, a, &n, &more, err);
    else if (!(st = cp__rep_prepare(c->r, sql, "run time per app", err)))
        return -1;
    while (st && (rc = sqlite3_step(st)) == SQLITE_ROW) {
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
    if (st && rc != SQLITE_DONE)
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
