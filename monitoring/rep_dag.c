/* monitoring/rep_dag.c — the task graph coloured by state (rep_parts.h).
 *
 * Layered layout, left to right: a task's layer is one more than the deepest
 * task it depends on, so every edge points right. Within a layer, tasks are
 * ordered by the mean position of their parents (one barycentre sweep), which
 * removes most crossings of fan-out/fan-in graphs at no real cost.
 *
 * A big graph is cut to its first tasks by id (the engine numbers tasks as they
 * are created, so these are the start of the workflow and their dependencies are
 * among them); the page says how many are drawn and how many edges lead out.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "monitoring/rep_html.h"
#include "monitoring/rep_parts.h"
#include "monitoring/schema.h"

#define MAX_EDGES 6000
#define LABELS_UP_TO 60         /* above this many tasks, names are in tooltips only */

struct dnode {
    long id;
    char *app;
    int layer, pos;
    double key;
};

struct cp__rep_dag {
    long total;                 /* tasks in the run */
    size_t n;
    struct dnode *nodes;
    long *ids;                  /* sorted, for the status pass */
    size_t nedges, edges_out;   /* edges drawn; edges to tasks not drawn */
    int *from, *to;             /* node indexes, nedges each */
};

void cp__rep_dag_free(struct cp__rep_dag *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->n; i++)
        free(d->nodes[i].app);
    free(d->nodes);
    free(d->ids);
    free(d->from);
    free(d->to);
    free(d);
}

const long *cp__rep_dag_ids(const struct cp__rep_dag *d, size_t *n)
{
    *n = d ? d->n : 0;
    return d ? d->ids : NULL;
}

static int index_of(const struct cp__rep_dag *d, long id)
{
    size_t lo = 0, hi = d->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (d->ids[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < d->n && d->ids[lo] == id ? (int)lo : -1;
}

/* "3,7,12" → edges into node `to` from the drawn tasks among them. */
static void add_edges(struct cp__rep_dag *d, int to, const char *deps)
{
    for (const char *p = deps; p && *p;) {
        char *end;
        long id = strtol(p, &end, 10);
        if (end == p) {             /* not a number: skip to the next comma */
            p = strchr(p, ',');
            p = p ? p + 1 : NULL;
            continue;
        }
        int from = index_of(d, id);
        if (from < 0)
            d->edges_out++;
        else if (d->nedges < MAX_EDGES)
            d->from[d->nedges] = from, d->to[d->nedges++] = to;
        p = *end == ',' ? end + 1 : end;
        while (p && (*p == ' ' || *p == ','))
            p++;
    }
}

struct cp__rep_dag *cp__rep_dag_load(struct cp__rep_ctx *c, cp_err *err)
{
    struct cp__rep_dag *d = calloc(1, sizeof *d);
    if (!d) {
        cp__errf(err, ENOMEM, "out of memory");
        return NULL;
    }
    d->total = cp__rep_count(c->r, "SELECT count(*) FROM task WHERE run_id = ?1",
                             "counting the tasks", err);
    if (d->total < 0)
        goto error;
    size_t cap = (size_t)c->o.dag_tasks;
    d->nodes = calloc(cap, sizeof *d->nodes);
    d->ids = calloc(cap, sizeof *d->ids);
    d->from = calloc(MAX_EDGES, sizeof *d->from);
    d->to = calloc(MAX_EDGES, sizeof *d->to);
    char **deps = calloc(cap, sizeof *deps);
    if (!d->nodes || !d->ids || !d->from || !d->to || !deps) {
        free(deps);
        cp__errf(err, ENOMEM, "out of memory");
        goto error;
    }
    sqlite3_stmt *st = cp__rep_prepare(c->r, "SELECT task_id, task_func_name, task_depends "
                                       "FROM task WHERE run_id = ?1 ORDER BY task_id LIMIT ?2",
                                       "reading the task graph", err);
    int rc = SQLITE_DONE;
    if (st) {
        sqlite3_bind_int64(st, 2, (sqlite3_int64)cap);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW && d->n < cap) {
            const unsigned char *app = sqlite3_column_text(st, 1);
            const unsigned char *dep = sqlite3_column_text(st, 2);
            d->ids[d->n] = (long)sqlite3_column_int64(st, 0);
            d->nodes[d->n].id = d->ids[d->n];
            d->nodes[d->n].app = strdup(app ? (const char *)app : "");
            deps[d->n++] = dep ? strdup((const char *)dep) : NULL;
        }
        if (rc != SQLITE_DONE && rc != SQLITE_ROW)
            cp__mon_sqlerr(err, c->r->db, rc, "%s: reading the task graph", c->r->path);
        sqlite3_finalize(st);
    }
    for (size_t i = 0; i < d->n; i++) {
        add_edges(d, (int)i, deps[i]);
        free(deps[i]);
    }
    free(deps);
    if (!st || (rc != SQLITE_DONE && rc != SQLITE_ROW))
        goto error;
    return d;
error:
    cp__rep_dag_free(d);
    return NULL;
}

static int cmp_key(const void *a, const void *b)
{
    const struct dnode *x = *(struct dnode *const *)a, *y = *(struct dnode *const *)b;
    return x->key < y->key ? -1 : x->key > y->key ? 1 : (x->id > y->id) - (x->id < y->id);
}

/* Layers (longest path from a root), then positions within each layer. */
static int layout(struct cp__rep_dag *d, int *nlayers, int *widest)
{
    /* Edges are mostly from lower ids; a few passes settle any others, and the
     * bound keeps a (corrupt) cycle from looping. */
    for (int pass = 0; pass < 8; pass++) {
        bool changed = false;
        for (size_t e = 0; e < d->nedges; e++) {
            struct dnode *a = &d->nodes[d->from[e]], *b = &d->nodes[d->to[e]];
            if (b->layer < a->layer + 1 && a->layer + 1 < (int)d->n)
                b->layer = a->layer + 1, changed = true;
        }
        if (!changed)
            break;
    }
    int nl = 0;
    for (size_t i = 0; i < d->n; i++)
        if (d->nodes[i].layer + 1 > nl)
            nl = d->nodes[i].layer + 1;
    int *count = calloc((size_t)nl + 1, sizeof *count);
    double *sum = calloc(d->n + 1, sizeof *sum);
    int *nparents = calloc(d->n + 1, sizeof *nparents);
    struct dnode **order = calloc(d->n + 1, sizeof *order);
    if (!count || !sum || !nparents || !order) {
        free(count), free(sum), free(nparents), free(order);
        return -1;
    }
    for (size_t i = 0; i < d->n; i++)       /* first: by id within each layer */
        d->nodes[i].pos = count[d->nodes[i].layer]++;
    for (size_t e = 0; e < d->nedges; e++) {
        sum[d->to[e]] += d->nodes[d->from[e]].pos;
        nparents[d->to[e]]++;
    }
    for (size_t i = 0; i < d->n; i++) {
        struct dnode *x = &d->nodes[i];
        x->key = nparents[i] ? sum[i] / nparents[i] : x->pos;
        order[i] = x;
    }
    qsort(order, d->n, sizeof *order, cmp_key);
    memset(count, 0, ((size_t)nl + 1) * sizeof *count);
    int w = 0;
    for (size_t i = 0; i < d->n; i++) {
        order[i]->pos = count[order[i]->layer]++;
        if (count[order[i]->layer] > w)
            w = count[order[i]->layer];
    }
    free(count), free(sum), free(nparents), free(order);
    *nlayers = nl;
    *widest = w;
    return 0;
}

int cp__rep_dag_write(struct cp__rep_ctx *c, struct cp__rep_dag *d, cp_err *err)
{
    FILE *f = c->f;
    fputs("<section id=\"dag\"><h2>Task graph</h2>\n", f);
    if (d->n == 0) {
        fputs("<p class=\"none\" id=\"dag-none\">No tasks.</p></section>\n", f);
        return 0;
    }
    int nl = 0, widest = 0;
    if (layout(d, &nl, &widest) != 0)
        return cp__errf(err, ENOMEM, "out of memory");
    bool labels = d->n <= LABELS_UP_TO;
    const double colw = labels ? 150 : 36, rowh = labels ? 26 : 14;
    const int w = (int)(40 + (nl - 1) * colw + (labels ? 150 : 40));
    const int h = (int)(30 + (widest - 1) * rowh + 30);
    fputs("<div class=\"legendrow\">", f);
    for (int k = 0; k < REP_NCAT; k++)
        fprintf(f, "<span><i style=\"background:%s\"></i>%s</span>", cp__rep_cat_color(k),
                cp__rep_cat_name(k));
    fputs("</div>\n<div class=\"scroll\">", f);
    cp__svg_open(f, "chart-dag", w < 300 ? 300 : w, h, "Task graph coloured by state");
    fputs("<g class=\"edges\">", f);
    for (size_t e = 0; e < d->nedges; e++) {
        const struct dnode *a = &d->nodes[d->from[e]], *b = &d->nodes[d->to[e]];
        fprintf(f, "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\"/>",
                30 + a->layer * colw, 30 + a->pos * rowh, 30 + b->layer * colw,
                30 + b->pos * rowh);
    }
    fputs("</g>\n", f);
    for (size_t i = 0; i < d->n; i++) {
        const struct dnode *x = &d->nodes[i];
        int st = c->scan.want_state ? c->scan.want_state[i] : -1;
        int cat = st >= 0 ? cp__rep_cat_of_state(st) : REP_CAT_PENDING;
        double cx = 30 + x->layer * colw, cy = 30 + x->pos * rowh;
        fprintf(f, "<g class=\"node\" data-task=\"%ld\" data-state=\"%s\"><circle cx=\"%.0f\" "
                   "cy=\"%.0f\" r=\"%d\" fill=\"%s\"/><title>task %ld (", x->id,
                st >= 0 ? cp__rep_state_name(st) : "none", cx, cy, labels ? 7 : 5,
                cp__rep_cat_color(cat), x->id);
        cp__h_esc(f, x->app, 200);
        fprintf(f, "): %s</title>", st >= 0 ? cp__rep_state_name(st) : "no status yet");
        if (labels) {
            fprintf(f, "<text class=\"nodelabel\" x=\"%.0f\" y=\"%.0f\">", cx + 10, cy + 4);
            cp__h_esc(f, x->app, 18);
            fprintf(f, " %ld</text>", x->id);
        }
        fputs("</g>\n", f);
    }
    fputs("</svg></div>\n<p class=\"note\" id=\"dag-note\">", f);
    if ((long)d->n < d->total) {
        fputs("Showing the first ", f);
        cp__h_count(f, (long)d->n);
        fputs(" of ", f);
        cp__h_count(f, d->total);
        fputs(" tasks (by task id); the counts above cover every task. ", f);
    } else {
        fputs("All ", f);
        cp__h_count(f, d->total);
        fputs(" tasks. ", f);
    }
    if (d->edges_out > 0) {
        cp__h_count(f, (long)d->edges_out);
        fputs(" dependencies on tasks not drawn are left out. ", f);
    }
    if (d->nedges == MAX_EDGES)
        fprintf(f, "Only the first %d edges are drawn. ", MAX_EDGES);
    fputs("</p></section>\n", f);
    return 0;
}
