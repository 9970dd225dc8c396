/* executors/shell_runner.h — runs shell commands as child processes.
 *
 * A request becomes `/bin/bash -c CMD` (/bin/sh where bash is missing) in a new
 * session, so its process group is the whole task: the walltime sends SIGTERM to the
 * group, then SIGKILL after a grace period, reaching children's children too.
 * stdout/stderr go to files (parent directories created), stdin is /dev/null, and
 * the child starts with no signal blocked and every signal 1-31 at its default
 * action, whatever the spawning thread had.
 *
 * Two ways to run one, sharing the kill_all/destroy bookkeeping:
 *  - cp__shell_runner_run: on the calling thread, which blocks until the command
 *    has ended (the thread_pool executor, whose threads wait anyway);
 *  - cp__shell_runner_submit: queued to the runner's own libuv loop thread, which
 *    runs many at once and calls back (the parsl-worker pool later).
 * Exits are watched through pidfds (Linux 5.3); where pidfd_open is missing or
 * refused (old kernels, some seccomp profiles) or CPARSL_SHELL_NO_PIDFD is set in the
 * environment when the runner is created, the loop thread watches SIGCHLD instead.
 * The loop and its thread exist only once needed: from the first submit, or from
 * create without pidfds. A runner used only through run() with pidfds has neither,
 * so libuv (which aborts when it cannot grow a loop's watcher array) is never
 * reached on that path.
 *
 * Lower layer: includes only the public header and common/.
 */
#ifndef CP_EXECUTORS_SHELL_RUNNER_H
#define CP_EXECUTORS_SHELL_RUNNER_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

struct cp__shell_runner;

/* What became of one request. All pointers are borrowed for the done callback. */
struct cp__shell_result {
    bool ok;                    /* exit 0, not timed out, outputs present */
    int exit_code;              /* -1 when killed by a signal or not started */
    int term_signal;            /* 0 unless killed by a signal */
    bool timed_out;             /* the walltime fired */
    const char *error;          /* NULL when ok; else a message such as
                                 * "exit code 3", "killed by signal SIGSEGV",
                                 * "walltime of 2.5 s exceeded",
                                 * "missing outputs: a.txt, b.txt",
                                 * "cannot start: …" or "exit status lost: …"
                                 * (reaped elsewhere: SIGCHLD ignored, or a
                                 * waitpid(-1)), followed, when stderr has
                                 * content, by "; stderr: <last lines>" */
    double t_start, t_end;      /* CLOCK_REALTIME seconds */
};

typedef void (*cp__shell_done_fn)(void *arg, const struct cp__shell_result *res);
typedef void (*cp__shell_started_fn)(void *arg, int pid);

/* One command. The runner copies every field it keeps; the caller's strings need
 * only live for the cp__shell_runner_submit or cp__shell_runner_run call. Relative stdout/stderr/output
 * paths are taken from the runner process's cwd, not from `cwd`. */
struct cp__shell_req {
    const char *cmd;            /* required */
    const char *stdout_path;    /* required; truncated unless stdout_append */
    const char *stderr_path;    /* required */
    bool stdout_append;
    bool stderr_append;
    double walltime;            /* seconds; <= 0: none */
    double kill_grace;          /* seconds between SIGTERM and SIGKILL; <= 0: 2.0 */
    const char *const *outputs; /* checked to exist after exit 0; may be NULL */
    size_t noutputs;
    const char *const *env;     /* extra "NAME=value" entries, NULL-terminated, or NULL */
    const char *cwd;            /* NULL: the runner process's cwd */
    cp__shell_started_fn started; /* optional; called after spawn, on the thread that
                                   * calls done */
    cp__shell_done_fn done;     /* required; called once: on the loop thread for
                                 * submit, on the calling thread for run */
    void *arg;
};

/* Caller owns the runner (cp__shell_runner_destroy). Starts the loop thread only
 * without pidfds; otherwise the first submit does. */
struct cp__shell_runner *cp__shell_runner_create(cp_err *err);

/* Queues a command; thread-safe. The first call starts the loop thread. On -1
 * (runner stopping, no memory, the loop or its thread cannot be made) done is not
 * called. */
int cp__shell_runner_submit(struct cp__shell_runner *r, const struct cp__shell_req *req,
                            cp_err *err);

/* Runs one command on the calling thread: opens its files, spawns it, waits for it
 * (applying the walltime), then calls started and done on this thread and returns 0
 * once done has returned. On -1 (runner stopping, bad request) done is not called.
 * Thread-safe; any number of threads may be inside at once. kill_all and destroy
 * reach these commands as they reach submitted ones (a run that kill_all catches
 * before its spawn reports "interrupted" without starting). Not from a callback of
 * a submitted request: that would stall the loop. */
int cp__shell_runner_run(struct cp__shell_runner *r, const struct cp__shell_req *req,
                         cp_err *err);

/* Sends SIGTERM (then SIGKILL after each request's grace) to every running group;
 * their done callbacks report "interrupted". Requests still queued are reported
 * "interrupted" without starting; later submissions run normally. When a signalled
 * shell exits (walltime or kill_all), what remains of its group gets SIGKILL at once.
 * Thread-safe, and callable from the callbacks. */
void cp__shell_runner_kill_all(struct cp__shell_runner *r);

/* Number of commands queued or running, submitted or inside run. Thread-safe. */
size_t cp__shell_runner_active(struct cp__shell_runner *r);

/* Kills whatever still runs (as kill_all), waits for every done callback (those of
 * runs on other threads too), stops the loop thread if there is one and frees.
 * Submissions and runs made meanwhile (from done callbacks too) fail. Not from a
 * callback: it waits for that callback's own request. NULL is fine. */
void cp__shell_runner_destroy(struct cp__shell_runner *r);

#endif
