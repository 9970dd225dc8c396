/* executors/pool_settings.c — the pool settings of an executor's config mapping
 * (cores_per_worker, mem_per_worker, max_workers_per_node, cpu_affinity,
 * available_accelerators), checked with file:line:col errors; see pool_layout.h.
 */
#include "executors/pool_layout.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/util.h"
#include "cparsl.h"     /* cp_type values of cp__yscalar_type */

static int oom(cp_err *err)
{
    return cp__errf(err, ENOMEM, "out of memory");
}

/* ------------------------------------------------------------ settings from YAML */

const char *const cp__pool_settings_keys[] = {"cores_per_worker", "mem_per_worker",
                                              "max_workers_per_node", "cpu_affinity",
                                              "available_accelerators", NULL};

void cp__pool_settings_clear(struct cp__pool_settings *s)
{
    if (!s)
        return;
    free(s->owned);
    memset(s, 0, sizeof *s);
}

static const char *shape(const struct cp__ynode *v)
{
    return v->kind == CP_Y_MAP ? "a mapping" : v->kind == CP_Y_SEQ ? "a list" : "a scalar";
}

static int read_number(const struct cp__ynode *v, const char *key, bool zero_ok, double *out,
                       cp_err *err)
{
    if (cp__ynode_double(v, key, out, err) != 0)
        return -1;
    if (!isfinite(*out) || *out < 0 || (!zero_ok && *out == 0))
        return cp__yerr(err, v, "%s must be a number %s 0, got '%.100s'", key,
                        zero_ok ? ">=" : ">", v->str);
    return 0;
}

static int read_max_workers(const struct cp__ynode *v, int *out, cp_err *err)
{
    /* .inf is how a Parsl config says "no limit" (float('inf')). */
    if (v->kind == CP_Y_SCALAR && cp__yscalar_type(v) == CP_DOUBLE) {
        double d;
        if (cp__ynode_double(v, "max_workers_per_node", &d, err) == 0 && isinf(d) && d > 0) {
            *out = 0;
            return 0;
        }
    }
    long n;
    if (v->kind != CP_Y_SCALAR || cp__yscalar_type(v) != CP_INT ||
        cp__ynode_long(v, "max_workers_per_node", &n, NULL) != 0 || n < 1 || n > INT_MAX)
        return cp__yerr(err, v, "max_workers_per_node must be a whole number >= 1 (or .inf for "
                                "no limit), got %s%.100s%s", v->kind == CP_Y_SCALAR ? "'" : "",
                        v->kind == CP_Y_SCALAR ? v->str : shape(v),
                        v->kind == CP_Y_SCALAR ? "'" : "");
    *out = (int)n;
    return 0;
}

/* available_accelerators: a count N, or a list of names. Names are checked here
 * (at their line) and their total size added to *bytes for the owned block. */
static int read_accels(const struct cp__ynode *v, struct cp__pool_settings *s, size_t *bytes,
                       cp_err *err)
{
    if (v->kind == CP_Y_SCALAR && cp__yscalar_type(v) == CP_INT) {
        long n;
        if (cp__ynode_long(v, "available_accelerators", &n, NULL) != 0 || n < 0 ||
            n > CP_POOL_MAX_ACCELERATORS)
            return cp__yerr(err, v, "available_accelerators must be a count from 0 to %d or a "
                                    "list of device names, got '%.100s'",
                            CP_POOL_MAX_ACCELERATORS, v->str);
        s->naccelerators = (size_t)n;
        return 0;
    }
    if (v->kind != CP_Y_SEQ)
        return cp__yerr(err, v, "available_accelerators must be a count or a list of device "
                                "names (like [\"0\", \"1\"]), got %s%.100s%s",
                        v->kind == CP_Y_SCALAR ? "'" : "",
                        v->kind == CP_Y_SCALAR ? v->str : shape(v),
                        v->kind == CP_Y_SCALAR ? "'" : "");
    if (v->n > CP_POOL_MAX_ACCELERATORS)
        return cp__yerr(err, v, "available_accelerators lists %zu devices, more than %d", v->n,
                        CP_POOL_MAX_ACCELERATORS);
    for (size_t i = 0; i < v->n; i++) {
        const struct cp__ynode *it = v->kids[i];
        int t = it->kind == CP_Y_SCALAR ? cp__yscalar_type(it) : -1;
        cp_err e = {0};
        if (t != CP_STR && t != CP_INT)
            return cp__yerr(err, it, "available_accelerators[%zu] must be a device name or "
                                     "number, got %s%.100s%s", i, t >= 0 ? "'" : "",
                            t >= 0 ? it->str : shape(it), t >= 0 ? "'" : "");
        if (strlen(it->str) != it->len || cp__accel_name_check(it->str, i, &e) != 0)
            return cp__yerr(err, it, "%s", strlen(it->str) != it->len
                                               ? "available_accelerators: a name holds a NUL"
                                               : e.text);
        *bytes += it->len + 1;
    }
    s->naccelerators = v->n;
    return 0;
}

/* Copies cpu_affinity and the accelerator names into one block that s owns, so
 * clear is a single free and a failure leaves nothing behind. */
static int own_strings(const struct cp__ynode *aff, const struct cp__ynode *acc,
                       struct cp__pool_settings *s, size_t bytes, cp_err *err)
{
    bool names = acc && acc->kind == CP_Y_SEQ && acc->n > 0;
    size_t nptr = names ? acc->n + 1 : 0;
    size_t total = nptr * sizeof(char *) + bytes + (aff ? aff->len + 1 : 0);
    if (total == 0)
        return 0;
    char *block = malloc(total);
    if (!block)
        return oom(err);
    char **ptrs = (char **)(void *)block;
    char *p = block + nptr * sizeof(char *);
    if (aff) {
        memcpy(p, aff->str, aff->len + 1);
        s->cpu_affinity = p;
        p += aff->len + 1;
    }
    for (size_t i = 0; names && i < acc->n; i++) {
        memcpy(p, acc->kids[i]->str, acc->kids[i]->len + 1);
        ptrs[i] = p;
        p += acc->kids[i]->len + 1;
    }
    if (names) {
        ptrs[acc->n] = NULL;
        s->accelerators = (const char *const *)ptrs;
    }
    s->owned = block;
    return 0;
}

/* The pool keys plus the caller's (NULL-terminated, caller frees). */
static const char **all_keys(const char *const *other)
{
    size_t n = 0, k = 0;
    while (other && other[n])
        n++;
    const char **keys = malloc((n + 6) * sizeof *keys);
    if (!keys)
        return NULL;
    for (size_t i = 0; cp__pool_settings_keys[i]; i++)
        keys[k++] = cp__pool_settings_keys[i];
    for (size_t i = 0; i < n; i++)
        keys[k++] = other[i];
    keys[k] = NULL;
    return keys;
}

int cp__pool_settings_parse(const struct cp__ynode *map, const char *const *other_keys,
                            const char *where, struct cp__pool_settings *out, cp_err *err)
{
    struct cp__pool_settings s = {0};
    memset(out, 0, sizeof *out);
    if (cp__ynode_is_null(map))
        return 0;
    if (!where)
        where = "pool settings";
    if (map->kind != CP_Y_MAP)
        return cp__yerr(err, map, "%s must be a mapping, got %s", where, shape(map));
    const char **keys = all_keys(other_keys);
    if (!keys)
        return oom(err);
    int rc = cp__ymap_check_keys(map, keys, where, err);
    free(keys);
    if (rc != 0)
        return -1;
    const struct cp__ynode *v, *aff = NULL, *acc = NULL;
    size_t bytes = 0;
    if (!cp__ynode_is_null(v = cp__ymap_get(map, "cores_per_worker")) &&
        read_number(v, "cores_per_worker", false, &s.cores_per_worker, err) != 0)
        return -1;
    if (!cp__ynode_is_null(v = cp__ymap_get(map, "mem_per_worker")) &&
        read_number(v, "mem_per_worker", true, &s.mem_per_worker, err) != 0)
        return -1;
    if (!cp__ynode_is_null(v = cp__ymap_get(map, "max_workers_per_node")) &&
        read_max_workers(v, &s.max_workers_per_node, err) != 0)
        return -1;
    if (!cp__ynode_is_null(v = cp__ymap_get(map, "cpu_affinity"))) {
        const char *text;
        cp_err e = {0};
        if (cp__ynode_str(v, "cpu_affinity", &text, err) != 0)
            return -1;
        if (strlen(text) != v->len || cp__cpu_affinity_check(text, &e) != 0)
            return cp__yerr(err, v, "%s", strlen(text) != v->len ? "cpu_affinity holds a NUL"
                                                                 : e.text);
        aff = v;
    }
    if (!cp__ynode_is_null(v = cp__ymap_get(map, "available_accelerators"))) {
        if (read_accels(v, &s, &bytes, err) != 0)
            return -1;
        acc = v;
    }
    if (own_strings(aff, acc, &s, bytes, err) != 0)
        return -1;
    *out = s;
    return 0;
}
