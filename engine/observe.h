/* engine/observe.h — what tools above the engine learn about a run while it runs:
 * every task state change as an event, an interrupt, and calls that carry extra
 * dependencies and a caller's tag. Used by parsl-run (progress, Ctrl-C) and, later,
 * the monitoring writer.
 *
 * Observers are registered before cp_load and removed after cp_shutdown; the list
 * is read without a lock while a run is live, so it must not change then.
 */
#ifndef CP_ENGINE_OBSERVE_H
#define CP_ENGINE_OBSERVE_H

#include <stdbool.h>

#include "cparsl.h"

struct cp__task_event {
    long id;                    /* task id */
    long tag;                   /* the caller's tag (cp__call_ex), else -1 */
    const char *app;            /* borrowed for the call */
    cp_state state;             /* the state entered */
    int try_id;
    const char *error;          /* failed / fail_retryable / dep_fail: the cause;
                                 * borrowed for the call, may be NULL */
    const char *executor;       /* label, or NULL */
    double time;                /* cp__now() */
};

/* Called on whatever thread changed the state, possibly with engine locks held
 * for nothing but the task itself: keep it short and never call back into
 * cp_call or cp_future_wait from it. */
typedef void (*cp__task_observer)(void *arg, const struct cp__task_event *ev);

/* 0, or -1 when CP_MAX_OBSERVERS are registered already or a run is loaded. */
#define CP_MAX_OBSERVERS 4
int cp__observe_add(cp__task_observer fn, void *arg);
void cp__observe_clear(void);

/* cp__call with `nafter` more tasks to wait for (borrowed; a failed one makes
 * this task dep_fail like a failed argument) and a tag echoed in its events. */
cp_future *cp__call_ex(const cp_app_def *app, const cp_opts *opts, int n, const cp_arg *args,
                       cp_future *const *after, size_t nafter, long tag);

/* Ctrl-C: tasks not launched yet fail "interrupted" without running, failed
 * tries are not retried, running shell commands are killed. Idempotent; call it
 * again while waiting (see the executor's interrupt). No-op when not loaded. */
void cp__dfk_interrupt(void);
bool cp__dfk_interrupted(void);

#endif
