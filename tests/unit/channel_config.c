/* tests/unit/channel_config.c — the `channel:` mapping (providers/channel.c):
 * defaults, every key, copies, and the errors with their file:line:col. */
#include "providers/channel.h"

#include <errno.h>

#include "tap.h"
#include "common/yaml.h"

static const char *WHERE = "channel of provider of executor 'htex'";

/* Parses text's `channel:` value; the doc is freed, cfg keeps its own strings. */
static int parse(const char *text, struct cp__channel_config *cfg, cp_err *err)
{
    struct cp__ydoc *doc = cp__ydoc_load_mem("site.yaml", text, strlen(text), err);
    if (!doc)
        return -2;
    int rc = cp__channel_config_parse(cp__ymap_get(doc->root, "channel"), WHERE, cfg, err);
    cp__ydoc_free(doc);
    return rc;
}

/* The error of a mapping that must be refused, or "" when it was accepted. */
static const char *refused(const char *text)
{
    static cp_err err;
    struct cp__channel_config cfg;
    memset(&err, 0, sizeof err);
    if (parse(text, &cfg, &err) == 0) {
        cp__channel_config_fini(&cfg);
        return "";
    }
    /* On failure nothing is left allocated and the struct is back to defaults. */
    if (cfg.host || cfg.user || cfg.identity || cfg.known_hosts || cfg.script_dir)
        return "(fields left set after an error)";
    return err.text;
}

static void defaults(void)
{
    struct cp__channel_config c;
    cp_err err = {0};
    is_int(parse("channel: {type: local}\n", &c, &err), 0, "{type: local} is accepted");
    is_int(c.type, CP_CHANNEL_LOCAL, "type local");
    is_int(c.port, 22, "port defaults to 22");
    is_dbl(c.connect_timeout, 30, "connect_timeout defaults to 30 s");
    is_dbl(c.cmd_timeout, 0, "cmd_timeout 0 = the provider's");
    ok(!c.host && !c.user && !c.identity && !c.known_hosts && !c.script_dir,
       "strings default to NULL");
    ok(!c.accept_new_host_key, "accept_new_host_key defaults to false");
    cp__channel_config_fini(&c);

    struct cp__channel_config l;
    cp__channel_config_local(&l);
    ok(l.type == CP_CHANNEL_LOCAL && l.port == 22 && l.connect_timeout == 30 && !l.host,
       "cp__channel_config_local gives the same defaults");
    cp__channel_config_fini(NULL);
    ok(1, "cp__channel_config_fini(NULL) is fine");

    is_int(parse("channel:\n  type: local\n  script_dir: /scratch/me/scripts\n"
                 "  cmd_timeout: 12.5\n", &c, &err), 0, "local with script_dir and cmd_timeout");
    is_str(c.script_dir, "/scratch/me/scripts", "script_dir");
    is_dbl(c.cmd_timeout, 12.5, "cmd_timeout");
    cp__channel_config_fini(&c);
    ok(!c.script_dir && c.type == CP_CHANNEL_LOCAL, "fini frees and resets");
}

static void ssh_full(void)
{
    struct cp__channel_config c, d;
    cp_err err = {0};
    const char *text = "channel:\n"
                       "  type: ssh\n"
                       "  host: login1.cluster.example.org\n"
                       "  user: ada\n"
                       "  port: 2222\n"
                       "  identity: ~/.ssh/id_cluster\n"
                       "  known_hosts: ~/.ssh/known_hosts_cluster\n"
                       "  accept_new_host_key: true\n"
                       "  script_dir: /scratch/ada/parsl\n"
                       "  cmd_timeout: 20\n"
                       "  connect_timeout: 7.5\n";
    if (!ok(parse(text, &c, &err) == 0, "a full ssh mapping is accepted"))
        diag("%s", err.text);
    is_int(c.type, CP_CHANNEL_SSH, "type ssh");
    is_str(c.host, "login1.cluster.example.org", "host");
    is_str(c.user, "ada", "user");
    is_int(c.port, 2222, "port");
    is_str(c.identity, "~/.ssh/id_cluster", "identity kept as written (expanded at connect)");
    is_str(c.known_hosts, "~/.ssh/known_hosts_cluster", "known_hosts");
    ok(c.accept_new_host_key, "accept_new_host_key");
    is_str(c.script_dir, "/scratch/ada/parsl", "script_dir");
    is_dbl(c.cmd_timeout, 20, "cmd_timeout");
    is_dbl(c.connect_timeout, 7.5, "connect_timeout");

    is_int(cp__channel_config_copy(&c, &d, &err), 0, "copy");
    ok(d.host != c.host && d.user != c.user && d.identity != c.identity &&
       d.known_hosts != c.known_hosts && d.script_dir != c.script_dir, "the copy owns its strings");
    cp__channel_config_fini(&c);
    is_str(d.host, "login1.cluster.example.org", "the copy outlives the original");
    ok(d.port == 2222 && d.accept_new_host_key && d.connect_timeout == 7.5, "scalars copied");
    cp__channel_config_fini(&d);

    is_int(parse("channel: {type: ssh, host: h, user: ~, port: ~, identity: null}\n", &c, &err), 0,
           "null values take the defaults");
    ok(c.host && !c.user && c.port == 22 && !c.identity, "user NULL, port 22, identity NULL");
    cp__channel_config_fini(&c);
}

static void errors(void)
{
    like(refused("channel: {type: ssh}\n"), "site.yaml:1:10: channel of provider of executor "
         "'htex': type ssh needs host", "ssh without host: at the mapping");
    like(refused("channel:\n  type: ssh\n  hots: login1\n"), "site.yaml:3:3: unknown key 'hots'",
         "unknown key at its position");
    like(refused("channel:\n  type: ssh\n  hots: login1\n"), "did you mean 'host'", "did-you-mean");
    like(refused("channel:\n  type: local\n  host: login1\n"), "site.yaml:3:3: unknown key "
         "'host'", "ssh keys are refused for a local channel");
    like(refused("channel: {type: sftp}\n"), "site.yaml:1:17:", "unknown type at the value");
    like(refused("channel: {type: sftp}\n"), "sftp", "unknown type named");
    like(refused("channel: ssh\n"), "site.yaml:1:10: channel of provider of executor 'htex' "
         "must be a mapping", "a scalar is not a mapping");
    like(refused("channel: {host: h}\n"), "has no type (one of: local, ssh)", "missing type");
    like(refused("channel: {type: ssh, host: h, port: 0}\n"),
         "site.yaml:1:37: port of channel of provider of executor 'htex' must be 1 to 65535, "
         "got 0", "port 0");
    like(refused("channel: {type: ssh, host: h, port: 70000}\n"), "must be 1 to 65535, got 70000",
         "port 70000");
    like(refused("channel: {type: ssh, host: h, port: ssh}\n"), "site.yaml:1:37: port of channel",
         "a port that is not a number");
    like(refused("channel: {type: ssh, host: ''}\n"), "host of channel of provider of executor "
         "'htex' is empty", "an empty host");
    like(refused("channel: {type: ssh, host: h, cmd_timeout: -1}\n"),
         "cmd_timeout of channel of provider of executor 'htex' must be a number of seconds "
         "above 0", "a negative cmd_timeout");
    like(refused("channel: {type: ssh, host: h, connect_timeout: 0}\n"),
         "connect_timeout of channel", "connect_timeout 0");
    like(refused("channel: {type: local, cmd_timeout: 100000}\n"), "at most 86400",
         "cmd_timeout over a day");
    like(refused("channel: {type: ssh, host: h, accept_new_host_key: maybe}\n"),
         "site.yaml:1:52: accept_new_host_key of channel", "a non-boolean accept_new_host_key");
    like(refused("channel: {type: ssh, host: [a, b]}\n"), "host of channel", "a list as host");
    like(refused("channel: {type: ssh, host: h, user: alice, identity: ~/k, known_hosts: ~/kh, "
                 "script_dir: '', cmd_timeout: 5}\n"), "script_dir of channel",
         "an error after strings were read leaves nothing allocated");

    cp_err err = {0};
    struct cp__channel_config c;
    struct cp__ydoc *doc = cp__ydoc_load_mem("x.yaml", "type: bogus\n", 12, &err);
    ok(cp__channel_config_parse(doc->root, NULL, &c, &err) < 0, "where NULL");
    like(err.text, "x.yaml:1:7:", "its position");
    cp__ydoc_free(doc);
    ok(cp__channel_config_parse(NULL, NULL, &c, &err) < 0, "a missing mapping");
    like(err.text, "channel is missing", "named 'channel' by default");
}

static void open_dispatch(void)
{
    struct cp__channel_config c;
    cp__channel_config_local(&c);
    c.type = (enum cp__channel_type)7;
    cp_err err = {0};
    ok(cp__channel_open(&c, &err) == NULL, "an unknown type is refused by open");
    like(err.text, "unknown channel type 7", "with its number");
    c.type = CP_CHANNEL_SSH;
    ok(cp__channel_open(&c, &err) == NULL, "ssh without a host is refused by open");
    like(err.text, "needs type ssh and a host", "with the reason");
}

int main(void)
{
    tap_start(30);
    defaults();
    ssh_full();
    errors();
    open_dispatch();
    return done_testing();
}
