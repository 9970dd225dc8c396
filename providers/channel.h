/* providers/channel.h — where a batch provider runs its scheduler's commands
 * (DESIGN.md §1, docs/channels.md).
 *
 * The Slurm and PBS/Torque providers talk to their scheduler only through its
 * client tools (sbatch, squeue, qsub …). A channel runs those tools and moves the
 * provider's files:
 *
 *   local  fork/exec of `/bin/sh -c CMD` on this machine
 *   ssh    the same on a login node, over one libssh session that is kept open
 *          and opened again when it drops; files go by SFTP
 *
 * Every command has a time limit (cmd_timeout, or the call's own); a command still
 * running at its limit is killed (its process group: TERM, then KILL; over ssh by
 * a second command on the same connection, since closing the SSH channel does not
 * end a command without a terminal) and the call fails naming it.
 *
 * SSH host keys are always checked against known_hosts. An unknown or changed key
 * is an error that shows the server's SHA256 fingerprint and the command that
 * would accept it; `accept_new_host_key: true` is the explicit opt-in to trust an
 * unknown host on first use (its key is then added to known_hosts and logged). A
 * changed key is refused even then.
 *
 * Paths: on the far side a relative path is relative to the login directory
 * (ssh) or the engine's working directory (local); "~/" is expanded on both.
 *
 * Threads: every call may come from any thread; a channel serialises its calls
 * itself (one command at a time per channel). Credentials (passphrases, agent
 * replies) are never logged, nor are they part of any error text.
 */
#ifndef CP_PROVIDERS_CHANNEL_H
#define CP_PROVIDERS_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"
#include "common/yaml.h"

enum cp__channel_type {
    CP_CHANNEL_LOCAL = 0,
    CP_CHANNEL_SSH = 1,
};

/* A `channel:` mapping of a provider (absent: local). Strings are owned by the
 * struct (cp__channel_config_fini frees them); NULL means "the default" below. */
struct cp__channel_config {
    enum cp__channel_type type;
    char *host;                 /* ssh: the login node (required) */
    char *user;                 /* ssh: NULL = the engine's user name */
    int port;                   /* ssh: 22 */
    char *identity;             /* ssh: private key file ("~" expanded); NULL = the
                                 * agent ($SSH_AUTH_SOCK), then ~/.ssh/id_ed25519,
                                 * id_ecdsa, id_rsa */
    char *known_hosts;          /* ssh: NULL = ~/.ssh/known_hosts */
    bool accept_new_host_key;   /* ssh: trust an unknown host on first use (false) */
    char *script_dir;           /* where submit scripts go on the far side; NULL =
                                 * the provider's choice: the run's submit_scripts/
                                 * (local), ~/.cparsl/runs/<run id>/ (ssh) */
    double cmd_timeout;         /* seconds one command may take; 0 = the provider's
                                 * cmd_timeout (Slurm 10 s, PBS 120 s: parsl-notes §4) */
    double connect_timeout;     /* ssh: seconds to connect and authenticate (30) */
};

/* Reads a `channel:` mapping ({type: local} or {type: ssh, host, user, port,
 * identity, known_hosts, accept_new_host_key, script_dir, cmd_timeout,
 * connect_timeout}). Unknown keys are refused with a did-you-mean hint; errors
 * are "file:line:col: …" at the offending node and name `where` ("channel of
 * provider of executor 'htex'"; NULL: "channel"). ssh without host is an error.
 * 0, or -1 with nothing allocated and *out zeroed. */
int cp__channel_config_parse(const struct cp__ynode *map, const char *where,
                             struct cp__channel_config *out, cp_err *err) CP__WUR;
/* {type local, everything default}. */
void cp__channel_config_local(struct cp__channel_config *out);
/* A deep copy; 0, or -1 (ENOMEM) with *out zeroed. */
int cp__channel_config_copy(const struct cp__channel_config *in, struct cp__channel_config *out,
                            cp_err *err) CP__WUR;
void cp__channel_config_fini(struct cp__channel_config *c);   /* NULL is fine */

/* What one command did. */
struct cp__channel_result {
    int exit_code;              /* its exit status; 128+N when killed by signal N */
    char *out;                  /* its stdout, NUL-terminated, owned; at most
                                 * CP_CHANNEL_OUTPUT_MAX bytes are kept (the end is
                                 * dropped and truncated is set) */
    char *err_text;             /* its stderr, the same way */
    bool truncated;
};
#define CP_CHANNEL_OUTPUT_MAX (4u << 20)
/* Frees out/err_text and zeroes r. NULL is fine. */
void cp__channel_result_clear(struct cp__channel_result *r);

struct cp__channel;

struct cp__channel_ops {
    const char *name;           /* "local", "ssh" */
    /* Runs cmd (shell text for /bin/sh -c on the far side; the caller quotes its
     * words with cp__shell_quote) with stdin from stdin_text (NULL: empty), for at
     * most timeout seconds (<= 0: the config's cmd_timeout). 0 when the command
     * ran to its end, whatever its exit code (res then holds it); -1 with err
     * (res cleared) when it could not be started, ran past its limit (killed:
     * "command 'sbatch …' did not finish within 10 s"), or the connection was
     * lost while it ran. A command is never run twice: after a lost connection
     * the call fails (the command may have run) and the next call reconnects. */
    int (*run)(struct cp__channel *ch, const char *cmd, const char *stdin_text,
               double timeout, struct cp__channel_result *res, cp_err *err);
    /* Writes len bytes to path on the far side with the given mode, atomically
     * (a temporary name beside it, then rename), creating missing parent
     * directories (0700). 0, or -1 with err naming the path. */
    int (*put)(struct cp__channel *ch, const char *path, const void *data, size_t len,
               int mode, cp_err *err);
    /* Reads path on the far side: its last max bytes (the whole file when it is
     * shorter) into *data (NUL-terminated, caller frees) and *len. 0; -1 with
     * err, errno-style code ENOENT when the file does not exist. */
    int (*get)(struct cp__channel *ch, const char *path, size_t max, char **data,
               size_t *len, cp_err *err);
    /* Creates path and missing parents (mode for the new ones); an existing
     * directory is fine. 0, or -1 with err. */
    int (*mkdirs)(struct cp__channel *ch, const char *path, int mode, cp_err *err);
    /* "user@host:port" or "localhost": for logs and error messages (static while
     * the channel lives). */
    const char *(*describe)(struct cp__channel *ch);
    /* Closes the connection (if any) and frees the channel. */
    void (*close)(struct cp__channel *ch);
};

struct cp__channel {
    const struct cp__channel_ops *ops;
};

/* Opens a channel as cfg says (cfg is copied). local never fails but for memory;
 * ssh connects and authenticates at once, so a wrong host, key or host key shows
 * before the run starts. Caller owns the result (cp__channel_close). */
struct cp__channel *cp__channel_open(const struct cp__channel_config *cfg,
                                     cp_err *err) CP__WUR;
/* Each type's constructor (cp__channel_open picks one). */
struct cp__channel *cp__channel_local_open(const struct cp__channel_config *cfg,
                                           cp_err *err) CP__WUR;
struct cp__channel *cp__channel_ssh_open(const struct cp__channel_config *cfg,
                                         cp_err *err) CP__WUR;

static inline CP__WUR int cp__channel_run(struct cp__channel *ch, const char *cmd,
                                          const char *stdin_text, double timeout,
                                          struct cp__channel_result *res, cp_err *err)
{
    return ch->ops->run(ch, cmd, stdin_text, timeout, res, err);
}
static inline CP__WUR int cp__channel_put(struct cp__channel *ch, const char *path,
                                          const void *data, size_t len, int mode, cp_err *err)
{
    return ch->ops->put(ch, path, data, len, mode, err);
}
static inline CP__WUR int cp__channel_get(struct cp__channel *ch, const char *path, size_t max,
                                          char **data, size_t *len, cp_err *err)
{
    return ch->ops->get(ch, path, max, data, len, err);
}
static inline CP__WUR int cp__channel_mkdirs(struct cp__channel *ch, const char *path,
                                             int mode, cp_err *err)
{
    return ch->ops->mkdirs(ch, path, mode, err);
}
static inline const char *cp__channel_describe(struct cp__channel *ch)
{
    return ch->ops->describe(ch);
}
static inline void cp__channel_close(struct cp__channel *ch)
{
    if (ch)
        ch->ops->close(ch);
}

#endif
