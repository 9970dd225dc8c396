/* monitoring/rep_parts.h — the sections of the report page (report.c puts them
 * together), internal to monitoring/. Each writes its <section> to c->f and
 * returns 0, or -1 with err when the database could not be read. */
#ifndef CP_MONITORING_REP_PARTS_H
#define CP_MONITORING_REP_PARTS_H

#include <stdio.h>

#include "monitoring/rep_db.h"
#include "monitoring/rep_scan.h"
#include "monitoring/report.h"

struct cp__rep_ctx {
    struct cp__rep_db *r;               /* borrowed */
    FILE *f;                            /* borrowed */
    struct cp__report_opts o;           /* every cap filled in */
    double t0, t1;                      /* the run's span (cp__rep_time clock) */
    struct cp__rep_scan scan;           /* the status pass */
};

/* Tries on a time axis, one row per worker slot, grouped by executor, host, block. */
int cp__rep_gantt(struct cp__rep_ctx *c, cp_err *err) CP__WUR;

/* The DAG is read in two steps around the status pass: load picks the tasks to
 * draw (their ids, sorted, for cp__rep_scan_opts.want_ids), write draws them
 * coloured by the states the pass found. */
struct cp__rep_dag;
struct cp__rep_dag *cp__rep_dag_load(struct cp__rep_ctx *c, cp_err *err);
const long *cp__rep_dag_ids(const struct cp__rep_dag *d, size_t *n);
int cp__rep_dag_write(struct cp__rep_ctx *c, struct cp__rep_dag *d, cp_err *err) CP__WUR;
void cp__rep_dag_free(struct cp__rep_dag *d);

/* Per app: tasks, tries, failed tries, and run time (running → returned). */
int cp__rep_apps(struct cp__rep_ctx *c, cp_err *err) CP__WUR;

/* CPU time and peak resident memory per try, from the resource samples. */
int cp__rep_resources(struct cp__rep_ctx *c, cp_err *err) CP__WUR;

/* Failed tries with their errors, and the dep_fail tasks with what they waited on. */
int cp__rep_failures(struct cp__rep_ctx *c, cp_err *err) CP__WUR;

/* Blocks: each block's latest state; nodes that registered. */
int cp__rep_blocks(struct cp__rep_ctx *c, cp_err *err) CP__WUR;

/* Column col of the task of row alias's task_id (?1 = run id), as a scalar
 * subquery rather than a join: SQLite materialises the whole task view for a
 * LEFT JOIN to it, and finds one task by its key here. NULL when there is none. */
#define CP__REP_TASK_COL(col, alias)                                                       \
    "(SELECT task." col " FROM task WHERE task.run_id = ?1 AND task.task_id = " alias       \
    ".task_id)"

/* A one-row integer query on r (?1 = run id); -1 with err on failure. */
long cp__rep_count(struct cp__rep_db *r, const char *sql, const char *what, cp_err *err);

#endif
