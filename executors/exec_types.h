/* executors/exec_types.h — the registry of executor types a config file may name.
 *
 * A config's `executors:` list holds mappings with a `type:`; each type is one
 * const row here: the keys it accepts, how it reads its mapping into settings,
 * and how it makes an executor from them. The config loader (engine/config_file.c)
 * knows nothing about any type: a new executor (high_throughput, later with its
 * provider) is its own file plus one row in cp__exec_types[] (exec_types.c).
 *
 * Settings are type-private plain data (no threads, no files): parsing them
 * starts nothing, so a config can be checked without running anything.
 */
#ifndef CP_EXECUTORS_EXEC_TYPES_H
#define CP_EXECUTORS_EXEC_TYPES_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"
#include "common/yaml.h"
#include "executors/executor.h"

/* Run-wide facts an executor may use (from the config's top level). */
enum cp__strategy { CP_STRATEGY_NONE = 0, CP_STRATEGY_SIMPLE, CP_STRATEGY_HTEX_AUTO_SCALE };
struct cp__mon;

struct cp__exec_run {
    const char *run_dir;        /* runinfo/NNN */
    enum cp__strategy strategy; /* block scaling (executors with blocks) */
    double strategy_period;     /* seconds between scaling decisions */
    double max_idletime;        /* seconds idle before blocks are scaled in */
    struct cp__mon *mon;        /* the monitoring database (block and node rows), or
                                 * NULL; borrowed, outlives the executor */
    double mon_interval;        /* with mon: seconds between resource samples of
                                 * running tries (0: at start and end only) */
};

struct cp__exec_type {
    const char *name;               /* the `type:` value, e.g. "thread_pool" */
    const char *default_label;      /* Parsl's label when none is given ("threads") */
    /* Every key the type's mapping may hold, `label` and `type` included;
     * NULL-terminated. The loader checks keys before parse is called. */
    const char *const *keys;
    /* Reads the executor's mapping (key-checked, ${…} already filled) into new
     * settings that *settings then owns (free with free_settings). Errors are
     * "file:line:col: …" at the offending node. 0, or -1 with nothing allocated. */
    int (*parse)(const struct cp__ynode *map, void **settings, cp_err *err);
    /* Starts an executor. label, settings and run are borrowed for the call;
     * hooks is copied. Caller owns the result (ops->destroy). */
    struct cp__executor *(*create)(const char *label, const void *settings,
                                   const struct cp__executor_hooks *hooks,
                                   const struct cp__exec_run *run, cp_err *err);
    void (*free_settings)(void *settings);      /* NULL is fine */
    /* parsl-run -j N: sets how many tasks the executor runs at once. NULL when
     * the type has no such single knob (then -j does not apply to it). */
    int (*set_workers)(void *settings, int n, cp_err *err);
    /* A short description for the run's log ("thread_pool, 8 threads") written
     * into buf (size n). */
    void (*describe)(const void *settings, char *buf, size_t n);
    /* Optional (NULL: the type submits no batch jobs). The script one block of
     * this executor would hand its scheduler, from the settings alone: nothing is
     * started, written or connected (`parsl-run --render-submit`). Values known
     * only once a run starts (the run directory, a port chosen at start) appear as
     * placeholders. Caller owns the text; NULL with err (ENOTSUP when the
     * executor's provider has no submit script). */
    char *(*render_submit)(const char *label, const void *settings, cp_err *err);
};

/* Every type this build has, NULL-terminated (borrowed, static). */
extern const struct cp__exec_type *const cp__exec_types[];

/* The type called name, or NULL. */
const struct cp__exec_type *cp__exec_type_find(const char *name);

/* Types the design names but this build does not have yet (NULL-terminated), so
 * the loader can say "not supported yet" instead of "unknown". */
extern const char *const cp__exec_types_planned[];

/* thread_pool's settings, public so the C API (cp_config) can build them without
 * going through YAML. max_threads 0 means the CPU count. */
struct cp__tp_settings {
    int max_threads;
};
extern const struct cp__exec_type cp__exec_type_thread_pool;
/* The pilot-worker executor (executors/htex.c). */
extern const struct cp__exec_type cp__exec_type_high_throughput;

/* high_throughput's drain rule (docs/htex.md, "Drain before walltime"): the
 * seconds after its start at which a pool stops taking work — drain_period, or
 * the block's walltime less the margin when that comes first; the margin is at
 * most a quarter of the walltime. 0: never (no drain_period, no walltime). */
double cp__htex_drain_after(double drain_period, double walltime, double margin);
#define CP_WALLTIME_MARGIN 60.0     /* seconds: walltime_margin's default */

#endif
