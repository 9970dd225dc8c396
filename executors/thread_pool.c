/* executors/thread_pool.c — the thread_pool executor.
 *
 * Native apps run on N threads of the engine process. A shell app also holds one of
 * the N threads while its process runs (as Parsl's ThreadPoolExecutor does), so N
 * bounds concurrency for both kinds. The thread starts and waits for the process
 * itself (cp__shell_runner_run), so a shell task involves no other thread.
 *
 * Queue: most tasks share priority 0, so they go through a FIFO in O(1); any other
 * priority goes to a binary heap ordered by (priority, arrival). Lower runs first.
 *
 * Walltime of a native app: a thread cannot be stopped safely, so at the deadline
 * the try is reported failed, the stuck thread is detached and replaced, and
 * whatever it later returns is dropped (DESIGN.md §9). Such a try runs on its own
 * copy of the arguments, because the engine may free or retry the job meanwhile.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/util.h"
#include "executors/app_invoke.h"
#include "executors/executor.h"
#include "executors/shell_runner.h"

struct watcher;

struct tp {
    struct cp__executor base;
    pthread_mutex_t mu;
    pthread_cond_t work_cv;
    struct cp__job *head, *tail;        /* priority 0, arrival order */
    struct cp__job **heap;              /* other priorities */
    size_t nheap, capheap;
    uint64_t seq;
    int idle;
    int waking;                         /* signalled, not yet awake */
    bool stopping;
    bool interrupted;                   /* jobs not yet started fail instead */
    atomic_size_t outstanding;
    pthread_t *tids;                    /* joinable worker threads */
    size_t ntids, captids;
    struct cp__shell_runner *shell;     /* made on the first shell job */
    struct watcher *watch;              /* made on the first native walltime */
};

/* ------------------------------------------------------------ queue */

static bool before(const struct cp__job *a, const struct cp__job *b)
{
    return a->priority != b->priority ? a->priority < b->priority : a->seq < b->seq;
}

static int heap_push(struct tp *tp, struct cp__job *job)
{
    if (tp->nheap == tp->capheap) {
        size_t cap = tp->capheap ? tp->capheap * 2 : 64;
        struct cp__job **h = realloc(tp->heap, cap * sizeof *h);
        if (!h)
            return -1;
        tp->heap = h;
        tp->capheap = cap;
    }
    size_t i = tp->nheap++;
    while (i > 0 && before(job, tp->heap[(i - 1) / 2])) {
        tp->heap[i] = tp->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    tp->heap[i] = job;
    return 0;
}

static struct cp__job *heap_pop(struct tp *tp)
{
    struct cp__job *top = tp->heap[0], *last = tp->heap[--tp->nheap];
    size_t i = 0, n = tp->nheap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && before(tp->heap[c + 1], tp->heap[c]))
            c++;
        if (!before(tp->heap[c], last))
            break;
        tp->heap[i] = tp->heap[c];
        i = c;
    }
    if (n)
        tp->heap[i] = last;
    return top;
}

static struct cp__job *pop(struct tp *tp)
{
    bool use_heap = tp->nheap && (!tp->head || tp->heap[0]->priority < 0);
    if (use_heap)
        return heap_pop(tp);
    struct cp__job *job = tp->head;
    if (job) {
        tp->head = job->next;
        if (!tp->head)
            tp->tail = NULL;
    }
    return job;
}

/* ------------------------------------------------------------ native walltime */

enum { WR_RUNNING, WR_FINISHED, WR_TIMED_OUT };

struct wrun {
    atomic_int state;
    atomic_int rc;                      /* the worker and the watcher */
    struct tp *tp;
    pthread_t thread;
    struct cp__job *job;                /* valid only while state is WR_RUNNING */
    struct cp_value *args;              /* our own copy */
    int nargs;
    double deadline;                    /* monotonic */
};

static void wrun_decref(struct wrun *w)
{
    if (atomic_fetch_sub(&w->rc, 1) != 1)
        return;
    for (int i = 0; i < w->nargs; i++)
        cp__value_clear(&w->args[i]);
    free(w->args);
    free(w);
}

struct watcher {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct wrun **heap;                 /* by deadline */
    size_t n, cap;
    bool stop;
};

static void watch_sift_down(struct watcher *wt, size_t i)
{
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= wt->n)
            return;
        if (c + 1 < wt->n && wt->heap[c + 1]->deadline < wt->heap[c]->deadline)
            c++;
        if (wt->heap[i]->deadline <= wt->heap[c]->deadline)
            return;
        struct wrun *t = wt->heap[i];
        wt->heap[i] = wt->heap[c];
        wt->heap[c] = t;
        i = c;
    }
}

static int spawn_worker(struct tp *tp);

/* The deadline passed first: fail the try, then let a fresh thread take the stuck
 * one's place so the pool keeps its size. */
static void expire(struct wrun *w)
{
    int expect = WR_RUNNING;
    if (!atomic_compare_exchange_strong(&w->state, &expect, WR_TIMED_OUT))
        return;
    struct tp *tp = w->tp;
    struct cp__job *job = w->job;
    job->timed_out = true;
    job->t_end = cp__now();
    job->error = cp__strdup_printf("walltime of %g s exceeded (the thread keeps running "
                                   "in the background; its result will be dropped)",
                                   job->walltime);
    job->failed = true;
    pthread_mutex_lock(&tp->mu);
    for (size_t i = 0; i < tp->ntids; i++) {
        if (pthread_equal(tp->tids[i], w->thread)) {
            tp->tids[i] = tp->tids[--tp->ntids];
            pthread_detach(w->thread);
            break;
        }
    }
    if (!tp->stopping && spawn_worker(tp) != 0)
        CP_ERROR("thread_pool", "%s: cannot start a replacement thread", tp->base.label);
    pthread_mutex_unlock(&tp->mu);
    CP_WARN("thread_pool", "task %ld try %d: walltime %g s exceeded; thread abandoned",
            job->task_id, job->try_id, job->walltime);
    atomic_fetch_sub(&tp->outstanding, 1);
    tp->base.hooks.done(tp->base.hooks.eng, job);
}

static void *watcher_main(void *arg)
{
    struct watcher *wt = arg;
    pthread_mutex_lock(&wt->mu);
    while (!wt->stop) {
        if (!wt->n) {
            pthread_cond_wait(&wt->cv, &wt->mu);
            continue;
        }
        struct wrun *w = wt->heap[0];
        double now = cp__mono();
        if (atomic_load(&w->state) == WR_RUNNING && w->deadline > now) {
            struct timespec ts;
            ts.tv_sec = (time_t)w->deadline;
            ts.tv_nsec = (long)((w->deadline - (double)ts.tv_sec) * 1e9);
            pthread_cond_timedwait(&wt->cv, &wt->mu, &ts);
            continue;
        }
        wt->heap[0] = wt->heap[--wt->n];
        watch_sift_down(wt, 0);
        pthread_mutex_unlock(&wt->mu);
        expire(w);
        wrun_decref(w);
        pthread_mutex_lock(&wt->mu);
    }
    pthread_mutex_unlock(&wt->mu);
    return NULL;
}

static struct watcher *watcher_create(void)
{
    struct watcher *wt = calloc(1, sizeof *wt);
    pthread_condattr_t ca;
    if (!wt)
        return NULL;
    pthread_mutex_init(&wt->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&wt->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&wt->thread, NULL, watcher_main, wt) != 0) {
        pthread_cond_destroy(&wt->cv);
        pthread_mutex_destroy(&wt->mu);
        free(wt);
        return NULL;
    }
    return wt;
}

static void watcher_destroy(struct watcher *wt)
{
    if (!wt)
        return;
    pthread_mutex_lock(&wt->mu);
    wt->stop = true;
    pthread_cond_signal(&wt->cv);
    pthread_mutex_unlock(&wt->mu);
    pthread_join(wt->thread, NULL);
    for (size_t i = 0; i < wt->n; i++)
        wrun_decref(wt->heap[i]);
    free(wt->heap);
    pthread_cond_destroy(&wt->cv);
    pthread_mutex_destroy(&wt->mu);
    free(wt);
}

static int watch_add(struct watcher *wt, struct wrun *w)
{
    pthread_mutex_lock(&wt->mu);
    if (wt->n == wt->cap) {
        size_t cap = wt->cap ? wt->cap * 2 : 16;
        struct wrun **h = realloc(wt->heap, cap * sizeof *h);
        if (!h) {
            pthread_mutex_unlock(&wt->mu);
            return -1;
        }
        wt->heap = h;
        wt->cap = cap;
    }
    size_t i = wt->n++;
    while (i > 0 && w->deadline < wt->heap[(i - 1) / 2]->deadline) {
        wt->heap[i] = wt->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    wt->heap[i] = w;
    if (i == 0)
        pthread_cond_signal(&wt->cv);
    pthread_mutex_unlock(&wt->mu);
    return 0;
}

/* ------------------------------------------------------------ running jobs */

static void finish(struct tp *tp, struct cp__job *job)
{
    atomic_fetch_sub(&tp->outstanding, 1);
    tp->base.hooks.done(tp->base.hooks.eng, job);
}

static void take_outcome(struct cp__job *job, struct cp__ctx *cx)
{
    job->result = cx->result;
    job->error = cx->error;
    job->failed = cx->failed;
    job->joined = cx->joined;
    cp__value_nil(&cx->result);
    cx->error = NULL;
    cx->joined = NULL;
    free(cx->shell_cmd);        /* not a shell job: nothing should be here */
    cx->shell_cmd = NULL;
}

static void run_native(struct tp *tp, struct cp__job *job)
{
    struct cp__ctx cx;
    cp__ctx_init(&cx, job->app, job->args, job->nargs, job->task_id, job->try_id);
    job->t_start = cp__now();
    cp__app_invoke(&cx);
    job->t_end = cp__now();
    take_outcome(job, &cx);
    cp__ctx_release(&cx);
    finish(tp, job);
}

/* Returns true when the try timed out and this thread was abandoned: it must then
 * leave without touching tp, which may be gone. */
static bool run_native_timed(struct tp *tp, struct cp__job *job)
{
    struct wrun *w = calloc(1, sizeof *w);
    if (w && job->nargs)
        w->args = calloc((size_t)job->nargs, sizeof *w->args);
    if (!w || (job->nargs && !w->args)) {
        free(w);
        job->error = strdup("out of memory preparing the walltime");
        job->failed = true;
        finish(tp, job);
        return false;
    }
    for (int i = 0; i < job->nargs; i++)
        cp__value_copy(&w->args[i], &job->args[i]);
    w->nargs = job->nargs;
    w->tp = tp;
    w->job = job;
    w->thread = pthread_self();
    w->deadline = cp__mono() + job->walltime;
    atomic_init(&w->state, WR_RUNNING);
    atomic_init(&w->rc, 2);

    /* Everything this thread needs from the job is read now: once the watcher
     * is armed it may expire the try, and the engine may free the job, at any
     * moment. After that, the job is touched only by whoever wins the state. */
    struct cp__ctx cx;
    cp__ctx_init(&cx, job->app, w->args, w->nargs, job->task_id, job->try_id);
    job->t_start = cp__now();

    pthread_mutex_lock(&tp->mu);
    if (!tp->watch)
        tp->watch = watcher_create();
    struct watcher *wt = tp->watch;
    pthread_mutex_unlock(&tp->mu);
    if (!wt || watch_add(wt, w) != 0) {
        atomic_store(&w->rc, 1);
        wrun_decref(w);
        job->error = strdup("cannot arm the walltime (out of memory or threads)");
        job->failed = true;
        finish(tp, job);
        return false;
    }
    cp__app_invoke(&cx);

    int expect = WR_RUNNING;
    bool mine = atomic_compare_exchange_strong(&w->state, &expect, WR_FINISHED);
    if (mine) {
        job->t_end = cp__now();
        take_outcome(job, &cx);
    } else {
        struct cp__job dropped = {0};
        take_outcome(&dropped, &cx);
        cp__value_clear(&dropped.result);
        free(dropped.error);
        if (dropped.joined)
            cp_future_release(dropped.joined);
    }
    cp__ctx_release(&cx);
    wrun_decref(w);
    if (!mine)
        return true;
    finish(tp, job);
    return false;
}

struct shell_wait {
    struct tp *tp;
    struct cp__job *job;
};

static void shell_started(void *arg, int pid)
{
    struct shell_wait *sw = arg;
    (void)pid;
    if (sw->tp->base.hooks.running)
        sw->tp->base.hooks.running(sw->tp->base.hooks.eng, sw->job);
}

static void shell_done(void *arg, const struct cp__shell_result *res)
{
    struct shell_wait *sw = arg;
    struct cp__job *job = sw->job;
    job->t_start = res->t_start;
    job->t_end = res->t_end;
    job->timed_out = res->timed_out;
    if (res->ok) {
        cp__value_int(&job->result, 0);
    } else {
        job->error = strdup(res->error ? res->error : "failed");
        job->failed = true;
    }
}

static void run_shell(struct tp *tp, struct cp__job *job)
{
    cp_err err = {0};
    pthread_mutex_lock(&tp->mu);
    if (!tp->shell)
        tp->shell = cp__shell_runner_create(&err);
    struct cp__shell_runner *r = tp->shell;
    pthread_mutex_unlock(&tp->mu);

    struct shell_wait sw = {.tp = tp, .job = job};
    struct cp__shell_req req = {
        .cmd = job->cmd,
        .stdout_path = job->stdout_path,
        .stderr_path = job->stderr_path,
        .stdout_append = job->stdout_append,
        .stderr_append = job->stderr_append,
        .walltime = job->walltime,
        .outputs = job->outputs,
        .noutputs = job->noutputs,
        .env = job->env,
        .started = shell_started,
        .done = shell_done,
        .arg = &sw,
    };
    /* Runs here: started and done are called on this thread before it returns. */
    if (!r || cp__shell_runner_run(r, &req, &err) != 0) {
        job->error = cp__strdup_printf("cannot run the command: %s",
                                       err.text[0] ? err.text : "shell runner unavailable");
        job->failed = true;
    }
    finish(tp, job);
}

/* ------------------------------------------------------------ threads */

static void *worker_main(void *arg)
{
    struct tp *tp = arg;
    pthread_mutex_lock(&tp->mu);
    for (;;) {
        struct cp__job *job = pop(tp);
        if (!job) {
            if (tp->stopping)
                break;
            tp->idle++;
            pthread_cond_wait(&tp->work_cv, &tp->mu);
            tp->idle--;
            if (tp->waking > 0)
                tp->waking--;
            continue;
        }
        /* More work queued and nobody on the way: wake the next sleeper here,
         * rather than on every submit (see tp_submit). */
        if ((tp->head || tp->nheap) && tp->idle > 0 && tp->waking == 0) {
            tp->waking++;
            pthread_cond_signal(&tp->work_cv);
        }
        bool dropped = tp->interrupted;
        pthread_mutex_unlock(&tp->mu);
        if (dropped) {
            job->error = strdup("interrupted before it started");
            job->failed = true;
            finish(tp, job);
        } else if (job->kind == CP_JOB_SHELL) {
            run_shell(tp, job);
        } else {
            if (tp->base.hooks.running)
                tp->base.hooks.running(tp->base.hooks.eng, job);
            if (job->walltime > 0) {
                if (run_native_timed(tp, job))
                    return NULL;
            } else {
                run_native(tp, job);
            }
        }
        pthread_mutex_lock(&tp->mu);
    }
    pthread_mutex_unlock(&tp->mu);
    return NULL;
}

/* Called with tp->mu held. */
static int spawn_worker(struct tp *tp)
{
    if (tp->ntids == tp->captids) {
        size_t cap = tp->captids ? tp->captids * 2 : 8;
        pthread_t *t = realloc(tp->tids, cap * sizeof *t);
        if (!t)
            return -1;
        tp->tids = t;
        tp->captids = cap;
    }
    if (pthread_create(&tp->tids[tp->ntids], NULL, worker_main, tp) != 0)
        return -1;
    tp->ntids++;
    return 0;
}

/* ------------------------------------------------------------ ops */

static void tp_submit(struct cp__executor *ex, struct cp__job *job)
{
    struct tp *tp = (struct tp *)ex;
    int rc = 0;
    job->next = NULL;
    atomic_fetch_add(&tp->outstanding, 1);
    pthread_mutex_lock(&tp->mu);
    job->seq = tp->seq++;
    if (tp->stopping) {
        rc = -1;
    } else if (job->priority == 0) {
        if (tp->tail)
            tp->tail->next = job;
        else
            tp->head = job;
        tp->tail = job;
    } else {
        rc = heap_push(tp, job);
    }
    /* One wake-up in flight at a time: a futex wake per submit was the largest
     * cost of a burst of small tasks (bench/results). The woken worker wakes
     * the next one if work remains. */
    if (rc == 0 && tp->idle > 0 && tp->waking == 0) {
        tp->waking++;
        pthread_cond_signal(&tp->work_cv);
    }
    pthread_mutex_unlock(&tp->mu);
    if (rc != 0) {
        job->error = strdup(tp->stopping ? "executor is shutting down"
                                         : "out of memory queueing the task");
        job->failed = true;
        finish(tp, job);
    }
}

static size_t tp_outstanding(struct cp__executor *ex)
{
    return atomic_load(&((struct tp *)ex)->outstanding);
}

static int tp_connected(struct cp__executor *ex)
{
    struct tp *tp = (struct tp *)ex;
    pthread_mutex_lock(&tp->mu);
    int n = (int)tp->ntids;
    pthread_mutex_unlock(&tp->mu);
    return n;
}

static void tp_interrupt(struct cp__executor *ex)
{
    struct tp *tp = (struct tp *)ex;
    pthread_mutex_lock(&tp->mu);
    tp->interrupted = true;
    struct cp__shell_runner *r = tp->shell;
    pthread_mutex_unlock(&tp->mu);
    if (r)
        cp__shell_runner_kill_all(r);
}

static void tp_destroy(struct cp__executor *ex)
{
    struct tp *tp = (struct tp *)ex;
    if (!tp)
        return;
    /* The watcher goes first: it is the only other place that starts threads. */
    watcher_destroy(tp->watch);
    tp->watch = NULL;
    pthread_mutex_lock(&tp->mu);
    tp->stopping = true;
    pthread_cond_broadcast(&tp->work_cv);
    pthread_mutex_unlock(&tp->mu);
    for (size_t i = 0; i < tp->ntids; i++)
        pthread_join(tp->tids[i], NULL);
    /* Jobs still queued here were never started; report them so none is lost. */
    struct cp__job *job;
    while ((job = pop(tp))) {
        job->error = strdup("executor shut down before the task started");
        job->failed = true;
        finish(tp, job);
    }
    cp__shell_runner_destroy(tp->shell);
    free(tp->tids);
    free(tp->heap);
    pthread_cond_destroy(&tp->work_cv);
    pthread_mutex_destroy(&tp->mu);
    free(tp->base.label);
    free(tp);
}

static const struct cp__executor_ops tp_ops = {
    .type = "thread_pool",
    .submit = tp_submit,
    .outstanding = tp_outstanding,
    .connected_workers = tp_connected,
    .interrupt = tp_interrupt,
    .destroy = tp_destroy,
};

struct cp__executor *cp__thread_pool_create(const char *label, int threads,
                                            const struct cp__executor_hooks *hooks,
                                            cp_err *err)
{
    struct tp *tp = calloc(1, sizeof *tp);
    if (!tp) {
        cp__errf(err, ENOMEM, "out of memory");
        return NULL;
    }
    tp->base.ops = &tp_ops;
    tp->base.hooks = *hooks;
    pthread_mutex_init(&tp->mu, NULL);
    pthread_cond_init(&tp->work_cv, NULL);
    atomic_init(&tp->outstanding, 0);
    tp->base.label = strdup(label ? label : "threads");
    if (!tp->base.label)
        goto error;
    if (threads < 1)
        threads = cp__cpu_count();
    pthread_mutex_lock(&tp->mu);
    for (int i = 0; i < threads; i++) {
        if (spawn_worker(tp) != 0) {
            pthread_mutex_unlock(&tp->mu);
            cp__errf(err, EAGAIN, "thread_pool '%s': cannot start thread %d of %d", label,
                     i + 1, threads);
            goto error;
        }
    }
    pthread_mutex_unlock(&tp->mu);
    return &tp->base;
error:
    if (!err || !err->text[0])
        cp__errf(err, ENOMEM, "out of memory");
    tp_destroy(&tp->base);
    return NULL;
}
