/* executors/exec_types.c — the executor types a config file may name, and the
 * thread_pool row.
 *
 * Adding a type: write its parse/create/free_settings next to the executor (its
 * own file), declare its row in exec_types.h, and list it in cp__exec_types[]
 * below. Nothing in the config loader changes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "executors/exec_types.h"

/* ------------------------------------------------------------ thread_pool */

/* A ceiling well above any useful pool, so a typo (max_threads: 40000000) is an
 * error at its line rather than a long stall creating threads. */
#define TP_MAX_THREADS 65536

static const char *const tp_keys[] = {"label", "type", "max_threads", NULL};

static int tp_parse(const struct cp__ynode *map, void **settings, cp_err *err)
{
    struct cp__tp_settings s = {0};
    const struct cp__ynode *n = cp__ymap_get(map, "max_threads");
    if (!cp__ynode_is_null(n)) {
        long v;
        if (cp__ynode_long(n, "max_threads", &v, err) != 0)
            return -1;
        if (v < 1 || v > TP_MAX_THREADS)
            return cp__yerr(err, n, "max_threads must be an integer from 1 to %d, got '%s'",
                            TP_MAX_THREADS, n->str);
        s.max_threads = (int)v;
    }
    struct cp__tp_settings *p = malloc(sizeof *p);
    if (!p)
        return cp__errf(err, ENOMEM, "out of memory");
    *p = s;
    *settings = p;
    return 0;
}

static struct cp__executor *tp_create(const char *label, const void *settings,
                                      const struct cp__executor_hooks *hooks,
                                      const struct cp__exec_run *run, cp_err *err)
{
    (void)run;          /* a thread pool keeps nothing on disk and has no blocks */
    const struct cp__tp_settings *s = settings;
    return cp__thread_pool_create(label, s->max_threads, hooks, err);
}

static int tp_set_workers(void *settings, int n, cp_err *err)
{
    if (n < 1 || n > TP_MAX_THREADS)
        return cp__errf(err, EINVAL, "max workers must be from 1 to %d, got %d",
                        TP_MAX_THREADS, n);
    ((struct cp__tp_settings *)settings)->max_threads = n;
    return 0;
}

static void tp_describe(const void *settings, char *buf, size_t n)
{
    const struct cp__tp_settings *s = settings;
    if (s->max_threads > 0)
        snprintf(buf, n, "thread_pool, %d threads", s->max_threads);
    else
        snprintf(buf, n, "thread_pool, %d threads (the CPU count)", cp__cpu_count());
}

const struct cp__exec_type cp__exec_type_thread_pool = {
    .name = "thread_pool",
    .default_label = "threads",
    .keys = tp_keys,
    .parse = tp_parse,
    .create = tp_create,
    .free_settings = free,
    .set_workers = tp_set_workers,
    .describe = tp_describe,
};

/* ------------------------------------------------------------ registry */

const struct cp__exec_type *const cp__exec_types[] = {
    &cp__exec_type_thread_pool,
    &cp__exec_type_high_throughput,
    NULL,
};

/* Parsl's other executors: named so a config moved from Parsl gets a clear
 * "not supported" rather than "unknown". */
const char *const cp__exec_types_planned[] = {"work_queue", "taskvine", "mpi", "flux", NULL};

const struct cp__exec_type *cp__exec_type_find(const char *name)
{
    for (size_t i = 0; name && cp__exec_types[i]; i++)
        if (strcmp(cp__exec_types[i]->name, name) == 0)
            return cp__exec_types[i];
    return NULL;
}
