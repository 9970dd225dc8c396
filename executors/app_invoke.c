/* executors/app_invoke.c — see app_invoke.h. Also the public cp_fail, cp_fmt, cp_q
 * and the app registry, because all of them are about "the body running now". */
#include "executors/app_invoke.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/file.h"
#include "common/util.h"

static __thread struct cp__ctx *current;

struct cp__ctx *cp__ctx_current(void) { return current; }

void cp__ctx_init(struct cp__ctx *cx, const cp_app_def *app, const struct cp_value *args,
                  int nargs, long task_id, int try_id)
{
    memset(cx, 0, sizeof *cx);
    cx->app = app;
    cx->args = args;
    cx->nargs = nargs;
    cx->task_id = task_id;
    cx->try_id = try_id;
    cx->collect_futures = app && app->kind == CP_APP_JOIN;
}

static void vfail(struct cp__ctx *cx, const char *fmt, va_list ap)
{
    if (cx->failed)
        return;
    /* The flag first: with no memory for the text the try must still fail. */
    cx->failed = true;
    cx->error = cp__strdup_vprintf(fmt, ap);
}

void cp__ctx_fail(struct cp__ctx *cx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(cx, fmt, ap);
    va_end(ap);
}

void cp__app_invoke(struct cp__ctx *cx)
{
    struct cp__ctx *saved = current;
    current = cx;
    if (cx->nargs != cx->app->nparams)
        cp__ctx_fail(cx, "app '%s' takes %d arguments, got %d", cx->app->name,
                     cx->app->nparams, cx->nargs);
    else
        cx->app->invoke(cx);
    current = saved;
    /* Futures a join body made and did not return are released now: the DAG keeps
     * them running, and nobody else can reach them. */
    for (size_t i = 0; i < cx->nmade; i++)
        cp_future_release(cx->made[i]);
    cx->nmade = 0;
    if (cx->error)
        cx->failed = true;
    if (cx->failed) {
        /* A failed try's value is ignored, whatever the body returned. */
        cp__value_clear(&cx->result);
        free(cx->shell_cmd);
        cx->shell_cmd = NULL;
        if (cx->joined) {
            cp_future_release(cx->joined);
            cx->joined = NULL;
        }
    }
}

void cp__ctx_release(struct cp__ctx *cx)
{
    for (int i = 0; i < CP_MAX_PARAMS; i++)
        cp__file_destroy(cx->files[i]);
    for (size_t i = 0; i < cx->nstrings; i++)
        free(cx->strings[i]);
    free(cx->strings);
    free(cx->made);
    memset(cx->files, 0, sizeof cx->files);
    cx->strings = NULL;
    cx->made = NULL;
    cx->nstrings = cx->capstrings = cx->nmade = cx->capmade = 0;
}

int cp__ctx_adopt(struct cp__ctx *cx, cp_future *f)
{
    if (cx->nmade == cx->capmade) {
        size_t cap = cx->capmade ? cx->capmade * 2 : 8;
        cp_future **m = realloc(cx->made, cap * sizeof *m);
        if (!m)
            return -1;
        cx->made = m;
        cx->capmade = cap;
    }
    cx->made[cx->nmade++] = f;
    return 0;
}

bool cp__ctx_disown(struct cp__ctx *cx, cp_future *f)
{
    for (size_t i = cx->nmade; i-- > 0;) {
        if (cx->made[i] == f) {
            cx->made[i] = cx->made[--cx->nmade];
            return true;
        }
    }
    return false;
}

/* ------------------------------------------------------------ type checks */

const char *cp__ptype_name(int code)
{
    switch (code) {
    case CP_PT_LONG: return "long";
    case CP_PT_INT: return "int";
    case CP_PT_DOUBLE: return "double";
    case CP_PT_BOOL: return "bool";
    case CP_PT_STR: return "const char *";
    case CP_PT_BYTES: return "cp_bytes";
    case CP_PT_FILE: return "cp_file *";
    case CP_PT_VALUE: return "const cp_value *";
    case CP_PT_FUTURE: return "cp_future *";
    case CP_PT_SHELL: return "shell command";
    default: return "unknown";
    }
}

/* The argument, or NULL after failing the try when it has the wrong type. */
static const struct cp_value *arg_of(struct cp__ctx *cx, int i, int want, bool ok_type)
{
    const struct cp_value *v = &cx->args[i];
    if (ok_type)
        return v;
    char *repr = cp__value_repr(v, 60);
    cp__ctx_fail(cx, "type error: argument %d ('%s') of app '%s' expects %s, got %s %s",
                 i + 1, cx->app->param_names[i] ? cx->app->param_names[i] : "?",
                 cx->app->name, cp__ptype_name(want), cp_type_name((cp_type)v->type),
                 repr ? repr : "");
    free(repr);
    return NULL;
}

int cp__get_long(struct cp__ctx *cx, int i, long *out)
{
    const struct cp_value *v = arg_of(cx, i, CP_PT_LONG, cx->args[i].type == CP_INT);
    if (!v)
        return -1;
    *out = (long)v->u.i;
    return 0;
}

int cp__get_int(struct cp__ctx *cx, int i, int *out)
{
    const struct cp_value *v = arg_of(cx, i, CP_PT_INT, cx->args[i].type == CP_INT);
    if (!v)
        return -1;
    if (v->u.i < INT_MIN || v->u.i > INT_MAX) {
        cp__ctx_fail(cx, "type error: argument %d ('%s') of app '%s': %lld does not fit in int",
                     i + 1, cx->app->param_names[i], cx->app->name, (long long)v->u.i);
        return -1;
    }
    *out = (int)v->u.i;
    return 0;
}

int cp__get_double(struct cp__ctx *cx, int i, double *out)
{
    uint8_t t = cx->args[i].type;
    const struct cp_value *v = arg_of(cx, i, CP_PT_DOUBLE, t == CP_DOUBLE || t == CP_INT);
    if (!v)
        return -1;
    *out = v->type == CP_INT ? (double)v->u.i : v->u.d;
    return 0;
}

/* C's true and false are ints, so `cp_call(app, true)` arrives as an int: bool
 * parameters take ints with C's truth rule. */
int cp__get_bool(struct cp__ctx *cx, int i, bool *out)
{
    uint8_t t = cx->args[i].type;
    const struct cp_value *v = arg_of(cx, i, CP_PT_BOOL, t == CP_BOOL || t == CP_INT);
    if (!v)
        return -1;
    *out = v->type == CP_BOOL ? v->u.b : v->u.i != 0;
    return 0;
}

int cp__get_str(struct cp__ctx *cx, int i, const char **out)
{
    uint8_t t = cx->args[i].type;
    const struct cp_value *v =
        arg_of(cx, i, CP_PT_STR, t == CP_STR || t == CP_FILE || t == CP_NIL);
    if (!v)
        return -1;
    *out = v->type == CP_NIL ? NULL : cp__value_strp(v);
    return 0;
}

int cp__get_bytes(struct cp__ctx *cx, int i, cp_bytes *out)
{
    uint8_t t = cx->args[i].type;
    const struct cp_value *v = arg_of(cx, i, CP_PT_BYTES, t == CP_BYTES || t == CP_STR);
    if (!v)
        return -1;
    *out = cp_value_bytes(v);
    return 0;
}

int cp__get_file(struct cp__ctx *cx, int i, cp_file **out)
{
    uint8_t t = cx->args[i].type;
    const struct cp_value *v = arg_of(cx, i, CP_PT_FILE, t == CP_FILE || t == CP_STR);
    if (!v)
        return -1;
    struct cp_file *f = cp__file_create(cp__value_strp(v), NULL);
    if (!f) {
        cp__ctx_fail(cx, "out of memory");
        return -1;
    }
    f->task_owned = true;       /* the body must not free it; we do */
    cx->files[i] = f;
    *out = f;
    return 0;
}

int cp__get_value(struct cp__ctx *cx, int i, const cp_value **out)
{
    *out = &cx->args[i];
    return 0;
}

/* ------------------------------------------------------------ results */

static void oom(struct cp__ctx *cx) { cp__ctx_fail(cx, "out of memory storing the result"); }

void cp__ret_long(struct cp__ctx *cx, long v) { cp__value_int(&cx->result, v); }
void cp__ret_int(struct cp__ctx *cx, int v) { cp__value_int(&cx->result, v); }
void cp__ret_double(struct cp__ctx *cx, double v) { cp__value_double(&cx->result, v); }
void cp__ret_bool(struct cp__ctx *cx, bool v) { cp__value_bool(&cx->result, v); }

void cp__ret_str(struct cp__ctx *cx, const char *v)
{
    if (!v)
        cp__value_nil(&cx->result);
    else if (cp__value_str(&cx->result, v, strlen(v)) != 0)
        oom(cx);
}

void cp__ret_bytes(struct cp__ctx *cx, cp_bytes v)
{
    if (cp__value_bytes(&cx->result, v.data, v.data ? v.len : 0) != 0)
        oom(cx);
}

void cp__ret_file(struct cp__ctx *cx, cp_file *v)
{
    if (!v)
        cp__value_nil(&cx->result);
    else if (cp__value_file(&cx->result, v->url, strlen(v->url)) != 0)
        oom(cx);
}

void cp__ret_cvalue(struct cp__ctx *cx, const cp_value *v)
{
    if (v)
        cp__value_copy(&cx->result, v);
    else
        cp__value_nil(&cx->result);
}

void cp__ret_value(struct cp__ctx *cx, cp_value *v)
{
    if (!v) {
        cp__value_nil(&cx->result);
        return;
    }
    cx->result = *v;            /* move the contents, free the box */
    free(v);
}

void cp__ret_shell(struct cp__ctx *cx, char *cmd)
{
    if (!cmd)
        cp__ctx_fail(cx, "shell app '%s' returned no command (NULL)", cx->app->name);
    cx->shell_cmd = cmd;
}

void cp__ret_future(struct cp__ctx *cx, cp_future *f)
{
    if (!f)
        cp__ctx_fail(cx, "join app '%s' returned NULL instead of a future", cx->app->name);
    /* The body's hold on f passes to the join task, so it must not also be released
     * with the other futures made in the body. A future made outside the body: the
     * join takes the caller's hold the same way. */
    if (f)
        (void)cp__ctx_disown(cx, f);
    cx->joined = f;
}

/* ------------------------------------------------------------ public helpers */

void cp_fail(const char *fmt, ...)
{
    struct cp__ctx *cx = current;
    if (!cx || !fmt)
        return;
    va_list ap;
    va_start(ap, fmt);
    vfail(cx, fmt, ap);
    va_end(ap);
}

char *cp_fmt(const char *fmt, ...)
{
    if (!fmt)
        return NULL;
    va_list ap;
    va_start(ap, fmt);
    char *s = cp__strdup_vprintf(fmt, ap);
    va_end(ap);
    return s;
}

const char *cp_q(const char *s)
{
    struct cp__ctx *cx = current;
    if (!cx)
        return cp__shell_quote(s);
    /* Make room first, so a quoted string is never handed out untracked. */
    if (cx->nstrings == cx->capstrings) {
        size_t cap = cx->capstrings ? cx->capstrings * 2 : 8;
        char **n = realloc(cx->strings, cap * sizeof *n);
        if (!n) {
            cp__ctx_fail(cx, "out of memory quoting an argument");
            return NULL;
        }
        cx->strings = n;
        cx->capstrings = cap;
    }
    char *q = cp__shell_quote(s);
    if (!q) {
        cp__ctx_fail(cx, "out of memory quoting an argument");
        return NULL;
    }
    cx->strings[cx->nstrings++] = q;
    return q;
}

/* ------------------------------------------------------------ registry */

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static const cp_app_def **reg;
static size_t nreg, capreg;

void cp__app_register(const cp_app_def *def)
{
    pthread_mutex_lock(&reg_mu);
    if (nreg == capreg) {
        size_t cap = capreg ? capreg * 2 : 32;
        const cp_app_def **n = realloc(reg, cap * sizeof *n);
        if (!n) {
            pthread_mutex_unlock(&reg_mu);
            return;             /* cp_app_find will not know it; cp_call still works */
        }
        reg = n;
        capreg = cap;
    }
    reg[nreg++] = def;
    pthread_mutex_unlock(&reg_mu);
}

/* Versions declared with CP_APP_VERSION: the definitions are const, so the
 * version lives beside them. Few apps declare one; a list is enough. */
struct app_version {
    const cp_app_def *def;
    const char *version;        /* static (a string literal) */
};
static struct app_version *vers;
static size_t nvers, capvers;

void cp__app_set_version(const cp_app_def *def, const char *version)
{
    pthread_mutex_lock(&reg_mu);
    size_t i = 0;
    while (i < nvers && vers[i].def != def)
        i++;
    if (i == nvers && nvers == capvers) {
        size_t cap = capvers ? capvers * 2 : 8;
        struct app_version *n = realloc(vers, cap * sizeof *n);
        if (n) {
            vers = n;
            capvers = cap;
        }
    }
    if (i < capvers) {
        vers[i] = (struct app_version){def, version};
        if (i == nvers)
            nvers++;
    }
    pthread_mutex_unlock(&reg_mu);
}

const char *cp__app_version(const cp_app_def *def)
{
    if (!def || def->version)
        return def ? def->version : NULL;
    const char *v = NULL;
    pthread_mutex_lock(&reg_mu);
    for (size_t i = 0; i < nvers && !v; i++)
        if (vers[i].def == def)
            v = vers[i].version;
    pthread_mutex_unlock(&reg_mu);
    return v;
}

const cp_app_def *cp_app_find(const char *name)
{
    const cp_app_def *found = NULL;
    if (!name)
        return NULL;
    pthread_mutex_lock(&reg_mu);
    for (size_t i = 0; i < nreg && !found; i++)
        if (strcmp(reg[i]->name, name) == 0)
            found = reg[i];
    pthread_mutex_unlock(&reg_mu);
    return found;
}
