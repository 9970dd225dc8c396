/* workflows/wf_check.c — the static checks that run before anything does:
 * every reference resolves (with a did-you-mean when it does not), fields and
 * static indexes exist, a mapped task is referenced with [*] unless the task
 * maps over it, native arguments fit their parameters' types, and the task
 * graph has no cycle. The result is a task order with every dependency first.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "workflows/wf_int.h"

static int nomem(cp_err *err)
{
    return cp__errf(err, ENOMEM, "out of memory");
}

static int pos_err(cp_err *err, const char *file, uint32_t line, uint32_t col,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int pos_err(cp_err *err, const char *file, uint32_t line, uint32_t col,
                   const char *fmt, ...)
{
    char msg[CP_ERR_TEXT_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return cp__errf(err, EINVAL, "%s:%u:%u: %s", file, line, col, msg);
}

static const char *const TASK_FIELDS[] = {"outputs", "inputs", "stdout", "stderr", "result",
                                          NULL};

static int field_of(const char *f)
{
    if (!strchr("oisr", f[0]))
        return 0;               /* most names are not fields: no strcmp */
    for (int i = 0; TASK_FIELDS[i]; i++)
        if (strcmp(f, TASK_FIELDS[i]) == 0)
            return i + 1;       /* CP_WF_F_* */
    return 0;
}

/* Does task `from` map over task `to`, directly or through a chain? */
static bool maps_over(const struct cp__wf *wf, uint32_t from, uint32_t to)
{
    int32_t t = wf->tasks[from].map_over;
    for (size_t hops = 0; t >= 0 && hops <= wf->ntasks; hops++) {
        if ((uint32_t)t == to)
            return true;
        t = wf->tasks[t].map_over;
    }
    return false;
}

/* ------------------------------------------------------------ resolution */

static int unknown_name(const struct cp__wf *wf, uint32_t task, const struct cp__wf_tmpl *t,
                        const struct cp__wf_seg *s, cp_err *err)
{
    const struct cp__wf_task *T = &wf->tasks[task];
    /* It reads as a task reference when a task field or [*] follows the name. */
    bool as_task = s->nsteps > 0 &&
                   (s->steps[0].kind == CP_WF_ALL ||
                    (s->steps[0].kind == CP_WF_FIELD && field_of(s->steps[0].field)) ||
                    (s->steps[0].kind == CP_WF_INDEX && s->nsteps > 1 &&
                     s->steps[1].kind == CP_WF_FIELD && field_of(s->steps[1].field)));
    const char *hint = NULL;
    if (as_task) {
        const char **names = cp__wf_task_names(wf);
        if (!names)
            return nomem(err);
        hint = cp__did_you_mean(s->name, names);
        free(names);
        if (hint)
            return cp__wf_seg_err(err, t, s, "task '%s' references unknown task '%s' (did "
                                  "you mean '%s'?)", T->name, s->name, hint);
        return cp__wf_seg_err(err, t, s, "task '%s' references unknown task '%s'", T->name,
                              s->name);
    }
    size_t n = T->nbind_names + T->nvars + wf->nvars + 4;
    const char **names = malloc((n + 1) * sizeof *names);
    if (!names)
        return nomem(err);
    size_t k = 0;
    for (size_t i = 0; i < T->nbind_names; i++)
        names[k++] = T->bind_names[i];
    for (size_t i = 0; i < T->nvars; i++)
        names[k++] = T->var_names[i];
    for (size_t i = 0; i < wf->nvars; i++)
        names[k++] = wf->var_names[i];
    for (int i = 0; i < 4; i++)
        names[k++] = TASK_FIELDS[i];
    names[k] = NULL;
    hint = cp__did_you_mean(s->name, names);
    free(names);
    if (hint)
        return cp__wf_seg_err(err, t, s, "task '%s' references unknown variable '%s' (did you "
                              "mean '%s'?)", T->name, s->name, hint);
    if (s->nsteps == 0)
        return cp__wf_seg_err(err, t, s, "task '%s' references unknown variable '%s' (write "
                              "{{ and }} for literal braces)", T->name, s->name);
    return cp__wf_seg_err(err, t, s, "task '%s' references unknown variable '%s'", T->name,
                          s->name);
}

/* After a field of a task (or the task's own field): outputs and inputs take
 * one [i] or [*]; nothing follows stdout, stderr or result. */
static int check_after_field(const struct cp__wf_tmpl *t, const struct cp__wf_seg *s,
                             size_t k, int field, cp_err *err)
{
    char ref[200];
    size_t left = s->nsteps - k;
    bool list = field == CP_WF_F_OUTPUTS || field == CP_WF_F_INPUTS;
    if (left == 0 || (list && left == 1 && s->steps[k].kind != CP_WF_FIELD))
        return 0;
    cp__wf_seg_text(s, ref, sizeof ref);
    if (list)
        return cp__wf_seg_err(err, t, s, "'%s': %s takes one index ([0]) or [*], nothing "
                              "more", ref, TASK_FIELDS[field - 1]);
    return cp__wf_seg_err(err, t, s, "'%s': nothing can follow .%s", ref,
                          TASK_FIELDS[field - 1]);
}

static int resolve_task(const struct cp__wf *wf, uint32_t task, const struct cp__wf_tmpl *t,
                        const struct cp__wf_seg *s, uint32_t target, struct cp__wf_ref *r,
                        cp_err *err)
{
    const struct cp__wf_task *T = &wf->tasks[task], *U = &wf->tasks[target];
    char ref[200];
    size_t k = 0;
    r->kind = CP_WF_R_TASK;
    r->idx = target;
    if (s->nsteps && s->steps[0].kind == CP_WF_ALL) {
        r->sel = CP_WF_SEL_ALL;
        k = 1;
    } else if (s->nsteps && s->steps[0].kind == CP_WF_INDEX) {
        r->sel = CP_WF_SEL_INDEX;
        r->sel_index = s->steps[0].index;
        k = 1;
    } else if (!U->mapped) {
        r->sel = CP_WF_SEL_ONE;
    } else if (maps_over(wf, task, target)) {
        r->sel = CP_WF_SEL_MATCH;
    } else {
        cp__wf_seg_text(s, ref, sizeof ref);
        return cp__wf_seg_err(err, t, s, "task '%s' references mapped task '%s' without [*] "
                              "in '%s' (use {%s[*]…} for every instance, or foreach: %s for "
                              "the matching one)", T->name, U->name, ref, U->name, U->name);
    }
    if (k >= s->nsteps || s->steps[k].kind != CP_WF_FIELD) {
        cp__wf_seg_text(s, ref, sizeof ref);
        return cp__wf_seg_err(err, t, s, "'%s': a reference to task '%s' needs a field: "
                              ".outputs, .inputs, .stdout, .stderr or .result", ref, U->name);
    }
    const char *f = s->steps[k].field;
    if (!(r->field = (uint8_t)field_of(f))) {
        const char *hint = cp__did_you_mean(f, TASK_FIELDS);
        cp__wf_seg_text(s, ref, sizeof ref);
        if (hint)
            return cp__wf_seg_err(err, t, s, "'%s': task '%s' has no field '%s' (did you "
                                  "mean '%s'?)", ref, U->name, f, hint);
        return cp__wf_seg_err(err, t, s, "'%s': task '%s' has no field '%s' (fields: "
                              "outputs, inputs, stdout, stderr, result)", ref, U->name, f);
    }
    r->rest = k + 1;
    return check_after_field(t, s, r->rest, r->field, err);
}

int cp__wf_resolve(const struct cp__wf *wf, uint32_t task, const struct cp__wf_tmpl *t,
                   const struct cp__wf_seg *s, struct cp__wf_ref *r, cp_err *err)
{
    const struct cp__wf_task *T = &wf->tasks[task];
    *r = (struct cp__wf_ref){0};
    for (size_t i = 0; i < T->nbind_names; i++)
        if (strcmp(T->bind_names[i], s->name) == 0) {
            *r = (struct cp__wf_ref){.kind = CP_WF_R_BIND, .idx = (uint32_t)i};
            return 0;
        }
    int f = field_of(s->name);
    if (f && f != CP_WF_F_RESULT) {
        *r = (struct cp__wf_ref){.kind = CP_WF_R_OWN, .field = (uint8_t)f};
        return check_after_field(t, s, 0, f, err);
    }
    for (size_t i = 0; i < T->nvars; i++)
        if (strcmp(T->var_names[i], s->name) == 0) {
            *r = (struct cp__wf_ref){.kind = CP_WF_R_TVAR, .idx = (uint32_t)i};
            return 0;
        }
    int64_t v = cp__wf_hmap_get(&wf->priv->vars, s->name);
    if (v >= 0) {
        *r = (struct cp__wf_ref){.kind = CP_WF_R_WVAR, .idx = (uint32_t)v};
        return 0;
    }
    int64_t u = cp__wf_hmap_get(&wf->priv->tasks, s->name);
    if (u >= 0)
        return resolve_task(wf, task, t, s, (uint32_t)u, r, err);
    return unknown_name(wf, task, t, s, err);
}

/* ------------------------------------------------------------ bindings */

/* A task's bindings: its zip axes, its product axes, then those of the task it
 * maps over. Chains are walked from their root so each task is done once. */
static int task_binds(struct cp__wf *wf, uint32_t u, cp_err *err)
{
    struct cp__wf_task *T = &wf->tasks[u];
    struct cp__wf_tinfo *ti = &wf->priv->ti[u];
    if (ti->binds_done)
        return 0;
    size_t inherit = 0;
    const struct cp__wf_tinfo *pi = NULL;
    if (T->map_over >= 0) {
        pi = &wf->priv->ti[T->map_over];
        inherit = wf->tasks[T->map_over].nbind_names;
    }
    size_t n = T->nzip + T->nprod + inherit;
    T->bind_names = calloc(n ? n : 1, sizeof *T->bind_names);
    ti->bind_axes = calloc(n ? n : 1, sizeof *ti->bind_axes);
    if (!T->bind_names || !ti->bind_axes)
        return nomem(err);
    size_t k = 0;
    for (size_t i = 0; i < T->nzip; i++)
        ti->bind_axes[k++] = &T->zip[i];
    for (size_t i = 0; i < T->nprod; i++)
        ti->bind_axes[k++] = &T->prod[i];
    for (size_t i = 0; i < inherit; i++)
        ti->bind_axes[k++] = pi->bind_axes[i];
    for (size_t i = 0; i < n; i++) {
        const struct cp__wf_axis *ax = ti->bind_axes[i];
        T->bind_names[i] = ax->var;
        for (size_t j = 0; j < i; j++)
            if (strcmp(T->bind_names[j], ax->var) == 0)
                return cp__yerr(err, i < T->nzip + T->nprod ? ax->node : ti->foreach_node,
                                "task '%s': foreach variable '%s' is defined twice%s", T->name,
                                ax->var, i >= T->nzip + T->nprod
                                             ? " (once here and once by the task it maps over)"
                                             : "");
    }
    T->nbind_names = n;
    ti->binds_done = true;
    return 0;
}

/* chain[0..n) walked up through foreach: and came back to x. */
static int map_cycle_err(const struct cp__wf *wf, const uint32_t *chain, size_t n, uint32_t x,
                         cp_err *err)
{
    size_t i = 0;
    while (i < n && chain[i] != x)
        i++;
    struct cp__wf_buf b = {0};
    for (; i < n; i++)
        cp__wf_buf_printf(&b, "%s -> ", wf->tasks[chain[i]].name);
    cp__wf_buf_str(&b, wf->tasks[x].name);
    int rc = cp__yerr(err, wf->priv->ti[x].foreach_node, "cycle: %s", b.p ? b.p : "");
    free(b.p);
    return rc;
}

/* Checks map_over targets and builds every task's bindings. */
static int check_mapping(struct cp__wf *wf, cp_err *err)
{
    for (uint32_t u = 0; u < wf->ntasks; u++) {
        struct cp__wf_task *T = &wf->tasks[u];
        if (T->map_over < 0)
            continue;
        const struct cp__wf_task *U = &wf->tasks[T->map_over];
        if (!U->mapped)
            return cp__yerr(err, wf->priv->ti[u].foreach_node, "task '%s': foreach: '%s' names "
                            "a task that is not mapped (it has no foreach: or product:)",
                            T->name, U->name);
    }
    uint32_t *chain = malloc((wf->ntasks + 1) * sizeof *chain);
    uint32_t *seen = calloc(wf->ntasks + 1, sizeof *seen);
    int rc = 0;
    if (!chain || !seen) {
        rc = nomem(err);
        goto out;
    }
    for (uint32_t u = 0; u < wf->ntasks && rc == 0; u++) {
        size_t n = 0;
        int32_t x = (int32_t)u;
        /* Walk up to a task that is done (or a root), then build back down. */
        while (x >= 0 && !wf->priv->ti[x].binds_done) {
            if (seen[x] == u + 1) {
                rc = map_cycle_err(wf, chain, n, (uint32_t)x, err);
                goto out;
            }
            seen[x] = u + 1;
            chain[n++] = (uint32_t)x;
            x = wf->tasks[x].map_over;
        }
        while (n > 0 && rc == 0)
            rc = task_binds(wf, chain[--n], err);
    }
    /* Foreach variables are names like any other: they must not shadow a task. */
    for (uint32_t u = 0; u < wf->ntasks && rc == 0; u++) {
        const struct cp__wf_task *T = &wf->tasks[u];
        for (size_t i = 0; i < T->nzip + T->nprod && rc == 0; i++) {
            const struct cp__wf_axis *ax = i < T->nzip ? &T->zip[i] : &T->prod[i - T->nzip];
            if (cp__wf_hmap_get(&wf->priv->tasks, ax->var) >= 0)
                rc = cp__yerr(err, ax->node, "'%s' is both a foreach variable and a task; "
                              "rename one", ax->var);
        }
    }
out:
    free(chain);
    free(seen);
    return rc;
}

/* ------------------------------------------------------------ references */

enum ctx { CTX_CMD = 1, CTX_ARG, CTX_INPUTS, CTX_OUTPUTS, CTX_STDOUT, CTX_STDERR };
static const char *const CTX_NAME[] = {"", "the command", "args", "inputs", "outputs",
                                       "stdout", "stderr"};

static int add_tref(struct cp__wf_tinfo *ti, struct cp__wf_tref tr, cp_err *err)
{
    if (ti->nrefs == ti->caprefs) {
        size_t cap = ti->caprefs ? ti->caprefs * 2 : 4;
        struct cp__wf_tref *n = realloc(ti->refs, cap * sizeof *n);
        if (!n)
            return nomem(err);
        ti->refs = n;
        ti->caprefs = cap;
    }
    ti->refs[ti->nrefs++] = tr;
    return 0;
}

/* Which of a task's own fields a template in context c may use: each field is
 * rendered at load in the order inputs, outputs, stdout, stderr and may use
 * only those before it. */
static bool own_allowed(enum ctx c, int field)
{
    switch (c) {
    case CTX_INPUTS: return false;
    case CTX_OUTPUTS: return field == CP_WF_F_INPUTS;
    case CTX_STDOUT: return field == CP_WF_F_INPUTS || field == CP_WF_F_OUTPUTS;
    case CTX_STDERR: return field != CP_WF_F_STDERR;
    default: return true;
    }
}

static size_t nfield(const struct cp__wf_settings *e, int field)
{
    return field == CP_WF_F_OUTPUTS ? e->noutputs : e->ninputs;
}

/* A static index into a task's outputs/inputs must exist: their number is
 * fixed per task. */
static int check_field_index(struct cp__wf *wf, uint32_t u, uint32_t target,
                             const struct cp__wf_tmpl *t, const struct cp__wf_seg *s,
                             size_t k, int field, cp_err *err)
{
    if (field != CP_WF_F_OUTPUTS && field != CP_WF_F_INPUTS)
        return 0;
    if (k >= s->nsteps || s->steps[k].kind != CP_WF_INDEX)
        return 0;
    const struct cp__wf_tinfo *tt = &wf->priv->ti[target];
    if (field == CP_WF_F_OUTPUTS ? tt->var_outputs : tt->var_inputs) {
        struct cp__wf_tinfo *ti = &wf->priv->ti[u];
        struct cp__wf_icheck *n = realloc(ti->ichecks, (ti->nichecks + 1) * sizeof *n);
        if (!n)
            return nomem(err);
        ti->ichecks = n;
        n[ti->nichecks++] = (struct cp__wf_icheck){target, (uint8_t)field, s->steps[k].index,
                                                   t, s};
        return 0;
    }
    size_t n = nfield(&tt->eff, field);
    if ((unsigned long)s->steps[k].index < n)
        return 0;
    char ref[200];
    cp__wf_seg_text(s, ref, sizeof ref);
    return cp__wf_seg_err(err, t, s, "'%s': index %ld is out of range (task '%s' has %zu "
                          "%.*s)", ref, s->steps[k].index, wf->tasks[target].name, n,
                          (int)strlen(TASK_FIELDS[field - 1]) - (n == 1), TASK_FIELDS[field - 1]);
}

static int check_ref(struct cp__wf *wf, uint32_t u, const struct cp__wf_tmpl *t,
                     const struct cp__wf_seg *s, enum ctx c, cp_err *err)
{
    struct cp__wf_task *T = &wf->tasks[u];
    struct cp__wf_tinfo *ti = &wf->priv->ti[u];
    struct cp__wf_ref r;
    char ref[200];
    bool path = c >= CTX_INPUTS;
    if (cp__wf_resolve(wf, u, t, s, &r, err) != 0)
        return -1;
    /* The reference as written, made only for a message. */
#define REF (cp__wf_seg_text(s, ref, sizeof ref), ref)
    switch (r.kind) {
    case CP_WF_R_BIND: {
        const struct cp__wf_axis *ax = ti->bind_axes[r.idx];
        for (size_t i = 0; i < ax->nvals && s->nsteps; i++) {
            struct cp_value out;
            if (cp__wf_apply_steps(t, s, 0, &ax->vals[i], &out, err) != 0)
                return -1;
            cp__value_clear(&out);
        }
        return 0;
    }
    case CP_WF_R_TVAR:
    case CP_WF_R_WVAR: {
        struct cp_value out;
        if (cp__wf_apply_steps(t, s, 0, r.kind == CP_WF_R_TVAR ? &T->var_vals[r.idx]
                                                               : &wf->var_vals[r.idx],
                               &out, err) != 0)
            return -1;
        cp__value_clear(&out);
        return 0;
    }
    case CP_WF_R_OWN:
        if ((r.field == CP_WF_F_STDOUT || r.field == CP_WF_F_STDERR) &&
            !wf->apps[T->app].shell)
            return cp__wf_seg_err(err, t, s, "'%s': task '%s' runs a native app, which has no "
                                  "%s", REF, T->name, TASK_FIELDS[r.field - 1]);
        if (!own_allowed(c, r.field))
            return cp__wf_seg_err(err, t, s, "'%s': %s cannot use the task's own %s (%s may "
                                  "use only the fields before it: inputs, outputs, stdout, "
                                  "stderr)", REF, CTX_NAME[c], TASK_FIELDS[r.field - 1],
                                  CTX_NAME[c]);
        if ((r.field == CP_WF_F_STDOUT || r.field == CP_WF_F_STDERR) && path &&
            !(ti->eff.set & (r.field == CP_WF_F_STDOUT ? CP_WF_S_STDOUT : CP_WF_S_STDERR)))
            return cp__wf_seg_err(err, t, s, "'%s': task '%s' sets no %s:, and the default "
                                  "log path is known only when it runs", REF, T->name,
                                  TASK_FIELDS[r.field - 1]);
        return check_field_index(wf, u, u, t, s, 0, r.field, err);
    default:
        break;
    }
    const struct cp__wf_task *U = &wf->tasks[r.idx];
    if (r.field == CP_WF_F_RESULT && path)
        return cp__wf_seg_err(err, t, s, "'%s' cannot be used in %s: a result is known only "
                              "when the task has run", REF, CTX_NAME[c]);
    if ((r.field == CP_WF_F_STDOUT || r.field == CP_WF_F_STDERR) && !wf->apps[U->app].shell)
        return cp__wf_seg_err(err, t, s, "'%s': task '%s' runs a native app, which has no %s",
                              REF, U->name, TASK_FIELDS[r.field - 1]);
    if ((r.field == CP_WF_F_STDOUT || r.field == CP_WF_F_STDERR) && path &&
        !(wf->priv->ti[r.idx].eff.set &
          (r.field == CP_WF_F_STDOUT ? CP_WF_S_STDOUT : CP_WF_S_STDERR)))
        return cp__wf_seg_err(err, t, s, "'%s' cannot be used in %s: task '%s' sets no %s:, "
                              "and the default log path is known only when it runs", REF,
                              CTX_NAME[c], U->name, TASK_FIELDS[r.field - 1]);
    if (check_field_index(wf, u, r.idx, t, s, r.rest, r.field, err) != 0)
        return -1;
    return add_tref(ti, (struct cp__wf_tref){.task = r.idx, .sel = r.sel,
                                             .result = r.field == CP_WF_F_RESULT,
                                             .index = r.sel_index, .node = t->node,
                                             .line = s->line, .col = s->col}, err);
#undef REF
}

static int check_tmpl(struct cp__wf *wf, uint32_t u, const struct cp__wf_tmpl *t, enum ctx c,
                      cp_err *err)
{
    for (size_t i = 0; i < t->nsegs; i++)
        if (!t->segs[i].text && check_ref(wf, u, t, &t->segs[i], c, err) != 0)
            return -1;
    return 0;
}

/* ------------------------------------------------------------ argument types */

#define M(t) (1u << (t))
#define M_ANY 0xFFFFu

static unsigned result_mask(const struct cp__wf_app *a)
{
    if (a->shell)
        return M(CP_INT);
    switch (a->def->result_type) {
    case CP_PT_LONG: case CP_PT_INT: return M(CP_INT);
    case CP_PT_DOUBLE: return M(CP_DOUBLE);
    case CP_PT_BOOL: return M(CP_BOOL);
    case CP_PT_STR: return M(CP_STR) | M(CP_NIL);
    case CP_PT_BYTES: return M(CP_BYTES);
    case CP_PT_FILE: return M(CP_FILE);
    default: return M_ANY;      /* cp_value * results and joins: known only at run time */
    }
}

/* What the engine's argument readers accept (executors/app_invoke.c). */
static unsigned accept_mask(int ptype)
{
    switch (ptype) {
    case CP_PT_LONG: case CP_PT_INT: return M(CP_INT);
    case CP_PT_DOUBLE: return M(CP_INT) | M(CP_DOUBLE);
    case CP_PT_BOOL: return M(CP_BOOL) | M(CP_INT);
    case CP_PT_STR: return M(CP_STR) | M(CP_FILE) | M(CP_NIL);
    case CP_PT_BYTES: return M(CP_BYTES) | M(CP_STR);
    case CP_PT_FILE: return M(CP_FILE) | M(CP_STR);
    default: return M_ANY;
    }
}

static const char *ptype_desc(int ptype)
{
    switch (ptype) {
    case CP_PT_LONG: return "a long";
    case CP_PT_INT: return "an int";
    case CP_PT_DOUBLE: return "a double";
    case CP_PT_BOOL: return "a bool";
    case CP_PT_STR: return "a string";
    case CP_PT_BYTES: return "bytes";
    case CP_PT_FILE: return "a file";
    default: return "a value";
    }
}

static unsigned value_mask(const struct cp__wf_tmpl *t, const struct cp__wf_seg *s,
                           const struct cp_value *v)
{
    struct cp_value out;
    if (cp__wf_apply_steps(t, s, 0, v, &out, NULL) != 0)
        return 0;
    unsigned m = M(out.type);
    cp__value_clear(&out);
    return m;
}

/* The types an argument template can have, as a mask of cp_type bits. */
static unsigned tmpl_mask(const struct cp__wf *wf, uint32_t u, const struct cp__wf_tmpl *t)
{
    if (!t->has_refs) {
        int ty = t->node->style == CP_Y_PLAIN ? cp__yscalar_type(t->node) : CP_STR;
        return M(ty < 0 ? CP_STR : ty);
    }
    if (!t->single_ref)
        return M(CP_STR);
    const struct cp__wf_seg *s = &t->segs[0];
    const struct cp__wf_task *T = &wf->tasks[u];
    struct cp__wf_ref r;
    if (cp__wf_resolve(wf, u, t, s, &r, NULL) != 0)
        return M_ANY;
    bool indexed;
    switch (r.kind) {
    case CP_WF_R_BIND: {
        const struct cp__wf_axis *ax = wf->priv->ti[u].bind_axes[r.idx];
        unsigned m = 0;
        for (size_t i = 0; i < ax->nvals; i++)
            m |= value_mask(t, s, &ax->vals[i]);
        return m;
    }
    case CP_WF_R_TVAR:
        return value_mask(t, s, &T->var_vals[r.idx]);
    case CP_WF_R_WVAR:
        return value_mask(t, s, &wf->var_vals[r.idx]);
    case CP_WF_R_OWN:
        indexed = s->nsteps && s->steps[0].kind == CP_WF_INDEX;
        return r.field >= CP_WF_F_STDOUT || indexed ? M(CP_FILE) : M(CP_LIST);
    default:
        break;
    }
    if (r.sel == CP_WF_SEL_ALL)
        return M(CP_LIST);
    if (r.field == CP_WF_F_RESULT)
        return result_mask(&wf->apps[wf->tasks[r.idx].app]);
    indexed = r.rest < s->nsteps && s->steps[r.rest].kind == CP_WF_INDEX;
    return r.field >= CP_WF_F_STDOUT || indexed ? M(CP_FILE) : M(CP_LIST);
}

static int check_arg_type(struct cp__wf *wf, uint32_t u, int p, cp_err *err)
{
    const struct cp__wf_task *T = &wf->tasks[u];
    const struct cp__wf_app *a = &wf->apps[T->app];
    const struct cp__wf_tmpl *t = &T->args[p];
    int ptype = a->def->param_types[p];
    unsigned got = tmpl_mask(wf, u, t), bad = got & ~accept_mask(ptype);
    if (got == M_ANY || !bad)
        return 0;
    /* Name the most telling type: null only when it is the only one. */
    int ty = 0;
    if (bad & ~M(CP_NIL))
        bad &= ~M(CP_NIL);
    while (!(bad & M(ty)))
        ty++;
    const char *pn = a->def->param_names[p];
    if (!t->has_refs)
        return cp__yerr(err, t->node, "task '%s': argument '%s' of app '%s' must be %s, got "
                        "%s ('%.100s')", T->name, pn, a->name, ptype_desc(ptype),
                        cp__wf_type_desc(ty), t->node->str);
    if (!t->single_ref)
        return cp__yerr(err, t->node, "task '%s': argument '%s' of app '%s' must be %s, got "
                        "a string (text around a reference is a string; use exactly \"{…}\" "
                        "to pass a value)", T->name, pn, a->name, ptype_desc(ptype));
    char ref[200];
    cp__wf_seg_text(&t->segs[0], ref, sizeof ref);
    return cp__wf_seg_err(err, t, &t->segs[0], "task '%s': argument '%s' of app '%s' must be "
                          "%s, got %s from '%s'", T->name, pn, a->name, ptype_desc(ptype),
                          cp__wf_type_desc(ty), ref);
}

/* ------------------------------------------------------------ per task */

static int check_task(struct cp__wf *wf, uint32_t u, cp_err *err)
{
    struct cp__wf_task *T = &wf->tasks[u];
    struct cp__wf_tinfo *ti = &wf->priv->ti[u];
    const struct cp__wf_app *a = &wf->apps[T->app];
    const struct cp__wf_settings *e = &ti->eff;
    if (a->shell && (check_tmpl(wf, u, &a->cmd, CTX_CMD, err) != 0 ||
                     cp__wf_shell_check(&a->cmd, err) != 0))
        return -1;
    for (size_t p = 0; p < T->nargs; p++)
        if (check_tmpl(wf, u, &T->args[p], CTX_ARG, err) != 0 ||
            check_arg_type(wf, u, (int)p, err) != 0)
            return -1;
    for (size_t i = 0; i < e->ninputs; i++)
        if (check_tmpl(wf, u, &e->inputs[i], CTX_INPUTS, err) != 0)
            return -1;
    for (size_t i = 0; i < e->noutputs; i++)
        if (check_tmpl(wf, u, &e->outputs[i], CTX_OUTPUTS, err) != 0)
            return -1;
    if ((e->set & CP_WF_S_STDOUT) && check_tmpl(wf, u, &e->stdout_t, CTX_STDOUT, err) != 0)
        return -1;
    if ((e->set & CP_WF_S_STDERR) && check_tmpl(wf, u, &e->stderr_t, CTX_STDERR, err) != 0)
        return -1;
    /* after: every instance of the named task, or the matching one when this
     * task maps over it. */
    for (size_t i = 0; i < T->nafter; i++) {
        uint32_t v = (uint32_t)cp__wf_hmap_get(&wf->priv->tasks, T->after[i]);
        uint8_t sel = !wf->tasks[v].mapped ? CP_WF_SEL_ONE
                      : maps_over(wf, u, v) ? CP_WF_SEL_MATCH : CP_WF_SEL_ALL;
        const struct cp__ynode *n = ti->after_nodes[i];
        if (add_tref(ti, (struct cp__wf_tref){.task = v, .sel = sel, .node = n,
                                              .line = n->line, .col = n->col}, err) != 0)
            return -1;
    }
    /* Mapping over a task orders it first (its instance count is needed) but
     * is no dependency: sel 0. */
    if (T->map_over >= 0) {
        const struct cp__ynode *n = ti->foreach_node;
        if (add_tref(ti, (struct cp__wf_tref){.task = (uint32_t)T->map_over, .node = n,
                                              .line = n->line, .col = n->col}, err) != 0)
            return -1;
    }
    return 0;
}

/* ------------------------------------------------------------ order and cycles */

struct frame {
    uint32_t task;
    uint32_t edge;              /* the next edge to follow */
};

static int cycle_err(const struct cp__wf *wf, const struct frame *stack, size_t depth,
                     uint32_t v, cp_err *err)
{
    size_t from = depth;
    while (from > 0 && stack[from - 1].task != v)
        from--;
    from--;
    struct cp__wf_buf b = {0};
    size_t len = depth - from;
    for (size_t i = from; i < depth; i++) {
        /* A long cycle keeps its ends: the message must fit one line. */
        if (len > 10 && i == from + 4) {
            cp__wf_buf_str(&b, "... -> ");
            i = depth - 4;
        }
        cp__wf_buf_printf(&b, "%s -> ", wf->tasks[stack[i].task].name);
    }
    cp__wf_buf_str(&b, wf->tasks[v].name);
    if (len > 10)
        cp__wf_buf_printf(&b, " (%zu tasks)", len);
    /* Positioned where the first task of the cycle names the next. */
    const struct cp__wf_tref *tr = &wf->priv->ti[v].refs[stack[from].edge - 1];
    int rc = pos_err(err, tr->node ? tr->node->file : wf->doc->file, tr->line, tr->col,
                     "cycle: %s", b.p ? b.p : "");
    free(b.p);
    return rc;
}

/* Depth-first over the task graph in file order, with an explicit stack (a
 * chain of 10^5 tasks must not recurse): a task is placed once everything it
 * depends on is, so a file already in dependency order keeps its order. */
static int order_tasks(struct cp__wf *wf, cp_err *err)
{
    size_t n = wf->ntasks, depth = 0, placed = 0;
    uint8_t *color = calloc(n, 1);
    struct frame *stack = malloc(n * sizeof *stack);
    wf->priv->order = malloc(n * sizeof *wf->priv->order);
    int rc = 0;
    if (!color || !stack || !wf->priv->order) {
        rc = nomem(err);
        goto out;
    }
    for (uint32_t s = 0; s < n && rc == 0; s++) {
        if (color[s])
            continue;
        color[s] = 1;
        stack[depth++] = (struct frame){s, 0};
        while (depth > 0 && rc == 0) {
            struct frame *f = &stack[depth - 1];
            const struct cp__wf_tinfo *ti = &wf->priv->ti[f->task];
            if (f->edge < ti->nrefs) {
                uint32_t v = ti->refs[f->edge++].task;
                if (color[v] == 1)
                    rc = cycle_err(wf, stack, depth, v, err);
                else if (color[v] == 0) {
                    color[v] = 1;
                    stack[depth++] = (struct frame){v, 0};
                }
            } else {
                color[f->task] = 2;
                wf->priv->order[placed++] = f->task;
                depth--;
            }
        }
    }
out:
    free(color);
    free(stack);
    return rc;
}

int cp__wf_check(struct cp__wf *wf, cp_err *err)
{
    for (uint32_t u = 0; u < wf->ntasks; u++)
        cp__wf_eff(wf, &wf->tasks[u], &wf->priv->ti[u].eff);
    if (check_mapping(wf, err) != 0)
        return -1;
    for (uint32_t u = 0; u < wf->ntasks; u++) {
        struct cp__wf_tinfo *ti = &wf->priv->ti[u];
        for (size_t i = 0; i < ti->eff.noutputs; i++)
            ti->var_outputs |= (tmpl_mask(wf, u, &ti->eff.outputs[i]) & M(CP_LIST)) != 0;
        for (size_t i = 0; i < ti->eff.ninputs; i++)
            ti->var_inputs |= (tmpl_mask(wf, u, &ti->eff.inputs[i]) & M(CP_LIST)) != 0;
    }
    for (uint32_t u = 0; u < wf->ntasks; u++)
        if (check_task(wf, u, err) != 0)
            return -1;
    return order_tasks(wf, err);
}
