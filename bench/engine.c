/* bench/engine.c — cparsl's own numbers on the thread_pool executor (2 threads).
 *
 * One measurement per process, so peak RSS belongs to that measurement alone:
 *
 *   engine burst N          B1/B2: N no-op tasks (an app returning its long
 *                           argument): submit all, wait all (checking every value),
 *                           release all. Tasks/s end to end, time to the first
 *                           result, phase times, and engine memory while all N
 *                           futures are held.
 *   engine stream N W       B1 with a sliding window: at most W futures held; the
 *                           oldest is waited for and released before the next submit.
 *   engine rtt N            B3: N single-task round trips (submit, wait, release);
 *                           median / p99 / mean µs (after 20 unmeasured warm-ups).
 *   engine fanin N          B4: N independent no-op tasks, then cp_gather of all of
 *                           them passed into one native app (const cp_value *) that
 *                           sums the list; seconds until that app's result is read.
 *   engine shell N          B5: N shell tasks running /bin/true; tasks/s.
 *   engine shellnull N      the same with stdout and stderr sent to /dev/null
 *                           instead of the default task_logs files.
 *   engine sleep N MS       B6: N native tasks each nanosleep()ing MS ms.
 *   engine shsleep N MS     B6: N shell tasks `sleep MS/1000`.
 *
 * Every run works in a fresh temporary directory (cp_load makes runinfo/ in the
 * current directory), removed at the end, with log_level "warning".
 * Output: one JSON object on stdout. Exit status 1 when any value was wrong.
 */
#include <cparsl.h>

#include <dirent.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

CP_APP(long, noop, (long, x)) { return x; }

CP_APP(long, sum_list, (const cp_value *, v))
{
    long s = 0;
    size_t n = cp_value_list_len(v);
    for (size_t i = 0; i < n; i++)
        s += cp_value_int(cp_value_list_at(v, i));
    return s;
}

CP_APP(long, nap, (long, ms))
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
    return ms;
}

CP_SHELL_APP(btrue) { return cp_fmt("/bin/true"); }
CP_SHELL_APP(shnap, (long, ms)) { return cp_fmt("sleep %ld.%03ld", ms / 1000, ms % 1000); }

/* ------------------------------------------------------------ helpers */

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Current resident set, bytes (from /proc/self/statm). */
static long rss_now(void)
{
    long pages_total = 0, pages_res = 0;
    FILE *fp = fopen("/proc/self/statm", "r");
    if (fp) {
        if (fscanf(fp, "%ld %ld", &pages_total, &pages_res) != 2)
            pages_res = 0;
        fclose(fp);
    }
    return pages_res * sysconf(_SC_PAGESIZE);
}

/* Peak resident set so far, bytes (getrusage ru_maxrss is in KiB on Linux). */
static long rss_peak(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss * 1024L;
}

/* Context switches (voluntary, involuntary) and minor page faults of the whole
 * process so far, all threads together. */
struct counts {
    long vcsw, ivcsw, minflt;
};

static struct counts counts_now(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (struct counts){ru.ru_nvcsw, ru.ru_nivcsw, ru.ru_minflt};
}

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(const double *sorted, size_t n, double p)
{
    size_t r = (size_t)((double)n * p + 0.999999);     /* nearest rank */
    if (r < 1)
        r = 1;
    if (r > n)
        r = n;
    return sorted[r - 1];
}

static char workdir[4096];

/* Every worker has served a task (so blocks are up and app hosts relaunched):
 * rounds of 64 no-op tasks until CPARSL_BENCH_WORKERS distinct processes (default
 * 2) have answered, or 30 s. */
CP_APP(long, whose, (long, x)) { (void)x; return (long)getpid(); }

static void warm_up(void)
{
    const char *nw = getenv("CPARSL_BENCH_WORKERS");
    int want = nw && atoi(nw) > 0 ? atoi(nw) : 2;
    long seen[256];
    int nseen = 0;
    double until = mono() + 30;
    while (nseen < want && mono() < until) {
        cp_future *f[64];
        for (int i = 0; i < 64; i++)
            f[i] = cp_call(whose, (long)i);
        for (int i = 0; i < 64; i++) {
            if (cp_future_wait(f[i]) != 0) {
                fprintf(stderr, "bench: warm-up task failed: %s\n", cp_future_error(f[i]));
                exit(2);
            }
            long pid = cp_future_int(f[i]);
            int k = 0;
            while (k < nseen && seen[k] != pid)
                k++;
            if (k == nseen && nseen < 256)
                seen[nseen++] = pid;
            cp_future_release(f[i]);
        }
    }
    if (nseen < want) {
        fprintf(stderr, "bench: only %d of %d workers answered in 30 s\n", nseen, want);
        exit(2);
    }
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void start(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(workdir, sizeof workdir, "%s/cparsl-bench-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(workdir) || chdir(workdir) != 0) {
        perror("bench: temp dir");
        exit(2);
    }
    /* CPARSL_BENCH_CONFIG: a config file (absolute path), e.g. high_throughput
     * pools; its workers are warmed up before anything is measured. */
    const char *conf = getenv("CPARSL_BENCH_CONFIG");
    if (conf && *conf) {
        if (cp_load(conf) != 0) {
            fprintf(stderr, "bench: cp_load(%s): %s\n", conf, cp_last_error());
            exit(2);
        }
        warm_up();
        return;
    }
    /* CPARSL_BENCH_THREADS: for investigations only; the recorded runs use 2.
     * CPARSL_BENCH_MONITOR: a monitoring database file to record the run in. */
    const char *nt = getenv("CPARSL_BENCH_THREADS");
    const char *mon = getenv("CPARSL_BENCH_MONITOR");
    cp_config cfg = {.max_threads = nt && atoi(nt) > 0 ? atoi(nt) : 2, .log_level = "warning",
                     .monitoring_db = mon && *mon ? mon : NULL};
    if (cp_load_config(&cfg) != 0) {
        fprintf(stderr, "bench: cp_load_config: %s\n", cp_last_error());
        exit(2);
    }
}

/* ------------------------------------------------------------ pool memory */

struct proc {
    int pid, ppid;
    char comm[32];
};

static long kb_field(const char *path, const char *key)
{
    FILE *fp = fopen(path, "r");
    char line[256];
    long v = -1;
    size_t kl = strlen(key);
    while (fp && fgets(line, sizeof line, fp))
        if (strncmp(line, key, kl) == 0) {
            v = atol(line + kl);
            break;
        }
    if (fp)
        fclose(fp);
    return v;
}

/* With a config (pools): one JSON line on the memory of this process's
 * descendants, by role. The pool is a parsl-worker whose parent is not one; its
 * workers (forks, or app hosts relaunched from them) are its descendants. RSS
 * counts pages a fork shares with its parent in both, so the workers are also
 * given as PSS (smaps_rollup), which splits shared pages between the sharers. */
static void report_pools(void)
{
    static struct proc ps[4096];
    int n = 0;
    DIR *d = opendir("/proc");
    struct dirent *e;
    while (d && (e = readdir(d)) && n < 4096) {
        int pid = atoi(e->d_name);
        if (pid <= 0)
            continue;
        char path[64], buf[512];
        snprintf(path, sizeof path, "/proc/%d/stat", pid);
        FILE *fp = fopen(path, "r");
        if (!fp)
            continue;
        size_t len = fread(buf, 1, sizeof buf - 1, fp);
        fclose(fp);
        buf[len] = '\0';
        char *l = strchr(buf, '('), *r = strrchr(buf, ')');
        if (!l || !r)
            continue;
        struct proc *p = &ps[n];
        p->pid = pid;
        snprintf(p->comm, sizeof p->comm, "%.*s", (int)(r - l - 1), l + 1);
        if (sscanf(r + 2, "%*c %d", &p->ppid) == 1)
            n++;
    }
    if (d)
        closedir(d);
    long pool_rss = 0, pool_pss = 0, pool_priv = 0, worker_rss = 0, worker_pss = 0;
    int npools = 0, nworkers = 0;
    for (int i = 0; i < n; i++) {
        /* Is it a descendant of ours, and what is its nearest parsl-worker ancestor? */
        int cur = ps[i].ppid, depth = 0, pool_anc = 0;
        bool mine = false;
        while (cur > 1 && depth++ < 64) {
            if (cur == (int)getpid()) {
                mine = true;
                break;
            }
            int k = 0;
            while (k < n && ps[k].pid != cur)
                k++;
            if (k == n)
                break;
            if (strcmp(ps[k].comm, "parsl-worker") == 0)
                pool_anc = cur;
            cur = ps[k].ppid;
        }
        if (!mine)
            continue;
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/status", ps[i].pid);
        long rss = kb_field(path, "VmRSS:");
        snprintf(path, sizeof path, "/proc/%d/smaps_rollup", ps[i].pid);
        long pss = kb_field(path, "Pss:");
        if (!pool_anc && strcmp(ps[i].comm, "parsl-worker") == 0) {
            long pc = kb_field(path, "Private_Clean:"), pd = kb_field(path, "Private_Dirty:");
            npools++, pool_rss += rss, pool_pss += pss, pool_priv += pc + pd;
        } else if (pool_anc) {
            nworkers++, worker_rss += rss, worker_pss += pss;
        }
    }
    printf("{\"bench\":\"pools\",\"pools\":%d,\"pool_rss_kb\":%ld,\"pool_pss_kb\":%ld,"
           "\"pool_private_kb\":%ld,\"workers\":%d,"
           "\"worker_rss_kb\":%ld,\"worker_pss_kb\":%ld,\"engine_rss_kb\":%ld}\n",
           npools, npools ? pool_rss / npools : 0, npools ? pool_pss / npools : 0,
           npools ? pool_priv / npools : 0, nworkers, nworkers ? worker_rss / nworkers : 0,
           nworkers ? worker_pss / nworkers : 0, rss_now() / 1024);
}

/* Shuts the run down (timed, reported by the caller) and removes the work dir. */
static double finish(int *shutdown_rc)
{
    const char *conf = getenv("CPARSL_BENCH_CONFIG");
    if (conf && *conf)
        report_pools();
    double t = mono();
    *shutdown_rc = cp_shutdown();
    t = mono() - t;
    if (chdir("/") == 0)
        nftw(workdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return t;
}

/* ------------------------------------------------------------ B1 / B2 */

static int bench_burst(long n)
{
    cp_future **fs = malloc((size_t)n * sizeof *fs);
    if (!fs)
        return 2;
    memset(fs, 0, (size_t)n * sizeof *fs);     /* touch: the array is not the engine's */
    start();
    long rss0 = rss_now(), peak0 = rss_peak();
    struct counts c0 = counts_now();
    double first = -1;
    double t0 = mono();
    for (long i = 0; i < n; i++) {
        fs[i] = cp_call(noop, i);
        if (first < 0 && cp_future_done(fs[0]))
            first = mono() - t0;
    }
    double t_sub = mono();
    if (first < 0) {
        cp_future_wait(fs[0]);
        first = mono() - t0;
    }
    long bad = 0;
    for (long i = 0; i < n; i++)
        if (cp_future_int(fs[i]) != i)
            bad++;
    double t_wait = mono();
    long rss_held = rss_now();
    for (long i = 0; i < n; i++)
        cp_future_release(fs[i]);
    double t_rel = mono();
    struct counts c1 = counts_now();
    long rss_rel = rss_now();
    int src;
    double t_shut = finish(&src);
    double total = t_rel - t0;
    printf("{\"bench\":\"burst\",\"n\":%ld,\"tasks_per_s\":%.0f,\"first_ms\":%.3f,"
           "\"submit_s\":%.4f,\"wait_s\":%.4f,\"release_s\":%.4f,\"total_s\":%.4f,"
           "\"shutdown_s\":%.4f,\"submit_per_s\":%.0f,\"rss_base_mb\":%.1f,"
           "\"rss_held_mb\":%.1f,\"rss_after_release_mb\":%.1f,\"peak_rss_mb\":%.1f,"
           "\"bytes_per_task_held\":%.0f,\"bytes_per_task_peak\":%.0f,"
           "\"vcsw\":%ld,\"ivcsw\":%ld,\"minflt\":%ld,\"bad\":%ld,\"shutdown_rc\":%d}\n",
           n, (double)n / total, first * 1e3, t_sub - t0, t_wait - t_sub, t_rel - t_wait,
           total, t_shut, (double)n / (t_sub - t0), rss0 / 1048576.0, rss_held / 1048576.0,
           rss_rel / 1048576.0, rss_peak() / 1048576.0,
           (double)(rss_held - rss0) / (double)n,
           (double)(rss_peak() - (peak0 > rss0 ? peak0 : rss0)) / (double)n,
           c1.vcsw - c0.vcsw, c1.ivcsw - c0.ivcsw, c1.minflt - c0.minflt, bad, src);
    free(fs);
    return bad || src ? 1 : 0;
}

static int bench_stream(long n, long w)
{
    if (w < 1)
        w = 1;
    cp_future **fs = calloc((size_t)w, sizeof *fs);
    if (!fs)
        return 2;
    start();
    long rss0 = rss_now();
    struct counts c0 = counts_now();
    long bad = 0;
    double t0 = mono();
    for (long i = 0; i < n; i++) {
        long k = i % w;
        if (i >= w) {
            if (cp_future_int(fs[k]) != i - w)
                bad++;
            cp_future_release(fs[k]);
        }
        fs[k] = cp_call(noop, i);
    }
    for (long i = n > w ? n - w : 0; i < n; i++) {
        long k = i % w;
        if (cp_future_int(fs[k]) != i)
            bad++;
        cp_future_release(fs[k]);
    }
    double total = mono() - t0;
    struct counts c1 = counts_now();
    long rss_end = rss_now();
    int src;
    double t_shut = finish(&src);
    printf("{\"bench\":\"stream\",\"n\":%ld,\"window\":%ld,\"tasks_per_s\":%.0f,"
           "\"total_s\":%.4f,\"shutdown_s\":%.4f,\"rss_base_mb\":%.1f,"
           "\"rss_end_mb\":%.1f,\"peak_rss_mb\":%.1f,\"peak_growth_mb\":%.1f,"
           "\"vcsw\":%ld,\"ivcsw\":%ld,\"minflt\":%ld,\"bad\":%ld,\"shutdown_rc\":%d}\n",
           n, w, (double)n / total, total, t_shut, rss0 / 1048576.0,
           rss_end / 1048576.0, rss_peak() / 1048576.0, (rss_peak() - rss0) / 1048576.0,
           c1.vcsw - c0.vcsw, c1.ivcsw - c0.ivcsw, c1.minflt - c0.minflt, bad, src);
    free(fs);
    return bad || src ? 1 : 0;
}

/* ------------------------------------------------------------ B3 */

static int bench_rtt(long n)
{
    double *lat = malloc((size_t)n * sizeof *lat);
    if (!lat)
        return 2;
    start();
    long bad = 0;
    for (long i = 0; i < 20; i++) {
        cp_future *f = cp_call(noop, i);
        bad += cp_future_int(f) != i;
        cp_future_release(f);
    }
    double sum = 0;
    for (long i = 0; i < n; i++) {
        double a = mono();
        cp_future *f = cp_call(noop, i);
        long v = cp_future_int(f);
        cp_future_release(f);
        lat[i] = (mono() - a) * 1e6;
        sum += lat[i];
        bad += v != i;
    }
    int src;
    finish(&src);
    qsort(lat, (size_t)n, sizeof *lat, cmp_dbl);
    printf("{\"bench\":\"rtt\",\"n\":%ld,\"median_us\":%.1f,\"p99_us\":%.1f,\"mean_us\":%.1f,"
           "\"min_us\":%.1f,\"max_us\":%.1f,\"bad\":%ld,\"shutdown_rc\":%d}\n",
           n, pct(lat, (size_t)n, 0.5), pct(lat, (size_t)n, 0.99), sum / (double)n, lat[0],
           lat[n - 1], bad, src);
    free(lat);
    return bad || src ? 1 : 0;
}

/* ------------------------------------------------------------ B4 */

static int bench_fanin(long n)
{
    cp_future **fs = malloc((size_t)n * sizeof *fs);
    if (!fs)
        return 2;
    start();
    double t0 = mono();
    for (long i = 0; i < n; i++)
        fs[i] = cp_call(noop, i);
    cp_future *g = cp_gather(fs, (size_t)n);
    for (long i = 0; i < n; i++)
        cp_future_release(fs[i]);   /* the gather holds them now */
    cp_future *r = cp_call(sum_list, g);
    long sum = cp_future_int(r);
    double t_done = mono() - t0;
    cp_future_release(r);
    cp_future_release(g);
    long expect = n * (n - 1) / 2;
    int src;
    finish(&src);
    printf("{\"bench\":\"fanin\",\"n\":%ld,\"seconds\":%.4f,\"tasks_per_s\":%.0f,"
           "\"bad\":%d,\"shutdown_rc\":%d}\n",
           n, t_done, (double)(n + 1) / t_done, sum != expect, src);
    free(fs);
    return sum != expect || src ? 1 : 0;
}

/* ------------------------------------------------------------ B5 / B6 */

enum { K_SHELL_TRUE, K_NATIVE_SLEEP, K_SHELL_SLEEP, K_SHELL_NULL };

static int bench_many(int kind, long n, long ms)
{
    cp_future **fs = malloc((size_t)n * sizeof *fs);
    if (!fs)
        return 2;
    start();
    double t0 = mono();
    for (long i = 0; i < n; i++)
        fs[i] = kind == K_SHELL_TRUE ? cp_call(btrue)
              : kind == K_SHELL_NULL
                  ? cp_call_opts(btrue, CP_OPTS(.stdout_path = "/dev/null",
                                                .stderr_path = "/dev/null"))
              : kind == K_NATIVE_SLEEP ? cp_call(nap, ms) : cp_call(shnap, ms);
    long bad = 0;
    const char *err = NULL;
    for (long i = 0; i < n; i++)
        if (cp_future_wait(fs[i]) != 0) {
            bad++;
            if (!err)
                err = cp_future_error(fs[i]);
        }
    double secs = mono() - t0;
    if (err)
        fprintf(stderr, "bench: a task failed: %s\n", err);
    for (long i = 0; i < n; i++)
        cp_future_release(fs[i]);
    int src;
    finish(&src);
    const char *name = kind == K_SHELL_TRUE ? "shell_true"
                     : kind == K_SHELL_NULL ? "shell_true_devnull"
                     : kind == K_NATIVE_SLEEP ? "native_sleep" : "shell_sleep";
    double ideal = kind == K_SHELL_TRUE || kind == K_SHELL_NULL ? 0 : (double)n * (double)ms / 1000.0 / 2.0;
    printf("{\"bench\":\"%s\",\"n\":%ld,\"ms\":%ld,\"seconds\":%.4f,\"tasks_per_s\":%.1f,"
           "\"ideal_s\":%.3f,\"efficiency\":%.3f,\"peak_rss_mb\":%.1f,\"bad\":%ld,"
           "\"shutdown_rc\":%d}\n",
           name, n, ms, secs, (double)n / secs, ideal, ideal > 0 ? ideal / secs : 0,
           rss_peak() / 1048576.0, bad, src);
    free(fs);
    return bad || src ? 1 : 0;
}

int main(int argc, char **argv)
{
    cp_init(&argc, &argv);
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *cmd = argc > 1 ? argv[1] : "";
    long a = argc > 2 ? atol(argv[2]) : 0, b = argc > 3 ? atol(argv[3]) : 0;
    if (strcmp(cmd, "burst") == 0 && a > 0)
        return bench_burst(a);
    if (strcmp(cmd, "stream") == 0 && a > 0)
        return bench_stream(a, b ? b : 10000);
    if (strcmp(cmd, "rtt") == 0 && a > 0)
        return bench_rtt(a);
    if (strcmp(cmd, "fanin") == 0 && a > 0)
        return bench_fanin(a);
    if (strcmp(cmd, "shell") == 0 && a > 0)
        return bench_many(K_SHELL_TRUE, a, 0);
    if (strcmp(cmd, "shellnull") == 0 && a > 0)
        return bench_many(K_SHELL_NULL, a, 0);
    if (strcmp(cmd, "sleep") == 0 && a > 0)
        return bench_many(K_NATIVE_SLEEP, a, b ? b : 10);
    if (strcmp(cmd, "shsleep") == 0 && a > 0)
        return bench_many(K_SHELL_SLEEP, a, b ? b : 10);
    fprintf(stderr, "usage: engine burst N | stream N W | rtt N | fanin N | shell N | shellnull N | "
                    "sleep N MS | shsleep N MS\n");
    return 2;
}
