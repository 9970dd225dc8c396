/* providers/ssh_conn.h — one SSH connection of the ssh channel: connect,
 * host-key check, authentication, and a watchdog that bounds every blocking
 * libssh call (docs/channels.md). Only providers/channel_ssh.c uses it.
 *
 * libssh 0.10 waits without limit in some blocking calls (SFTP requests on a
 * server that stopped answering), so we open the TCP socket ourselves and a
 * watchdog thread shuts it down when an armed deadline passes: the blocked call
 * then fails as a lost connection. Not thread-safe: the channel's mutex guards
 * every call but cp__ssh_wd_*, which the watchdog thread shares.
 */
#ifndef CP_PROVIDERS_SSH_CONN_H
#define CP_PROVIDERS_SSH_CONN_H

#include <pthread.h>
#include <stdbool.h>

#include <libssh/libssh.h>

#include "common/err.h"
#include "providers/channel.h"

struct cp__ssh_conn {
    struct cp__channel_config cfg;  /* owned copy; host, user, known_hosts filled in */
    char desc[320];                 /* "user@host:port" */
    bool known_hosts_given;         /* false: ~/.ssh/known_hosts and the system's */
    char *identity;                 /* cfg.identity with "~" expanded, or NULL (owned) */
    ssh_session s;                  /* NULL when not connected */
    /* The watchdog (mu guards the fields below it). */
    pthread_t wd_thread;
    bool wd_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int fd;                         /* the session's socket, -1 when none */
    double deadline;                /* cp__mono() time; 0 = disarmed */
    bool fired, stop;
};

/* Fills c from cfg (copied; the user defaults to the engine's user, known_hosts
 * to ~/.ssh/known_hosts) and starts the watchdog; does not connect. 0, or -1
 * with err (c is then finished). */
int cp__ssh_conn_init(struct cp__ssh_conn *c, const struct cp__channel_config *cfg,
                      cp_err *err) CP__WUR;
/* Stops the watchdog, drops the connection, frees. */
void cp__ssh_conn_fini(struct cp__ssh_conn *c);

/* Connects, checks the host key, authenticates (c->s set). Errors name c->desc
 * and say what to do. Bounded by cfg.connect_timeout. */
int cp__ssh_conn_connect(struct cp__ssh_conn *c, cp_err *err) CP__WUR;
/* Closes the connection (if any); the next call connects again. */
void cp__ssh_conn_drop(struct cp__ssh_conn *c);
/* True when the session is gone: closed by the far side, a socket error, or
 * shut down by the watchdog. */
bool cp__ssh_conn_broken(struct cp__ssh_conn *c);

/* The watchdog: arm shuts the socket down `seconds` from now unless disarmed
 * (or re-armed) first; disarm says whether it fired since the last arm. */
void cp__ssh_wd_arm(struct cp__ssh_conn *c, double seconds);
bool cp__ssh_wd_disarm(struct cp__ssh_conn *c);
bool cp__ssh_wd_fired(struct cp__ssh_conn *c);

/* "~" and "~/…" of this machine's user (HOME, else the password database);
 * other paths copied. Caller frees; NULL when memory runs out. */
char *cp__ssh_expand_home(const char *path);

#endif
