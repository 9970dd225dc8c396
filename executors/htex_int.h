/* executors/htex_int.h — what htex.c (the running executor) and htex_config.c
 * (its settings, the pools' command line, --render-submit) share. Internal to
 * the high_throughput executor. */
#ifndef CP_EXECUTORS_HTEX_INT_H
#define CP_EXECUTORS_HTEX_INT_H

#include "common/err.h"
#include "common/yaml.h"
#include "executors/pool_layout.h"
#include "providers/provider.h"

struct htex_settings {
    struct cp__pool_settings pool;      /* owns its strings */
    char *address;                      /* NULL: 127.0.0.1 */
    int worker_port, port_min, port_max;
    int prefetch_capacity;
    double heartbeat_period, heartbeat_threshold, drain_period;
    double walltime_margin;             /* drain this long before the block's walltime */
    bool encrypted;
    char *app_library;                  /* for every pool (--app-library), or NULL */
    struct cp__provider_config provider;
};

/* The exec_types.h operations of the type, on struct htex_settings. */
int cp__htex_parse(const struct cp__ynode *map, void **out, cp_err *err);
void cp__htex_settings_free(void *p);
void cp__htex_describe(const void *p, char *buf, size_t n);
char *cp__htex_render_submit(const char *label, const void *p, cp_err *err);
/* Every key of the mapping (its own, then the pool's); static, NULL-terminated. */
const char *const *cp__htex_all_keys(void);

/* `address: auto`: this host's up IPv4 addresses, loopback last, comma-separated
 * (caller frees; NULL when memory runs out). */
char *cp__htex_auto_addresses(void);
/* The `parsl-worker …` command line of every pool (shell-quoted; caller frees;
 * NULL when memory runs out). port is text so --render-submit can show a
 * placeholder; resource_interval < 0: no resource samples. */
char *cp__htex_worker_cmd(const struct htex_settings *s, const char *address,
                          const char *port, const char *secret_path, double resource_interval);

#endif
