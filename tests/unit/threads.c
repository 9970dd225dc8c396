/* Calling cparsl from several user threads at once: submitting, waiting on
 * futures other threads made, and many threads waiting on one future. */
#include <cparsl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "engine/task.h"
#include "tap.h"

CP_APP(long, add, (long, a), (long, b)) { return a + b; }
CP_APP(long, refuse, (long, x))
{
    cp_fail("refusing %ld", x);
    return x;
}
CP_JOIN_APP(fib, (long, n))
{
    if (n < 2)
        return cp_value_future(cp_int(n));
    return cp_call(add, cp_call(fib, n - 1), cp_call(fib, n - 2));
}

/* A gate: tasks of `gated` and `gated_fail` block until the test opens it. */
static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static bool gate_open;

static void gate_wait(void)
{
    pthread_mutex_lock(&gate_mu);
    while (!gate_open)
        pthread_cond_wait(&gate_cv, &gate_mu);
    pthread_mutex_unlock(&gate_mu);
}

static void gate_set(bool open)
{
    pthread_mutex_lock(&gate_mu);
    gate_open = open;
    pthread_cond_broadcast(&gate_cv);
    pthread_mutex_unlock(&gate_mu);
}

CP_APP(long, gated, (long, x))
{
    gate_wait();
    return x;
}
CP_APP(long, gated_fail, (long, x))
{
    gate_wait();
    cp_fail("gated failure %ld", x);
    return x;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static long live(void) { return atomic_load(&cp__live_tasks); }

static long live_settle(long want, double seconds)
{
    double end = now() + seconds;
    long n;
    while ((n = live()) > want && now() < end)
        nap_ms(1);
    return n;
}

/* Waiters currently blocked on f, read under its stripe lock. */
static uint32_t waiters_of(cp_future *f)
{
    struct cp__stripe *s = cp__stripe_of(f);
    pthread_mutex_lock(&s->mu);
    uint32_t n = f->nwaiters;
    pthread_mutex_unlock(&s->mu);
    return n;
}

static uint32_t waiters_settle(cp_future *f, uint32_t want, double seconds)
{
    double end = now() + seconds;
    uint32_t n;
    while ((n = waiters_of(f)) != want && now() < end)
        nap_ms(1);
    return n;
}

/* ------------------------------------------------------------ 1. submitters */

#define NSUB 4
#define PER 2000                /* tasks per submitter: PER/2 chained, PER/2 independent */

static pthread_barrier_t start_line;

struct sub {
    long tid;
    long bad_chain, bad_indep, failed;
    long ids[PER];
};

static void *submitter(void *arg)
{
    struct sub *s = arg;
    cp_future *chain[PER / 2], *indep[PER / 2];
    long base = s->tid * 1000000;
    pthread_barrier_wait(&start_line);
    for (int i = 0; i < PER / 2; i++) {
        chain[i] = i == 0 ? cp_call(add, base, 1) : cp_call(add, chain[i - 1], 1);
        indep[i] = cp_call(add, (long)i, s->tid);
    }
    for (int i = 0; i < PER / 2; i++) {
        if (cp_future_wait(chain[i]) != 0 || cp_future_wait(indep[i]) != 0)
            s->failed++;
        if (cp_future_int(chain[i]) != base + i + 1)
            s->bad_chain++;
        if (cp_future_int(indep[i]) != i + s->tid)
            s->bad_indep++;
        s->ids[2 * i] = cp_future_id(chain[i]);
        s->ids[2 * i + 1] = cp_future_id(indep[i]);
    }
    for (int i = 0; i < PER / 2; i++) {
        cp_future_release(chain[i]);
        cp_future_release(indep[i]);
    }
    return NULL;
}

static int cmp_long(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

/* ------------------------------------------------------------ 2. hand-over */

#define NPROD 3
#define PERPROD 400

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    cp_future *slot[NPROD * PERPROD];
    long want[NPROD * PERPROD];
    size_t n;
} shared = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, {0}, {0}, 0};

static void *producer(void *arg)
{
    long p = (long)(intptr_t)arg;
    for (long i = 0; i < PERPROD; i++) {
        /* Some tasks depend on a future made by this thread a moment ago. */
        cp_future *f = cp_call(add, p * 10000, i);
        if (i % 3 == 0) {
            cp_future *g = cp_call(add, f, 5);
            cp_future_release(f);
            f = g;
        }
        pthread_mutex_lock(&shared.mu);
        shared.want[shared.n] = p * 10000 + i + (i % 3 == 0 ? 5 : 0);
        shared.slot[shared.n++] = f;      /* the consumer now owns this hold */
        pthread_cond_signal(&shared.cv);
        pthread_mutex_unlock(&shared.mu);
    }
    return NULL;
}

struct cons {
    long seen, bad;
};

static void *consumer(void *arg)
{
    struct cons *c = arg;
    for (size_t k = 0; k < NPROD * PERPROD; k++) {
        pthread_mutex_lock(&shared.mu);
        while (shared.n <= k)
            pthread_cond_wait(&shared.cv, &shared.mu);
        cp_future *f = shared.slot[k];
        long want = shared.want[k];
        pthread_mutex_unlock(&shared.mu);
        if (cp_future_wait(f) != 0 || cp_future_int(f) != want)
            c->bad++;
        c->seen++;
        cp_future_release(f);
    }
    return NULL;
}

/* ------------------------------------------------------------ 3. many waiters */

#define NWAIT 16

struct waiter {
    cp_future *f;
    int mode;
    int rc;
    long value;
    const char *err;
};

static void *waiter_main(void *arg)
{
    struct waiter *w = arg;
    switch (w->mode % 3) {
    case 0: w->rc = cp_future_wait(w->f); break;
    case 1: w->rc = cp_future_wait_for(w->f, 600); break;
    default: w->rc = cp_future_value(w->f) ? 0 : -1; break;
    }
    w->value = cp_future_int(w->f);
    w->err = cp_future_error(w->f);
    return NULL;
}

/* Starts NWAIT threads waiting on f, checks they are all blocked, opens the
 * gate, joins them. */
static void many_waiters(cp_future *f, struct waiter *ws)
{
    pthread_t th[NWAIT];
    for (int i = 0; i < NWAIT; i++) {
        ws[i] = (struct waiter){.f = f, .mode = i, .rc = 99};
        pthread_create(&th[i], NULL, waiter_main, &ws[i]);
    }
    is_int(waiters_settle(f, NWAIT, 20), NWAIT, "all %d threads are blocked on the future", NWAIT);
    ok(!cp_future_done(f), "... which is not done yet");
    gate_set(true);
    for (int i = 0; i < NWAIT; i++)
        pthread_join(th[i], NULL);
    ok(1, "all %d waiters woke", NWAIT);
    is_int(waiters_of(f), 0, "no waiter is left on the future");
    gate_set(false);
}

/* ------------------------------------------------------------ 4. joins */

static void *fibber(void *arg)
{
    long *out = arg;
    cp_future *f = cp_call(fib, 12);
    *out = cp_future_int(f);
    cp_future_release(f);
    return NULL;
}

/* ------------------------------------------------------------ 5. shutdown races */

#define NRACE 20000

struct racer {
    cp_future **fs;
    atomic_long submitted;
    long ok, shut, other;
};

static void *racer_main(void *arg)
{
    struct racer *r = arg;
    for (long i = 0; i < NRACE; i++) {
        r->fs[i] = cp_call(add, i, 1);
        atomic_store(&r->submitted, i + 1);
    }
    for (long i = 0; i < NRACE; i++) {
        cp_future *f = r->fs[i];
        if (cp_future_wait(f) == 0 && cp_future_int(f) == i + 1)
            r->ok++;
        else if (cp_future_error(f) && strstr(cp_future_error(f), "shut down"))
            r->shut++;
        else
            r->other++;
    }
    return NULL;
}

int main(void)
{
    tap_start(60);
    char tmpl[] = "/tmp/cparsl-threads-XXXXXX";
    char *dir = mkdtemp(tmpl);
    ok(dir && chdir(dir) == 0, "work in %s", dir);
    long base = live();
    ok(cp_load(NULL) == 0, "cp_load(NULL)");

    /* 1. Four threads submit at once. */
    static struct sub subs[NSUB];
    pthread_t th[NSUB];
    pthread_barrier_init(&start_line, NULL, NSUB);
    for (long t = 0; t < NSUB; t++) {
        subs[t].tid = t + 1;
        pthread_create(&th[t], NULL, submitter, &subs[t]);
    }
    for (int t = 0; t < NSUB; t++)
        pthread_join(th[t], NULL);
    pthread_barrier_destroy(&start_line);
    static long ids[NSUB * PER];
    for (int t = 0; t < NSUB; t++) {
        is_int(subs[t].failed, 0, "thread %d: every task succeeded", t + 1);
        is_int(subs[t].bad_chain, 0, "thread %d: every link of its chain of %d is right", t + 1,
               PER / 2);
        is_int(subs[t].bad_indep, 0, "thread %d: every independent task is right", t + 1);
        memcpy(ids + t * PER, subs[t].ids, sizeof subs[t].ids);
    }
    qsort(ids, NSUB * PER, sizeof *ids, cmp_long);
    long dup = 0;
    for (int i = 1; i < NSUB * PER; i++)
        dup += ids[i] == ids[i - 1];
    is_int(dup, 0, "task ids are unique across threads");
    ok(ids[0] == 0 && ids[NSUB * PER - 1] == NSUB * PER - 1, "task ids are 0..%d", NSUB * PER - 1);
    is_int(live_settle(base, 10), base, "every record is freed once released");

    /* 2. A thread waits on futures that other threads create. */
    pthread_t prod[NPROD], cth;
    struct cons cons = {0};
    pthread_create(&cth, NULL, consumer, &cons);
    for (long p = 0; p < NPROD; p++)
        pthread_create(&prod[p], NULL, producer, (void *)(intptr_t)(p + 1));
    for (int p = 0; p < NPROD; p++)
        pthread_join(prod[p], NULL);
    pthread_join(cth, NULL);
    is_int(cons.seen, NPROD * PERPROD, "the consumer saw every future");
    is_int(cons.bad, 0, "... and every value was right");
    is_int(live_settle(base, 10), base, "... and released them all");

    /* 3. Sixteen threads wait on one slow task; all wake with its value. */
    struct waiter ws[NWAIT];
    cp_future *slow = cp_call(gated, 77);
    many_waiters(slow, ws);
    int bad = 0;
    for (int i = 0; i < NWAIT; i++)
        bad += ws[i].rc != 0 || ws[i].value != 77 || ws[i].err != NULL;
    is_int(bad, 0, "every waiter saw success and the value 77");
    cp_future_release(slow);

    /* ... and on one slow task that fails. */
    cp_future *sad = cp_call_opts(gated_fail, CP_OPTS(.retries = CP_NONE), 5);
    many_waiters(sad, ws);
    bad = 0;
    for (int i = 0; i < NWAIT; i++)
        bad += ws[i].rc != -1 || ws[i].value != 0 || !ws[i].err ||
               !strstr(ws[i].err, "gated failure 5");
    is_int(bad, 0, "every waiter saw the failure and its error");
    cp_future_release(sad);

    /* 4. Join apps from several threads at once. */
    long fibs[NSUB];
    for (int t = 0; t < NSUB; t++)
        pthread_create(&th[t], NULL, fibber, &fibs[t]);
    for (int t = 0; t < NSUB; t++)
        pthread_join(th[t], NULL);
    bad = 0;
    for (int t = 0; t < NSUB; t++)
        bad += fibs[t] != 144;
    is_int(bad, 0, "fib(12) = 144 through join apps in %d threads at once", NSUB);

    is_int(cp_shutdown(), 1, "cp_shutdown returns 1 (one task failed on purpose)");
    is_int(live(), base, "nothing leaks: cp__live_tasks is back to its baseline");

    /* A clean run from threads ends with 0. */
    ok(cp_load(NULL) == 0, "a second run");
    for (long t = 0; t < NSUB; t++)
        subs[t] = (struct sub){.tid = t + 1};
    pthread_barrier_init(&start_line, NULL, NSUB);
    for (int t = 0; t < NSUB; t++)
        pthread_create(&th[t], NULL, submitter, &subs[t]);
    for (int t = 0; t < NSUB; t++)
        pthread_join(th[t], NULL);
    pthread_barrier_destroy(&start_line);
    long wrong = 0;
    for (int t = 0; t < NSUB; t++)
        wrong += subs[t].failed + subs[t].bad_chain + subs[t].bad_indep;
    is_int(wrong, 0, "the second run's %d tasks from %d threads are all right", NSUB * PER, NSUB);
    is_int(cp_shutdown(), 0, "cp_shutdown returns 0 when every task succeeded");
    is_int(live(), base, "nothing leaks after the second run");

    /* cp_shutdown while another thread is calling apps: every call either runs
     * in the run or fails saying it was shut down; none is lost. */
    ok(cp_load(NULL) == 0, "a third run");
    struct racer racer = {.fs = calloc(NRACE, sizeof(cp_future *))};
    pthread_t rth;
    pthread_create(&rth, NULL, racer_main, &racer);
    double end = now() + 20;
    while (atomic_load(&racer.submitted) < 200 && now() < end)
        nap_ms(1);
    long before = atomic_load(&racer.submitted);
    is_int(cp_shutdown(), 0, "cp_shutdown during calls from another thread returns 0");
    pthread_join(rth, NULL);
    diag("%ld calls ran, %ld came after the shutdown", racer.ok, racer.shut);
    is_int(racer.ok + racer.shut, NRACE, "every call either ran or was refused as shut down");
    is_int(racer.other, 0, "no call failed otherwise");
    ok(racer.ok >= before, "the %ld calls made before cp_shutdown all ran", before);
    for (long i = 0; i < NRACE; i++)
        cp_future_release(racer.fs[i]);
    free(racer.fs);
    is_int(live(), base, "nothing leaks after the race");

    int rc = system("rm -rf \"$PWD\"");
    (void)rc;
    return done_testing();
}
