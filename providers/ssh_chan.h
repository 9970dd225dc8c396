/* providers/ssh_chan.h — what the ssh channel's two files share: the channel
 * struct (channel_ssh.c: sessions and commands; ssh_files.c: SFTP). Internal to
 * the ssh channel; the contract is providers/channel.h. */
#ifndef CP_PROVIDERS_SSH_CHAN_H
#define CP_PROVIDERS_SSH_CHAN_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>

#include <libssh/libssh.h>
#include <libssh/sftp.h>

#include "providers/channel.h"
#include "providers/ssh_conn.h"

/* The time limit of a command when neither the call nor the config gives one. */
#define DEFAULT_CMD_TIMEOUT 60.0

struct cp__ssh_chan {
    struct cp__channel base;
    pthread_mutex_t mu;         /* one call at a time */
    struct cp__ssh_conn conn;
    sftp_session sftp;          /* opened on first use, NULL after a drop */
};

/* SIGPIPE blocked around libssh calls in this thread (channel_ssh.c says why). */
struct cp__ssh_guard {
    sigset_t old;
    bool pending_before;
};
void cp__ssh_guard_on(struct cp__ssh_guard *g);
void cp__ssh_guard_off(struct cp__ssh_guard *g);

/* Called with c->mu held. */
bool cp__ssh_chan_broken(struct cp__ssh_chan *c);     /* the session or its SFTP is gone */
void cp__ssh_chan_drop(struct cp__ssh_chan *c);       /* frees SFTP, closes the session */
/* Connected (again, when it had dropped); *fresh: a new connection. */
int cp__ssh_chan_ensure(struct cp__ssh_chan *c, bool *fresh, cp_err *err) CP__WUR;
/* Runs cmd as channel.h's run says (res owned by the caller). */
int cp__ssh_exec(struct cp__ssh_chan *c, const char *cmd, const char *stdin_text,
                 double timeout, struct cp__channel_result *res, cp_err *err) CP__WUR;
/* timeout when > 0, else the config's cmd_timeout, else DEFAULT_CMD_TIMEOUT. */
double cp__ssh_timeout(struct cp__ssh_chan *c, double timeout);

/* The file operations of the channel's ops (ssh_files.c); they take c->mu. */
int cp__ssh_put(struct cp__channel *ch, const char *path, const void *data, size_t len,
                int mode, cp_err *err);
int cp__ssh_get(struct cp__channel *ch, const char *path, size_t max, char **data,
                size_t *len, cp_err *err);
int cp__ssh_mkdirs(struct cp__channel *ch, const char *path, int mode, cp_err *err);

#endif
