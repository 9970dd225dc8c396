/* providers/channel_ssh.c — the ssh channel (providers/channel.h,
 * docs/channels.md): commands on a login node over one libssh session kept
 * open. Connecting, host keys and authentication are in ssh_conn.c, the
 * files (SFTP) in ssh_files.c.
 *
 * Every command runs as `exec /bin/sh -c 'echo cparsl-pid $$; exec /bin/sh -c
 * "$1"' sh CMD` so that it runs under /bin/sh whatever the login shell, and so
 * that we learn the process id that sshd made a process-group leader (sshd
 * calls setsid for each command). A command past its time limit is ended by a
 * second command on the same connection that signals that group (TERM, then
 * KILL): OpenSSH refuses the SSH "signal" request for root logins, so it cannot
 * be relied on (it is still sent, for servers that honour it).
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libssh/callbacks.h>
#include <libssh/libssh.h>

#include "common/log.h"
#include "common/util.h"
#include "providers/channel.h"
#include "providers/ssh_chan.h"

/* How long ending a timed-out command may take (TERM, up to 2 s, KILL). */
#define KILL_BUDGET 5.0
#define PID_MARK "cparsl-pid "

static struct cp__ssh_chan *impl(struct cp__channel *ch)
{
    return (struct cp__ssh_chan *)ch;
}

/* ------------------------------------------------------------------ SIGPIPE */

/* A peer that went away makes a socket write raise SIGPIPE, which would end an
 * engine that did not ignore it. The signal of a write is sent to the writing
 * thread, so we block it around libssh calls and take back any we caused. */
void cp__ssh_guard_on(struct cp__ssh_guard *g)
{
    sigset_t set, pend;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, &g->old);
    sigpending(&pend);
    g->pending_before = sigismember(&pend, SIGPIPE);
}

void cp__ssh_guard_off(struct cp__ssh_guard *g)
{
    sigset_t set, pend;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    sigpending(&pend);
    if (!g->pending_before && sigismember(&pend, SIGPIPE)) {
        struct timespec zero = {0, 0};
        sigtimedwait(&set, NULL, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

/* ------------------------------------------------------------------ session */

bool cp__ssh_chan_broken(struct cp__ssh_chan *c)
{
    if (cp__ssh_conn_broken(&c->conn))
        return true;
    /* The SFTP server can end on its own (it is a process on the far side). */
    return c->sftp && (ssh_channel_is_closed(c->sftp->channel) ||
                       ssh_channel_is_eof(c->sftp->channel));
}

void cp__ssh_chan_drop(struct cp__ssh_chan *c)
{
    if (c->sftp) {
        cp__ssh_wd_arm(&c->conn, 5);
        sftp_free(c->sftp);
        c->sftp = NULL;
    }
    cp__ssh_conn_drop(&c->conn);
}

/* Connected, unless it cannot be; *fresh says the connection is new. */
int cp__ssh_chan_ensure(struct cp__ssh_chan *c, bool *fresh, cp_err *err)
{
    *fresh = false;
    if (c->conn.s && cp__ssh_chan_broken(c)) {
        CP_WARN("ssh", "%s: the connection has dropped; connecting again", c->conn.desc);
        cp__ssh_chan_drop(c);
    }
    if (c->conn.s)
        return 0;
    *fresh = true;
    return cp__ssh_conn_connect(&c->conn, err);
}

/* A session channel, connecting again once when the connection turns out to
 * have dropped: nothing was started on the far side yet, so that is safe. */
static int open_channel(struct cp__ssh_chan *c, ssh_channel *out, cp_err *err)
{
    for (int attempt = 0;; attempt++) {
        bool fresh;
        if (cp__ssh_chan_ensure(c, &fresh, err) < 0)
            return -1;
        cp__ssh_wd_arm(&c->conn, c->conn.cfg.connect_timeout);
        ssh_channel ch = ssh_channel_new(c->conn.s);
        if (ch && ssh_channel_open_session(ch) == SSH_OK) {
            *out = ch;
            return 0;
        }
        char why[200];
        snprintf(why, sizeof why, "%s", ssh_get_error(c->conn.s));
        if (ch)
            ssh_channel_free(ch);
        bool fired = cp__ssh_wd_disarm(&c->conn);
        bool gone = fired || cp__ssh_chan_broken(c);
        if (gone)
            cp__ssh_chan_drop(c);
        if (!gone || fresh || attempt > 0)
            return cp__errf(err, gone ? ECONNRESET : EIO, "ssh to %s: cannot open a session "
                            "channel: %s", c->conn.desc, fired ? "no answer in time" : why);
    }
}

/* ------------------------------------------------------------------ run */

struct outbuf {
    char *p;
    size_t len, cap;
    bool truncated;
};

static int ob_add(struct outbuf *b, const char *d, size_t n)
{
    if (b->len + n > CP_CHANNEL_OUTPUT_MAX) {
        b->truncated = true;
        n = CP_CHANNEL_OUTPUT_MAX - b->len;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p)
            return -1;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, d, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

static int ob_finish(struct outbuf *b, char **out)
{
    if (!b->p && ob_add(b, "", 0) < 0)
        return -1;
    *out = b->p;
    b->p = NULL;
    return 0;
}

struct exit_state {
    bool have;
    int code;
};

static const struct {
    const char *name;
    int num;
} signames[] = {
    {"HUP", SIGHUP}, {"INT", SIGINT}, {"QUIT", SIGQUIT}, {"ILL", SIGILL}, {"TRAP", SIGTRAP},
    {"ABRT", SIGABRT}, {"BUS", SIGBUS}, {"FPE", SIGFPE}, {"KILL", SIGKILL}, {"USR1", SIGUSR1},
    {"SEGV", SIGSEGV}, {"USR2", SIGUSR2}, {"PIPE", SIGPIPE}, {"ALRM", SIGALRM},
    {"TERM", SIGTERM}, {"XCPU", SIGXCPU}, {"XFSZ", SIGXFSZ}, {"SYS", SIGSYS},
};

static void on_exit_status(ssh_session s, ssh_channel ch, int status, void *u)
{
    (void)s, (void)ch;
    struct exit_state *st = u;
    st->have = true;
    st->code = status;
}

static void on_exit_signal(ssh_session s, ssh_channel ch, const char *sig, int core,
                           const char *msg, const char *lang, void *u)
{
    (void)s, (void)ch, (void)core, (void)msg, (void)lang;
    struct exit_state *st = u;
    st->have = true;
    st->code = 255;     /* a signal this machine has no number for */
    for (size_t i = 0; sig && i < sizeof signames / sizeof signames[0]; i++)
        if (strcmp(sig, signames[i].name) == 0)
            st->code = 128 + signames[i].num;
}

/* The command as the error texts show it: at most 80 bytes. */
static void short_cmd(const char *cmd, char *buf, size_t n)
{
    size_t len = strlen(cmd);
    if (len < n && len <= 80)
        snprintf(buf, n, "%s", cmd);
    else
        snprintf(buf, n, "%.77s…", cmd);
}

/* Takes "cparsl-pid N\n" off the front of stdout once it is complete. */
static void take_pid(struct outbuf *o, long *pid, bool *seen)
{
    char *nl = o->p ? memchr(o->p, '\n', o->len) : NULL;
    if (*seen || !nl)
        return;
    *seen = true;
    if (strncmp(o->p, PID_MARK, strlen(PID_MARK)) != 0)
        return;
    *pid = strtol(o->p + strlen(PID_MARK), NULL, 10);
    size_t cut = (size_t)(nl + 1 - o->p);
    memmove(o->p, nl + 1, o->len - cut + 1);
    o->len -= cut;
}

/* Ends the process group of a command past its limit (see the top). */
static void end_remote(struct cp__ssh_chan *c, ssh_channel ch, long pid)
{
    ssh_channel_request_send_signal(ch, "TERM");
    if (pid <= 1)
        return;
    char cmd[400];
    snprintf(cmd, sizeof cmd,
             "kill -s TERM -- -%ld 2>/dev/null; i=0; while kill -s 0 -- -%ld 2>/dev/null && "
             "[ $i -lt 20 ]; do sleep 0.1; i=$((i+1)); done; kill -s KILL -- -%ld 2>/dev/null; "
             "exit 0", pid, pid, pid);
    struct cp__channel_result r;
    cp_err e;
    if (cp__ssh_exec(c, cmd, NULL, KILL_BUDGET, &r, &e) < 0)
        CP_WARN("ssh", "%s: could not end process group %ld: %s", c->conn.desc, pid, e.text);
    cp__channel_result_clear(&r);
}

/* The exchange with a running command: stdin in as the window allows, stdout
 * and stderr out, until the command's exit status and end of output. */
struct io {
    const char *in;
    size_t in_left;
    bool eof_sent, pid_seen;
    long pid;
    struct outbuf *out, *err;
    struct exit_state *st;
};
enum { IO_DONE, IO_TIMEOUT, IO_LOST, IO_NOMEM };

static int io_step(struct cp__ssh_chan *c, ssh_channel ch, struct io *io, bool *progress)
{
    char buf[32768];
    if (io->in_left) {
        uint32_t w = ssh_channel_window_size(ch);
        size_t n = io->in_left < w ? io->in_left : w;
        if (n > sizeof buf)
            n = sizeof buf;
        if (n) {
            int wr = ssh_channel_write(ch, io->in, (uint32_t)n);
            if (wr < 0) {
                if (cp__ssh_chan_broken(c))
                    return IO_LOST;
                io->in_left = 0;        /* the command no longer reads */
            } else {
                io->in += wr;
                io->in_left -= (size_t)wr;
                *progress |= wr > 0;
            }
        }
    }
    if (!io->in_left && !io->eof_sent) {
        if (ssh_channel_send_eof(ch) != SSH_OK && cp__ssh_chan_broken(c))
            return IO_LOST;
        io->eof_sent = true;
    }
    for (int e = 0; e < 2; e++) {
        int n = ssh_channel_read_nonblocking(ch, buf, sizeof buf, e);
        if (n == SSH_ERROR)
            return IO_LOST;
        if (n > 0) {
            *progress = true;
            if (ob_add(e ? io->err : io->out, buf, (size_t)n) < 0)
                return IO_NOMEM;
            if (!e)
                take_pid(io->out, &io->pid, &io->pid_seen);
        }
    }
    return -1;
}

static int io_loop(struct cp__ssh_chan *c, ssh_channel ch, double deadline, struct io *io)
{
    /* Reads stop pumping the connection once the far side has sent EOF, and
     * OpenSSH sends the exit status after it: an event keeps packets flowing
     * while we wait, with our own time limit. */
    ssh_event ev = ssh_event_new();
    if (!ev || ssh_event_add_session(ev, c->conn.s) != SSH_OK) {
        if (ev)
            ssh_event_free(ev);
        return IO_NOMEM;
    }
    int rc;
    for (;;) {
        bool progress = false;
        if ((rc = io_step(c, ch, io, &progress)) >= 0)
            break;
        if (ssh_channel_is_eof(ch) && (io->st->have || ssh_channel_is_closed(ch))) {
            rc = IO_DONE;
            break;
        }
        if (cp__ssh_chan_broken(c)) {
            rc = IO_LOST;
            break;
        }
        if (progress)
            continue;
        double left = deadline - cp__mono();
        if (left <= 0) {
            rc = IO_TIMEOUT;
            break;
        }
        if (ssh_event_dopoll(ev, left > 0.2 ? 200 : (int)(left * 1000) + 1) == SSH_ERROR &&
            cp__ssh_chan_broken(c)) {
            rc = IO_LOST;
            break;
        }
    }
    ssh_event_remove_session(ev, c->conn.s);
    ssh_event_free(ev);
    return rc;
}

int cp__ssh_exec(struct cp__ssh_chan *c, const char *cmd, const char *stdin_text,
                    double timeout, struct cp__channel_result *res, cp_err *err)
{
    memset(res, 0, sizeof *res);
    char shown[100];
    short_cmd(cmd, shown, sizeof shown);
    char *q = cp__shell_quote(cmd);
    char *wrapped = q ? cp__strdup_printf("exec /bin/sh -c 'echo " PID_MARK "$$; exec /bin/sh "
                                          "-c \"$1\"' sh %s", q) : NULL;
    free(q);
    if (!wrapped)
        return cp__errf(err, ENOMEM, "out of memory");
    ssh_channel ch = NULL;
    struct outbuf out = {0}, errb = {0};
    struct exit_state st = {0};
    struct ssh_channel_callbacks_struct cb = {
        .userdata = &st,
        .channel_exit_status_function = on_exit_status,
        .channel_exit_signal_function = on_exit_signal,
    };
    ssh_callbacks_init(&cb);
    int rc = -1;
    if (open_channel(c, &ch, err) < 0) {
        cp__err_prefix(err, "command '%s' was not started", shown);
        goto done;
    }
    ssh_set_channel_callbacks(ch, &cb);
    if (ssh_channel_request_exec(ch, wrapped) != SSH_OK) {
        /* The request may have reached the server: never sent again. */
        cp__errf(err, ECONNRESET, "ssh to %s: command '%s' could not be started (it may have "
                 "run; not retried): %s", c->conn.desc, shown, ssh_get_error(c->conn.s));
        goto lost;
    }
    double deadline = cp__mono() + timeout;
    cp__ssh_wd_arm(&c->conn, timeout + KILL_BUDGET + c->conn.cfg.connect_timeout);
    struct io io = {.in = stdin_text ? stdin_text : "", .out = &out, .err = &errb, .st = &st};
    io.in_left = strlen(io.in);
    switch (io_loop(c, ch, deadline, &io)) {
    case IO_DONE:
        break;
    case IO_TIMEOUT:
        cp__errf(err, ETIMEDOUT, "command '%s' did not finish within %g s on %s (it was "
                 "ended)", shown, timeout, c->conn.desc);
        CP_WARN("ssh", "%s: command '%s' did not finish within %g s; ending it",
                c->conn.desc, shown, timeout);
        end_remote(c, ch, io.pid);
        goto close;
    case IO_NOMEM:
        cp__errf(err, ENOMEM, "out of memory");
        end_remote(c, ch, io.pid);
        goto close;
    case IO_LOST:
        goto lost_running;
    }
    if (!st.have) {
        cp__errf(err, EPROTO, "ssh to %s: command '%s' ended without an exit status", c->conn.desc,
                 shown);
        goto close;
    }
    if (ob_finish(&out, &res->out) < 0 || ob_finish(&errb, &res->err_text) < 0) {
        cp__errf(err, ENOMEM, "out of memory");
        goto close;
    }
    res->exit_code = st.code;
    res->truncated = out.truncated || errb.truncated;
    rc = 0;
    goto close;

lost_running:
    cp__errf(err, ECONNRESET, "ssh to %s: the connection was lost while command '%s' ran (it "
             "may have run; it is not run again): %s", c->conn.desc, shown,
             cp__ssh_wd_fired(&c->conn) ? "no answer in time" : ssh_get_error(c->conn.s));
lost:
    CP_WARN("ssh", "%s", err ? err->text : "connection lost");
    ssh_channel_free(ch);
    ch = NULL;
    cp__ssh_chan_drop(c);
close:
    if (ch) {
        cp__ssh_wd_arm(&c->conn, 5);
        ssh_channel_close(ch);
        ssh_channel_free(ch);
        if (cp__ssh_wd_disarm(&c->conn) || cp__ssh_chan_broken(c))
            cp__ssh_chan_drop(c);
    }
done:
    if (rc < 0)
        cp__channel_result_clear(res);
    free(out.p);
    free(errb.p);
    free(wrapped);
    return rc;
}

double cp__ssh_timeout(struct cp__ssh_chan *c, double timeout)
{
    if (timeout > 0)
        return timeout;
    return c->conn.cfg.cmd_timeout > 0 ? c->conn.cfg.cmd_timeout : DEFAULT_CMD_TIMEOUT;
}

static int ssh_run(struct cp__channel *ch, const char *cmd, const char *stdin_text,
                   double timeout, struct cp__channel_result *res, cp_err *err)
{
    struct cp__ssh_chan *c = impl(ch);
    struct cp__ssh_guard g;
    pthread_mutex_lock(&c->mu);
    cp__ssh_guard_on(&g);
    int rc = cp__ssh_exec(c, cmd, stdin_text, cp__ssh_timeout(c, timeout), res, err);
    cp__ssh_guard_off(&g);
    pthread_mutex_unlock(&c->mu);
    return rc;
}

/* ------------------------------------------------------------------ life */

static const char *ssh_describe(struct cp__channel *ch)
{
    return impl(ch)->conn.desc;
}

static void ssh_close(struct cp__channel *ch)
{
    struct cp__ssh_chan *c = impl(ch);
    struct cp__ssh_guard g;
    cp__ssh_guard_on(&g);
    pthread_mutex_lock(&c->mu);
    cp__ssh_chan_drop(c);
    pthread_mutex_unlock(&c->mu);
    cp__ssh_conn_fini(&c->conn);
    cp__ssh_guard_off(&g);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

static const struct cp__channel_ops ssh_ops = {
    .name = "ssh",
    .run = ssh_run,
    .put = cp__ssh_put,
    .get = cp__ssh_get,
    .mkdirs = cp__ssh_mkdirs,
    .describe = ssh_describe,
    .close = ssh_close,
};

struct cp__channel *cp__channel_ssh_open(const struct cp__channel_config *cfg, cp_err *err)
{
    if (cfg->type != CP_CHANNEL_SSH || !cfg->host || !*cfg->host) {
        cp__errf(err, EINVAL, "an ssh channel needs type ssh and a host");
        return NULL;
    }
    struct cp__ssh_chan *c = calloc(1, sizeof *c);
    if (!c) {
        cp__errf(err, ENOMEM, "out of memory");
        return NULL;
    }
    c->base.ops = &ssh_ops;
    if (cp__ssh_conn_init(&c->conn, cfg, err) < 0) {
        free(c);
        return NULL;
    }
    pthread_mutex_init(&c->mu, NULL);
    struct cp__ssh_guard g;
    cp__ssh_guard_on(&g);
    int rc = cp__ssh_conn_connect(&c->conn, err);
    cp__ssh_guard_off(&g);
    if (rc < 0) {
        cp__ssh_conn_fini(&c->conn);
        pthread_mutex_destroy(&c->mu);
        free(c);
        return NULL;
    }
    return &c->base;
}
