/* executors/interchange.h — the interchange of the high_throughput executor
 * (docs/htex.md): one libuv loop on its own thread that accepts worker-pool
 * connections (docs/wire.md), keeps pending tries in one priority heap, hands
 * each ready pool up to its free capacity in one TASKS frame, takes RESULTS back,
 * and notices lost pools by heartbeat or closed connection.
 *
 * Threads. Every function here is thread-safe unless it says otherwise. The
 * engine hooks (`running`, `done`) run on the loop thread with no interchange
 * lock held, so `done` may call cp__interchange_submit again. Jobs handed to
 * submit always come back through `done` exactly once: with the pool's outcome,
 * with "pool lost: …" when the pool carrying them goes away, or with
 * "executor shut down" when the interchange stops first.
 *
 * Lower layer: includes only the public header, common/ and executors/.
 */
#ifndef CP_EXECUTORS_INTERCHANGE_H
#define CP_EXECUTORS_INTERCHANGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "executors/executor.h"
#include "executors/wire.h"

/* How to start one. Borrowed for the call of cp__interchange_start (copied). */
struct cp__mon;

struct cp__ic_settings {
    const char *address;        /* listen address (numeric or name); NULL: 127.0.0.1 */
    int port;                   /* > 0: exactly this port */
    int port_min, port_max;     /* port 0 and port_min > 0: the first free port in
                                 * [port_min, port_max]; all 0: an ephemeral port */
    unsigned char secret[CP_WIRE_SECRET_LEN];  /* the run's secret */
    bool encrypted;             /* require sealed frames (pools may still ask) */
    double heartbeat_period;    /* seconds; <= 0: 30 */
    double heartbeat_threshold; /* seconds of silence before a pool is lost; <= 0:
                                 * 2 × heartbeat_period */
    const char *label;          /* for log lines; NULL: "htex" */
    struct cp__mon *mon;        /* the monitoring database (node rows, resource
                                 * samples), or NULL; borrowed, outlives it */
    double mon_interval;        /* the pools' resource_interval, for those rows */
    int max_handshakes;         /* connections allowed at once before they have
                                 * authenticated; more are closed at accept; <= 0:
                                 * IC_MAX_HANDSHAKES (1024) */
};

/* Counters since start; a snapshot (each field read atomically on its own). */
struct cp__ic_stats {
    uint64_t frames_sent, frames_received;
    uint64_t tasks_sent;            /* task records in TASKS frames */
    uint64_t tasks_frames;          /* TASKS frames that carried them */
    uint64_t results_frames;        /* RESULTS frames received */
    uint64_t results_received;      /* result records in RESULTS frames */
    uint64_t results_unknown;       /* results for no try in flight on that pool (dropped) */
    uint64_t connections;           /* TCP connections accepted */
    uint64_t connections_refused;   /* closed for a protocol/auth/version/policy failure */
    uint64_t connections_shed;      /* closed at accept: too many handshakes at once */
    uint64_t pools_lost;            /* registered pools lost (closed, silent, failed) */
    int pools_connected;            /* registered pools now */
    int workers_connected;          /* the sum of their worker_count */
    size_t outstanding;             /* submitted and not yet reported done */
};

/* What a block's connected pools look like (cp__interchange_block_info). */
struct cp__ic_block_info {
    int pools;                  /* registered pools of the block now connected */
    int workers;                /* the sum of their worker_count */
    int in_flight;              /* tries on them */
    bool held;                  /* every one of them is held (true when pools is 0) */
    double idle_since;          /* pools > 0 and in_flight == 0: the latest moment
                                 * (CLOCK_REALTIME s) one of them became idle, i.e.
                                 * how long the block as a whole has been idle;
                                 * otherwise 0 */
};

struct cp__interchange;

/* Binds the listening socket (on this thread, so a port in use is reported here),
 * then starts the loop thread. hooks is copied; hooks->eng is borrowed until
 * cp__interchange_stop returns. Caller owns the result (cp__interchange_stop). */
struct cp__interchange *cp__interchange_start(const struct cp__ic_settings *settings,
                                              const struct cp__executor_hooks *hooks,
                                              cp_err *err);

/* The bound TCP port. */
int cp__interchange_port(struct cp__interchange *ic);

/* Queues a try. job is borrowed until the done hook has been called for it (the
 * fields marked "set by the engine" in executor.h must stay valid until then).
 * After stop has begun, done is called at once on the calling thread with
 * "executor shut down". Join jobs are refused the same way (they run in the
 * engine). */
void cp__interchange_submit(struct cp__interchange *ic, struct cp__job *job);

/* Jobs submitted and not yet reported done. */
size_t cp__interchange_outstanding(struct cp__interchange *ic);
/* The sum of worker_count over registered pools now connected. */
int cp__interchange_workers(struct cp__interchange *ic);
void cp__interchange_stats(struct cp__interchange *ic, struct cp__ic_stats *out);

/* Sends HOLD(held) to every pool of block_id (borrowed for the call) and stops
 * (held) or resumes (!held) giving them work; pools of that block that register
 * later are held too while the hold stands. Returns the number of pools told.
 * Waits for the loop (runs inline when called from a hook). */
int cp__interchange_hold_block(struct cp__interchange *ic, const char *block_id, bool held);

/* Fills *out for block_id (borrowed). Waits for the loop like hold_block. */
void cp__interchange_block_info(struct cp__interchange *ic, const char *block_id,
                                struct cp__ic_block_info *out);

/* Gives up on work not yet sent to a pool: every pending try, and every try
 * submitted later, fails with reason (borrowed for the call). Tries already on
 * pools keep running. For an executor whose blocks all failed (DESIGN §9) and for
 * an interrupt. Not from a hook; waits for the loop. */
void cp__interchange_fail_pending(struct cp__interchange *ic, const char *reason);

/* An interrupt: as fail_pending(pending), and every pool with tries in flight
 * gets INTERRUPT(running), so they fail with "interrupted: <running>" and what
 * runs is ended (docs/wire.md). Both strings borrowed for the call. Not from a
 * hook; waits for the loop. */
void cp__interchange_interrupt(struct cp__interchange *ic, const char *pending,
                               const char *running);

/* Stops accepting, fails every pending and in-flight job with "executor shut
 * down" through done, sends SHUTDOWN (now) to every pool, closes every
 * connection, joins the loop thread and frees. Not from a hook. NULL is fine. */
void cp__interchange_stop(struct cp__interchange *ic);

#endif
