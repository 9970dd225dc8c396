/* monitoring/db.h — the monitoring database: Parsl's schema in a SQLite file,
 * written by one thread in batched transactions (DESIGN §1, §7; issue 6).
 *
 * Callers on any thread hand over rows; each call copies what it is given into a
 * queue and returns at once, never waiting for SQLite — unless the queue holds
 * max_queue_bytes: then the caller waits until the writer has taken some, so a
 * run far faster than its database (or one whose file another connection keeps
 * locked) slows down rather than growing without bound or dropping rows. The
 * writer thread commits what is queued in one transaction every flush interval,
 * as soon as a few thousand rows wait, and at close, so a reader holding the
 * database (a report, sqlite3 in another terminal) delays the writer but never
 * makes it lose a row: a busy database is retried until it is free again, and
 * rows keep queueing.
 *
 * Tables and columns are Parsl's (reference/parsl-notes.md §7): workflow, task,
 * try, status, block, node, resource, so tools written for Parsl's database read
 * ours; task, try, status and resource are views over compact tables of ours
 * (schema.c). Times read as Parsl stores them: text "YYYY-MM-DD HH:MM:SS.ffffff"
 * in local time. The file is shared by runs (one workflow row per run_id).
 *
 * In the columns Parsl declares NOT NULL, a NULL string is written as '' and a time
 * of 0 as the time of the call, so such a row is stored rather than refused; in
 * every other column NULL is SQL NULL and a time of 0 (or less) is NULL.
 * Every row function does nothing when m is NULL (monitoring off).
 */
#ifndef CP_MONITORING_DB_H
#define CP_MONITORING_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

struct cp__mon;     /* opaque; owned by whoever opened it, freed by cp__mon_close */

struct cp__mon_opts {
    const char *path;               /* the database file; its directory is created */
    const char *run_id;             /* this run's id (unique; e.g. a UUID) */
    const char *workflow_name;      /* may be NULL */
    const char *workflow_version;   /* may be NULL */
    const char *rundir;             /* runinfo/NNN; may be NULL */
    double time_began;              /* CLOCK_REALTIME seconds */
    double flush_interval;          /* seconds between commits; <= 0: 0.2 */
    size_t max_queue_bytes;         /* rows waiting for the writer, at most; a caller that
                                       would queue more waits for it; 0: 256 MiB */
    double lock_timeout;            /* seconds open and close wait for a database another
                                       connection keeps locked, then fail; <= 0: 60 */
};

/* Opens (creating) the database, sets WAL mode and a busy timeout, creates the
 * tables and indexes that are missing, inserts this run's workflow row, and
 * starts the writer thread. All strings are copied. NULL with err on failure
 * (cannot open, not a database, a table with other columns, …). */
struct cp__mon *cp__mon_open(const struct cp__mon_opts *o, cp_err *err);

/* One row of `task`, inserted or replaced (a later call for the same task_id
 * overwrites it: the engine sends it when the task is created and again when it
 * ends, with times and fail counts filled). Strings are copied; NULL is SQL NULL. */
struct cp__mon_task {
    long task_id;
    const char *func_name;          /* task_func_name */
    const char *depends;            /* task_depends: comma-separated task ids */
    const char *memoize;            /* task_memoize: "True"/"False" as Parsl writes */
    const char *hashsum;            /* task_hashsum */
    const char *inputs, *outputs;   /* task_inputs / task_outputs as text */
    const char *stdin_path, *stdout_path, *stderr_path;
    double time_invoked;            /* 0: NULL */
    double time_returned;           /* 0: NULL */
    int fail_count;
    double fail_cost;
};
void cp__mon_task(struct cp__mon *m, const struct cp__mon_task *t);

/* The end of a task already written with cp__mon_task: updates only its
 * time_returned, fail_count and fail_cost (what it depended on is gone by then). */
void cp__mon_task_end(struct cp__mon *m, long task_id, double time_returned, int fail_count,
                      double fail_cost);

/* The end of a task, as cp__mon_task_end takes it. */
struct cp__mon_task_end {
    long task_id;
    double time_returned;
    int fail_count;
    double fail_cost;
};

/* One row of `status`: the task entered state_name (Parsl's names: "pending",
 * "launched", "running", "exec_done", "failed", "dep_fail", "fail_retryable",
 * "memo_done", "joining", "running_ended") at time. */
void cp__mon_status(struct cp__mon *m, long task_id, int try_id, const char *state_name,
                    double time);

/* One row of `try`, inserted or replaced by (try_id, task_id). */
struct cp__mon_try {
    long task_id;
    int try_id;
    const char *block_id, *hostname, *executor;     /* may be NULL */
    double time_launched, time_running, time_returned;     /* 0: NULL */
    const char *fail_history;       /* task_fail_history; may be NULL */
    const char *joins;              /* task_joins; may be NULL */
};
void cp__mon_try(struct cp__mon *m, const struct cp__mon_try *t);

/* A state change of a task and the rows it brings, queued together (one lock,
 * one copy; the engine's path): the status row as cp__mon_status, then the try
 * row, the task row and the task's end when given (each may be NULL). */
void cp__mon_change(struct cp__mon *m, long task_id, int try_id, const char *state_name,
                    double time, const struct cp__mon_try *try_row,
                    const struct cp__mon_task *task_row, const struct cp__mon_task_end *end);

/* One row of `block`: a block of an executor changed status at time. */
void cp__mon_block(struct cp__mon *m, const char *executor, const char *block_id,
                   const char *job_id, const char *status, double time);

/* One row of `node`: a worker pool registered (active) or left (not active). */
struct cp__mon_node {
    const char *hostname, *uid, *block_id;
    int cpu_count;
    int64_t total_memory;           /* bytes */
    bool active;
    int worker_count;
    const char *python_v;           /* Parsl's column; we write the pool's software */
    double time, last_heartbeat;
};
void cp__mon_node(struct cp__mon *m, const struct cp__mon_node *n);

/* One row of `resource`: a sample of a try's process (and its children). */
struct cp__mon_resource {
    long task_id;
    int try_id;
    double time;
    double interval;                /* resource_monitoring_interval */
    int pid;
    double memory_percent;
    int children_count;
    double time_user, time_system;  /* seconds */
    double memory_virtual, memory_resident;     /* bytes */
    double disk_read, disk_write;   /* bytes */
    const char *status;             /* psutil_process_status, e.g. "running" */
    const char *cpu_num;            /* may be NULL */
    double ctx_voluntary, ctx_involuntary;
};
void cp__mon_resource(struct cp__mon *m, const struct cp__mon_resource *r);

/* n samples at once (one lock per few; the interchange's path). */
void cp__mon_resources(struct cp__mon *m, const struct cp__mon_resource *r, size_t n);

/* Counters since open, for tests and the log. */
struct cp__mon_stats {
    uint64_t rows_queued, rows_written, commits, busy_retries;
    uint64_t rows_dropped;          /* only when out of memory: then also logged */
    uint64_t queue_waits;           /* times a caller waited for the writer: the queue
                                       held max_queue_bytes (logged) */
    uint64_t rows_ignored;          /* given, but not stored: a status or block row
                                       given twice (same task, try or block, name and
                                       microsecond) that the writer recognised, or a
                                       row SQLite refused (logged). A repeat only the
                                       file knew of counts as written. */
};
void cp__mon_get_stats(struct cp__mon *m, struct cp__mon_stats *out);

/* Writes everything queued, waiting for the writer (and, if a reader holds the
 * database, for it: never gives up on rows); then sets the workflow row's
 * time_completed and counts, stops the thread, checkpoints the WAL and closes.
 * 0, or -1 with err (the rows that could not be written are counted in err).
 * The wait is bounded: once the database has stayed locked (or kept failing) for
 * lock_timeout seconds after the call, close gives up with that error.
 * Call it after the last row call has returned. Frees m either way; NULL is fine. */
int cp__mon_close(struct cp__mon *m, double time_completed, int tasks_completed,
                  int tasks_failed, cp_err *err);

#endif
