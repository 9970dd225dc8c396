/* workflows/wf.h — the workflow model of DESIGN.md §5: a YAML workflow file
 * loaded, checked and expanded into concrete task instances.
 *
 * The steps, each stopping at the first error (see wf_int.h):
 *   wf_parse.c     YAML → apps, tasks, vars (every key checked; positions kept),
 *                  native apps found in their libraries; wf_settings.c reads
 *                  the per-app/per-task settings
 *   wf_tmpl.c      templates cut into text and references
 *   wf_check.c     names and references resolved; fields, static indexes, native
 *                  argument types; cycles; a task order with dependencies first
 *   wf_expand.c    foreach/product/range/glob → instances with bindings, paths
 *                  and dependencies; output paths written twice
 *   wf_render.c    templates → text: shell commands (every value quoted for its
 *                  place) and native arguments, at load time or, for {t.result},
 *                  at run time
 * and two consumers: wf_dag.c (--dag dot|mermaid) and wf_run.c (submits the
 * instances to the engine). docs/workflows.md is the user's reference.
 *
 * Everything here is owned by the struct cp__wf and freed by cp__wf_free. Once
 * loaded, the model is read-only (and so safe to read from several threads),
 * except that wf_run may fill in stdout_path/stderr_path (see cp__wf_inst).
 */
#ifndef CP_WORKFLOWS_WF_H
#define CP_WORKFLOWS_WF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cparsl.h"
#include "common/err.h"
#include "common/value.h"
#include "common/yaml.h"

/* ------------------------------------------------------------ references */

/* One step of a reference path: {t.outputs[0]} is name "t", field "outputs",
 * index 0. */
enum cp__wf_step_kind { CP_WF_FIELD = 1, CP_WF_INDEX, CP_WF_ALL };
struct cp__wf_step {
    uint8_t kind;
    char *field;                /* CP_WF_FIELD */
    long index;                 /* CP_WF_INDEX */
};

/* A template string cut into literal text and references. */
struct cp__wf_seg {
    char *text;                 /* literal (braces unescaped), or NULL for a reference */
    char *name;                 /* the reference's first name */
    struct cp__wf_step *steps;
    size_t nsteps;
    uint32_t line, col;         /* where '{' is in the source, for errors */
};
struct cp__wf_tmpl {
    const struct cp__ynode *node;   /* where it was written */
    struct cp__wf_seg *segs;
    size_t nsegs;
    bool single_ref;            /* exactly one reference and no text: keeps its type */
    bool has_refs;              /* at least one reference (else: constant text) */
};

/* ------------------------------------------------------------ apps and tasks */

/* Settings an app gives and a task may override; `set` bits say which are given. */
enum {
    CP_WF_S_EXECUTOR = 1 << 0, CP_WF_S_WALLTIME = 1 << 1, CP_WF_S_RETRIES = 1 << 2,
    CP_WF_S_CORES = 1 << 3, CP_WF_S_MEMORY = 1 << 4, CP_WF_S_PRIORITY = 1 << 5,
    CP_WF_S_CACHE = 1 << 6, CP_WF_S_STDOUT = 1 << 7, CP_WF_S_STDERR = 1 << 8,
    CP_WF_S_STDOUT_MODE = 1 << 9, CP_WF_S_STDERR_MODE = 1 << 10,
    CP_WF_S_INPUTS = 1 << 11, CP_WF_S_OUTPUTS = 1 << 12,
};
struct cp__wf_settings {
    uint32_t set;
    char *executor;
    double walltime;            /* seconds */
    int retries;
    int cores;
    int memory_mb;              /* `memory:` in MB (a number, or "4GB"/"512MB") */
    int priority;
    bool cache;
    bool stdout_append, stderr_append;
    struct cp__wf_tmpl stdout_t, stderr_t;
    struct cp__wf_tmpl *inputs, *outputs;   /* templates, one per list item */
    size_t ninputs, noutputs;
};

struct cp__wf_app {
    char *name;
    const struct cp__ynode *node;
    bool shell;
    struct cp__wf_tmpl cmd;     /* shell: the command template */
    char *native;               /* native: the function (a CP_APP) name */
    char *library;              /* native: the shared library, resolved to a path */
    const cp_app_def *def;      /* native: found in the library (dlopen) */
    char *version;              /* cache key part, or NULL */
    struct cp__wf_settings s;
};

/* One foreach/product key: a list of values, or "every instance of a task". */
struct cp__wf_axis {
    char *var;                  /* the variable name ({seed}) */
    const struct cp__ynode *node;
    struct cp_value *vals;      /* typed values (int, double, bool, str) */
    size_t nvals;
};

struct cp__wf_task {
    char *name;
    const struct cp__ynode *node;
    uint32_t app;               /* index into apps */
    struct cp__wf_settings s;   /* task-level overrides; merged view: cp__wf_eff */
    struct cp__wf_tmpl *args;   /* native: one per parameter, in parameter order */
    size_t nargs;
    char **after;               /* task names */
    size_t nafter;
    /* Mapping: zip of `foreach` axes, crossed with each `product` axis, or
     * one-to-one over another task (map_over). */
    struct cp__wf_axis *zip, *prod;
    size_t nzip, nprod;
    int32_t map_over;           /* task index, or -1 */
    bool mapped;                /* has foreach/product (even with 0 instances) */
    /* Vars visible to this task only (`vars:` on the task). */
    char **var_names;
    struct cp_value *var_vals;
    size_t nvars;
    /* Names of the foreach bindings, in binds order (zip, product, then those
     * inherited through map_over); borrowed from the axes. */
    const char **bind_names;
    size_t nbind_names;
    /* Filled by expansion. */
    uint32_t first, count;      /* its instances: insts[first .. first+count) */
};

/* A dependency of an instance on another: which and why. */
struct cp__wf_dep {
    uint32_t inst;
    bool needs_result;          /* referenced as .result: its value is an argument */
};

/* One concrete task: what parsl-run submits. label, binds, outputs, inputs
 * and deps live in the workflow's arena: read them, never free or replace
 * them. A label of an unmapped task is its task's name. */
struct cp__wf_inst {
    uint32_t task;
    uint32_t index;             /* 0-based within its task */
    char *label;                /* "sample[3]", or "average" when not mapped */
    /* foreach bindings: binds[i] is the value of the task's i-th axis variable
     * (zip axes, then product axes, then inherited through map_over). */
    struct cp_value *binds;
    size_t nbinds;
    uint32_t over;              /* the matching instance of the task's map_over task,
                                   or UINT32_MAX */
    /* Rendered, relative to workdir. NULL: the engine's default (task_logs);
     * wf_run may store the real default here (a malloc'd string, owned by wf)
     * when it submits the instance, so that later renders of {t.stdout} see it;
     * rendering {t.stdout} while it is NULL fails. */
    char *stdout_path, *stderr_path;
    char **outputs, **inputs;           /* rendered paths; a path template that is
                                           one reference to a list gives one path
                                           per item, so counts may exceed the
                                           task's templates */
    size_t noutputs, ninputs;
    struct cp__wf_dep *deps;
    uint32_t ndeps;
};

struct cp__wf {
    struct cp__ydoc *doc;       /* kept: every node above points into it */
    char *path;                 /* as given */
    char *dir;                  /* the workflow file's directory (absolute) */
    char *workdir;              /* where tasks run: dir, or `workdir:` under it */
    char *name;                 /* `name:`, or the file name without .yaml/.yml */
    char *description;          /* or NULL */
    const struct cp__ynode *config;     /* `config:` node, or NULL (the default) */
    char **var_names;           /* workflow vars after -D overrides */
    struct cp_value *var_vals;
    size_t nvars;
    struct cp__wf_app *apps;
    size_t napps;
    struct cp__wf_task *tasks;
    size_t ntasks;
    struct cp__wf_inst *insts;  /* in a dependency order: deps come first */
    size_t ninsts;
    /* Warnings found while loading ("file:line:col: warning: …"), to print. */
    char **warnings;
    size_t nwarnings;
    struct cp__wf_priv *priv;   /* private to the wf_*.c files */
};

/* Loads, checks and expands a workflow file. defs: "name=value" strings from -D
 * (borrowed; a value is typed like a plain YAML scalar, or read as a YAML flow
 * list when it starts with '['); a name that is not a workflow var is left for
 * the config's ${NAME}. On error, NULL with err holding the first error,
 * "file:line:col: message" (path as given). Warnings (an empty foreach) are in
 * wf->warnings. Nothing is written and nothing runs. Caller owns the result. */
struct cp__wf *cp__wf_load(const char *path, const char *const *defs, size_t ndefs,
                           cp_err *err);
void cp__wf_free(struct cp__wf *wf);

/* The effective settings of a task (its own over its app's). Pointers in *out
 * are borrowed from wf. `cache` is true unless one of them says false (every
 * workflow app is cacheable by default, DESIGN §9); other unset fields are 0. */
void cp__wf_eff(const struct cp__wf *wf, const struct cp__wf_task *t,
                struct cp__wf_settings *out);

/* Renders a template for an instance. `results` holds the values of the
 * instance's needs_result deps, in deps order (NULL at load time: a .result
 * reference then fails). shell: every substituted value is quoted for bash as
 * one word — or, inside the template's own "…", '…' or $'…', escaped for that
 * place — and a list gives one word per item; otherwise values are joined as
 * plain text (list items separated by one space). Caller owns the string. */
char *cp__wf_render(const struct cp__wf *wf, const struct cp__wf_inst *in,
                    const struct cp__wf_tmpl *t, const struct cp_value *results,
                    bool shell, cp_err *err);
/* The value of a native argument: a single reference keeps its type (a list for
 * [*], a file for outputs/inputs/stdout/stderr, the value for .result); a plain
 * YAML scalar without references is typed like one (5 is an int); anything else
 * is the rendered text. *out is the caller's (cp__value_clear). 0, or -1. */
int cp__wf_arg_value(const struct cp__wf *wf, const struct cp__wf_inst *in,
                     const struct cp__wf_tmpl *t, const struct cp_value *results,
                     struct cp_value *out, cp_err *err);

/* --dag: the instance graph as Graphviz dot or Mermaid, to a new string. */
char *cp__wf_dag(const struct cp__wf *wf, const char *format, cp_err *err);

#endif
