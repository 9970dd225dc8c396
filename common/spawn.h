/* common/spawn.h — starting child processes the way cparsl does everywhere: under
 * the shell (bash, or sh where bash is missing), in a new session so a whole
 * process group can be signalled, with signals reset and /dev/null as stdin.
 * Shared by the thread_pool's shell runner (executors/shell_spawn.h builds the
 * per-task part on this) and the local provider's blocks.
 */
#ifndef CP_COMMON_SPAWN_H
#define CP_COMMON_SPAWN_H

#include <spawn.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

/* What every spawn shares. Read-only between cp__shell_spawn_init and
 * cp__shell_spawn_fini, so threads spawn with one at once. The owner (the runner)
 * embeds it; it holds a descriptor and the attributes, so it must not be copied. */
struct cp__shell_spawn {
    const char *shell;          /* "/bin/bash", "/bin/sh" where bash is missing */
    bool use_pidfd;             /* pidfd_open works here and CPARSL_SHELL_NO_PIDFD was
                                 * unset at init */
    int devnull;                /* the children's stdin; O_CLOEXEC, above fd 2 */
    posix_spawnattr_t attr;     /* new session, nothing blocked, 1-31 and glibc's
                                 * 32-33 at their defaults */
};

/* Chooses the shell, probes pidfd support, opens /dev/null and builds the spawn
 * attributes. 0, or a negative errno with nothing left to release. */
int cp__shell_spawn_init(struct cp__shell_spawn *sp) CP__WUR;

/* Releases what init made. Only after a successful init. */
void cp__shell_spawn_fini(struct cp__shell_spawn *sp);

/* Ends a child the caller cannot watch rather than lose it: SIGKILL to its group,
 * then reaps it. */
void cp__shell_spawn_abandon(int pid);

/* errnum as text, in libuv's wording where it has one. Returns buf, or a static
 * string of the C library's. */
const char *cp__shell_spawn_errtext(int errnum, char *buf, size_t cap);

/* fd moved above 0-2 (so a child's dup2 onto stdio cannot clobber it), keeping
 * O_CLOEXEC; -1 on failure (fd is closed then). */
int cp__fd_above_stdio(int fd);
/* pidfd_open(2), or -1 with errno. */
int cp__pidfd_open(int pid);

#endif
