/* monitoring/rep_status.h — a run's state at one instant, for `parsl-run status`:
 * tasks by state, tries running, blocks and pools, rate and elapsed time. */
#ifndef CP_MONITORING_REP_STATUS_H
#define CP_MONITORING_REP_STATUS_H

#include <stdbool.h>

#include "monitoring/rep_db.h"
#include "monitoring/rep_scan.h"

#define CP__REP_MAX_BLOCK_STATES 8

struct cp__rep_status {
    bool ended;                 /* the workflow row has time_completed */
    double elapsed;             /* seconds from the start to the end, or to now */
    long ntasks, ntries, running_tries;
    long state[REP_NSTATES];    /* tasks by their latest state */
    long cat[REP_NCAT];         /* the same, grouped */
    long no_status;             /* tasks with no status row yet */
    long retried;
    long ended_total;           /* tasks in a final state */
    long ended_recent;          /* ... of which in the last `window` seconds */
    double window;
    long nblocks, nodes_active;
    int nblock_states;          /* blocks by their latest state */
    struct { char name[24]; long n; } block_state[CP__REP_MAX_BLOCK_STATES];
};

/* Reads it all in one read transaction (the workflow row too). window: how far
 * back the recent rate looks, in seconds. 0, or -1 with err. */
int cp__rep_status_read(struct cp__rep_db *r, double window, struct cp__rep_status *out,
                        cp_err *err) CP__WUR;

#endif
