/* engine/monitor.c — a run's rows in the monitoring database (monitoring/db.h,
 * docs/monitoring.md).
 *
 * The run opens the database at cp_load when its config asks for it and closes it
 * at cp_shutdown, after the executors, so every row of the run is in it. In
 * between, every task state change becomes a `status` row, a task's `task` row is
 * written when it is created and again when it ends (times, fail count), and each
 * try's `try` row when it is launched, when it runs and when it returns. The
 * writer copies what it is given and never blocks, so this runs on whatever
 * engine thread changed the state.
 */
#include "engine/monitor.h"

#include <errno.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "engine/observe.h"
#include "engine/task.h"
#include "executors/executor.h"
#include "monitoring/db.h"

/* The open database of the live run, or NULL. Set before the first task and
 * cleared after the last, under the engine's global lock. */
static _Atomic(struct cp__mon *) g_mon;

static void random_id(char out[37])
{
    unsigned char b[16];
    randombytes_buf(b, sizeof b);
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);   /* a version-4 UUID, as Parsl's run_id */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
             b[13], b[14], b[15]);
}

int cp__monitor_open(const struct cp__run_config *rc, const char *run_dir,
                     const char *default_name, cp_err *err)
{
    if (!rc->monitoring)
        return 0;
    char *path = NULL;
    if (rc->mon_db) {
        path = strdup(rc->mon_db);
    } else {
        /* runinfo/monitoring.db: beside the runs, shared by them (DESIGN §7). */
        const char *slash = strrchr(run_dir, '/');
        path = slash ? cp__strdup_printf("%.*s/monitoring.db", (int)(slash - run_dir), run_dir)
                     : strdup("monitoring.db");
    }
    if (!path)
        return cp__errf(err, ENOMEM, "out of memory opening the monitoring database");
    char run_id[37];
    random_id(run_id);
    struct cp__mon_opts o = {
        .path = path, .run_id = run_id,
        .workflow_name = rc->mon_workflow_name ? rc->mon_workflow_name : default_name,
        .workflow_version = rc->mon_workflow_version, .rundir = run_dir,
        .time_began = cp__now(),
    };
    struct cp__mon *m = cp__mon_open(&o, err);
    if (m)
        CP_INFO("monitoring", "run_id %s in %s (resource_interval %g s)", run_id, path,
                rc->mon_interval);
    free(path);
    if (!m)
        return -1;
    atomic_store(&g_mon, m);
    cp__observe_gate(+1);
    return 0;
}

struct cp__mon *cp__monitor_db(void)
{
    return atomic_load(&g_mon);
}

int cp__monitor_close(long done, long failed, cp_err *err)
{
    struct cp__mon *m = atomic_exchange(&g_mon, NULL);
    if (!m)
        return 0;
    cp__observe_gate(-1);
    struct cp__mon_stats st;
    cp__mon_get_stats(m, &st);
    int rc = cp__mon_close(m, cp__now(), (int)done, (int)failed, err);
    CP_INFO("monitoring", "closed: %llu rows in %llu commits (%llu retries while busy)%s%s",
            (unsigned long long)st.rows_queued, (unsigned long long)st.commits,
            (unsigned long long)st.busy_retries, rc ? ": " : "", rc && err ? err->text : "");
    return rc;
}

/* "3,7,12": the ids of the tasks t depends on, in buf when it fits, else in
 * memory the caller frees (*heap). NULL when t depends on nothing. */
static char *depends_text(const struct cp_future *t, char *buf, size_t size, char **heap)
{
    *heap = NULL;
    if (t->nparents == 0)
        return NULL;
    size_t cap = 1 + (size_t)t->nparents * 24;
    char *s = buf;
    if (cap > size && !(s = *heap = malloc(cap)))
        return NULL;
    if (cap > size)
        size = cap;
    size_t len = 0;
    s[0] = '\0';
    for (int i = 0; i < t->nparents; i++) {
        const struct cp_future *p = t->parents[i];
        if (p && p->dfk)        /* value and gather futures are not tasks */
            len += (size_t)snprintf(s + len, size - len, "%s%ld", len ? "," : "", p->id);
    }
    return s;
}

static void task_fill(struct cp__mon_task *row, const struct cp_future *t, const char *deps,
                      double now, bool ended)
{
    const struct cp__topts *o = t->opts;
    *row = (struct cp__mon_task){
        .task_id = t->id,
        .func_name = t->job.app ? t->job.app->name : NULL,
        .depends = deps,
        .memoize = "False",
        .stdout_path = o ? o->stdout_path : NULL,
        .stderr_path = o ? o->stderr_path : NULL,
        .time_invoked = t->t_invoked,
        .time_returned = ended ? now : 0,
        .fail_count = t->fail_count,
        .fail_cost = t->fail_cost,
    };
}

static void try_fill(struct cp__mon_try *row, const struct cp_future *t, double returned,
                     const char *fail_history)
{
    *row = (struct cp__mon_try){
        .task_id = t->id, .try_id = t->job.try_id,
        .executor = t->ex ? t->ex->label : NULL,
        .hostname = t->job.where_host, .block_id = t->job.where_block,
        .time_launched = t->t_launched, .time_running = t->t_running,
        .time_returned = returned, .fail_history = fail_history,
    };
}

/* One queued group per state change: the status and the task, try and end rows
 * it brings (cp__mon_change), so a no-op task costs the engine five copies. */
void cp__monitor_event(struct cp_future *t, cp_state state, double now)
{
    struct cp__mon *m = atomic_load_explicit(&g_mon, memory_order_acquire);
    if (!m || !t->dfk)
        return;
    struct cp__mon_try yrow, *y = NULL;
    struct cp__mon_task trow, *task = NULL;
    struct cp__mon_task_end erow, *end = NULL;
    char dbuf[256], *heap = NULL;
    switch (state) {
    case CP_PENDING:
        if (t->t_invoked == 0) {
            t->t_invoked = now;
            task_fill(&trow, t, depends_text(t, dbuf, sizeof dbuf, &heap), now, false);
            task = &trow;
        }
        break;
    case CP_LAUNCHED:
        t->t_launched = now, t->t_running = 0;
        try_fill(&yrow, t, 0, NULL);
        y = &yrow;
        break;
    case CP_RUNNING:
        t->t_running = now;
        try_fill(&yrow, t, 0, NULL);
        y = &yrow;
        break;
    case CP_FAIL_RETRYABLE:
        try_fill(&yrow, t, now, t->job.error);
        y = &yrow;
        break;
    case CP_EXEC_DONE:
    case CP_FAILED:
    case CP_DEP_FAIL:
    case CP_MEMO_DONE:
        if (t->t_launched > 0) {
            try_fill(&yrow, t, now, state == CP_FAILED ? t->job.error : NULL);
            y = &yrow;
        }
        if (t->t_invoked > 0) {
            erow = (struct cp__mon_task_end){t->id, now, t->fail_count, t->fail_cost};
            end = &erow;
        } else {                /* failed before it was ever pending */
            task_fill(&trow, t, depends_text(t, dbuf, sizeof dbuf, &heap), now, true);
            task = &trow;
        }
        break;
    default:
        break;
    }
    cp__mon_change(m, t->id, t->job.try_id, cp_state_name(state), now, y, task, end);
    free(heap);
}
