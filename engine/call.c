/* engine/call.c — cp_call: from C arguments and options to a task in the DAG.
 *
 * Problems with the call itself (before cp_load, a NULL future argument, an unknown
 * executor) give a future that has already failed with the reason, never a crash,
 * so user code has one way to learn about every failure.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "engine/observe.h"
#include "engine/task.h"
#include "executors/app_invoke.h"

/* A future born failed, counted as a task of the run when there is one. */
static cp_future *failed_call(struct cp__dfk *dfk, const cp_app_def *app, long id, char *msg)
{
    struct cp_future *t = cp__task_alloc(0, TK_FAILED_CALL);
    if (!t) {
        free(msg);
        if (dfk)
            cp__dfk_task_final(dfk, CP_FAILED);
        return NULL;
    }
    t->dfk = dfk;
    t->id = id;
    t->job.app = app;
    t->job.task_id = id;
    cp__task_incref(t);         /* the caller's hold; finalize drops the engine's */
    cp__task_fail_now(t, CP_FAILED, msg);
    return t;
}

/* Converts one C argument into t->args[i] (and a parent when it is a future or
 * DataFuture). 0, or -1 with err. Errors go into a fixed buffer, not a fresh
 * string, so running out of memory can never read as "no error". */
static int convert_arg(struct cp_future *t, int i, const cp_arg *a, cp_err *err)
{
    struct cp_value *v = &t->args[i];
    int rc = 0;
    switch (a->kind) {
    case CP__ARG_LONG: cp__value_int(v, a->u.i); break;
    case CP__ARG_DOUBLE: cp__value_double(v, a->u.d); break;
    case CP__ARG_BOOL: cp__value_bool(v, a->u.b); break;
    case CP__ARG_STR:
        if (a->u.s)
            rc = cp__value_str(v, a->u.s, strlen(a->u.s));
        break;
    case CP__ARG_BYTES:
        if (a->u.y.len && !a->u.y.data)
            return cp__errf(err, EINVAL, "argument %d: cp_bytes with NULL data and length %zu",
                            i + 1, a->u.y.len);
        rc = cp__value_bytes(v, a->u.y.data, a->u.y.len);
        break;
    case CP__ARG_VALUE:
        if (a->u.v)
            cp__value_copy(v, a->u.v);
        break;
    case CP__ARG_FUTURE:
        if (!a->u.f)
            return cp__errf(err, EINVAL, "argument %d is a NULL future", i + 1);
        cp__task_incref(a->u.f);
        t->parents[i] = a->u.f;
        break;
    case CP__ARG_FILE:
        if (!a->u.file)
            return cp__errf(err, EINVAL, "argument %d is a NULL cp_file", i + 1);
        rc = cp__value_file(v, a->u.file->url, strlen(a->u.file->url));
        if (rc == 0 && a->u.file->producer) {
            cp__task_incref(a->u.file->producer);
            t->parents[i] = a->u.file->producer;
        }
        break;
    default:
        return cp__errf(err, EINVAL, "argument %d has an unknown kind %d", i + 1, a->kind);
    }
    if (rc == 0)
        return 0;
    if (errno == E2BIG)
        return cp__errf(err, E2BIG, "argument %d is larger than the %u-byte limit of a value",
                        i + 1, CP_VALUE_MAX_LEN);
    return cp__errf(err, ENOMEM, "out of memory copying argument %d", i + 1);
}

static size_t count_files(cp_file *const *list)
{
    size_t n = 0;
    while (list && list[n])
        n++;
    return n;
}

static char *env_entry(const char *name, double value, bool integral)
{
    return integral ? cp__strdup_printf("%s=%ld", name, (long)value)
                    : cp__strdup_printf("%s=%g", name, value);
}

/* Copies what the task keeps of its options. 0, or -1 with err. */
static int copy_opts(struct cp_future *t, const cp_opts *o, const char *run_logs, cp_err *err)
{
    bool shell = t->job.kind == CP_JOB_SHELL;
    size_t nout = o ? count_files(o->outputs) : 0;
    bool needed = shell || nout || (o && (o->cores || o->memory_mb || o->disk_mb ||
                                          o->running_time > 0 || o->cache));
    if (!needed)
        return 0;
    struct cp__topts *to = calloc(1, sizeof *to);
    if (!to)
        return cp__errf(err, ENOMEM, "out of memory copying the options");
    t->opts = to;
    if (o) {
        to->cores = o->cores;
        to->memory_mb = o->memory_mb;
        to->disk_mb = o->disk_mb;
        to->running_time = o->running_time;
        to->cache = o->cache;
        t->job.stdout_append = o->stdout_append;
        t->job.stderr_append = o->stderr_append;
    }
    if (nout) {
        to->outputs = calloc(nout, sizeof *to->outputs);
        to->output_paths = calloc(nout, sizeof *to->output_paths);
        if (!to->outputs || !to->output_paths)
            return cp__errf(err, ENOMEM, "out of memory copying the options");
        for (size_t i = 0; i < nout; i++) {
            if (!o->outputs[i]->url)
                return cp__errf(err, EINVAL, "output %zu has no path", i);
            struct cp_file *f = cp__file_create(o->outputs[i]->url, t);
            if (!f)
                return cp__errf(err, ENOMEM, "out of memory copying the options");
            f->task_owned = true;
            to->outputs[i] = f;
            to->output_paths[i] = (char *)f->path;
            to->noutputs = i + 1;
        }
        t->job.outputs = (const char *const *)to->output_paths;
        t->job.noutputs = nout;
    }
    if (!shell)
        return 0;
    const char *name = t->job.app->name;
    to->stdout_path = o && o->stdout_path
        ? strdup(o->stdout_path)
        : cp__strdup_printf("%s/task_%ld_%s.stdout", run_logs, t->id, name);
    to->stderr_path = o && o->stderr_path
        ? strdup(o->stderr_path)
        : cp__strdup_printf("%s/task_%ld_%s.stderr", run_logs, t->id, name);
    if (!to->stdout_path || !to->stderr_path)
        return cp__errf(err, ENOMEM, "out of memory copying the options");
    to->stdout_declared = o && o->stdout_path;
    to->stderr_declared = o && o->stderr_path;
    t->job.stdout_path = to->stdout_path;
    t->job.stderr_path = to->stderr_path;
    /* The resource specification reaches a shell task as PARSL_* variables. */
    char *env[5] = {0};
    int ne = 0;
    if (o && o->cores)
        env[ne++] = env_entry("PARSL_CORES", o->cores, true);
    if (o && o->memory_mb)
        env[ne++] = env_entry("PARSL_MEMORY_MB", o->memory_mb, true);
    if (o && o->disk_mb)
        env[ne++] = env_entry("PARSL_DISK_MB", o->disk_mb, true);
    if (o && o->running_time > 0)
        env[ne++] = env_entry("PARSL_RUNNING_TIME", o->running_time, false);
    bool env_ok = true;
    for (int i = 0; i < ne; i++)
        env_ok = env_ok && env[i];
    if (ne && env_ok)
        to->env = calloc((size_t)ne + 1, sizeof *to->env);
    if (ne && !to->env) {
        for (int i = 0; i < ne; i++)
            free(env[i]);
        return cp__errf(err, ENOMEM, "out of memory copying the options");
    }
    if (ne) {
        memcpy(to->env, env, (size_t)ne * sizeof *env);
        t->job.env = (const char *const *)to->env;
    }
    return 0;
}

static uint8_t job_kind(const cp_app_def *app)
{
    switch (app->kind) {
    case CP_APP_SHELL: return CP_JOB_SHELL;
    case CP_APP_JOIN: return CP_JOB_JOIN;
    default: return CP_JOB_NATIVE;
    }
}

cp_future *cp__call(const cp_app_def *app, const cp_opts *opts, int n, const cp_arg *args)
{
    return cp__call_ex(app, opts, n, args, NULL, 0, -1);
}

cp_future *cp__call_ex(const cp_app_def *app, const cp_opts *opts, int n, const cp_arg *args,
                       cp_future *const *after, size_t nafter, long tag)
{
    const char *why = NULL;
    struct cp__dfk *dfk = cp__dfk_enter(&why);
    if (!dfk)
        return failed_call(NULL, app, -1, cp__strdup_printf("app '%s': %s",
                                                            app ? app->name : "?", why));
    long id = atomic_fetch_add_explicit(&dfk->next_id, 1, memory_order_relaxed);
    if (!app)
        return failed_call(dfk, NULL, id, cp__strdup_printf("task %ld: NULL app", id));
    if (n != app->nparams || n < 0 || (n > 0 && !args))
        return failed_call(dfk, app, id,
                           cp__strdup_printf("task %ld (app '%s'): takes %d arguments, "
                                             "got %d", id, app->name, app->nparams, n));
    size_t ninputs = opts ? count_files(opts->inputs) : 0;
    struct cp_future *t = cp__task_alloc(n, TK_APP);
    if (!t)
        return failed_call(dfk, app, id, strdup("out of memory"));
    t->dfk = dfk;
    t->id = id;
    t->job.task_id = id;
    t->tag = tag;
    t->job.app = app;
    t->job.kind = job_kind(app);
    t->job.priority = opts ? opts->priority : 0;
    /* NaN, negative, infinite or absurd (over ~31 years) walltimes mean none. */
    t->job.walltime = opts && opts->walltime > 0 && opts->walltime <= 1e9 ? opts->walltime : 0;
    t->retries = dfk->cfg.retries;
    if (opts && opts->retries == CP_NONE)
        t->retries = 0;
    else if (opts && opts->retries > 0)
        t->retries = opts->retries;

    cp_err err = {0};
    int rc = 0;
    /* Most calls pass plain values: only allocate the parents array when some
     * argument or input can be a dependency. */
    bool deps = false;
    for (int i = 0; i < n && !deps; i++)
        deps = args[i].kind == CP__ARG_FUTURE ||
               (args[i].kind == CP__ARG_FILE && args[i].u.file && args[i].u.file->producer);
    for (size_t i = 0; i < ninputs && !deps; i++)
        deps = opts->inputs[i]->producer != NULL;
    if (nafter > (size_t)INT_MAX - (size_t)n - ninputs)
        return failed_call(dfk, app, id, cp__strdup_printf("task %ld (app '%s'): too many "
                                                           "dependencies", id, app->name));
    deps = deps || nafter > 0;
    if (deps) {
        t->parents = calloc((size_t)n + ninputs + nafter, sizeof *t->parents);
        if (t->parents)
            t->nparents = n + (int)(ninputs + nafter);
        else
            rc = cp__errf(&err, ENOMEM, "out of memory");
    }
    /* Options first: a call that fails below still has its output DataFutures,
     * so whatever consumes them ends dep_fail naming this task, not "NULL file". */
    if (rc == 0)
        rc = copy_opts(t, opts, dfk->task_logs, &err);
    for (int i = 0; i < n && rc == 0; i++)
        rc = convert_arg(t, i, &args[i], &err);
    for (size_t i = 0; i < ninputs && deps && rc == 0; i++) {
        cp_future *p = opts->inputs[i]->producer;
        if (p) {
            cp__task_incref(p);
            t->parents[n + (int)i] = p;
        }
    }
    for (size_t i = 0; i < nafter && rc == 0; i++) {
        if (!after[i]) {
            rc = cp__errf(&err, EINVAL, "dependency %zu is a NULL future", i + 1);
            break;
        }
        cp__task_incref(after[i]);
        t->parents[n + (int)(ninputs + i)] = after[i];
    }
    if (rc == 0) {
        const char *label = opts ? opts->executor : NULL;
        t->ex = app->kind == CP_APP_JOIN ? dfk->internal : cp__dfk_executor(dfk, label);
        if (!t->ex)
            rc = cp__errf(&err, EINVAL, "unknown executor '%s'", label);
    }
    if (rc == 0 && t->opts && (t->opts->cores || t->opts->memory_mb || t->opts->disk_mb) &&
        !atomic_exchange(&dfk->resource_note, true))
        CP_INFO("engine", "resource specifications (cores, memory, disk) are recorded and "
                          "exported as PARSL_* variables but not enforced by %s",
                t->ex->ops->type);

    cp__task_incref(t);         /* the caller's hold */
    struct cp__ctx *cx = cp__ctx_current();
    if (cx && cx->collect_futures && cp__ctx_adopt(cx, t) != 0)
        CP_WARN("engine", "join body: cannot track task %ld for release", id);
    if (rc != 0) {
        /* msg may be NULL with no memory left: the task still ends failed. */
        char *msg = cp__strdup_printf("task %ld (app '%s'): %s", id, app->name, err.text);
        cp__task_release_parents(t);
        cp__task_fail_now(t, CP_FAILED, msg);
        return t;
    }
    CP_DEBUG("engine", "task %ld (%s) pending", id, app->name);
    cp__observe_emit(t, CP_PENDING);
    cp__task_arm(t);
    return t;
}
