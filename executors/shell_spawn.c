/* executors/shell_spawn.c — see shell_spawn.h.
 *
 * Everything here runs on whichever thread starts or finishes a command: a pool
 * thread inside cp__shell_runner_run, or the runner's loop thread for a submitted
 * request. Hence no locks and no shared mutable state: the spawn attributes and the
 * /dev/null descriptor are made once and only read afterwards, and every file that
 * is opened carries O_CLOEXEC, so it cannot leak into a child spawned meanwhile by
 * another thread.
 */
#include "executors/shell_spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "common/util.h"

#define TAIL_BYTES 1000
#define TAIL_LINES 5

/* ------------------------------------------------------------ starting */

static int mkdir_parents(const char *path)
{
    char *dir = strdup(path);
    int rc = -1;
    if (!dir)
        goto error;
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        for (char *p = dir + 1;; p++) {
            if (*p != '/' && *p != '\0')
                continue;
            char c = *p;
            *p = '\0';
            if (mkdir(dir, 0777) < 0 && errno != EEXIST)
                goto error;
            *p = c;
            if (!c)
                break;
        }
    }
    rc = 0;
error:
    free(dir);
    return rc;
}

/* Tries the open first: the directory usually exists, and mkdir -p costs a system
 * call per path component. O_CLOEXEC keeps the file out of children spawned for
 * other requests meanwhile; the dup2 onto fd 1/2 clears the flag for this child. */
static int open_output(const char *path, bool append)
{
    int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC);
    int fd = open(path, flags, 0644);
    if (fd < 0 && errno == ENOENT && mkdir_parents(path) == 0)
        fd = open(path, flags, 0644);
    return cp__fd_above_stdio(fd);
}

static bool overridden(const char *entry, const char *const *extra)
{
    size_t len = strcspn(entry, "=");
    for (; *extra; extra++)
        if (strncmp(*extra, entry, len) == 0 && (*extra)[len] == '=')
            return true;
    return false;
}

/* environ with the extra entries appended; a name given in extra replaces the
 * inherited one, since getenv and shells disagree about which duplicate wins. */
static char **merge_env(const char *const *extra)
{
    size_t n = 0, m = 0, k = 0;
    while (environ && environ[n])
        n++;
    while (extra[m])
        m++;
    char **env = malloc((n + m + 1) * sizeof *env);
    if (!env)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (!overridden(environ[i], extra))
            env[k++] = environ[i];
    for (size_t i = 0; i < m; i++)
        env[k++] = (char *)extra[i];
    env[k] = NULL;
    return env;
}

int cp__shell_spawn_start(const struct cp__shell_spawn *sp, const struct cp__shell_req *req,
                          struct cp__shell_child *c, char *msg, size_t cap)
{
    posix_spawn_file_actions_t fa;
    bool have_fa = false;
    char **env = NULL;
    char buf[128];
    int out = -1, err = -1, rc = 0;
    pid_t pid = 0;
    c->t_start = cp__now();
    c->t_spawn = cp__mono();

    if ((out = open_output(req->stdout_path, req->stdout_append)) < 0) {
        snprintf(msg, cap, "cannot start: cannot open stdout file %s: %s", req->stdout_path,
                 cp__shell_spawn_errtext(errno, buf, sizeof buf));
        goto error;
    }
    /* One open file for both streams when they share a path, or each would
     * overwrite the other from its own offset. */
    if (strcmp(req->stdout_path, req->stderr_path) == 0)
        err = out;
    else if ((err = open_output(req->stderr_path, req->stderr_append)) < 0) {
        snprintf(msg, cap, "cannot start: cannot open stderr file %s: %s", req->stderr_path,
                 cp__shell_spawn_errtext(errno, buf, sizeof buf));
        goto error;
    }
    if (req->env && !(env = merge_env(req->env))) {
        snprintf(msg, cap, "cannot start: out of memory");
        goto error;
    }
    if ((rc = posix_spawn_file_actions_init(&fa)) != 0)
        goto spawn_error;
    have_fa = true;
    if ((rc = posix_spawn_file_actions_adddup2(&fa, sp->devnull, 0)) != 0 ||
        (rc = posix_spawn_file_actions_adddup2(&fa, out, 1)) != 0 ||
        (rc = posix_spawn_file_actions_adddup2(&fa, err, 2)) != 0 ||
        (req->cwd && (rc = posix_spawn_file_actions_addchdir_np(&fa, req->cwd)) != 0))
        goto spawn_error;
    char *args[] = {(char *)sp->shell, (char *)"-c", (char *)req->cmd, NULL};
    if ((rc = posix_spawn(&pid, sp->shell, &fa, &sp->attr, args, env ? env : environ)) != 0)
        goto spawn_error;
    c->pid = pid;
    rc = 0;
    goto done;

spawn_error:
    snprintf(msg, cap, "cannot start: %s", cp__shell_spawn_errtext(rc, buf, sizeof buf));
error:
    rc = -1;
done:
    if (have_fa)
        posix_spawn_file_actions_destroy(&fa);
    free(env);
    if (err >= 0 && err != out)
        close(err);
    if (out >= 0)
        close(out);
    if (rc == 0 && sp->use_pidfd && (c->pidfd = cp__pidfd_open(pid)) < 0) {
        /* ESRCH: it has ended and been reaped elsewhere already (SIGCHLD ignored). */
        if (errno == ESRCH) {
            c->lost = ESRCH;
            return 0;
        }
        /* Unwatchable (out of descriptors): end it now rather than lose it. */
        snprintf(msg, cap, "cannot start: cannot watch the process: %s",
                 cp__shell_spawn_errtext(errno, buf, sizeof buf));
        cp__shell_spawn_abandon(pid);
        rc = -1;
    }
    return rc;
}

/* ------------------------------------------------------------ the end */

static void put_signal_name(FILE *out, int sig)
{
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
    const char *abbrev = sigabbrev_np(sig);
    if (abbrev) {
        fprintf(out, "SIG%s", abbrev);
        return;
    }
#else
    static const struct { int sig; const char *name; } names[] = {
        {SIGHUP, "SIGHUP"}, {SIGINT, "SIGINT"}, {SIGQUIT, "SIGQUIT"}, {SIGILL, "SIGILL"},
        {SIGABRT, "SIGABRT"}, {SIGFPE, "SIGFPE"}, {SIGKILL, "SIGKILL"}, {SIGBUS, "SIGBUS"},
        {SIGSEGV, "SIGSEGV"}, {SIGPIPE, "SIGPIPE"}, {SIGALRM, "SIGALRM"},
        {SIGTERM, "SIGTERM"}, {SIGUSR1, "SIGUSR1"}, {SIGUSR2, "SIGUSR2"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].sig == sig) {
            fputs(names[i].name, out);
            return;
        }
#endif
    fprintf(out, "%d", sig);
}

/* Appends "; stderr: <last lines>". Only the tail is read, since a failing task may
 * have written gigabytes of stderr. */
static void put_stderr_tail(FILE *out, const char *path)
{
    char buf[TAIL_BYTES];
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t n = -1;
    off_t off = 0;
    if (fstat(fd, &st) == 0 && st.st_size > 0) {
        off = st.st_size > TAIL_BYTES ? st.st_size - TAIL_BYTES : 0;
        n = pread(fd, buf, (size_t)(st.st_size - off), off);
    }
    close(fd);
    while (n > 0 && strchr(" \t\r\n", buf[n - 1]) && buf[n - 1])
        n--;
    if (n <= 0)
        return;
    size_t start = (size_t)n, lines = 0;
    while (start > 0 && !(buf[start - 1] == '\n' && ++lines == TAIL_LINES))
        start--;
    /* A tail cut by the byte limit starts mid-line; drop that fragment when a whole
     * line follows it. */
    if (start == 0 && off > 0) {
        char *nl = memchr(buf, '\n', (size_t)n);
        if (nl)
            start = (size_t)(nl + 1 - buf);
    }
    for (size_t i = start; i < (size_t)n; i++)
        if (buf[i] == '\0')
            buf[i] = '?';
    fputs("; stderr: ", out);
    fwrite(buf + start, 1, (size_t)n - start, out);
}

static bool outputs_missing(const struct cp__shell_req *req)
{
    struct stat st;
    for (size_t i = 0; i < req->noutputs; i++)
        if (stat(req->outputs[i], &st) < 0)
            return true;
    return false;
}

static void put_failure(FILE *out, const struct cp__shell_child *c,
                        const struct cp__shell_req *req, int status, int sig)
{
    struct stat st;
    char buf[128];
    if (c->timed_out) {
        fprintf(out, "walltime of %g s exceeded", req->walltime);
    } else if (c->interrupted) {
        fputs("interrupted", out);
    } else if (c->lost) {
        fprintf(out, "exit status lost: %s",
                cp__shell_spawn_errtext(c->lost, buf, sizeof buf));
    } else if (sig) {
        fputs("killed by signal ", out);
        put_signal_name(out, sig);
    } else if (status) {
        fprintf(out, "exit code %d", status);
    } else {
        const char *sep = "missing outputs: ";
        for (size_t i = 0; i < req->noutputs; i++)
            if (stat(req->outputs[i], &st) < 0) {
                fprintf(out, "%s%s", sep, req->outputs[i]);
                sep = ", ";
            }
    }
    put_stderr_tail(out, req->stderr_path);
}

/* The child is a zombie until waitid, which keeps its pid, and so its process group's
 * id, from being reused: what a signalled shell left behind in its group gets SIGKILL
 * first, and cannot be a stranger. */
char *cp__shell_spawn_collect(struct cp__shell_child *c, const struct cp__shell_req *req,
                              struct cp__shell_result *res)
{
    siginfo_t si;
    memset(&si, 0, sizeof si);
    int rc = -1;
    if (!c->lost) {
        if (c->term_sent)
            kill(-c->pid, SIGKILL);
        while ((rc = waitid(P_PID, (id_t)c->pid, &si, WEXITED)) < 0 && errno == EINTR)
            ;
        /* ECHILD: reaped elsewhere (a waitpid(-1), or SIGCHLD ignored). */
        if (rc < 0)
            c->lost = errno;
    }
    int sig = !rc && si.si_code != CLD_EXITED ? si.si_status : 0;
    int status = !rc && si.si_code == CLD_EXITED ? si.si_status : 0;

    *res = (struct cp__shell_result){
        .exit_code = sig || c->lost ? -1 : status, .term_signal = sig,
        .timed_out = c->timed_out, .t_start = c->t_start, .t_end = cp__now(),
    };
    char *text = NULL;
    size_t len = 0;
    res->ok = !c->timed_out && !c->interrupted && !c->lost && !sig && !status &&
              !outputs_missing(req);
    if (!res->ok) {
        FILE *out = open_memstream(&text, &len);
        if (out) {
            put_failure(out, c, req, status, sig);
            fclose(out);
        }
        res->error = text ? text : "failed (no memory to describe why)";
    }
    return text;
}
