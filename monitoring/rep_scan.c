/* monitoring/rep_scan.c — see rep_scan.h.
 *
 * The timeline is kept as changes: when a task moves from group A to group B at
 * time t, the bin of t gets +1 for B and -1 for A. A running sum over the bins
 * then gives how many tasks were in each group at the end of each bin, without
 * keeping any task's history. Rows come in task order (the index on run_id and
 * task_id gives them so; SQLite sorts each task's few rows by time).
 */
#include "monitoring/rep_scan.h"


#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "monitoring/schema.h"

static const char *const state_names[REP_NSTATES] = {
    [REP_ST_PENDING] = "pending", [REP_ST_LAUNCHED] = "launched",
    [REP_ST_RUNNING] = "running", [REP_ST_RUNNING_ENDED] = "running_ended",
    [REP_ST_JOINING] = "joining", [REP_ST_FAIL_RETRYABLE] = "fail_retryable",
    [REP_ST_EXEC_DONE] = "exec_done", [REP_ST_MEMO_DONE] = "memo_done",
    [REP_ST_FAILED] = "failed", [REP_ST_DEP_FAIL] = "dep_fail", [REP_ST_OTHER] = "other",
};

static const char *const cat_names[REP_NCAT] = {
    "pending", "launched", "running", "done", "failed", "dep_fail",
};

/* Colour-blind-safe (Okabe–Ito) where it matters: done vs failed vs dep_fail. */
static const char *const cat_colors[REP_NCAT] = {
    "#bbbbbb", "#e69f00", "#56b4e9", "#009e73", "#d55e00", "#cc79a7",
};

const char *cp__rep_state_name(int s)
{
    return s >= 0 && s < REP_NSTATES ? state_names[s] : "other";
}

const char *cp__rep_cat_name(int c) { return c >= 0 && c < REP_NCAT ? cat_names[c] : "?"; }
const char *cp__rep_cat_color(int c) { return c >= 0 && c < REP_NCAT ? cat_colors[c] : "#000"; }

int cp__rep_state_of(const char *name)
{
    for (int s = 0; name && s < REP_ST_OTHER; s++)
        if (strcmp(name, state_names[s]) == 0)
            return s;
    return REP_ST_OTHER;
}

int cp__rep_cat_of_state(int s)
{
    switch (s) {
    case REP_ST_LAUNCHED: return REP_CAT_LAUNCHED;
    case REP_ST_RUNNING:
    case REP_ST_RUNNING_ENDED:
    case REP_ST_JOINING: return REP_CAT_RUNNING;
    case REP_ST_EXEC_DONE:
    case REP_ST_MEMO_DONE: return REP_CAT_DONE;
    case REP_ST_FAILED: return REP_CAT_FAILED;
    case REP_ST_DEP_FAIL: return REP_CAT_DEP_FAIL;
    default: return REP_CAT_PENDING;       /* pending, fail_retryable (waits to relaunch) */
    }
}

int cp__rep_state_final(int s)
{
    return s == REP_ST_EXEC_DONE || s == REP_ST_MEMO_DONE || s == REP_ST_FAILED ||
           s == REP_ST_DEP_FAIL;
}

void cp__rep_scan_free(struct cp__rep_scan *s)
{
    if (!s)
        return;
    free(s->timeline);
    free(s->want_state);
    s->timeline = NULL;
    s->want_state = NULL;
}

int cp__rep_span(struct cp__rep_db *r, double *t0, double *t1, cp_err *err)
{
    *t0 = r->wf.began;
    *t1 = r->wf.completed;
    sqlite3_stmt *st = cp__rep_prepare(r, "SELECT min(timestamp), max(timestamp) FROM status "
                                       "WHERE run_id = ?1", "the run's time span", err);
    if (!st)
        return -1;
    int rc = cp__rep_step(r, st, "the run's time span", err);
    if (rc == SQLITE_ROW) {
        double lo = cp__rep_time(sqlite3_column_text(st, 0));
        double hi = cp__rep_time(sqlite3_column_text(st, 1));
        if (isnan(*t0) || (!isnan(lo) && lo < *t0))
            *t0 = lo;
        if (isnan(*t1) || (!isnan(hi) && hi > *t1))
            *t1 = hi;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW)
        return -1;
    if (isnan(*t0))
        *t0 = isnan(*t1) ? 0 : *t1;
    if (isnan(*t1) || *t1 < *t0 + 0.001)
        *t1 = *t0 + 0.001;
    return 0;
}

struct pass {
    const struct cp__rep_scan_opts *o;
    struct cp__rep_scan *out;
    long task;              /* the task in hand (valid once state >= 0) */
    int state;              /* its latest state so far; -1 before the first row */
    size_t want_at;         /* the next want id not yet passed */
};

static int bin_of(const struct pass *p, double t)
{
    const struct cp__rep_scan_opts *o = p->o;
    if (isnan(t) || t <= o->t0)
        return 0;
    int b = (int)((t - o->t0) / (o->t1 - o->t0) * o->bins);
    return b >= o->bins ? o->bins - 1 : b;
}

/* The task in hand is complete: count where it ended. */
static void close_task(struct pass *p)
{
    struct cp__rep_scan *s = p->out;
    s->ntasks++;
    s->state[p->state]++;
    s->cat[cp__rep_cat_of_state(p->state)]++;
    const struct cp__rep_scan_opts *o = p->o;
    while (p->want_at < o->nwant && o->want_ids[p->want_at] < p->task)
        p->want_at++;
    if (p->want_at < o->nwant && o->want_ids[p->want_at] == p->task)
        s->want_state[p->want_at++] = (signed char)p->state;
}

static void row(struct pass *p, long task, int state, double t)
{
    struct cp__rep_scan *s = p->out;
    bool same = p->state >= 0 && task == p->task;
    if (!same && p->state >= 0)
        close_task(p);
    if (s->timeline) {
        long *b = s->timeline + (size_t)bin_of(p, t) * REP_NCAT;
        b[cp__rep_cat_of_state(state)]++;
        if (same)
            b[cp__rep_cat_of_state(p->state)]--;
    }
    if (!isnan(p->o->recent_since) && cp__rep_state_final(state) && t >= p->o->recent_since)
        s->ended_recent++;
    if (isnan(s->last_time) || t > s->last_time)
        s->last_time = t;
    p->task = task;
    p->state = state;
}

int cp__rep_scan(struct cp__rep_db *r, const struct cp__rep_scan_opts *o,
                 struct cp__rep_scan *out, cp_err *err)
{
    memset(out, 0, sizeof *out);
    out->last_time = NAN;
    if (o->bins > 0) {
        out->bins = o->bins;
        out->timeline = calloc((size_t)o->bins * REP_NCAT, sizeof *out->timeline);
    }
    if (o->nwant > 0 && (out->want_state = malloc(o->nwant)))
        memset(out->want_state, -1, o->nwant);
    if ((o->bins > 0 && !out->timeline) || (o->nwant > 0 && !out->want_state))
        return cp__errf(err, ENOMEM, "out of memory");
    sqlite3_stmt *st = cp__rep_prepare(
        r, "SELECT task_id, task_status_name, timestamp, try_id FROM status WHERE run_id = ?1 "
           "ORDER BY task_id, timestamp, try_id, " CP__REP_STATE_RANK, "reading the status rows", err);
    if (!st)
        return -1;
    struct pass p = {.o = o, .out = out, .state = -1};
    long retried_task = -1;
    bool have_retried = false;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        long task = (long)sqlite3_column_int64(st, 0);
        int state = cp__rep_state_of((const char *)sqlite3_column_text(st, 1));
        double t = cp__rep_time(sqlite3_column_text(st, 2));
        int try_id = sqlite3_column_int(st, 3);
        if (try_id > 0 && (!have_retried || retried_task != task)) {
            out->retried++;
            retried_task = task;
            have_retried = true;
        }
        row(&p, task, state, t);
    }
    if (p.state >= 0)
        close_task(&p);
    int ret = 0;
    if (rc != SQLITE_DONE)
        ret = cp__mon_sqlerr(err, r->db, rc, "%s: reading the status rows", r->path);
    sqlite3_finalize(st);
    if (ret == 0 && out->timeline)     /* changes per bin -> tasks at each bin's end */
        for (int b = 1; b < o->bins; b++)
            for (int c = 0; c < REP_NCAT; c++)
                out->timeline[(size_t)b * REP_NCAT + c] +=
                    out->timeline[(size_t)(b - 1) * REP_NCAT + c];
    return ret;
}
