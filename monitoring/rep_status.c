/* monitoring/rep_status.c — see rep_status.h. */
#include "monitoring/rep_status.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "monitoring/rep_parts.h"
#include "monitoring/schema.h"

static int block_states(struct cp__rep_db *r, struct cp__rep_status *s, cp_err *err)
{
    /* The latest row of each block (SQLite takes `status` from the max() row). */
    sqlite3_stmt *st = cp__rep_prepare(
        r, "SELECT status, count(*) FROM (SELECT status, max(timestamp) FROM block "
           "WHERE run_id = ?1 GROUP BY executor_label, block_id) GROUP BY status "
           "ORDER BY count(*) DESC", "reading blocks", err);
    if (!st)
        return -1;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        long n = (long)sqlite3_column_int64(st, 1);
        s->nblocks += n;
        if (s->nblock_states < CP__REP_MAX_BLOCK_STATES) {
            const unsigned char *name = sqlite3_column_text(st, 0);
            snprintf(s->block_state[s->nblock_states].name, sizeof s->block_state[0].name,
                     "%s", name ? (const char *)name : "?");
            s->block_state[s->nblock_states++].n = n;
        }
    }
    int ret = 0;
    if (rc != SQLITE_DONE)
        ret = cp__mon_sqlerr(err, r->db, rc, "%s: reading blocks", r->path);
    sqlite3_finalize(st);
    return ret;
}

static int read_all(struct cp__rep_db *r, double window, struct cp__rep_status *s, cp_err *err)
{
    if (cp__rep_reload(r, err) != 0)
        return -1;
    const struct cp__rep_workflow *w = &r->wf;
    s->ended = w->completed_text != NULL;
    double now = cp__rep_now();
    s->elapsed = (s->ended ? w->completed : now) - w->began;
    s->window = window;
    struct cp__rep_scan_opts o = {.t0 = 0, .t1 = 1, .recent_since = s->ended ? NAN : now - window};
    struct cp__rep_scan sc;
    int ret = cp__rep_scan(r, &o, &sc, err);
    if (ret == 0) {
        memcpy(s->state, sc.state, sizeof s->state);
        memcpy(s->cat, sc.cat, sizeof s->cat);
        s->retried = sc.retried;
        s->ended_recent = sc.ended_recent;
        for (int k = 0; k < REP_NSTATES; k++)
            if (cp__rep_state_final(k))
                s->ended_total += sc.state[k];
        s->ntasks = cp__rep_count(r, "SELECT count(*) FROM task WHERE run_id = ?1",
                                  "counting tasks", err);
        s->no_status = s->ntasks - sc.ntasks;
    }
    cp__rep_scan_free(&sc);
    if (ret != 0 || s->ntasks < 0)
        return -1;
    s->ntries = cp__rep_count(r, "SELECT count(*) FROM try WHERE run_id = ?1",
                              "counting tries", err);
    /* In our tables without the view's text times (one per try). */
    s->running_tries = s->ntries < 0 ? -1 : cp__rep_count(
        r, r->compact ? "SELECT count(*) FROM cp_try WHERE run = " CP__REP_RUN " AND tried "
                        "AND running IS NOT NULL AND returned IS NULL"
                      : "SELECT count(*) FROM try WHERE run_id = ?1 AND task_try_time_running "
                        "IS NOT NULL AND task_try_time_returned IS NULL",
        "counting running tries", err);
    s->nodes_active = s->running_tries < 0 ? -1 : cp__rep_count(
        r, "SELECT count(*) FROM (SELECT active, max(timestamp) FROM node WHERE run_id = ?1 "
           "GROUP BY uid) WHERE active", "counting pools", err);
    if (s->nodes_active < 0)
        return -1;
    return block_states(r, s, err);
}

int cp__rep_status_read(struct cp__rep_db *r, double window, struct cp__rep_status *out,
                        cp_err *err)
{
    memset(out, 0, sizeof *out);
    int rc = sqlite3_exec(r->db, "BEGIN", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return cp__mon_sqlerr(err, r->db, rc, "%s: starting a read", r->path);
    int ret = read_all(r, window, out, err);
    sqlite3_exec(r->db, "COMMIT", NULL, NULL, NULL);
    return ret;
}
