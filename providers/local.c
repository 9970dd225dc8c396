/* providers/local.c — the `local` provider: a block is a process group on this
 * machine (Parsl's LocalProvider).
 *
 * submit writes <run_dir>/submit_scripts/<job_name>.sh (JOBNAME, worker_init,
 * the command) and starts a small wrapper under bash in a new session, so the
 * wrapper leads a process group that holds everything the block starts:
 *
 *     "$0" "$1"                      the script, stdout/stderr to <script>.out/.err
 *     <script>.ec ← its exit code    (written to .ec.tmp, then renamed)
 *
 * The job id is the group's id (the wrapper's pid) as text. The exit code lives in
 * a file rather than only in our wait status so that it survives us: a later
 * provider on the same run directory (an engine that restarted) can still tell a
 * block's end, finding the script from the job id through the symlink
 * submit_scripts/local-jobs/<id>. A cancel leaves <script>.cancelled for the same
 * reason.
 *
 * Children: the wrapper is our child and nobody else's business, so it is reaped
 * with waitpid on its own pid (never -1: another part of the engine, or libuv,
 * may own other children). Until it is reaped its pid, and with it the group id,
 * cannot be reused, which is what makes signalling the group safe. Reaping
 * happens on every call (status, submit, cancel) and in destroy; nothing here
 * sleeps except destroy, which gives the blocks it ends their grace.
 *
 * Cancel sends SIGTERM to the whole group and returns; a call after the grace
 * sends SIGKILL to what is left. A process that leaves the group (setsid) is out
 * of our reach, as it is of Parsl's.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "common/spawn.h"
#include "providers/provider.h"

#define KILL_GRACE 2.0          /* seconds between SIGTERM and SIGKILL (DESIGN §9) */
#define NAME_MAX_BYTES 200      /* of a job name in file names, before ".sh" */
#define MAX_SUFFIX 10000        /* name.2.sh … when a job name is reused */
#define INDEX_DIR "local-jobs"

/* $0 is the shell, $1 the script. The wrapper keeps running while the script
 * does, so it is the group leader we reap; its own exit status repeats the
 * script's, for when the .ec file cannot be written. */
static const char wrapper[] =
    "\"$0\" \"$1\"\n"
    "ec=$?\n"
    "printf '%s\\n' \"$ec\" >\"$1.ec.tmp\" && mv -f -- \"$1.ec.tmp\" \"$1.ec\"\n"
    "exit \"$ec\"\n";

struct block {
    char *job_id;               /* the group id as text */
    pid_t pgid;                 /* = the wrapper's pid */
    char *script;               /* absolute path of the submit script */
    bool own;                   /* our child (not adopted from an earlier provider) */
    bool reaped;                /* own: its exit was collected, or collected elsewhere */
    bool have_wstatus;          /* reaped here: wstatus holds its end */
    int wstatus;
    bool cancelled, term_sent, kill_sent;
    double kill_at;             /* CLOCK_MONOTONIC when SIGKILL is due */
    bool final;                 /* st is the block's last word and nothing is left to
                                 * do for it */
    struct cp__block_status st; /* cached once final (paths always filled) */
    struct block *next;
};

struct local_provider {
    struct cp__provider base;
    pthread_mutex_t mu;         /* guards everything below */
    char *dir;                  /* absolute <run_dir>/submit_scripts */
    char *worker_init;
    struct cp__shell_spawn sp;  /* spawn attributes: new session, signals reset */
    bool sp_ready;
    double grace;
    struct block *blocks;       /* every block asked about, newest first */
};

static int oom(cp_err *err)
{
    return cp__errf(err, ENOMEM, "out of memory");
}

static const char *errtext(int errnum, char *buf, size_t n)
{
    return cp__shell_spawn_errtext(errnum, buf, n);
}

static void block_free(struct block *b)
{
    if (!b)
        return;
    free(b->job_id);
    free(b->script);
    cp__block_status_clear(&b->st);
    free(b);
}

static char *path_with(const char *script, const char *ext)
{
    return cp__strdup_printf("%s%s", script, ext);
}

static bool exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* Whether /proc/<name>/stat shows a live (not zombie) process of group pgid. */
static bool live_member(const char *name, pid_t pgid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%s/stat", name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    /* The command name may hold anything, ')' included: fields follow the last. */
    char *p = strrchr(buf, ')');
    char state;
    int ppid, pgrp;
    if (!p || sscanf(p + 1, " %c %d %d", &state, &ppid, &pgrp) != 3)
        return false;
    return pgrp == pgid && state != 'Z' && state != 'X';
}

/* Whether group pgid has a process that still runs. kill(-pgid, 0) alone is not
 * enough: it counts zombies, and an orphan of the block stays a zombie for as
 * long as whoever adopts it does not reap, which in a container whose PID 1 is
 * not a real init is forever. So a group kill calls alive is confirmed in /proc
 * (where there is none, kill's word stands). EPERM means it exists but is not
 * ours to signal: still alive. */
static bool group_alive(pid_t pgid)
{
    if (kill(-pgid, 0) != 0 && errno != EPERM)
        return false;
    DIR *d = opendir("/proc");
    if (!d)
        return true;
    bool alive = false;
    struct dirent *e;
    while (!alive && (e = readdir(d)))
        alive = e->d_name[0] >= '1' && e->d_name[0] <= '9' && live_member(e->d_name, pgid);
    closedir(d);
    return alive;
}

static const char *signal_name(int sig, char *buf, size_t n)
{
    const char *abbrev = sigabbrev_np(sig);
    if (abbrev)
        snprintf(buf, n, "SIG%s", abbrev);
    else
        snprintf(buf, n, "%d", sig);
    return buf;
}

/* ------------------------------------------------------------ states */

/* The exit code in <script>.ec: 0 with *code, or -1 when there is none (or it is
 * not a number, which a killed writer could leave behind). */
static int read_ec(const char *script, int *code)
{
    char *path = path_with(script, ".ec"), buf[32];
    if (!path)
        return -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    free(path);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    char *end;
    long v = strtol(buf, &end, 10);
    if (end == buf || (*end && *end != '\n') || v < 0 || v > 255)
        return -1;
    *code = (int)v;
    return 0;
}

/* Fills st's paths (always) and, for an ended block, its output tails. */
static int fill_files(const struct block *b, struct cp__block_status *st, bool tails)
{
    if (!(st->stdout_path = path_with(b->script, ".out")) ||
        !(st->stderr_path = path_with(b->script, ".err")))
        return -1;
    if (tails) {
        /* A file that is gone has no tail (NULL); only memory is an error. */
        errno = 0;
        st->stdout_tail = cp__provider_tail(st->stdout_path, CP_PROVIDER_TAIL_LINES,
                                            CP_PROVIDER_TAIL_BYTES);
        if (!st->stdout_tail && errno == ENOMEM)
            return -1;
        errno = 0;
        st->stderr_tail = cp__provider_tail(st->stderr_path, CP_PROVIDER_TAIL_LINES,
                                            CP_PROVIDER_TAIL_BYTES);
        if (!st->stderr_tail && errno == ENOMEM)
            return -1;
    }
    return 0;
}

/* Makes b final with state, exit code and message (copied; NULL for none). On no
 * memory b stays as it was and the next call tries again. */
static void finish(struct block *b, enum cp__block_state state, int code, const char *msg)
{
    struct cp__block_status st = {.state = state, .exit_code = code};
    if ((msg && !(st.message = strdup(msg))) || fill_files(b, &st, true) != 0) {
        cp__block_status_clear(&st);
        return;
    }
    cp__block_status_clear(&b->st);
    b->st = st;
    b->final = true;
}

/* The block's end as its files and our wait status tell it (not cancelled). */
static void finish_ended(struct block *b)
{
    int code;
    char buf[64], msg[160];
    /* Another provider on this run directory (before a restart) cancelled it. */
    char *marker = path_with(b->script, ".cancelled");
    bool cancelled = marker && exists(marker);
    free(marker);
    if (cancelled) {
        finish(b, CP_BLOCK_CANCELLED, -1, "cancelled");
    } else if (read_ec(b->script, &code) == 0) {
        finish(b, code == 0 ? CP_BLOCK_COMPLETED : CP_BLOCK_FAILED, code, NULL);
    } else if (b->have_wstatus && WIFSIGNALED(b->wstatus)) {
        int sig = WTERMSIG(b->wstatus);
        snprintf(msg, sizeof msg, "killed by signal %s", signal_name(sig, buf, sizeof buf));
        finish(b, CP_BLOCK_FAILED, 128 + sig, msg);
    } else if (b->have_wstatus) {
        finish(b, CP_BLOCK_FAILED, WEXITSTATUS(b->wstatus),
               "ended without writing its exit code file");
    } else {
        finish(b, CP_BLOCK_MISSING, -1, "no process and no exit code file");
    }
}

/* Collects an own wrapper's exit if it has come; never blocks. */
static void reap(struct block *b)
{
    if (!b->own || b->reaped)
        return;
    int ws;
    pid_t r = waitpid(b->pgid, &ws, WNOHANG);
    if (r == b->pgid) {
        b->reaped = b->have_wstatus = true;
        b->wstatus = ws;
    } else if (r < 0 && errno == ECHILD) {
        /* Reaped elsewhere (SIGCHLD ignored, or someone's waitpid(-1)): the files
         * still tell the end. */
        b->reaped = true;
    }
}

/* Whether b's group may still have members. Only asked once the wrapper is
 * reaped (a zombie leader keeps the group "alive"). */
static bool members_left(const struct block *b)
{
    return !b->reaped || group_alive(b->pgid);
}

/* Moves b on: reaps, escalates a cancel, and settles the end. */
static void update(struct block *b)
{
    if (b->final)
        return;
    reap(b);
    if (b->cancelled) {
        if (b->term_sent && !b->kill_sent && cp__mono() >= b->kill_at) {
            if (members_left(b))
                kill(-b->pgid, SIGKILL);
            b->kill_sent = true;
            reap(b);
        }
        if (b->reaped && (b->kill_sent || !group_alive(b->pgid)))
            finish(b, CP_BLOCK_CANCELLED, -1, "cancelled");
        return;
    }
    if (!b->reaped)
        return;                         /* own and running */
    if (!b->own) {
        int code;
        if (read_ec(b->script, &code) == 0 || !group_alive(b->pgid))
            finish_ended(b);
        return;                         /* else an adopted block still running */
    }
    finish_ended(b);
}

static void sweep(struct local_provider *lp)
{
    for (struct block *b = lp->blocks; b; b = b->next)
        update(b);
}

/* ------------------------------------------------------------ finding blocks */

/* A decimal pid above 1: kill(-1) would signal every process we may signal, and
 * -0 our own group. */
static bool parse_pgid(const char *id, pid_t *out)
{
    if (!id || !*id || strlen(id) > 10)
        return false;
    char *end;
    errno = 0;
    long v = strtol(id, &end, 10);
    if (*end || errno || v <= 1 || v > INT_MAX || id[0] == '0' || id[0] == '+' ||
        id[0] == '-' || id[0] == ' ')
        return false;
    *out = (pid_t)v;
    return true;
}

/* A block an earlier provider on this run directory started: the index names its
 * script. NULL when there is none (or no memory). */
static struct block *adopt(struct local_provider *lp, const char *id)
{
    pid_t pgid;
    if (!parse_pgid(id, &pgid))
        return NULL;
    char target[PATH_MAX];
    char *link = cp__strdup_printf("%s/" INDEX_DIR "/%s", lp->dir, id);
    if (!link)
        return NULL;
    ssize_t n = readlink(link, target, sizeof target - 1);
    free(link);
    if (n <= 0)
        return NULL;
    target[n] = '\0';
    const char *base = strrchr(target, '/');
    base = base ? base + 1 : target;
    struct block *b = calloc(1, sizeof *b);
    if (!b || !(b->job_id = strdup(id)) ||
        !(b->script = cp__strdup_printf("%s/%s", lp->dir, base))) {
        block_free(b);
        return NULL;
    }
    b->st = (struct cp__block_status){.state = CP_BLOCK_UNKNOWN, .exit_code = -1};
    b->pgid = pgid;
    b->reaped = true;                   /* not ours to reap */
    /* Cancelled by the earlier provider: what may be left of it gets SIGKILL after
     * the grace, as if we had cancelled it. */
    char *marker = path_with(b->script, ".cancelled");
    if (marker && exists(marker)) {
        b->cancelled = b->term_sent = true;
        b->kill_at = cp__mono() + lp->grace;
    }
    free(marker);
    b->next = lp->blocks;
    lp->blocks = b;
    update(b);
    return b;
}

static struct block *find(struct local_provider *lp, const char *id)
{
    if (!id)
        return NULL;
    for (struct block *b = lp->blocks; b; b = b->next)
        if (strcmp(b->job_id, id) == 0)
            return b;
    return adopt(lp, id);
}

/* ------------------------------------------------------------ status */

/* What status reports for b now, copied into out. */
static int report(const struct block *b, struct cp__block_status *out)
{
    *out = (struct cp__block_status){.state = CP_BLOCK_RUNNING, .exit_code = -1};
    if (b->final) {
        const struct cp__block_status *s = &b->st;
        out->state = s->state;
        out->exit_code = s->exit_code;
        if ((s->message && !(out->message = strdup(s->message))) ||
            (s->stdout_tail && !(out->stdout_tail = strdup(s->stdout_tail))) ||
            (s->stderr_tail && !(out->stderr_tail = strdup(s->stderr_tail))))
            return -1;
        return fill_files(b, out, false);
    }
    if (b->cancelled) {
        out->state = CP_BLOCK_CANCELLED;
        if (!(out->message = strdup("cancelled")))
            return -1;
    }
    return fill_files(b, out, false);
}

static int local_status(struct cp__provider *p, const char *const *ids, size_t n,
                        struct cp__block_status *out, cp_err *err)
{
    struct local_provider *lp = (struct local_provider *)p;
    int rc = 0;
    pthread_mutex_lock(&lp->mu);
    sweep(lp);
    for (size_t i = 0; i < n; i++)
        out[i] = (struct cp__block_status){.state = CP_BLOCK_UNKNOWN, .exit_code = -1};
    for (size_t i = 0; i < n && rc == 0; i++) {
        const struct block *b = find(lp, ids[i]);
        if (b) {
            rc = report(b, &out[i]);
        } else {
            char *msg = cp__strdup_printf("job %s is not a block of this provider "
                                          "(no process group and no entry in %s/" INDEX_DIR
                                          ")", ids[i] ? ids[i] : "(null)", lp->dir);
            out[i].state = CP_BLOCK_MISSING;
            if (!(out[i].message = msg))
                rc = -1;
        }
    }
    pthread_mutex_unlock(&lp->mu);
    if (rc != 0) {
        cp__block_status_clear_n(out, n);
        return oom(err);
    }
    return 0;
}

/* ------------------------------------------------------------ cancel */

static void cancel_one(struct local_provider *lp, struct block *b)
{
    b->cancelled = true;
    b->term_sent = true;
    b->kill_at = cp__mono() + lp->grace;
    /* The marker first, so a provider after a restart sees the cancel even if we
     * die right after the signal. */
    char *marker = path_with(b->script, ".cancelled");
    if (marker) {
        int fd = open(marker, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (fd >= 0)
            close(fd);
        free(marker);
    }
    if (members_left(b))
        kill(-b->pgid, SIGTERM);
    CP_INFO("local", "job %s cancelled: SIGTERM to its process group", b->job_id);
}

static int local_cancel(struct cp__provider *p, const char *const *ids, size_t n,
                        bool *cancelled, cp_err *err)
{
    struct local_provider *lp = (struct local_provider *)p;
    int rc = 0;
    pthread_mutex_lock(&lp->mu);
    sweep(lp);
    for (size_t i = 0; i < n; i++) {
        struct block *b = ids[i] ? find(lp, ids[i]) : NULL;
        if (cancelled)
            cancelled[i] = b != NULL;
        if (!b) {
            /* Never signal a group we did not start: it could be anyone's. */
            if (rc == 0)
                rc = cp__errf(err, ESRCH, "cannot cancel job %s: not a block of this "
                                          "provider", ids[i] ? ids[i] : "(null)");
            continue;
        }
        if (!b->final && !b->cancelled)
            cancel_one(lp, b);
    }
    pthread_mutex_unlock(&lp->mu);
    return rc;
}

/* ------------------------------------------------------------ submit */

/* The job name as a file name: no '/', no control characters, not empty, at
 * most NAME_MAX_BYTES bytes (cut at a character boundary). */
static char *file_name(const char *job_name)
{
    const char *src = job_name && *job_name ? job_name : "block";
    size_t len = strlen(src);
    if (len > NAME_MAX_BYTES) {
        len = NAME_MAX_BYTES;
        while (len > 0 && ((unsigned char)src[len] & 0xC0) == 0x80)
            len--;
    }
    char *s = strndup(src, len);
    for (char *c = s; c && *c; c++)
        if (*c == '/' || (unsigned char)*c < 0x20 || *c == 0x7f)
            *c = '_';
    return s;
}

/* Creates <dir>/<name>.sh, or name.2.sh … when an earlier block used the name
 * (its files may be what explains its failure). Returns the open descriptor and
 * the path in *path (caller owns). */
static int create_script(struct local_provider *lp, const char *name, char **path, cp_err *err)
{
    char buf[128];
    for (int i = 1; i <= MAX_SUFFIX; i++) {
        char *p = i == 1 ? cp__strdup_printf("%s/%s.sh", lp->dir, name)
                         : cp__strdup_printf("%s/%s.%d.sh", lp->dir, name, i);
        if (!p)
            return oom(err);
        int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0700);
        if (fd >= 0) {
            *path = p;
            return fd;
        }
        int e = errno;
        if (e != EEXIST) {
            cp__errf(err, e, "cannot create submit script %s: %s", p, errtext(e, buf, sizeof buf));
            free(p);
            return -1;
        }
        free(p);
    }
    return cp__errf(err, EEXIST, "cannot create a submit script for job '%s' in %s: %d "
                                 "blocks already use the name", name, lp->dir, MAX_SUFFIX);
}

/* Text on one comment line: newlines would end the comment. */
static void put_comment_text(FILE *f, const char *s)
{
    for (; s && *s; s++)
        fputc((unsigned char)*s < 0x20 ? ' ' : *s, f);
}

static int write_script(struct local_provider *lp, int fd, const char *path,
                        const char *block_id, const char *job_name, const char *cmd,
                        cp_err *err)
{
    char buf[128];
    char *qname = cp__shell_quote(job_name ? job_name : "");
    FILE *f = qname ? fdopen(fd, "w") : NULL;
    if (!f) {
        int e = qname ? errno : ENOMEM;
        free(qname);
        close(fd);
        return cp__errf(err, e, "cannot write submit script %s: %s", path,
                        errtext(e, buf, sizeof buf));
    }
    fputs("#!/bin/bash\n# cparsl local provider: block ", f);
    put_comment_text(f, block_id);
    fputs(", job ", f);
    put_comment_text(f, job_name);
    fprintf(f, "\nexport JOBNAME=%s\n", qname);
    free(qname);
    /* worker_init first, in the same shell, so what it sets (modules, exports, a
     * cd) holds for the command. */
    size_t wl = strlen(lp->worker_init);
    if (wl)
        fprintf(f, "%s%s", lp->worker_init, lp->worker_init[wl - 1] == '\n' ? "" : "\n");
    size_t cl = strlen(cmd);
    fprintf(f, "%s%s", cmd, cl && cmd[cl - 1] == '\n' ? "" : "\n");
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) {
        int e = errno ? errno : EIO;
        return cp__errf(err, e, "cannot write submit script %s: %s", path,
                        errtext(e, buf, sizeof buf));
    }
    return 0;
}

static int open_output(const char *script, const char *ext, cp_err *err)
{
    char buf[128];
    char *path = path_with(script, ext);
    if (!path)
        return oom(err);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        cp__errf(err, errno, "cannot open %s: %s", path, errtext(errno, buf, sizeof buf));
    free(path);
    return fd;
}

/* Removes what an earlier block of the same script path may have left. */
static void remove_stale(const char *script)
{
    static const char *const exts[] = {".ec", ".ec.tmp", ".cancelled"};
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
        char *p = path_with(script, exts[i]);
        if (p)
            unlink(p);
        free(p);
    }
}

/* The wrapper in a new session: stdin /dev/null, stdout/stderr the block's files.
 * 0 with *pid, or -1 with err. */
static int spawn_wrapper(struct local_provider *lp, const char *script, pid_t *pid, cp_err *err)
{
    char buf[128];
    int out = -1, errfd = -1, rc = -1;
    posix_spawn_file_actions_t fa;
    bool have_fa = false;
    if ((out = open_output(script, ".out", err)) < 0 ||
        (errfd = open_output(script, ".err", err)) < 0)
        goto done;
    int e = posix_spawn_file_actions_init(&fa);
    have_fa = e == 0;
    /* The descriptors may be 0-2 only if the process runs with those closed; the
     * shell spawner moves its /dev/null above 2, and out/err are opened after
     * it, so none of these dup2s overwrites another's source. */
    if (e == 0 && (e = posix_spawn_file_actions_adddup2(&fa, lp->sp.devnull, 0)) == 0 &&
        (e = posix_spawn_file_actions_adddup2(&fa, out, 1)) == 0)
        e = posix_spawn_file_actions_adddup2(&fa, errfd, 2);
    if (e == 0) {
        char *argv[] = {(char *)lp->sp.shell, (char *)"-c", (char *)wrapper,
                        (char *)lp->sp.shell, (char *)script, NULL};
        e = posix_spawn(pid, lp->sp.shell, &fa, &lp->sp.attr, argv, environ);
    }
    if (e != 0) {
        cp__errf(err, e, "cannot start block %s: %s", script, errtext(e, buf, sizeof buf));
        goto done;
    }
    rc = 0;
done:
    if (have_fa)
        posix_spawn_file_actions_destroy(&fa);
    if (errfd >= 0)
        close(errfd);
    if (out >= 0)
        close(out);
    return rc;
}

/* local-jobs/<id> → ../<script name>, replacing an entry of an earlier group with
 * the same id (that group is gone, or the id would not have been free). */
static void index_block(struct local_provider *lp, const char *id, const char *script)
{
    const char *base = strrchr(script, '/') + 1;
    char *target = cp__strdup_printf("../%s", base);
    char *tmp = cp__strdup_printf("%s/" INDEX_DIR "/.%s.tmp", lp->dir, id);
    char *link = cp__strdup_printf("%s/" INDEX_DIR "/%s", lp->dir, id);
    if (target && tmp && link) {
        unlink(tmp);
        if (symlink(target, tmp) != 0 || rename(tmp, link) != 0) {
            char buf[128];
            CP_WARN("local", "cannot index job %s in %s/" INDEX_DIR ": %s (a restarted engine "
                    "will not find it)", id, lp->dir, errtext(errno, buf, sizeof buf));
            unlink(tmp);
        }
    }
    free(target);
    free(tmp);
    free(link);
}

static char *local_submit(struct cp__provider *p, const char *block_id, const char *cmd,
                          int tasks_per_node, const char *job_name, cp_err *err)
{
    (void)tasks_per_node;       /* the launcher has used it already */
    struct local_provider *lp = (struct local_provider *)p;
    struct block *b = NULL;
    char *name = NULL, *script = NULL, *id = NULL;
    pid_t pid = 0;
    if (!cmd)
        return cp__errf(err, EINVAL, "submit: no command"), NULL;
    pthread_mutex_lock(&lp->mu);
    sweep(lp);
    if (!(name = file_name(job_name))) {
        oom(err);
        goto error;
    }
    int fd = create_script(lp, name, &script, err);
    if (fd < 0)
        goto error;
    if (write_script(lp, fd, script, block_id ? block_id : "?", job_name, cmd, err) != 0) {
        unlink(script);
        goto error;
    }
    remove_stale(script);
    if (spawn_wrapper(lp, script, &pid, err) != 0)
        goto error;
    if (!(b = calloc(1, sizeof *b)) || !(b->job_id = cp__strdup_printf("%d", (int)pid)) ||
        !(id = strdup(b->job_id))) {
        /* Started but cannot be tracked: end it rather than lose it. */
        cp__shell_spawn_abandon(pid);
        oom(err);
        goto error;
    }
    b->st = (struct cp__block_status){.state = CP_BLOCK_UNKNOWN, .exit_code = -1};
    b->pgid = pid;
    b->own = true;
    b->script = script;
    script = NULL;
    /* The id may repeat an old, ended block's (pids are reused): the new block
     * takes it over. */
    for (struct block **pp = &lp->blocks; *pp; pp = &(*pp)->next)
        if (strcmp((*pp)->job_id, b->job_id) == 0) {
            struct block *old = *pp;
            *pp = old->next;
            block_free(old);
            break;
        }
    b->next = lp->blocks;
    lp->blocks = b;
    index_block(lp, b->job_id, b->script);
    CP_INFO("local", "block %s started as job %s (%s)", block_id ? block_id : "?", b->job_id,
            b->script);
    pthread_mutex_unlock(&lp->mu);
    free(name);
    return id;

error:
    if (b)
        block_free(b);
    pthread_mutex_unlock(&lp->mu);
    free(name);
    free(script);
    free(id);
    return NULL;
}

/* ------------------------------------------------------------ create/destroy */

static void nap(double seconds)
{
    struct timespec ts = {(time_t)seconds, (long)((seconds - (time_t)seconds) * 1e9)};
    nanosleep(&ts, NULL);
}

/* Whether b still needs destroy's attention: an own wrapper not yet reaped, or a
 * cancelled group that may have members left. */
static bool busy(const struct block *b)
{
    if (b->own && !b->reaped)
        return true;
    return b->cancelled && !b->final;
}

/* Cancels the blocks still running, waits up to the grace for them to go, then
 * kills what is left and reaps every wrapper: the provider owns its children. */
static void end_all(struct local_provider *lp)
{
    sweep(lp);
    for (struct block *b = lp->blocks; b; b = b->next)
        if (b->own && !b->final && !b->cancelled)
            cancel_one(lp, b);
    double deadline = cp__mono() + lp->grace;
    for (;;) {
        bool any = false;
        for (struct block *b = lp->blocks; b; b = b->next) {
            update(b);
            any |= busy(b);
        }
        if (!any || cp__mono() >= deadline)
            break;
        nap(0.01);
    }
    for (struct block *b = lp->blocks; b; b = b->next) {
        if (!busy(b))
            continue;
        if (!b->kill_sent && members_left(b))
            kill(-b->pgid, SIGKILL);
        if (b->own && !b->reaped)
            while (waitpid(b->pgid, NULL, 0) < 0 && errno == EINTR)
                ;
    }
}

static void local_destroy(struct cp__provider *p)
{
    struct local_provider *lp = (struct local_provider *)p;
    if (!lp)
        return;
    end_all(lp);
    while (lp->blocks) {
        struct block *b = lp->blocks;
        lp->blocks = b->next;
        block_free(b);
    }
    if (lp->sp_ready)
        cp__shell_spawn_fini(&lp->sp);
    pthread_mutex_destroy(&lp->mu);
    free(lp->dir);
    free(lp->worker_init);
    free(lp);
}

static struct cp__provider *local_create(const struct cp__provider_config *cfg,
                                         const char *run_dir, cp_err *err)
{
    char buf[128];
    struct local_provider *lp = calloc(1, sizeof *lp);
    if (!lp)
        return oom(err), NULL;
    lp->base.ops = &cp__provider_local;
    lp->grace = KILL_GRACE;
    pthread_mutex_init(&lp->mu, NULL);
    char *dir = NULL, *index = NULL;
    if (!run_dir || !*run_dir) {
        cp__errf(err, EINVAL, "local provider: no run directory");
        goto error;
    }
    if (!(lp->worker_init = strdup(cfg->common.worker_init ? cfg->common.worker_init : "")) ||
        !(dir = cp__strdup_printf("%s/submit_scripts", run_dir)) ||
        !(index = cp__strdup_printf("%s/" INDEX_DIR, dir))) {
        oom(err);
        goto error;
    }
    if (cp__mkdir_p(index, err) != 0)
        goto error;
    /* Absolute, so the paths in status and in the index hold whatever the
     * process's directory becomes later. */
    if (!(lp->dir = realpath(dir, NULL))) {
        cp__errf(err, errno, "cannot resolve %s: %s", dir, errtext(errno, buf, sizeof buf));
        goto error;
    }
    int rc = cp__shell_spawn_init(&lp->sp);
    if (rc < 0) {
        cp__errf(err, -rc, "local provider: cannot prepare to start processes: %s",
                 errtext(-rc, buf, sizeof buf));
        goto error;
    }
    lp->sp_ready = true;
    free(dir);
    free(index);
    return &lp->base;

error:
    free(dir);
    free(index);
    local_destroy(&lp->base);
    return NULL;
}

/* ------------------------------------------------------------ the type */

static const struct cp__provider_common local_defaults = {
    .nodes_per_block = 1,
    .init_blocks = 1,
    .min_blocks = 0,
    .max_blocks = 1,
    .parallelism = 1.0,
    .walltime = 0,
    .worker_init = "",
};

const struct cp__provider_ops cp__provider_local = {
    .name = "local",
    .keys = NULL,
    .defaults = &local_defaults,
    .default_launcher = "single_node",
    .status_polling_interval = 5.0,
    .has_walltime = false,
    .create = local_create,
    .submit = local_submit,
    .status = local_status,
    .cancel = local_cancel,
    .destroy = local_destroy,
};
