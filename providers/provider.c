/* providers/provider.c — what every provider shares: block state names, status
 * records, output tails, the all-blocks-failed text, walltimes, the shared
 * settings and the registry of types (see provider.h).
 *
 * Adding a provider type: its ops in its own file, declared in provider.h, and a
 * row in cp__provider_types[] below (off cp__provider_types_planned[]). Nothing
 * else here changes.
 */
#include "providers/provider.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cparsl.h"
#include "providers/launcher.h"

/* ------------------------------------------------------------ states */

static const char *const state_names[CP_BLOCK_NSTATES] = {
    "unknown", "pending", "running", "cancelled", "completed",
    "failed", "timeout", "held", "missing", "scaled_in",
};
static const char *const state_db_names[CP_BLOCK_NSTATES] = {
    "UNKNOWN", "PENDING", "RUNNING", "CANCELLED", "COMPLETED",
    "FAILED", "TIMEOUT", "HELD", "MISSING", "SCALED_IN",
};

const char *cp__block_state_name(enum cp__block_state s)
{
    return (unsigned)s < CP_BLOCK_NSTATES ? state_names[s] : "?";
}

const char *cp__block_state_db_name(enum cp__block_state s)
{
    return (unsigned)s < CP_BLOCK_NSTATES ? state_db_names[s] : "?";
}

int cp__block_state_parse(const char *name, enum cp__block_state *out)
{
    for (int i = 0; name && i < CP_BLOCK_NSTATES; i++)
        if (strcasecmp(name, state_names[i]) == 0) {
            *out = (enum cp__block_state)i;
            return 0;
        }
    return -1;
}

bool cp__block_state_terminal(enum cp__block_state s)
{
    switch (s) {
    case CP_BLOCK_CANCELLED:
    case CP_BLOCK_COMPLETED:
    case CP_BLOCK_FAILED:
    case CP_BLOCK_TIMEOUT:
    case CP_BLOCK_MISSING:
    case CP_BLOCK_SCALED_IN:
        return true;
    default:
        return false;
    }
}

void cp__block_status_clear(struct cp__block_status *st)
{
    if (!st)
        return;
    free(st->message);
    free(st->stdout_path);
    free(st->stderr_path);
    free(st->stdout_tail);
    free(st->stderr_tail);
    *st = (struct cp__block_status){.state = CP_BLOCK_UNKNOWN, .exit_code = -1};
}

void cp__block_status_clear_n(struct cp__block_status *st, size_t n)
{
    for (size_t i = 0; st && i < n; i++)
        cp__block_status_clear(&st[i]);
}

/* ------------------------------------------------------------ tails */

char *cp__provider_tail_text(char *buf, size_t len, bool cut, int max_lines)
{
    size_t n = len;
    while (n > 0 && (buf[n - 1] == ' ' || buf[n - 1] == '\t' || buf[n - 1] == '\r' ||
                     buf[n - 1] == '\n'))
        n--;
    size_t start = n;
    int lines = 0;
    while (start > 0 && !(buf[start - 1] == '\n' && ++lines == max_lines))
        start--;
    /* A tail cut by the byte limit starts mid-line; drop that fragment when a
     * whole line follows it. */
    if (start == 0 && cut) {
        char *nl = memchr(buf, '\n', n);
        if (nl)
            start = (size_t)(nl + 1 - buf);
    }
    for (size_t i = start; i < n; i++)
        if (buf[i] == '\0')
            buf[i] = '?';
    memmove(buf, buf + start, n - start);
    buf[n - start] = '\0';
    return buf;
}

/* Only the end of the file is read: a failing block may have written gigabytes. */
char *cp__provider_tail(const char *path, int max_lines, size_t max_bytes)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct stat st;
    char *buf = NULL;
    ssize_t n = 0;
    off_t off = 0;
    if (fstat(fd, &st) < 0)
        goto error;
    if (st.st_size > 0) {
        off = (size_t)st.st_size > max_bytes ? st.st_size - (off_t)max_bytes : 0;
        if (!(buf = malloc((size_t)(st.st_size - off) + 1)))
            goto error;
        if ((n = pread(fd, buf, (size_t)(st.st_size - off), off)) < 0)
            goto error;
    } else if (!(buf = malloc(1))) {
        goto error;
    }
    close(fd);
    return cp__provider_tail_text(buf, (size_t)n, off > 0, max_lines);

error:;
    int saved = errno;
    free(buf);
    close(fd);
    errno = saved;
    return NULL;
}

/* ------------------------------------------------------------ failure text */

/* Each line of text, indented, so a tail cannot be mistaken for the report's own
 * lines. */
static void put_indented(FILE *out, const char *text)
{
    while (*text) {
        size_t len = strcspn(text, "\n");
        fprintf(out, "    %.*s\n", (int)len, text);
        text += len + (text[len] == '\n');
    }
}

static void put_stream(FILE *out, const char *name, const char *path, const char *tail)
{
    if (!tail)
        return;
    fprintf(out, "  %s", name);
    if (path)
        fprintf(out, " (%s)", path);
    if (!*tail) {
        fputs(": empty\n", out);
        return;
    }
    fputs(":\n", out);
    put_indented(out, tail);
}

static void put_block(FILE *out, const struct cp__block_report *b)
{
    const struct cp__block_status *st = b->status;
    fprintf(out, "block %s", b->block_id ? b->block_id : "?");
    if (b->job_id)
        fprintf(out, " (job %s)", b->job_id);
    else
        fputs(" (not submitted)", out);
    if (!st) {
        fputs(": no status\n", out);
        return;
    }
    fprintf(out, ": %s", cp__block_state_name(st->state));
    if (st->exit_code >= 0)
        fprintf(out, ", exit code %d", st->exit_code);
    if (st->message && *st->message)
        fprintf(out, ": %s", st->message);
    fputc('\n', out);
    put_stream(out, "stdout", st->stdout_path, st->stdout_tail);
    put_stream(out, "stderr", st->stderr_path, st->stderr_tail);
}

char *cp__block_failure_text(const char *label, const struct cp__block_report *blocks,
                             size_t n)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    if (!out)
        return NULL;
    if (label)
        fprintf(out, "executor '%s': ", label);
    if (n == 1)
        fputs("its only block failed\n", out);
    else
        fprintf(out, "all %zu blocks failed\n", n);
    for (size_t i = 0; i < n && i < CP_BLOCK_REPORT_MAX; i++)
        put_block(out, &blocks[i]);
    if (n > CP_BLOCK_REPORT_MAX)
        fprintf(out, "... and %zu more blocks\n", n - CP_BLOCK_REPORT_MAX);
    if (fclose(out) != 0) {
        free(text);
        return NULL;
    }
    /* The last newline belongs between lines, not at the end of an error. */
    if (len > 0 && text[len - 1] == '\n')
        text[len - 1] = '\0';
    return text;
}

/* ------------------------------------------------------------ walltime */

/* Up to max decimal digits at *p (at least one) into *out. */
static bool digits(const char **p, unsigned long *out, int max)
{
    unsigned long v = 0;
    int n = 0;
    while (isdigit((unsigned char)**p) && n < max) {
        v = v * 10 + (unsigned long)(**p - '0');
        (*p)++;
        n++;
    }
    *out = v;
    return n > 0 && !isdigit((unsigned char)**p);
}

int cp__walltime_parse(const char *text, long *seconds)
{
    if (!text || !(isdigit((unsigned char)text[0]) || text[0] == '.'))
        return -1;
    if (!strchr(text, ':')) {
        char *end;
        errno = 0;
        double v = strtod(text, &end);
        if (*end || errno || !isfinite(v) || v <= 0 || v > 1e9)
            return -1;
        *seconds = (long)ceil(v);
        return 0;
    }
    /* Slurm's optional days, then Parsl's HH:MM:SS. */
    const char *p = text;
    unsigned long d = 0, hms[3];
    bool days = strchr(text, '-') != NULL;
    if (days && (!digits(&p, &d, 5) || *p++ != '-'))
        return -1;
    for (int i = 0; i < 3; i++)
        if ((i && *p++ != ':') || !digits(&p, &hms[i], i ? 2 : 7))
            return -1;
    if (*p || hms[1] > 59 || hms[2] > 59 || (days && hms[0] > 23))
        return -1;
    long total = (long)(((d * 24 + hms[0]) * 60 + hms[1]) * 60 + hms[2]);
    if (total <= 0)
        return -1;
    *seconds = total;
    return 0;
}

char *cp__walltime_hms(long seconds, char *buf, size_t n)
{
    if (seconds < 0)
        seconds = 0;
    snprintf(buf, n, "%02ld:%02ld:%02ld", seconds / 3600, seconds / 60 % 60, seconds % 60);
    return buf;
}

/* ------------------------------------------------------------ settings */

const char *const cp__provider_common_keys[] = {
    "type", "nodes_per_block", "init_blocks", "min_blocks", "max_blocks",
    "parallelism", "walltime", "worker_init", "launcher", "status_polling_interval", NULL,
};

#define MAX_BLOCKS 100000
#define MAX_NODES 1000000
#define MAX_KEYS 64

static int oom(cp_err *err)
{
    return cp__errf(err, ENOMEM, "out of memory");
}

static const char *kind_text(const struct cp__ynode *v)
{
    return v->kind == CP_Y_MAP ? "a mapping" : v->kind == CP_Y_SEQ ? "a list" : "a scalar";
}

static int read_int(const struct cp__ynode *v, const char *what, long lo, long hi, int *out,
                    cp_err *err)
{
    long l;
    if (cp__ynode_long(v, what, &l, err) != 0)
        return -1;
    if (l < lo || l > hi)
        return cp__yerr(err, v, "%s must be an integer from %ld to %ld, got '%s'", what, lo, hi,
                        v->str);
    *out = (int)l;
    return 0;
}

static int read_walltime(const struct cp__ynode *v, long *out, cp_err *err)
{
    if (v->kind == CP_Y_SCALAR && cp__walltime_parse(v->str, out) == 0)
        return 0;
    if (v->kind != CP_Y_SCALAR)
        return cp__yerr(err, v, "walltime must be \"HH:MM:SS\" or a number of seconds, got %s",
                        kind_text(v));
    return cp__yerr(err, v, "walltime must be \"HH:MM:SS\", \"D-HH:MM:SS\" or a number of "
                            "seconds > 0, got '%.100s'", v->str);
}

/* Any text without NULs (a block scalar is the usual way to write several lines). */
static int read_text(const struct cp__ynode *v, const char *what, char **out, cp_err *err)
{
    const char *s;
    if (cp__ynode_str(v, what, &s, err) != 0)
        return -1;
    if (strlen(s) != v->len)
        return cp__yerr(err, v, "%s must not contain NUL characters", what);
    char *dup = strdup(s);
    if (!dup)
        return oom(err);
    free(*out);
    *out = dup;
    return 0;
}

static int read_common(const struct cp__ynode *map, struct cp__provider_common *c,
                       cp_err *err)
{
    const struct cp__ynode *v;
#define GET(key) (!cp__ynode_is_null(v = cp__ymap_get(map, key)))
    if (GET("nodes_per_block") &&
        read_int(v, "nodes_per_block", 1, MAX_NODES, &c->nodes_per_block, err) != 0)
        return -1;
    if (GET("init_blocks") && read_int(v, "init_blocks", 0, MAX_BLOCKS, &c->init_blocks, err))
        return -1;
    if (GET("min_blocks") && read_int(v, "min_blocks", 0, MAX_BLOCKS, &c->min_blocks, err))
        return -1;
    if (GET("max_blocks") && read_int(v, "max_blocks", 1, MAX_BLOCKS, &c->max_blocks, err))
        return -1;
    if (GET("parallelism")) {
        double d;
        if (cp__ynode_double(v, "parallelism", &d, err) != 0)
            return -1;
        if (!(d >= 0 && d <= 1))
            return cp__yerr(err, v, "parallelism must be a number from 0 to 1, got '%s'",
                            v->str);
        c->parallelism = d;
    }
    if (GET("walltime") && read_walltime(v, &c->walltime, err) != 0)
        return -1;
    if (GET("status_polling_interval")) {
        double d;
        if (cp__ynode_double(v, "status_polling_interval", &d, err) != 0)
            return -1;
        if (!(d >= 0.1 && d <= 86400))
            return cp__yerr(err, v, "status_polling_interval must be a number of seconds from "
                                    "0.1 to 86400, got '%s'", v->str);
        c->status_polling_interval = d;
    }
    if (GET("worker_init") && read_text(v, "worker_init", &c->worker_init, err) != 0)
        return -1;
    if (GET("launcher")) {
        struct cp__launcher *l = cp__launcher_parse(v, "launcher", err);
        if (!l)
            return -1;
        cp__launcher_free(c->launcher);
        c->launcher = l;
    }
#undef GET
    /* Relations, reported at the key the user wrote (the other may be a default). */
    const struct cp__ynode *minn = cp__ymap_get(map, "min_blocks");
    const struct cp__ynode *maxn = cp__ymap_get(map, "max_blocks");
    const struct cp__ynode *initn = cp__ymap_get(map, "init_blocks");
    if (c->min_blocks > c->max_blocks)
        return cp__yerr(err, cp__ynode_is_null(maxn) ? minn : maxn,
                        "min_blocks (%d) is more than max_blocks (%d)%s", c->min_blocks,
                        c->max_blocks, cp__ynode_is_null(maxn) ? ", the default of the "
                                                                 "provider; set max_blocks" : "");
    if (c->init_blocks > c->max_blocks)
        return cp__yerr(err, cp__ynode_is_null(maxn) ? initn : maxn,
                        "init_blocks (%d) is more than max_blocks (%d)%s", c->init_blocks,
                        c->max_blocks, cp__ynode_is_null(maxn) ? ", the default of the "
                                                                 "provider; set max_blocks" : "");
    return 0;
}

static int copy_defaults(const struct cp__provider_ops *type, struct cp__provider_common *c,
                         cp_err *err)
{
    *c = *type->defaults;
    c->launcher = NULL;
    if (!(c->worker_init = strdup(type->defaults->worker_init ? type->defaults->worker_init
                                                              : "")))
        return oom(err);
    int lt = cp__launcher_type_find(type->default_launcher);
    if (lt < 0) {
        cp__provider_common_fini(c);
        return cp__errf(err, EINVAL, "provider %s: unknown default launcher '%s'", type->name,
                        type->default_launcher ? type->default_launcher : "(null)");
    }
    if (!(c->launcher = cp__launcher_new((enum cp__launcher_type)lt, err))) {
        cp__provider_common_fini(c);
        return -1;
    }
    return 0;
}

void cp__provider_common_fini(struct cp__provider_common *c)
{
    if (!c)
        return;
    free(c->worker_init);
    cp__launcher_free(c->launcher);
    c->worker_init = NULL;
    c->launcher = NULL;
}

static const struct cp__provider_ops *read_type(const struct cp__ynode *map, const char *where,
                                                cp_err *err)
{
    const char *names[33];
    size_t n = 0;
    for (; cp__provider_types[n] && n < 32; n++)
        names[n] = cp__provider_types[n]->name;
    names[n] = NULL;
    char list[200];
    const struct cp__ynode *t = cp__ymap_get(map, "type");
    if (cp__ynode_is_null(t)) {
        cp__ytype_pick(NULL, "provider", names, NULL, list, sizeof list, NULL);
        cp__yerr(err, t ? t : map, "%s has no type (one of: %s)", where, list);
        return NULL;
    }
    int i = cp__ytype_pick(t, "provider", names, cp__provider_types_planned, list, sizeof list,
                           err);
    return i < 0 ? NULL : cp__provider_types[i];
}

/* The allowed keys of a type: the shared ones, then its own. (walltime is always
 * a key, so `walltime: ~` may switch off what a template set; a value where the
 * type has none is refused by name before this.) */
static void allowed_keys(const struct cp__provider_ops *type, const char **keys)
{
    size_t k = 0;
    for (size_t i = 0; cp__provider_common_keys[i] && k < MAX_KEYS - 1; i++)
        keys[k++] = cp__provider_common_keys[i];
    for (size_t i = 0; type->keys && type->keys[i] && k < MAX_KEYS - 1; i++)
        keys[k++] = type->keys[i];
    keys[k] = NULL;
}

int cp__provider_config_parse(const struct cp__ynode *map, const char *where,
                              struct cp__provider_config *out, cp_err *err)
{
    memset(out, 0, sizeof *out);
    if (!where)
        where = "provider";
    if (!map || map->kind != CP_Y_MAP)
        return map ? cp__yerr(err, map, "%s must be a mapping (type, nodes_per_block, ...), "
                                        "got %s", where, kind_text(map))
                   : cp__errf(err, EINVAL, "%s is missing", where);
    const struct cp__provider_ops *type = read_type(map, where, err);
    if (!type)
        return -1;
    /* A key that exists in Parsl's other providers but not here deserves more
     * than "unknown key". */
    const struct cp__ynode *wt = cp__ymap_get(map, "walltime");
    if (!type->has_walltime && !cp__ynode_is_null(wt))
        return cp__yerr(err, wt, "walltime is not a setting of the %s provider: its blocks run until "
                        "they end or are cancelled", type->name);
    const char *keys[MAX_KEYS];
    allowed_keys(type, keys);
    char what[200];
    snprintf(what, sizeof what, "%s (%s)", where, type->name);
    if (cp__ymap_check_keys(map, keys, what, err) != 0)
        return -1;
    struct cp__provider_config cfg = {.type = type};
    if (copy_defaults(type, &cfg.common, err) != 0)
        return -1;
    if (read_common(map, &cfg.common, err) != 0 ||
        (type->parse && type->parse(map, &cfg.settings, err) != 0)) {
        cp__provider_common_fini(&cfg.common);
        return -1;
    }
    *out = cfg;
    return 0;
}

int cp__provider_config_default(const struct cp__provider_ops *type,
                                struct cp__provider_config *out, cp_err *err)
{
    memset(out, 0, sizeof *out);
    if (copy_defaults(type, &out->common, err) != 0)
        return -1;
    out->type = type;
    return 0;
}

void cp__provider_config_fini(struct cp__provider_config *cfg)
{
    if (!cfg)
        return;
    cp__provider_common_fini(&cfg->common);
    if (cfg->settings && cfg->type && cfg->type->free_settings)
        cfg->type->free_settings(cfg->settings);
    memset(cfg, 0, sizeof *cfg);
}

/* ------------------------------------------------------------ registry */

const struct cp__provider_ops *const cp__provider_types[] = {
    &cp__provider_local,
    &cp__provider_slurm,
    &cp__provider_pbspro,
    &cp__provider_torque,
    NULL,
};

const char *const cp__provider_types_planned[] = {
    "kubernetes", "aws", NULL,
};

const struct cp__provider_ops *cp__provider_type_find(const char *name)
{
    for (size_t i = 0; name && cp__provider_types[i]; i++)
        if (strcmp(cp__provider_types[i]->name, name) == 0)
            return cp__provider_types[i];
    return NULL;
}

double cp__provider_polling_interval(const struct cp__provider_config *cfg)
{
    if (cfg->common.status_polling_interval > 0)
        return cfg->common.status_polling_interval;
    return cfg->type && cfg->type->status_polling_interval > 0
               ? cfg->type->status_polling_interval : 5;
}

char *cp__provider_render(const struct cp__provider_config *cfg, const char *cmd,
                          int tasks_per_node, const char *job_name, const char *script_path,
                          cp_err *err)
{
    if (!cfg || !cfg->type) {
        cp__errf(err, EINVAL, "render: no provider");
        return NULL;
    }
    if (!cfg->type->render) {
        cp__errf(err, ENOTSUP, "the %s provider has no submit script", cfg->type->name);
        return NULL;
    }
    return cfg->type->render(cfg, cmd, tasks_per_node, job_name, script_path, err);
}
