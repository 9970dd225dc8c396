/* engine/future.c — reading futures, waiting on them from any thread, and the two
 * futures that are not app calls: cp_value_future and cp_gather.
 *
 * Waiting uses 64 striped mutex/condvar pairs chosen by the record's address
 * rather than one pair per task, which keeps a task record small (a million
 * pending tasks would otherwise carry 88 MB of pthread objects). A finishing task
 * broadcasts on its stripe only when it has waiters.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/util.h"
#include "engine/task.h"
#include "executors/app_invoke.h"

#define NSTRIPES 64

static struct cp__stripe stripes[NSTRIPES];
static pthread_once_t stripes_once = PTHREAD_ONCE_INIT;

static void stripes_init(void)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    for (int i = 0; i < NSTRIPES; i++) {
        pthread_mutex_init(&stripes[i].mu, NULL);
        pthread_cond_init(&stripes[i].cv, &ca);
    }
    pthread_condattr_destroy(&ca);
}

struct cp__stripe *cp__stripe_of(const struct cp_future *t)
{
    pthread_once(&stripes_once, stripes_init);
    uintptr_t h = (uintptr_t)t;
    h ^= h >> 17;
    h *= 0x9E3779B97F4A7C15ull;
    return &stripes[(h >> 58) & (NSTRIPES - 1)];
}

const char *cp_state_name(cp_state s)
{
    switch (s) {
    case CP_PENDING: return "pending";
    case CP_RUNNING: return "running";
    case CP_EXEC_DONE: return "exec_done";
    case CP_FAILED: return "failed";
    case CP_DEP_FAIL: return "dep_fail";
    case CP_LAUNCHED: return "launched";
    case CP_FAIL_RETRYABLE: return "fail_retryable";
    case CP_MEMO_DONE: return "memo_done";
    case CP_JOINING: return "joining";
    case CP_RUNNING_ENDED: return "running_ended";
    default: return "unknown";
    }
}

static bool succeeded(const struct cp_future *f)
{
    cp_state s = (cp_state)atomic_load(&f->state);
    return s == CP_EXEC_DONE || s == CP_MEMO_DONE;
}

/* Returns 0 when final, 1 on time-out (deadline < 0: none). */
static int wait_final(cp_future *f, double deadline)
{
    if (atomic_load_explicit(&f->done, memory_order_acquire))
        return 0;
    struct cp__stripe *s = cp__stripe_of(f);
    int rc = 0;
    pthread_mutex_lock(&s->mu);
    f->nwaiters++;
    while (!atomic_load_explicit(&f->done, memory_order_relaxed)) {
        if (deadline < 0) {
            pthread_cond_wait(&s->cv, &s->mu);
            continue;
        }
        if (cp__mono() >= deadline) {
            rc = 1;
            break;
        }
        struct timespec ts;
        ts.tv_sec = (time_t)deadline;
        ts.tv_nsec = (long)((deadline - (double)ts.tv_sec) * 1e9);
        pthread_cond_timedwait(&s->cv, &s->mu, &ts);
    }
    f->nwaiters--;
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int cp_future_wait(cp_future *f)
{
    if (!f)
        return -1;
    wait_final(f, -1);
    return succeeded(f) ? 0 : -1;
}

int cp_future_wait_for(cp_future *f, double seconds)
{
    if (!f)
        return -1;
    if (isnan(seconds) || seconds < 0)
        seconds = 0;
    /* Beyond a billion seconds (or infinity) is "no limit": a deadline that far
     * would overflow time_t in the timed wait and spin. */
    if (seconds > 1e9)
        return cp_future_wait(f);
    if (wait_final(f, cp__mono() + seconds))
        return 1;
    return succeeded(f) ? 0 : -1;
}

bool cp_future_done(const cp_future *f)
{
    return f && atomic_load_explicit(&f->done, memory_order_acquire);
}

cp_state cp_future_state(const cp_future *f)
{
    return f ? (cp_state)atomic_load(&f->state) : CP_FAILED;
}

long cp_future_id(const cp_future *f) { return f ? f->id : -1; }

const cp_value *cp_future_value(cp_future *f)
{
    if (cp_future_wait(f) != 0)
        return NULL;
    return &f->job.result;
}

long cp_future_int(cp_future *f) { return cp_value_int(cp_future_value(f)); }
double cp_future_double(cp_future *f) { return cp_value_double(cp_future_value(f)); }
bool cp_future_bool(cp_future *f) { return cp_value_bool(cp_future_value(f)); }
const char *cp_future_str(cp_future *f) { return cp_value_str(cp_future_value(f)); }

const char *cp_future_error(const cp_future *f)
{
    if (!f)
        return "NULL future";
    if (!atomic_load_explicit(&f->done, memory_order_acquire) || succeeded(f))
        return NULL;
    return f->job.error ? f->job.error : "failed";
}

cp_file *cp_future_output(cp_future *f, size_t i)
{
    if (!f || !f->opts || i >= f->opts->noutputs)
        return NULL;
    return f->opts->outputs[i];
}

void cp_future_release(cp_future *f)
{
    if (!f)
        return;
    /* Inside a join body the hold is tracked for automatic release; forget it
     * there so it is not released twice. */
    struct cp__ctx *cx = cp__ctx_current();
    if (cx && cx->collect_futures)
        (void)cp__ctx_disown(cx, f);
    cp__task_decref(f);
}

/* ------------------------------------------------------------ value futures */

cp_future *cp_value_future(cp_value *v)
{
    struct cp_future *t = cp__task_alloc(0, TK_VALUE);
    if (!t) {
        cp_value_free(v);
        return NULL;
    }
    if (v) {
        t->job.result = *v;     /* move the contents, free the box */
        free(v);
    }
    atomic_store(&t->state, CP_EXEC_DONE);
    atomic_store(&t->done, true);
    struct cp__ctx *cx = cp__ctx_current();
    if (cx && cx->collect_futures)
        (void)cp__ctx_adopt(cx, t);
    return t;
}

/* ------------------------------------------------------------ gather */

cp_future *cp_gather(cp_future *const *futures, size_t n)
{
    bool too_many = n > CP_VALUE_MAX_LEN;
    struct cp_future *t = cp__task_alloc(too_many ? 0 : (int)n, TK_GATHER);
    if (!t)
        return NULL;
    cp__task_incref(t);         /* the caller's hold; the other is the engine's */
    struct cp__ctx *cx = cp__ctx_current();
    if (cx && cx->collect_futures)
        (void)cp__ctx_adopt(cx, t);
    if (too_many) {
        cp__task_fail_now(t, CP_FAILED, cp__strdup_printf("cp_gather: %zu futures is more "
                                                           "than the %u a list may hold",
                                                           n, CP_VALUE_MAX_LEN));
        return t;
    }
    if (n && !(t->parents = calloc(n, sizeof *t->parents))) {
        cp__task_fail_now(t, CP_FAILED, strdup("cp_gather: out of memory"));
        return t;
    }
    t->nparents = (int)n;
    for (size_t i = 0; i < n; i++) {
        if (!futures || !futures[i]) {
            for (size_t j = 0; j < i; j++)
                cp__task_decref(t->parents[j]);
            free(t->parents);
            t->parents = NULL;
            t->nparents = 0;
            cp__task_fail_now(t, CP_FAILED,
                              futures ? cp__strdup_printf("cp_gather: member %zu is NULL", i)
                                      : strdup("cp_gather: NULL list of futures"));
            return t;
        }
        cp__task_incref(futures[i]);
        t->parents[i] = futures[i];
    }
    cp__task_arm(t);
    return t;
}

/* Every member is final (called from launch). */
void cp__gather_complete(struct cp_future *t)
{
    size_t nfailed = 0;
    for (int i = 0; i < t->nparents; i++)
        if (!succeeded(t->parents[i]))
            nfailed++;
    if (nfailed) {
        /* Name every failed member: one line each, as Parsl's JoinError does. */
        char *msg = NULL;
        size_t cap = 0;
        FILE *mf = open_memstream(&msg, &cap);
        if (mf) {
            fprintf(mf, "cp_gather: %zu of %d members failed", nfailed, t->nparents);
            for (int i = 0; i < t->nparents; i++) {
                struct cp_future *p = t->parents[i];
                if (!succeeded(p))
                    fprintf(mf, "\n  member %d (task %ld): %s", i, p->id,
                            p->job.error ? p->job.error : "failed");
            }
            fclose(mf);
        }
        for (int i = 0; i < t->nparents; i++)
            cp__task_decref(t->parents[i]);
        free(t->parents);
        t->parents = NULL;
        t->nparents = 0;
        cp__task_fail_now(t, CP_FAILED, msg);
        return;
    }
    bool ok = cp__value_list(&t->job.result, (size_t)t->nparents) == 0;
    for (int i = 0; i < t->nparents; i++) {
        struct cp_value item;
        cp__value_copy(&item, &t->parents[i]->job.result);
        if (ok && cp__value_list_add(&t->job.result, &item) != 0)
            ok = false;
        if (!ok)
            cp__value_clear(&item);
        cp__task_decref(t->parents[i]);
    }
    free(t->parents);
    t->parents = NULL;
    t->nparents = 0;
    if (!ok)
        cp__task_fail_now(t, CP_FAILED, strdup("cp_gather: out of memory"));
    else
        cp__task_finalize(t, CP_EXEC_DONE);
}
