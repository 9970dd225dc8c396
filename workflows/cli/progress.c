/* workflows/cli/progress.c — the progress display of parsl-run.
 *
 * Events arrive on engine threads, so per-instance state is an atomic byte and
 * the counts are atomics: the observer never blocks the engine on a lock except
 * to write a line. The bar is drawn only by the main thread's tick, at most ten
 * times a second, so its cost does not grow with the task rate.
 */
#include "workflows/cli/progress.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/util.h"

struct progress {
    const struct cp__wf *wf;
    FILE *out;
    bool tty, quiet;
    _Atomic uint8_t *st;        /* per instance: PG_* */
    atomic_long count[PG_NCAT];
    atomic_long retries;
    atomic_long memo;           /* done from a checkpoint (memo_done) */
    double t0;
    pthread_mutex_t mu;         /* serialises writes to out */
    bool bar_shown;
    pthread_mutex_t wait_mu;    /* progress_wait sleeps on wait_cv until the */
    pthread_cond_t wait_cv;     /* final count reaches target */
    atomic_size_t target;
};

static int category(cp_state s)
{
    switch (s) {
    case CP_LAUNCHED: return PG_LAUNCHED;
    case CP_RUNNING:
    case CP_RUNNING_ENDED:
    case CP_JOINING: return PG_RUNNING;
    case CP_EXEC_DONE:
    case CP_MEMO_DONE: return PG_DONE;
    case CP_FAILED: return PG_FAILED;
    case CP_DEP_FAIL: return PG_DEP_FAIL;
    default: return PG_PENDING;         /* pending, fail_retryable */
    }
}

struct progress *progress_new(const struct cp__wf *wf, FILE *out, bool tty, bool quiet)
{
    struct progress *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->st = calloc(wf->ninsts ? wf->ninsts : 1, sizeof *p->st);
    if (!p->st) {
        free(p);
        return NULL;
    }
    p->wf = wf;
    p->out = out;
    p->tty = tty;
    p->quiet = quiet;
    atomic_store(&p->count[PG_PENDING], (long)wf->ninsts);
    p->t0 = cp__mono();
    atomic_init(&p->target, SIZE_MAX);
    pthread_mutex_init(&p->mu, NULL);
    pthread_mutex_init(&p->wait_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->wait_cv, &ca);
    pthread_condattr_destroy(&ca);
    return p;
}

void progress_free(struct progress *p)
{
    if (!p)
        return;
    pthread_mutex_destroy(&p->mu);
    pthread_mutex_destroy(&p->wait_mu);
    pthread_cond_destroy(&p->wait_cv);
    free(p->st);
    free(p);
}

static void clear_bar(struct progress *p)
{
    if (p->tty && p->bar_shown) {
        fputs("\r\033[K", p->out);
        p->bar_shown = false;
    }
}

static void clock_text(char *buf, size_t len)
{
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(buf, len, "%H:%M:%S", &tm);
}

/* One line for a state change worth telling: not pending/launched, which every
 * task passes through and which would double the output for nothing. */
static void event_line(struct progress *p, const struct cp__task_event *ev,
                       const struct cp__wf_inst *in)
{
    bool bad = ev->state == CP_FAILED || ev->state == CP_DEP_FAIL ||
               ev->state == CP_FAIL_RETRYABLE;
    if (!bad && (p->tty || p->quiet || ev->state == CP_PENDING || ev->state == CP_LAUNCHED ||
                 ev->state == CP_RUNNING_ENDED))
        return;
    char when[16];
    clock_text(when, sizeof when);
    pthread_mutex_lock(&p->mu);
    clear_bar(p);
    if (bad)
        fprintf(p->out, "%s %s %s (task %ld, try %d): %s\n", when, in->label,
                cp_state_name(ev->state), ev->id, ev->try_id,
                ev->error ? ev->error : "no message");
    else
        fprintf(p->out, "%s %s %s (task %ld)\n", when, in->label, cp_state_name(ev->state),
                ev->id);
    fflush(p->out);
    pthread_mutex_unlock(&p->mu);
}

void progress_event(void *arg, const struct cp__task_event *ev)
{
    struct progress *p = arg;
    if (ev->tag < 0 || (size_t)ev->tag >= p->wf->ninsts)
        return;                 /* the engine's helper tasks (wf_arg) */
    uint8_t cat = (uint8_t)category(ev->state);
    uint8_t old = atomic_exchange(&p->st[ev->tag], cat);
    if (old != cat) {
        atomic_fetch_sub(&p->count[old], 1);
        atomic_fetch_add(&p->count[cat], 1);
    }
    if (ev->state == CP_FAIL_RETRYABLE)
        atomic_fetch_add(&p->retries, 1);
    if (ev->state == CP_MEMO_DONE)
        atomic_fetch_add(&p->memo, 1);
    event_line(p, ev, &p->wf->insts[ev->tag]);
    /* Wake the main thread the moment the last task ends, not at its next tick. */
    if (cat >= PG_DONE && progress_final(p) >= atomic_load(&p->target)) {
        pthread_mutex_lock(&p->wait_mu);
        pthread_cond_broadcast(&p->wait_cv);
        pthread_mutex_unlock(&p->wait_mu);
    }
}

bool progress_wait(struct progress *p, size_t target, double seconds)
{
    atomic_store(&p->target, target);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    long ns = ts.tv_nsec + (long)(seconds * 1e9);
    ts.tv_sec += ns / 1000000000L;
    ts.tv_nsec = ns % 1000000000L;
    pthread_mutex_lock(&p->wait_mu);
    while (progress_final(p) < target &&
           pthread_cond_timedwait(&p->wait_cv, &p->wait_mu, &ts) == 0)
        ;
    pthread_mutex_unlock(&p->wait_mu);
    return progress_final(p) >= target;
}

long progress_count(const struct progress *p, int cat)
{
    return atomic_load(&((struct progress *)p)->count[cat]);
}

size_t progress_final(const struct progress *p)
{
    return (size_t)(progress_count(p, PG_DONE) + progress_count(p, PG_FAILED) +
                    progress_count(p, PG_DEP_FAIL));
}

static void hms(char *buf, size_t len, double s)
{
    if (s < 0 || s > 1e7) {
        snprintf(buf, len, "--:--");
        return;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, len, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, len, "%ld:%02ld", t / 60, t % 60);
}

void progress_tick(struct progress *p)
{
    if (!p->tty)
        return;
    size_t total = p->wf->ninsts, fin = progress_final(p);
    double el = cp__mono() - p->t0;
    double rate = el > 0 ? (double)fin / el : 0;
    char eta[32];
    hms(eta, sizeof eta, rate > 0 ? (double)(total - fin) / rate : -1);
    enum { W = 24 };
    char bar[W + 1];
    size_t filled = total ? fin * W / total : W;
    for (size_t i = 0; i < W; i++)
        bar[i] = i < filled ? '#' : '-';
    bar[W] = '\0';
    pthread_mutex_lock(&p->mu);
    fprintf(p->out, "\r\033[K[%s] %zu/%zu done %ld  running %ld  failed %ld  dep_fail %ld  "
                    "pending %ld  %.1f/s  ETA %s",
            bar, fin, total, progress_count(p, PG_DONE), progress_count(p, PG_RUNNING),
            progress_count(p, PG_FAILED), progress_count(p, PG_DEP_FAIL),
            progress_count(p, PG_PENDING) + progress_count(p, PG_LAUNCHED), rate, eta);
    fflush(p->out);
    p->bar_shown = true;
    pthread_mutex_unlock(&p->mu);
}

void progress_note(struct progress *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&p->mu);
    clear_bar(p);
    vfprintf(p->out, fmt, ap);
    fputc('\n', p->out);
    fflush(p->out);
    pthread_mutex_unlock(&p->mu);
    va_end(ap);
}

void progress_summary(struct progress *p, const char *run_dir, bool interrupted)
{
    char took[32];
    hms(took, sizeof took, cp__mono() - p->t0);
    long done = progress_count(p, PG_DONE), failed = progress_count(p, PG_FAILED);
    long dep = progress_count(p, PG_DEP_FAIL);
    long rest = (long)p->wf->ninsts - done - failed - dep;
    pthread_mutex_lock(&p->mu);
    clear_bar(p);
    fprintf(p->out, "%s: %zu tasks: %ld done", p->wf->name, p->wf->ninsts, done);
    if (atomic_load(&p->memo))
        fprintf(p->out, " (%ld from checkpoints)", atomic_load(&p->memo));
    fprintf(p->out, ", %ld failed, %ld dep_fail", failed, dep);
    if (rest > 0)
        fprintf(p->out, ", %ld not run", rest);
    if (atomic_load(&p->retries))
        fprintf(p->out, " (%ld retried tries)", atomic_load(&p->retries));
    fprintf(p->out, " in %s%s; run directory %s\n", took, interrupted ? " (interrupted)" : "",
            run_dir ? run_dir : "-");
    fflush(p->out);
    pthread_mutex_unlock(&p->mu);
}
