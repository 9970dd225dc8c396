/* engine/task.c — the life of a task: holds, dependencies, launch, tries,
 * retries, dependency failure, join completion and gathers. See task.h for the
 * protocol. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/log.h"
#include "common/util.h"
#include "engine/memo.h"
#include "engine/task.h"
#include "executors/app_invoke.h"

static void launch(struct cp_future *t);
static void join_complete(struct cp_future *t);

/* ------------------------------------------------------------ holds */

/* Task records alive in this process: lets tests check that finished tasks nobody
 * holds are really freed (a relaxed counter, not on any lock). */
atomic_long cp__live_tasks;

struct cp_future *cp__task_alloc(int nargs, uint8_t kind)
{
    struct cp_future *t = calloc(1, sizeof *t + (size_t)nargs * sizeof(struct cp_value));
    if (!t)
        return NULL;
    t->kind = kind;
    t->id = -1;
    t->tag = -1;
    t->cmd_try = -1;
    t->job.nargs = nargs;
    t->job.args = t->args;
    atomic_init(&t->rc, 1);
    atomic_init(&t->pending, 1);
    atomic_init(&t->state, CP_PENDING);
    atomic_init(&t->done, false);
    atomic_fetch_add_explicit(&cp__live_tasks, 1, memory_order_relaxed);
    return t;
}

void cp__task_incref(struct cp_future *t) { atomic_fetch_add_explicit(&t->rc, 1, memory_order_relaxed); }

static void opts_free(struct cp__topts *o)
{
    if (!o)
        return;
    free(o->stdout_path);
    free(o->stderr_path);
    for (size_t i = 0; i < o->noutputs; i++)
        cp__file_destroy(o->outputs[i]);
    free(o->outputs);
    free(o->output_paths);      /* the paths themselves belong to the files */
    if (o->env)
        for (char **e = o->env; *e; e++)
            free(*e);
    free(o->env);
    free(o);
}

void cp__task_release_parents(struct cp_future *t)
{
    for (int i = 0; i < t->nparents; i++)
        if (t->parents[i])
            cp__task_decref(t->parents[i]);
    free(t->parents);
    t->parents = NULL;
    t->nparents = 0;
}

void cp__task_decref(struct cp_future *t)
{
    if (atomic_fetch_sub_explicit(&t->rc, 1, memory_order_acq_rel) != 1)
        return;
    for (int i = 0; i < t->job.nargs; i++)
        cp__value_clear(&t->args[i]);
    cp__value_clear(&t->job.result);
    free(t->job.error);
    free((char *)t->job.cmd);
    if (t->job.joined)
        cp__task_decref(t->job.joined);
    cp__task_release_parents(t);
    free(t->dependents);
    opts_free(t->opts);
    free(t->memo_key);
    free(t);
    atomic_fetch_sub_explicit(&cp__live_tasks, 1, memory_order_relaxed);
}

/* ------------------------------------------------------------ readiness */

/* Tasks made ready while this thread is already launching are queued here and run
 * by the outermost call, so long chains (a failure running down 10^6 tasks) do not
 * recurse. job.next is free while a task is not with an executor. */
static __thread struct cp_future *ready_head, *ready_tail;
static __thread bool draining;

static void ready(struct cp_future *t)
{
    t->job.next = NULL;
    if (ready_tail)
        ready_tail->job.next = (struct cp__job *)t;
    else
        ready_head = t;
    ready_tail = t;
    if (draining)
        return;
    draining = true;
    while (ready_head) {
        struct cp_future *r = ready_head;
        ready_head = (struct cp_future *)r->job.next;
        if (!ready_head)
            ready_tail = NULL;
        r->job.next = NULL;
        if (atomic_load(&r->state) == CP_JOINING)
            join_complete(r);
        else
            launch(r);
    }
    draining = false;
}

static void dep_done(struct cp_future *child)
{
    if (atomic_fetch_sub_explicit(&child->pending, 1, memory_order_acq_rel) == 1)
        ready(child);
}

int cp__task_add_dependent(struct cp_future *parent, struct cp_future *t)
{
    struct cp__stripe *s = cp__stripe_of(parent);
    int rc = 0;
    pthread_mutex_lock(&s->mu);
    if (!atomic_load_explicit(&parent->done, memory_order_relaxed)) {
        rc = 1;
        if (parent->ndependents == parent->capdependents) {
            uint32_t cap = parent->capdependents ? parent->capdependents * 2 : 2;
            struct cp_future **d = realloc(parent->dependents, cap * sizeof *d);
            if (d) {
                parent->dependents = d;
                parent->capdependents = cap;
            } else {
                rc = -1;
            }
        }
        if (rc == 1)
            parent->dependents[parent->ndependents++] = t;
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

void cp__task_arm(struct cp_future *t)
{
    for (int i = 0; i < t->nparents; i++) {
        struct cp_future *p = t->parents[i];
        if (!p)
            continue;
        /* Count first: the parent may finish the moment it is linked. */
        atomic_fetch_add_explicit(&t->pending, 1, memory_order_relaxed);
        int rc = cp__task_add_dependent(p, t);
        if (rc != 1)
            atomic_fetch_sub_explicit(&t->pending, 1, memory_order_relaxed);
        if (rc < 0)
            t->edge_oom = true;     /* launch fails it rather than read a running parent */
    }
    dep_done(t);                /* drop the set-up guard */
}

/* ------------------------------------------------------------ final states */

void cp__task_finalize(struct cp_future *t, cp_state state)
{
    /* Observers hear of the final state before any waiter wakes, so whatever
     * they record is there when cp_future_wait returns. */
    if (t->kind == TK_APP || t->kind == TK_FAILED_CALL)
        cp__observe_emit(t, state);
    struct cp__stripe *s = cp__stripe_of(t);
    pthread_mutex_lock(&s->mu);
    atomic_store(&t->state, state);
    atomic_store(&t->done, true);
    struct cp_future **deps = t->dependents;
    uint32_t n = t->ndependents;
    t->dependents = NULL;
    t->ndependents = t->capdependents = 0;
    if (t->nwaiters)
        pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);

    if (state == CP_FAILED || state == CP_DEP_FAIL)
        CP_INFO("engine", "task %ld (%s) %s: %s", t->id,
                t->job.app ? t->job.app->name : "-", cp_state_name(state),
                t->job.error ? t->job.error : "");
    else
        CP_DEBUG("engine", "task %ld %s", t->id, cp_state_name(state));

    for (uint32_t i = 0; i < n; i++)
        dep_done(deps[i]);
    free(deps);
    if (t->dfk)
        cp__dfk_task_final(t->dfk, state);
    cp__task_decref(t);         /* the engine's hold */
}

void cp__task_fail_now(struct cp_future *t, cp_state state, char *msg)
{
    free(t->job.error);
    t->job.error = msg ? msg : strdup("failed (out of memory formatting the error)");
    cp__value_clear(&t->job.result);
    cp__task_finalize(t, state);
}

static const char *app_name(const struct cp_future *t)
{
    return t->job.app ? t->job.app->name : (t->kind == TK_GATHER ? "cp_gather" : "value");
}

/* ------------------------------------------------------------ tries */

static void submit_try(struct cp_future *t);

/* A try failed with cause (taken). Decide between a retry and failure. */
static void try_failed(struct cp_future *t, char *cause)
{
    struct cp__dfk *dfk = t->dfk;
    char *msg = cp__strdup_printf("task %ld (app '%s') try %d: %s", t->id, app_name(t),
                                  t->job.try_id, cause ? cause : "failed");
    free(cause);
    t->fail_count++;
    double cost = 1.0;
    char *handler_note = NULL;
    if (dfk && dfk->cfg.retry_handler && t->retries > 0) {
        cp_try_info info = {
            .task_id = t->id, .app = app_name(t), .try_id = t->job.try_id,
            .fail_count = t->fail_count, .fail_cost = t->fail_cost,
            .error = msg ? msg : "failed",
        };
        cost = dfk->cfg.retry_handler(&info, dfk->cfg.retry_handler_arg);
        if (isnan(cost) || cost < 0) {
            handler_note = cp__strdup_printf("; not retried: the retry handler failed "
                                             "(returned %g)", cost);
            cost = INFINITY;
        }
    }
    /* After an interrupt nothing is retried: the run is winding down. */
    bool retry = t->job.kind != CP_JOB_JOIN && t->fail_cost + cost <= (double)t->retries &&
                 !atomic_load_explicit(&cp__interrupted, memory_order_relaxed);
    if (retry) {
        t->fail_cost += cost;
        atomic_store(&t->state, CP_FAIL_RETRYABLE);
        if (cp__nobservers) {
            free(t->job.error);
            t->job.error = msg;     /* lent to the observers, taken back below */
            cp__observe_emit(t, CP_FAIL_RETRYABLE);
            t->job.error = NULL;
        }
        CP_INFO("engine", "%s; retrying (%d of %d)", msg ? msg : "try failed",
                t->fail_count, t->retries);
        free(msg);
        t->job.try_id++;
        atomic_store(&t->state, CP_PENDING);
        /* Through the ready queue, not a direct call: a try that fails before it
         * reaches an executor (a body that cannot render) would otherwise recurse
         * once per retry. Its parents are released, so launch just submits. */
        ready(t);
        return;
    }
    if (handler_note && msg) {
        char *both = cp__strdup_printf("%s%s", msg, handler_note);
        if (both) {
            free(msg);
            msg = both;
        }
    }
    free(handler_note);
    cp__task_fail_now(t, CP_FAILED, msg);
}

/* The job's outcome came back from an executor (hook, any thread). */
static void on_done(void *eng, struct cp__job *job)
{
    (void)eng;
    struct cp_future *t = (struct cp_future *)job;  /* job is the first member */
    if (job->failed || job->error || (job->kind == CP_JOB_JOIN && !job->joined)) {
        char *cause = job->error ? job->error : strdup("failed (no message: out of memory)");
        job->error = NULL;
        job->failed = false;
        cp__value_clear(&job->result);
        try_failed(t, cause);
        return;
    }
    if (job->kind == CP_JOB_JOIN) {
        atomic_store(&t->state, CP_JOINING);
        cp__observe_emit(t, CP_JOINING);
        atomic_store(&t->pending, 1);
        atomic_fetch_add(&t->pending, 1);
        int rc = cp__task_add_dependent(job->joined, t);
        if (rc != 1)
            atomic_fetch_sub(&t->pending, 1);
        if (rc < 0) {
            cp__task_fail_now(t, CP_FAILED, cp__strdup_printf(
                "task %ld (app '%s'): out of memory waiting for the joined future", t->id,
                app_name(t)));
            return;
        }
        dep_done(t);
        return;
    }
    atomic_store(&t->state, CP_RUNNING_ENDED);
    cp__observe_emit(t, CP_RUNNING_ENDED);
    if (t->memo_key && t->dfk && t->dfk->memo)
        cp__memo_done(t->dfk->memo, t);     /* finalizes, maybe after a commit */
    else
        cp__task_finalize(t, CP_EXEC_DONE);
}

static void on_running(void *eng, struct cp__job *job)
{
    (void)eng;
    atomic_store_explicit(&((struct cp_future *)job)->state, CP_RUNNING, memory_order_relaxed);
    cp__observe_emit((struct cp_future *)job, CP_RUNNING);
}

const struct cp__executor_hooks cp__dfk_hooks_template = {
    .running = on_running,
    .done = on_done,
};

/* Shell bodies run here, in the engine, each try: the command they return goes to
 * the executor. */
static int render_shell(struct cp_future *t)
{
    struct cp__ctx cx;
    cp__ctx_init(&cx, t->job.app, t->args, t->job.nargs, t->id, t->job.try_id);
    cp__app_invoke(&cx);
    free((char *)t->job.cmd);
    t->job.cmd = cx.shell_cmd;
    t->cmd_try = t->job.try_id;
    cx.shell_cmd = NULL;
    cp__value_clear(&cx.result);
    char *error = cx.error;
    bool failed = cx.failed || !t->job.cmd;
    cp__ctx_release(&cx);
    if (failed) {
        try_failed(t, error ? error : strdup("failed (no message: out of memory)"));
        return -1;
    }
    CP_DEBUG("engine", "task %ld try %d command: %s", t->id, t->job.try_id, t->job.cmd);
    return 0;
}

static void submit_try(struct cp_future *t)
{
    if (atomic_load_explicit(&cp__interrupted, memory_order_relaxed)) {
        try_failed(t, strdup("interrupted: not launched (the run was interrupted)"));
        return;
    }
    if (t->job.kind == CP_JOB_SHELL && t->cmd_try != t->job.try_id && render_shell(t) != 0)
        return;
    /* DESIGN §9: parents of declared outputs exist before the task runs. */
    for (size_t i = 0; i < t->job.noutputs; i++) {
        cp_err err = {0};
        if (cp__mkdir_parent(t->job.outputs[i], &err) != 0) {
            try_failed(t, strdup(err.text));
            return;
        }
    }
    t->job.timed_out = false;
    atomic_store(&t->state, CP_LAUNCHED);
    cp__observe_emit(t, CP_LAUNCHED);
    t->ex->ops->submit(t->ex, &t->job);
}

/* ------------------------------------------------------------ memoization */

static bool outputs_exist(const struct cp_future *t, const char **missing)
{
    for (size_t i = 0; i < t->job.noutputs; i++) {
        struct stat st;
        if (stat(t->job.outputs[i], &st) != 0) {
            *missing = t->job.outputs[i];
            return false;
        }
    }
    return true;
}

/* A cacheable task whose result is known ends memo_done without running; true
 * when t is taken care of (that, or its shell body failed to render and the try
 * was failed). Otherwise t keeps its key for checkpointing its result. */
static bool memo_hit(struct cp_future *t)
{
    struct cp__memo *m = t->dfk ? t->dfk->memo : NULL;
    if (!m || !t->opts || !t->opts->cache || t->job.kind == CP_JOB_JOIN)
        return false;
    if (t->job.kind == CP_JOB_SHELL && render_shell(t) != 0)
        return true;
    unsigned char key[CP_CKPT_KEY_LEN];
    if (!cp__memo_key(t, key))
        return false;
    struct cp_value v = {0};
    int found = cp__memo_lookup(m, key, &v);
    const char *missing = NULL;
    if (found == 1 && !outputs_exist(t, &missing)) {
        CP_INFO("memo", "task %ld (app '%s'): a result is checkpointed but output %s is "
                        "missing, so it runs again", t->id, app_name(t), missing);
        cp__value_clear(&v);
        found = 0;
    }
    if (found == 1) {
        cp__value_clear(&t->job.result);
        t->job.result = v;
        CP_DEBUG("memo", "task %ld (app '%s'): memo_done", t->id, app_name(t));
        cp__task_finalize(t, CP_MEMO_DONE);
        return true;
    }
    if (!t->memo_key)
        t->memo_key = malloc(CP_CKPT_KEY_LEN);
    if (t->memo_key)
        memcpy(t->memo_key, key, CP_CKPT_KEY_LEN);
    return false;
}

/* ------------------------------------------------------------ launch */

/* Every parent is final: either take their values or fail with the first failed
 * parent named. */
static void launch(struct cp_future *t)
{
    if (t->edge_oom) {
        cp__task_release_parents(t);
        cp__task_fail_now(t, CP_FAILED, cp__strdup_printf(
            "task %ld (app '%s'): out of memory recording a dependency", t->id, app_name(t)));
        return;
    }
    struct cp_future *failed = NULL;
    for (int i = 0; i < t->nparents && !failed; i++) {
        struct cp_future *p = t->parents[i];
        cp_state st = p ? (cp_state)atomic_load(&p->state) : CP_EXEC_DONE;
        if (st == CP_FAILED || st == CP_DEP_FAIL)
            failed = p;
    }
    if (failed && t->kind != TK_GATHER) {
        /* Name the direct parent and carry only the root cause along, so messages
         * stay one line long however deep the failure runs. */
        cp_state fst = (cp_state)atomic_load(&failed->state);
        const char *perr = failed->job.error ? failed->job.error : "failed";
        const char *root = fst == CP_DEP_FAIL ? strstr(perr, "; root cause: ") : NULL;
        char *msg = root
            ? cp__strdup_printf("task %ld (app '%s'): dependency failure: task %ld (app '%s') "
                                "dep_fail%s", t->id, app_name(t), failed->id,
                                app_name(failed), root)
            : cp__strdup_printf("task %ld (app '%s'): dependency failure: task %ld (app '%s') "
                                "%s; root cause: %s", t->id, app_name(t), failed->id,
                                app_name(failed), cp_state_name(fst), perr);
        cp__task_release_parents(t);
        cp__task_fail_now(t, CP_DEP_FAIL, msg);
        return;
    }
    if (t->kind == TK_GATHER) {
        cp__gather_complete(t);
        return;
    }
    for (int i = 0; i < t->job.nargs && i < t->nparents; i++) {
        struct cp_future *p = t->parents[i];
        /* A future argument takes the parent's value; a DataFuture keeps its file. */
        if (p && t->args[i].type == CP_NIL)
            cp__value_copy(&t->args[i], &p->job.result);
    }
    cp__task_release_parents(t);
    if (!memo_hit(t))
        submit_try(t);
}

/* A join task's inner future finished: its value or error becomes the join's. */
static void join_complete(struct cp_future *t)
{
    struct cp_future *inner = t->job.joined;
    cp_state st = (cp_state)atomic_load(&inner->state);
    char *msg = NULL;
    if (st == CP_EXEC_DONE || st == CP_MEMO_DONE)
        cp__value_copy(&t->job.result, &inner->job.result);
    else
        msg = cp__strdup_printf("task %ld (app '%s') try %d: joined task %ld (app '%s') "
                                "%s: %s", t->id, app_name(t), t->job.try_id, inner->id,
                                app_name(inner), cp_state_name(st),
                                inner->job.error ? inner->job.error : "");
    /* Let go of the inner future now rather than when t is freed: a join that
     * returns a join that returns a join… would otherwise free the whole chain
     * recursively when the outermost is released. */
    t->job.joined = NULL;
    cp__task_decref(inner);
    if (st == CP_EXEC_DONE || st == CP_MEMO_DONE)
        cp__task_finalize(t, CP_EXEC_DONE);
    else
        cp__task_fail_now(t, CP_FAILED, msg);
}
