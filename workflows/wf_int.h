/* workflows/wf_int.h — what the wf_*.c files share and nobody else needs:
 * name tables, an arena, resolved references, the per-task analysis, a
 * growable string.
 *
 * The load runs in these steps, each stopping at the first error (after the
 * YAML itself is read):
 *   cp__wf_parse_doc (wf_parse.c)   keys, vars, -D, apps (dlopen), tasks, axes
 *   cp__wf_check     (wf_check.c)   names, references, fields, types, cycles,
 *                                   and a task order with every dependency first
 *   cp__wf_expand    (wf_expand.c)  instances, their paths and dependencies,
 *                                   outputs written twice
 * cp__wf_render (wf_render.c) evaluates references for one instance.
 */
#ifndef CP_WORKFLOWS_WF_INT_H
#define CP_WORKFLOWS_WF_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "workflows/wf.h"

/* More instances than this in one workflow is refused (indexes are 32-bit, and
 * ten million instances is already gigabytes of engine state). */
#define CP_WF_MAX_INSTS 10000000u

/* ------------------------------------------------------------ name table */

/* Open addressing, keys borrowed. Each slot keeps its key's hash, so a probe
 * compares strings only when the hashes agree: with 10^5 task names the keys
 * are scattered in memory and every needless strcmp is a cache miss. Lookups
 * return the value or -1. */
struct cp__wf_hslot {
    const char *key;
    uint32_t hash, val;
};
struct cp__wf_hmap {
    struct cp__wf_hslot *slots;
    size_t cap, n;
};
int cp__wf_hmap_put(struct cp__wf_hmap *m, const char *key, uint32_t val) CP__WUR;
int64_t cp__wf_hmap_get(const struct cp__wf_hmap *m, const char *key);
void cp__wf_hmap_free(struct cp__wf_hmap *m);

/* ------------------------------------------------------------ growable text */

struct cp__wf_buf {
    char *p;
    size_t len, cap;
    bool oom;                   /* an append failed: the text is incomplete */
};
void cp__wf_buf_add(struct cp__wf_buf *b, const char *s, size_t n);
void cp__wf_buf_str(struct cp__wf_buf *b, const char *s);
void cp__wf_buf_printf(struct cp__wf_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The text (caller owns), or NULL with ENOMEM when an append failed. */
char *cp__wf_buf_take(struct cp__wf_buf *b);

/* ------------------------------------------------------------ references */

enum cp__wf_rkind { CP_WF_R_BIND = 1, CP_WF_R_OWN, CP_WF_R_TVAR, CP_WF_R_WVAR, CP_WF_R_TASK };
enum cp__wf_field { CP_WF_F_OUTPUTS = 1, CP_WF_F_INPUTS, CP_WF_F_STDOUT, CP_WF_F_STDERR,
                    CP_WF_F_RESULT };
/* Which instances of a referenced task: its only one, the one the current
 * instance maps over, all of them ([*]), or one by number ([i]). */
enum cp__wf_sel { CP_WF_SEL_ONE = 1, CP_WF_SEL_MATCH, CP_WF_SEL_ALL, CP_WF_SEL_INDEX };

struct cp__wf_ref {
    uint8_t kind;               /* cp__wf_rkind */
    uint8_t field;              /* own and task references: cp__wf_field */
    uint8_t sel;                /* task references: cp__wf_sel */
    uint32_t idx;               /* bind, var or task index */
    long sel_index;             /* CP_WF_SEL_INDEX */
    size_t rest;                /* first step not consumed by the name/selection/field */
};

/* Resolves seg for an instance of task `task`: name lookup in the order
 * foreach bindings, own fields, task vars, workflow vars, tasks; then the
 * selection and field of a task reference. -1 with a positioned err. */
int cp__wf_resolve(const struct cp__wf *wf, uint32_t task, const struct cp__wf_tmpl *t,
                   const struct cp__wf_seg *seg, struct cp__wf_ref *r, cp_err *err) CP__WUR;

/* A task-level edge: task -> another task, from a reference, after: or foreach. */
struct cp__wf_tref {
    uint32_t task;
    uint8_t sel;                /* cp__wf_sel; 0: orders only (foreach: task) */
    bool result;                /* its value is needed (.result) */
    long index;                 /* CP_WF_SEL_INDEX */
    const struct cp__ynode *node;
    uint32_t line, col;         /* where, for cycle errors */
};

/* An index into a task's outputs/inputs that can be checked only once its
 * instances exist: a path template that is one reference to a list gives as
 * many paths as the list has items. */
struct cp__wf_icheck {
    uint32_t task;
    uint8_t field;              /* CP_WF_F_OUTPUTS or CP_WF_F_INPUTS */
    long index;
    const struct cp__wf_tmpl *t;
    const struct cp__wf_seg *s;
};

/* Per task: what the checks learned. */
struct cp__wf_tinfo {
    struct cp__wf_icheck *ichecks;
    size_t nichecks;
    bool var_outputs, var_inputs;           /* some path template may give a list */
    uint32_t min_outputs, min_inputs;       /* over its instances (expansion) */
    const struct cp__ynode *app_node, *args_node, *foreach_node;
    const struct cp__ynode **after_nodes;
    const struct cp__wf_axis **bind_axes;   /* per binding, the axis that gives it */
    struct cp__wf_tref *refs;
    size_t nrefs, caprefs;
    struct cp__wf_settings eff;             /* cp__wf_eff, computed once */
    bool binds_done;
};

struct cp__wf_priv {
    struct cp__arena arena;              /* templates, labels, paths, deps, binds */
    struct cp__wf_hmap tasks, apps, vars;   /* name -> index */
    struct cp__wf_tinfo *ti;                /* per task */
    uint32_t *order;                        /* tasks, every dependency first */
    struct cp__ydoc **extra_docs;           /* parsed -D lists */
    size_t nextra;
    char *src;                              /* the file's text, read for positions */
    size_t srclen;
    size_t *lines, nlines;                  /* offsets of line starts (+ an end mark) */
    bool src_read;
};

/* ------------------------------------------------------------ shared helpers */

/* Parses a scalar node into a template (its pieces in wf's arena); err is
 * positioned. */
int cp__wf_tmpl_parse(struct cp__wf *wf, const struct cp__ynode *n, struct cp__wf_tmpl *t,
                      cp_err *err) CP__WUR;
/* The reference as written, "{t.outputs[0]}", into buf (truncated to fit). */
void cp__wf_seg_text(const struct cp__wf_seg *s, char *buf, size_t cap);
/* "file:line:col: message" at a template reference; returns -1. */
int cp__wf_seg_err(cp_err *err, const struct cp__wf_tmpl *t, const struct cp__wf_seg *s,
                   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* A YAML node as a value: typed plain scalars, strings, lists; maps refused. */
int cp__wf_node_value(const struct cp__ynode *n, const char *what, struct cp_value *out,
                      cp_err *err) CP__WUR;
/* A scalar value as text: ints in decimal, doubles in the shortest %.Ng that
 * reads back the same, bools true/false, nil empty, files their URL. */
void cp__wf_value_text(struct cp__wf_buf *b, const struct cp_value *v);
/* The name of a value's type for messages ("an integer", "a list", …). */
const char *cp__wf_type_desc(int cp_type);

/* Lexically normalised absolute path of p under workdir (., .., // removed). */
char *cp__wf_norm_path(const char *workdir, const char *p);

/* Appends "file:line:col: warning: …" to wf->warnings. -1 only without memory. */
int cp__wf_warn(struct cp__wf *wf, const struct cp__ynode *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* NULL-terminated array of the names of all tasks (for did-you-mean); free(). */
const char **cp__wf_task_names(const struct cp__wf *wf);

/* The settings among map m's keys (every key already known); wf_settings.c. */
int cp__wf_parse_settings(struct cp__wf *wf, const struct cp__ynode *m,
                          struct cp__wf_settings *s, cp_err *err) CP__WUR;
void cp__wf_settings_free(struct cp__wf_settings *s);

/* foreach:/product: of task ti into its axes (wf_expand.c); warns when empty. */
int cp__wf_parse_axes(struct cp__wf *wf, uint32_t ti, const struct cp__ynode *fe,
                      const struct cp__ynode *prod, cp_err *err) CP__WUR;

/* The steps. */
int cp__wf_parse_doc(struct cp__wf *wf, const char *const *defs, size_t ndefs,
                     cp_err *err) CP__WUR;
int cp__wf_check(struct cp__wf *wf, cp_err *err) CP__WUR;
int cp__wf_expand(struct cp__wf *wf, cp_err *err) CP__WUR;

/* Renders a path template for an instance into b, each path followed by a
 * NUL: one path, or one per item when the template is a single reference to
 * a list. Returns how many, or -1. Empty paths are errors. */
long cp__wf_render_paths(const struct cp__wf *wf, const struct cp__wf_inst *in,
                         const struct cp__wf_tmpl *t, struct cp__wf_buf *b, cp_err *err) CP__WUR;
/* A shell command template is refused when a reference follows a backslash
 * (the backslash would escape the value's quoting) or is nested too deeply
 * in $(…)/`…` to be quoted for its place. 0, or -1 with a positioned err. */
int cp__wf_shell_check(const struct cp__wf_tmpl *t, cp_err *err) CP__WUR;
/* Renders into b (appending); 0 or -1. */
int cp__wf_render_into(const struct cp__wf *wf, const struct cp__wf_inst *in,
                       const struct cp__wf_tmpl *t, const struct cp_value *results, bool shell,
                       struct cp__wf_buf *b, cp_err *err) CP__WUR;

/* Applies index/[*] steps from `from` to a value (copied into out). Fields on a
 * value are errors. -1 with a positioned err. */
int cp__wf_apply_steps(const struct cp__wf_tmpl *t, const struct cp__wf_seg *s, size_t from,
                       const struct cp_value *v, struct cp_value *out, cp_err *err) CP__WUR;

#endif
