/* engine/task.h — the task record and the DataFlowKernel (internal to engine/).
 *
 * A task *is* its future: the user's cp_future * points at the record, which lives
 * while anyone holds it. Holds are counted in rc: the user (until
 * cp_future_release), the engine (until the task is final), each dependent task
 * (until it has read this task's value), and a join task waiting on it.
 *
 * Dependency protocol: `pending` counts unfinished parents plus one guard held
 * while the task is being set up. A parent adds a child to its `dependents` under
 * the parent's stripe lock unless it is already final; finishing a parent
 * decrements each child's pending, and whoever brings it to zero launches it.
 * Finished state, dependents and waiter counts are guarded by a stripe lock chosen
 * by the record's address, so no engine-wide lock sits on the task path.
 */
#ifndef CP_ENGINE_TASK_H
#define CP_ENGINE_TASK_H

#include <pthread.h>
#include <stdatomic.h>

#include "common/file.h"
#include "common/value.h"
#include "executors/executor.h"

enum cp__task_kind {
    TK_APP = 1,       /* native, shell or join app: runs on an executor */
    TK_VALUE,         /* cp_value_future: born done */
    TK_GATHER,        /* cp_gather: a list of its parents' values, made inline */
    TK_FAILED_CALL,   /* the call itself was bad: born failed */
};

/* Options of a call, copied; only tasks that need them have them. */
struct cp__topts {
    char *stdout_path;
    char *stderr_path;
    struct cp_file **outputs;   /* task-owned DataFutures */
    char **output_paths;        /* their local paths, for the executor */
    size_t noutputs;
    char **env;                 /* PARSL_CORES=… for shell apps, NULL-terminated */
    int cores, memory_mb, disk_mb;
    double running_time;
    bool cache;
    bool stdout_declared;       /* the paths were given, not the task_logs defaults */
    bool stderr_declared;
};

struct cp__dfk;

struct cp_future {
    struct cp__job job;         /* the try in flight; also holds result and error */
    struct cp__dfk *dfk;        /* NULL for value and gather futures */
    struct cp__executor *ex;
    long id;
    long tag;                   /* the caller's (cp__call_ex), -1 otherwise */
    atomic_uint rc;
    atomic_int pending;
    _Atomic uint8_t state;      /* cp_state */
    atomic_bool done;           /* final; set under the stripe lock */
    uint8_t kind;               /* cp__task_kind */
    bool edge_oom;              /* a dependency could not be recorded */
    int fail_count;
    int retries;
    double fail_cost;
    double t_invoked, t_launched, t_running;    /* for the monitoring database only */
    int cmd_try;                /* shell: the try job.cmd was rendered for, -1 none */
    unsigned char *memo_key;    /* cacheable tasks being run: CP_CKPT_KEY_LEN bytes */
    int nparents;               /* entries in parents */
    struct cp_future **parents; /* held parents: parents[i] for argument i (or NULL),
                                 * then input DataFutures; NULL when none */
    struct cp__topts *opts;
    struct cp_future **dependents;  /* stripe-locked */
    uint32_t ndependents, capdependents;
    uint32_t nwaiters;          /* stripe-locked */
    struct cp_value args[];     /* job.nargs values */
};

struct cp__dfk {
    cp_config cfg;              /* strings owned */
    char *run_dir;              /* runinfo/NNN */
    char *task_logs;            /* runinfo/NNN/task_logs */
    atomic_long next_id;
    atomic_long outstanding;    /* tasks not final */
    atomic_long n_done, n_failed, n_dep_fail;
    atomic_bool resource_note;  /* "not enforced" logged once */
    bool closing;               /* guarded by the global lock */
    pthread_mutex_t mu;         /* for waiting on outstanding == 0 */
    pthread_cond_t idle_cv;
    struct cp__executor **execs;
    int nexecs;
    struct cp__executor *internal;  /* join-app bodies */
    struct cp__memo *memo;      /* memoization and checkpoints, or NULL */
};

/* task.c: life of a task */
extern atomic_long cp__live_tasks;     /* records not yet freed (for tests) */
struct cp_future *cp__task_alloc(int nargs, uint8_t kind);
void cp__task_decref(struct cp_future *t);
void cp__task_incref(struct cp_future *t);
/* Adds t as a dependent of parent unless parent is final: 1 added, 0 parent
 * already final, -1 no memory for the edge. */
int cp__task_add_dependent(struct cp_future *parent, struct cp_future *t);
/* Sets the final state, wakes waiters, releases dependents, drops the engine
 * hold. */
void cp__task_finalize(struct cp_future *t, cp_state state);
/* Drops t's holds on its parents and frees the array. */
void cp__task_release_parents(struct cp_future *t);
/* Registers every parent and launches t if none is pending. */
void cp__task_arm(struct cp_future *t);
/* Fails a task that never ran (bad call, dependency failure); takes msg. */
void cp__task_fail_now(struct cp_future *t, cp_state state, char *msg);

/* future.c: a gather whose members are all final becomes their list or fails. */
void cp__gather_complete(struct cp_future *t);

/* observe.c: tells registered observers that t entered state (cheap when none). */
extern _Atomic int cp__nobservers;
void cp__observe_emit_(const struct cp_future *t, cp_state state);
/* Opens (+1) or closes (-1) the gate for a listener other than an observer. */
void cp__observe_gate(int delta);
static inline void cp__observe_emit(const struct cp_future *t, cp_state state)
{
    if (__builtin_expect(atomic_load_explicit(&cp__nobservers, memory_order_relaxed) != 0, 0))
        cp__observe_emit_(t, state);
}
extern atomic_bool cp__interrupted;

/* Stripe locks (future.c). */
struct cp__stripe {
    pthread_mutex_t mu;
    pthread_cond_t cv;
};
struct cp__stripe *cp__stripe_of(const struct cp_future *t);

/* dfk.c: the current run */
struct cp__dfk *cp__dfk_enter(const char **why);    /* counts a new task, or NULL */
void cp__dfk_task_final(struct cp__dfk *dfk, cp_state state);
struct cp__executor *cp__dfk_executor(struct cp__dfk *dfk, const char *label);
extern const struct cp__executor_hooks cp__dfk_hooks_template;

#endif
