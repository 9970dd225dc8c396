/* workflows/wf_settings.c — the settings an app gives and a task may override
 * (executor, walltime, retries, cores, memory, priority, cache, stdout/stderr
 * and their modes, inputs, outputs), and the merged view of a task.
 *
 * Every value is typed and range-checked where it is read, so the error points
 * at the very scalar: a negative walltime, "4 gigs" of memory, a mode that is
 * neither truncate nor append.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "workflows/wf_int.h"

static int nomem(cp_err *err)
{
    return cp__errf(err, ENOMEM, "out of memory");
}

/* "[[H:]M:]S" as seconds; -1 when s is not of that shape. */
static double clock_seconds(const char *s)
{
    double parts[3];
    int n = 0;
    const char *p = s;
    for (;;) {
        char *end;
        if (n == 3 || !(*p >= '0' && *p <= '9'))
            return -1;
        parts[n++] = strtod(p, &end);
        p = end;
        if (*p == '\0')
            break;
        if (*p++ != ':')
            return -1;
    }
    double secs = 0;
    for (int i = 0; i < n; i++)
        secs = secs * 60 + parts[i];
    return n > 1 ? secs : -1;
}

static int parse_walltime(const struct cp__ynode *v, double *out, cp_err *err)
{
    int type = v->kind == CP_Y_SCALAR ? cp__yscalar_type(v) : -1;
    double d;
    if (type == CP_INT || type == CP_DOUBLE) {
        if (cp__ynode_double(v, "walltime", &d, err) != 0)
            return -1;
    } else if (type == CP_STR && (d = clock_seconds(v->str)) >= 0) {
        /* "HH:MM:SS", as in config files */
    } else {
        return cp__yerr(err, v, "walltime must be seconds or \"HH:MM:SS\", got %s%.100s%s",
                        v->kind == CP_Y_SCALAR ? "'" : "",
                        v->kind == CP_Y_SCALAR ? v->str : v->kind == CP_Y_SEQ ? "a list"
                                                                              : "a mapping",
                        v->kind == CP_Y_SCALAR ? "'" : "");
    }
    if (isnan(d) || d < 0)
        return cp__yerr(err, v, "walltime must not be negative, got '%.100s'", v->str);
    if (isinf(d))
        d = 0;                  /* .inf: no limit, which 0 already means */
    *out = d;
    return 0;
}

static int parse_int(const struct cp__ynode *v, const char *what, long min, int *out,
                     cp_err *err)
{
    long l;
    if (cp__ynode_long(v, what, &l, err) != 0)
        return -1;
    if (l < min && min == 0)
        return cp__yerr(err, v, "%s must not be negative, got '%.100s'", what, v->str);
    if (l < min)
        return cp__yerr(err, v, "%s must be at least %ld, got '%.100s'", what, min, v->str);
    if (l > INT_MAX || l < INT_MIN)
        return cp__yerr(err, v, "%s is out of range: '%.100s'", what, v->str);
    *out = (int)l;
    return 0;
}

/* memory: a number of MB, or a number with a unit (K, M, G, T, with or without
 * B or iB; all binary: 1GB = 1024 MB, as Parsl's mem_per_worker reads GB). */
static int parse_memory(const struct cp__ynode *v, int *out, cp_err *err)
{
    int type = v->kind == CP_Y_SCALAR ? cp__yscalar_type(v) : -1;
    double mb;
    if (type == CP_INT || type == CP_DOUBLE) {
        if (cp__ynode_double(v, "memory", &mb, err) != 0)
            return -1;
    } else if (type == CP_STR) {
        char *end;
        double num = strtod(v->str, &end);
        while (*end == ' ')
            end++;
        static const struct { const char *u; double mb; } units[] = {
            {"k", 1.0 / 1024}, {"kb", 1.0 / 1024}, {"kib", 1.0 / 1024},
            {"m", 1}, {"mb", 1}, {"mib", 1}, {"g", 1024}, {"gb", 1024}, {"gib", 1024},
            {"t", 1048576}, {"tb", 1048576}, {"tib", 1048576}};
        size_t i = 0, n = sizeof units / sizeof units[0];
        while (i < n && strcasecmp(end, units[i].u) != 0)
            i++;
        if (end == v->str || i == n || isnan(num))
            return cp__yerr(err, v, "memory must be a number of MB or a size such as "
                            "\"512MB\" or \"4GB\", got '%.100s'", v->str);
        mb = num * units[i].mb;
    } else {
        return cp__yerr(err, v, "memory must be a number of MB or a size such as \"4GB\"");
    }
    if (mb < 0)
        return cp__yerr(err, v, "memory must not be negative, got '%.100s'", v->str);
    if (mb > INT_MAX || isnan(mb))
        return cp__yerr(err, v, "memory is out of range: '%.100s'", v->str);
    *out = (int)ceil(mb);
    return 0;
}

static int parse_mode(const struct cp__ynode *v, const char *what, bool *append, cp_err *err)
{
    static const char *const modes[] = {"truncate", "append", NULL};
    const char *s;
    if (cp__ynode_str(v, what, &s, err) != 0)
        return -1;
    if (strcmp(s, "truncate") == 0 || strcmp(s, "append") == 0) {
        *append = s[0] == 'a';
        return 0;
    }
    const char *hint = cp__did_you_mean(s, modes);
    if (hint)
        return cp__yerr(err, v, "%s must be 'truncate' or 'append', got '%.100s' (did you "
                        "mean '%s'?)", what, s, hint);
    return cp__yerr(err, v, "%s must be 'truncate' or 'append', got '%.100s'", what, s);
}

/* A list of path templates; a single string counts as a list of one. */
static int parse_paths(struct cp__wf *wf, const struct cp__ynode *v, const char *what,
                       struct cp__wf_tmpl **out, size_t *n, cp_err *err)
{
    if (cp__ynode_is_null(v))
        return 0;
    if (v->kind == CP_Y_MAP)
        return cp__yerr(err, v, "%s must be a list of paths, got a mapping", what);
    size_t cnt = v->kind == CP_Y_SEQ ? v->n : 1;
    if (!(*out = calloc(cnt ? cnt : 1, sizeof **out)))
        return nomem(err);
    for (size_t i = 0; i < cnt; i++) {
        const struct cp__ynode *item = v->kind == CP_Y_SEQ ? v->kids[i] : v;
        if (item->kind != CP_Y_SCALAR || cp__ynode_is_null(item))
            return cp__yerr(err, item, "%s: each item must be a path", what);
        if (cp__wf_tmpl_parse(wf, item, &(*out)[i], err) != 0)
            return -1;
        (*n)++;
    }
    return 0;
}

/* The settings among m's keys (the caller checked that every key is known). */
int cp__wf_parse_settings(struct cp__wf *wf, const struct cp__ynode *m,
                          struct cp__wf_settings *s, cp_err *err)
{
    for (size_t i = 0; i < m->n; i++) {
        const char *k = cp__ymap_key(m, i);
        const struct cp__ynode *v = cp__ymap_val(m, i);
        const char *str;
        int rc = 0;
        uint32_t bit = 0;
        if (strcmp(k, "executor") == 0) {
            bit = CP_WF_S_EXECUTOR;
            rc = cp__ynode_str(v, "executor", &str, err);
            if (rc == 0 && !(s->executor = strdup(str)))
                return nomem(err);
        } else if (strcmp(k, "walltime") == 0) {
            bit = CP_WF_S_WALLTIME;
            rc = parse_walltime(v, &s->walltime, err);
        } else if (strcmp(k, "retries") == 0) {
            bit = CP_WF_S_RETRIES;
            rc = parse_int(v, "retries", 0, &s->retries, err);
        } else if (strcmp(k, "cores") == 0) {
            bit = CP_WF_S_CORES;
            rc = parse_int(v, "cores", 1, &s->cores, err);
        } else if (strcmp(k, "memory") == 0) {
            bit = CP_WF_S_MEMORY;
            rc = parse_memory(v, &s->memory_mb, err);
        } else if (strcmp(k, "priority") == 0) {
            bit = CP_WF_S_PRIORITY;
            rc = parse_int(v, "priority", INT_MIN, &s->priority, err);
        } else if (strcmp(k, "cache") == 0) {
            bit = CP_WF_S_CACHE;
            rc = cp__ynode_bool(v, "cache", &s->cache, err);
        } else if (strcmp(k, "stdout") == 0 || strcmp(k, "stderr") == 0) {
            bool out = k[3] == 'o';
            bit = out ? CP_WF_S_STDOUT : CP_WF_S_STDERR;
            if (v->kind != CP_Y_SCALAR || cp__ynode_is_null(v))
                return cp__yerr(err, v, "%s must be a path", k);
            rc = cp__wf_tmpl_parse(wf, v, out ? &s->stdout_t : &s->stderr_t, err);
        } else if (strcmp(k, "stdout_mode") == 0) {
            bit = CP_WF_S_STDOUT_MODE;
            rc = parse_mode(v, k, &s->stdout_append, err);
        } else if (strcmp(k, "stderr_mode") == 0) {
            bit = CP_WF_S_STDERR_MODE;
            rc = parse_mode(v, k, &s->stderr_append, err);
        } else if (strcmp(k, "inputs") == 0) {
            bit = CP_WF_S_INPUTS;
            rc = parse_paths(wf, v, k, &s->inputs, &s->ninputs, err);
        } else if (strcmp(k, "outputs") == 0) {
            bit = CP_WF_S_OUTPUTS;
            rc = parse_paths(wf, v, k, &s->outputs, &s->noutputs, err);
        }
        if (rc != 0)
            return -1;
        s->set |= bit;
    }
    return 0;
}

void cp__wf_settings_free(struct cp__wf_settings *s)
{
    free(s->executor);
    free(s->inputs);
    free(s->outputs);
}

void cp__wf_eff(const struct cp__wf *wf, const struct cp__wf_task *t,
                struct cp__wf_settings *out)
{
    const struct cp__wf_settings *a = &wf->apps[t->app].s, *k = &t->s;
#define PICK(bit, field) out->field = (k->set & (bit)) ? k->field : a->field
    *out = (struct cp__wf_settings){.set = a->set | k->set};
    PICK(CP_WF_S_EXECUTOR, executor);
    PICK(CP_WF_S_WALLTIME, walltime);
    PICK(CP_WF_S_RETRIES, retries);
    PICK(CP_WF_S_CORES, cores);
    PICK(CP_WF_S_MEMORY, memory_mb);
    PICK(CP_WF_S_PRIORITY, priority);
    PICK(CP_WF_S_STDOUT_MODE, stdout_append);
    PICK(CP_WF_S_STDERR_MODE, stderr_append);
    PICK(CP_WF_S_STDOUT, stdout_t);
    PICK(CP_WF_S_STDERR, stderr_t);
    PICK(CP_WF_S_INPUTS, inputs);
    PICK(CP_WF_S_INPUTS, ninputs);
    PICK(CP_WF_S_OUTPUTS, outputs);
    PICK(CP_WF_S_OUTPUTS, noutputs);
#undef PICK
    out->cache = (k->set & CP_WF_S_CACHE) ? k->cache : (a->set & CP_WF_S_CACHE) ? a->cache : true;
}
