/* Priority on thread_pool with one thread: while a gate task holds the thread,
 * queued tasks line up; once it opens they run by (priority, submission order),
 * lower first, for native apps, shell apps and a mix of both. */
#include <cparsl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "tap.h"

/* The gate: says it started, then blocks until opened. */
static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static bool gate_started, gate_open;

CP_APP(long, gate, (long, x))
{
    pthread_mutex_lock(&gate_mu);
    gate_started = true;
    pthread_cond_broadcast(&gate_cv);
    while (!gate_open)
        pthread_cond_wait(&gate_cv, &gate_mu);
    pthread_mutex_unlock(&gate_mu);
    return x;
}

static void gate_wait_started(void)
{
    pthread_mutex_lock(&gate_mu);
    while (!gate_started)
        pthread_cond_wait(&gate_cv, &gate_mu);
    pthread_mutex_unlock(&gate_mu);
}

static void gate_release(void)
{
    pthread_mutex_lock(&gate_mu);
    gate_open = true;
    pthread_cond_broadcast(&gate_cv);
    pthread_mutex_unlock(&gate_mu);
}

static void gate_reset(void)
{
    pthread_mutex_lock(&gate_mu);
    gate_started = gate_open = false;
    pthread_mutex_unlock(&gate_mu);
}

/* Native tasks note their tag in run order. */
#define MAXN 64
static long order[MAXN];
static atomic_int norder;

CP_APP(long, record, (long, tag))
{
    int k = atomic_fetch_add(&norder, 1);
    if (k < MAXN)
        order[k] = tag;
    return tag;
}

CP_APP(long, record_after, (long, dep), (long, tag))
{
    (void)dep;
    int k = atomic_fetch_add(&norder, 1);
    if (k < MAXN)
        order[k] = tag;
    return tag;
}

/* Shell tasks (and, in the mixed round, native ones) append their tag to a file. */
CP_SHELL_APP(shell_record, (long, tag), (const char *, path))
{
    return cp_fmt("echo %ld >> %s", tag, cp_q(path));
}
CP_APP(long, file_record, (long, tag), (const char *, path))
{
    FILE *fp = fopen(path, "a");
    if (!fp) {
        cp_fail("cannot open %s", path);
        return -1;
    }
    fprintf(fp, "%ld\n", tag);
    fclose(fp);
    return tag;
}

static const int prios[] = {5, -1, 0, 3, 0, -1, 7, -3, 0, 2, INT_MAX, INT_MIN, 5, -3};
#define NP ((int)(sizeof prios / sizeof prios[0]))

/* The expected order: indices sorted by (priority, index). */
static void expected(long *want)
{
    for (int i = 0; i < NP; i++)
        want[i] = i;
    for (int i = 1; i < NP; i++) {       /* insertion sort: stable */
        long x = want[i];
        int j = i - 1;
        while (j >= 0 && prios[want[j]] > prios[x]) {
            want[j + 1] = want[j];
            j--;
        }
        want[j + 1] = x;
    }
}

static void show(const char *what, const long *v, int n)
{
    char buf[512];
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && len < sizeof buf - 16; i++)
        len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%ld", i ? " " : "", v[i]);
    diag("%s: %s", what, buf);
}

static int same(const long *got, int ngot, const long *want, int nwant)
{
    if (ngot != nwant || memcmp(got, want, (size_t)nwant * sizeof *want) != 0) {
        show("got ", got, ngot);
        show("want", want, nwant);
        return 0;
    }
    return 1;
}

static int read_tags(const char *path, long *out, int max)
{
    FILE *fp = fopen(path, "r");
    int n = 0;
    if (!fp)
        return -1;
    while (n < max && fscanf(fp, "%ld", &out[n]) == 1)
        n++;
    fclose(fp);
    return n;
}

static cp_future *start_gate(void)
{
    gate_reset();
    cp_future *g = cp_call(gate, 0);
    gate_wait_started();            /* the one thread is now busy */
    return g;
}

static void release_all(cp_future **fs, int n)
{
    for (int i = 0; i < n; i++)
        cp_future_release(fs[i]);
}

int main(void)
{
    tap_start(60);
    char tmpl[] = "/tmp/cparsl-priority-XXXXXX";
    char *dir = mkdtemp(tmpl);
    ok(dir && chdir(dir) == 0, "work in %s", dir);
    ok(cp_load_config(&(cp_config){.max_threads = 1}) == 0, "cp_load_config with max_threads 1");
    long want[NP];
    expected(want);
    cp_future *fs[NP + 1];

    /* Native apps */
    cp_future *g = start_gate();
    for (int i = 0; i < NP; i++)
        fs[i] = cp_call_opts(record, CP_OPTS(.priority = prios[i]), (long)i);
    ok(!cp_future_done(fs[0]), "queued tasks wait behind the gate");
    gate_release();
    int nfail = 0;
    for (int i = 0; i < NP; i++)
        nfail += cp_future_wait(fs[i]) != 0;
    is_int(nfail, 0, "all %d native tasks succeeded", NP);
    ok(same(order, atomic_load(&norder), want, NP),
       "native tasks ran by (priority, submission order)");
    release_all(fs, NP);
    cp_future_release(g);

    /* A task that becomes ready when the gate ends joins the queue by its priority. */
    atomic_store(&norder, 0);
    g = start_gate();
    fs[0] = cp_call_opts(record, CP_OPTS(.priority = 1), 100L);
    fs[1] = cp_call_opts(record, CP_OPTS(.priority = -1), 101L);
    fs[2] = cp_call(record, 102L);
    fs[3] = cp_call_opts(record_after, CP_OPTS(.priority = -10), g, 103L);
    ok(!cp_future_done(fs[3]), "the dependent task waits for the gate");
    gate_release();
    nfail = 0;
    for (int i = 0; i < 4; i++)
        nfail += cp_future_wait(fs[i]) != 0;
    is_int(nfail, 0, "all 4 tasks succeeded");
    ok(same(order, atomic_load(&norder), (const long[]){103, 101, 102, 100}, 4),
       "a task made ready by the gate's end runs first by its priority -10");
    release_all(fs, 4);
    cp_future_release(g);

    /* Shell apps */
    g = start_gate();
    for (int i = 0; i < NP; i++)
        fs[i] = cp_call_opts(shell_record, CP_OPTS(.priority = prios[i]), (long)i, "shell.txt");
    gate_release();
    nfail = 0;
    for (int i = 0; i < NP; i++) {
        if (cp_future_wait(fs[i]) != 0) {
            nfail++;
            diag("%s", cp_future_error(fs[i]));
        }
    }
    is_int(nfail, 0, "all %d shell tasks succeeded", NP);
    long got[MAXN];
    int n = read_tags("shell.txt", got, MAXN);
    ok(same(got, n, want, NP), "shell tasks ran by (priority, submission order)");
    release_all(fs, NP);
    cp_future_release(g);

    /* Native and shell tasks in one queue */
    g = start_gate();
    for (int i = 0; i < NP; i++)
        fs[i] = i % 2 ? cp_call_opts(shell_record, CP_OPTS(.priority = prios[i]), (long)i, "mixed.txt")
                      : cp_call_opts(file_record, CP_OPTS(.priority = prios[i]), (long)i, "mixed.txt");
    gate_release();
    nfail = 0;
    for (int i = 0; i < NP; i++)
        nfail += cp_future_wait(fs[i]) != 0;
    is_int(nfail, 0, "all %d mixed tasks succeeded", NP);
    n = read_tags("mixed.txt", got, MAXN);
    ok(same(got, n, want, NP), "mixed native and shell tasks ran by (priority, submission order)");
    release_all(fs, NP);
    cp_future_release(g);

    is_int(cp_shutdown(), 0, "cp_shutdown returns 0");
    int rc = system("rm -rf \"$PWD\"");
    (void)rc;
    return done_testing();
}
