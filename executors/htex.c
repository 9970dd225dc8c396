/* executors/htex.c — the `high_throughput` executor (docs/htex.md): the
 * interchange, the run's secret, and the blocks a provider starts, behind the
 * executor interface.
 *
 * The executor owns three things. The interchange does the work: submit hands
 * it the try, and the done hook comes back from its loop thread. The blocks are
 * each one provider job running the launcher-wrapped `parsl-worker` command.
 * The block thread polls the provider for their states.
 *
 * Settings are parsed in htex_config.c, for the config loader (one row in
 * exec_types.c). Whatever create needs later is copied, because the config is
 * freed once the run has started.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "executors/exec_types.h"
#include "executors/htex_int.h"
#include "executors/interchange.h"
#include "executors/pool_layout.h"
#include "monitoring/db.h"
#include "providers/launcher.h"
#include "providers/provider.h"

#define MAX_BLOCKS_EVER 4096

/* ------------------------------------------------------------ the executor */

struct block {
    char id[16];
    char *job_id;               /* NULL when submit failed */
    enum cp__block_state state;
    struct cp__block_status last;   /* the latest status (owned strings) */
    char *submit_error;
};

struct htex {
    struct cp__executor base;
    struct cp__interchange *ic;
    struct cp__provider *prov;
    struct cp__launcher *launcher;  /* owned copy */
    int nodes_per_block, init_blocks, min_blocks, max_blocks;
    double parallelism;
    int workers_per_node;       /* the scaling estimate: pools report theirs later */
    enum cp__strategy strategy;
    double strategy_period, max_idletime;
    struct cp__mon *mon;        /* borrowed; NULL: no monitoring */
    double idle_since;          /* monotonic time outstanding became 0, or 0 */
    double poll_interval, last_poll;
    char *dir;                  /* runinfo/NNN/<label> */
    char *worker_cmd;           /* everything but --block-id */
    struct block *blocks;
    size_t nblocks;
    pthread_t thread;
    bool thread_started;
    pthread_mutex_t mu;         /* blocks, stopping */
    pthread_cond_t cv;
    bool stopping;
    bool gave_up;               /* every block failed: pending work was failed */
};

/* The parsl-worker program: $CPARSL_WORKER, else beside this executable (the
 * build and install layouts both put it there), else the one on PATH. */
static void note_block(struct htex *h, const struct block *b)
{
    if (h->mon)
        cp__mon_block(h->mon, h->base.label, b->id, b->job_id,
                      cp__block_state_db_name(b->state), cp__now());
}

/* Starts one more block (called with mu held). Failures are recorded in the block
 * and logged: the executor keeps its other blocks. */
static void start_block(struct htex *h)
{
    if (h->nblocks == MAX_BLOCKS_EVER)
        return;
    struct block *b = &h->blocks[h->nblocks++];
    memset(b, 0, sizeof *b);
    snprintf(b->id, sizeof b->id, "%zu", h->nblocks - 1);
    cp_err err = {0};
    char *job_name = cp__strdup_printf("parsl.%s.block-%s", h->base.label, b->id);
    char *cmd = NULL, *text = NULL;
    char *logdir = cp__strdup_printf("%s/block-%s", h->dir, b->id);
    if (job_name && logdir)
        cmd = cp__strdup_printf("%s --block-id %s --logdir %s", h->worker_cmd, b->id, logdir);
    char *script_dir = cp__strdup_printf("%s/submit_scripts", h->dir);
    if (cmd && script_dir && cp__mkdir_p(script_dir, &err) == 0)
        text = cp__launcher_render(h->launcher, cmd, 1, h->nodes_per_block, script_dir,
                                   job_name, &err);
    if (text)
        b->job_id = cp__provider_submit(h->prov, b->id, text, 1, job_name, &err);
    if (b->job_id) {
        b->state = CP_BLOCK_PENDING;
        CP_INFO("htex", "%s: block %s submitted as job %s", h->base.label, b->id, b->job_id);
    } else {
        b->state = CP_BLOCK_FAILED;
        b->submit_error = strdup(err.text[0] ? err.text : "out of memory");
        CP_WARN("htex", "%s: block %s could not be submitted: %s", h->base.label, b->id,
                b->submit_error ? b->submit_error : "");
    }
    note_block(h, b);
    free(job_name);
    free(cmd);
    free(text);
    free(logdir);
    free(script_dir);
}

/* Polls the provider for every live block's state and logs changes. */
static void poll_blocks(struct htex *h)
{
    const char *ids[MAX_BLOCKS_EVER];
    size_t idx[MAX_BLOCKS_EVER], n = 0;
    for (size_t i = 0; i < h->nblocks; i++)
        if (h->blocks[i].job_id && !cp__block_state_terminal(h->blocks[i].state)) {
            ids[n] = h->blocks[i].job_id;
            idx[n++] = i;
        }
    if (!n)
        return;
    struct cp__block_status *st = calloc(n, sizeof *st);
    cp_err err = {0};
    if (!st || cp__provider_status(h->prov, ids, n, st, &err) != 0) {
        CP_WARN("htex", "%s: cannot get block states: %s", h->base.label,
                st ? err.text : "out of memory");
        free(st);
        return;
    }
    for (size_t k = 0; k < n; k++) {
        struct block *b = &h->blocks[idx[k]];
        if (st[k].state != b->state) {
            CP_INFO("htex", "%s: block %s (job %s) is %s%s%s", h->base.label, b->id,
                    b->job_id, cp__block_state_name(st[k].state),
                    st[k].message ? ": " : "", st[k].message ? st[k].message : "");
            b->state = st[k].state;
            note_block(h, b);
        }
        cp__block_status_clear(&b->last);
        b->last = st[k];
    }
    free(st);
}

static bool block_failed(const struct block *b)
{
    return !b->job_id || b->state == CP_BLOCK_FAILED || b->state == CP_BLOCK_MISSING;
}

/* DESIGN §9: once every block has failed, and there were at least
 * max(1, init_blocks) of them, waiting is hopeless: fail the pending work with
 * every block's story instead of hanging. */
static void check_all_failed(struct htex *h)
{
    size_t need = h->init_blocks > 1 ? (size_t)h->init_blocks : 1;
    if (h->gave_up || h->nblocks < need)
        return;
    for (size_t i = 0; i < h->nblocks; i++)
        if (!block_failed(&h->blocks[i]))
            return;
    struct cp__block_report *r = calloc(h->nblocks, sizeof *r);
    struct cp__block_status *fake = calloc(h->nblocks, sizeof *fake);
    char *text = NULL;
    if (r && fake) {
        for (size_t i = 0; i < h->nblocks; i++) {
            const struct block *b = &h->blocks[i];
            r[i].block_id = b->id;
            r[i].job_id = b->job_id ? b->job_id : "-";
            if (b->job_id) {
                r[i].status = &b->last;
            } else {
                fake[i].state = CP_BLOCK_FAILED;
                fake[i].exit_code = -1;
                fake[i].message = b->submit_error;
                r[i].status = &fake[i];
            }
        }
        text = cp__block_failure_text(h->base.label, r, h->nblocks);
    }
    const char *why = text ? text : "every block of the executor failed";
    CP_ERROR("htex", "%s", why);
    h->gave_up = true;
    cp__interchange_fail_pending(h->ic, why);
    free(text);
    free(r);
    free(fake);     /* its messages belong to the blocks */
}

/* ------------------------------------------------------------ scaling */

static bool block_active(const struct block *b)
{
    return b->job_id && !cp__block_state_terminal(b->state);
}

/* Holds a block's pools, and cancels the block if it is still idle then (a try
 * may have been handed to it between the look and the hold). true when done. */
static bool scale_in_block(struct htex *h, struct block *b)
{
    struct cp__ic_block_info info;
    cp__interchange_block_info(h->ic, b->id, &info);
    if (info.in_flight > 0)
        return false;
    cp__interchange_hold_block(h->ic, b->id, true);
    cp__interchange_block_info(h->ic, b->id, &info);
    if (info.in_flight > 0) {
        cp__interchange_hold_block(h->ic, b->id, false);
        return false;
    }
    cp_err err = {0};
    const char *ids[1] = {b->job_id};
    if (cp__provider_cancel(h->prov, ids, 1, NULL, &err) != 0)
        CP_WARN("htex", "%s: cancelling block %s: %s", h->base.label, b->id, err.text);
    b->state = CP_BLOCK_SCALED_IN;
    note_block(h, b);
    CP_INFO("htex", "%s: block %s (job %s) scaled in", h->base.label, b->id, b->job_id);
    return true;
}

/* Scales in up to n blocks whose pools have had nothing to do for max_idletime,
 * newest first. */
static void scale_in(struct htex *h, int n, double now_wall)
{
    for (size_t i = h->nblocks; i-- > 0 && n > 0;) {
        struct block *b = &h->blocks[i];
        if (!block_active(b))
            continue;
        struct cp__ic_block_info info;
        cp__interchange_block_info(h->ic, b->id, &info);
        bool idle = info.pools > 0 ? info.in_flight == 0 && info.idle_since > 0 &&
                                         now_wall - info.idle_since > h->max_idletime
                                   : h->idle_since > 0;     /* never connected */
        if (idle && scale_in_block(h, b))
            n--;
    }
}

/* Parsl's strategies (reference/parsl-notes.md §6): `simple` provisions
 * parallelism × outstanding worker slots up to max_blocks and scales in to
 * min_blocks after max_idletime with nothing outstanding; `htex_auto_scale`
 * also scales in idle blocks while others still work. */
static void strategize(struct htex *h)
{
    if (h->strategy == CP_STRATEGY_NONE || h->gave_up)
        return;
    double now = cp__mono(), wall = cp__now();
    size_t tasks = cp__interchange_outstanding(h->ic);
    int active = 0;
    for (size_t i = 0; i < h->nblocks; i++)
        active += block_active(&h->blocks[i]);
    double per_block = (double)h->workers_per_node * h->nodes_per_block;
    double slots = active * per_block, want = (double)tasks * h->parallelism;
    if (tasks > 0)
        h->idle_since = 0;
    else if (h->idle_since == 0)
        h->idle_since = now;
    if (tasks == 0) {
        if (active > h->min_blocks && now - h->idle_since > h->max_idletime)
            scale_in(h, active - h->min_blocks, wall);
        return;
    }
    if (slots < want && active < h->max_blocks) {
        double more = (want - slots) / per_block;
        int n = (int)more + (more > (int)more);
        if (n > h->max_blocks - active)
            n = h->max_blocks - active;
        CP_INFO("htex", "%s: %zu tasks outstanding, %g slots in %d blocks: starting %d more",
                h->base.label, tasks, slots, active, n);
        for (int i = 0; i < n; i++)
            start_block(h);
    } else if (slots == 0 && active < h->max_blocks) {
        start_block(h);
    } else if (h->strategy == CP_STRATEGY_HTEX_AUTO_SCALE && slots > want &&
               active > h->min_blocks) {
        int excess = (int)((slots - want) / per_block);
        if (excess > active - h->min_blocks)
            excess = active - h->min_blocks;
        if (excess > 0)
            scale_in(h, excess, wall);
    }
}

static void *block_main(void *arg)
{
    struct htex *h = arg;
    pthread_mutex_lock(&h->mu);
    while (!h->stopping) {
        if (cp__mono() - h->last_poll >= h->poll_interval) {
            poll_blocks(h);
            h->last_poll = cp__mono();
        }
        check_all_failed(h);
        strategize(h);
        double wait = h->strategy == CP_STRATEGY_NONE ? h->poll_interval
                    : h->strategy_period < h->poll_interval ? h->strategy_period
                                                             : h->poll_interval;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        double when = (double)ts.tv_sec + ts.tv_nsec / 1e9 + wait;
        ts.tv_sec = (time_t)when;
        ts.tv_nsec = (long)((when - (double)ts.tv_sec) * 1e9);
        pthread_cond_timedwait(&h->cv, &h->mu, &ts);
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

static void htex_submit(struct cp__executor *ex, struct cp__job *job)
{
    cp__interchange_submit(((struct htex *)ex)->ic, job);
}

static size_t htex_outstanding(struct cp__executor *ex)
{
    return cp__interchange_outstanding(((struct htex *)ex)->ic);
}

static int htex_workers(struct cp__executor *ex)
{
    return cp__interchange_workers(((struct htex *)ex)->ic);
}

/* Work not yet on a pool fails at once; tries on pools fail too, and the pools
 * end what runs (INTERRUPT: TERM, then KILL after a grace). */
static void htex_interrupt(struct cp__executor *ex)
{
    cp__interchange_interrupt(((struct htex *)ex)->ic, "interrupted before it started",
                              "the run was interrupted");
}

static void htex_destroy(struct cp__executor *ex)
{
    struct htex *h = (struct htex *)ex;
    if (!h)
        return;
    if (h->thread_started) {
        pthread_mutex_lock(&h->mu);
        h->stopping = true;
        pthread_cond_broadcast(&h->cv);
        pthread_mutex_unlock(&h->mu);
        pthread_join(h->thread, NULL);
    }
    /* How well tasks and results were batched, for whoever reads parsl.log. */
    if (h->ic) {
        struct cp__ic_stats st;
        cp__interchange_stats(h->ic, &st);
        CP_INFO("htex", "%s: %llu tasks in %llu TASKS frames, %llu results in %llu RESULTS "
                "frames; %llu pools lost, %llu connections refused", h->base.label,
                (unsigned long long)st.tasks_sent, (unsigned long long)st.tasks_frames,
                (unsigned long long)st.results_received, (unsigned long long)st.results_frames,
                (unsigned long long)st.pools_lost, (unsigned long long)st.connections_refused);
    }
    /* The interchange fails whatever is still queued (through done) and tells
     * the pools to exit; then the provider ends the blocks that remain. */
    cp__interchange_stop(h->ic);
    /* The provider ends what is left of the blocks as it goes. */
    for (size_t i = 0; i < h->nblocks; i++)
        if (h->blocks[i].job_id && !cp__block_state_terminal(h->blocks[i].state)) {
            h->blocks[i].state = CP_BLOCK_CANCELLED;
            note_block(h, &h->blocks[i]);
        }
    cp__provider_destroy(h->prov);
    for (size_t i = 0; i < h->nblocks; i++) {
        free(h->blocks[i].job_id);
        free(h->blocks[i].submit_error);
        cp__block_status_clear(&h->blocks[i].last);
    }
    free(h->blocks);
    cp__launcher_free(h->launcher);
    free(h->worker_cmd);
    free(h->dir);
    free(h->base.label);
    pthread_cond_destroy(&h->cv);
    pthread_mutex_destroy(&h->mu);
    free(h);
}

static const struct cp__executor_ops htex_ops = {
    .type = "high_throughput",
    .submit = htex_submit,
    .outstanding = htex_outstanding,
    .connected_workers = htex_workers,
    .interrupt = htex_interrupt,
    .destroy = htex_destroy,
};

static struct cp__executor *htex_create(const char *label, const void *settings,
                                        const struct cp__executor_hooks *hooks,
                                        const struct cp__exec_run *run, cp_err *err)
{
    const char *run_dir = run->run_dir;
    const struct htex_settings *s = settings;
    struct htex *h = calloc(1, sizeof *h);
    if (!h) {
        cp__errf(err, ENOMEM, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->cv, NULL);
    h->base.ops = &htex_ops;
    h->base.hooks = *hooks;
    const struct cp__provider_common *c = &s->provider.common;
    h->nodes_per_block = c->nodes_per_block > 0 ? c->nodes_per_block : 1;
    h->init_blocks = c->init_blocks;
    h->min_blocks = c->min_blocks;
    h->max_blocks = c->max_blocks;
    h->poll_interval = cp__provider_polling_interval(&s->provider);
    h->parallelism = c->parallelism;
    h->strategy = run->strategy;
    h->strategy_period = run->strategy_period > 0 ? run->strategy_period : 5;
    h->max_idletime = run->max_idletime;
    h->mon = run->mon;
    /* Parsl's estimate of a node's workers, from this node's size: pools report
     * the real number when they register. */
    double cpw = s->pool.cores_per_worker > 0 ? s->pool.cores_per_worker : 1;
    h->workers_per_node = (int)(cp__cpu_count() / cpw);
    if (s->pool.max_workers_per_node > 0 && s->pool.max_workers_per_node < h->workers_per_node)
        h->workers_per_node = s->pool.max_workers_per_node;
    if (s->pool.naccelerators && (size_t)h->workers_per_node > s->pool.naccelerators)
        h->workers_per_node = (int)s->pool.naccelerators;
    if (h->workers_per_node < 1)
        h->workers_per_node = 1;
    bool any = s->address && strcmp(s->address, "auto") == 0;
    char *pool_addrs = any ? cp__htex_auto_addresses() : NULL;
    struct cp__ic_settings ics = {
        .address = any ? "0.0.0.0" : s->address, .port = s->worker_port, .port_min = s->port_min,
        .port_max = s->port_max, .encrypted = s->encrypted,
        .heartbeat_period = s->heartbeat_period, .heartbeat_threshold = s->heartbeat_threshold,
        .label = label, .mon = run->mon, .mon_interval = run->mon_interval,
    };
    char *secret_path = NULL;
    if (!(h->base.label = strdup(label)) || !(h->dir = cp__strdup_printf("%s/%s", run_dir, label)) ||
        !(secret_path = cp__strdup_printf("%s/wire.secret", h->dir)) ||
        !(h->blocks = calloc(MAX_BLOCKS_EVER, sizeof *h->blocks))) {
        cp__errf(err, ENOMEM, "out of memory");
        goto error;
    }
    if (cp__mkdir_p(h->dir, err) != 0 || cp__wire_secret_new(ics.secret, err) != 0 ||
        cp__wire_secret_write(secret_path, ics.secret, err) != 0)
        goto error;
    if (!(h->ic = cp__interchange_start(&ics, hooks, err)))
        goto error;
    if (!(h->launcher = cp__launcher_copy(c->launcher, err)) ||
        !(h->prov = cp__provider_create(&s->provider, run_dir, err)))
        goto error;
    char port[16];
    snprintf(port, sizeof port, "%d", cp__interchange_port(h->ic));
    if ((any && !pool_addrs) ||
        !(h->worker_cmd = cp__htex_worker_cmd(s, any ? pool_addrs
                                                  : s->address ? s->address : "127.0.0.1",
                                           port, secret_path,
                                           run->mon ? run->mon_interval : -1))) {
        cp__errf(err, ENOMEM, "out of memory");
        goto error;
    }
    memset(ics.secret, 0, sizeof ics.secret);
    pthread_mutex_lock(&h->mu);
    for (int i = 0; i < h->init_blocks; i++)
        start_block(h);
    pthread_mutex_unlock(&h->mu);
    if (pthread_create(&h->thread, NULL, block_main, h) != 0) {
        cp__errf(err, EAGAIN, "cannot start the block thread");
        goto error;
    }
    h->thread_started = true;
    CP_INFO("htex", "%s: interchange on port %d; worker command: %s", label,
            cp__interchange_port(h->ic), h->worker_cmd);
    free(secret_path);
    free(pool_addrs);
    return &h->base;
error:
    memset(ics.secret, 0, sizeof ics.secret);
    free(secret_path);
    free(pool_addrs);
    htex_destroy(&h->base);
    return NULL;
}

/* The config loader reads `keys` before any parse: a constructor fills the
 * combined list once, at load, so no thread races on it. */
static const char *htex_keys[64];
__attribute__((constructor)) static void htex_keys_init(void)
{
    const char *const *k = cp__htex_all_keys();
    for (size_t i = 0; k[i]; i++)
        htex_keys[i] = k[i];
}

const struct cp__exec_type cp__exec_type_high_throughput = {
    .name = "high_throughput",
    .default_label = "htex",
    .keys = htex_keys,
    .parse = cp__htex_parse,
    .create = htex_create,
    .free_settings = cp__htex_settings_free,
    .set_workers = NULL,
    .describe = cp__htex_describe,
    .render_submit = cp__htex_render_submit,
};
