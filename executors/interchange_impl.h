/* executors/interchange_impl.h — private to interchange.c and interchange_conn.c.
 *
 * Everything below `loop-thread state` is touched only by the loop thread; the
 * submission queue and the call queue are under `lock`; counters are atomics.
 */
#ifndef CP_EXECUTORS_INTERCHANGE_IMPL_H
#define CP_EXECUTORS_INTERCHANGE_IMPL_H

#include <stdatomic.h>
#include <uv.h>

#include "executors/interchange.h"

#define IC_SUBSYS "interchange"

/* One try in flight on a pool: in the pool's hash (by task id, try id) and in
 * its list. */
struct ic_flight {
    struct cp__job *job;
    struct ic_flight *hnext;            /* hash chain */
    struct ic_flight *prev, *next;      /* the pool's list */
};

enum ic_conn_state {
    IC_HANDSHAKE = 1,   /* before WELCOME */
    IC_READY,           /* registered: may take work */
    IC_CLOSING,         /* shutting down / closing; nothing more is read or sent */
};

struct ic_conn {
    uv_tcp_t tcp;                       /* first: handle->data is also this */
    struct cp__interchange *ic;
    struct cp__wire_conn *wc;
    struct ic_conn *prev, *next;        /* ic->conns */
    struct ic_conn *want_prev, *want_next;  /* ic->want, while wanted */
    struct ic_conn *id_next;            /* ic->ids chain, while registered */
    const char *kept_host, *kept_block; /* copies that outlive the connection
                                         * (ic->kept), for jobs' where_host/_block */
    bool wanted;                        /* on ic->want: may have room for tries */
    int state;
    bool registered;                    /* REGISTER accepted (counted in stats) */
    bool draining;                      /* DRAIN received */
    bool held;                          /* HOLD sent */
    bool lost_reported;                 /* its tries have been failed */
    char peer[64];                      /* "127.0.0.1:5678" */
    /* REGISTER facts (owned). */
    char *pool_id, *hostname, *block_id, *software;
    int64_t pid, cores, worker_count, max_capacity;
    double memory_gb;
    /* Recent time per task on it (t_end − t_start, moving average), over nresults. */
    double task_ewma;
    uint64_t nresults;
    /* Times: CLOCK_MONOTONIC seconds except idle_since (REALTIME). */
    double accepted_at, last_recv, next_heartbeat, closing_at, idle_since;
    /* Tries in flight. */
    struct ic_flight **buckets;
    size_t nbuckets, nflight;
    struct ic_flight *flights;          /* list head */
};

/* A function to run on the loop thread for a caller that waits. */
struct ic_call {
    void (*fn)(struct cp__interchange *ic, void *arg);
    void *arg;
    bool done;
    struct ic_call *next;
};

struct cp__interchange {
    /* Fixed after start. */
    char *label;
    char *address;
    unsigned char secret[CP_WIRE_SECRET_LEN];
    bool encrypted;
    double hb_period, hb_threshold;
    int port;
    struct cp__executor_hooks hooks;
    uv_thread_t thread;

    /* Under lock. */
    uv_mutex_t lock;
    uv_cond_t called;                   /* an ic_call finished */
    struct cp__job *q_head, *q_tail;    /* submitted, not yet in the heap */
    struct ic_call *calls;
    bool stopping;                      /* submit refuses; the loop winds down */
    bool loop_done;                     /* calls no longer run on the loop */

    /* Counters. */
    atomic_uint_fast64_t tasks_frames, results_frames, connections_shed;
    /* Connections not yet authenticated (IC_HANDSHAKE), and the cap on them: a
     * flood of clients that never finish the handshake costs at most this many
     * descriptors and buffers, each for at most heartbeat_threshold. */
    int nhandshakes, max_handshakes;
    struct cp__mon *mon;                /* borrowed; NULL: no monitoring */
    double mon_interval;                /* the pools' resource_interval */
    double shed_logged;                 /* CLOCK_MONOTONIC of the last such warning */
    atomic_uint_fast64_t frames_sent, frames_received, tasks_sent, results_received,
        results_unknown, connections, connections_refused, pools_lost;
    atomic_int pools_connected, workers_connected;
    atomic_size_t outstanding;

    /* Loop-thread state. */
    uv_loop_t loop;
    uv_async_t wake;
    uv_tcp_t listener;
    uv_timer_t tick;                    /* heartbeats, silence, close deadlines */
    bool shut;                          /* the stop sequence ran */
    struct ic_conn *conns;              /* every connection, any state */
    /* Pools that may have room, oldest first: dispatch visits only these, so
     * its cost follows the pools that can take work, not all the pools. A pool
     * joins when it registers, gets results back or is released from a hold,
     * and leaves when dispatch finds it full (or it closes). */
    struct ic_conn *want_head, *want_tail;
    /* Registered pools by pool id (chained hash), so a REGISTER's duplicate
     * check does not compare with every pool. */
    struct ic_conn **ids;
    size_t nids_buckets, nids;
    /* Strings that must stay valid until the interchange is freed (hostnames and
     * block ids that jobs point to after their pool is gone): a list of blocks. */
    struct ic_kept { struct ic_kept *next; char text[]; } *kept;
    struct cp__job **heap;              /* pending, ordered by (priority, task id, seq) */
    size_t nheap, heap_cap;
    uint64_t seq;
    char *broken;                       /* set by cp__interchange_fail_pending: every
                                         * pending and later try fails with it */
    char **held_blocks;                 /* blocks held by hold_block */
    size_t nheld;
    char rbuf[64 * 1024];               /* one read buffer for every connection
                                         * (reads are handled one at a time) */
};

/* interchange.c */
double cp__ic_now(void);                    /* CLOCK_MONOTONIC seconds */
double cp__ic_wall(void);                   /* CLOCK_REALTIME seconds */
void cp__ic_dispatch(struct cp__interchange *ic);
/* Decrements outstanding and calls the done hook. */
void cp__ic_report(struct cp__interchange *ic, struct cp__job *job);
/* Sets job's failure text (printf-style) and reports it. */
void cp__ic_fail_job(struct cp__interchange *ic, struct cp__job *job, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
bool cp__ic_block_held(struct cp__interchange *ic, const char *block_id);
/* Called when a connection is freed: once stopping and none is left, ends the loop. */
void cp__ic_maybe_finish(struct cp__interchange *ic);

/* interchange_conn.c */
void cp__ic_on_connection(uv_stream_t *server, int status);
/* Frames msg onto c and writes it; on failure the connection is lost. 0 / -1. */
int cp__ic_conn_send(struct ic_conn *c, const struct cp__wire_msg *msg);
/* Sends the batch [jobs, jobs+n) in as few TASKS frames as the cap allows; the
 * tries go in flight. */
void cp__ic_conn_send_tasks(struct ic_conn *c, struct cp__job **jobs, size_t n);
/* Fails every try in flight on c with "pool lost: … : reason" (once), counts the
 * pool as gone and closes the connection (flushing what was queued). */
void cp__ic_conn_lose(struct ic_conn *c, const char *reason);
/* Closes c after the queued writes (REFUSE, SHUTDOWN) are flushed, without
 * failing anything (its tries must be gone already). */
void cp__ic_conn_close(struct ic_conn *c);
/* Fails c's tries with text (not "pool lost"); used by stop. */
void cp__ic_conn_fail_flights(struct ic_conn *c, const char *text);
#define IC_MAX_HANDSHAKES 1024
#define IC_SHORT_TASK 0.001     /* seconds: a task this short counts as short */
#define IC_SHORT_EXTRA 32       /* extra tasks per worker for pools of short tasks */
#define IC_MEDIUM_TASK 0.05     /* seconds: pools of tasks this short get one extra
                                 * per worker */

/* Free capacity (extra: with what short tasks earn, interchange_conn.c):
 * max_capacity − in flight, 0 unless ready, not draining, not held. */
int64_t cp__ic_conn_free(const struct ic_conn *c, bool extra);
/* Puts c on (the tail of) / takes it off ic->want. */
void cp__ic_want(struct ic_conn *c);
void cp__ic_unwant(struct ic_conn *c);
/* The periodic check of one connection: heartbeat due, silence, close deadline. */
void cp__ic_conn_tick(struct ic_conn *c, double now);

#endif
