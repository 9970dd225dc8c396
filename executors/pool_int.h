/* executors/pool_int.h — the parsl-worker pool's state, shared by pool.c (the
 * loop, the queue, results and interchange messages), pool_workers.c (forking,
 * feeding, reaping and ending workers) and pool_start.c (connecting, node layout,
 * logs and signals). Not for use outside the pool.
 */
#ifndef CP_EXECUTORS_POOL_INT_H
#define CP_EXECUTORS_POOL_INT_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "executors/pool.h"

#define SUBSYS "pool"
#define SOFTWARE "cparsl " CPARSL_VERSION
#define HANDSHAKE_TIMEOUT 30.0      /* seconds from connect to WELCOME */
#define STOP_GRACE 1.0              /* seconds between TERM and KILL of workers */
#define SHELL_BACKSTOP 5.0          /* seconds past walltime + grace before the pool
                                     * kills a worker whose shell task overran */
#define RESPAWN_DELAY 1.0           /* a worker that died idle within this many
                                     * seconds of its start is restarted this late */
#define BATCH_SOFT_CAP (8u << 20)   /* flush a RESULTS batch before it grows past this */
#define BATCH_HDR 6                 /* room before the records: 0x91 + array32 header */
#define RX_CHUNK 16384
#define DEPTH_MAX 16                /* tasks a worker may hold: see dispatch() */
#define DEPTH_FAST 0.001            /* ... only while its tasks take less than this */
#define DEPTH_TASK_MAX 4096         /* ... each of at most these many bytes */

/* A task waiting for a worker: its message to the worker, ready to write. */
struct qtask {
    struct qtask *prev, *next;
    int64_t task_id, try_id, priority;
    int kind;
    double walltime;
    size_t len;                     /* bytes in data: 4-byte length + TASKS body */
    unsigned char data[];
};

struct worker {
    int rank;
    int pid;                        /* 0: not running */
    int fd;                         /* -1: closed */
    struct qtask *cur;              /* the task it runs, or NULL when idle; then,
                                     * through ->next, those sent behind it */
    struct qtask *last;             /* the last of that list */
    int nsent;                      /* tasks in that list */
    double ewma;                    /* recent time per task, seconds; < 0: none yet */
    double t_dispatch;              /* CLOCK_REALTIME when cur was sent or, for a
                                     * task sent behind others, when it came first */
    double deadline;                /* CLOCK_MONOTONIC walltime of cur, 0: none */
    bool wall_killed;               /* the pool killed it for cur's walltime */
    bool interrupted;               /* its tasks were failed by INTERRUPT: what it
                                     * still reports is dropped */
    double kill_at;                 /* CLOCK_MONOTONIC: KILL it then (after the TERM
                                     * of an interrupt), 0: no */
    int shell_pgid;                 /* cur's shell command (its own group), 0: none */
    char *host;                     /* the program it is relaunching itself as, to
                                     * run cur, until that app host says it serves */
    double started;                 /* CLOCK_MONOTONIC of its fork */
    double respawn_at;              /* CLOCK_MONOTONIC; 0: not waiting to respawn */
    unsigned char *in;              /* a partial message from it */
    size_t inlen, incap;
    struct cp__wire_sample res_base;    /* its counters when cur began (CPU, I/O) */
    struct cp__wire_sample res_last;    /* its absolute counters at its last try's end */
    double res_last_at;             /* CLOCK_MONOTONIC of that reading; 0: none */
    int res_pid;                    /* the pid res_stat_fd and res_io_fd are of; 0: none */
    int res_stat_fd, res_io_fd;     /* /proc/<pid>/stat and io, kept open (-1: failed) */
};

enum { ST_HANDSHAKE, ST_READY, ST_STOPPING };

struct pool {
    struct cp__pool_opts *o;
    struct cp__pool_layout *layout;
    struct cp__node_facts facts;
    char hostname[256], pool_id[160];
    int nworkers, max_capacity, self_pid;
    struct worker *workers;
    int sock;
    struct cp__wire_conn *conn;
    struct cp__wire_buf out;        /* frames to the interchange, [out_off, len) unsent */
    size_t out_off;
    struct cp__wire_buf batch;      /* RESULTS records after BATCH_HDR bytes */
    size_t nbatch;
    struct qtask *qhead, *qtail;
    size_t nqueued;
    int state;
    bool held, draining;
    double hb_period, hb_threshold, last_rx, next_hb, handshake_deadline, drain_at;
    int exit_code;
    int sigpipe[2];
    struct cp__wire_sample *res;    /* resource samples for the next RESOURCES frame */
    size_t nres, capres;
    double res_next;                /* CLOCK_MONOTONIC of the next periodic sample */
};

/* pool.c: stops the pool with a failure, printing text on stderr and the log. */
void cp__pool_fail(struct pool *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* pool.c: sends one message to the interchange (a failure stops the pool). */
void cp__pool_send(struct pool *p, const struct cp__wire_msg *m);
/* pool.c: results for the next RESULTS frame: a worker's record as it sent it,
 * or one the pool makes (worker lost, walltime, refused, interrupted). */
void cp__pool_add_record(struct pool *p, const void *rec, size_t len);
void cp__pool_add_result(struct pool *p, int64_t task_id, int64_t try_id, const char *error,
                         bool timed_out, double t_start, int rank);
/* pool.c: the queue of tasks waiting for a worker (priority order). requeue puts
 * a list (linked by next, in order) back at the front. */
struct qtask *cp__pool_q_pop(struct pool *p);
void cp__pool_q_push_front(struct pool *p, struct qtask *t);
void cp__pool_requeue(struct pool *p, struct qtask *list);

/* pool_workers.c */
int cp__pool_spawn_worker(struct pool *p, struct worker *w);  /* fork one; 0/-1 */
bool cp__pool_worker_read(struct pool *p, struct worker *w);  /* false: its end closed */
void cp__pool_worker_closed(struct worker *w);
void cp__pool_reap(struct pool *p);            /* waitpid the ended, replace them */
void cp__pool_dispatch(struct pool *p);        /* queue heads to workers with room */
void cp__pool_stop_workers(struct pool *p);    /* TERM, KILL after STOP_GRACE, reap */
void cp__pool_interrupt(struct pool *p, const char *reason);   /* INTERRUPT */

/* pool_resources.c: samples of running tries (only with --resource-interval) */
void cp__pool_res_begin(struct pool *p, struct worker *w);   /* w->cur just started */
void cp__pool_res_end(struct pool *p, struct worker *w);     /* w->cur's result came */
double cp__pool_res_timer(struct pool *p, double now);       /* next due time, 0: none */
void cp__pool_res_flush(struct pool *p);                     /* a RESOURCES frame */

/* pool_start.c */
extern volatile sig_atomic_t cp__pool_stop_signal;   /* the signal that asked us to stop */
int cp__pool_setup(struct pool *p);          /* node facts, layout, ids, log */
int cp__pool_signals_setup(struct pool *p);  /* the self-pipe and handlers */
void cp__pool_signals_reset(struct pool *p); /* undoes it */
int cp__pool_connect(struct pool *p);        /* the first reachable address */

#endif
