/* engine/config_keys.c — the keys of a config file (docs/config.md): each
 * top-level key is one row of top_keys[] with its reader, and executors are
 * read through the type registry (executors/exec_types.h).
 *
 * Features this build does not have are never accepted as if they worked: their
 * keys take only the value that means "off", and anything else is an error saying
 * the feature is not supported yet. Tunables of a feature that is off (for
 * example checkpoint_period without the periodic mode) are checked and kept, and
 * do nothing, as in Parsl.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/log.h"
#include "common/util.h"
#include "engine/config_int.h"
#include "engine/memo.h"

#define MAX_INTERNAL_THREADS 4096
#define MAX_LABEL 64

struct build {
    struct cp__run_config *rc;
    const char *base_dir;
};

static int oom(cp_err *err)
{
    return cp__errf(err, ENOMEM, "out of memory");
}

/* One of words, or an error naming what, the words and the value (with a hint). */
static int one_of(const struct cp__ynode *v, const char *what, const char *const *words,
                  const char **out, cp_err *err)
{
    char list[200] = "";
    size_t used = 0;
    for (size_t i = 0; words[i]; i++)
        used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "",
                                 words[i]);
    if (v->kind != CP_Y_SCALAR)
        return cp__yerr(err, v, "%s must be one of %s, got a %s", what, list,
                        v->kind == CP_Y_MAP ? "mapping" : "list");
    for (size_t i = 0; words[i]; i++)
        if (strcmp(v->str, words[i]) == 0) {
            *out = words[i];
            return 0;
        }
    const char *hint = cp__did_you_mean(v->str, words);
    if (hint)
        return cp__yerr(err, v, "%s must be one of %s, got '%.100s' (did you mean '%s'?)", what,
                        list, v->str, hint);
    return cp__yerr(err, v, "%s must be one of %s, got '%.100s'", what, list, v->str);
}

/* An integer in [lo, hi], or an error naming the key, the range and the value. */
static int read_int(const struct cp__ynode *v, const char *what, long lo, long hi, int *out,
                    cp_err *err)
{
    long l;
    if (cp__ynode_long(v, what, &l, err) != 0)
        return -1;
    if (l < lo || l > hi)
        return cp__yerr(err, v, "%s must be an integer from %ld to %ld, got '%s'", what, lo, hi,
                        v->str);
    *out = (int)l;
    return 0;
}

/* A number of seconds > 0 (or >= 0 when zero_ok). */
static int read_seconds(const struct cp__ynode *v, const char *what, bool zero_ok, double *out,
                        cp_err *err)
{
    double d;
    if (cp__ynode_double(v, what, &d, err) != 0)
        return -1;
    if (!isfinite(d) || d < 0 || (!zero_ok && d == 0))
        return cp__yerr(err, v, "%s must be a number of seconds %s 0, got '%s'", what,
                        zero_ok ? ">=" : ">", v->str);
    *out = d;
    return 0;
}

/* ------------------------------------------------------------ top-level keys */

static int k_retries(struct build *b, const struct cp__ynode *v, cp_err *err)
{
    return read_int(v, "retries", 0, INT_MAX, &b->rc->retries, err);
}

static int k_run_dir(struct build *b, const struct cp__ynode *v, cp_err *err)
{
    const char *s;
    if (cp__ynode_str(v, "run_dir", &s, err) != 0)
        return -1;
    if (!*s || strlen(s) != v->len)
        return cp__yerr(err, v, "run_dir must be a directory path, got '%s'", s);
    char *dup = strdup(s);
    if (!dup)
        return oom(err);
    free(b->rc->run_dir);
    b->rc->run_dir = dup;
    return 0;
}

static int k_log_level(struct build *b, const struct cp__ynode *v, cp_err *err)
{
    static const char *const levels[] = {"debug", "info", "warning", "error", "off", NULL};
    const char *s;
    if (one_of(v, "log_level", levels, &s, err) != 0)
        return -1;
    if (!(b->rc->log_level = strdup(s)))
        return oom(err);
    return 0;
}

static int k_internal(struct build *b, const struct cp__ynode *v, cp_err *err)
{
    return read_int(v, "internal_tasks_max_threads", 1, MAX_INTERNAL_THREADS,
                    &b->rc->internal_threads, err);
}

static int k_strategy(struct build *b, const struct cp__ynode *v, cp_err *err)
{
    static const char *const kinds[] = {"none", "simple", "htex_auto_scale", NULL};
    const char *s;
    if (one_of(v, "strategy", kinds, &s, err) != 0)
        return -1;
    b->rc->strategy = strcmp(s, "simple") == 0 ? CP_STRATEGY_SIMPLE
                    : strcmp(s, "htex_auto_scale") == 0 ? CP_STRATEGY_HTEX_AUTO_SCALE
                                                        : CP_STRATEGY_NONE;
    return 0;
}

static int k_strategy_period(struct build *b, const struct cp__ynode *v, cp_err *err)
{
    return read_seconds(v, "strategy_period", false, &b->rc->strategy_period, err);
}

static int k_max_idletime(struct build *b, const struct cp__ynode *v, cp_err *err)
{
    return read_seconds(v, "max_idletime", true, &b->rc->max_idletime, err);
}

/* `checkpoint` (DESIGN.md §6) and Parsl's `checkpoint_mode` are one setting. */
static int checkpoint_mode(struct build *b, const struct cp__ynode *v, const char *key,
                           cp_err *err)
{
    static const char *const modes[] = {"none", "task_exit", "periodic", "dfk_exit", "manual",
                                        NULL};
    const char *s;
    if (one_of(v, key, modes, &s, err) != 0)
        return -1;
    b->rc->ckpt_mode = cp__ckpt_mode_parse(s);
    return 0;
}

static int k_checkpoint(struct build *b, const struct cp__ynode *v, cp_err *err)
{
    return checkpoint_mode(b, v, "checkpoint", err);
}

static int k_checkpoint_mode(struct build *b, const struct cp__ynode *v, cp_err *err)
{
    return checkpoint_mode(b, v, "checkpoint_mode", err);
}

/* Seconds, or Parsl's "HH:MM:SS". */
static int k_checkpoint_period(struct build *b, const struct cp__ynode *v, cp_err *err)
{
    unsigned h, m, s;
    char tail;
    if (v->kind == CP_Y_SCALAR && cp__yscalar_type(v) == CP_STR &&
        sscanf(v->str, "%u:%2u:%2u%c", &h, &m, &s, &tail) == 3 && m < 60 && s < 60 &&
        h < 100000 && h + m + s > 0) {
        b->rc->checkpoint_period = h * 3600.0 + m * 60.0 + s;
        return 0;
    }
    int t = v->kind == CP_Y_SCALAR ? cp__yscalar_type(v) : -1;
    if (t != CP_INT && t != CP_DOUBLE)
        return cp__yerr(err, v, "checkpoint_period must be a number of seconds or \"HH:MM:SS\", "
                                "got %s%.100s%s", v->kind == CP_Y_SCALAR ? "'" : "",
                        v->kind == CP_Y_SCALAR ? v->str : v->kind == CP_Y_MAP ? "a mapping"
                                                                              : "a list",
                        v->kind == CP_Y_SCALAR ? "'" : "");
    return read_seconds(v, "checkpoint_period", false, &b->rc->checkpoint_period, err);
}

static bool is_none_word(const struct cp__ynode *v)
{
    return v->kind == CP_Y_SCALAR && cp__yscalar_type(v) == CP_STR && strcmp(v->str, "none") == 0;
}

static void free_list(char **l)
{
    for (size_t i = 0; l && l[i]; i++)
        free(l[i]);
    free(l);
}

/* A list of checkpoint directories (runinfo/003/checkpoint) or tasks.db files;
 * `none` or [] loads nothing. Relative paths are the config's base directory's. */
static int k_checkpoint_files(struct build *b, const struct cp__ynode *v, cp_err *err)
{
    struct cp__run_config *rc = b->rc;
    free_list(rc->ckpt_files);
    rc->ckpt_files = NULL;
    rc->ckpt_files_none = false;
    if (is_none_word(v) || (v->kind == CP_Y_SEQ && v->n == 0)) {
        rc->ckpt_files_none = true;
        return 0;
    }
    if (v->kind != CP_Y_SEQ)
        return cp__yerr(err, v, "checkpoint_files must be a list of checkpoint directories or "
                                "none, got %s%.100s%s", v->kind == CP_Y_SCALAR ? "'" : "",
                        v->kind == CP_Y_SCALAR ? v->str : "a mapping",
                        v->kind == CP_Y_SCALAR ? "'" : "");
    if (!(rc->ckpt_files = calloc(v->n + 1, sizeof *rc->ckpt_files)))
        return oom(err);
    for (size_t i = 0; i < v->n; i++) {
        const char *s;
        if (cp__ynode_str(v->kids[i], "checkpoint_files entry", &s, err) != 0)
            return -1;
        if (!*s)
            return cp__yerr(err, v->kids[i], "checkpoint_files entry is empty");
        bool join = s[0] != '/' && b->base_dir && *b->base_dir && strcmp(b->base_dir, ".") != 0;
        rc->ckpt_files[i] = join ? cp__strdup_printf("%s/%s", b->base_dir, s) : strdup(s);
        if (!rc->ckpt_files[i])
            return oom(err);
        struct stat st;
        if (stat(rc->ckpt_files[i], &st) != 0)
            return cp__yerr(err, v->kids[i], "checkpoint_files: %.200s: %s (give runinfo/NNN/"
                                             "checkpoint directories of earlier runs)",
                            s, strerror(errno));
    }
    return 0;
}

/* monitoring: none | false | true | {db, resource_interval, workflow_name,
 * workflow_version}. A mapping turns it on with its defaults for what it leaves out. */
static int k_monitoring(struct build *b, const struct cp__ynode *v, cp_err *err)
{
    static const char *const keys[] = {"db", "resource_interval", "workflow_name",
                                       "workflow_version", NULL};
    struct cp__run_config *rc = b->rc;
    if (is_none_word(v))
        return 0;
    if (v->kind == CP_Y_SCALAR && cp__yscalar_type(v) == CP_BOOL)
        return cp__ynode_bool(v, "monitoring", &rc->monitoring, err);
    if (v->kind != CP_Y_MAP)
        return cp__yerr(err, v, "monitoring must be a mapping (db, resource_interval, "
                                "workflow_name, workflow_version), true, or none, got "
                                "%s%.100s%s", v->kind == CP_Y_SCALAR ? "'" : "",
                        v->kind == CP_Y_SCALAR ? v->str : "a list",
                        v->kind == CP_Y_SCALAR ? "'" : "");
    if (cp__ymap_check_keys(v, keys, "monitoring", err) != 0)
        return -1;
    rc->monitoring = true;
    const struct cp__ynode *n;
    const char *s;
    if (!cp__ynode_is_null(n = cp__ymap_get(v, "db"))) {
        if (cp__ynode_str(n, "db", &s, err) != 0)
            return -1;
        if (!*s)
            return cp__yerr(err, n, "monitoring db must be a file path, got ''");
        free(rc->mon_db);
        if (!(rc->mon_db = strdup(s)))
            return oom(err);
    }
    if (!cp__ynode_is_null(n = cp__ymap_get(v, "resource_interval")) &&
        read_seconds(n, "resource_interval", true, &rc->mon_interval, err) != 0)
        return -1;
    const char *names[] = {"workflow_name", "workflow_version"};
    char **dst[] = {&rc->mon_workflow_name, &rc->mon_workflow_version};
    for (int i = 0; i < 2; i++) {
        if (cp__ynode_is_null(n = cp__ymap_get(v, names[i])))
            continue;
        if (cp__ynode_str(n, names[i], &s, err) != 0)
            return -1;
        free(*dst[i]);
        if (!(*dst[i] = strdup(s)))
            return oom(err);
    }
    return 0;
}

static int k_app_cache(struct build *b, const struct cp__ynode *v, cp_err *err)
{
    return cp__ynode_bool(v, "app_cache", &b->rc->app_cache, err);
}

static int k_executors(struct build *b, const struct cp__ynode *v, cp_err *err);

static int k_extends(struct build *b, const struct cp__ynode *v, cp_err *err)
{
    (void)b, (void)v, (void)err;    /* done by the loader before we get here */
    return 0;
}

static const struct top_key {
    const char *name;
    int (*read)(struct build *b, const struct cp__ynode *v, cp_err *err);
} top_keys[] = {
    {"extends", k_extends},
    {"retries", k_retries},
    {"executors", k_executors},
    {"run_dir", k_run_dir},
    {"log_level", k_log_level},
    {"internal_tasks_max_threads", k_internal},
    {"strategy", k_strategy},
    {"strategy_period", k_strategy_period},
    {"max_idletime", k_max_idletime},
    {"checkpoint", k_checkpoint},
    {"checkpoint_mode", k_checkpoint_mode},
    {"checkpoint_period", k_checkpoint_period},
    {"checkpoint_files", k_checkpoint_files},
    {"monitoring", k_monitoring},
    {"app_cache", k_app_cache},
};
#define NTOP (sizeof top_keys / sizeof top_keys[0])

/* ------------------------------------------------------------ executors */

static int add_exec(struct cp__run_config *rc, const char *label,
                    const struct cp__exec_type *type, void *settings, cp_err *err)
{
    struct cp__rc_exec *e = &rc->execs[rc->nexecs];
    e->type = type;
    e->settings = settings;
    rc->nexecs++;
    if (!(e->label = strdup(label)))
        return oom(err);
    return 0;
}

static bool label_ok(const char *s, size_t len)
{
    if (len == 0 || len > MAX_LABEL || strlen(s) != len)
        return false;
    bool ok = (s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') ||
              (s[0] >= '0' && s[0] <= '9');
    for (size_t i = 1; ok && i < len; i++)
        ok = strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-", s[i]);
    return ok;
}

static const struct cp__exec_type *item_type(const struct cp__ynode *item, const char *label,
                                             cp_err *err)
{
    const char *names[33];
    size_t n = 0;
    for (; cp__exec_types[n] && n < 32; n++)
        names[n] = cp__exec_types[n]->name;
    names[n] = NULL;
    char list[200];
    const struct cp__ynode *t = cp__ymap_get(item, "type");
    if (cp__ynode_is_null(t)) {
        cp__ytype_pick(NULL, "executor", names, NULL, list, sizeof list, NULL);
        if (label)
            cp__yerr(err, item, "executor '%s' has no type (one of: %s)", label, list);
        else
            cp__yerr(err, item, "executor has no type (one of: %s)", list);
        return NULL;
    }
    int i = cp__ytype_pick(t, "executor", names, cp__exec_types_planned, list, sizeof list, err);
    return i < 0 ? NULL : cp__exec_types[i];
}

/* Reads one executor mapping into rc->execs[rc->nexecs]. */
static int read_exec(struct cp__run_config *rc, const struct cp__ynode *item,
                     const struct cp__ynode *list, size_t index, cp_err *err)
{
    if (item->kind != CP_Y_MAP)
        return cp__yerr(err, item, "executors[%zu] must be a mapping (label, type, ...), got %s",
                        index, item->kind == CP_Y_SEQ ? "a list" : "a scalar");
    const struct cp__ynode *ln = cp__ymap_get(item, "label");
    const char *label = NULL;
    if (!cp__ynode_is_null(ln)) {
        if (cp__ynode_str(ln, "label", &label, err) != 0)
            return -1;
        if (!label_ok(label, ln->len))
            return cp__yerr(err, ln, "label '%.100s' must be 1 to %d letters, digits, '_', '-' "
                                     "or '.', starting with a letter or digit", label,
                            MAX_LABEL);
    }
    const struct cp__exec_type *type = item_type(item, label, err);
    if (!type)
        return -1;
    if (!label)
        label = type->default_label;
    char where[160];
    snprintf(where, sizeof where, "executor '%s' (%s)", label, type->name);
    if (cp__ymap_check_keys(item, type->keys, where, err) != 0)
        return -1;
    /* Labels pick executors: two alike would make one unreachable. */
    for (size_t i = 0; i < index; i++) {
        const struct cp__ynode *prev = list->kids[i];
        const struct cp__ynode *pl = cp__ymap_get(prev, "label");
        if (strcmp(rc->execs[i].label, label) != 0)
            continue;
        const struct cp__ynode *at = ln ? ln : item, *first = pl ? pl : prev;
        if (first->file && at->file && strcmp(first->file, at->file) == 0)
            return cp__yerr(err, at, "executor label '%s' is used twice (first at line %u)",
                            label, first->line);
        return cp__yerr(err, at, "executor label '%s' is used twice (first at %s:%u:%u)", label,
                        first->file, first->line, first->col);
    }
    void *settings = NULL;
    if (type->parse(item, &settings, err) != 0)
        return -1;
    if (add_exec(rc, label, type, settings, err) != 0)
        return -1;
    return 0;
}

static int k_executors(struct build *b, const struct cp__ynode *v, cp_err *err)
{
    struct cp__run_config *rc = b->rc;
    if (v->kind != CP_Y_SEQ)
        return cp__yerr(err, v, "executors must be a list of executors (mappings with label, "
                                "type, ...), got %s%.100s%s", v->kind == CP_Y_SCALAR ? "'" : "",
                        v->kind == CP_Y_SCALAR ? v->str : "a mapping",
                        v->kind == CP_Y_SCALAR ? "'" : "");
    if (v->n == 0)
        return cp__yerr(err, v, "executors is an empty list: a config needs at least one "
                                "executor");
    if (!(rc->execs = calloc(v->n, sizeof *rc->execs)))
        return oom(err);
    for (size_t i = 0; i < v->n; i++)
        if (read_exec(rc, v->kids[i], v, i, err) != 0)
            return -1;
    return 0;
}

/* No `executors:` (or null): Parsl's default, one thread pool "threads". */
static int default_execs(struct cp__run_config *rc, int max_threads, cp_err *err)
{
    struct cp__tp_settings *s = malloc(sizeof *s);
    rc->execs = calloc(1, sizeof *rc->execs);
    if (!s || !rc->execs) {
        free(s);
        return oom(err);
    }
    s->max_threads = max_threads;
    return add_exec(rc, cp__exec_type_thread_pool.default_label, &cp__exec_type_thread_pool, s,
                    err);
}

static int make_labels(struct cp__run_config *rc, cp_err *err)
{
    size_t len = 1;
    for (size_t i = 0; i < rc->nexecs; i++)
        len += strlen(rc->execs[i].label) + 2;
    if (!(rc->labels = malloc(len)))
        return oom(err);
    rc->labels[0] = '\0';
    for (size_t i = 0; i < rc->nexecs; i++) {
        if (i)
            strcat(rc->labels, ", ");
        strcat(rc->labels, rc->execs[i].label);
    }
    return 0;
}

/* ------------------------------------------------------------ build */

static struct cp__run_config *rc_new(cp_err *err)
{
    struct cp__run_config *rc = calloc(1, sizeof *rc);
    if (!rc) {
        oom(err);
        return NULL;
    }
    rc->strategy = CP_STRATEGY_SIMPLE;  /* Parsl's defaults */
    rc->strategy_period = 5;
    rc->max_idletime = 120;
    rc->mon_interval = 30;              /* Parsl's resource_monitoring_interval */
    rc->ckpt_mode = -1;
    rc->ckpt_load = -1;
    rc->memo_in_run = true;
    rc->app_cache = true;
    return rc;
}

struct cp__run_config *cp__config_build(const struct cp__ynode *root, const char *base_dir,
                                        cp_err *err)
{
    const char *names[NTOP + 1];
    for (size_t i = 0; i < NTOP; i++)
        names[i] = top_keys[i].name;
    names[NTOP] = NULL;
    struct cp__run_config *rc = rc_new(err);
    if (!rc)
        return NULL;
    struct build b = {rc, base_dir};
    /* Unknown keys first, so a typo is reported even when another key is wrong. */
    if (cp__ymap_check_keys(root, names, "config", err) != 0)
        goto error;
    const struct cp__ynode *c1 = cp__ymap_get(root, "checkpoint");
    const struct cp__ynode *c2 = cp__ymap_get(root, "checkpoint_mode");
    if (c1 && c2 && !cp__ynode_is_null(c1) && !cp__ynode_is_null(c2)) {
        for (size_t i = 0; i < root->n; i++)
            if (cp__ymap_val(root, i) == (c1->line > c2->line ? c1 : c2))
                cp__yerr(err, cp__ymap_keynode(root, i), "checkpoint and checkpoint_mode are "
                                                         "one setting: give only one");
        goto error;
    }
    for (size_t i = 0; i < root->n; i++) {
        const struct cp__ynode *v = cp__ymap_val(root, i);
        if (cp__ynode_is_null(v))
            continue;           /* null: the default, also over a template's value */
        for (size_t k = 0; k < NTOP; k++)
            if (strcmp(cp__ymap_key(root, i), top_keys[k].name) == 0 &&
                top_keys[k].read(&b, v, err) != 0)
                goto error;
    }
    if (!rc->execs && default_execs(rc, 0, err) != 0)
        goto error;
    const char *dir = rc->run_dir ? rc->run_dir : "runinfo";
    if (dir[0] != '/' && base_dir && *base_dir && strcmp(base_dir, ".") != 0) {
        char *joined = cp__strdup_printf("%s/%s", base_dir, dir);
        if (!joined) {
            oom(err);
            goto error;
        }
        free(rc->run_dir);
        rc->run_dir = joined;
    }
    if (rc->mon_db && rc->mon_db[0] != '/' && base_dir && *base_dir &&
        strcmp(base_dir, ".") != 0) {
        char *joined = cp__strdup_printf("%s/%s", base_dir, rc->mon_db);
        if (!joined) {
            oom(err);
            goto error;
        }
        free(rc->mon_db);
        rc->mon_db = joined;
    }
    if (make_labels(rc, err) != 0)
        goto error;
    return rc;
error:
    cp__run_config_free(rc);
    return NULL;
}

/* ------------------------------------------------------------ the C API's config */

struct cp__run_config *cp__config_from_c(const cp_config *cfg, cp_err *err)
{
    cp_config c = cfg ? *cfg : (cp_config){0};
    struct cp__run_config *rc = rc_new(err);
    if (!rc)
        return NULL;
    if (c.retries < 0) {
        cp__errf(err, EINVAL, "config: retries must be >= 0, got %d", c.retries);
        goto error;
    }
    if (c.max_threads < 0 || c.internal_threads < 0) {
        cp__errf(err, EINVAL, "config: max_threads and internal_threads must be >= 0");
        goto error;
    }
    if (c.log_level && cp__log_level_parse(c.log_level) < 0) {
        cp__errf(err, EINVAL, "config: log_level '%s' is not one of debug, info, warning, "
                              "error, off", c.log_level);
        goto error;
    }
    rc->retries = c.retries;
    rc->internal_threads = c.internal_threads;
    rc->retry_handler = c.retry_handler;
    rc->retry_handler_arg = c.retry_handler_arg;
    rc->monitoring = c.monitoring_db != NULL;
    if (c.checkpoint_mode && (rc->ckpt_mode = cp__ckpt_mode_parse(c.checkpoint_mode)) < 0) {
        cp__errf(err, EINVAL, "config: checkpoint_mode '%s' is not one of none, task_exit, "
                              "periodic, dfk_exit, manual", c.checkpoint_mode);
        goto error;
    }
    if (c.checkpoint_period < 0 || isnan(c.checkpoint_period)) {
        cp__errf(err, EINVAL, "config: checkpoint_period must be >= 0 seconds, got %g",
                 c.checkpoint_period);
        goto error;
    }
    rc->checkpoint_period = c.checkpoint_period;
    if ((c.run_dir && !(rc->run_dir = strdup(c.run_dir))) ||
        (c.log_level && !(rc->log_level = strdup(c.log_level))) ||
        (c.monitoring_db && *c.monitoring_db && !(rc->mon_db = strdup(c.monitoring_db))) ||
        (c.workflow_name && !(rc->mon_workflow_name = strdup(c.workflow_name))) ||
        !(rc->source = strdup("cp_config")) || !(rc->used_defs = calloc(1, sizeof(char *)))) {
        oom(err);
        goto error;
    }
    if (default_execs(rc, c.max_threads, err) != 0 || make_labels(rc, err) != 0)
        goto error;
    return rc;
error:
    cp__run_config_free(rc);
    return NULL;
}

/* ------------------------------------------------------------ after loading */

int cp__config_set_monitoring(struct cp__run_config *rc, const char *db, cp_err *err)
{
    rc->monitoring = true;
    if (!db)
        return 0;
    char *dup = strdup(db);
    if (!dup)
        return oom(err);
    free(rc->mon_db);
    rc->mon_db = dup;
    return 0;
}

void cp__config_set_workflow_checkpoints(struct cp__run_config *rc, bool resume)
{
    if (rc->ckpt_mode < 0)
        rc->ckpt_mode = CP_CKPT_TASK_EXIT;
    rc->ckpt_load = resume ? 1 : 0;
    rc->memo_in_run = false;
}

int cp__config_set_max_workers(struct cp__run_config *rc, int n, cp_err *err)
{
    if (n < 1)
        return cp__errf(err, EINVAL, "max workers must be at least 1, got %d", n);
    size_t set = 0;
    for (size_t i = 0; i < rc->nexecs; i++) {
        const struct cp__exec_type *t = rc->execs[i].type;
        if (!t->set_workers)
            continue;
        if (t->set_workers(rc->execs[i].settings, n, err) != 0)
            return -1;
        set++;
    }
    if (!set)
        return cp__errf(err, EINVAL, "cannot set max workers: the config has no thread_pool "
                                     "executor (executors: %s)", rc->labels);
    return 0;
}

int cp__config_set_run_dir(struct cp__run_config *rc, const char *dir, cp_err *err)
{
    if (!dir || !*dir)
        return cp__errf(err, EINVAL, "run directory: empty path");
    char *dup = strdup(dir);
    if (!dup)
        return oom(err);
    free(rc->run_dir);
    rc->run_dir = dup;
    return 0;
}

bool cp__config_has_executor(const struct cp__run_config *rc, const char *label)
{
    for (size_t i = 0; label && i < rc->nexecs; i++)
        if (strcmp(rc->execs[i].label, label) == 0)
            return true;
    return false;
}

const char *cp__config_labels(const struct cp__run_config *rc)
{
    return rc->labels;
}

size_t cp__config_executor_count(const struct cp__run_config *rc)
{
    return rc->nexecs;
}

const char *cp__config_executor_label(const struct cp__run_config *rc, size_t i)
{
    return i < rc->nexecs ? rc->execs[i].label : NULL;
}

char *cp__config_render_submit(const struct cp__run_config *rc, size_t i, cp_err *err)
{
    if (i >= rc->nexecs) {
        cp__errf(err, EINVAL, "no executor %zu", i);
        return NULL;
    }
    const struct cp__rc_exec *e = &rc->execs[i];
    if (!e->type->render_submit) {
        cp__errf(err, ENOTSUP, "executor '%s' (%s) submits no batch jobs", e->label,
                 e->type->name);
        return NULL;
    }
    return e->type->render_submit(e->label, e->settings, err);
}

const char *const *cp__config_used_defs(const struct cp__run_config *rc)
{
    return (const char *const *)rc->used_defs;
}

void cp__run_config_free(struct cp__run_config *rc)
{
    if (!rc)
        return;
    for (size_t i = 0; i < rc->nexecs; i++) {
        free(rc->execs[i].label);
        if (rc->execs[i].type->free_settings)
            rc->execs[i].type->free_settings(rc->execs[i].settings);
    }
    free(rc->execs);
    free(rc->run_dir);
    free(rc->log_level);
    free(rc->mon_db);
    free(rc->mon_workflow_name);
    free(rc->mon_workflow_version);
    free_list(rc->ckpt_files);
    free(rc->labels);
    for (size_t i = 0; rc->used_defs && rc->used_defs[i]; i++)
        free(rc->used_defs[i]);
    free(rc->used_defs);
    free(rc->source);
    free(rc);
}
