/* executors/pool.h — parsl-worker, the worker pool a provider starts on each node
 * of a block (docs/htex.md).
 *
 * The pool connects to the interchange, proves the run's secret and registers
 * (executors/wire.h), then forks its workers (executors/pool_layout.h decides how
 * many, their CPUs, accelerators and environment) and hands each idle worker one
 * task at a time over a socketpair, keeping the rest of what the interchange sent
 * (its prefetch) in a queue. Results go back in RESULTS batches, flushed each time
 * the event loop has handled everything that was ready, so a single task waits for
 * nothing. A worker that dies fails its try ("worker lost: SIGKILL") and is
 * replaced with the same rank and pinning; a native app over its walltime gets its
 * worker killed and replaced.
 *
 * Between the pool and a worker, a message is a 4-byte length (host order; both
 * ends are this program on this machine) and a wire message body: TASKS with one
 * task to the worker, RESULTS with one result back. The pool never decodes a
 * result: it strips the two array headers and splices the record into its batch.
 * A worker also sends one-letter notices, told apart from RESULTS by their first
 * byte: 'P' + pid (it started a shell command in that process group), 'H' +
 * path (it is relaunching itself as that program's app host) and 'A' (the app
 * host serves).
 *
 * pool.c is the pool process's loop, queue and interchange side; pool_workers.c
 * its workers' lifecycle and dispatch; pool_start.c its start-up; pool_worker.c
 * is what a forked worker runs. The command line is executors/cli/parsl_worker.c.
 */
#ifndef CP_EXECUTORS_POOL_H
#define CP_EXECUTORS_POOL_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"
#include "executors/pool_layout.h"
#include "executors/wire.h"

/* Exit statuses of parsl-worker. */
enum {
    CP_POOL_EXIT_OK = 0,        /* SHUTDOWN, or the connection closed after DRAIN */
    CP_POOL_EXIT_FAIL = 1,      /* refused, cannot connect, interchange lost or silent */
    CP_POOL_EXIT_USAGE = 2,     /* bad arguments or settings */
};

/* What the command line says. Strings are borrowed (argv) for cp__pool_run. */
struct cp__pool_opts {
    const char *const *addresses;   /* naddresses hosts, tried in order */
    size_t naddresses;
    int port;                       /* 1..65535 */
    unsigned char secret[CP_WIRE_SECRET_LEN];
    const char *block_id;           /* "" when started by hand */
    const char *pool_id;            /* NULL: "<hostname>-<pid>-<random>" */
    struct cp__pool_settings settings;
    int prefetch_capacity;          /* >= 0 */
    double drain_period;            /* seconds; 0: never drain */
    bool encrypted;                 /* ask for sealed frames */
    const char *app_library;        /* NULL: none (apps linked in, or the task's library) */
    const char *logdir;             /* NULL: no log file */
    double connect_timeout;         /* seconds per address; <= 0: 10 */
    double resource_interval;       /* seconds between resource samples of running
                                     * tries (0: only at start and end); < 0: none */
};

/* Runs the pool until it is told to stop or loses its interchange; returns the
 * exit status (CP_POOL_EXIT_*) after printing any failure to stderr. o is
 * borrowed for the call (the secret is wiped from it). */
int cp__pool_run(struct cp__pool_opts *o);

/* ------------------------------------------------------------ worker side */

/* The body of one worker process, entered right after fork (pool.c has already
 * pinned it, set its environment, made it a process-group leader and closed every
 * descriptor but fd). Reads tasks from fd until EOF, runs each (native apps from
 * app_library, the task's library or the program itself; shell commands with their
 * walltime), writes one result each. Never returns: _exit(0) on EOF. */
void cp__pool_worker_main(int fd, int rank, const char *app_library)
    __attribute__((noreturn));

/* The environment variable that makes a program an app host, and the one that
 * carries the pool's --app-library to it. */
#define CP_APP_HOST_ENV "CPARSL_APP_HOST"
#define CP_APP_HOST_LIBRARY_ENV "CPARSL_APP_HOST_LIBRARY"

/* Becomes an app host: called by cp_init (and cp_load) when CP_APP_HOST_ENV is set,
 * in a program a worker relaunched to run that program's own native apps (task
 * kind HOSTED). spec is the variable's value: "fd=N task=M rank=R", the worker's
 * socketpair and a memfd holding the task that made the worker relaunch it. Does
 * not return, except with -1 and err filled when spec is not one a worker wrote
 * (the variable then stays set). */
int cp__pool_app_host(const char *spec, cp_err *err);

/* "SIGKILL" for SIGKILL (static), or "signal N" in buf. */
const char *cp__pool_signame(int sig, char *buf, size_t cap);

#endif
