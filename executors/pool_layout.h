/* executors/pool_layout.h — what a worker pool decides about its node before it
 * starts any worker: how many workers, which CPUs each may use (cpu_affinity),
 * which accelerator each gets, and the environment each is started with.
 *
 * Everything here is a pure function of two inputs — the pool's settings (from
 * the executor's config) and the node's facts (detected, or written by a test) —
 * so every rule can be tested for any node on any machine. Only
 * cp__node_facts_detect() looks at the machine, and only
 * cp__pool_layout_apply() changes anything (the calling thread's affinity).
 * The rules follow Parsl's process_worker_pool.py; where they differ, the
 * difference is written in docs/pool-layout.md.
 */
#ifndef CP_EXECUTORS_POOL_LAYOUT_H
#define CP_EXECUTORS_POOL_LAYOUT_H

#include <sched.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"
#include "common/yaml.h"

/* Bounds that keep one bad number from asking for millions of processes or a
 * mask as large as memory. The kernel's own NR_CPUS is at most 8192. */
#define CP_POOL_MAX_WORKERS 16384   /* workers in one pool */
#define CP_POOL_MAX_CPU_ID 65535    /* largest CPU number a list: may name */
#define CP_POOL_MAX_ACCELERATORS 16384

/* ------------------------------------------------------------ settings */

/* The pool's settings, with Parsl's names. A zeroed struct is Parsl's default:
 * cores_per_worker 0 means 1.0, mem_per_worker 0 means "not set" (memory does not
 * limit the count), max_workers_per_node 0 means unlimited, cpu_affinity NULL
 * means "none", and no accelerators.
 *
 * Accelerators are either a count (naccelerators = N, accelerators = NULL: the
 * names "0".."N-1", Parsl's `available_accelerators: 4`) or N names. A name may
 * hold commas ("0,1" gives one worker two GPUs) and may repeat (two workers
 * sharing a GPU), as in Parsl. */
struct cp__pool_settings {
    double cores_per_worker;        /* > 0; below 1 oversubscribes the cores */
    double mem_per_worker;          /* GB (GiB, as Parsl's psutil numbers) */
    int max_workers_per_node;
    const char *cpu_affinity;       /* none | block | block-reverse | alternating | list:… */
    const char *const *accelerators;    /* naccelerators names, or NULL (see above) */
    size_t naccelerators;
    void *owned;                    /* private: what cp__pool_settings_parse allocated */
};

/* The config keys this module reads, NULL-terminated (static), so an executor's
 * key table can include them. */
extern const char *const cp__pool_settings_keys[];

/* Reads the pool keys of a YAML mapping into *out (zeroed first; unset keys keep
 * the defaults above; a null value is the default). Every key of the map must be
 * a pool key or one of other_keys (NULL-terminated, may be NULL): an unknown key
 * is an error with a did-you-mean over both lists, and `where` names the mapping
 * in it ("executor 'htex' (high_throughput)"). cpu_affinity is checked for
 * syntax here; whether its CPUs exist is only known on the node
 * (cp__pool_layout_make). Errors are "file:line:col: …" at the offending node.
 * map and other_keys are borrowed for the call; on success out owns copies of
 * its strings (cp__pool_settings_clear); on failure nothing is left allocated. */
int cp__pool_settings_parse(const struct cp__ynode *map, const char *const *other_keys,
                            const char *where, struct cp__pool_settings *out, cp_err *err)
    CP__WUR;
/* Frees what parse allocated and zeroes s. A hand-built struct (owned NULL) is
 * only zeroed. NULL is fine. */
void cp__pool_settings_clear(struct cp__pool_settings *s);

/* Checks cpu_affinity's syntax (mode name, or a well-formed list:…) without a
 * node: 0, or -1 with err naming what is wrong (with a did-you-mean for a mode
 * name). NULL is "none". For command-line and config readers. */
int cp__cpu_affinity_check(const char *text, cp_err *err) CP__WUR;

/* ------------------------------------------------------------ node facts */

/* What the pool knows about its node. Tests write any node by hand, e.g.
 *   (struct cp__node_facts){.cpus = (int[]){0, 2, 4, 6}, .ncpus = 4,
 *                           .cores = 4, .mem_gb = 16}
 * cpus are the CPUs the pool process may run on (its sched_getaffinity mask),
 * which is what cpu_affinity divides; cores is the number the worker count
 * uses: ncpus, unless PARSL_CORES says otherwise (Parsl keeps the two apart the
 * same way). mem_gb is memory *available* for new work, as Parsl sizes by
 * psutil's `available`; a negative value means unknown. */
struct cp__node_facts {
    int *cpus;                  /* sorted, distinct; detect allocates (clear frees) */
    size_t ncpus;
    int cores;                  /* >= 1 */
    double mem_gb;              /* GiB available; < 0: unknown */
    double mem_total_gb;        /* GiB installed (for registration); < 0: unknown */
    const char *cores_from;     /* where cores came from, for messages (static text) */
    const char *mem_from;       /* where mem_gb came from (static text) */
};

/* Fills *f from this process and machine: the sched_getaffinity CPU list,
 * MemAvailable and MemTotal from /proc/meminfo (available rounded to 0.1 GiB,
 * as Parsl rounds psutil's number), then the PARSL_CORES / PARSL_MEMORY_GB
 * overrides from the environment (cp__node_facts_override). A meminfo that
 * cannot be read leaves memory unknown, which is only an error later if
 * mem_per_worker needs it. Caller owns f->cpus (cp__node_facts_clear), also
 * after a failure. 0, or -1 with err (a bad override names the variable). */
int cp__node_facts_detect(struct cp__node_facts *f, cp_err *err) CP__WUR;

/* Applies PARSL_CORES / PARSL_MEMORY_GB values (NULL or "" = not set, as in
 * Parsl). cores must be an integer from 1 to CP_POOL_MAX_CPU_ID + 1; memory a
 * number of GiB > 0. A bad value leaves f unchanged and is an error naming the
 * variable and the value. Strings borrowed for the call. */
int cp__node_facts_override(struct cp__node_facts *f, const char *parsl_cores,
                            const char *parsl_memory_gb, cp_err *err) CP__WUR;

/* Reads /proc/meminfo text: MemAvailable (or, on kernels before 3.14, MemFree +
 * Buffers + Cached, psutil's fallback) and MemTotal, in GiB, unrounded. text
 * borrowed. 0, or -1 with err when neither is found. */
int cp__node_facts_parse_meminfo(const char *text, double *avail_gb, double *total_gb,
                                 cp_err *err) CP__WUR;

/* Frees f->cpus and zeroes f. NULL is fine. */
void cp__node_facts_clear(struct cp__node_facts *f);

/* ------------------------------------------------------------ layout */

struct cp__pool_layout;

/* Decides the pool: the worker count is
 *   min(max_workers_per_node, ⌊mem_gb / mem_per_worker⌋ (when set),
 *       ⌊cores / cores_per_worker⌋), then at most the accelerator count (if any);
 * a count of 0 is an error that says which limit left no room and with which
 * numbers. Then each worker's CPUs (cpu_affinity over f->cpus), accelerator, and
 * environment. pool_id and block_id go into PARSL_WORKER_POOL_ID and
 * PARSL_WORKER_BLOCK_ID. All inputs are borrowed for the call (the layout keeps
 * copies). Caller owns the result (cp__pool_layout_free); NULL with err on any
 * error (never a partial layout). */
struct cp__pool_layout *cp__pool_layout_make(const struct cp__pool_settings *s,
                                             const struct cp__node_facts *f,
                                             const char *pool_id, const char *block_id,
                                             cp_err *err) CP__WUR;
void cp__pool_layout_free(struct cp__pool_layout *l);      /* NULL is fine */

/* The number of workers (>= 1). */
int cp__pool_layout_workers(const struct cp__pool_layout *l);
/* The cpu_affinity mode: "none", "block", "block-reverse", "alternating" or
 * "list" (static text). */
const char *cp__pool_layout_affinity(const struct cp__pool_layout *l);
/* One line on how the count was chosen, for the pool's log, e.g.
 * "2 workers = min(max_workers_per_node unlimited, memory 15.5 GB / 2 GB = 7,
 *  cores 2 / 1 = 2); cpu_affinity block". Borrowed until free. */
const char *cp__pool_layout_describe(const struct cp__pool_layout *l);

/* Worker i's CPUs, in the order the mode gives them (a list: keeps the user's
 * order, which GOMP_CPU_AFFINITY gives meaning to); *n is set to their count.
 * NULL with *n = 0 when workers are not pinned (cpu_affinity none) or i is out
 * of range. Borrowed until free. */
const int *cp__pool_layout_cpus(const struct cp__pool_layout *l, int i, size_t *n);
/* Worker i's CPUs as a cpu_set_t. 0; or -1 with err when the worker is not
 * pinned (ENOENT), i is out of range (EINVAL), or a CPU is >= CPU_SETSIZE
 * (EOVERFLOW; cp__pool_layout_apply has no such limit). */
int cp__pool_layout_cpuset(const struct cp__pool_layout *l, int i, cpu_set_t *set,
                           cp_err *err) CP__WUR;
/* Worker i's accelerator name, or NULL when there are none. Borrowed until free. */
const char *cp__pool_layout_accelerator(const struct cp__pool_layout *l, int i);
/* Worker i's environment additions as a NULL-terminated list of "K=V":
 * PARSL_WORKER_RANK, _COUNT, _POOL_ID, _BLOCK_ID; when pinned OMP_NUM_THREADS,
 * GOMP_CPU_AFFINITY, KMP_AFFINITY; with an accelerator CUDA_VISIBLE_DEVICES,
 * ROCR_VISIBLE_DEVICES, ZE_AFFINITY_MASK, ZE_ENABLE_PCI_ID_DEVICE_ORDER. The
 * caller merges them over its own environment. NULL when i is out of range.
 * Borrowed until free. */
char *const *cp__pool_layout_env(const struct cp__pool_layout *l, int i);

/* Pins the calling thread to worker i's CPUs (sched_setaffinity(0, …)); a no-op
 * returning 0 when workers are not pinned. Call it in the worker process (a
 * forked child is single-threaded, so this pins the whole worker and every
 * thread it starts later), e.g. between fork and exec. It allocates nothing (the
 * masks were built by make), so it is safe in the child of a threaded parent
 * when err is NULL (formatting an error message is not async-signal-safe).
 * 0, or -1 with errno (and err) when the kernel refuses (e.g. the CPUs are no
 * longer allowed). */
int cp__pool_layout_apply(const struct cp__pool_layout *l, int i, cp_err *err) CP__WUR;

/* Shared by the settings reader and the layout: 0 when name can be accelerator i
 * (1 to 256 characters, no control characters), else -1 with err. */
int cp__accel_name_check(const char *name, size_t i, cp_err *err);

#endif
