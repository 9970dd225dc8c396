/* providers/channel_local.c — the `local` channel (providers/channel.h): the
 * scheduler's tools run on this machine, files are plain files.
 *
 * run starts `/bin/sh -c CMD` with the spawn attributes every cparsl child gets
 * (common/spawn.h: a new session, so the command leads its own process group,
 * and signals at their defaults), feeds it stdin_text and collects stdout and
 * stderr, each up to CP_CHANNEL_OUTPUT_MAX bytes (the rest is read and dropped,
 * so a chatty command never blocks on a full pipe). At its limit the whole group
 * gets SIGTERM, then SIGKILL after KILL_GRACE, and the call fails naming the
 * command: a scheduler tool that hangs (slurmctld away) must not hang the
 * engine's block thread.
 *
 * stdin is a socket pair rather than a pipe so that writing to a command that
 * has already exited gives EPIPE (send with MSG_NOSIGNAL) instead of a SIGPIPE
 * that would end the whole engine.
 *
 * Once the shell has exited, its output is read until both streams end or
 * DRAIN_AFTER_EXIT passes: a background process it left holding the pipes must
 * not keep the call waiting (what it writes later is lost, as with Parsl's
 * subprocess.communicate on a timeout).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/spawn.h"
#include "common/util.h"
#include "providers/channel.h"

#define DEFAULT_TIMEOUT 60.0    /* when neither the call nor the config gives one (as ssh) */
#define KILL_GRACE 1.0          /* seconds between SIGTERM and SIGKILL of the group */
#define DRAIN_AFTER_EXIT 0.5
#define CMD_IN_ERROR 120        /* bytes of the command shown in an error */

struct local_channel {
    struct cp__channel base;
    pthread_mutex_t mu;         /* one command at a time */
    struct cp__shell_spawn sp;
    bool sp_ready;
    double cmd_timeout;
};

static const char *errtext(int e, char *buf, size_t n)
{
    return cp__shell_spawn_errtext(e, buf, n);
}

/* The command for an error message: one line, cut at CMD_IN_ERROR bytes. */
static void short_cmd(const char *cmd, char *buf, size_t n)
{
    size_t k = 0;
    for (const char *c = cmd; *c && k + 4 < n && k < CMD_IN_ERROR; c++)
        buf[k++] = (unsigned char)*c < 0x20 ? ' ' : *c;
    if (strlen(cmd) > k && k + 4 < n) {
        memcpy(buf + k, "...", 3);
        k += 3;
    }
    buf[k] = '\0';
}

/* "~/x" → "$HOME/x" ("~" alone too); anything else as is. Caller frees. */
static char *expand(const char *path)
{
    if (path[0] == '~' && (path[1] == '/' || path[1] == '\0')) {
        const char *home = getenv("HOME");
        if (home && *home)
            return cp__strdup_printf("%s%s", home, path + 1);
    }
    return strdup(path);
}

/* ------------------------------------------------------------ run */

struct sink {
    int fd;
    char *buf;
    size_t len, cap;
    bool truncated;
};

/* Reads what is there into s (keeping at most CP_CHANNEL_OUTPUT_MAX bytes); closes
 * the fd at end of stream. -1 only when memory runs out. */
static int drain(struct sink *s)
{
    char tmp[65536];
    ssize_t n = read(s->fd, tmp, sizeof tmp);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return 0;
    if (n <= 0) {
        close(s->fd);
        s->fd = -1;
        return 0;
    }
    size_t keep = (size_t)n;
    if (s->len + keep > CP_CHANNEL_OUTPUT_MAX) {
        keep = CP_CHANNEL_OUTPUT_MAX - s->len;
        s->truncated = true;
    }
    if (s->len + keep + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap < s->len + keep + 1)
            cap *= 2;
        char *b = realloc(s->buf, cap);
        if (!b)
            return -1;
        s->buf = b;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, tmp, keep);
    s->len += keep;
    return 0;
}

static char *take(struct sink *s)
{
    char *b = s->buf ? s->buf : malloc(1);
    if (b)
        b[s->len] = '\0';
    s->buf = NULL;
    return b;
}

static int make_pipe(int fds[2])
{
    if (pipe2(fds, O_CLOEXEC) != 0)
        return -1;
    /* Above 0-2, so the child's dup2s never overwrite one another's source. */
    if ((fds[0] = cp__fd_above_stdio(fds[0])) < 0 || (fds[1] = cp__fd_above_stdio(fds[1])) < 0) {
        int e = errno;
        if (fds[0] >= 0)
            close(fds[0]);
        if (fds[1] >= 0)
            close(fds[1]);
        errno = e;
        return -1;
    }
    return 0;
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* One command's processes and pipes while it runs. */
struct job {
    pid_t pid;
    bool reaped;
    int status;
    int in;                     /* our end of stdin, or -1 once closed */
    const char *stdin_text;
    size_t stdin_len, stdin_off;
    struct sink out, err;
};

static int start(struct local_channel *lc, const char *cmd, struct job *j, cp_err *err)
{
    int in[2] = {-1, -1}, out[2] = {-1, -1}, er[2] = {-1, -1};
    char buf[128];
    int e = 0;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) != 0 ||
        (in[0] = cp__fd_above_stdio(in[0])) < 0 || (in[1] = cp__fd_above_stdio(in[1])) < 0 ||
        make_pipe(out) != 0 || make_pipe(er) != 0)
        e = errno;
    posix_spawn_file_actions_t fa;
    bool have_fa = false;
    if (!e && !(e = posix_spawn_file_actions_init(&fa))) {
        have_fa = true;
        if (!(e = posix_spawn_file_actions_adddup2(&fa, in[0], 0)) &&
            !(e = posix_spawn_file_actions_adddup2(&fa, out[1], 1)))
            e = posix_spawn_file_actions_adddup2(&fa, er[1], 2);
    }
    if (!e) {
        char *argv[] = {(char *)"sh", (char *)"-c", (char *)cmd, NULL};
        e = posix_spawn(&j->pid, "/bin/sh", &fa, &lc->sp.attr, argv, environ);
    }
    if (have_fa)
        posix_spawn_file_actions_destroy(&fa);
    close_fd(&in[0]);
    close_fd(&out[1]);
    close_fd(&er[1]);
    if (e) {
        close_fd(&in[1]);
        close_fd(&out[0]);
        close_fd(&er[0]);
        char c[CMD_IN_ERROR + 8];
        short_cmd(cmd, c, sizeof c);
        return cp__errf(err, e, "cannot run '%s': %s", c, errtext(e, buf, sizeof buf));
    }
    j->in = in[1];
    j->out.fd = out[0];
    j->err.fd = er[0];
    fcntl(j->in, F_SETFL, fcntl(j->in, F_GETFL) | O_NONBLOCK);
    if (j->stdin_len == 0)
        close_fd(&j->in);
    return 0;
}

static void reap(struct job *j, bool block)
{
    if (j->reaped)
        return;
    pid_t r;
    while ((r = waitpid(j->pid, &j->status, block ? 0 : WNOHANG)) < 0 && errno == EINTR)
        ;
    if (r == j->pid || (r < 0 && errno == ECHILD)) {
        if (r < 0)
            j->status = 0xff00;     /* reaped elsewhere: exit code 255 */
        j->reaped = true;
    }
}

/* Ends a command that ran past its limit: TERM to its group, KILL after the
 * grace, then reaps it. */
static void kill_group(struct job *j)
{
    kill(-j->pid, SIGTERM);
    double until = cp__mono() + KILL_GRACE;
    while (!j->reaped && cp__mono() < until) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
        reap(j, false);
    }
    /* What is left of the group (the shell's children) goes too, even when the
     * shell itself has ended. */
    kill(-j->pid, SIGKILL);
    reap(j, true);
}

static void feed(struct job *j)
{
    while (j->in >= 0 && j->stdin_off < j->stdin_len) {
        ssize_t n = send(j->in, j->stdin_text + j->stdin_off, j->stdin_len - j->stdin_off,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                close_fd(&j->in);       /* the command stopped reading: fine */
            return;
        }
        j->stdin_off += (size_t)n;
    }
    if (j->stdin_off >= j->stdin_len)
        close_fd(&j->in);
}

/* Moves the command on until it ends or the deadline passes. 0 when it ended;
 * 1 at the deadline; -1 when memory ran out. */
static int pump(struct job *j, double deadline)
{
    double exited_at = 0;
    for (;;) {
        reap(j, false);
        double now = cp__mono();
        if (j->reaped && !exited_at)
            exited_at = now;
        if (j->reaped && ((j->out.fd < 0 && j->err.fd < 0) || now - exited_at > DRAIN_AFTER_EXIT))
            return 0;
        if (now >= deadline)
            return 1;
        struct pollfd p[3];
        int n = 0;
        int iout = -1, ierr = -1, iin = -1;
        if (j->out.fd >= 0)
            p[iout = n++] = (struct pollfd){.fd = j->out.fd, .events = POLLIN};
        if (j->err.fd >= 0)
            p[ierr = n++] = (struct pollfd){.fd = j->err.fd, .events = POLLIN};
        if (j->in >= 0)
            p[iin = n++] = (struct pollfd){.fd = j->in, .events = POLLOUT};
        /* Short naps while both streams are closed (the shell may still run), or
         * while waiting for its exit: waitpid has no descriptor to poll. */
        int ms = (int)((deadline - now) * 1000) + 1;
        if (ms > 50)
            ms = 50;
        int r = poll(p, (nfds_t)n, ms);
        if (r < 0 && errno != EINTR)
            return 1;
        if (r <= 0)
            continue;
        if (iin >= 0 && p[iin].revents)
            feed(j);
        if (iout >= 0 && p[iout].revents && drain(&j->out) != 0)
            return -1;
        if (ierr >= 0 && p[ierr].revents && drain(&j->err) != 0)
            return -1;
    }
}

static int local_run(struct cp__channel *ch, const char *cmd, const char *stdin_text,
                     double timeout, struct cp__channel_result *res, cp_err *err)
{
    struct local_channel *lc = (struct local_channel *)ch;
    memset(res, 0, sizeof *res);
    if (!cmd)
        return cp__errf(err, EINVAL, "no command to run");
    if (timeout <= 0)
        timeout = lc->cmd_timeout;
    struct job j = {.in = -1, .out.fd = -1, .err.fd = -1, .stdin_text = stdin_text,
                    .stdin_len = stdin_text ? strlen(stdin_text) : 0};
    int rc = -1;
    char c[CMD_IN_ERROR + 8];
    pthread_mutex_lock(&lc->mu);
    if (start(lc, cmd, &j, err) != 0)
        goto done;
    feed(&j);
    int p = pump(&j, cp__mono() + timeout);
    if (p != 0) {
        kill_group(&j);
        short_cmd(cmd, c, sizeof c);
        if (p < 0)
            cp__errf(err, ENOMEM, "out of memory reading the output of '%s'", c);
        else
            cp__errf(err, ETIMEDOUT, "command '%s' did not finish within %g s (killed)", c,
                     timeout);
        goto done;
    }
    if (WIFSIGNALED(j.status))
        res->exit_code = 128 + WTERMSIG(j.status);
    else
        res->exit_code = WEXITSTATUS(j.status);
    res->truncated = j.out.truncated || j.err.truncated;
    if (!(res->out = take(&j.out)) || !(res->err_text = take(&j.err))) {
        cp__channel_result_clear(res);
        cp__errf(err, ENOMEM, "out of memory");
        goto done;
    }
    rc = 0;
done:
    close_fd(&j.in);
    close_fd(&j.out.fd);
    close_fd(&j.err.fd);
    free(j.out.buf);
    free(j.err.buf);
    pthread_mutex_unlock(&lc->mu);
    return rc;
}

/* ------------------------------------------------------------ files */

/* mkdir -p with mode for the directories it makes. */
static int mkdirs_path(const char *path, int mode, cp_err *err)
{
    char buf[128];
    char *p = strdup(path);
    if (!p)
        return cp__errf(err, ENOMEM, "out of memory");
    int rc = 0;
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char saved = *s;
        *s = '\0';
        struct stat st;
        if (mkdir(p, (mode_t)mode) != 0 && errno != EEXIST) {
            rc = cp__errf(err, errno, "cannot create directory %s: %s", p,
                          errtext(errno, buf, sizeof buf));
            break;
        }
        if (stat(p, &st) != 0 || !S_ISDIR(st.st_mode)) {
            rc = cp__errf(err, ENOTDIR, "cannot create directory %s: a file is in the way", p);
            break;
        }
        *s = saved;
        if (!saved)
            break;
    }
    free(p);
    return rc;
}

static int local_mkdirs(struct cp__channel *ch, const char *path, int mode, cp_err *err)
{
    (void)ch;
    char *p = path && *path ? expand(path) : NULL;
    if (!p)
        return cp__errf(err, path && *path ? ENOMEM : EINVAL, "mkdirs: no path");
    int rc = mkdirs_path(p, mode, err);
    free(p);
    return rc;
}

static int write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

static int local_put(struct cp__channel *ch, const char *path, const void *data, size_t len,
                     int mode, cp_err *err)
{
    (void)ch;
    char buf[128];
    char *p = path && *path ? expand(path) : NULL, *dir = NULL, *tmp = NULL;
    int fd = -1, rc = -1;
    if (!p)
        return cp__errf(err, path && *path ? ENOMEM : EINVAL, "put: no path");
    char *slash = strrchr(p, '/');
    if (slash && slash != p && !(dir = strndup(p, (size_t)(slash - p)))) {
        cp__errf(err, ENOMEM, "out of memory");
        goto done;
    }
    if (dir && mkdirs_path(dir, 0700, err) != 0)
        goto done;
    /* A temporary name beside the file, then rename: a reader (sbatch) never sees
     * half a script, and a failed write leaves the old file as it was. */
    if (!(tmp = cp__strdup_printf("%s.tmp.%d.%lx", p, (int)getpid(),
                                  (unsigned long)(cp__mono() * 1e6)))) {
        cp__errf(err, ENOMEM, "out of memory");
        goto done;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 || write_all(fd, data, len) != 0 || fchmod(fd, (mode_t)mode) != 0) {
        cp__errf(err, errno, "cannot write %s: %s", p, errtext(errno, buf, sizeof buf));
        goto done;
    }
    if (close(fd) != 0) {
        fd = -1;
        cp__errf(err, errno, "cannot write %s: %s", p, errtext(errno, buf, sizeof buf));
        goto done;
    }
    fd = -1;
    if (rename(tmp, p) != 0) {
        cp__errf(err, errno, "cannot write %s: %s", p, errtext(errno, buf, sizeof buf));
        goto done;
    }
    rc = 0;
done:
    if (fd >= 0)
        close(fd);
    if (rc != 0 && tmp)
        unlink(tmp);
    free(tmp);
    free(dir);
    free(p);
    return rc;
}

static int local_get(struct cp__channel *ch, const char *path, size_t max, char **data,
                     size_t *len, cp_err *err)
{
    (void)ch;
    char buf[128];
    *data = NULL;
    *len = 0;
    char *p = path && *path ? expand(path) : NULL, *out = NULL;
    if (!p)
        return cp__errf(err, path && *path ? ENOMEM : EINVAL, "get: no path");
    int rc = -1;
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        cp__errf(err, errno, "cannot read %s: %s", p, errtext(errno, buf, sizeof buf));
        goto done;
    }
    if (S_ISDIR(st.st_mode)) {
        cp__errf(err, EISDIR, "cannot read %s: it is a directory", p);
        goto done;
    }
    off_t off = st.st_size > (off_t)max ? st.st_size - (off_t)max : 0;
    size_t want = (size_t)(st.st_size - off);
    if (!(out = malloc(want + 1))) {
        cp__errf(err, ENOMEM, "out of memory");
        goto done;
    }
    size_t got = 0;
    while (got < want) {
        ssize_t n = pread(fd, out + got, want - got, off + (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            cp__errf(err, errno, "cannot read %s: %s", p, errtext(errno, buf, sizeof buf));
            goto done;
        }
        if (n == 0)
            break;                      /* shrank while we read */
        got += (size_t)n;
    }
    out[got] = '\0';
    *data = out;
    *len = got;
    out = NULL;
    rc = 0;
done:
    if (fd >= 0)
        close(fd);
    free(out);
    free(p);
    return rc;
}

/* ------------------------------------------------------------ open/close */

static const char *local_describe(struct cp__channel *ch)
{
    (void)ch;
    return "localhost";
}

static void local_close(struct cp__channel *ch)
{
    struct local_channel *lc = (struct local_channel *)ch;
    if (!lc)
        return;
    if (lc->sp_ready)
        cp__shell_spawn_fini(&lc->sp);
    pthread_mutex_destroy(&lc->mu);
    free(lc);
}

static const struct cp__channel_ops local_ops = {
    .name = "local",
    .run = local_run,
    .put = local_put,
    .get = local_get,
    .mkdirs = local_mkdirs,
    .describe = local_describe,
    .close = local_close,
};

struct cp__channel *cp__channel_local_open(const struct cp__channel_config *cfg, cp_err *err)
{
    char buf[128];
    struct local_channel *lc = calloc(1, sizeof *lc);
    if (!lc) {
        cp__errf(err, ENOMEM, "out of memory");
        return NULL;
    }
    lc->base.ops = &local_ops;
    pthread_mutex_init(&lc->mu, NULL);
    lc->cmd_timeout = cfg && cfg->cmd_timeout > 0 ? cfg->cmd_timeout : DEFAULT_TIMEOUT;
    int rc = cp__shell_spawn_init(&lc->sp);
    if (rc < 0) {
        cp__errf(err, -rc, "local channel: cannot prepare to start commands: %s",
                 errtext(-rc, buf, sizeof buf));
        local_close(&lc->base);
        return NULL;
    }
    lc->sp_ready = true;
    return &lc->base;
}
