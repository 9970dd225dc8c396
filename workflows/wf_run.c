/* workflows/wf_run.c — submitting a workflow's instances to the engine.
 *
 * A YAML shell app becomes a cp_app_def made here at run time, with two
 * parameters: the instance index and the list of the results it references.
 * Its body renders the command template for that instance, so quoting is done
 * in exactly one place (cp__wf_render) for static and dynamic values alike.
 * Native apps are the library's own definitions; an argument whose value depends
 * on another task's result is computed by a join task ("wf_arg") that waits for
 * those results, so the native call itself still receives plain typed values
 * and could run anywhere (an app host on a worker, later).
 *
 * The bodies find the workflow through one static pointer: a process runs one
 * workflow at a time, and the definitions stay valid until cp__wf_release.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "common/value.h"
#include "engine/observe.h"
#include "executors/app_invoke.h"
#include "workflows/wf_run.h"

static const struct cp__wf *g_wf;
static cp_app_def *g_shell_defs;        /* one per app (only shell ones are used) */

static const struct cp_value *result_items(const cp_value *res)
{
    return res && res->type == CP_LIST ? cp__value_items(res) : NULL;
}

static void shell_invoke(struct cp__ctx *cx)
{
    long idx = 0;
    const cp_value *res = NULL;
    if (cp__get_long(cx, 0, &idx) != 0 || cp__get_value(cx, 1, &res) != 0)
        return;
    const struct cp__wf *wf = g_wf;
    if (!wf || idx < 0 || (size_t)idx >= wf->ninsts) {
        cp__ctx_fail(cx, "workflow instance %ld is unknown", idx);
        return;
    }
    const struct cp__wf_inst *in = &wf->insts[idx];
    const struct cp__wf_app *app = &wf->apps[wf->tasks[in->task].app];
    cp_err err = {0};
    char *cmd = cp__wf_render(wf, in, &app->cmd, result_items(res), true, &err);
    if (!cmd) {
        cp__ctx_fail(cx, "%s: %s", in->label, err.text);
        return;
    }
    cp__ret_shell(cx, cmd);
}

/* A join body: the value of argument `argi` of instance `idx`, once the results
 * it references are in. */
static void arg_invoke(struct cp__ctx *cx)
{
    long idx = 0, argi = 0;
    const cp_value *res = NULL;
    if (cp__get_long(cx, 0, &idx) != 0 || cp__get_long(cx, 1, &argi) != 0 ||
        cp__get_value(cx, 2, &res) != 0)
        return;
    const struct cp__wf *wf = g_wf;
    if (!wf || idx < 0 || (size_t)idx >= wf->ninsts) {
        cp__ctx_fail(cx, "workflow instance %ld is unknown", idx);
        return;
    }
    const struct cp__wf_inst *in = &wf->insts[idx];
    const struct cp__wf_task *t = &wf->tasks[in->task];
    if (argi < 0 || (size_t)argi >= t->nargs) {
        cp__ctx_fail(cx, "%s: argument %ld is unknown", in->label, argi);
        return;
    }
    cp_err err = {0};
    cp_value *v = malloc(sizeof *v);
    if (!v) {
        cp__ctx_fail(cx, "out of memory");
        return;
    }
    if (cp__wf_arg_value(wf, in, &t->args[argi], result_items(res), v, &err) != 0) {
        free(v);
        cp__ctx_fail(cx, "%s: %s", in->label, err.text);
        return;
    }
    cp__ret_future(cx, cp_value_future(v));
}

static const cp_app_def arg_def = {
    .name = "wf_arg",
    .kind = CP_APP_JOIN,
    .nparams = 3,
    .param_names = {"instance", "argument", "results"},
    .param_types = {CP_PT_LONG, CP_PT_LONG, CP_PT_VALUE},
    .result_type = CP_PT_FUTURE,
    .invoke = arg_invoke,
};

/* Does a template read any task's result? ({t.result}, {t[*].result}) */
static bool reads_result(const struct cp__wf_tmpl *t)
{
    for (size_t i = 0; i < t->nsegs; i++)
        for (size_t j = 0; !t->segs[i].text && j < t->segs[i].nsteps; j++)
            if (t->segs[i].steps[j].kind == CP_WF_FIELD &&
                strcmp(t->segs[i].steps[j].field, "result") == 0)
                return true;
    return false;
}

static int make_shell_defs(const struct cp__wf *wf, cp_err *err)
{
    g_shell_defs = calloc(wf->napps ? wf->napps : 1, sizeof *g_shell_defs);
    if (!g_shell_defs)
        return cp__errf(err, ENOMEM, "out of memory");
    for (size_t i = 0; i < wf->napps; i++) {
        cp_app_def *d = &g_shell_defs[i];
        d->name = wf->apps[i].name;
        d->kind = CP_APP_SHELL;
        d->nparams = 2;
        d->param_names[0] = "instance";
        d->param_names[1] = "results";
        d->param_types[0] = CP_PT_LONG;
        d->param_types[1] = CP_PT_VALUE;
        d->result_type = CP_PT_SHELL;
        d->invoke = shell_invoke;
        d->version = wf->apps[i].version;
    }
    return 0;
}

/* A shell task that names no stdout/stderr writes to the engine's default
 * task_logs files (DESIGN §9), which {t.stdout} must name: record them in the
 * instance now. Dependents are submitted after this and render only once this
 * task is done, so they read the path after it is written. */
static void note_default_streams(const struct cp__wf *wf, size_t idx, long id, const char *app)
{
    struct cp__wf_inst *in = (struct cp__wf_inst *)&wf->insts[idx];
    const char *run = cp_run_dir();
    if (!run || id < 0)
        return;
    if (!in->stdout_path)
        in->stdout_path = cp__strdup_printf("%s/task_logs/task_%ld_%s.stdout", run, id, app);
    if (!in->stderr_path)
        in->stderr_path = cp__strdup_printf("%s/task_logs/task_%ld_%s.stderr", run, id, app);
}

/* The options of one instance; files go into outs (caller frees them). */
static void inst_opts(const struct cp__wf *wf, const struct cp__wf_inst *in, cp_opts *o,
                      cp_file **outs)
{
    struct cp__wf_settings s;
    cp__wf_eff(wf, &wf->tasks[in->task], &s);
    *o = (cp_opts){0};
    o->stdout_path = in->stdout_path;
    o->stderr_path = in->stderr_path;
    o->stdout_append = s.stdout_append;
    o->stderr_append = s.stderr_append;
    if (s.set & CP_WF_S_WALLTIME)
        o->walltime = s.walltime;
    if (s.set & CP_WF_S_RETRIES)
        o->retries = s.retries > 0 ? s.retries : CP_NONE;
    if (s.set & CP_WF_S_EXECUTOR)
        o->executor = s.executor;
    o->priority = s.priority;
    o->cores = s.cores;
    o->memory_mb = s.memory_mb;
    o->cache = (s.set & CP_WF_S_CACHE) ? s.cache : true;
    size_t n = 0;
    for (size_t i = 0; i < in->noutputs; i++)
        if ((outs[n] = cp_file_new(in->outputs[i])))
            n++;
    outs[n] = NULL;
    o->outputs = outs;
}

static cp_future *submit_one(const struct cp__wf *wf, size_t idx, cp_future **futs)
{
    const struct cp__wf_inst *in = &wf->insts[idx];
    const struct cp__wf_task *t = &wf->tasks[in->task];
    const struct cp__wf_app *app = &wf->apps[t->app];
    cp_future *out = NULL;
    cp_future **after = NULL, **resf = NULL, *results = NULL;
    cp_file **outs = NULL;
    cp_arg *args = NULL;
    cp_future **argf = NULL;
    size_t nres = 0;

    after = calloc(in->ndeps ? in->ndeps : 1, sizeof *after);
    resf = calloc(in->ndeps ? in->ndeps : 1, sizeof *resf);
    outs = calloc(in->noutputs + 1, sizeof *outs);
    if (!after || !resf || !outs)
        goto done;
    for (uint32_t k = 0; k < in->ndeps; k++) {
        after[k] = futs[in->deps[k].inst];
        if (in->deps[k].needs_result)
            resf[nres++] = futs[in->deps[k].inst];
    }
    /* One gather of the referenced results serves the command or every argument. */
    if (nres && !(results = cp_gather(resf, nres)))
        goto done;
    cp_opts o;
    inst_opts(wf, in, &o, outs);
    if (app->shell) {
        cp_arg a[2] = {cp__a_long((long)idx),
                       results ? cp__a_future(results) : cp__a_value(NULL)};
        out = cp__call_ex(&g_shell_defs[t->app], &o, 2, a, after, in->ndeps, (long)idx);
        if (out)
            note_default_streams(wf, idx, cp_future_id(out), app->name);
        goto done;
    }
    size_t nargs = t->nargs;
    args = calloc(nargs ? nargs : 1, sizeof *args);
    argf = calloc(nargs ? nargs : 1, sizeof *argf);
    if (!args || !argf)
        goto done;
    struct cp_value *vals = calloc(nargs ? nargs : 1, sizeof *vals);
    if (!vals)
        goto done;
    bool ok = true;
    for (size_t i = 0; i < nargs && ok; i++) {
        if (results && reads_result(&t->args[i])) {
            cp_arg ja[3] = {cp__a_long((long)idx), cp__a_long((long)i), cp__a_future(results)};
            argf[i] = cp__call_ex(&arg_def, NULL, 3, ja, NULL, 0, -1);
            ok = argf[i] != NULL;
            args[i] = cp__a_future(argf[i]);
            continue;
        }
        cp_err err = {0};
        if (cp__wf_arg_value(wf, in, &t->args[i], NULL, &vals[i], &err) != 0) {
            /* Checked at load time, so only memory can fail here: the call below
             * then fails with a count mismatch rather than run with a hole. */
            ok = false;
            break;
        }
        args[i] = cp__a_value(&vals[i]);
    }
    if (ok)
        out = cp__call_ex(app->def, &o, (int)nargs, args, after, in->ndeps, (long)idx);
    for (size_t i = 0; i < nargs; i++) {
        cp__value_clear(&vals[i]);
        cp_future_release(argf[i]);
    }
    free(vals);
done:
    cp_future_release(results);
    for (size_t i = 0; outs && outs[i]; i++)
        cp_file_free(outs[i]);
    free(outs);
    free(args);
    free(argf);
    free(after);
    free(resf);
    return out;
}

int cp__wf_submit(const struct cp__wf *wf, cp_future ***futs_out, size_t *nsubmitted,
                  cp_err *err)
{
    *futs_out = NULL;
    *nsubmitted = 0;
    cp_future **futs = calloc(wf->ninsts ? wf->ninsts : 1, sizeof *futs);
    if (!futs || make_shell_defs(wf, err) != 0) {
        free(futs);
        return cp__errf(err, ENOMEM, "out of memory");
    }
    g_wf = wf;
    *futs_out = futs;
    for (size_t i = 0; i < wf->ninsts; i++) {
        futs[i] = submit_one(wf, i, futs);
        if (!futs[i]) {
            /* Dependents need a future to wait on; without memory for even that,
             * stop launching and let what was submitted wind down. */
            cp__dfk_interrupt();
            return cp__errf(err, ENOMEM, "out of memory submitting %s", wf->insts[i].label);
        }
        *nsubmitted = i + 1;
    }
    return 0;
}

void cp__wf_release(cp_future **futs, size_t n)
{
    for (size_t i = 0; futs && i < n; i++)
        cp_future_release(futs[i]);
    free(futs);
    /* Only after shutdown do no bodies run: the caller releases after it. */
    free(g_shell_defs);
    g_shell_defs = NULL;
    g_wf = NULL;
}
