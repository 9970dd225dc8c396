/* providers/channel.c — the `channel:` mapping of a provider, and opening the
 * channel it names (providers/channel.h). The channels themselves are
 * channel_local.c and channel_ssh.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "providers/channel.h"

#define DEFAULT_SSH_PORT 22
#define DEFAULT_CONNECT_TIMEOUT 30.0

static const char *const type_names[] = {"local", "ssh", NULL};

static const char *const local_keys[] = {"type", "script_dir", "cmd_timeout", NULL};
static const char *const ssh_keys[] = {"type", "host", "user", "port", "identity",
                                       "known_hosts", "accept_new_host_key", "script_dir",
                                       "cmd_timeout", "connect_timeout", NULL};

static int oom(cp_err *err)
{
    return cp__errf(err, ENOMEM, "out of memory");
}

void cp__channel_config_local(struct cp__channel_config *out)
{
    memset(out, 0, sizeof *out);
    out->type = CP_CHANNEL_LOCAL;
    out->port = DEFAULT_SSH_PORT;
    out->connect_timeout = DEFAULT_CONNECT_TIMEOUT;
}

void cp__channel_config_fini(struct cp__channel_config *c)
{
    if (!c)
        return;
    free(c->host);
    free(c->user);
    free(c->identity);
    free(c->known_hosts);
    free(c->script_dir);
    cp__channel_config_local(c);
}

/* An optional non-empty string key into *out (NULL when absent or null). */
static int str_key(const struct cp__ynode *map, const char *key, const char *where,
                   char **out, cp_err *err)
{
    const struct cp__ynode *n = cp__ymap_get(map, key);
    if (cp__ynode_is_null(n))
        return 0;
    char what[160];
    snprintf(what, sizeof what, "%s of %s", key, where);
    const char *s;
    if (cp__ynode_str(n, what, &s, err) < 0)
        return -1;
    if (!*s)
        return cp__yerr(err, n, "%s is empty: give a value or leave the key out", what);
    if (!(*out = strdup(s)))
        return oom(err);
    return 0;
}

static int seconds_key(const struct cp__ynode *map, const char *key, const char *where,
                       double *out, cp_err *err)
{
    const struct cp__ynode *n = cp__ymap_get(map, key);
    if (cp__ynode_is_null(n))
        return 0;
    char what[160];
    snprintf(what, sizeof what, "%s of %s", key, where);
    double v;
    if (cp__ynode_double(n, what, &v, err) < 0)
        return -1;
    if (!(v > 0) || v > 86400)
        return cp__yerr(err, n, "%s must be a number of seconds above 0 (at most 86400), "
                                "got %g", what, v);
    *out = v;
    return 0;
}

static int parse_ssh(const struct cp__ynode *map, const char *where,
                     struct cp__channel_config *c, cp_err *err)
{
    if (str_key(map, "host", where, &c->host, err) < 0 ||
        str_key(map, "user", where, &c->user, err) < 0 ||
        str_key(map, "identity", where, &c->identity, err) < 0 ||
        str_key(map, "known_hosts", where, &c->known_hosts, err) < 0 ||
        seconds_key(map, "connect_timeout", where, &c->connect_timeout, err) < 0)
        return -1;
    if (!c->host)
        return cp__yerr(err, map, "%s: type ssh needs host (the login node to run the "
                                  "scheduler's commands on)", where);
    const struct cp__ynode *n = cp__ymap_get(map, "port");
    if (!cp__ynode_is_null(n)) {
        char what[160];
        snprintf(what, sizeof what, "port of %s", where);
        long port;
        if (cp__ynode_long(n, what, &port, err) < 0)
            return -1;
        if (port < 1 || port > 65535)
            return cp__yerr(err, n, "%s must be 1 to 65535, got %ld", what, port);
        c->port = (int)port;
    }
    n = cp__ymap_get(map, "accept_new_host_key");
    if (!cp__ynode_is_null(n)) {
        char what[160];
        snprintf(what, sizeof what, "accept_new_host_key of %s", where);
        if (cp__ynode_bool(n, what, &c->accept_new_host_key, err) < 0)
            return -1;
    }
    return 0;
}

int cp__channel_config_parse(const struct cp__ynode *map, const char *where,
                             struct cp__channel_config *out, cp_err *err)
{
    cp__channel_config_local(out);
    if (!where)
        where = "channel";
    if (!map || map->kind != CP_Y_MAP)
        return map ? cp__yerr(err, map, "%s must be a mapping ({type: local} or {type: ssh, "
                                        "host: …})", where)
                   : cp__errf(err, EINVAL, "%s is missing", where);
    const struct cp__ynode *t = cp__ymap_get(map, "type");
    char list[64];
    if (cp__ynode_is_null(t))
        return cp__yerr(err, t ? t : map, "%s has no type (one of: local, ssh)", where);
    int i = cp__ytype_pick(t, "channel", type_names, NULL, list, sizeof list, err);
    if (i < 0)
        return -1;
    out->type = i == 1 ? CP_CHANNEL_SSH : CP_CHANNEL_LOCAL;
    if (cp__ymap_check_keys(map, out->type == CP_CHANNEL_SSH ? ssh_keys : local_keys, where,
                            err) < 0)
        goto fail;
    if (str_key(map, "script_dir", where, &out->script_dir, err) < 0 ||
        seconds_key(map, "cmd_timeout", where, &out->cmd_timeout, err) < 0)
        goto fail;
    if (out->type == CP_CHANNEL_SSH && parse_ssh(map, where, out, err) < 0)
        goto fail;
    return 0;
fail:
    cp__channel_config_fini(out);
    return -1;
}

static int dup_opt(const char *in, char **out)
{
    *out = NULL;
    return in && !(*out = strdup(in)) ? -1 : 0;
}

int cp__channel_config_copy(const struct cp__channel_config *in, struct cp__channel_config *out,
                            cp_err *err)
{
    *out = *in;
    out->host = out->user = out->identity = out->known_hosts = out->script_dir = NULL;
    if (dup_opt(in->host, &out->host) < 0 || dup_opt(in->user, &out->user) < 0 ||
        dup_opt(in->identity, &out->identity) < 0 ||
        dup_opt(in->known_hosts, &out->known_hosts) < 0 ||
        dup_opt(in->script_dir, &out->script_dir) < 0) {
        cp__channel_config_fini(out);
        return oom(err);
    }
    return 0;
}

void cp__channel_result_clear(struct cp__channel_result *r)
{
    if (!r)
        return;
    free(r->out);
    free(r->err_text);
    memset(r, 0, sizeof *r);
}

struct cp__channel *cp__channel_open(const struct cp__channel_config *cfg, cp_err *err)
{
    switch (cfg->type) {
    case CP_CHANNEL_LOCAL:
        return cp__channel_local_open(cfg, err);
    case CP_CHANNEL_SSH:
        return cp__channel_ssh_open(cfg, err);
    }
    cp__errf(err, EINVAL, "unknown channel type %d", (int)cfg->type);
    return NULL;
}
