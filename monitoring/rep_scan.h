/* monitoring/rep_scan.h — one pass over a run's `status` rows: where every task
 * is now, and how many tasks were in each state over time.
 *
 * The status table holds every state a task entered (about three rows per task),
 * so a million-task run has millions of rows. They are read once, in task order,
 * with memory that does not grow with the run: the pass keeps only the task in
 * hand and fixed-size counters.
 */
#ifndef CP_MONITORING_REP_SCAN_H
#define CP_MONITORING_REP_SCAN_H

#include <stddef.h>

#include "monitoring/rep_db.h"

/* Parsl's state names, in the order the report lists them; REP_ST_OTHER counts a
 * name Parsl does not have (another tool's database). */
enum {
    REP_ST_PENDING, REP_ST_LAUNCHED, REP_ST_RUNNING, REP_ST_RUNNING_ENDED, REP_ST_JOINING,
    REP_ST_FAIL_RETRYABLE, REP_ST_EXEC_DONE, REP_ST_MEMO_DONE, REP_ST_FAILED,
    REP_ST_DEP_FAIL, REP_ST_OTHER, REP_NSTATES
};

/* What a chart shows: the states grouped as a user reads a run. */
enum { REP_CAT_PENDING, REP_CAT_LAUNCHED, REP_CAT_RUNNING, REP_CAT_DONE, REP_CAT_FAILED,
       REP_CAT_DEP_FAIL, REP_NCAT };

const char *cp__rep_state_name(int state);      /* "pending", …, "other" */
const char *cp__rep_cat_name(int cat);          /* "pending", "launched", "running", "done", … */
const char *cp__rep_cat_color(int cat);         /* "#rrggbb" */
int cp__rep_state_of(const char *name);         /* REP_ST_*, REP_ST_OTHER when unknown */
int cp__rep_cat_of_state(int state);            /* REP_CAT_* */

/* SQL that orders a try's states of the same microsecond as they happen (the
 * status table has no order of its own: ours is a view). */
#define CP__REP_STATE_RANK                                                                   \
    "CASE task_status_name WHEN 'pending' THEN 0 WHEN 'launched' THEN 1 WHEN 'running' "     \
    "THEN 2 WHEN 'running_ended' THEN 3 WHEN 'joining' THEN 4 ELSE 5 END"
/* True for the states a task does not leave. */
int cp__rep_state_final(int state);

struct cp__rep_scan_opts {
    double t0, t1;          /* the timeline's span (cp__rep_time clock); t1 > t0 */
    int bins;               /* timeline points; 0: no timeline */
    double recent_since;    /* count tasks that ended at or after this time; NAN: none */
    const long *want_ids;   /* sorted ascending: report these tasks' states; may be NULL */
    size_t nwant;
};

struct cp__rep_scan {
    long ntasks;            /* tasks with at least one status row */
    long state[REP_NSTATES];/* tasks by their latest state */
    long cat[REP_NCAT];     /* the same, grouped */
    long retried;           /* tasks that had a try after the first */
    long ended_recent;      /* tasks that reached a final state since recent_since */
    double last_time;       /* the latest status timestamp seen (NAN when none) */
    int bins;
    long *timeline;         /* bins × REP_NCAT: tasks in each group at the end of each bin */
    signed char *want_state;/* per want id: its latest REP_ST_*, or -1 when it has none */
};

/* Runs the pass over r's run. 0, or -1 with err. out is filled (and owns its
 * arrays: cp__rep_scan_free) even on failure, so it can always be freed. */
int cp__rep_scan(struct cp__rep_db *r, const struct cp__rep_scan_opts *o,
                 struct cp__rep_scan *out, cp_err *err) CP__WUR;
void cp__rep_scan_free(struct cp__rep_scan *s);

/* The span of r's run: from its start to its end, or to the latest status row
 * while it runs (at least 1 ms). */
int cp__rep_span(struct cp__rep_db *r, double *t0, double *t1, cp_err *err) CP__WUR;

#endif
