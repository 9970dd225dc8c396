/* monitoring/rep_gantt.c — the Gantt chart of tries (rep_parts.h).
 *
 * The try table does not say which worker of a pool ran a try, only the
 * executor, host and block. Within each (executor, host, block) lane, tries are
 * packed greedily into rows, each try in the first row free at its launch; that
 * is how many workers were busy at once, so a row stands for a worker slot.
 *
 * Past the cap, every k-th task's tries are drawn (task_id % k = 0, task ids of
 * a run being dense), so the sample spreads evenly over the whole run instead of
 * showing only its start; the page says so.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "monitoring/rep_html.h"
#include "monitoring/rep_parts.h"
#include "monitoring/schema.h"

#define MAX_ROWS 240        /* rows drawn in all; lanes past it are left out */
#define MAX_SLOTS 64        /* rows per lane; more overlap is drawn in the last */
#define ROW_H 10

struct gtry {
    long task;
    int try_id;
    double launched, running, returned;     /* NAN when not (yet) */
    bool failed;
    int lane, slot;
    char *app;
};

struct lane {
    char *exec, *host, *block;
    int nslots;
    double slot_end[MAX_SLOTS];
};

static const char sql[] =
    "SELECT y.task_id, y.try_id, y.task_executor, ifnull(y.hostname, ''), "
    "ifnull(y.block_id, ''), y.task_try_time_launched, y.task_try_time_running, "
    "y.task_try_time_returned, ifnull(y.task_fail_history, '') <> '', "
    CP__REP_TASK_COL("task_func_name", "y") " FROM try y "
    "WHERE y.run_id = ?1 AND y.task_id % ?2 = 0 "
    "ORDER BY y.task_executor, y.hostname, y.block_id, y.task_try_time_launched LIMIT ?3";

static bool same_lane(const struct lane *l, const char *e, const char *h, const char *b)
{
    return strcmp(l->exec, e) == 0 && strcmp(l->host, h) == 0 && strcmp(l->block, b) == 0;
}

static double x_of(const struct cp__rep_ctx *c, const struct cp__plot *p, double t)
{
    double v = (t - c->t0) / (c->t1 - c->t0);
    v = v < 0 ? 0 : v > 1 ? 1 : v;
    return p->x0 + v * (p->x1 - p->x0);
}

static void draw_try(struct cp__rep_ctx *c, const struct cp__plot *p, const struct gtry *g,
                     double y)
{
    FILE *f = c->f;
    double start = isnan(g->launched) ? g->running : g->launched;
    double run = isnan(g->running) ? NAN : g->running;
    bool open = isnan(g->returned);
    double end = open ? c->t1 : g->returned;
    if (isnan(start))
        return;
    const char *cls = open ? "t-open" : g->failed ? "t-fail" : "t-ok";
    fprintf(f, "<g class=\"try %s\"><title>task %ld", cls, g->task);
    if (g->app) {
        fputs(" (", f);
        cp__h_esc(f, g->app, 200);
        fputc(')', f);
    }
    fprintf(f, " try %d: launched at +", g->try_id);
    cp__h_secs(f, start - c->t0);
    if (!isnan(run)) {
        fputs(", ran ", f);
        cp__h_secs(f, end - run);
    }
    fputs(open ? ", not returned" : g->failed ? ", failed" : ", ok", f);
    fputs("</title>", f);
    double xs = x_of(c, p, start), xr = isnan(run) ? x_of(c, p, end) : x_of(c, p, run);
    double xe = x_of(c, p, end);
    if (xr - xs >= 0.3)
        fprintf(f, "<rect class=\"wait\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%d\"/>",
                xs, y, xr - xs, ROW_H - 2);
    if (!isnan(run))
        fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%d\"/>", xr, y,
                xe - xr < 0.6 ? 0.6 : xe - xr, ROW_H - 2);
    fputs("</g>\n", f);
}

static void draw(struct cp__rep_ctx *c, struct gtry *tries, size_t n, struct lane *lanes,
                 size_t nlanes, size_t *lanes_drawn, int *rows_drawn)
{
    FILE *f = c->f;
    int rows = 0;
    size_t nl = 0;
    for (; nl < nlanes && rows + lanes[nl].nslots <= MAX_ROWS; nl++)
        rows += lanes[nl].nslots;
    if (nl == 0 && nlanes > 0)      /* one lane bigger than the cap: draw what fits */
        nl = 1, rows = lanes[0].nslots < MAX_ROWS ? lanes[0].nslots : MAX_ROWS;
    *lanes_drawn = nl;
    *rows_drawn = rows;
    const int w = 920, h = rows * ROW_H + 50;
    struct cp__plot p = {.x0 = 200, .y0 = 10, .x1 = w - 12, .y1 = 10 + rows * ROW_H};
    cp__svg_open(f, "chart-gantt", w, h, "Tries over time by executor, host and block");
    cp__svg_xaxis_secs(f, &p, c->t1 - c->t0);
    int base = 0;
    for (size_t l = 0; l < nl; l++) {
        double y = p.y0 + base * ROW_H;
        fprintf(f, "<line class=\"lane\" x1=\"0\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>"
                   "<text class=\"lanelabel\" x=\"4\" y=\"%.1f\">", y, w, y, y + 9);
        cp__h_esc(f, lanes[l].exec, 24);
        if (lanes[l].host[0]) {
            fputc(' ', f);
            cp__h_esc(f, lanes[l].host, 24);
        }
        if (lanes[l].block[0]) {
            fputs(" block ", f);
            cp__h_esc(f, lanes[l].block, 12);
        }
        fputs("</text>\n", f);
        for (size_t i = 0; i < n; i++) {
            int slot = tries[i].slot;
            if (tries[i].lane == (int)l && base + slot < rows)
                draw_try(c, &p, &tries[i], p.y0 + (base + slot) * ROW_H + 1);
        }
        base += lanes[l].nslots;
    }
    fputs("</svg>\n", f);
}

static int load(struct cp__rep_ctx *c, long k, long cap, struct gtry **out, size_t *nout,
                struct lane **lout, size_t *nlout, cp_err *err)
{
    sqlite3_stmt *st = cp__rep_prepare(c->r, sql, "reading the tries", err);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 2, k);
    sqlite3_bind_int64(st, 3, cap);
    struct gtry *t = calloc((size_t)cap + 1, sizeof *t);
    struct lane *lanes = NULL;
    size_t n = 0, nl = 0, lcap = 0;
    int rc, ret = 0;
    while (t && (rc = sqlite3_step(st)) == SQLITE_ROW && n < (size_t)cap) {
        const char *e = (const char *)sqlite3_column_text(st, 2);
        const char *h = (const char *)sqlite3_column_text(st, 3);
        const char *b = (const char *)sqlite3_column_text(st, 4);
        e = e ? e : "", h = h ? h : "", b = b ? b : "";
        if (nl == 0 || !same_lane(&lanes[nl - 1], e, h, b)) {
            if (nl == lcap) {
                lcap = lcap ? 2 * lcap : 16;
                struct lane *nlanes = realloc(lanes, lcap * sizeof *lanes);
                if (!nlanes) {
                    ret = cp__errf(err, ENOMEM, "out of memory");
                    break;
                }
                lanes = nlanes;
            }
            lanes[nl] = (struct lane){.exec = strdup(e), .host = strdup(h), .block = strdup(b)};
            if (!lanes[nl].exec || !lanes[nl].host || !lanes[nl].block)
                ret = cp__errf(err, ENOMEM, "out of memory");
            nl++;
        }
        struct gtry *g = &t[n++];
        const unsigned char *app = sqlite3_column_text(st, 9);
        *g = (struct gtry){
            .task = (long)sqlite3_column_int64(st, 0), .try_id = sqlite3_column_int(st, 1),
            .launched = cp__rep_time(sqlite3_column_text(st, 5)),
            .running = cp__rep_time(sqlite3_column_text(st, 6)),
            .returned = cp__rep_time(sqlite3_column_text(st, 7)),
            .failed = sqlite3_column_int(st, 8) != 0, .lane = (int)nl - 1,
            .app = app ? strdup((const char *)app) : NULL,
        };
        /* Greedy packing: the first row of the lane free when this try starts. */
        struct lane *l = &lanes[nl - 1];
        double start = isnan(g->launched) ? g->running : g->launched;
        double end = isnan(g->returned) ? c->t1 : g->returned;
        int s = 0;
        while (s < l->nslots && !(l->slot_end[s] <= start))
            s++;
        if (s == MAX_SLOTS)
            s = MAX_SLOTS - 1;
        else if (s == l->nslots)
            l->nslots++;
        l->slot_end[s] = end;
        g->slot = s;
    }
    if (!t)
        ret = cp__errf(err, ENOMEM, "out of memory");
    else if (ret == 0 && rc != SQLITE_ROW && rc != SQLITE_DONE)
        ret = cp__mon_sqlerr(err, c->r->db, rc, "%s: reading the tries", c->r->path);
    sqlite3_finalize(st);
    *out = t, *nout = n, *lout = lanes, *nlout = nl;
    return ret;
}

static void free_all(struct gtry *t, size_t n, struct lane *l, size_t nl)
{
    for (size_t i = 0; t && i < n; i++)
        free(t[i].app);
    for (size_t i = 0; l && i < nl; i++)
        free(l[i].exec), free(l[i].host), free(l[i].block);
    free(t);
    free(l);
}

int cp__rep_gantt(struct cp__rep_ctx *c, cp_err *err)
{
    FILE *f = c->f;
    long total = cp__rep_count(c->r, "SELECT count(*) FROM try WHERE run_id = ?1",
                               "counting the tries", err);
    if (total < 0)
        return -1;
    fputs("<section id=\"gantt\"><h2>Tries over time</h2>\n", f);
    if (total == 0) {
        fputs("<p class=\"none\" id=\"gantt-none\">No tries were launched.</p></section>\n", f);
        return 0;
    }
    long cap = c->o.gantt_tries, k = (total + cap - 1) / cap;
    struct gtry *t = NULL;
    struct lane *lanes = NULL;
    size_t n = 0, nl = 0, lanes_drawn = 0;
    int rows = 0;
    int ret = load(c, k, cap, &t, &n, &lanes, &nl, err);
    if (ret == 0) {
        fputs("<p class=\"note\">Each bar is a try: light while launched and waiting for a "
              "worker, then coloured while it ran (green ok, red failed, blue not returned). "
              "Rows are worker slots of each executor, host and block.</p>\n"
              "<div class=\"scroll\">", f);
        draw(c, t, n, lanes, nl, &lanes_drawn, &rows);
        fputs("</div>\n<p class=\"note\" id=\"gantt-note\">", f);
        if ((long)n < total) {
            fputs("Showing ", f);
            cp__h_count(f, (long)n);
            fputs(" of ", f);
            cp__h_count(f, total);
            fprintf(f, " tries (those of every %ld%s task by id). ", k, cp__h_ordinal(k));
        } else {
            fputs("All ", f);
            cp__h_count(f, total);
            fputs(" tries. ", f);
        }
        if (lanes_drawn < nl)
            fprintf(f, "%zu of %zu executor/host/block lanes fit in %d rows; the rest are "
                       "left out.", lanes_drawn, nl, MAX_ROWS);
        fputs("</p>\n", f);
    }
    fputs("</section>\n", f);
    free_all(t, n, lanes, nl);
    return ret;
}
