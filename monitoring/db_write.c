/* monitoring/db_write.c — one batch of queued rows into the file (db_int.h).
 *
 * A task's rows (its start, its end) and a try's rows (the try as it advances,
 * every status of the try) are gathered first, in a table keyed by task (and
 * try), and then written with one statement each: a no-op task that starts and
 * ends between two commits costs two statements, where Parsl's tables took
 * seven. Rows of other kinds are written as they come.
 *
 * A try's statuses go into its cp_try row's s_* columns (try 0's first pending,
 * which comes with its task, into cp_task's). One that finds its column taken —
 * in the batch by another time, or in the file — becomes a cp_status row
 * instead, so nothing is lost; the same status at the same microsecond is the
 * same event sent twice, and is stored once (as Parsl's key on the timestamp
 * did). What the file holds is known from the open-try table below for tries
 * still running, and otherwise asked of SQLite only when a row thought new was
 * there after all.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "monitoring/db_int.h"
#include "monitoring/schema.h"

/* The s_* columns of cp_try, in the upsert's order; SLOT_END holds a try's final
 * state (its name in end_state). */
enum { SLOT_PENDING, SLOT_LAUNCHED, SLOT_RUNNING, SLOT_RUNNING_ENDED, SLOT_JOINING,
       SLOT_END, NSLOTS };

static const char *const slot_names[SLOT_END] = {
    "pending", "launched", "running", "running_ended", "joining",
};

static int slot_of(const char *name)
{
    for (int s = 0; s < SLOT_END; s++)
        if (strcmp(name, slot_names[s]) == 0)
            return s;
    if (strcmp(name, "exec_done") == 0 || strcmp(name, "failed") == 0 ||
        strcmp(name, "dep_fail") == 0 || strcmp(name, "memo_done") == 0 ||
        strcmp(name, "fail_retryable") == 0)
        return SLOT_END;
    return -1;
}

struct acc {
    int64_t task, try_;
    int cls;                            /* 1 try, 2 task */
    const struct cp__mon_row *row;      /* task: the latest full row; try: the latest try row */
    /* task */
    const struct cp__mon_row *end;      /* the latest end after row (or alone) */
    /* try */
    bool slot_set[NSLOTS];
    int64_t slot[NSLOTS];
    const char *end_state;
    int deferred;                       /* index of its first deferred status, or -1 */
    /* What the open-try table learns once the batch is committed. */
    enum { OT_NONE, OT_PUT, OT_DEL } ot_op;
    uint8_t ot_mask;
    int64_t ot_slot[SLOT_END];
};

/* A try written in an earlier batch that has not ended: which of its status
 * columns the file holds, and their times. A status whose column is taken is
 * then known without asking SQLite (asking — RETURNING — cost a third of the
 * writer's time). A try not in the table is inserted as new; only when the file
 * had it after all (it ended earlier, or memory for the table ran out) is SQLite
 * asked what its columns hold. */
struct open_try {
    int64_t task;
    int32_t try_;
    uint8_t used, mask;
    int64_t slot[SLOT_END];
};

/* Kept from batch to batch (fresh memory cost a page fault per few entries on
 * every commit): the batch's tasks and tries, in the order first seen, and a
 * hash index into them (entry + 1; 0 is empty), cleared for each batch. */
struct cp__mon_fold {
    struct acc *accs;
    size_t acc_cap;
    uint32_t *idx;
    size_t idx_cap;
    struct open_try *open;              /* linear probing; at most half full */
    size_t open_cap, nopen;
};

static size_t ot_hash(int64_t task, int64_t try_, size_t cap)
{
    uint64_t h = (uint64_t)task * 0x9E3779B97F4A7C15ull ^ (uint64_t)try_ * 0xC2B2AE3D27D4EB4Full;
    return (size_t)(h ^ (h >> 31)) & (cap - 1);
}

static struct open_try *ot_find(struct cp__mon_fold *f, int64_t task, int64_t try_)
{
    if (!f->nopen)
        return NULL;
    for (size_t i = ot_hash(task, try_, f->open_cap);; i = (i + 1) & (f->open_cap - 1)) {
        struct open_try *e = &f->open[i];
        if (!e->used)
            return NULL;
        if (e->task == task && e->try_ == try_)
            return e;
    }
}

/* Backward-shift deletion keeps every probe chain whole without tombstones. */
static void ot_del(struct cp__mon_fold *f, struct open_try *e)
{
    size_t cap = f->open_cap, i = (size_t)(e - f->open);
    for (size_t j = (i + 1) & (cap - 1); f->open[j].used; j = (j + 1) & (cap - 1)) {
        size_t home = ot_hash(f->open[j].task, f->open[j].try_, cap);
        /* j's entry may move to i unless its home lies cyclically in (i, j]. */
        bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!stays) {
            f->open[i] = f->open[j];
            i = j;
        }
    }
    f->open[i].used = 0;
    f->nopen--;
}

/* The entry of (task, try), added when missing; NULL when memory ran out (the
 * try is then asked about next time, which is only slower). */
static struct open_try *ot_put(struct cp__mon_fold *f, int64_t task, int64_t try_)
{
    struct open_try *e = ot_find(f, task, try_);
    if (e)
        return e;
    if (2 * (f->nopen + 1) > f->open_cap) {
        size_t ncap = f->open_cap ? 2 * f->open_cap : 1024;
        /* Written before it is read: calloc's zero pages, read first by ot_find,
         * then cost a copy-on-write fault and a TLB flush of every thread each. */
        struct open_try *n = malloc(ncap * sizeof *n);
        if (!n)
            return NULL;
        memset(n, 0, ncap * sizeof *n);
        for (size_t i = 0; i < f->open_cap; i++) {
            if (!f->open[i].used)
                continue;
            size_t j = ot_hash(f->open[i].task, f->open[i].try_, ncap);
            while (n[j].used)
                j = (j + 1) & (ncap - 1);
            n[j] = f->open[i];
        }
        free(f->open);
        f->open = n;
        f->open_cap = ncap;
    }
    size_t i = ot_hash(task, try_, f->open_cap);
    while (f->open[i].used)
        i = (i + 1) & (f->open_cap - 1);
    e = &f->open[i];
    *e = (struct open_try){.task = task, .try_ = (int32_t)try_, .used = 1};
    f->nopen++;
    return e;
}

/* After a commit: the open-try table follows what the batch wrote. */
static void ot_apply(struct cp__mon_fold *f, const struct acc *accs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct acc *a = &accs[i];
        if (a->cls != 1 || a->ot_op == OT_NONE)
            continue;
        struct open_try *e = ot_find(f, a->task, a->try_);
        if (a->ot_op == OT_DEL) {
            if (e)
                ot_del(f, e);
            continue;
        }
        if (!e && !(e = ot_put(f, a->task, a->try_)))
            continue;
        for (int s = 0; s < SLOT_END; s++)
            if (a->ot_mask & (1u << s) && !(e->mask & (1u << s))) {
                e->mask |= (uint8_t)(1u << s);
                e->slot[s] = a->ot_slot[s];
            }
    }
}

/* Larger ones are freed after their batch (a backlog after a long lock), not
 * kept for the whole run. */
#define KEEP_ACCS (1u << 15)

struct batch {
    struct cp__mon *m;
    struct cp__mon_fold *f;
    uint32_t *idx;
    size_t cap;                         /* of idx, a power of two */
    size_t nacc;
    uint64_t written, ignored;
    /* Statuses of a try whose column another status of the batch took: whether
     * they repeat what the file ends up holding is known once the try is written. */
    struct deferred {
        const char *name;
        int64_t ts;
        int slot, next;
    } *def;
    size_t ndef, capdef;
};

static bool refused_log(struct cp__mon *m, int rc, const char *what)
{
    if (!cp__mon_row_refused(rc))
        return false;
    CP_WARN("monitoring", "a %s row was not stored: %s", what, sqlite3_errmsg(m->db));
    return true;
}

/* Runs st (bound) to its end. SQLITE_OK, or the error; a refused row is counted
 * as ignored and is SQLITE_OK. */
static int run(struct batch *b, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    while (rc == SQLITE_ROW)
        rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        rc = SQLITE_OK;
    } else if (refused_log(b->m, rc, what)) {
        b->ignored++;
        rc = SQLITE_OK;
    }
    sqlite3_reset(st);          /* keeps the error and its message for the caller */
    return rc;
}

static int extra_status(struct batch *b, int64_t task, int64_t try_, const char *name,
                        int64_t ts)
{
    sqlite3_stmt *st = b->m->st[S_STATUS];
    int rc = sqlite3_bind_int64(st, 2, task);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 3, try_);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(st, 4, name, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 5, ts);
    return rc == SQLITE_OK ? run(b, st, "status") : rc;
}

/* The entry of (cls, task, try), added when missing; NULL when memory ran out.
 * Valid until the next call. */
static struct acc *find(struct batch *b, int cls, int64_t task, int64_t try_)
{
    struct cp__mon_fold *f = b->f;
    uint64_t h = ((uint64_t)task * 0x9E3779B97F4A7C15ull) ^ ((uint64_t)try_ << 1) ^ (uint64_t)cls;
    size_t i = (size_t)(h ^ (h >> 29)) & (b->cap - 1);
    for (; b->idx[i]; i = (i + 1) & (b->cap - 1)) {
        struct acc *a = &f->accs[b->idx[i] - 1];
        if (a->cls == cls && a->task == task && a->try_ == try_)
            return a;
    }
    if (b->nacc == f->acc_cap) {
        size_t nc = f->acc_cap ? 2 * f->acc_cap : 1024;
        struct acc *n = realloc(f->accs, nc * sizeof *n);
        if (!n)
            return NULL;
        f->accs = n;
        f->acc_cap = nc;
    }
    struct acc *a = &f->accs[b->nacc];
    *a = (struct acc){.task = task, .try_ = try_, .cls = cls, .deferred = -1};
    b->idx[i] = (uint32_t)++b->nacc;
    return a;
}

/* A status row into its try's slot; SQLITE_OK or an error of the extra row. */
static int add_status(struct batch *b, const struct cp__mon_row *r)
{
    int64_t task = r->v[0].i, try_ = r->v[1].i;
    const char *name = r->v[2].s;
    int64_t ts = cp__mon_local_us(r->v[3].d);
    int s = slot_of(name);
    if (s < 0)
        return extra_status(b, task, try_, name, ts);
    /* Try 0's pending comes with the task, before there is a try: its task's. */
    struct acc *a = s == SLOT_PENDING && try_ == 0 ? find(b, 2, task, 0) : find(b, 1, task, try_);
    if (!a)
        return SQLITE_NOMEM;
    if (!a->slot_set[s]) {
        a->slot_set[s] = true;
        a->slot[s] = ts;
        if (s == SLOT_END)
            a->end_state = name;
        return SQLITE_OK;
    }
    if (a->slot[s] == ts && (s != SLOT_END || strcmp(a->end_state, name) == 0)) {
        b->ignored++;
        return SQLITE_OK;
    }
    if (b->ndef == b->capdef) {
        size_t nc = b->capdef ? 2 * b->capdef : 64;
        struct deferred *d = realloc(b->def, nc * sizeof *d);
        if (!d)
            return SQLITE_NOMEM;
        b->def = d;
        b->capdef = nc;
    }
    /* Appended to the try's list, so they are resolved in the order they came. */
    b->def[b->ndef] = (struct deferred){name, ts, s, -1};
    int *link = &a->deferred;
    while (*link >= 0)
        link = &b->def[*link].next;
    *link = (int)b->ndef++;
    return SQLITE_OK;
}

/* The statuses of a that waited for its columns (add_status): the same event as
 * what a column now holds is stored once, anything else as a cp_status row. */
static int resolve_deferred(struct batch *b, const struct acc *a, const bool fin_set[NSLOTS],
                            const int64_t fin[NSLOTS], const char *fin_end)
{
    int rc = SQLITE_OK;
    for (int d = a->deferred; d >= 0 && rc == SQLITE_OK; d = b->def[d].next) {
        const struct deferred *x = &b->def[d];
        bool same = fin_set[x->slot] && fin[x->slot] == x->ts &&
                    (x->slot != SLOT_END || (fin_end && strcmp(fin_end, x->name) == 0));
        if (same)
            b->ignored++;
        else
            rc = extra_status(b, a->task, a->try_, x->name, x->ts);
    }
    return rc;
}

/* Steps st to its end; *held is the first column of its row (what the column
 * holds after the statement), *got whether there was a row. SQLITE_DONE or the
 * error. */
static int step_returning(sqlite3_stmt *st, bool *got, int64_t *held, bool *held_null)
{
    int rc = sqlite3_step(st);
    *got = rc == SQLITE_ROW;
    if (*got) {
        *held_null = sqlite3_column_type(st, 0) == SQLITE_NULL;
        *held = sqlite3_column_int64(st, 0);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW)
            ;
    }
    return rc;
}

/* The task's row (new: one INSERT; sent again: replaced, keeping the pending
 * it had), or its end alone, and its first pending. */
static int write_task(struct batch *b, struct acc *a)
{
    struct cp__mon *m = b->m;
    bool pend = a->slot_set[SLOT_PENDING];
    struct cp__mon_val pv = pend ? (struct cp__mon_val){.t = V_INT, .i = a->slot[SLOT_PENDING]}
                                 : (struct cp__mon_val){.t = V_NULL};
    bool fin_set[NSLOTS] = {false};
    int64_t fin[NSLOTS] = {0};
    int rc = SQLITE_OK;
    if (a->row) {
        struct cp__mon_val v[N_TASK + 1];
        memcpy(v, a->row->v, N_TASK * sizeof *v);
        if (a->end) {                   /* its end came in the same batch */
            v[11] = a->end->v[1];       /* returned */
            v[12] = a->end->v[2];       /* fail_count */
            v[13] = a->end->v[3];       /* fail_cost */
        }
        v[N_TASK] = pv;
        sqlite3_stmt *st = m->st[S_TASK_NEW];
        if ((rc = cp__mon_bind(st, v, N_TASK + 1, false)) != SQLITE_OK)
            return rc;
        rc = sqlite3_step(st);
        bool added = rc == SQLITE_DONE && sqlite3_changes(m->db) > 0;
        sqlite3_reset(st);
        if (rc != SQLITE_DONE)
            return rc;
        if (added) {
            fin_set[SLOT_PENDING] = pend, fin[SLOT_PENDING] = pv.i;
        } else {
            st = m->st[S_TASK];
            if ((rc = cp__mon_bind(st, v, N_TASK + 1, false)) != SQLITE_OK)
                return rc;
            bool got, null;
            rc = step_returning(st, &got, &fin[SLOT_PENDING], &null);
            fin_set[SLOT_PENDING] = got && !null;
            if (rc != SQLITE_DONE && refused_log(m, rc, "task")) {
                b->ignored++;
                rc = SQLITE_DONE;
            }
            sqlite3_reset(st);
            if (rc != SQLITE_DONE)
                return rc;
        }
    } else {
        if (a->end) {
            sqlite3_stmt *st = m->st[S_TASK_END];
            if ((rc = cp__mon_bind(st, a->end->v, N_TASK_END, false)) != SQLITE_OK ||
                (rc = run(b, st, "task")) != SQLITE_OK)
                return rc;
        }
        if (pend) {                     /* a pending without its task row: rare */
            sqlite3_stmt *st = m->st[S_TASK_PENDING];
            struct cp__mon_val v[2] = {{.t = V_INT, .i = a->task}, pv};
            if ((rc = cp__mon_bind(st, v, 2, false)) != SQLITE_OK)
                return rc;
            bool got, null;
            rc = step_returning(st, &got, &fin[SLOT_PENDING], &null);
            fin_set[SLOT_PENDING] = got && !null;
            sqlite3_reset(st);
            if (rc != SQLITE_DONE)
                return rc;
        }
    }
    rc = SQLITE_OK;
    if (pend && !(fin_set[SLOT_PENDING] && fin[SLOT_PENDING] == pv.i))
        rc = extra_status(b, a->task, 0, "pending", pv.i);
    return rc == SQLITE_OK ? resolve_deferred(b, a, fin_set, fin, NULL) : rc;
}

/* The try's row: its fields when a try row came (tried = 1), its statuses into
 * the free s_* columns. A try the open-try table knows is upserted, and a status
 * whose column the table says is taken becomes a cp_status row instead (the same
 * time is the same event, stored once). A try it does not know is inserted as
 * new; when the file had it after all (it ended, or memory ran out), it is
 * upserted and the row says what its columns hold. */
static int write_try(struct batch *b, struct acc *a)
{
    struct cp__mon *m = b->m;
    bool put[NSLOTS];
    memcpy(put, a->slot_set, sizeof put);
    struct open_try *e = ot_find(b->f, a->task, a->try_);
    int rc = SQLITE_OK;
    for (int s = 0; e && s < SLOT_END && rc == SQLITE_OK; s++) {
        if (!put[s] || !(e->mask & (1u << s)))
            continue;
        put[s] = false;
        if (e->slot[s] == a->slot[s])
            b->ignored++;
        else
            rc = extra_status(b, a->task, a->try_, slot_names[s], a->slot[s]);
    }
    if (rc != SQLITE_OK)
        return rc;
    struct cp__mon_val v[18];
    v[0] = (struct cp__mon_val){.t = V_INT, .i = a->task};
    v[1] = (struct cp__mon_val){.t = V_INT, .i = a->try_};
    v[2] = (struct cp__mon_val){.t = V_INT, .i = a->row != NULL};
    for (int i = 0; i < 8; i++)         /* block_id … joins: the try row's 3rd to 10th */
        v[3 + i] = a->row ? a->row->v[2 + i] : (struct cp__mon_val){.t = V_NULL};
    for (int s = 0; s < NSLOTS; s++)
        v[11 + s] = put[s] ? (struct cp__mon_val){.t = V_INT, .i = a->slot[s]}
                           : (struct cp__mon_val){.t = V_NULL};
    v[17] = put[SLOT_END] ? (struct cp__mon_val){.t = V_TEXT, .s = a->end_state}
                          : (struct cp__mon_val){.t = V_NULL};
    bool check = false;
    sqlite3_stmt *st = m->st[e ? S_TRY : S_TRY_NEW];
    if ((rc = cp__mon_bind(st, v, 18, false)) != SQLITE_OK)
        return rc;
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE && !e && sqlite3_changes(m->db) == 0) {
        sqlite3_reset(st);
        check = true;
        st = m->st[S_TRY_CHECK];
        if ((rc = cp__mon_bind(st, v, 18, false)) != SQLITE_OK)
            return rc;
        rc = sqlite3_step(st);
    }
    /* What the row holds now (S_TRY_CHECK only). */
    int64_t have[NSLOTS] = {0};
    bool have_set[NSLOTS] = {false};
    char have_end[32] = "";
    if (rc == SQLITE_ROW) {
        for (int s = 0; s < NSLOTS; s++) {
            have_set[s] = sqlite3_column_type(st, s) != SQLITE_NULL;
            have[s] = sqlite3_column_int64(st, s);
        }
        const unsigned char *end = sqlite3_column_text(st, NSLOTS);
        snprintf(have_end, sizeof have_end, "%s", end ? (const char *)end : "");
        while ((rc = sqlite3_step(st)) == SQLITE_ROW)
            ;
    }
    if (rc != SQLITE_DONE) {
        bool refused = refused_log(m, rc, "try");
        sqlite3_reset(st);
        if (!refused)
            return rc;
        b->ignored++;
        return SQLITE_OK;
    }
    sqlite3_reset(st);
    /* What the try's columns hold now. */
    int64_t fin[NSLOTS];
    bool fin_set[NSLOTS];
    const char *fin_end = a->end_state;
    for (int s = 0; s < NSLOTS; s++) {
        if (check)
            fin_set[s] = have_set[s], fin[s] = have[s];
        else if (e && s < SLOT_END && (e->mask & (1u << s)))
            fin_set[s] = true, fin[s] = e->slot[s];
        else
            fin_set[s] = a->slot_set[s], fin[s] = a->slot[s];
    }
    if (check)
        fin_end = have_end;
    rc = SQLITE_OK;
    for (int s = 0; check && s < NSLOTS && rc == SQLITE_OK; s++) {
        if (!put[s])
            continue;
        const char *name = s == SLOT_END ? a->end_state : slot_names[s];
        bool kept = fin_set[s] && fin[s] == a->slot[s] &&
                    (s != SLOT_END || strcmp(fin_end, name) == 0);
        if (!kept)                      /* the column held another time (or name) */
            rc = extra_status(b, a->task, a->try_, name, a->slot[s]);
    }
    if (rc == SQLITE_OK)
        rc = resolve_deferred(b, a, fin_set, fin, fin_end);
    a->ot_mask = 0;
    for (int s = 0; s < SLOT_END; s++)
        if (fin_set[s]) {
            a->ot_mask |= (uint8_t)(1u << s);
            a->ot_slot[s] = fin[s];
        }
    a->ot_op = fin_set[SLOT_END] ? OT_DEL : OT_PUT;
    return rc;
}

static int write_row(struct batch *b, const struct cp__mon_row *r)
{
    struct cp__mon *m = b->m;
    static const enum stmt direct[K_COUNT] = {
        [K_BLOCK] = S_BLOCK, [K_NODE] = S_NODE, [K_RESOURCE] = S_RESOURCE, [K_END] = S_END,
    };
    static const char *const names[K_COUNT] = {
        [K_BLOCK] = "block", [K_NODE] = "node", [K_RESOURCE] = "resource", [K_END] = "workflow",
    };
    sqlite3_stmt *st = m->st[direct[r->kind]];
    int rc = cp__mon_bind(st, r->v, r->n, r->kind != K_RESOURCE);
    if (rc != SQLITE_OK)
        return rc;
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        rc = SQLITE_OK;
        if (r->kind != K_END && sqlite3_changes(m->db) == 0)
            b->ignored++;       /* a block row whose key was there: the same event */
    } else if (refused_log(m, rc, names[r->kind])) {
        b->ignored++;
        rc = SQLITE_OK;
    }
    sqlite3_reset(st);
    return rc;
}

/* Gathers the batch's tasks and tries and writes everything else as it comes;
 * the run's completion (K_END) last. */
static int write_all(struct batch *b, const struct cp__mon_chunk *chunks)
{
    int rc = SQLITE_OK;
    const struct cp__mon_row *end = NULL;
    uint64_t rows = 0;
    for (const struct cp__mon_chunk *c = chunks; c && rc == SQLITE_OK; c = c->next) {
        for (size_t off = 0; off < c->used && rc == SQLITE_OK;) {
            const struct cp__mon_row *r = (const struct cp__mon_row *)(c->data + off);
            off += r->size;
            rows += r->kind != K_END;
            switch (r->kind) {
            case K_TASK: {
                struct acc *a = find(b, 2, r->v[0].i, 0);
                if (!a)
                    rc = SQLITE_NOMEM;
                else
                    a->row = r, a->end = NULL;  /* a later full row is the truth (db.h) */
                break;
            }
            case K_TASK_END: {
                struct acc *a = find(b, 2, r->v[0].i, 0);
                if (!a)
                    rc = SQLITE_NOMEM;
                else
                    a->end = r;
                break;
            }
            case K_TRY: {
                struct acc *a = find(b, 1, r->v[0].i, r->v[1].i);
                if (!a)
                    rc = SQLITE_NOMEM;
                else
                    a->row = r;
                break;
            }
            case K_STATUS:
                rc = add_status(b, r);
                break;
            case K_END:
                end = r;
                break;
            default:
                rc = write_row(b, r);
                break;
            }
        }
    }
    for (size_t i = 0; i < b->nacc && rc == SQLITE_OK; i++) {
        struct acc *a = &b->f->accs[i];
        rc = a->cls == 2 ? write_task(b, a) : write_try(b, a);
    }
    if (rc == SQLITE_OK && end)
        rc = write_row(b, end);
    b->written = rows - b->ignored;
    return rc;
}

int cp__mon_write_batch(struct cp__mon *m, const struct cp__mon_chunk *chunks,
                        uint64_t *written, uint64_t *ignored)
{
    size_t n = 0;                       /* rows: at least the tasks and tries */
    for (const struct cp__mon_chunk *c = chunks; c; c = c->next)
        n += c->rows;
    size_t cap = 16;
    while (cap < 2 * n)
        cap <<= 1;
    struct cp__mon_fold *f = m->fold;
    if (!f && !(f = m->fold = calloc(1, sizeof *f))) {
        cp__mon_note_failure(m, SQLITE_NOMEM);          /* the rows stay queued */
        return SQLITE_NOMEM;
    }
    if (f->idx_cap < cap) {
        free(f->idx);
        f->idx_cap = 0;
        if (!(f->idx = malloc(cap * sizeof *f->idx))) {
            cp__mon_note_failure(m, SQLITE_NOMEM);
            return SQLITE_NOMEM;
        }
        f->idx_cap = cap;
    }
    memset(f->idx, 0, cap * sizeof *f->idx);
    struct batch b = {.m = m, .f = f, .idx = f->idx, .cap = cap};
    int rc = sqlite3_exec(m->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = write_all(&b, chunks);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(m->db, "COMMIT", NULL, NULL, NULL);
    free(b.def);
    if (rc == SQLITE_OK)
        ot_apply(f, f->accs, b.nacc);
    if (f->acc_cap > KEEP_ACCS) {       /* the open tries stay */
        free(f->accs);
        free(f->idx);
        f->accs = NULL;
        f->idx = NULL;
        f->acc_cap = f->idx_cap = 0;
    }
    if (rc != SQLITE_OK) {
        cp__mon_note_failure(m, rc);
        if (!sqlite3_get_autocommit(m->db))
            sqlite3_exec(m->db, "ROLLBACK", NULL, NULL, NULL);
        return rc;
    }
    *written = b.written;
    *ignored = b.ignored;
    return SQLITE_OK;
}

void cp__mon_fold_free(struct cp__mon *m)
{
    if (!m->fold)
        return;
    free(m->fold->accs);
    free(m->fold->idx);
    free(m->fold->open);
    free(m->fold);
    m->fold = NULL;
}
