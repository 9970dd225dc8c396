/* workflows/wf_expand.c — foreach axes (lists, range(), glob(), list vars)
 * and their expansion into instances: bindings, rendered paths, dependencies,
 * and the check that no path is written by two instances.
 *
 * Instances of one task are contiguous and tasks come in dependency order, so
 * every dependency of an instance has a smaller index. Work is linear in the
 * number of instances plus dependencies: duplicates are dropped with a stamp
 * per instance rather than by searching, and output paths go in a hash table.
 */
#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "workflows/wf_int.h"

static int nomem(cp_err *err)
{
    return cp__errf(err, ENOMEM, "out of memory");
}

/* ------------------------------------------------------------ axes */

static const char *skip_ws(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

/* "range(a, b[, step])" with s pointing after "range(" and ending at ")". */
static int parse_range(const struct cp__ynode *v, const char *s, size_t len,
                       struct cp__wf_axis *ax, cp_err *err)
{
    long args[3];
    int n = 0;
    const char *p = s, *end = s + len;
    while (p < end) {
        char *e;
        p = skip_ws(p);
        errno = 0;
        if (n == 3 || p >= end || !((*p >= '0' && *p <= '9') || *p == '-' || *p == '+'))
            goto bad;
        args[n++] = strtol(p, &e, 10);
        if (errno == ERANGE || e == p)
            goto bad;
        p = skip_ws(e);
        if (p < end && *p++ != ',')
            goto bad;
        if (p == end && p[-1] == ',')
            goto bad;
    }
    if (n < 2)
        goto bad;
    long a = args[0], b = args[1], step = n == 3 ? args[2] : 1;
    if (step == 0)
        return cp__yerr(err, v, "bad range '%.100s': the step must not be 0", v->str);
    /* Count in unsigned arithmetic: b - a can overflow a long. */
    unsigned long span = step > 0 ? (b > a ? (unsigned long)b - (unsigned long)a : 0)
                                   : (a > b ? (unsigned long)a - (unsigned long)b : 0);
    unsigned long ustep = step > 0 ? (unsigned long)step : 0 - (unsigned long)step;
    unsigned long count = span / ustep + (span % ustep != 0);
    if (count > CP_WF_MAX_INSTS)
        return cp__yerr(err, v, "range '%.100s' has %lu values; a workflow may have at most "
                        "%u instances", v->str, count, CP_WF_MAX_INSTS);
    ax->vals = calloc(count ? count : 1, sizeof *ax->vals);
    if (!ax->vals)
        return nomem(err);
    for (unsigned long i = 0; i < count; i++)
        cp__value_int(&ax->vals[i], a + (long)(i * (unsigned long)step));
    ax->nvals = count;
    return 0;
bad:
    return cp__yerr(err, v, "bad range '%.100s': expected range(a, b) or range(a, b, step) "
                    "with integers", v->str);
}

/* "glob(pattern)": matching paths, sorted, relative to workdir when the pattern
 * is relative. */
static int parse_glob(const struct cp__wf *wf, const struct cp__ynode *v, const char *s,
                      size_t len, struct cp__wf_axis *ax, cp_err *err)
{
    s = skip_ws(s);
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    len = strnlen(s, len);
    if (len >= 2 && (s[0] == '\'' || s[0] == '"') && s[len - 1] == s[0]) {
        s++;
        len -= 2;
    }
    if (len == 0)
        return cp__yerr(err, v, "glob() needs a pattern, as in glob(data/*.csv)");
    struct cp__wf_buf b = {0};
    size_t prefix = 0;
    if (s[0] != '/') {
        cp__wf_buf_str(&b, wf->workdir);
        cp__wf_buf_str(&b, "/");
        prefix = b.len;
    }
    cp__wf_buf_add(&b, s, len);
    char *pat = cp__wf_buf_take(&b);
    if (!pat)
        return nomem(err);
    glob_t g;
    int rc = glob(pat, 0, NULL, &g);
    free(pat);
    if (rc == GLOB_NOMATCH)
        return 0;
    if (rc != 0) {
        if (rc != GLOB_NOSPACE)
            globfree(&g);
        return rc == GLOB_NOSPACE ? nomem(err)
                                  : cp__yerr(err, v, "glob '%.100s' failed: a directory "
                                             "could not be read", v->str);
    }
    if (g.gl_pathc > CP_WF_MAX_INSTS) {
        globfree(&g);
        return cp__yerr(err, v, "glob '%.100s' matches too many files", v->str);
    }
    ax->vals = calloc(g.gl_pathc ? g.gl_pathc : 1, sizeof *ax->vals);
    if (!ax->vals) {
        globfree(&g);
        return nomem(err);
    }
    for (size_t i = 0; i < g.gl_pathc; i++) {
        const char *p = g.gl_pathv[i] + prefix;
        if (cp__value_str(&ax->vals[i], p, strlen(p)) != 0) {
            globfree(&g);
            return nomem(err);
        }
        ax->nvals++;
    }
    globfree(&g);
    return 0;
}

/* "{xs}": a list var of the task or the workflow. */
static int axis_from_var(struct cp__wf *wf, const struct cp__wf_task *T,
                         const struct cp__ynode *v, struct cp__wf_axis *ax, cp_err *err)
{
    struct cp__wf_tmpl t;
    if (cp__wf_tmpl_parse(wf, v, &t, err) != 0)
        return -1;
    int rc = -1;
    const struct cp__wf_seg *s = &t.segs[0];
    const struct cp_value *val = NULL;
    for (size_t i = 0; i < T->nvars && !val; i++)
        if (strcmp(T->var_names[i], s->name) == 0)
            val = &T->var_vals[i];
    int64_t w = cp__wf_hmap_get(&wf->priv->vars, s->name);
    if (!val && w >= 0)
        val = &wf->var_vals[w];
    if (!val) {
        const char *names[T->nvars + wf->nvars + 1];
        size_t k = 0;
        for (size_t i = 0; i < T->nvars; i++)
            names[k++] = T->var_names[i];
        for (size_t i = 0; i < wf->nvars; i++)
            names[k++] = wf->var_names[i];
        names[k] = NULL;
        const char *hint = cp__did_you_mean(s->name, names);
        if (hint)
            cp__wf_seg_err(err, &t, s, "task '%s': foreach '%s' uses unknown variable '%s' "
                           "(did you mean '%s'?)", T->name, ax->var, s->name, hint);
        else
            cp__wf_seg_err(err, &t, s, "task '%s': foreach '%s' uses unknown variable '%s'",
                           T->name, ax->var, s->name);
        goto out;
    }
    struct cp_value list;
    if (cp__wf_apply_steps(&t, s, 0, val, &list, err) != 0)
        goto out;
    if (list.type != CP_LIST) {
        char ref[200];
        cp__wf_seg_text(s, ref, sizeof ref);
        cp__wf_seg_err(err, &t, s, "task '%s': foreach '%s': '%s' is %s, not a list", T->name,
                       ax->var, ref, cp__wf_type_desc(list.type));
        cp__value_clear(&list);
        goto out;
    }
    ax->vals = calloc(list.len ? list.len : 1, sizeof *ax->vals);
    if (!ax->vals) {
        cp__value_clear(&list);
        nomem(err);
        goto out;
    }
    for (uint32_t i = 0; i < list.len; i++)
        cp__value_copy(&ax->vals[i], &cp__value_items(&list)[i]);
    ax->nvals = list.len;
    cp__value_clear(&list);
    rc = 0;
out:
    return rc;
}

static bool call_form(const char *s, const char *fn, const char **inner, size_t *len)
{
    size_t l = strlen(fn), n = strlen(s);
    if (strncmp(s, fn, l) != 0 || n < l + 2 || s[l] != '(' || s[n - 1] != ')')
        return false;
    *inner = s + l + 1;
    *len = n - l - 2;
    return true;
}

static int parse_axis(struct cp__wf *wf, const struct cp__wf_task *T, const char *kind,
                      const struct cp__ynode *key, const struct cp__ynode *v,
                      struct cp__wf_axis *ax, cp_err *err)
{
    ax->node = v;
    if (!(ax->var = strdup(key->str)))
        return nomem(err);
    const char *inner;
    size_t len;
    int type = v->kind == CP_Y_SCALAR ? cp__yscalar_type(v) : -1;
    if (v->kind == CP_Y_SEQ) {
        struct cp_value list;
        if (cp__wf_node_value(v, key->str, &list, err) != 0)
            return -1;
        ax->vals = calloc(list.len ? list.len : 1, sizeof *ax->vals);
        if (!ax->vals) {
            cp__value_clear(&list);
            return nomem(err);
        }
        for (uint32_t i = 0; i < list.len; i++)
            cp__value_copy(&ax->vals[i], &cp__value_items(&list)[i]);
        ax->nvals = list.len;
        cp__value_clear(&list);
        return 0;
    }
    if (type == CP_STR && call_form(v->str, "range", &inner, &len))
        return parse_range(v, inner, len, ax, err);
    if (type == CP_STR && call_form(v->str, "glob", &inner, &len))
        return parse_glob(wf, v, inner, len, ax, err);
    if (type == CP_STR && v->str[0] == '{') {
        struct cp__wf_tmpl t;
        if (cp__wf_tmpl_parse(wf, v, &t, err) != 0)
            return -1;
        if (t.single_ref)
            return axis_from_var(wf, T, v, ax, err);
    }
    if (type == CP_STR && (strncmp(v->str, "range(", 6) == 0 || strncmp(v->str, "glob(", 5) == 0)
        && !strchr(v->str, ')'))
        return cp__yerr(err, v, "task '%s': %s '%s': '%.100s' was cut at a comma; inside {…} "
                        "flow style, quote it (\"range(1, 10)\")", T->name, kind, key->str,
                        v->str);
    if (v->kind == CP_Y_MAP)
        return cp__yerr(err, v, "task '%s': %s '%s' must be a list, range(a, b[, step]), "
                        "glob(pattern) or a list var (\"{xs}\"), got a mapping", T->name, kind,
                        key->str);
    return cp__yerr(err, v, "task '%s': %s '%s' must be a list, range(a, b[, step]), "
                    "glob(pattern) or a list var (\"{xs}\"), got '%.100s'", T->name, kind,
                    key->str, v->str);
}

static int parse_axis_map(struct cp__wf *wf, struct cp__wf_task *T, const char *kind,
                          const struct cp__ynode *m, struct cp__wf_axis **out, size_t *n,
                          cp_err *err)
{
    if (m->kind == CP_Y_MAP && m->n == 0)
        return cp__yerr(err, m, "task '%s': %s is empty; name at least one variable", T->name,
                        kind);
    if (m->kind != CP_Y_MAP)
        return cp__yerr(err, m, "task '%s': %s must be a mapping of variable names to lists%s",
                        T->name, kind, strcmp(kind, "foreach") == 0
                                           ? " (or the name of a mapped task)" : "");
    if (!(*out = calloc(m->n, sizeof **out)))
        return nomem(err);
    for (size_t i = 0; i < m->n; i++) {
        const struct cp__ynode *key = cp__ymap_keynode(m, i);
        const char *k = key->str;
        bool ok = (*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') || *k == '_';
        for (const char *c = k; *c && ok; c++)
            ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || *c == '_' ||
                 *c == '-' || (*c >= '0' && *c <= '9');
        if (!ok)
            return cp__yerr(err, key, "foreach variable '%.100s' must start with a letter or "
                            "'_' and hold only letters, digits, '_' and '-'", k);
        (*n)++;
        if (parse_axis(wf, T, kind, key, cp__ymap_val(m, i), &(*out)[i], err) != 0)
            return -1;
    }
    return 0;
}

int cp__wf_parse_axes(struct cp__wf *wf, uint32_t ti, const struct cp__ynode *fe,
                      const struct cp__ynode *prod, cp_err *err)
{
    struct cp__wf_task *T = &wf->tasks[ti];
    if (fe && !cp__ynode_is_null(fe)) {
        T->mapped = true;
        if (fe->kind == CP_Y_SCALAR && cp__yscalar_type(fe) == CP_STR) {
            int64_t u = cp__wf_hmap_get(&wf->priv->tasks, fe->str);
            if (u < 0) {
                const char **names = cp__wf_task_names(wf);
                const char *hint = names ? cp__did_you_mean(fe->str, names) : NULL;
                int rc = hint ? cp__yerr(err, fe, "task '%s' maps over unknown task '%.100s' "
                                         "(did you mean '%s'?)", T->name, fe->str, hint)
                              : cp__yerr(err, fe, "task '%s' maps over unknown task '%.100s' "
                                         "(foreach: takes a task name or a mapping of "
                                         "variables to lists)", T->name, fe->str);
                free(names);
                return rc;
            }
            if ((uint32_t)u == ti)
                return cp__yerr(err, fe, "cycle: %s -> %s", T->name, T->name);
            T->map_over = (int32_t)u;
        } else if (parse_axis_map(wf, T, "foreach", fe, &T->zip, &T->nzip, err) != 0) {
            return -1;
        }
    }
    if (prod && !cp__ynode_is_null(prod)) {
        T->mapped = true;
        if (parse_axis_map(wf, T, "product", prod, &T->prod, &T->nprod, err) != 0)
            return -1;
    }
    for (size_t i = 1; i < T->nzip; i++)
        if (T->zip[i].nvals != T->zip[0].nvals)
            return cp__yerr(err, T->zip[i].node, "task '%s': foreach '%s' has %zu value%s but "
                            "'%s' has %zu (foreach keys are zipped and need equal lengths; "
                            "product: crosses them)", T->name, T->zip[0].var, T->zip[0].nvals,
                            T->zip[0].nvals == 1 ? "" : "s", T->zip[i].var, T->zip[i].nvals);
    for (size_t i = 0; i < T->nzip + T->nprod; i++) {
        const struct cp__wf_axis *ax = i < T->nzip ? &T->zip[i] : &T->prod[i - T->nzip];
        if (ax->nvals)
            continue;
        const char *kind = i < T->nzip ? "foreach" : "product";
        const char *inner;
        size_t len;
        int rc = ax->node->kind == CP_Y_SCALAR && call_form(ax->node->str, "glob", &inner, &len)
                     ? cp__wf_warn(wf, ax->node, "task '%s': %s '%s': %.100s matches nothing, "
                                   "so the task has no instances", T->name, kind, ax->var,
                                   ax->node->str)
                     : cp__wf_warn(wf, ax->node, "task '%s': %s '%s' is empty, so the task "
                                   "has no instances", T->name, kind, ax->var);
        if (rc != 0)
            return nomem(err);
        break;
    }
    return 0;
}

/* ------------------------------------------------------------ instances */

struct expand {
    struct cp__wf *wf;
    uint32_t *stamp, *pos;      /* per instance: last dependent that added it, where */
    struct cp__wf_dep *deps;    /* scratch for one instance */
    size_t ndeps, capdeps;
    struct cp__wf_buf scratch;  /* rendered paths */
};

static int add_dep(struct expand *x, uint32_t self, uint32_t dep, bool result)
{
    if (x->stamp[dep] == self) {
        x->deps[x->pos[dep]].needs_result |= result;
        return 0;
    }
    if (x->ndeps == x->capdeps) {
        size_t cap = x->capdeps ? x->capdeps * 2 : 16;
        struct cp__wf_dep *n = realloc(x->deps, cap * sizeof *n);
        if (!n)
            return -1;
        x->deps = n;
        x->capdeps = cap;
    }
    x->stamp[dep] = self;
    x->pos[dep] = (uint32_t)x->ndeps;
    x->deps[x->ndeps++] = (struct cp__wf_dep){dep, result};
    return 0;
}

/* Renders path templates into the scratch buffer, then moves them to the
 * arena as an array of strings. */
static int render_list(struct expand *x, struct cp__wf_inst *in, const struct cp__wf_tmpl *ts,
                       size_t nt, char ***out, size_t *nout, cp_err *err)
{
    struct cp__arena *a = &x->wf->priv->arena;
    x->scratch.len = 0;
    long n = 0;
    for (size_t i = 0; i < nt; i++) {
        long k = cp__wf_render_paths(x->wf, in, &ts[i], &x->scratch, err);
        if (k < 0)
            return -1;
        n += k;
    }
    if (n == 0)
        return 0;
    char **v = cp__arena_alloc(a, (size_t)n * sizeof *v);
    char *text = cp__arena_alloc(a, x->scratch.len);
    if (!v || !text)
        return nomem(err);
    memcpy(text, x->scratch.p, x->scratch.len);
    for (long i = 0; i < n; i++) {
        v[i] = text;
        text += strlen(text) + 1;
    }
    *out = v;
    *nout = (size_t)n;
    return 0;
}

/* stdout/stderr: exactly one path, malloc'd (wf_run may replace it). */
static char *render_one(struct expand *x, struct cp__wf_inst *in, const struct cp__wf_tmpl *t,
                        cp_err *err)
{
    x->scratch.len = 0;
    long n = cp__wf_render_paths(x->wf, in, t, &x->scratch, err);
    if (n < 0)
        return NULL;
    if (n != 1) {
        cp__yerr(err, t->node, "task '%s': '%.100s' must give one path, got %ld for '%s'",
                 x->wf->tasks[in->task].name, t->node->str, n, in->label);
        return NULL;
    }
    char *p = strdup(x->scratch.p);
    if (!p)
        nomem(err);
    return p;
}

static int inst_paths(struct expand *x, struct cp__wf_inst *in, cp_err *err)
{
    struct cp__wf_tinfo *ti = &x->wf->priv->ti[in->task];
    const struct cp__wf_settings *e = &ti->eff;
    if (render_list(x, in, e->inputs, e->ninputs, &in->inputs, &in->ninputs, err) != 0 ||
        render_list(x, in, e->outputs, e->noutputs, &in->outputs, &in->noutputs, err) != 0)
        return -1;
    if ((e->set & CP_WF_S_STDOUT) && !(in->stdout_path = render_one(x, in, &e->stdout_t, err)))
        return -1;
    if ((e->set & CP_WF_S_STDERR) && !(in->stderr_path = render_one(x, in, &e->stderr_t, err)))
        return -1;
    if (in->index == 0 || in->noutputs < ti->min_outputs)
        ti->min_outputs = (uint32_t)in->noutputs;
    if (in->index == 0 || in->ninputs < ti->min_inputs)
        ti->min_inputs = (uint32_t)in->ninputs;
    return 0;
}

/* Instance i of task u: label, bindings, paths, dependencies. */
static int build_inst(struct expand *x, uint32_t u, uint32_t i, uint64_t prodn, cp_err *err)
{
    struct cp__wf *wf = x->wf;
    const struct cp__wf_task *T = &wf->tasks[u];
    const struct cp__wf_tinfo *ti = &wf->priv->ti[u];
    uint32_t self = T->first + i;
    struct cp__wf_inst *in = &wf->insts[self];
    in->task = u;
    in->index = i;
    in->over = UINT32_MAX;
    struct cp__arena *a = &wf->priv->arena;
    if (T->mapped) {
        char label[32];
        int n = snprintf(label, sizeof label, "[%u]", i);
        size_t ln = strlen(T->name);
        if ((in->label = cp__arena_alloc(a, ln + (size_t)n + 1))) {
            memcpy(in->label, T->name, ln);
            memcpy(in->label + ln, label, (size_t)n + 1);
        }
    } else {
        in->label = T->name;    /* both live as long as wf */
    }
    if (!in->label)
        return nomem(err);
    uint64_t zi = i / prodn, rest = i % prodn;
    if (T->map_over >= 0)
        in->over = wf->tasks[T->map_over].first + (uint32_t)zi;
    if (T->nbind_names) {
        if (!(in->binds = cp__arena_alloc(a, T->nbind_names * sizeof *in->binds)))
            return nomem(err);
        in->nbinds = T->nbind_names;
        size_t k = 0;
        for (size_t z = 0; z < T->nzip; z++)
            cp__value_copy(&in->binds[k++], &T->zip[z].vals[zi]);
        /* Product axes: the last one turns fastest, as itertools.product does. */
        for (size_t p = T->nprod; p-- > 0;) {
            cp__value_copy(&in->binds[T->nzip + p], &T->prod[p].vals[rest % T->prod[p].nvals]);
            rest /= T->prod[p].nvals;
        }
        k += T->nprod;
        if (in->over != UINT32_MAX) {
            const struct cp__wf_inst *o = &wf->insts[in->over];
            for (size_t b = 0; b < o->nbinds; b++)
                cp__value_copy(&in->binds[k++], &o->binds[b]);
        }
    }
    if (inst_paths(x, in, err) != 0)
        return -1;
    x->ndeps = 0;
    for (size_t r = 0; r < ti->nrefs; r++) {
        const struct cp__wf_tref *tr = &ti->refs[r];
        const struct cp__wf_task *U = &wf->tasks[tr->task];
        int rc = 0;
        switch (tr->sel) {
        case CP_WF_SEL_ONE:
            rc = add_dep(x, self, U->first, tr->result);
            break;
        case CP_WF_SEL_INDEX:
            rc = add_dep(x, self, U->first + (uint32_t)tr->index, tr->result);
            break;
        case CP_WF_SEL_ALL:
            for (uint32_t j = 0; j < U->count && rc == 0; j++)
                rc = add_dep(x, self, U->first + j, tr->result);
            break;
        case CP_WF_SEL_MATCH: {
            uint32_t m = self;
            while (wf->insts[m].task != tr->task)
                m = wf->insts[m].over;
            rc = add_dep(x, self, m, tr->result);
            break;
        }
        default:
            break;              /* ordering only (foreach: othertask) */
        }
        if (rc != 0)
            return nomem(err);
    }
    if (x->ndeps) {
        if (!(in->deps = cp__arena_alloc(a, x->ndeps * sizeof *in->deps)))
            return nomem(err);
        memcpy(in->deps, x->deps, x->ndeps * sizeof *in->deps);
        in->ndeps = (uint32_t)x->ndeps;
    }
    return 0;
}

/* Instance counts in task order (a task mapped over another comes after it). */
static int count_insts(struct cp__wf *wf, uint64_t *prodn, size_t *ntotal, cp_err *err)
{
    uint64_t total = 0;
    for (size_t o = 0; o < wf->ntasks; o++) {
        uint32_t u = wf->priv->order[o];
        struct cp__wf_task *T = &wf->tasks[u];
        uint64_t p = 1, n = 1;
        for (size_t i = 0; i < T->nprod; i++)
            p = p * T->prod[i].nvals > CP_WF_MAX_INSTS ? CP_WF_MAX_INSTS + 1ull
                                                       : p * T->prod[i].nvals;
        prodn[u] = p ? p : 1;
        if (T->mapped)
            n = (T->map_over >= 0 ? wf->tasks[T->map_over].count
                                  : T->nzip ? T->zip[0].nvals : 1) * p;
        if (n > CP_WF_MAX_INSTS || total + n > CP_WF_MAX_INSTS)
            return cp__yerr(err, T->node, "task '%s' would make the workflow larger than %u "
                            "instances", T->name, CP_WF_MAX_INSTS);
        T->first = (uint32_t)total;
        T->count = (uint32_t)n;
        total += n;
    }
    *ntotal = total;
    return 0;
}

/* Instance numbers ({t[3].outputs[0]}) must exist: checked once counts are known. */
static int check_indexes(const struct cp__wf *wf, cp_err *err)
{
    for (uint32_t u = 0; u < wf->ntasks; u++) {
        const struct cp__wf_tinfo *ti = &wf->priv->ti[u];
        for (size_t r = 0; r < ti->nrefs; r++) {
            const struct cp__wf_tref *tr = &ti->refs[r];
            const struct cp__wf_task *U = &wf->tasks[tr->task];
            if (tr->sel != CP_WF_SEL_INDEX || (unsigned long)tr->index < U->count)
                continue;
            return cp__errf(err, EINVAL, "%s:%u:%u: task '%s' references %s[%ld], but task "
                            "'%s' has %u instance%s", tr->node->file, tr->line, tr->col,
                            wf->tasks[u].name, U->name, tr->index, U->name, U->count,
                            U->count == 1 ? "" : "s");
        }
    }
    return 0;
}

/* ------------------------------------------------------------ outputs written twice */

/* Which output template of an instance gave its k-th output path (a template
 * that is one reference to a list gives several): found again only for an
 * error message. */
static const struct cp__wf_tmpl *output_tmpl(const struct cp__wf *wf,
                                             const struct cp__wf_inst *in, size_t k)
{
    const struct cp__wf_settings *e = &wf->priv->ti[in->task].eff;
    struct cp__wf_buf b = {0};
    size_t seen = 0, i = 0;
    for (; i + 1 < e->noutputs; i++) {
        b.len = 0;
        long n = cp__wf_render_paths(wf, in, &e->outputs[i], &b, NULL);
        if (n < 0 || seen + (size_t)n > k)
            break;
        seen += (size_t)n;
    }
    free(b.p);
    return &e->outputs[i];
}

static int dup_err(const struct cp__wf *wf, const struct cp__wf_tmpl *t, const char *shown,
                   uint32_t first, uint32_t second, cp_err *err)
{
    const char *a = wf->insts[first].label, *b = wf->insts[second].label;
    if (first == second)
        return cp__yerr(err, t->node, "'%s' writes '%.200s' twice", a, shown);
    return cp__yerr(err, t->node, "output '%.200s' is written by both '%s' and '%s'", shown,
                    a, b);
}

/* Every output, stdout and stderr path (normalised under workdir) has one
 * writer. The normalised paths live in a scratch arena for the check only. */
static int check_writers(const struct cp__wf *wf, cp_err *err)
{
    struct cp__wf_hmap seen = {0};
    struct cp__arena keys = {0};
    int rc = 0;
    for (size_t i = 0; i < wf->ninsts && rc == 0; i++) {
        const struct cp__wf_inst *in = &wf->insts[i];
        const struct cp__wf_settings *e = &wf->priv->ti[in->task].eff;
        size_t n = in->noutputs + 2;
        for (size_t k = 0; k < n && rc == 0; k++) {
            const char *p;
            if (k < in->noutputs)
                p = in->outputs[k];
            else if (k == in->noutputs)    /* append mode may share a log on purpose */
                p = e->stdout_append ? NULL : in->stdout_path;
            else
                p = e->stderr_append ? NULL : in->stderr_path;
            if (!p)
                continue;
            char *norm = cp__wf_norm_path(wf->workdir, p);
            char *key = norm ? cp__arena_strndup(&keys, norm, strlen(norm)) : NULL;
            free(norm);
            if (!key) {
                rc = nomem(err);
                break;
            }
            int64_t at = cp__wf_hmap_get(&seen, key);
            if (at >= 0) {
                const struct cp__wf_tmpl *t = k < in->noutputs ? output_tmpl(wf, in, k)
                                              : k == in->noutputs ? &e->stdout_t : &e->stderr_t;
                rc = dup_err(wf, t, p, (uint32_t)at, (uint32_t)i, err);
            } else if (cp__wf_hmap_put(&seen, key, (uint32_t)i) != 0) {
                rc = nomem(err);
            }
        }
    }
    cp__arena_free(&keys);
    cp__wf_hmap_free(&seen);
    return rc;
}

/* Indexes into outputs/inputs of tasks whose path count varies per instance. */
static int check_late_indexes(const struct cp__wf *wf, cp_err *err)
{
    for (uint32_t u = 0; u < wf->ntasks; u++) {
        const struct cp__wf_tinfo *ti = &wf->priv->ti[u];
        for (size_t i = 0; i < ti->nichecks; i++) {
            const struct cp__wf_icheck *c = &ti->ichecks[i];
            const struct cp__wf_tinfo *tt = &wf->priv->ti[c->task];
            uint32_t have = c->field == CP_WF_F_OUTPUTS ? tt->min_outputs : tt->min_inputs;
            if (wf->tasks[c->task].count == 0 || (unsigned long)c->index < have)
                continue;
            char ref[200];
            cp__wf_seg_text(c->s, ref, sizeof ref);
            return cp__wf_seg_err(err, c->t, c->s, "'%s': index %ld is out of range (task "
                                  "'%s' has %u %s%s)", ref, c->index, wf->tasks[c->task].name,
                                  have, c->field == CP_WF_F_OUTPUTS ? "outputs" : "inputs",
                                  wf->tasks[c->task].count > 1 ? " in some instances" : "");
        }
    }
    return 0;
}

int cp__wf_expand(struct cp__wf *wf, cp_err *err)
{
    struct expand x = {.wf = wf};
    uint64_t *prodn = malloc((wf->ntasks ? wf->ntasks : 1) * sizeof *prodn);
    int rc = -1;
    if (!prodn) {
        nomem(err);
        goto out;
    }
    size_t total = 0;
    if (count_insts(wf, prodn, &total, err) != 0 || check_indexes(wf, err) != 0)
        goto out;
    size_t n = total ? total : 1;
    struct cp__wf_inst *insts = calloc(n, sizeof *insts);
    x.stamp = malloc(n * sizeof *x.stamp);
    x.pos = malloc(n * sizeof *x.pos);
    if (!insts || !x.stamp || !x.pos) {
        free(insts);
        nomem(err);
        goto out;
    }
    wf->insts = insts;
    memset(x.stamp, 0xFF, n * sizeof *x.stamp);
    /* Built in order: an instance's label and bindings exist before a later
     * instance looks at them, and cp__wf_free sees only built ones. */
    for (size_t o = 0; o < wf->ntasks; o++) {
        uint32_t u = wf->priv->order[o];
        for (uint32_t i = 0; i < wf->tasks[u].count; i++) {
            wf->ninsts++;
            if (build_inst(&x, u, i, prodn[u], err) != 0)
                goto out;
        }
    }
    wf->ninsts = total;
    rc = check_late_indexes(wf, err);
    if (rc == 0)
        rc = check_writers(wf, err);
out:
    free(prodn);
    free(x.stamp);
    free(x.pos);
    free(x.deps);
    free(x.scratch.p);
    return rc;
}
