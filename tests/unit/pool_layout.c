/* Pool layout (docs/pool-layout.md): Parsl's worker-count rule over many nodes
 * and settings (PARSL_CORES / PARSL_MEMORY_GB included), every cpu_affinity mode
 * with exact CPU lists on 8- and 6-CPU nodes and on a node with gaps, list:
 * parsing and its errors, the accelerator and worker environment, the settings
 * read from YAML with file:line:col errors, and — for real — forked children
 * that apply their worker's affinity and read it back with sched_getaffinity. */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tap.h"
#include "common/yaml.h"
#include "executors/pool_layout.h"

/* ------------------------------------------------------------ helpers */

static int seq_cpus[64];

/* A node with CPUs 0..ncpus-1 and mem GB available. */
static struct cp__node_facts node(size_t ncpus, double mem)
{
    for (int i = 0; i < 64; i++)
        seq_cpus[i] = i;
    return (struct cp__node_facts){.cpus = seq_cpus, .ncpus = ncpus, .cores = (int)ncpus,
                                   .mem_gb = mem, .mem_total_gb = mem, .cores_from = "test",
                                   .mem_from = "test"};
}

static struct cp__pool_layout *mk(struct cp__pool_settings s, struct cp__node_facts f,
                                  cp_err *err)
{
    return cp__pool_layout_make(&s, &f, "pool-a", "7", err);
}

/* Every worker's CPUs as "0,1|2,3" ("-" for an unpinned worker). */
static const char *lists(const struct cp__pool_layout *l)
{
    static char buf[1024];
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; l && i < cp__pool_layout_workers(l); i++) {
        size_t n;
        const int *c = cp__pool_layout_cpus(l, i, &n);
        used += (size_t)snprintf(buf + used, sizeof buf - used, "%s%s", i ? "|" : "",
                                 c ? "" : "-");
        for (size_t j = 0; j < n; j++)
            used += (size_t)snprintf(buf + used, sizeof buf - used, "%s%d", j ? "," : "", c[j]);
    }
    return buf;
}

static const char *joined(char *const *env)
{
    static char buf[2048];
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; env && env[i]; i++)
        used += (size_t)snprintf(buf + used, sizeof buf - used, "%s%s", i ? ";" : "", env[i]);
    return buf;
}

static const char *set_text(const int *cpus, size_t n)
{
    static char buf[512];
    size_t used = 0;
    buf[0] = '\0';
    for (size_t j = 0; j < n; j++)
        used += (size_t)snprintf(buf + used, sizeof buf - used, "%s%d", j ? "," : "", cpus[j]);
    return buf;
}

/* ------------------------------------------------------------ worker counts */

static const struct count_case {
    const char *name;
    int cores;
    double mem;
    struct cp__pool_settings s;
    int want;               /* 0: an error containing `err` */
    const char *err;
} count_cases[] = {
    {"defaults: one worker per core", 8, 16, {0}, 8, NULL},
    {"cores_per_worker 2", 8, 16, {.cores_per_worker = 2}, 4, NULL},
    {"cores_per_worker 3 floors 8/3", 8, 16, {.cores_per_worker = 3}, 2, NULL},
    {"cores_per_worker 1.5 on 3 cores", 3, 16, {.cores_per_worker = 1.5}, 2, NULL},
    {"cores_per_worker 0.5 oversubscribes", 8, 16, {.cores_per_worker = 0.5}, 16, NULL},
    {"cores_per_worker 0.3 on 3 cores", 3, 16, {.cores_per_worker = 0.3}, 10, NULL},
    {"oversubscribed, capped by max", 8, 16, {.cores_per_worker = 0.25,
                                              .max_workers_per_node = 20}, 20, NULL},
    {"mem_per_worker 4 of 16 GB", 8, 16, {.mem_per_worker = 4}, 4, NULL},
    {"mem_per_worker 4 of 15.9 GB", 8, 15.9, {.mem_per_worker = 4}, 3, NULL},
    {"memory not the limit", 8, 16, {.mem_per_worker = 1}, 8, NULL},
    {"0.7 GB / 0.1 GB is 7, not 6", 8, 0.7, {.mem_per_worker = 0.1}, 7, NULL},
    {"max_workers_per_node 16 of 64 cores", 64, 256, {.mem_per_worker = 2,
                                                      .max_workers_per_node = 16}, 16, NULL},
    {"max_workers_per_node 1", 8, 16, {.max_workers_per_node = 1}, 1, NULL},
    {"mem_per_worker unset: tiny memory does not matter", 8, 0.1, {0}, 8, NULL},
    {"memory unknown and not needed", 8, -1, {0}, 8, NULL},
    {"4 accelerators on 8 cores", 8, 16, {.naccelerators = 4}, 4, NULL},
    {"4 accelerators on 2 cores", 2, 16, {.naccelerators = 4}, 2, NULL},
    {"1 core", 1, 16, {0}, 1, NULL},
    {"1 core, cores_per_worker 0.001", 1, 16, {.cores_per_worker = 0.001}, 1000, NULL},
    {"mem_per_worker above the node", 8, 16, {.mem_per_worker = 64}, 0,
     "no worker fits on this node: mem_per_worker is 64 GB but the node has 16 GB available "
     "(test)"},
    {"cores_per_worker above the node", 2, 16, {.cores_per_worker = 4}, 0,
     "no worker fits on this node: cores_per_worker is 4 but the node has 2 cores (test)"},
    {"both above the node", 2, 1, {.cores_per_worker = 4, .mem_per_worker = 2}, 0,
     "mem_per_worker is 2 GB but the node has 1 GB available (test); cores_per_worker is 4"},
    {"too many workers", 128, 16, {.cores_per_worker = 0.001}, 0,
     "the pool would start 128000 workers (cores 128 / cores_per_worker 0.001), more "
     "than the 16384 a pool may have; set max_workers_per_node to 16384 or less"},
    {"memory unknown but needed", 8, -1, {.mem_per_worker = 2}, 0,
     "mem_per_worker is 2 GB but the node's memory is unknown (test); set PARSL_MEMORY_GB"},
    {"negative cores_per_worker", 8, 16, {.cores_per_worker = -1}, 0,
     "cores_per_worker must be a number > 0, got -1"},
    {"negative mem_per_worker", 8, 16, {.mem_per_worker = -1}, 0,
     "mem_per_worker must be a number of GB >= 0"},
    {"negative max_workers_per_node", 8, 16, {.max_workers_per_node = -3}, 0,
     "max_workers_per_node must be >= 1, got -3"},
};

static void test_counts(void)
{
    for (size_t i = 0; i < sizeof count_cases / sizeof count_cases[0]; i++) {
        const struct count_case *c = &count_cases[i];
        struct cp__node_facts f = node(8, c->mem);
        f.cores = c->cores;
        cp_err err = {0};
        struct cp__pool_layout *l = mk(c->s, f, &err);
        if (c->want) {
            ok(l != NULL, "count: %s: made (%s)", c->name, l ? "" : err.text);
            is_int(l ? cp__pool_layout_workers(l) : -1, c->want, "count: %s: %d workers",
                   c->name, c->want);
        } else {
            ok(l == NULL && err.code == EINVAL, "count: %s: refused", c->name);
            like(err.text, c->err, "count: %s: the error says why", c->name);
        }
        cp__pool_layout_free(l);
    }
    /* The description a pool logs names every limit and its numbers. */
    struct cp__node_facts f = node(8, 15.5);
    f.mem_from = "MemAvailable in /proc/meminfo";
    f.cores_from = "sched_getaffinity";
    struct cp__pool_layout *l = mk((struct cp__pool_settings){.mem_per_worker = 2,
                                                              .cpu_affinity = "block"}, f, NULL);
    is_str(l ? cp__pool_layout_describe(l) : NULL,
           "7 workers = min(max_workers_per_node unlimited, memory 15.5 GB (MemAvailable in "
           "/proc/meminfo) / 2 GB = 7, cores 8 (sched_getaffinity) / 1 = 8); cpu_affinity block",
           "describe names each limit");
    is_str(l ? cp__pool_layout_affinity(l) : NULL, "block", "affinity mode name");
    cp__pool_layout_free(l);
}

/* ------------------------------------------------------------ node facts */

static void test_overrides(void)
{
    struct cp__node_facts f = node(2, 8);
    cp_err err = {0};
    ok(cp__node_facts_override(&f, NULL, NULL, &err) == 0 && f.cores == 2 && f.mem_gb == 8,
       "override: nothing set changes nothing");
    ok(cp__node_facts_override(&f, "", "", &err) == 0 && f.cores == 2 && f.mem_gb == 8,
       "override: empty values are unset, as in Parsl");
    ok(cp__node_facts_override(&f, "16", "3", &err) == 0, "override: PARSL_CORES=16 "
       "PARSL_MEMORY_GB=3");
    is_int(f.cores, 16, "override: cores 16");
    is_dbl(f.mem_gb, 3, "override: memory 3 GB");
    is_str(f.cores_from, "PARSL_CORES", "override: cores come from PARSL_CORES");
    is_str(f.mem_from, "PARSL_MEMORY_GB", "override: memory comes from PARSL_MEMORY_GB");
    is_int(f.ncpus, 2, "override: the CPU list stays the real one");
    struct cp__pool_layout *l = mk((struct cp__pool_settings){0}, f, &err);
    is_int(l ? cp__pool_layout_workers(l) : -1, 16, "override: 16 workers on a 2-CPU node");
    cp__pool_layout_free(l);
    l = mk((struct cp__pool_settings){.mem_per_worker = 1}, f, &err);
    is_int(l ? cp__pool_layout_workers(l) : -1, 3, "override: 3 GB / 1 GB = 3 workers");
    cp__pool_layout_free(l);
    l = mk((struct cp__pool_settings){.cpu_affinity = "block"}, f, &err);
    ok(!l, "override: 16 workers cannot be pinned to 2 CPUs");
    like(err.text, "cpu_affinity block needs at least one CPU per worker: the pool may use 2 "
         "CPUs (0-1) and has 16 workers", "override: the pinning error names the numbers");
    cp__pool_layout_free(l);
    ok(cp__node_facts_override(&f, " 6 ", "2.5", &err) == 0 && f.cores == 6 && f.mem_gb == 2.5,
       "override: spaces around a number are fine (Python's int())");

    static const char *const bad_cores[] = {"abc", "0", "-2", "4x", "2.5", "99999999999", NULL};
    for (size_t i = 0; bad_cores[i]; i++) {
        char want[80];
        snprintf(want, sizeof want, "PARSL_CORES must be a whole number of cores from 1 to "
                 "65536, got '%s'", bad_cores[i]);
        ok(cp__node_facts_override(&f, bad_cores[i], NULL, &err) == -1 && f.cores == 6,
           "override: PARSL_CORES=%s refused, facts unchanged", bad_cores[i]);
        like(err.text, want, "override: the error names PARSL_CORES and '%s'", bad_cores[i]);
    }
    static const char *const bad_mem[] = {"x", "0", "-1", "inf", "nan", "1e400", "2GB", NULL};
    for (size_t i = 0; bad_mem[i]; i++) {
        char want[80];
        snprintf(want, sizeof want, "PARSL_MEMORY_GB must be a number of GB > 0, got '%s'",
                 bad_mem[i]);
        ok(cp__node_facts_override(&f, "3", bad_mem[i], &err) == -1 && f.cores == 6 &&
           f.mem_gb == 2.5, "override: PARSL_MEMORY_GB=%s refused, facts unchanged",
           bad_mem[i]);
        like(err.text, want, "override: the error names PARSL_MEMORY_GB and '%s'", bad_mem[i]);
    }
}

static void test_meminfo(void)
{
    double avail = 0, total = 0;
    ok(cp__node_facts_parse_meminfo("MemTotal:       16777216 kB\nMemFree:  1 kB\n"
                                    "MemAvailable:    8388608 kB\nBuffers: 5 kB\n", &avail,
                                    &total, NULL) == 0, "meminfo: parsed");
    is_dbl(avail, 8, "meminfo: MemAvailable 8 GiB");
    is_dbl(total, 16, "meminfo: MemTotal 16 GiB");
    ok(cp__node_facts_parse_meminfo("MemTotal: 4194304 kB\nMemFree: 1048576 kB\n"
                                    "Buffers: 524288 kB\nCached: 524288 kB\n", &avail, &total,
                                    NULL) == 0, "meminfo: old kernel parsed");
    is_dbl(avail, 2, "meminfo: without MemAvailable, MemFree + Buffers + Cached");
    cp_err err = {0};
    ok(cp__node_facts_parse_meminfo("nothing here\n", &avail, &total, &err) == -1,
       "meminfo: garbage refused");
    like(err.text, "no MemAvailable", "meminfo: the error says what is missing");
}

static void test_detect(void)
{
    unsetenv("PARSL_CORES");
    unsetenv("PARSL_MEMORY_GB");
    struct cp__node_facts f;
    cp_err err = {0};
    ok(cp__node_facts_detect(&f, &err) == 0, "detect: works%s%s", *err.text ? ": " : "",
       err.text);
    cpu_set_t set;
    CPU_ZERO(&set);
    sched_getaffinity(0, sizeof set, &set);
    is_int(f.ncpus, CPU_COUNT(&set), "detect: the CPU list is sched_getaffinity's");
    bool sorted = true, same = true;
    for (size_t i = 0; i < f.ncpus; i++) {
        sorted = sorted && (i == 0 || f.cpus[i - 1] < f.cpus[i]);
        same = same && CPU_ISSET(f.cpus[i], &set);
    }
    ok(sorted && same, "detect: sorted, and each one is allowed (%s)",
       set_text(f.cpus, f.ncpus));
    is_int(f.cores, (long long)f.ncpus, "detect: cores = the allowed CPUs");
    ok(f.mem_gb > 0 && f.mem_total_gb >= f.mem_gb, "detect: memory %g GB available of %g",
       f.mem_gb, f.mem_total_gb);
    is_dbl(f.mem_gb * 10, (double)(long long)(f.mem_gb * 10 + 0.5),
           "detect: available memory rounded to 0.1 GB like Parsl");
    like(f.mem_from, "/proc/meminfo", "detect: memory from /proc/meminfo");
    cp__node_facts_clear(&f);

    setenv("PARSL_CORES", "3", 1);
    setenv("PARSL_MEMORY_GB", "5.5", 1);
    ok(cp__node_facts_detect(&f, &err) == 0 && f.cores == 3 && f.mem_gb == 5.5,
       "detect: PARSL_CORES=3 PARSL_MEMORY_GB=5.5 from the environment");
    struct cp__pool_layout *l = cp__pool_layout_make(&(struct cp__pool_settings){
                                                         .mem_per_worker = 2}, &f, "p", "0",
                                                     &err);
    is_int(l ? cp__pool_layout_workers(l) : -1, 2, "detect: 5.5 GB / 2 GB = 2 workers");
    cp__pool_layout_free(l);
    cp__node_facts_clear(&f);
    setenv("PARSL_CORES", "lots", 1);
    ok(cp__node_facts_detect(&f, &err) == -1, "detect: PARSL_CORES=lots refused");
    like(err.text, "PARSL_CORES must be a whole number of cores from 1 to 65536, got 'lots'",
         "detect: the error names the variable and value");
    cp__node_facts_clear(&f);
    unsetenv("PARSL_CORES");
    setenv("PARSL_MEMORY_GB", "-4", 1);
    ok(cp__node_facts_detect(&f, &err) == -1, "detect: PARSL_MEMORY_GB=-4 refused");
    like(err.text, "PARSL_MEMORY_GB must be a number of GB > 0, got '-4'",
         "detect: the error names the variable and value");
    cp__node_facts_clear(&f);
    unsetenv("PARSL_MEMORY_GB");
}

/* ------------------------------------------------------------ cpu_affinity */

static const struct aff_case {
    size_t ncpus;
    int workers;
    const char *mode;
    const char *want;
} aff_cases[] = {
    {8, 2, "none", "-|-"},
    {8, 3, "none", "-|-|-"},
    {8, 4, "none", "-|-|-|-"},
    {8, 2, "block", "0,1,2,3|4,5,6,7"},
    {8, 3, "block", "0,1|2,3|4,5"},
    {8, 4, "block", "0,1|2,3|4,5|6,7"},
    {8, 2, "block-reverse", "4,5,6,7|0,1,2,3"},
    {8, 3, "block-reverse", "4,5|2,3|0,1"},
    {8, 4, "block-reverse", "6,7|4,5|2,3|0,1"},
    {8, 2, "alternating", "0,2,4,6|1,3,5,7"},
    {8, 3, "alternating", "0,3,6|1,4,7|2,5"},
    {8, 4, "alternating", "0,4|1,5|2,6|3,7"},
    {8, 2, "list:0-3:4-7", "0,1,2,3|4,5,6,7"},
    {8, 3, "list:7,0:1-2:3", "7,0|1,2|3"},
    {8, 4, "list:0:1:2:3-7", "0|1|2|3,4,5,6,7"},
    {6, 2, "none", "-|-"},
    {6, 3, "none", "-|-|-"},
    {6, 4, "none", "-|-|-|-"},
    {6, 2, "block", "0,1,2|3,4,5"},
    {6, 3, "block", "0,1|2,3|4,5"},
    {6, 4, "block", "0|1|2|3"},
    {6, 2, "block-reverse", "3,4,5|0,1,2"},
    {6, 3, "block-reverse", "4,5|2,3|0,1"},
    {6, 4, "block-reverse", "3|2|1|0"},
    {6, 2, "alternating", "0,2,4|1,3,5"},
    {6, 3, "alternating", "0,3|1,4|2,5"},
    {6, 4, "alternating", "0,4|1,5|2|3"},
    {6, 2, "list:0-2:3-5", "0,1,2|3,4,5"},
    {6, 3, "list:0,5:1,4:2,3", "0,5|1,4|2,3"},
    {6, 4, "list:0:1:2:3,4,5", "0|1|2|3,4,5"},
};

static void test_modes(void)
{
    for (size_t i = 0; i < sizeof aff_cases / sizeof aff_cases[0]; i++) {
        const struct aff_case *c = &aff_cases[i];
        cp_err err = {0};
        struct cp__pool_layout *l = mk((struct cp__pool_settings){
                                           .max_workers_per_node = c->workers,
                                           .cpu_affinity = c->mode}, node(c->ncpus, 16), &err);
        is_str(l ? lists(l) : err.text, c->want, "affinity: %s, %zu CPUs, %d workers", c->mode,
               c->ncpus, c->workers);
        cp__pool_layout_free(l);
    }
    /* A zeroed struct means none. */
    struct cp__pool_layout *l = mk((struct cp__pool_settings){.max_workers_per_node = 2},
                                   node(8, 16), NULL);
    is_str(l ? lists(l) : NULL, "-|-", "affinity: unset is none");
    is_str(l ? cp__pool_layout_affinity(l) : NULL, "none", "affinity: reported as none");
    cp__pool_layout_free(l);
    /* Parsl lower-cases the mode. */
    l = mk((struct cp__pool_settings){.max_workers_per_node = 2, .cpu_affinity = "Alternating"},
           node(8, 16), NULL);
    is_str(l ? lists(l) : NULL, "0,2,4,6|1,3,5,7", "affinity: 'Alternating' is alternating");
    is_str(l ? cp__pool_layout_affinity(l) : NULL, "alternating", "affinity: named in lower case");
    cp__pool_layout_free(l);
}

/* A node whose allowed CPUs have gaps, as in a cpuset or one hyperthread each. */
static void test_gaps(void)
{
    static const struct {
        int workers;
        const char *mode, *want;
    } cases[] = {
        {2, "block", "0,2|4,6"},
        {2, "block-reverse", "4,6|0,2"},
        {2, "alternating", "0,4|2,6"},
        {3, "block", "0|2|4"},
        {3, "block-reverse", "4|2|0"},
        {3, "alternating", "0,6|2|4"},
        {4, "block", "0|2|4|6"},
        {2, "list:6,0:2,4", "6,0|2,4"},
    };
    int unsorted[] = {6, 0, 4, 2, 4};     /* hand-written facts: sorted and deduplicated */
    struct cp__node_facts f = {.cpus = unsorted, .ncpus = 5, .cores = 4, .mem_gb = 8};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cp_err err = {0};
        struct cp__pool_layout *l = mk((struct cp__pool_settings){
                                           .max_workers_per_node = cases[i].workers,
                                           .cpu_affinity = cases[i].mode}, f, &err);
        is_str(l ? lists(l) : err.text, cases[i].want, "gaps {0,2,4,6}: %s, %d workers",
               cases[i].mode, cases[i].workers);
        cp__pool_layout_free(l);
    }
    cp_err err = {0};
    struct cp__pool_layout *l = mk((struct cp__pool_settings){.max_workers_per_node = 2,
                                                              .cpu_affinity = "list:0,1:3"},
                                   f, &err);
    ok(!l, "gaps: list: naming CPU 1 refused");
    like(err.text, "cpu_affinity 'list:0,1:3': worker 0 names CPU 1, which this pool may not "
         "use (allowed: 0,2,4,6)", "gaps: the error names the CPU and the allowed set");
    cp__pool_layout_free(l);
}

static void test_list_syntax(void)
{
    static const char *const good[] = {NULL, "none", "block", "block-reverse", "alternating",
                                       "list:0", "list:0-3,8:4-7", "list:65535", "Block",
                                       "BLOCK-REVERSE", "LIST:0:1", NULL};
    for (size_t i = 0; i < sizeof good / sizeof good[0] - 1; i++) {
        cp_err err = {0};
        ok(cp__cpu_affinity_check(good[i], &err) == 0, "syntax: '%s' is fine",
           good[i] ? good[i] : "(null)");
    }
    static const struct {
        const char *text, *want;
    } bad[] = {
        {"list", "cpu_affinity must be none, block, block-reverse, alternating or "
                 "list:<cpus>:<cpus>… (one CPU list per worker, like list:0-3:4-7), got 'list'"},
        {"list:", "worker 0's CPU list is empty"},
        {"list:0-3:", "worker 1's CPU list is empty"},
        {"list:0::1", "worker 1's CPU list is empty"},
        {"list:0-3,x:4", "cpu_affinity 'list:0-3,x:4': worker 0: 'x' is not a CPU number or "
                         "range (like 4 or 0-3, at most 65535)"},
        {"list:3-1", "worker 0: range 3-1 runs backwards (write 1-3)"},
        {"list:0:0,0", "worker 1 names CPU 0 twice"},
        {"list:0-1,1-2", "worker 0 names CPU 1 twice"},
        {"list:0,", "worker 0's list ends with ','"},
        {"list:,0", "worker 0: '' is not a CPU number"},
        {"list:-1", "worker 0: '-1' is not a CPU number"},
        {"list:0 ,1", "worker 0: '0 ' is not a CPU number"},
        {"list:1-", "worker 0: '1-' is not a CPU number"},
        {"list:1-2-3", "worker 0: '1-2-3' is not a CPU number"},
        {"list:65536", "worker 0: CPU 65536 is beyond the largest CPU number handled (65535)"},
        {"list:00000001", "'00000001' is not a CPU number"},
        {"blok", "got 'blok' (did you mean 'block'?)"},
        {"Blok", "got 'Blok' (did you mean 'block'?)"},
        {"alternate", "(did you mean 'alternating'?)"},
        {"block_reverse", "(did you mean 'block-reverse'?)"},
        {"compact", "got 'compact'"},
        {"", "got ''"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cp_err err = {0};
        ok(cp__cpu_affinity_check(bad[i].text, &err) == -1 && err.code == EINVAL,
           "syntax: '%s' refused", bad[i].text);
        like(err.text, bad[i].want, "syntax: '%s' says what is wrong", bad[i].text);
    }
    /* Checks only the node can do. */
    cp_err err = {0};
    struct cp__pool_layout *l = mk((struct cp__pool_settings){.max_workers_per_node = 2,
                                                              .cpu_affinity = "list:0:1:2"},
                                   node(8, 16), &err);
    ok(!l, "list: 3 lists for 2 workers refused");
    like(err.text, "cpu_affinity 'list:0:1:2' gives 3 CPU lists but the pool has 2 workers",
         "list: the count error names both numbers");
    l = mk((struct cp__pool_settings){.max_workers_per_node = 2, .cpu_affinity = "list:0:9"},
           node(8, 16), &err);
    ok(!l, "list: CPU 9 on an 8-CPU node refused");
    like(err.text, "worker 1 names CPU 9, which this pool may not use (allowed: 0-7)",
         "list: the error names the CPU and the allowed set");
    l = mk((struct cp__pool_settings){.cores_per_worker = 0.5, .cpu_affinity = "list:0:0:1:1"},
           node(2, 16), &err);
    ok(!l, "list: 4 workers on 2 CPUs refused, as Parsl asserts for every mode");
    like(err.text, "cpu_affinity list needs at least one CPU per worker: the pool may use 2 CPUs "
         "(0-1) and has 4 workers", "list: the error names the numbers");
    l = mk((struct cp__pool_settings){.cpu_affinity = "blok"}, node(8, 16), &err);
    ok(!l, "make: a bad mode refused");
    like(err.text, "did you mean 'block'?", "make: with a hint");
    struct cp__node_facts none = node(0, 16);
    none.cores = 2;
    l = mk((struct cp__pool_settings){.cpu_affinity = "block"}, none, &err);
    ok(!l, "make: pinning with no allowed CPUs refused");
    like(err.text, "the pool may use 0 CPUs (none) and has 2 workers", "make: says so");
}

/* ------------------------------------------------------------ env, accelerators */

static void test_env(void)
{
    cp_err err = {0};
    struct cp__pool_layout *l = mk((struct cp__pool_settings){.cpu_affinity = "block",
                                                              .naccelerators = 2},
                                   node(8, 16), &err);
    is_int(l ? cp__pool_layout_workers(l) : -1, 2, "env: 2 accelerators, 2 workers");
    is_str(l ? joined(cp__pool_layout_env(l, 1)) : err.text,
           "PARSL_WORKER_RANK=1;PARSL_WORKER_COUNT=2;PARSL_WORKER_POOL_ID=pool-a;"
           "PARSL_WORKER_BLOCK_ID=7;OMP_NUM_THREADS=4;GOMP_CPU_AFFINITY=4,5,6,7;"
           "KMP_AFFINITY=explicit,proclist=[4,5,6,7];CUDA_VISIBLE_DEVICES=1;"
           "ROCR_VISIBLE_DEVICES=1;ZE_AFFINITY_MASK=1;ZE_ENABLE_PCI_ID_DEVICE_ORDER=1",
           "env: worker 1, pinned, with accelerator 1");
    is_str(l ? cp__pool_layout_accelerator(l, 0) : NULL, "0", "env: worker 0 has '0'");
    ok(l && !cp__pool_layout_env(l, 2) && !cp__pool_layout_accelerator(l, -1),
       "env: out of range gives NULL");
    cpu_set_t set;
    ok(l && cp__pool_layout_cpuset(l, 1, &set, &err) == 0 && CPU_COUNT(&set) == 4 &&
       CPU_ISSET(4, &set) && CPU_ISSET(7, &set) && !CPU_ISSET(3, &set),
       "cpuset: worker 1 is {4,5,6,7}");
    ok(l && cp__pool_layout_cpuset(l, 5, &set, &err) == -1 && err.code == EINVAL,
       "cpuset: no worker 5");
    cp__pool_layout_free(l);

    l = mk((struct cp__pool_settings){.max_workers_per_node = 3}, node(8, 16), &err);
    is_str(l ? joined(cp__pool_layout_env(l, 2)) : err.text,
           "PARSL_WORKER_RANK=2;PARSL_WORKER_COUNT=3;PARSL_WORKER_POOL_ID=pool-a;"
           "PARSL_WORKER_BLOCK_ID=7", "env: unpinned, no accelerator: the four PARSL_ vars");
    ok(l && !cp__pool_layout_accelerator(l, 0), "env: no accelerator");
    size_t n = 9;
    ok(l && !cp__pool_layout_cpus(l, 0, &n) && n == 0, "env: unpinned has no CPU list");
    ok(l && cp__pool_layout_cpuset(l, 0, &set, &err) == -1 && err.code == ENOENT,
       "cpuset: an unpinned worker has none");
    cp__pool_layout_free(l);

    static const char *const names[] = {"gpu-a", "0,1", "gpu-a", NULL};
    l = mk((struct cp__pool_settings){.accelerators = names, .naccelerators = 3},
           node(8, 16), &err);
    is_int(l ? cp__pool_layout_workers(l) : -1, 3, "accelerators: 3 names, 3 workers");
    is_str(l ? joined(cp__pool_layout_env(l, 1)) : err.text,
           "PARSL_WORKER_RANK=1;PARSL_WORKER_COUNT=3;PARSL_WORKER_POOL_ID=pool-a;"
           "PARSL_WORKER_BLOCK_ID=7;CUDA_VISIBLE_DEVICES=0,1;ROCR_VISIBLE_DEVICES=0,1;"
           "ZE_AFFINITY_MASK=0,1;ZE_ENABLE_PCI_ID_DEVICE_ORDER=1",
           "accelerators: a name with a comma gives a worker two devices");
    is_str(l ? cp__pool_layout_accelerator(l, 2) : NULL, "gpu-a",
           "accelerators: a repeated name shares a device");
    cp__pool_layout_free(l);
    l = mk((struct cp__pool_settings){.naccelerators = 4, .max_workers_per_node = 2},
           node(8, 16), &err);
    is_str(l ? cp__pool_layout_accelerator(l, 1) : NULL, "1",
           "accelerators: fewer workers than devices use the first ones");
    cp__pool_layout_free(l);
    static const char *const bad1[] = {"0", "", NULL}, *const bad2[] = {"0\n1", NULL};
    l = mk((struct cp__pool_settings){.accelerators = bad1, .naccelerators = 2}, node(8, 16),
           &err);
    ok(!l, "accelerators: an empty name refused");
    like(err.text, "available_accelerators[1] must be a device name", "accelerators: says so");
    l = mk((struct cp__pool_settings){.accelerators = bad2, .naccelerators = 1}, node(8, 16),
           &err);
    ok(!l, "accelerators: a control character refused");
    like(err.text, "available_accelerators[0] has a control character", "accelerators: says so");
    struct cp__node_facts f = node(8, 16);
    ok(!cp__pool_layout_make(&(struct cp__pool_settings){0}, &f, NULL, "0", &err),
       "make: a pool id is required");
}

/* ------------------------------------------------------------ settings from YAML */

static const char *const exec_keys[] = {"label", "type", "provider", NULL};
static const char *const where = "executor 'htex' (high_throughput)";

static int parse(const char *yaml, struct cp__pool_settings *s, cp_err *err)
{
    struct cp__ydoc *doc = cp__ydoc_load_mem("pool.yaml", yaml, strlen(yaml), err);
    if (!doc)
        return -2;
    int rc = cp__pool_settings_parse(doc->root, exec_keys, where, s, err);
    cp__ydoc_free(doc);     /* the settings must not borrow from the document */
    return rc;
}

static void test_yaml(void)
{
    struct cp__pool_settings s;
    cp_err err = {0};
    ok(parse("label: htex\ntype: high_throughput\ncores_per_worker: 0.5\nmem_per_worker: 2\n"
             "max_workers_per_node: 16\ncpu_affinity: list:0-3,8:4-7\n"
             "available_accelerators: [\"0\", 1, \"0,1\"]\nprovider: {type: local}\n", &s,
             &err) == 0, "yaml: every key (%s)", err.text);
    is_dbl(s.cores_per_worker, 0.5, "yaml: cores_per_worker");
    is_dbl(s.mem_per_worker, 2, "yaml: mem_per_worker");
    is_int(s.max_workers_per_node, 16, "yaml: max_workers_per_node");
    is_str(s.cpu_affinity, "list:0-3,8:4-7", "yaml: cpu_affinity");
    is_int(s.naccelerators, 3, "yaml: three accelerators");
    ok(s.accelerators && strcmp(s.accelerators[0], "0") == 0 &&
       strcmp(s.accelerators[1], "1") == 0 && strcmp(s.accelerators[2], "0,1") == 0 &&
       !s.accelerators[3], "yaml: their names, NULL-terminated");
    cp__pool_settings_clear(&s);
    ok(s.owned == NULL && s.naccelerators == 0, "yaml: clear zeroes");

    ok(parse("available_accelerators: 4\ncpu_affinity: block\nmax_workers_per_node: .inf\n",
             &s, &err) == 0 && s.naccelerators == 4 && !s.accelerators &&
       s.max_workers_per_node == 0, "yaml: a count of accelerators, .inf workers");
    struct cp__node_facts f = node(8, 16);
    struct cp__pool_layout *l = cp__pool_layout_make(&s, &f, "p", "0", &err);
    is_str(l ? lists(l) : err.text, "0,1|2,3|4,5|6,7", "yaml: parsed settings make a layout");
    cp__pool_layout_free(l);
    cp__pool_settings_clear(&s);
    ok(parse("cpu_affinity: ~\ncores_per_worker: null\navailable_accelerators: []\n", &s,
             &err) == 0 && !s.cpu_affinity && s.cores_per_worker == 0 && s.naccelerators == 0,
       "yaml: nulls and [] are the defaults");
    cp__pool_settings_clear(&s);
    ok(cp__pool_settings_parse(NULL, NULL, NULL, &s, &err) == 0 && s.cores_per_worker == 0,
       "yaml: no mapping is all defaults");

    static const struct {
        const char *yaml, *want;
    } bad[] = {
        {"cores_per_workr: 1\n", "pool.yaml:1:1: unknown key 'cores_per_workr' in executor "
                                 "'htex' (high_throughput) (did you mean 'cores_per_worker'?)"},
        {"label: x\nprovder: {}\n", "pool.yaml:2:1: unknown key 'provder' in executor 'htex' "
                                    "(high_throughput) (did you mean 'provider'?)"},
        {"cores_per_worker: 0\n", "pool.yaml:1:19: cores_per_worker must be a number > 0, "
                                  "got '0'"},
        {"cores_per_worker: -1\n", "pool.yaml:1:19: cores_per_worker must be a number > 0"},
        {"cores_per_worker: .inf\n", "pool.yaml:1:19: cores_per_worker must be a number > 0"},
        {"cores_per_worker: lots\n", "pool.yaml:1:19: cores_per_worker must be a number, got "
                                     "'lots'"},
        {"mem_per_worker: -2\n", "pool.yaml:1:17: mem_per_worker must be a number >= 0, got "
                                 "'-2'"},
        {"max_workers_per_node: 0\n", "pool.yaml:1:23: max_workers_per_node must be a whole "
                                      "number >= 1 (or .inf for no limit), got '0'"},
        {"max_workers_per_node: 2.5\n", "pool.yaml:1:23: max_workers_per_node must be a whole"},
        {"max_workers_per_node: [1]\n", "pool.yaml:1:23: max_workers_per_node must be a whole "
                                        "number >= 1 (or .inf for no limit), got a list"},
        {"cpu_affinity: blok\n", "pool.yaml:1:15: cpu_affinity must be none, block, "
                                 "block-reverse, alternating or list:"},
        {"cpu_affinity: blok\n", "got 'blok' (did you mean 'block'?)"},
        {"cpu_affinity: list:0-3:x\n", "pool.yaml:1:15: cpu_affinity 'list:0-3:x': worker 1: "
                                       "'x' is not a CPU number"},
        {"cpu_affinity: [block]\n", "pool.yaml:1:15: cpu_affinity must be a string"},
        {"available_accelerators: -1\n", "pool.yaml:1:25: available_accelerators must be a "
                                         "count from 0 to 16384 or a list of device names, "
                                         "got '-1'"},
        {"available_accelerators: \"0,1\"\n", "pool.yaml:1:25: available_accelerators must be "
                                              "a count or a list of device names (like [\"0\", "
                                              "\"1\"]), got '0,1'"},
        {"available_accelerators: [0, {a: 1}]\n", "pool.yaml:1:29: available_accelerators[1] "
                                                  "must be a device name or number, got a "
                                                  "mapping"},
        {"available_accelerators: [\"\"]\n", "pool.yaml:1:26: available_accelerators[0] must "
                                              "be a device name of 1 to 256 characters"},
        {"- 1\n", "pool.yaml:1:1: executor 'htex' (high_throughput) must be a mapping, got a "
                  "list"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&err, 0, sizeof err);
        ok(parse(bad[i].yaml, &s, &err) == -1 && !s.owned, "yaml: refused: %.*s",
           (int)strcspn(bad[i].yaml, "\n"), bad[i].yaml);
        like(err.text, bad[i].want, "yaml: error for %.*s", (int)strcspn(bad[i].yaml, "\n"),
             bad[i].yaml);
    }
    ok(parse("label: x\n", &s, &err) == 0, "yaml: the caller's keys are allowed");
    cp__pool_settings_clear(&s);
}

/* ------------------------------------------------------------ real pinning */

/* Forks a child that applies worker i's affinity and reports, through a pipe, the
 * CPUs sched_getaffinity then shows it ("1,3"), or "error <errno>". */
static const char *child_sees(const struct cp__pool_layout *l, int i)
{
    static char buf[512];
    int fd[2];
    buf[0] = '\0';
    if (pipe(fd) != 0)
        return "pipe failed";
    pid_t pid = fork();
    if (pid == 0) {
        close(fd[0]);
        char out[512];
        cpu_set_t set;
        if (cp__pool_layout_apply(l, i, NULL) != 0) {
            snprintf(out, sizeof out, "error %d", errno);
        } else {
            size_t used = 0;
            out[0] = '\0';
            CPU_ZERO(&set);
            sched_getaffinity(0, sizeof set, &set);
            for (int c = 0; c < CPU_SETSIZE; c++)
                if (CPU_ISSET(c, &set))
                    used += (size_t)snprintf(out + used, sizeof out - used, "%s%d",
                                             used ? "," : "", c);
        }
        ssize_t w = write(fd[1], out, strlen(out));
        _exit(w < 0);
    }
    close(fd[1]);
    size_t got = 0;
    ssize_t r;
    while (pid > 0 && (r = read(fd[0], buf + got, sizeof buf - 1 - got)) > 0)
        got += (size_t)r;
    buf[got] = '\0';
    close(fd[0]);
    int status;
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0)
        return "child failed";
    return buf;
}

static void test_real_pinning(void)
{
    struct cp__node_facts f;
    cp_err err = {0};
    if (cp__node_facts_detect(&f, &err) != 0) {
        ok(0, "real: detect (%s)", err.text);
        return;
    }
    if (f.ncpus < 2) {
        skip("real pinning needs at least 2 allowed CPUs; this process may use 1");
        cp__node_facts_clear(&f);
        return;
    }
    diag("real: this process may use CPUs %s", set_text(f.cpus, f.ncpus));
    size_t k = f.ncpus / 2;
    char list[64];
    snprintf(list, sizeof list, "list:%d:%d", f.cpus[f.ncpus - 1], f.cpus[0]);
    const char *modes[] = {"block", "block-reverse", "alternating", list};
    for (size_t m = 0; m < 4; m++) {
        struct cp__pool_settings s = {.max_workers_per_node = 2, .cpu_affinity = modes[m]};
        struct cp__pool_layout *l = cp__pool_layout_make(&s, &f, "real", "0", &err);
        ok(l != NULL, "real: %s layout%s%s", modes[m], l ? "" : ": ", l ? "" : err.text);
        for (int i = 0; l && i < 2; i++) {
            /* What the mode promises, computed here from the sorted list. */
            int want[1024];
            size_t nw = 0;
            for (size_t j = 0; j < f.ncpus; j++) {
                bool mine = m == 0 ? j / k == (size_t)i && j < 2 * k
                          : m == 1 ? j / k == (size_t)(1 - i) && j < 2 * k
                          : m == 2 ? j % 2 == (size_t)i
                                   : j == (i == 0 ? f.ncpus - 1 : 0);
                if (mine)
                    want[nw++] = f.cpus[j];
            }
            char wanted[512];
            snprintf(wanted, sizeof wanted, "%s", set_text(want, nw));
            is_str(child_sees(l, i), wanted, "real: %s worker %d is pinned to {%s}", modes[m], i,
                   wanted);
        }
        cp__pool_layout_free(l);
    }
    /* none leaves the child as the parent is. */
    struct cp__pool_layout *l = cp__pool_layout_make(&(struct cp__pool_settings){
                                                         .max_workers_per_node = 2}, &f, "r",
                                                     "0", &err);
    char all[512];
    snprintf(all, sizeof all, "%s", set_text(f.cpus, f.ncpus));
    is_str(l ? child_sees(l, 1) : NULL, all, "real: none leaves every allowed CPU");
    cp__pool_layout_free(l);
    /* A CPU the kernel does not have: the child's apply fails with EINVAL. */
    int fake[] = {f.cpus[0], 4000};
    struct cp__node_facts ff = {.cpus = fake, .ncpus = 2, .cores = 2, .mem_gb = 1};
    l = cp__pool_layout_make(&(struct cp__pool_settings){.max_workers_per_node = 2,
                                                         .cpu_affinity = "block"}, &ff, "r",
                             "0", &err);
    char einval[32];
    snprintf(einval, sizeof einval, "error %d", EINVAL);
    is_str(l ? child_sees(l, 1) : NULL, einval, "real: pinning to a CPU that is not there fails");
    cp_err aerr = {0};
    ok(l && cp__pool_layout_apply(l, 9, &aerr) == -1 && aerr.code == EINVAL,
       "real: apply to a worker that does not exist fails");
    cp__pool_layout_free(l);
    cp__node_facts_clear(&f);
}

int main(void)
{
    tap_start(60);
    test_counts();
    test_overrides();
    test_meminfo();
    test_detect();
    test_modes();
    test_gaps();
    test_list_syntax();
    test_env();
    test_yaml();
    test_real_pinning();
    return done_testing();
}
