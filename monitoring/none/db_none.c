/* monitoring/none/db_none.c — the monitoring database's functions for
 * parsl-worker, which never writes one (monitoring/db.h).
 *
 * A pool links the whole library so that app libraries find every public
 * function in it, but nothing in a pool opens a monitoring database: the engine
 * does that. Linking these instead of db.c keeps SQLite out of every pool and
 * worker process (about 0.3 MB of RSS each, and its start-up relocations).
 */
#include <errno.h>

#include "monitoring/db.h"

struct cp__mon *cp__mon_open(const struct cp__mon_opts *o, cp_err *err)
{
    (void)o;
    cp__errf(err, ENOTSUP, "parsl-worker does not write monitoring databases");
    return NULL;
}

void cp__mon_task(struct cp__mon *m, const struct cp__mon_task *t) { (void)m, (void)t; }

void cp__mon_task_end(struct cp__mon *m, long task_id, double time_returned, int fail_count,
                      double fail_cost)
{
    (void)m, (void)task_id, (void)time_returned, (void)fail_count, (void)fail_cost;
}

void cp__mon_status(struct cp__mon *m, long task_id, int try_id, const char *state_name,
                    double time)
{
    (void)m, (void)task_id, (void)try_id, (void)state_name, (void)time;
}

void cp__mon_try(struct cp__mon *m, const struct cp__mon_try *t) { (void)m, (void)t; }

void cp__mon_change(struct cp__mon *m, long task_id, int try_id, const char *state_name,
                    double time, const struct cp__mon_try *try_row,
                    const struct cp__mon_task *task_row, const struct cp__mon_task_end *end)
{
    (void)m, (void)task_id, (void)try_id, (void)state_name, (void)time, (void)try_row;
    (void)task_row, (void)end;
}

void cp__mon_block(struct cp__mon *m, const char *executor, const char *block_id,
                   const char *job_id, const char *status, double time)
{
    (void)m, (void)executor, (void)block_id, (void)job_id, (void)status, (void)time;
}

void cp__mon_node(struct cp__mon *m, const struct cp__mon_node *n) { (void)m, (void)n; }

void cp__mon_resource(struct cp__mon *m, const struct cp__mon_resource *r) { (void)m, (void)r; }

void cp__mon_resources(struct cp__mon *m, const struct cp__mon_resource *r, size_t n)
{
    (void)m, (void)r, (void)n;
}

void cp__mon_get_stats(struct cp__mon *m, struct cp__mon_stats *out)
{
    (void)m;
    if (out)
        *out = (struct cp__mon_stats){0};
}

int cp__mon_close(struct cp__mon *m, double time_completed, int tasks_completed,
                  int tasks_failed, cp_err *err)
{
    (void)m, (void)time_completed, (void)tasks_completed, (void)tasks_failed, (void)err;
    return 0;
}
