/* executors/pool_layout.c — see pool_layout.h; the rules are in docs/pool-layout.md.
 *
 * The order of work in cp__pool_layout_make is the order of Parsl's manager and
 * worker: count the workers from the node's size, then give each worker its
 * CPUs, its accelerator and its environment. Everything a worker needs later —
 * including its affinity mask — is built here, so that the forked worker only
 * makes a system call (cp__pool_layout_apply) and never allocates.
 */
#include "executors/pool_layout.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/util.h"
#include "cparsl.h"     /* cp_type values of cp__yscalar_type */

enum mode { M_NONE, M_BLOCK, M_BLOCK_REVERSE, M_ALTERNATING, M_LIST };

/* Indexed by enum mode. */
static const char *const mode_names[] = {"none", "block", "block-reverse", "alternating",
                                         "list", NULL};

/* Longest accelerator name: a device list such as "0,1,2,3" or a UUID fits. */
#define MAX_ACCEL_NAME 256

struct worker {
    int *cpus;                  /* owned; NULL when not pinned */
    size_t ncpus;
    cpu_set_t *mask;            /* owned (CPU_ALLOC); NULL when not pinned */
    size_t masksize;
    const char *accel;          /* points into layout->accels; NULL when none */
    char **env;                 /* owned, NULL-terminated, each entry owned */
};

struct cp__pool_layout {
    int n;
    enum mode mode;
    struct worker *w;           /* n of them */
    char **accels;              /* owned copies of the names, naccels of them */
    size_t naccels;
    char *describe;
};

static int oom(cp_err *err)
{
    return cp__errf(err, ENOMEM, "out of memory");
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* CPUs written Parsl's way, "0,1,2" (GOMP_CPU_AFFINITY and KMP's proclist take
 * this form). Caller owns. */
static char *join_cpus(const int *cpus, size_t n)
{
    char *s = malloc(n * 12 + 1), *p = s;
    if (!s)
        return NULL;
    *p = '\0';
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "%s%d", i ? "," : "", cpus[i]);
    return s;
}

/* A sorted set written compactly for messages ("0-3,8,10-11"), truncated to fit. */
static void format_set(const int *cpus, size_t n, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && used < size; ) {
        size_t j = i;
        while (j + 1 < n && cpus[j + 1] == cpus[j] + 1)
            j++;
        int w = j > i ? snprintf(buf + used, size - used, "%s%d-%d", i ? "," : "", cpus[i],
                                 cpus[j])
                      : snprintf(buf + used, size - used, "%s%d", i ? "," : "", cpus[i]);
        used += (size_t)w;
        i = j + 1;
    }
}

/* ------------------------------------------------------------ cpu_affinity text */

/* One worker's list from list:…, as the user wrote it. */
struct cpu_list {
    int *cpus;
    size_t n;
};

static void free_lists(struct cpu_list *lists, size_t n)
{
    for (size_t i = 0; lists && i < n; i++)
        free(lists[i].cpus);
    free(lists);
}

/* A CPU number: decimal digits only (no sign, no spaces), at most CP_POOL_MAX_CPU_ID.
 * Sets *end past it. */
static int cpu_number(const char *s, const char **end, long *out)
{
    long v = 0;
    const char *p = s;
    while (*p >= '0' && *p <= '9' && p - s < 7)
        v = v * 10 + (*p++ - '0');
    if (p == s || (*p >= '0' && *p <= '9'))
        return -1;
    *end = p;
    *out = v;
    return 0;
}

/* Parses one worker's "0-3,8" (len bytes at s) into l. seen is a scratch bitmap of
 * CP_POOL_MAX_CPU_ID + 1 bits, all clear on entry and on return. */
static int parse_one(const char *text, const char *s, size_t len, size_t wi, uint8_t *seen,
                     struct cpu_list *l, cp_err *err)
{
    const char *p = s, *end = s + len;
    size_t cap = 0;
    int rc = 0;
    if (len == 0)
        return cp__errf(err, EINVAL, "cpu_affinity '%.100s': worker %zu's CPU list is empty",
                        text, wi);
    while (p < end && rc == 0) {
        const char *item = p, *q = p;
        const char *comma = memchr(p, ',', (size_t)(end - p));
        size_t ilen = (size_t)((comma ? comma : end) - p);
        long lo = 0, hi = 0;
        if (cpu_number(p, &q, &lo) != 0) {
            rc = -1;
        } else if (q < end && *q == '-') {
            rc = cpu_number(q + 1, &q, &hi);
        } else {
            hi = lo;
        }
        if (rc != 0 || (q != item + ilen))
            rc = cp__errf(err, EINVAL, "cpu_affinity '%.100s': worker %zu: '%.*s' is not a CPU "
                                       "number or range (like 4 or 0-3, at most %d)", text, wi,
                          (int)(ilen > 40 ? 40 : ilen), item, CP_POOL_MAX_CPU_ID);
        else if (lo > CP_POOL_MAX_CPU_ID || hi > CP_POOL_MAX_CPU_ID)
            rc = cp__errf(err, EINVAL, "cpu_affinity '%.100s': worker %zu: CPU %ld is beyond "
                                       "the largest CPU number handled (%d)", text, wi,
                          lo > hi ? lo : hi, CP_POOL_MAX_CPU_ID);
        else if (hi < lo)
            rc = cp__errf(err, EINVAL, "cpu_affinity '%.100s': worker %zu: range %ld-%ld runs "
                                       "backwards (write %ld-%ld)", text, wi, lo, hi, hi, lo);
        for (long c = lo; rc == 0 && c <= hi; c++) {
            if (seen[c / 8] & (1u << (c % 8))) {
                rc = cp__errf(err, EINVAL, "cpu_affinity '%.100s': worker %zu names CPU %ld "
                                           "twice", text, wi, c);
                break;
            }
            if (l->n == cap) {
                cap = cap ? 2 * cap : 8;
                int *grown = realloc(l->cpus, cap * sizeof *grown);
                if (!grown) {
                    rc = oom(err);
                    break;
                }
                l->cpus = grown;
            }
            seen[c / 8] |= (uint8_t)(1u << (c % 8));
            l->cpus[l->n++] = (int)c;
        }
        p = item + ilen + 1;
        if (rc == 0 && item + ilen < end && p == end)
            rc = cp__errf(err, EINVAL, "cpu_affinity '%.100s': worker %zu's list ends with ','",
                          text, wi);
    }
    for (size_t i = 0; i < l->n; i++)
        seen[l->cpus[i] / 8] = 0;
    return rc;
}

/* "list:0-3,8:4-7" → one cpu_list per worker (caller owns, free_lists). */
static int parse_lists(const char *text, struct cpu_list **out, size_t *nout, cp_err *err)
{
    const char *body = text + 5;        /* after "list:" */
    size_t n = 1;
    for (const char *c = body; *c; c++)
        n += *c == ':';
    if (n > CP_POOL_MAX_WORKERS)
        return cp__errf(err, EINVAL, "cpu_affinity '%.100s': %zu worker lists, more than a "
                                     "pool may have (%d)", text, n, CP_POOL_MAX_WORKERS);
    struct cpu_list *lists = calloc(n, sizeof *lists);
    uint8_t *seen = calloc(CP_POOL_MAX_CPU_ID / 8 + 1, 1);
    if (!lists || !seen) {
        free(lists);
        free(seen);
        return oom(err);
    }
    const char *p = body;
    for (size_t i = 0; i < n; i++) {
        const char *colon = strchr(p, ':');
        size_t len = colon ? (size_t)(colon - p) : strlen(p);
        if (parse_one(text, p, len, i, seen, &lists[i], err) != 0) {
            free_lists(lists, n);
            free(seen);
            return -1;
        }
        p += len + 1;
    }
    free(seen);
    *out = lists;
    *nout = n;
    return 0;
}

/* The mode of a cpu_affinity text, checking a list's syntax too (lists may be
 * NULL when the caller does not want them). */
static int parse_affinity(const char *text, enum mode *m, struct cpu_list **lists, size_t *nl,
                          cp_err *err)
{
    /* Any case, as Parsl lower-cases the option before it looks at it. */
    for (int i = M_NONE; i < M_LIST; i++)
        if (!text || strcasecmp(text, mode_names[i]) == 0) {
            *m = text ? (enum mode)i : M_NONE;
            return 0;
        }
    if (strncasecmp(text, "list:", 5) == 0) {
        struct cpu_list *l = NULL;
        size_t n = 0;
        if (parse_lists(text, &l, &n, err) != 0)
            return -1;
        *m = M_LIST;
        if (lists) {
            *lists = l;
            *nl = n;
        } else {
            free_lists(l, n);
        }
        return 0;
    }
    static const char *const words[] = {"none", "block", "block-reverse", "alternating",
                                        "list:", NULL};
    const char *hint = strcasecmp(text, "list") == 0 ? NULL : cp__did_you_mean(text, words);
    return cp__errf(err, EINVAL, "cpu_affinity must be none, block, block-reverse, "
                                 "alternating or list:<cpus>:<cpus>… (one CPU list per worker, "
                                 "like list:0-3:4-7), got '%.100s'%s%s%s", text,
                    hint ? " (did you mean '" : "", hint ? hint : "", hint ? "'?)" : "");
}

int cp__cpu_affinity_check(const char *text, cp_err *err)
{
    enum mode m;
    return parse_affinity(text, &m, NULL, NULL, err);
}

/* ------------------------------------------------------------ node facts */

void cp__node_facts_clear(struct cp__node_facts *f)
{
    if (!f)
        return;
    free(f->cpus);
    memset(f, 0, sizeof *f);
}

/* The CPUs this process may run on. The mask is grown until the kernel accepts
 * its size, so machines with more than CPU_SETSIZE (1024) CPUs work too. */
static int affinity_list(int **out, size_t *nout, cp_err *err)
{
    for (size_t ncpu = 1024; ncpu <= (size_t)CP_POOL_MAX_CPU_ID + 1; ncpu *= 2) {
        cpu_set_t *set = CPU_ALLOC(ncpu);
        size_t size = CPU_ALLOC_SIZE(ncpu);
        if (!set)
            return oom(err);
        if (sched_getaffinity(0, size, set) != 0) {
            int e = errno;
            CPU_FREE(set);
            if (e == EINVAL)
                continue;       /* the kernel's mask is larger: try twice the size */
            return cp__errf(err, e, "sched_getaffinity: %s", strerror(e));
        }
        size_t n = (size_t)CPU_COUNT_S(size, set), k = 0;
        int *cpus = malloc((n ? n : 1) * sizeof *cpus);
        if (!cpus) {
            CPU_FREE(set);
            return oom(err);
        }
        for (size_t c = 0; c < ncpu && k < n; c++)
            if (CPU_ISSET_S(c, size, set))
                cpus[k++] = (int)c;
        CPU_FREE(set);
        *out = cpus;
        *nout = k;
        return 0;
    }
    return cp__errf(err, EINVAL, "sched_getaffinity: the CPU mask is larger than %d CPUs",
                    CP_POOL_MAX_CPU_ID + 1);
}

int cp__node_facts_parse_meminfo(const char *text, double *avail_gb, double *total_gb,
                                 cp_err *err)
{
    /* kB values of MemAvailable, MemTotal, MemFree, Buffers, Cached; -1 = absent. */
    static const char *const keys[] = {"MemAvailable", "MemTotal", "MemFree", "Buffers",
                                       "Cached"};
    double kb[5] = {-1, -1, -1, -1, -1};
    for (const char *line = text; line && *line; ) {
        const char *nl = strchr(line, '\n');
        char key[32];
        unsigned long long v;
        if (sscanf(line, "%31[^:\n]: %llu", key, &v) == 2)
            for (size_t i = 0; i < 5; i++)
                if (strcmp(key, keys[i]) == 0)
                    kb[i] = (double)v;
        line = nl ? nl + 1 : NULL;
    }
    double avail = kb[0];
    if (avail < 0 && kb[2] >= 0 && kb[3] >= 0 && kb[4] >= 0)
        avail = kb[2] + kb[3] + kb[4];
    if (avail < 0 && kb[1] < 0)
        return cp__errf(err, EINVAL, "meminfo: no MemAvailable, MemFree/Buffers/Cached or "
                                     "MemTotal line");
    *avail_gb = avail < 0 ? -1 : avail / (1024.0 * 1024.0);
    *total_gb = kb[1] < 0 ? -1 : kb[1] / (1024.0 * 1024.0);
    return 0;
}

static void detect_memory(struct cp__node_facts *f)
{
    char buf[16384];
    FILE *fp = fopen("/proc/meminfo", "re");
    size_t n = fp ? fread(buf, 1, sizeof buf - 1, fp) : 0;
    if (fp)
        fclose(fp);
    buf[n] = '\0';
    double avail, total;
    f->mem_gb = f->mem_total_gb = -1;
    f->mem_from = "unknown: /proc/meminfo could not be read";
    if (n == 0 || cp__node_facts_parse_meminfo(buf, &avail, &total, NULL) != 0)
        return;
    f->mem_total_gb = total;
    if (avail >= 0) {
        /* Parsl: round(psutil.virtual_memory().available / 2**30, 1). */
        f->mem_gb = round(avail * 10) / 10;
        f->mem_from = strstr(buf, "MemAvailable:") ? "MemAvailable in /proc/meminfo"
                                                   : "MemFree+Buffers+Cached in /proc/meminfo";
    }
}

int cp__node_facts_override(struct cp__node_facts *f, const char *cores, const char *mem,
                            cp_err *err)
{
    long c = f->cores;
    double m = f->mem_gb;
    if (cores && *cores) {
        char *end;
        errno = 0;
        c = strtol(cores, &end, 10);
        while (*end == ' ' || *end == '\t' || *end == '\n')
            end++;      /* Python's int() allows spaces around the number */
        if (errno || end == cores || *end || c < 1 || c > CP_POOL_MAX_CPU_ID + 1)
            return cp__errf(err, EINVAL, "PARSL_CORES must be a whole number of cores from 1 "
                                         "to %d, got '%.60s'", CP_POOL_MAX_CPU_ID + 1, cores);
    }
    if (mem && *mem) {
        char *end;
        m = strtod(mem, &end);
        while (*end == ' ' || *end == '\t' || *end == '\n')
            end++;
        if (end == mem || *end || !isfinite(m) || m <= 0)
            return cp__errf(err, EINVAL, "PARSL_MEMORY_GB must be a number of GB > 0, got "
                                         "'%.60s'", mem);
    }
    if (cores && *cores) {
        f->cores = (int)c;
        f->cores_from = "PARSL_CORES";
    }
    if (mem && *mem) {
        f->mem_gb = m;
        f->mem_from = "PARSL_MEMORY_GB";
    }
    return 0;
}

int cp__node_facts_detect(struct cp__node_facts *f, cp_err *err)
{
    memset(f, 0, sizeof *f);
    if (affinity_list(&f->cpus, &f->ncpus, err) != 0)
        return -1;
    f->cores = f->ncpus ? (int)f->ncpus : 1;
    f->cores_from = "sched_getaffinity";
    detect_memory(f);
    return cp__node_facts_override(f, getenv("PARSL_CORES"), getenv("PARSL_MEMORY_GB"), err);
}

/* ------------------------------------------------------------ worker count */

/* ⌊have / per⌋. A quotient within 1e-9 (relative) below a whole number counts as
 * that number: 0.7 GB / 0.1 GB is 7 workers, where the plain floor of the double
 * (6.999…) would give 6. Kept a double: the caller bounds it before any cast. */
static double slots(double have, double per)
{
    double q = have / per;
    return floor(q + q * 1e-9);
}

static int check_settings(const struct cp__pool_settings *s, const struct cp__node_facts *f,
                          cp_err *err)
{
    if (!isfinite(s->cores_per_worker) || s->cores_per_worker < 0)
        return cp__errf(err, EINVAL, "cores_per_worker must be a number > 0, got %g",
                        s->cores_per_worker);
    if (!isfinite(s->mem_per_worker) || s->mem_per_worker < 0)
        return cp__errf(err, EINVAL, "mem_per_worker must be a number of GB >= 0, got %g",
                        s->mem_per_worker);
    if (s->max_workers_per_node < 0)
        return cp__errf(err, EINVAL, "max_workers_per_node must be >= 1, got %d",
                        s->max_workers_per_node);
    if (s->naccelerators > CP_POOL_MAX_ACCELERATORS)
        return cp__errf(err, EINVAL, "available_accelerators: %zu is more than %d",
                        s->naccelerators, CP_POOL_MAX_ACCELERATORS);
    if (f->cores < 1)
        return cp__errf(err, EINVAL, "the node has %d cores (%s); it needs at least 1",
                        f->cores, f->cores_from ? f->cores_from : "given");
    if (s->mem_per_worker > 0 && !(f->mem_gb >= 0))
        return cp__errf(err, EINVAL, "mem_per_worker is %g GB but the node's memory is unknown "
                                     "(%s); set PARSL_MEMORY_GB", s->mem_per_worker,
                        f->mem_from ? f->mem_from : "not given");
    return 0;
}

/* Parsl's rule. Fills l->n and l->describe. */
static int count_workers(struct cp__pool_layout *l, const struct cp__pool_settings *s,
                         const struct cp__node_facts *f, cp_err *err)
{
    if (check_settings(s, f, err) != 0)
        return -1;
    double cpw = s->cores_per_worker > 0 ? s->cores_per_worker : 1.0;
    double mpw = s->mem_per_worker;
    double by_max = s->max_workers_per_node > 0 ? s->max_workers_per_node : INFINITY;
    double by_mem = mpw > 0 ? slots(f->mem_gb, mpw) : INFINITY;
    double by_cores = slots(f->cores, cpw);
    double n = fmin(by_max, fmin(by_mem, by_cores));
    if (s->naccelerators > 0)
        n = fmin(n, (double)s->naccelerators);
    const char *cfrom = f->cores_from ? f->cores_from : "given";
    const char *mfrom = f->mem_from ? f->mem_from : "given";
    if (n < 1) {
        char mem_why[200] = "", cores_why[200] = "";
        if (by_mem < 1)
            snprintf(mem_why, sizeof mem_why, "mem_per_worker is %g GB but the node has %g GB "
                     "available (%s)", mpw, f->mem_gb, mfrom);
        if (by_cores < 1)
            snprintf(cores_why, sizeof cores_why, "cores_per_worker is %g but the node has %d "
                     "cores (%s)", cpw, f->cores, cfrom);
        return cp__errf(err, EINVAL, "no worker fits on this node: %s%s%s", mem_why,
                        *mem_why && *cores_why ? "; " : "", cores_why);
    }
    if (n > CP_POOL_MAX_WORKERS)
        return cp__errf(err, EINVAL, "the pool would start %.0f workers (cores %d / "
                                     "cores_per_worker %g), more than the %d a pool may have; "
                                     "set max_workers_per_node to %d or less", n, f->cores, cpw,
                        CP_POOL_MAX_WORKERS, CP_POOL_MAX_WORKERS);
    l->n = (int)n;
    char max_s[32], mem_s[160], acc_s[48] = "";
    if (s->max_workers_per_node > 0)
        snprintf(max_s, sizeof max_s, "%d", s->max_workers_per_node);
    else
        snprintf(max_s, sizeof max_s, "unlimited");
    if (mpw > 0)
        snprintf(mem_s, sizeof mem_s, "memory %g GB (%s) / %g GB = %.0f", f->mem_gb, mfrom, mpw,
                 by_mem);
    else
        snprintf(mem_s, sizeof mem_s, "mem_per_worker unset");
    if (s->naccelerators > 0)
        snprintf(acc_s, sizeof acc_s, ", accelerators %zu", s->naccelerators);
    l->describe = cp__strdup_printf("%d worker%s = min(max_workers_per_node %s, %s, cores %d "
                                    "(%s) / %g = %.0f%s)", l->n, l->n == 1 ? "" : "s", max_s,
                                    mem_s, f->cores, cfrom, cpw, by_cores, acc_s);
    return l->describe ? 0 : oom(err);
}

/* ------------------------------------------------------------ CPUs per worker */

static bool allowed(const int *cpus, size_t n, int c)
{
    return bsearch(&c, cpus, n, sizeof *cpus, cmp_int) != NULL;
}

/* Worker i's CPUs under a computed mode (Parsl's slices of the sorted list). */
static int slice_for(struct worker *w, enum mode m, int i, int nw, const int *cpus, size_t nc,
                     cp_err *err)
{
    size_t k = nc / (size_t)nw, from, step = 1, count = k;
    if (m == M_BLOCK) {
        from = k * (size_t)i;
    } else if (m == M_BLOCK_REVERSE) {
        from = k * (size_t)(nw - 1 - i);
    } else {                    /* alternating: cpus[i::nw] */
        from = (size_t)i;
        step = (size_t)nw;
        count = (nc - (size_t)i + (size_t)nw - 1) / (size_t)nw;
    }
    if (!(w->cpus = malloc(count * sizeof *w->cpus)))
        return oom(err);
    for (size_t j = 0; j < count; j++)
        w->cpus[j] = cpus[from + j * step];
    w->ncpus = count;
    return 0;
}

/* list:… checked against the node: one list per worker, every CPU allowed. */
static int lists_for(struct cp__pool_layout *l, const char *text, const int *cpus, size_t nc,
                     cp_err *err)
{
    struct cpu_list *lists = NULL;
    size_t nl = 0;
    enum mode m;
    if (parse_affinity(text, &m, &lists, &nl, err) != 0)
        return -1;
    int rc = 0;
    if (nl != (size_t)l->n)
        rc = cp__errf(err, EINVAL, "cpu_affinity '%.100s' gives %zu CPU list%s but the pool has "
                                   "%d worker%s (%s); give one list per worker", text, nl,
                      nl == 1 ? "" : "s", l->n, l->n == 1 ? "" : "s", l->describe);
    for (size_t i = 0; rc == 0 && i < nl; i++) {
        for (size_t j = 0; rc == 0 && j < lists[i].n; j++)
            if (!allowed(cpus, nc, lists[i].cpus[j])) {
                char set[120];
                format_set(cpus, nc, set, sizeof set);
                rc = cp__errf(err, EINVAL, "cpu_affinity '%.100s': worker %zu names CPU %d, "
                                           "which this pool may not use (allowed: %s)", text, i,
                              lists[i].cpus[j], set);
            }
        if (rc == 0) {
            l->w[i].cpus = lists[i].cpus;       /* moved: the layout owns it now */
            l->w[i].ncpus = lists[i].n;
            lists[i].cpus = NULL;
        }
    }
    free_lists(lists, nl);
    return rc;
}

static int build_mask(struct worker *w, cp_err *err)
{
    int top = 0;
    for (size_t j = 0; j < w->ncpus; j++)
        top = w->cpus[j] > top ? w->cpus[j] : top;
    size_t ncpu = (size_t)top + 1;
    if (!(w->mask = CPU_ALLOC(ncpu)))
        return oom(err);
    w->masksize = CPU_ALLOC_SIZE(ncpu);
    CPU_ZERO_S(w->masksize, w->mask);
    for (size_t j = 0; j < w->ncpus; j++)
        CPU_SET_S((size_t)w->cpus[j], w->masksize, w->mask);
    return 0;
}

static int assign_cpus(struct cp__pool_layout *l, const char *text,
                       const struct cp__node_facts *f, cp_err *err)
{
    if (l->mode == M_NONE)
        return 0;
    /* The node's list, sorted and distinct whatever a hand-written facts holds. */
    int *cpus = malloc((f->ncpus ? f->ncpus : 1) * sizeof *cpus);
    if (!cpus)
        return oom(err);
    size_t nc = 0;
    if (f->ncpus)
        memcpy(cpus, f->cpus, f->ncpus * sizeof *cpus);
    qsort(cpus, f->ncpus, sizeof *cpus, cmp_int);
    for (size_t i = 0; i < f->ncpus; i++)
        if (cpus[i] >= 0 && cpus[i] <= CP_POOL_MAX_CPU_ID && (nc == 0 || cpus[i] != cpus[nc - 1]))
            cpus[nc++] = cpus[i];
    int rc = 0;
    /* Parsl asserts this for every pinning mode, list: included. */
    if (nc < (size_t)l->n) {
        char set[120];
        format_set(cpus, nc, set, sizeof set);
        rc = cp__errf(err, EINVAL, "cpu_affinity %s needs at least one CPU per worker: the pool "
                                   "may use %zu CPU%s (%s) and has %d workers (%s); lower "
                                   "max_workers_per_node or use cpu_affinity none",
                      mode_names[l->mode], nc, nc == 1 ? "" : "s", nc ? set : "none", l->n,
                      l->describe);
    } else if (l->mode == M_LIST) {
        rc = lists_for(l, text, cpus, nc, err);
    } else {
        for (int i = 0; rc == 0 && i < l->n; i++)
            rc = slice_for(&l->w[i], l->mode, i, l->n, cpus, nc, err);
    }
    for (int i = 0; rc == 0 && i < l->n; i++)
        rc = build_mask(&l->w[i], err);
    free(cpus);
    return rc;
}

/* ------------------------------------------------------------ accelerators, env */

int cp__accel_name_check(const char *name, size_t i, cp_err *err)
{
    size_t len = name ? strlen(name) : 0;
    if (len == 0 || len > MAX_ACCEL_NAME)
        return cp__errf(err, EINVAL, "available_accelerators[%zu] must be a device name of 1 to "
                                     "%d characters", i, MAX_ACCEL_NAME);
    for (const char *c = name; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            return cp__errf(err, EINVAL, "available_accelerators[%zu] has a control character",
                            i);
    return 0;
}

static int copy_accels(struct cp__pool_layout *l, const struct cp__pool_settings *s,
                       cp_err *err)
{
    if (s->naccelerators == 0)
        return 0;
    if (!(l->accels = calloc(s->naccelerators, sizeof *l->accels)))
        return oom(err);
    l->naccels = s->naccelerators;
    for (size_t i = 0; i < s->naccelerators; i++) {
        if (s->accelerators && cp__accel_name_check(s->accelerators[i], i, err) != 0)
            return -1;
        l->accels[i] = s->accelerators ? strdup(s->accelerators[i])
                                       : cp__strdup_printf("%zu", i);
        if (!l->accels[i])
            return oom(err);
    }
    for (int i = 0; i < l->n; i++)
        l->w[i].accel = l->accels[i];   /* n <= naccels: the count rule saw to it */
    return 0;
}

static int build_env(struct worker *w, int rank, int count, const char *pool_id,
                     const char *block_id, cp_err *err)
{
    char *v[12] = {0};
    size_t k = 0;
    v[k++] = cp__strdup_printf("PARSL_WORKER_RANK=%d", rank);
    v[k++] = cp__strdup_printf("PARSL_WORKER_COUNT=%d", count);
    v[k++] = cp__strdup_printf("PARSL_WORKER_POOL_ID=%s", pool_id);
    v[k++] = cp__strdup_printf("PARSL_WORKER_BLOCK_ID=%s", block_id);
    if (w->cpus) {
        char *list = join_cpus(w->cpus, w->ncpus);
        v[k++] = cp__strdup_printf("OMP_NUM_THREADS=%zu", w->ncpus);
        v[k++] = list ? cp__strdup_printf("GOMP_CPU_AFFINITY=%s", list) : NULL;
        v[k++] = list ? cp__strdup_printf("KMP_AFFINITY=explicit,proclist=[%s]", list) : NULL;
        free(list);
    }
    if (w->accel) {
        v[k++] = cp__strdup_printf("CUDA_VISIBLE_DEVICES=%s", w->accel);
        v[k++] = cp__strdup_printf("ROCR_VISIBLE_DEVICES=%s", w->accel);
        v[k++] = cp__strdup_printf("ZE_AFFINITY_MASK=%s", w->accel);
        v[k++] = strdup("ZE_ENABLE_PCI_ID_DEVICE_ORDER=1");
    }
    w->env = calloc(k + 1, sizeof *w->env);
    bool all = w->env != NULL;
    for (size_t i = 0; i < k; i++)
        all = all && v[i];
    if (!all) {
        for (size_t i = 0; i < k; i++)
            free(v[i]);
        free(w->env);
        w->env = NULL;
        return oom(err);
    }
    memcpy(w->env, v, k * sizeof *v);
    return 0;
}

/* ------------------------------------------------------------ layout */

struct cp__pool_layout *cp__pool_layout_make(const struct cp__pool_settings *s,
                                             const struct cp__node_facts *f,
                                             const char *pool_id, const char *block_id,
                                             cp_err *err)
{
    if (!s || !f || !pool_id || !block_id) {
        cp__errf(err, EINVAL, "pool layout: settings, node facts, pool id and block id are "
                              "all required");
        return NULL;
    }
    struct cp__pool_layout *l = calloc(1, sizeof *l);
    if (!l) {
        oom(err);
        return NULL;
    }
    enum mode m;
    if (parse_affinity(s->cpu_affinity, &m, NULL, NULL, err) != 0 ||
        count_workers(l, s, f, err) != 0)
        goto error;
    l->mode = m;
    if (!(l->w = calloc((size_t)l->n, sizeof *l->w))) {
        oom(err);
        goto error;
    }
    if (assign_cpus(l, s->cpu_affinity, f, err) != 0 || copy_accels(l, s, err) != 0)
        goto error;
    for (int i = 0; i < l->n; i++)
        if (build_env(&l->w[i], i, l->n, pool_id, block_id, err) != 0)
            goto error;
    char *d = cp__strdup_printf("%s; cpu_affinity %s", l->describe, mode_names[l->mode]);
    if (!d) {
        oom(err);
        goto error;
    }
    free(l->describe);
    l->describe = d;
    return l;
error:
    cp__pool_layout_free(l);
    return NULL;
}

void cp__pool_layout_free(struct cp__pool_layout *l)
{
    if (!l)
        return;
    for (int i = 0; l->w && i < l->n; i++) {
        free(l->w[i].cpus);
        if (l->w[i].mask)
            CPU_FREE(l->w[i].mask);
        for (char **e = l->w[i].env; e && *e; e++)
            free(*e);
        free(l->w[i].env);
    }
    free(l->w);
    for (size_t i = 0; i < l->naccels; i++)
        free(l->accels[i]);
    free(l->accels);
    free(l->describe);
    free(l);
}

int cp__pool_layout_workers(const struct cp__pool_layout *l)
{
    return l->n;
}

const char *cp__pool_layout_affinity(const struct cp__pool_layout *l)
{
    return mode_names[l->mode];
}

const char *cp__pool_layout_describe(const struct cp__pool_layout *l)
{
    return l->describe;
}

static const struct worker *worker_at(const struct cp__pool_layout *l, int i)
{
    return l && i >= 0 && i < l->n ? &l->w[i] : NULL;
}

const int *cp__pool_layout_cpus(const struct cp__pool_layout *l, int i, size_t *n)
{
    const struct worker *w = worker_at(l, i);
    *n = w ? w->ncpus : 0;
    return w ? w->cpus : NULL;
}

int cp__pool_layout_cpuset(const struct cp__pool_layout *l, int i, cpu_set_t *set, cp_err *err)
{
    const struct worker *w = worker_at(l, i);
    if (!w)
        return cp__errf(err, EINVAL, "worker %d: no such worker", i);
    if (!w->cpus)
        return cp__errf(err, ENOENT, "worker %d is not pinned (cpu_affinity none)", i);
    CPU_ZERO(set);
    for (size_t j = 0; j < w->ncpus; j++) {
        if (w->cpus[j] >= CPU_SETSIZE)
            return cp__errf(err, EOVERFLOW, "worker %d: CPU %d does not fit a cpu_set_t (%d)", i,
                            w->cpus[j], CPU_SETSIZE);
        CPU_SET(w->cpus[j], set);
    }
    return 0;
}

const char *cp__pool_layout_accelerator(const struct cp__pool_layout *l, int i)
{
    const struct worker *w = worker_at(l, i);
    return w ? w->accel : NULL;
}

char *const *cp__pool_layout_env(const struct cp__pool_layout *l, int i)
{
    const struct worker *w = worker_at(l, i);
    return w ? w->env : NULL;
}

int cp__pool_layout_apply(const struct cp__pool_layout *l, int i, cp_err *err)
{
    const struct worker *w = worker_at(l, i);
    if (!w) {
        /* No formatting when err is NULL: this may run in a forked child. */
        if (!err) {
            errno = EINVAL;
            return -1;
        }
        return cp__errf(err, EINVAL, "worker %d: no such worker", i);
    }
    if (!w->mask)
        return 0;
    if (sched_setaffinity(0, w->masksize, w->mask) == 0)
        return 0;
    int e = errno;
    if (!err) {
        errno = e;
        return -1;
    }
    char set[120];
    format_set(w->cpus, w->ncpus, set, sizeof set);
    return cp__errf(err, e, "worker %d: sched_setaffinity to CPUs %s: %s", i, set, strerror(e));
}
