/* monitoring/report.h — one run of a monitoring database as one self-contained
 * HTML page (parsl-run report; docs/monitoring.md, "The report").
 *
 * The page needs nothing from the network: styles, charts (inline SVG) and a few
 * lines of script are in the file. Everything is aggregated in SQL or in one
 * streaming pass, and the per-try and per-task pictures (the Gantt chart, the
 * DAG, the failure list, resource columns) are capped, sampled evenly when the
 * run is bigger, with a note in the page saying what is shown of how many. So a
 * run of a million tasks gives a page of a few hundred kilobytes.
 */
#ifndef CP_MONITORING_REPORT_H
#define CP_MONITORING_REPORT_H

#include <stdio.h>

#include "common/err.h"
#include "monitoring/rep_db.h"

/* Caps on what is drawn one by one; 0 takes the default in brackets. */
struct cp__report_opts {
    int gantt_tries;        /* tries in the Gantt chart [2000] */
    int dag_tasks;          /* tasks in the DAG [300] */
    int failures;           /* failed tries and dep_fail tasks listed [200] */
    int resource_tries;     /* tries in the CPU and memory charts [400] */
};

/* Writes the page for r's run to out (borrowed; the caller closes it and checks
 * for write errors). The reads run in one read transaction, so a live run is
 * shown as of one instant. 0, or -1 with err. */
int cp__report_write(struct cp__rep_db *r, const struct cp__report_opts *o, FILE *out,
                     cp_err *err) CP__WUR;

#endif
