/* engine/observe.c — observers of task state changes (observe.h).
 *
 * The list is fixed while a run is live, so emitting reads it without a lock;
 * with no observer the engine pays one relaxed load per state change.
 */
#include <stdlib.h>

#include "common/util.h"
#include "engine/monitor.h"
#include "engine/observe.h"
#include "engine/task.h"

/* The gate the engine checks before building an event: observers + the
 * monitoring database when it is open. */
_Atomic int cp__nobservers;
static _Atomic int g_nobs;          /* entries of g_obs in use */
atomic_bool cp__interrupted;

static struct {
    cp__task_observer fn;
    void *arg;
} g_obs[CP_MAX_OBSERVERS];

int cp__observe_add(cp__task_observer fn, void *arg)
{
    int n = atomic_load(&g_nobs);
    if (!fn || n == CP_MAX_OBSERVERS || cp_run_dir())
        return -1;
    g_obs[n].fn = fn;
    g_obs[n].arg = arg;
    atomic_store(&g_nobs, n + 1);
    atomic_fetch_add(&cp__nobservers, 1);
    return 0;
}

void cp__observe_gate(int delta)
{
    atomic_fetch_add(&cp__nobservers, delta);
}

void cp__observe_clear(void)
{
    atomic_fetch_sub(&cp__nobservers, atomic_exchange(&g_nobs, 0));
}

void cp__observe_emit_(const struct cp_future *t, cp_state state)
{
    struct cp__task_event ev = {
        .id = t->id,
        .tag = t->tag,
        .app = t->job.app ? t->job.app->name : "-",
        .state = state,
        .try_id = t->job.try_id,
        .error = state == CP_FAILED || state == CP_DEP_FAIL || state == CP_FAIL_RETRYABLE
                     ? t->job.error : NULL,
        .executor = t->ex ? t->ex->label : NULL,
        .time = cp__now(),
    };
    cp__monitor_event((struct cp_future *)t, state, ev.time);
    int n = atomic_load_explicit(&g_nobs, memory_order_acquire);
    for (int i = 0; i < n; i++)
        g_obs[i].fn(g_obs[i].arg, &ev);
}

bool cp__dfk_interrupted(void)
{
    return atomic_load(&cp__interrupted);
}
