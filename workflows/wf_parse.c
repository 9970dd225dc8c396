/* workflows/wf_parse.c — a workflow file's YAML into apps, tasks and vars.
 *
 * Every key is checked here (unknown ones get a did-you-mean), every scalar is
 * typed and range-checked, native apps are found in their libraries, and foreach
 * axes are built (wf_expand.c); names are resolved in wf_check.c, once every
 * task is known. The first error ends the load.
 */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "common/util.h"
#include "workflows/wf_int.h"

static const char *const TOP_KEYS[] = {"name", "description", "config", "vars", "apps",
                                       "tasks", "workdir", NULL};
#define SETTING_KEYS "executor", "walltime", "retries", "cores", "memory", "priority", \
                     "cache", "stdout", "stderr", "stdout_mode", "stderr_mode", "inputs", \
                     "outputs"
static const char *const APP_KEYS[] = {"shell", "native", "library", "version", SETTING_KEYS,
                                       NULL};
static const char *const TASK_KEYS[] = {"app", "args", "foreach", "product", "after", "vars",
                                        SETTING_KEYS, NULL};

static int nomem(cp_err *err)
{
    return cp__errf(err, ENOMEM, "out of memory");
}

/* Names are what references can spell: a letter or '_', then letters, digits,
 * '_' and '-'. */
static bool valid_name(const char *s)
{
    /* The task's own fields come first when a bare name is resolved, so these
     * cannot also be task or variable names. */
    static const char *const reserved[] = {"outputs", "inputs", "stdout", "stderr", NULL};
    for (const char *const *r = reserved; *r; r++)
        if (strcmp(s, *r) == 0)
            return false;
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
        return false;
    for (s++; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_' ||
              (*s >= '0' && *s <= '9') || *s == '-'))
            return false;
    return true;
}

static int check_name(const struct cp__ynode *key, const char *what, cp_err *err)
{
    if (valid_name(key->str))
        return 0;
    if (strcmp(key->str, "outputs") == 0 || strcmp(key->str, "inputs") == 0 ||
        strcmp(key->str, "stdout") == 0 || strcmp(key->str, "stderr") == 0)
        return cp__yerr(err, key, "'%s' is reserved (it names the task's own %s) and cannot be "
                        "a %s name", key->str, key->str, what);
    return cp__yerr(err, key, "%s name '%.100s' must start with a letter or '_' and hold only "
                    "letters, digits, '_' and '-'", what, key->str);
}

static int want_map(const struct cp__ynode *n, const char *what, cp_err *err)
{
    if (n && n->kind == CP_Y_MAP)
        return 0;
    if (!n || cp__ynode_is_null(n))
        return cp__yerr(err, n, "%s must be a mapping, got nothing", what);
    return cp__yerr(err, n, "%s must be a mapping, got %s", what,
                    n->kind == CP_Y_SEQ ? "a list" : "a scalar");
}

/* ------------------------------------------------------------ vars */

static int parse_vars(struct cp__wf *wf, const struct cp__ynode *m, const char *where,
                      char ***names, struct cp_value **vals, size_t *n, cp_err *err)
{
    if (cp__ynode_is_null(m))
        return 0;
    if (want_map(m, where, err) != 0)
        return -1;
    *names = calloc(m->n ? m->n : 1, sizeof **names);
    *vals = calloc(m->n ? m->n : 1, sizeof **vals);
    if (!*names || !*vals)
        return nomem(err);
    for (size_t i = 0; i < m->n; i++) {
        const struct cp__ynode *key = cp__ymap_keynode(m, i);
        if (check_name(key, "variable", err) != 0)
            return -1;
        if (cp__wf_hmap_get(&wf->priv->tasks, key->str) >= 0)
            return cp__yerr(err, key, "'%.100s' is both a variable and a task; rename one",
                            key->str);
        char what[140];
        snprintf(what, sizeof what, "variable '%.100s'", key->str);
        if (cp__wf_node_value(cp__ymap_val(m, i), what, &(*vals)[i], err) != 0)
            return -1;
        if (!((*names)[i] = strdup(key->str)))
            return nomem(err);
        (*n)++;
    }
    return 0;
}

/* -D name=value: replaces a workflow var, typed like a plain YAML scalar (a
 * value starting with '[' is read as a YAML flow list). Names that are not
 * workflow vars are left alone: -D also fills ${NAME} in config files. */
static int apply_defs(struct cp__wf *wf, const struct cp__ynode *vars,
                      const char *const *defs, size_t ndefs, cp_err *err)
{
    for (size_t d = 0; d < ndefs; d++) {
        const char *eq = strchr(defs[d], '=');
        if (!eq || eq == defs[d])
            return cp__errf(err, EINVAL, "-D '%.100s': expected name=value", defs[d]);
        size_t nl = (size_t)(eq - defs[d]);
        size_t i = 0;
        while (i < wf->nvars && !(strlen(wf->var_names[i]) == nl &&
                                  memcmp(wf->var_names[i], defs[d], nl) == 0))
            i++;
        if (i == wf->nvars)
            continue;
        const char *val = eq + 1;
        const struct cp__ynode *at = cp__ymap_get(vars, wf->var_names[i]);
        const struct cp__ynode *n;
        char what[160];
        snprintf(what, sizeof what, "-D %s", wf->var_names[i]);
        if (val[0] == '[') {
            struct cp__ydoc **x = realloc(wf->priv->extra_docs,
                                          (wf->priv->nextra + 1) * sizeof *x);
            if (!x)
                return nomem(err);
            wf->priv->extra_docs = x;
            struct cp__ydoc *doc = cp__ydoc_load_mem(what, val, strlen(val), err);
            if (!doc)
                return -1;
            x[wf->priv->nextra++] = doc;
            n = doc->root;
        } else {
            n = cp__ynode_new_scalar(wf->doc, at, val, strlen(val), CP_Y_PLAIN);
            if (!n)
                return nomem(err);
        }
        struct cp_value v;
        if (cp__wf_node_value(n, what, &v, err) != 0)
            return -1;
        cp__value_clear(&wf->var_vals[i]);
        wf->var_vals[i] = v;
    }
    return 0;
}

/* ------------------------------------------------------------ apps */

/* Finds a native app: first the library's own exported definition, then the
 * registry (apps linked into the program, or registered by the library's
 * constructors). Libraries stay loaded for the life of the process: the
 * registry keeps pointers into them. */
static int load_native(struct cp__wf *wf, struct cp__wf_app *a, const struct cp__ynode *nat,
                       const struct cp__ynode *lib, cp_err *err)
{
    void *h = NULL;
    if (lib) {
        const char *l;
        if (cp__ynode_str(lib, "library", &l, err) != 0)
            return -1;
        a->library = l[0] == '/' ? strdup(l) : cp__strdup_printf("%s/%s", wf->dir, l);
        if (!a->library)
            return nomem(err);
        struct stat st;
        if (stat(a->library, &st) != 0)
            return cp__yerr(err, lib, "library '%.200s' not found (a relative path is "
                            "resolved against the workflow file's directory)", l);
        dlerror();
        h = dlopen(a->library, RTLD_NOW | RTLD_LOCAL);
        if (!h) {
            const char *why = dlerror();
            return cp__yerr(err, lib, "cannot load library '%.200s': %.300s", l,
                            why ? why : "unknown error");
        }
        const cp_app_def *d = dlsym(h, a->native);
        if (d && d->name && strcmp(d->name, a->native) == 0)
            a->def = d;
    }
    if (!a->def)
        a->def = cp_app_find(a->native);
    if (!a->def) {
        if (lib)
            return cp__yerr(err, nat, "native app '%.100s' is not in library '%.200s' (it "
                            "needs a CP_APP named %.100s)", a->native, lib->str, a->native);
        return cp__yerr(err, nat, "native app '%.100s' is not known (name its shared library "
                        "with library:)", a->native);
    }
    if (a->def->kind != CP_APP_NATIVE && a->def->kind != CP_APP_JOIN)
        return cp__yerr(err, nat, "'%.100s' is a shell app (CP_SHELL_APP); native: takes a "
                        "CP_APP or CP_JOIN_APP, and shell commands go in shell:", a->native);
    return 0;
}

static int parse_app(struct cp__wf *wf, struct cp__wf_app *a, const struct cp__ynode *key,
                     const struct cp__ynode *m, cp_err *err)
{
    char where[160];
    snprintf(where, sizeof where, "app '%.100s'", key->str);
    a->node = key;
    if (check_name(key, "app", err) != 0 || want_map(m, where, err) != 0 ||
        cp__ymap_check_keys(m, APP_KEYS, where, err) != 0)
        return -1;
    if (!(a->name = strdup(key->str)))
        return nomem(err);
    const struct cp__ynode *sh = cp__ymap_get(m, "shell"), *nat = cp__ymap_get(m, "native");
    const struct cp__ynode *lib = cp__ymap_get(m, "library"), *ver = cp__ymap_get(m, "version");
    if (sh && nat)
        return cp__yerr(err, nat, "app '%.100s' has both shell: and native:; it is one or "
                        "the other", a->name);
    if (!sh && !nat)
        return cp__yerr(err, key, "app '%.100s' needs shell: (a command) or native: (a "
                        "CP_APP in a library)", a->name);
    if (lib && !nat)
        return cp__yerr(err, lib, "library: goes with native: (app '%.100s' is a shell app)",
                        a->name);
    if (ver) {
        if (ver->kind != CP_Y_SCALAR || cp__ynode_is_null(ver))
            return cp__yerr(err, ver, "version must be a string or a number");
        if (!(a->version = strdup(ver->str)))
            return nomem(err);
    }
    if (cp__wf_parse_settings(wf, m, &a->s, err) != 0)
        return -1;
    if (sh) {
        a->shell = true;
        if (sh->kind != CP_Y_SCALAR || cp__ynode_is_null(sh))
            return cp__yerr(err, sh, "shell must be a command (a string)");
        return cp__wf_tmpl_parse(wf, sh, &a->cmd, err);
    }
    const char *fn;
    if (cp__ynode_str(nat, "native", &fn, err) != 0)
        return -1;
    if (!(a->native = strdup(fn)))
        return nomem(err);
    for (size_t i = 0; i < m->n; i++) {
        const char *k = cp__ymap_key(m, i);
        if (strncmp(k, "stdout", 6) == 0 || strncmp(k, "stderr", 6) == 0)
            return cp__yerr(err, cp__ymap_keynode(m, i), "%s: app '%.100s' is native and has "
                            "no %.6s (only shell apps do)", k, a->name, k);
    }
    return load_native(wf, a, nat, lib, err);
}

/* ------------------------------------------------------------ tasks */

static int parse_args(struct cp__wf *wf, struct cp__wf_task *t, const struct cp__ynode *args,
                      cp_err *err)
{
    const struct cp__wf_app *a = &wf->apps[t->app];
    if (a->shell) {
        if (args)
            return cp__yerr(err, args, "task '%.100s': app '%.100s' is a shell app and takes "
                            "no args (its command uses {…} references; give values with "
                            "vars:)", t->name, a->name);
        return 0;
    }
    const cp_app_def *d = a->def;
    const struct cp__ynode *at = args ? args : t->node;
    if (args && !cp__ynode_is_null(args) && args->kind == CP_Y_SCALAR)
        return cp__yerr(err, args, "task '%.100s': args must be a list (by position) or a "
                        "mapping (by parameter name)", t->name);
    size_t given = args && args->kind != CP_Y_SCALAR ? args->n : 0;
    if (!args || args->kind != CP_Y_MAP) {
        if (given != (size_t)d->nparams)
            return cp__yerr(err, at, "task '%.100s': app '%.100s' takes %d argument%s, got "
                            "%zu", t->name, a->name, d->nparams, d->nparams == 1 ? "" : "s",
                            given);
    } else {
        for (size_t i = 0; i < args->n; i++) {
            const char *k = cp__ymap_key(args, i);
            int p = 0;
            while (p < d->nparams && strcmp(d->param_names[p], k) != 0)
                p++;
            if (p < d->nparams)
                continue;
            const char *names[CP_MAX_PARAMS + 1] = {0};
            for (int j = 0; j < d->nparams; j++)
                names[j] = d->param_names[j];
            const char *hint = cp__did_you_mean(k, names);
            if (hint)
                return cp__yerr(err, cp__ymap_keynode(args, i), "task '%.100s': app '%.100s' "
                                "has no parameter '%.100s' (did you mean '%s'?)", t->name,
                                a->name, k, hint);
            char list[CP_MAX_PARAMS * 40] = "";
            for (int j = 0, used = 0; j < d->nparams && used < (int)sizeof list - 40; j++)
                used += snprintf(list + used, sizeof list - (size_t)used, "%s%.30s",
                                 j ? ", " : "", d->param_names[j]);
            return cp__yerr(err, cp__ymap_keynode(args, i), "task '%.100s': app '%.100s' has "
                            "no parameter '%.100s' (its parameters: %s)", t->name, a->name, k,
                            d->nparams ? list : "none");
        }
        for (int p = 0; p < d->nparams; p++)
            if (!cp__ymap_get(args, d->param_names[p]))
                return cp__yerr(err, args, "task '%.100s': missing argument '%s' of app "
                                "'%.100s'", t->name, d->param_names[p], a->name);
    }
    if (!(t->args = calloc(d->nparams ? (size_t)d->nparams : 1, sizeof *t->args)))
        return nomem(err);
    for (int p = 0; p < d->nparams; p++) {
        const struct cp__ynode *v = args->kind == CP_Y_MAP
                                        ? cp__ymap_get(args, d->param_names[p]) : args->kids[p];
        if (v->kind != CP_Y_SCALAR)
            return cp__yerr(err, v, "task '%.100s': argument '%s' must be a value or a "
                            "template; for a list, reference a list var (\"{xs}\")", t->name,
                            d->param_names[p]);
        if (cp__wf_tmpl_parse(wf, v, &t->args[p], err) != 0)
            return -1;
        t->nargs++;
    }
    return 0;
}

static int parse_after(struct cp__wf *wf, struct cp__wf_task *t, struct cp__wf_tinfo *ti,
                       const struct cp__ynode *v, cp_err *err)
{
    if (cp__ynode_is_null(v))
        return 0;
    if (v->kind == CP_Y_MAP)
        return cp__yerr(err, v, "after must be a task name or a list of them");
    size_t n = v->kind == CP_Y_SEQ ? v->n : 1;
    t->after = calloc(n ? n : 1, sizeof *t->after);
    ti->after_nodes = calloc(n ? n : 1, sizeof *ti->after_nodes);
    if (!t->after || !ti->after_nodes)
        return nomem(err);
    for (size_t i = 0; i < n; i++) {
        const struct cp__ynode *item = v->kind == CP_Y_SEQ ? v->kids[i] : v;
        const char *name;
        if (cp__ynode_str(item, "after", &name, err) != 0)
            return -1;
        if (cp__wf_hmap_get(&wf->priv->tasks, name) < 0) {
            const char **names = cp__wf_task_names(wf);
            const char *hint = names ? cp__did_you_mean(name, names) : NULL;
            int rc = hint ? cp__yerr(err, item, "task '%.100s' runs after unknown task "
                                     "'%.100s' (did you mean '%s'?)", t->name, name, hint)
                          : cp__yerr(err, item, "task '%.100s' runs after unknown task "
                                     "'%.100s'", t->name, name);
            free(names);
            return rc;
        }
        if (!(t->after[i] = strdup(name)))
            return nomem(err);
        ti->after_nodes[i] = item;
        t->nafter++;
    }
    return 0;
}

static int parse_task(struct cp__wf *wf, uint32_t idx, const struct cp__ynode *key,
                      const struct cp__ynode *m, cp_err *err)
{
    struct cp__wf_task *t = &wf->tasks[idx];
    struct cp__wf_tinfo *ti = &wf->priv->ti[idx];
    char where[160];
    snprintf(where, sizeof where, "task '%.100s'", key->str);
    if (want_map(m, where, err) != 0 || cp__ymap_check_keys(m, TASK_KEYS, where, err) != 0)
        return -1;
    const struct cp__ynode *app = cp__ymap_get(m, "app");
    const char *an = t->name;
    if (app && cp__ynode_str(app, "app", &an, err) != 0)
        return -1;
    int64_t ai = cp__wf_hmap_get(&wf->priv->apps, an);
    if (ai < 0) {
        const char *names[wf->napps + 1];
        for (size_t i = 0; i < wf->napps; i++)
            names[i] = wf->apps[i].name;
        names[wf->napps] = NULL;
        const char *hint = cp__did_you_mean(an, names);
        if (!app)
            return cp__yerr(err, key, "task '%.100s' needs app: (there is no app named "
                            "'%.100s')", t->name, t->name);
        if (hint)
            return cp__yerr(err, app, "task '%.100s' uses unknown app '%.100s' (did you mean "
                            "'%s'?)", t->name, an, hint);
        return cp__yerr(err, app, "task '%.100s' uses unknown app '%.100s'", t->name, an);
    }
    t->app = (uint32_t)ai;
    ti->app_node = app ? app : key;
    char vwhere[160];
    snprintf(vwhere, sizeof vwhere, "vars of task '%.100s'", t->name);
    if (parse_vars(wf, cp__ymap_get(m, "vars"), vwhere, &t->var_names, &t->var_vals,
                   &t->nvars, err) != 0 ||
        cp__wf_parse_settings(wf, m, &t->s, err) != 0)
        return -1;
    if (!wf->apps[t->app].shell)
        for (size_t i = 0; i < m->n; i++) {
            const char *k = cp__ymap_key(m, i);
            if (strncmp(k, "stdout", 6) == 0 || strncmp(k, "stderr", 6) == 0)
                return cp__yerr(err, cp__ymap_keynode(m, i), "%s: task '%.100s' runs native "
                                "app '%.100s', which has no %.6s (only shell apps do)", k,
                                t->name, wf->apps[t->app].name, k);
        }
    ti->args_node = cp__ymap_get(m, "args");
    if (parse_args(wf, t, ti->args_node, err) != 0 ||
        parse_after(wf, t, ti, cp__ymap_get(m, "after"), err) != 0)
        return -1;
    ti->foreach_node = cp__ymap_get(m, "foreach");
    return cp__wf_parse_axes(wf, idx, ti->foreach_node, cp__ymap_get(m, "product"), err);
}

/* ------------------------------------------------------------ the document */

static int parse_top(struct cp__wf *wf, const struct cp__ynode *root, cp_err *err)
{
    const struct cp__ynode *n;
    if ((n = cp__ymap_get(root, "name")) && !cp__ynode_is_null(n)) {
        const char *s;
        if (cp__ynode_str(n, "name", &s, err) != 0)
            return -1;
        wf->name = strdup(s);
    } else {
        const char *base = strrchr(wf->path, '/');
        base = base ? base + 1 : wf->path;
        size_t l = strlen(base);
        if (l > 5 && strcmp(base + l - 5, ".yaml") == 0)
            l -= 5;
        else if (l > 4 && strcmp(base + l - 4, ".yml") == 0)
            l -= 4;
        wf->name = strndup(base, l);
    }
    if (!wf->name)
        return nomem(err);
    if ((n = cp__ymap_get(root, "description")) && !cp__ynode_is_null(n)) {
        const char *s;
        if (cp__ynode_str(n, "description", &s, err) != 0)
            return -1;
        if (!(wf->description = strdup(s)))
            return nomem(err);
    }
    wf->config = cp__ymap_get(root, "config");
    if (cp__ynode_is_null(wf->config))
        wf->config = NULL;
    if ((n = cp__ymap_get(root, "workdir")) && !cp__ynode_is_null(n)) {
        const char *s;
        if (cp__ynode_str(n, "workdir", &s, err) != 0)
            return -1;
        char *w = s[0] == '/' ? strdup(s) : cp__strdup_printf("%s/%s", wf->dir, s);
        if (!w || !(wf->workdir = cp__wf_norm_path("/", w))) {
            free(w);
            return nomem(err);
        }
        free(w);
        struct stat st;
        if (stat(wf->workdir, &st) != 0 || !S_ISDIR(st.st_mode))
            return cp__yerr(err, n, "workdir '%.200s' is not a directory (a relative path is "
                            "resolved against the workflow file's directory)", s);
    } else if (!(wf->workdir = strdup(wf->dir))) {
        return nomem(err);
    }
    return 0;
}

int cp__wf_parse_doc(struct cp__wf *wf, const char *const *defs, size_t ndefs, cp_err *err)
{
    const struct cp__ynode *root = wf->doc->root;
    if (!root)
        return cp__errf(err, EINVAL, "%s:1:1: the workflow file is empty (it needs apps: and "
                        "tasks:)", wf->doc->file);
    if (root->kind != CP_Y_MAP)
        return cp__yerr(err, root, "a workflow file is a mapping (name:, vars:, apps:, "
                        "tasks:), got %s", root->kind == CP_Y_SEQ ? "a list" : "a scalar");
    if (cp__ymap_check_keys(root, TOP_KEYS, "the workflow", err) != 0 ||
        parse_top(wf, root, err) != 0)
        return -1;
    const struct cp__ynode *apps = cp__ymap_get(root, "apps");
    const struct cp__ynode *tasks = cp__ymap_get(root, "tasks");
    const struct cp__ynode *vars = cp__ymap_get(root, "vars");
    if (!tasks)
        return cp__yerr(err, root, "the workflow has no tasks: section");
    if (want_map(tasks, "tasks", err) != 0)
        return -1;
    if (tasks->n == 0)
        return cp__yerr(err, tasks, "tasks: is empty");
    if (apps && !cp__ynode_is_null(apps) && want_map(apps, "apps", err) != 0)
        return -1;
    /* Every task name first: vars must not shadow them, and after:/foreach: may
     * name a task defined further down. */
    wf->tasks = calloc(tasks->n, sizeof *wf->tasks);
    wf->priv->ti = calloc(tasks->n, sizeof *wf->priv->ti);
    if (!wf->tasks || !wf->priv->ti)
        return nomem(err);
    wf->ntasks = tasks->n;
    for (size_t i = 0; i < tasks->n; i++) {
        const struct cp__ynode *key = cp__ymap_keynode(tasks, i);
        struct cp__wf_task *t = &wf->tasks[i];
        t->node = key;
        t->map_over = -1;
        if (check_name(key, "task", err) != 0)
            return -1;
        if (!(t->name = strdup(key->str)) ||
            cp__wf_hmap_put(&wf->priv->tasks, t->name, (uint32_t)i) != 0)
            return nomem(err);
    }
    if (parse_vars(wf, vars, "vars", &wf->var_names, &wf->var_vals, &wf->nvars, err) != 0 ||
        apply_defs(wf, vars, defs, ndefs, err) != 0)
        return -1;
    for (size_t i = 0; i < wf->nvars; i++)
        if (cp__wf_hmap_put(&wf->priv->vars, wf->var_names[i], (uint32_t)i) != 0)
            return nomem(err);
    size_t napps = apps && apps->kind == CP_Y_MAP ? apps->n : 0;
    if (!(wf->apps = calloc(napps ? napps : 1, sizeof *wf->apps)))
        return nomem(err);
    for (size_t i = 0; i < napps; i++) {
        wf->napps++;
        if (parse_app(wf, &wf->apps[i], cp__ymap_keynode(apps, i), cp__ymap_val(apps, i),
                      err) != 0)
            return -1;
        if (cp__wf_hmap_put(&wf->priv->apps, wf->apps[i].name, (uint32_t)i) != 0)
            return nomem(err);
    }
    for (size_t i = 0; i < tasks->n; i++) {
        if (parse_task(wf, (uint32_t)i, cp__ymap_keynode(tasks, i), cp__ymap_val(tasks, i),
                       err) != 0)
            return -1;
    }
    return 0;
}

/* ------------------------------------------------------------ load and free */

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *d = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    if (!d)
        return NULL;
    char *abs = realpath(d, NULL);
    free(d);
    return abs;
}

struct cp__wf *cp__wf_load(const char *path, const char *const *defs, size_t ndefs,
                           cp_err *err)
{
    struct cp__wf *wf = calloc(1, sizeof *wf);
    if (!wf || !(wf->priv = calloc(1, sizeof *wf->priv)) || !(wf->path = strdup(path))) {
        nomem(err);
        goto error;
    }
    if (!(wf->doc = cp__ydoc_load_file(path, NULL, err)))
        goto error;
    if (!(wf->dir = dir_of(path))) {
        cp__errf(err, errno, "%s: cannot resolve its directory: %s", path, strerror(errno));
        goto error;
    }
    if (cp__wf_parse_doc(wf, defs, ndefs, err) != 0 || cp__wf_check(wf, err) != 0 ||
        cp__wf_expand(wf, err) != 0)
        goto error;
    return wf;
error:
    cp__wf_free(wf);
    return NULL;
}

/* Labels, paths, deps and the binds array are in the arena; the values in
 * binds hold references, and stdout/stderr paths are malloc'd (wf_run may
 * replace them). */
static void inst_free(struct cp__wf_inst *in)
{
    for (size_t i = 0; i < in->nbinds; i++)
        cp__value_clear(&in->binds[i]);
    free(in->stdout_path);
    free(in->stderr_path);
}

static void axes_free(struct cp__wf_axis *ax, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(ax[i].var);
        for (size_t j = 0; j < ax[i].nvals; j++)
            cp__value_clear(&ax[i].vals[j]);
        free(ax[i].vals);
    }
    free(ax);
}

static void vars_free(char **names, struct cp_value *vals, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(names[i]);
        cp__value_clear(&vals[i]);
    }
    free(names);
    free(vals);
}

void cp__wf_free(struct cp__wf *wf)
{
    if (!wf)
        return;
    for (size_t i = 0; i < wf->ninsts; i++)
        inst_free(&wf->insts[i]);
    free(wf->insts);
    for (size_t i = 0; i < wf->ntasks; i++) {
        struct cp__wf_task *t = &wf->tasks[i];
        free(t->name);
        cp__wf_settings_free(&t->s);
        free(t->args);
        for (size_t j = 0; j < t->nafter; j++)
            free(t->after[j]);
        free(t->after);
        axes_free(t->zip, t->nzip);
        axes_free(t->prod, t->nprod);
        vars_free(t->var_names, t->var_vals, t->nvars);
        free(t->bind_names);
    }
    free(wf->tasks);
    for (size_t i = 0; i < wf->napps; i++) {
        struct cp__wf_app *a = &wf->apps[i];
        free(a->name);
        free(a->native);
        free(a->library);
        free(a->version);
        cp__wf_settings_free(&a->s);
    }
    free(wf->apps);
    vars_free(wf->var_names, wf->var_vals, wf->nvars);
    for (size_t i = 0; i < wf->nwarnings; i++)
        free(wf->warnings[i]);
    free(wf->warnings);
    struct cp__wf_priv *p = wf->priv;
    if (p) {
        cp__wf_hmap_free(&p->tasks);
        cp__wf_hmap_free(&p->apps);
        cp__wf_hmap_free(&p->vars);
        for (size_t i = 0; p->ti && i < wf->ntasks; i++) {
            free(p->ti[i].after_nodes);
            free(p->ti[i].bind_axes);
            free(p->ti[i].refs);
            free(p->ti[i].ichecks);
        }
        free(p->ti);
        free(p->order);
        for (size_t i = 0; i < p->nextra; i++)
            cp__ydoc_free(p->extra_docs[i]);
        free(p->extra_docs);
        free(p->src);
        free(p->lines);
        cp__arena_free(&p->arena);
        free(p);
    }
    free(wf->name);
    free(wf->description);
    free(wf->path);
    free(wf->dir);
    free(wf->workdir);
    cp__ydoc_free(wf->doc);
    free(wf);
}
