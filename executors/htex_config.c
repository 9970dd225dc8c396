/* executors/htex_config.c — the high_throughput executor's settings (its keys
 * and their checks), the command line its pools start with, and the script
 * `parsl-run --render-submit` shows; the running executor is htex.c. */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <limits.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "executors/exec_types.h"
#include "executors/htex_int.h"
#include "providers/launcher.h"

/* ------------------------------------------------------------ settings */

static const char *const own_keys[] = {
    "label", "type", "address", "worker_port", "worker_port_range", "prefetch_capacity",
    "heartbeat_period", "heartbeat_threshold", "encrypted", "drain_period",
    "walltime_margin", "worker_app_library", "provider", NULL,
};

void cp__htex_settings_free(void *p)
{
    struct htex_settings *s = p;
    if (!s)
        return;
    cp__pool_settings_clear(&s->pool);
    free(s->address);
    free(s->app_library);
    cp__provider_config_fini(&s->provider);
    free(s);
}

static int read_seconds(const struct cp__ynode *map, const char *key, double def, bool zero_ok,
                        double *out, cp_err *err)
{
    const struct cp__ynode *n = cp__ymap_get(map, key);
    *out = def;
    if (cp__ynode_is_null(n))
        return 0;
    if (cp__ynode_double(n, key, out, err) != 0)
        return -1;
    if (!(*out > 0 || (zero_ok && *out == 0)) || *out > 1e7)
        return cp__yerr(err, n, "%s must be a number of seconds %s 0 (and at most 10^7), "
                        "got '%s'", key, zero_ok ? ">=" : ">", n->str);
    return 0;
}

static int read_port(const struct cp__ynode *n, const char *key, int *out, cp_err *err)
{
    long v;
    if (cp__ynode_long(n, key, &v, err) != 0)
        return -1;
    if (v < 1 || v > 65535)
        return cp__yerr(err, n, "%s must be a TCP port from 1 to 65535, got '%s'", key, n->str);
    *out = (int)v;
    return 0;
}

static int parse_ports(const struct cp__ynode *map, struct htex_settings *s, cp_err *err)
{
    const struct cp__ynode *n = cp__ymap_get(map, "worker_port");
    if (!cp__ynode_is_null(n) && read_port(n, "worker_port", &s->worker_port, err) != 0)
        return -1;
    const struct cp__ynode *r = cp__ymap_get(map, "worker_port_range");
    if (cp__ynode_is_null(r))
        return 0;
    if (r->kind != CP_Y_SEQ || r->n != 2)
        return cp__yerr(err, r, "worker_port_range must be a list of two ports, [low, high]");
    if (read_port(r->kids[0], "worker_port_range[0]", &s->port_min, err) != 0 ||
        read_port(r->kids[1], "worker_port_range[1]", &s->port_max, err) != 0)
        return -1;
    if (s->port_min > s->port_max)
        return cp__yerr(err, r, "worker_port_range: the low port %d is above the high port %d",
                        s->port_min, s->port_max);
    if (s->worker_port)
        return cp__yerr(err, r, "give worker_port or worker_port_range, not both");
    return 0;
}

int cp__htex_parse(const struct cp__ynode *map, void **out, cp_err *err)
{
    struct htex_settings *s = calloc(1, sizeof *s);
    if (!s)
        return cp__errf(err, ENOMEM, "out of memory");
    s->encrypted = true;                /* Parsl's default since 2026-01 */
    const struct cp__ynode *n;
    if (cp__pool_settings_parse(map, own_keys, "high_throughput executor", &s->pool, err) != 0)
        goto error;
    if (!cp__ynode_is_null(n = cp__ymap_get(map, "address"))) {
        const char *a;
        if (cp__ynode_str(n, "address", &a, err) != 0 || !(s->address = strdup(a)))
            goto error;
    }
    if (parse_ports(map, s, err) != 0 ||
        read_seconds(map, "heartbeat_period", 30, false, &s->heartbeat_period, err) != 0 ||
        read_seconds(map, "heartbeat_threshold", 0, false, &s->heartbeat_threshold, err) != 0 ||
        read_seconds(map, "drain_period", 0, false, &s->drain_period, err) != 0 ||
        read_seconds(map, "walltime_margin", CP_WALLTIME_MARGIN, true, &s->walltime_margin,
                     err) != 0)
        goto error;
    if (s->heartbeat_threshold == 0)
        s->heartbeat_threshold = 2 * s->heartbeat_period;
    if (s->heartbeat_threshold < s->heartbeat_period) {
        cp__yerr(err, cp__ymap_get(map, "heartbeat_threshold"), "heartbeat_threshold (%g s) "
                 "must be at least heartbeat_period (%g s)", s->heartbeat_threshold,
                 s->heartbeat_period);
        goto error;
    }
    if (!cp__ynode_is_null(n = cp__ymap_get(map, "prefetch_capacity"))) {
        long v;
        if (cp__ynode_long(n, "prefetch_capacity", &v, err) != 0)
            goto error;
        if (v < 0 || v > 1 << 20) {
            cp__yerr(err, n, "prefetch_capacity must be from 0 to %d, got '%s'", 1 << 20, n->str);
            goto error;
        }
        s->prefetch_capacity = (int)v;
    }
    if (!cp__ynode_is_null(n = cp__ymap_get(map, "encrypted")) &&
        cp__ynode_bool(n, "encrypted", &s->encrypted, err) != 0)
        goto error;
    if (!cp__ynode_is_null(n = cp__ymap_get(map, "worker_app_library"))) {
        const char *a;
        if (cp__ynode_str(n, "worker_app_library", &a, err) != 0 ||
            !(s->app_library = strdup(a)))
            goto error;
    }
    n = cp__ymap_get(map, "provider");
    if (!cp__ynode_is_null(n)) {
        if (n->kind != CP_Y_MAP) {
            cp__yerr(err, n, "provider must be a mapping with a type (local, slurm, …)");
            goto error;
        }
        if (cp__provider_config_parse(n, "provider of a high_throughput executor", &s->provider,
                                      err) != 0)
            goto error;
    } else if (cp__provider_config_default(&cp__provider_local, &s->provider, err) != 0) {
        goto error;
    }
    if (s->provider.common.walltime > 0 && s->walltime_margin > 0 &&
        s->walltime_margin >= (double)s->provider.common.walltime &&
        !cp__ynode_is_null(cp__ymap_get(map, "walltime_margin"))) {
        cp__yerr(err, cp__ymap_get(map, "walltime_margin"), "walltime_margin (%g s) must be "
                 "shorter than the provider's walltime (%ld s): pools would take no work at all",
                 s->walltime_margin, s->provider.common.walltime);
        goto error;
    }
    *out = s;
    return 0;
error:
    if (!err || !err->text[0])
        cp__errf(err, ENOMEM, "out of memory");
    cp__htex_settings_free(s);
    return -1;
}

void cp__htex_describe(const void *p, char *buf, size_t n)
{
    const struct htex_settings *s = p;
    snprintf(buf, n, "high_throughput, provider %s, blocks %d..%d (init %d), %s",
             s->provider.type->name, s->provider.common.min_blocks,
             s->provider.common.max_blocks, s->provider.common.init_blocks,
             s->encrypted ? "encrypted" : "authenticated, not encrypted");
}

static char *worker_program(void)
{
    const char *env = getenv("CPARSL_WORKER");
    if (env && *env)
        return strdup(env);
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash) {
            *slash = '\0';
            char *cand = cp__strdup_printf("%s/parsl-worker", self);
            if (cand && access(cand, X_OK) == 0)
                return cand;
            free(cand);
        }
    }
    return strdup("parsl-worker");
}

/* Appends " --flag value" (value quoted) to *cmd; 0, or -1 when memory runs out. */
static int add_arg(char **cmd, const char *flag, const char *value)
{
    char *q = value ? cp__shell_quote(value) : NULL;
    if (value && !q)
        return -1;
    char *next = cp__strdup_printf("%s %s%s%s", *cmd, flag, q ? " " : "", q ? q : "");
    free(q);
    if (!next)
        return -1;
    free(*cmd);
    *cmd = next;
    return 0;
}

/* `address: auto`: every IPv4 address of this host's interfaces that are up,
 * loopback last, as the pools' --addresses list (they try them in order), so a
 * config need not know which interface a cluster's compute nodes reach. Caller
 * frees; NULL when memory runs out or nothing is up. */
char *cp__htex_auto_addresses(void)
{
    struct ifaddrs *ifs = NULL;
    if (getifaddrs(&ifs) != 0)
        return strdup("127.0.0.1");
    char *list = strdup("");
    for (int pass = 0; pass < 2 && list; pass++) {
        for (struct ifaddrs *i = ifs; i && list; i = i->ifa_next) {
            if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || !(i->ifa_flags & IFF_UP))
                continue;
            bool loop = (i->ifa_flags & IFF_LOOPBACK) != 0;
            if (loop != (pass == 1))
                continue;
            char ip[INET_ADDRSTRLEN];
            if (!inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)i->ifa_addr)->sin_addr, ip,
                           sizeof ip) || strstr(list, ip))
                continue;
            char *next = cp__strdup_printf("%s%s%s", list, *list ? "," : "", ip);
            free(list);
            list = next;
        }
    }
    freeifaddrs(ifs);
    if (list && !*list) {
        free(list);
        list = strdup("127.0.0.1");
    }
    return list;
}

double cp__htex_drain_after(double drain_period, double walltime, double margin)
{
    double drain = drain_period;
    if (walltime > 0 && margin > 0) {
        /* A short walltime keeps three quarters of it for work, whatever the margin. */
        double m = margin < walltime / 4 ? margin : walltime / 4;
        double before = walltime - m;
        if (drain <= 0 || before < drain)
            drain = before;
    }
    return drain;
}

char *cp__htex_worker_cmd(const struct htex_settings *s, const char *address,
                          const char *port, const char *secret_path, double resource_interval)
{
    char *prog = worker_program(), *cmd = prog ? cp__shell_quote(prog) : NULL;
    free(prog);
    if (!cmd)
        return NULL;
    char num[64];
    int rc = add_arg(&cmd, "--addresses", address);
    rc = rc ? rc : add_arg(&cmd, "--port", port);
    /* Pools run where the engine runs, whichever directory the scheduler (or
     * an ssh login) starts their job in: relative task paths mean the same. */
    char cwd[PATH_MAX];
    if (!rc && getcwd(cwd, sizeof cwd))
        rc = add_arg(&cmd, "--workdir", cwd);
    rc = rc ? rc : add_arg(&cmd, "--secret-file", secret_path);
    if (!rc && s->pool.cores_per_worker > 0) {
        snprintf(num, sizeof num, "%.17g", s->pool.cores_per_worker);
        rc = add_arg(&cmd, "--cores-per-worker", num);
    }
    if (!rc && s->pool.mem_per_worker > 0) {
        snprintf(num, sizeof num, "%.17g", s->pool.mem_per_worker);
        rc = add_arg(&cmd, "--mem-per-worker", num);
    }
    if (!rc && s->pool.max_workers_per_node > 0) {
        snprintf(num, sizeof num, "%d", s->pool.max_workers_per_node);
        rc = add_arg(&cmd, "--max-workers-per-node", num);
    }
    if (!rc && s->pool.cpu_affinity)
        rc = add_arg(&cmd, "--cpu-affinity", s->pool.cpu_affinity);
    if (!rc && s->pool.naccelerators) {
        char *list = NULL;
        if (!s->pool.accelerators) {
            list = cp__strdup_printf("%zu", s->pool.naccelerators);
        } else {
            list = strdup("");
            for (size_t i = 0; list && i < s->pool.naccelerators; i++) {
                char *l2 = cp__strdup_printf("%s%s%s", list, i ? ";" : "",
                                             s->pool.accelerators[i]);
                free(list);
                list = l2;
            }
        }
        rc = list ? add_arg(&cmd, "--available-accelerators", list) : -1;
        free(list);
    }
    if (!rc && s->prefetch_capacity) {
        snprintf(num, sizeof num, "%d", s->prefetch_capacity);
        rc = add_arg(&cmd, "--prefetch-capacity", num);
    }
    double drain = cp__htex_drain_after(s->drain_period, (double)s->provider.common.walltime,
                                        s->walltime_margin);
    if (!rc && drain > 0) {
        snprintf(num, sizeof num, "%.17g", drain);
        rc = add_arg(&cmd, "--drain-period", num);
    }
    if (!rc && s->encrypted)
        rc = add_arg(&cmd, "--encrypted", NULL);
    if (!rc && resource_interval >= 0) {
        snprintf(num, sizeof num, "%.17g", resource_interval);
        rc = add_arg(&cmd, "--resource-interval", num);
    }
    if (!rc && s->app_library)
        rc = add_arg(&cmd, "--app-library", s->app_library);
    if (rc) {
        free(cmd);
        return NULL;
    }
    return cmd;
}

/* A block's state as a row of the monitoring database's `block` table. */
/* What start_block would submit for block 0, with the run's own values as
 * placeholders: runinfo/NNN for the run directory, and the port when the
 * interchange picks it at start. */
char *cp__htex_render_submit(const char *label, const void *p, cp_err *err)
{
    const struct htex_settings *s = p;
    const struct cp__provider_common *c = &s->provider.common;
    bool any = s->address && strcmp(s->address, "auto") == 0;
    char *addrs = any ? cp__htex_auto_addresses() : strdup(s->address ? s->address : "127.0.0.1");
    char port[32];
    if (s->worker_port > 0)
        snprintf(port, sizeof port, "%d", s->worker_port);
    else
        snprintf(port, sizeof port, "PORT");
    char *dir = cp__strdup_printf("runinfo/NNN/%s", label);
    char *secret = dir ? cp__strdup_printf("%s/wire.secret", dir) : NULL;
    char *job_name = cp__strdup_printf("parsl.%s.block-0", label);
    char *worker = addrs && secret ? cp__htex_worker_cmd(s, addrs, port, secret, -1) : NULL;
    char *cmd = worker ? cp__strdup_printf("%s --block-id 0 --logdir %s/block-0", worker, dir)
                       : NULL;
    char *scripts = dir ? cp__strdup_printf("%s/submit_scripts", dir) : NULL;
    char *text = NULL, *script = NULL;
    if (!cmd || !scripts || !job_name)
        cp__errf(err, ENOMEM, "out of memory");
    else if ((text = cp__launcher_render(c->launcher, cmd, 1, c->nodes_per_block, scripts,
                                         job_name, err)))
        script = cp__provider_render(&s->provider, text, 1, job_name, NULL, err);
    free(addrs);
    free(dir);
    free(secret);
    free(job_name);
    free(worker);
    free(cmd);
    free(scripts);
    free(text);
    return script;
}

const char *const *cp__htex_all_keys(void)
{
    static const char *keys[64];
    if (!keys[0]) {
        size_t n = 0;
        for (size_t i = 0; own_keys[i]; i++)
            keys[n++] = own_keys[i];
        for (size_t i = 0; cp__pool_settings_keys[i] && n < 63; i++)
            keys[n++] = cp__pool_settings_keys[i];
        keys[n] = NULL;
    }
    return keys;
}

