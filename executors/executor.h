/* executors/executor.h — the executor interface (DESIGN.md §1).
 *
 * The engine hands an executor one try of one task as a cp__job and learns the
 * outcome through two hooks. Executors never see tasks, futures or the DAG: the job
 * carries everything a try needs (the app and its resolved arguments, or the
 * rendered shell command) and nothing more. One const ops table per executor type.
 *
 * Lower layer: includes only the public header, common/ and executors/.
 */
#ifndef CP_EXECUTORS_EXECUTOR_H
#define CP_EXECUTORS_EXECUTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/value.h"

enum cp__job_kind { CP_JOB_NATIVE = 1, CP_JOB_SHELL, CP_JOB_JOIN };

struct cp__job {
    /* Set by the engine before submit; borrowed by the executor until done. */
    uint8_t kind;               /* cp__job_kind */
    bool stdout_append, stderr_append;
    int try_id;
    long task_id;
    int priority;               /* lower runs first */
    int nargs;
    const cp_app_def *app;
    const struct cp_value *args;  /* native/join: resolved argument values */
    const char *cmd;            /* shell: the rendered command */
    const char *stdout_path;    /* shell: where its streams go */
    const char *stderr_path;
    const char *const *outputs; /* shell: declared output paths, checked after exit 0 */
    size_t noutputs;
    const char *const *env;     /* extra NAME=value entries, NULL-terminated, or NULL */
    double walltime;            /* seconds, 0: none */

    /* Set by the executor before the done hook; the engine takes them. */
    struct cp_value result;
    char *error;                /* the failure's text (malloc'd), or NULL */
    bool failed;                /* the try failed; error may still be NULL when
                                 * even its text could not be allocated */
    cp_future *joined;          /* join apps: the future the body returned (taken) */
    bool timed_out;
    double t_start, t_end;
    /* Where the try went, for the monitoring database: set by executors that
     * know (high_throughput) before the running hook; borrowed strings that stay
     * valid until the executor is destroyed. NULL: not known. */
    const char *where_host, *where_block;

    /* Executor-private. */
    struct cp__job *next;
    uint64_t seq;
};

/* Engine callbacks. Either may run on any executor thread; neither may be called
 * with an executor lock held, because done usually submits more jobs. */
struct cp__executor_hooks {
    void (*running)(void *eng, struct cp__job *job);
    void (*done)(void *eng, struct cp__job *job);
    void *eng;
};

struct cp__executor;

struct cp__executor_ops {
    const char *type;
    /* Queues a job; thread-safe. A job the executor cannot take still comes back
     * through done (with an error), so submit itself cannot fail. */
    void (*submit)(struct cp__executor *ex, struct cp__job *job);
    /* Jobs submitted and not yet reported done. */
    size_t (*outstanding)(struct cp__executor *ex);
    /* Workers able to take jobs now. */
    int (*connected_workers)(struct cp__executor *ex);
    /* Kills running shell commands (their tries fail "interrupted") and fails every
     * job that has not started yet, now and later. A command starting while this
     * runs may escape it: callers repeat it until the executor is idle.
     * Thread-safe. */
    void (*interrupt)(struct cp__executor *ex);
    /* Finishes or drops what is queued, stops threads, frees. NULL is fine. */
    void (*destroy)(struct cp__executor *ex);
};

struct cp__executor {
    const struct cp__executor_ops *ops;
    char *label;                /* owned */
    struct cp__executor_hooks hooks;
};

/* The thread_pool executor: native apps on `threads` threads, shell apps as child
 * processes (one per busy thread, as in Parsl). Caller owns (ops->destroy). */
struct cp__executor *cp__thread_pool_create(const char *label, int threads,
                                            const struct cp__executor_hooks *hooks,
                                            cp_err *err);

#endif
