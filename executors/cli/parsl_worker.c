/* executors/cli/parsl_worker.c — `parsl-worker`, the pool a provider starts on each
 * node of a block (executors/pool.h, docs/htex.md). This file reads the command
 * line and the secret; everything else is cp__pool_run.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cparsl.h"
#include "executors/pool.h"

static const char usage[] =
"usage: parsl-worker --addresses HOST[,HOST...] --port P [options]\n"
"\n"
"The worker pool of cparsl's high_throughput executor: connects to the interchange,\n"
"registers, and runs its tasks in worker processes until told to stop.\n"
"\n"
"  --addresses HOST[,HOST...]  interchange addresses, tried in order (required)\n"
"  --port P                    interchange port (required)\n"
"  --secret-file PATH          the run's secret (mode 0600); otherwise the\n"
"                              CPARSL_WIRE_SECRET environment variable (64 hex digits)\n"
"  --block-id B                the block this pool belongs to (default \"\")\n"
"  --pool-id ID                unique pool name (default HOSTNAME-PID-RANDOM)\n"
"  --cores-per-worker X        cores per worker (default 1; below 1 oversubscribes)\n"
"  --mem-per-worker GB         GB of memory per worker (default: memory does not limit)\n"
"  --max-workers-per-node N    at most N workers (default: unlimited)\n"
"  --cpu-affinity MODE         none | block | block-reverse | alternating | list:...\n"
"  --available-accelerators L  a count N (names 0..N-1), or names separated by ';'\n"
"                              (a name may hold commas: \"0,1;2,3\" gives two workers two\n"
"                              GPUs each; write one numeric name as \"4;\")\n"
"  --prefetch-capacity N       tasks queued beyond the workers (default 0)\n"
"  --drain-period S            after S seconds take no new work, finish, exit\n"
"  --workdir DIR               run in DIR (the engine's working directory) first\n"
"  --resource-interval S       sample each running task's CPU, memory and I/O every\n"
"                              S seconds and at its start and end (0: start and end)\n"
"  --encrypted                 ask for sealed frames\n"
"  --app-library LIB.so        shared library holding the native apps\n"
"  --logdir DIR                write DIR/pool-ID.log (level: CPARSL_LOG_LEVEL)\n"
"  --help                      this text\n"
"\n"
"PARSL_CORES and PARSL_MEMORY_GB override the detected node size.\n"
"Exit status: 0 after SHUTDOWN (or a drain), 1 on failure, 2 for bad arguments.\n";

static int bad(const char *fmt, const char *a, const char *b)
{
    fprintf(stderr, "parsl-worker: ");
    fprintf(stderr, fmt, a, b);
    fprintf(stderr, "\nTry 'parsl-worker --help'.\n");
    return CP_POOL_EXIT_USAGE;
}

static int num(const char *opt, const char *s, double lo, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < lo)
        return bad(lo > 0 ? "%s must be a number > 0, got '%s'"
                          : "%s must be a number >= 0, got '%s'", opt, s);
    if (lo > 0 && v <= 0)
        return bad("%s must be a number > 0, got '%s'", opt, s);
    *out = v;
    return 0;
}

static int whole(const char *opt, const char *s, long lo, long hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        char want[128];
        snprintf(want, sizeof want, "%%s must be a whole number from %ld to %ld, got '%%s'", lo, hi);
        return bad(want, opt, s);
    }
    *out = (int)v;
    return 0;
}

/* Splits s at sep into a NULL-terminated list of non-empty items (s is modified). */
static size_t split(char *s, const char *sep, const char **items, size_t max)
{
    size_t n = 0;
    for (char *save = NULL, *t = strtok_r(s, sep, &save); t && n < max;
         t = strtok_r(NULL, sep, &save))
        items[n++] = t;
    return n;
}

static int accelerators(char *s, struct cp__pool_settings *st, const char ***names)
{
    if (s[strspn(s, "0123456789")] == '\0' && *s) {
        int n;
        if (whole("--available-accelerators", s, 0, CP_POOL_MAX_ACCELERATORS, &n))
            return CP_POOL_EXIT_USAGE;
        st->naccelerators = (size_t)n;
        return 0;
    }
    *names = calloc(CP_POOL_MAX_ACCELERATORS, sizeof **names);
    if (!*names)
        return bad("%s%s", "out of memory", "");
    size_t n = split(s, ";", *names, CP_POOL_MAX_ACCELERATORS);
    for (size_t i = 0; i < n; i++) {
        cp_err err = {0};
        if (cp__accel_name_check((*names)[i], i, &err) != 0)
            return bad("--available-accelerators: %s%s", err.text, "");
    }
    st->accelerators = *names;
    st->naccelerators = n;
    return 0;
}

static int read_secret(const char *file, unsigned char secret[CP_WIRE_SECRET_LEN])
{
    cp_err err = {0};
    const char *env = getenv(CP_WIRE_SECRET_ENV);
    if (file) {
        if (cp__wire_secret_read(file, secret, &err) != 0)
            return bad("--secret-file %s: %s", file, err.text);
    } else if (env) {
        if (cp__wire_secret_parse(env, secret, &err) != 0)
            return bad("%s: %s", CP_WIRE_SECRET_ENV, err.text);
    } else {
        return bad("no secret: give --secret-file PATH or set %s%s", CP_WIRE_SECRET_ENV, "");
    }
    /* Workers and their tasks must not inherit it (docs/wire.md). */
    unsetenv(CP_WIRE_SECRET_ENV);
    return 0;
}

enum { O_ADDR = 256, O_PORT, O_SECRET, O_BLOCK, O_POOL, O_CPW, O_MPW, O_MAXW, O_AFF, O_ACC,
       O_PREFETCH, O_DRAIN, O_ENC, O_LIB, O_LOGDIR, O_RES, O_WORKDIR, O_HELP };

static const struct option longopts[] = {
    {"addresses", required_argument, 0, O_ADDR}, {"port", required_argument, 0, O_PORT},
    {"secret-file", required_argument, 0, O_SECRET}, {"block-id", required_argument, 0, O_BLOCK},
    {"pool-id", required_argument, 0, O_POOL}, {"cores-per-worker", required_argument, 0, O_CPW},
    {"mem-per-worker", required_argument, 0, O_MPW},
    {"max-workers-per-node", required_argument, 0, O_MAXW},
    {"cpu-affinity", required_argument, 0, O_AFF},
    {"available-accelerators", required_argument, 0, O_ACC},
    {"prefetch-capacity", required_argument, 0, O_PREFETCH},
    {"drain-period", required_argument, 0, O_DRAIN}, {"encrypted", no_argument, 0, O_ENC},
    {"app-library", required_argument, 0, O_LIB}, {"logdir", required_argument, 0, O_LOGDIR},
    {"resource-interval", required_argument, 0, O_RES},
    {"workdir", required_argument, 0, O_WORKDIR},
    {"help", no_argument, 0, O_HELP}, {0, 0, 0, 0},
};

/* One option into o; 0, CP_POOL_EXIT_USAGE, or -1 for --help. */
static const char *workdir;

static int option(int c, char *arg, struct cp__pool_opts *o, const char ***addrs,
                  const char ***accs, const char **secret_file)
{
    struct cp__pool_settings *st = &o->settings;
    cp_err err = {0};
    switch (c) {
    case O_ADDR:
        free(*addrs);
        if (!(*addrs = calloc(strlen(arg) / 2 + 2, sizeof **addrs)))
            return bad("%s%s", "out of memory", "");
        o->addresses = *addrs;
        if (!(o->naddresses = split(arg, ",", *addrs, strlen(arg) / 2 + 1)))
            return bad("--addresses needs at least one host%s%s", "", "");
        return 0;
    case O_PORT: return whole("--port", arg, 1, 65535, &o->port);
    case O_SECRET: *secret_file = arg; return 0;
    case O_BLOCK:
        if (strlen(arg) > 64)
            return bad("--block-id is at most 64 bytes, got '%.80s'%s", arg, "");
        o->block_id = arg;
        return 0;
    case O_POOL:
        if (!*arg || strlen(arg) > 128)
            return bad("--pool-id must have 1 to 128 bytes, got '%.140s'%s", arg, "");
        o->pool_id = arg;
        return 0;
    case O_CPW: return num("--cores-per-worker", arg, 1e-300, &st->cores_per_worker);
    case O_MPW: return num("--mem-per-worker", arg, 0, &st->mem_per_worker);
    case O_MAXW:
        if (strcmp(arg, "inf") == 0 || strcmp(arg, "unlimited") == 0)
            return st->max_workers_per_node = 0, 0;
        return whole("--max-workers-per-node", arg, 1, CP_POOL_MAX_WORKERS,
                     &st->max_workers_per_node);
    case O_AFF:
        if (cp__cpu_affinity_check(arg, &err) != 0)
            return bad("--cpu-affinity: %s%s", err.text, "");
        st->cpu_affinity = arg;
        return 0;
    case O_ACC: return accelerators(arg, st, accs);
    case O_PREFETCH: return whole("--prefetch-capacity", arg, 0, 1 << 20, &o->prefetch_capacity);
    case O_DRAIN: return num("--drain-period", arg, 1e-300, &o->drain_period);
    case O_ENC: o->encrypted = true; return 0;
    case O_LIB: o->app_library = arg; return 0;
    case O_LOGDIR: o->logdir = arg; return 0;
    case O_RES: return num("--resource-interval", arg, 0, &o->resource_interval);
    case O_WORKDIR: workdir = arg; return 0;
    case O_HELP: fputs(usage, stdout); return -1;
    default: return bad("%s%s", "unknown option", "");
    }
}

int main(int argc, char **argv)
{
    struct cp__pool_opts o = {.block_id = "", .resource_interval = -1};
    const char **addrs = NULL, **accs = NULL, *secret_file = NULL;
    int c, rc = 0;
    opterr = 0;
    while (rc == 0 && (c = getopt_long(argc, argv, "", longopts, NULL)) != -1)
        rc = c == '?' ? bad("unknown option or missing value: '%s'%s", argv[optind - 1], "")
                      : option(c, optarg, &o, &addrs, &accs, &secret_file);
    if (rc == 0 && optind < argc)
        rc = bad("unexpected argument '%s'%s", argv[optind], "");
    if (rc == 0 && !o.naddresses)
        rc = bad("--addresses is required%s%s", "", "");
    if (rc == 0 && !o.port)
        rc = bad("--port is required%s%s", "", "");
    /* First, so relative paths (the secret, the log, the tasks' files) mean what
     * they mean to the engine, wherever the scheduler started us. */
    if (rc == 0 && workdir && chdir(workdir) != 0)
        rc = bad("--workdir %s: %s (tasks must run in the engine's directory: keep it on a "
                 "filesystem this node shares)", workdir, strerror(errno));
    if (rc == 0 && o.app_library && access(o.app_library, R_OK) != 0)
        rc = bad("--app-library %s: %s", o.app_library, strerror(errno));
    if (rc == 0)
        rc = read_secret(secret_file, o.secret);
    if (rc == 0)
        rc = cp__pool_run(&o);
    free(addrs);
    free(accs);
    return rc < 0 ? 0 : rc;
}
