/* monitoring/rep_scan.c — see rep_scan.h.
 *
 * The timeline is kept as changes: when a task moves from group A to group B at
 * time t, the bin of t gets +1 for B and -1 for A. A running sum over the bins
 * then gives how many tasks were in each group at the end of each bin, without
 * keeping any task's history. Rows come in task order: from a file Parsl made,
 * SQLite sorts its status table; from ours (rep_db.h, compact), the tables that
 * hold the statuses are read side by side in key order and each task's few
 * statuses are sorted here (scan_compact).
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

/* The earliest and latest status of a run in our tables: try 0's first pending
 * in cp_task, the rest in cp_try's s_* columns (a row's earliest and latest of
 * them: one pass over the table) and cp_status. */
#define NO_TIME "9223372036854775807"
#define LO(c) "ifnull(" c ", " NO_TIME ")"
#define HI(c) "ifnull(" c ", -" NO_TIME ")"
#define TRY_COLS(F) F("s_pending") ", " F("s_launched") ", " F("s_running") ", "             \
                    F("s_running_ended") ", " F("s_joining") ", " F("s_end")
static const char span_compact_sql[] =
    "SELECT min(lo), max(hi) FROM ("
    "SELECT min(s_pending) AS lo, max(s_pending) AS hi FROM cp_task WHERE run = " CP__REP_RUN
    " UNION ALL SELECT nullif(min(min(" TRY_COLS(LO) ")), " NO_TIME "), "
    "nullif(max(max(" TRY_COLS(HI) ")), -" NO_TIME ") FROM cp_try WHERE run = " CP__REP_RUN
    " UNION ALL SELECT min(ts), max(ts) FROM cp_status WHERE run = " CP__REP_RUN ")";

static double time_col(const struct cp__rep_db *r, sqlite3_stmt *st, int i)
{
    if (!r->compact)
        return cp__rep_time(sqlite3_column_text(st, i));
    return sqlite3_column_type(st, i) == SQLITE_NULL ? NAN
                                                     : cp__rep_time_us(sqlite3_column_int64(st, i));
}

int cp__rep_span(struct cp__rep_db *r, double *t0, double *t1, cp_err *err)
{
    *t0 = r->wf.began;
    *t1 = r->wf.completed;
    sqlite3_stmt *st = cp__rep_prepare(r, r->compact ? span_compact_sql
                                       : "SELECT min(timestamp), max(timestamp) FROM status "
                                         "WHERE run_id = ?1", "the run's time span", err);
    if (!st)
        return -1;
    int rc = cp__rep_step(r, st, "the run's time span", err);
    if (rc == SQLITE_ROW) {
        double lo = time_col(r, st, 0), hi = time_col(r, st, 1);
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
    long retried_task;      /* the last task counted as retried (valid when have_retried) */
    bool have_retried;
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

/* One status row, in the order task, time, try, rank. */
static void row(struct pass *p, long task, int state, double t, int try_id)
{
    struct cp__rep_scan *s = p->out;
    if (try_id > 0 && (!p->have_retried || p->retried_task != task)) {
        s->retried++;
        p->retried_task = task;
        p->have_retried = true;
    }
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

/* A file Parsl made: its status table, sorted by SQLite. */
static int scan_parsl(struct cp__rep_db *r, struct pass *p, cp_err *err)
{
    sqlite3_stmt *st = cp__rep_prepare(
        r, "SELECT task_id, task_status_name, timestamp, try_id FROM status WHERE run_id = ?1 "
           "ORDER BY task_id, timestamp, try_id, " CP__REP_STATE_RANK,
        "reading the status rows", err);
    if (!st)
        return -1;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        row(p, (long)sqlite3_column_int64(st, 0),
            cp__rep_state_of((const char *)sqlite3_column_text(st, 1)),
            cp__rep_time(sqlite3_column_text(st, 2)), sqlite3_column_int(st, 3));
    int ret = 0;
    if (rc != SQLITE_DONE)
        ret = cp__mon_sqlerr(err, r->db, rc, "%s: reading the status rows", r->path);
    sqlite3_finalize(st);
    return ret;
}

/* ---- Our tables. Sorting the status view (millions of rows, each time made
 * text) cost most of a report; instead the three tables a task's statuses live
 * in are read side by side in task order, as their keys give them, and each
 * task's few statuses are put in order here. */

struct ev {
    int64_t ts;
    int try_id, rank, state;
};

struct evbuf {
    struct ev *v;
    size_t n, cap;          /* grows to the most statuses one task has */
};

static int ev_add(struct evbuf *b, int64_t ts, int try_id, const char *name)
{
    if (b->n == b->cap) {
        size_t nc = b->cap ? 2 * b->cap : 16;
        struct ev *v = realloc(b->v, nc * sizeof *v);
        if (!v)
            return -1;
        b->v = v;
        b->cap = nc;
    }
    int state = cp__rep_state_of(name);
    /* CP__REP_STATE_RANK: the enum lists pending … joining first, in that order. */
    b->v[b->n++] = (struct ev){ts, try_id, state <= REP_ST_JOINING ? state : 5, state};
    return 0;
}

static bool ev_before(const struct ev *a, const struct ev *b)
{
    if (a->ts != b->ts)
        return a->ts < b->ts;
    if (a->try_id != b->try_id)
        return a->try_id < b->try_id;
    return a->rank < b->rank;
}

/* A cursor over one table: its current row's task, or none when at its end. */
struct cur {
    sqlite3_stmt *st;
    bool on;
    long task;
};

static int cur_next(struct cur *c)
{
    int rc = sqlite3_step(c->st);
    c->on = rc == SQLITE_ROW;
    if (c->on)
        c->task = (long)sqlite3_column_int64(c->st, 0);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static const char *const try_states[] = {"pending", "launched", "running", "running_ended",
                                         "joining"};

static int scan_compact(struct cp__rep_db *r, struct pass *p, cp_err *err)
{
    static const char *const sql[3] = {
        "SELECT task_id, s_pending FROM cp_task WHERE run = " CP__REP_RUN
        " AND s_pending IS NOT NULL ORDER BY task_id",
        "SELECT task_id, try_id, s_pending, s_launched, s_running, s_running_ended, s_joining, "
        "s_end, end_state FROM cp_try WHERE run = " CP__REP_RUN " ORDER BY task_id, try_id",
        "SELECT task_id, try_id, name, ts FROM cp_status WHERE run = " CP__REP_RUN
        " ORDER BY task_id",
    };
    struct cur c[3] = {{0}};
    struct evbuf b = {0};
    int ret = -1, rc = SQLITE_OK;
    for (int k = 0; k < 3; k++)
        if (!(c[k].st = cp__rep_prepare(r, sql[k], "reading the status rows", err)))
            goto out;
    for (int k = 0; k < 3 && rc == SQLITE_OK; k++)
        rc = cur_next(&c[k]);
    while (rc == SQLITE_OK && (c[0].on || c[1].on || c[2].on)) {
        long task = 0;
        bool first = true;
        for (int k = 0; k < 3; k++)
            if (c[k].on && (first || c[k].task < task))
                task = c[k].task, first = false;
        b.n = 0;
        int bad = 0;
        for (; rc == SQLITE_OK && c[0].on && c[0].task == task; rc = cur_next(&c[0]))
            bad |= ev_add(&b, sqlite3_column_int64(c[0].st, 1), 0, "pending");
        for (; rc == SQLITE_OK && c[1].on && c[1].task == task; rc = cur_next(&c[1])) {
            sqlite3_stmt *st = c[1].st;
            int try_id = sqlite3_column_int(st, 1);
            for (int i = 0; i < 6; i++) {
                if (sqlite3_column_type(st, 2 + i) == SQLITE_NULL)
                    continue;
                const char *name = i < 5 ? try_states[i] : (const char *)sqlite3_column_text(st, 8);
                bad |= ev_add(&b, sqlite3_column_int64(st, 2 + i), try_id, name);
            }
        }
        for (; rc == SQLITE_OK && c[2].on && c[2].task == task; rc = cur_next(&c[2]))
            bad |= ev_add(&b, sqlite3_column_int64(c[2].st, 3), sqlite3_column_int(c[2].st, 1),
                          (const char *)sqlite3_column_text(c[2].st, 2));
        if (bad) {
            cp__errf(err, ENOMEM, "out of memory");
            goto out;
        }
        for (size_t i = 1; i < b.n; i++) {         /* a handful each: insertion sort */
            struct ev e = b.v[i];
            size_t j = i;
            for (; j > 0 && ev_before(&e, &b.v[j - 1]); j--)
                b.v[j] = b.v[j - 1];
            b.v[j] = e;
        }
        for (size_t i = 0; i < b.n; i++)
            row(p, task, b.v[i].state, cp__rep_time_us(b.v[i].ts), b.v[i].try_id);
    }
    if (rc != SQLITE_OK)
        cp__mon_sqlerr(err, r->db, rc, "%s: reading the status rows", r->path);
    else
        ret = 0;
out:
    for (int k = 0; k < 3; k++)
        sqlite3_finalize(c[k].st);
    free(b.v);
    return ret;
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
    struct pass p = {.o = o, .out = out, .state = -1};
    int ret = r->compact ? scan_compact(r, &p, err) : scan_parsl(r, &p, err);
    if (p.state >= 0)
        close_task(&p);
    if (ret == 0 && out->timeline)     /* changes per bin -> tasks at each bin's end */
        for (int b = 1; b < o->bins; b++)
            for (int c = 0; c < REP_NCAT; c++)
                out->timeline[(size_t)b * REP_NCAT + c] +=
                    out->timeline[(size_t)(b - 1) * REP_NCAT + c];
    return ret;
}
