/* executors/shell_spawn.h — starting one shell command and describing its end.
 *
 * The shell runner's work on a single child, apart from the coordination: the spawn
 * attributes, the stream files, the environment, posix_spawn and the pidfd, then the
 * reaping and the failure text. shell_runner.c decides when a command starts, how
 * its thread waits, when the group is signalled and whom to tell. Nothing here locks
 * or keeps state between calls, so any thread may call these at once.
 *
 * The request and result types are shell_runner.h's: these functions serve it and
 * nothing else. Lower layer: includes only the public header and common/.
 */
#ifndef CP_EXECUTORS_SHELL_SPAWN_H
#define CP_EXECUTORS_SHELL_SPAWN_H

#include <spawn.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"
#include "common/spawn.h"
#include "executors/shell_runner.h"

/* One child. Zero it and set pidfd to -1 before cp__shell_spawn_start, which sets
 * pid, pidfd, lost and the times. The runner sets the three flags as it signals the
 * group; cp__shell_spawn_collect reads them (and may set lost). */
struct cp__shell_child {
    int pid;
    int pidfd;                  /* -1 without pidfds; the owner of the child
                                 * record closes it */
    int lost;                   /* errno when the exit status could not be collected */
    bool term_sent;             /* SIGTERM went to the group (walltime or kill_all) */
    bool timed_out, interrupted;
    double t_start;             /* CLOCK_REALTIME when the start began; 0 before */
    double t_spawn;             /* CLOCK_MONOTONIC, the same moment */
};

/* Opens req's stdout and stderr files (creating parent directories), then starts
 * `shell -c req->cmd` with stdin from /dev/null, req->env merged over the process's
 * environment and req->cwd as its directory; with sp->use_pidfd, opens its pidfd.
 * req is borrowed for the call. 0: c->pid is running, or has already been reaped
 * elsewhere, in which case c->lost is ESRCH and there is no pidfd. -1: msg (cap
 * bytes) says why, starting "cannot start: ", and nothing is left running. */
int cp__shell_spawn_start(const struct cp__shell_spawn *sp, const struct cp__shell_req *req,
                          struct cp__shell_child *c, char *msg, size_t cap) CP__WUR;

/* Collects the exit of a child that has ended (unless c->lost says it cannot) and
 * fills *res: ok only when it exited 0, was neither timed out nor interrupted, and
 * every req->outputs path exists; otherwise error says why, with the tail of the
 * stderr file. When c->term_sent, what is left of the group gets SIGKILL first.
 * Returns the malloc'd text res->error points at, which the caller frees once done
 * with res; NULL when there is none (ok, or error is a static string). */
char *cp__shell_spawn_collect(struct cp__shell_child *c, const struct cp__shell_req *req,
                              struct cp__shell_result *res) CP__WUR;

#endif
