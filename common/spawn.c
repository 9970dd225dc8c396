/* common/spawn.c — what every child process cparsl starts shares (spawn.h): the
 * shell, the spawn attributes (new session, signals reset), /dev/null as stdin,
 * pidfd support, and ending a child nobody can watch. Used by the thread_pool's
 * shell runner and by the local provider's blocks.
 */
#include "common/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "common/util.h"

/* libuv's wording where it has one, the C library's otherwise: uv_strerror would
 * leak a string for a code it does not know, such as ECHILD. */
const char *cp__shell_spawn_errtext(int errnum, char *buf, size_t cap)
{
    uv_strerror_r(-errnum, buf, cap);
    if (strncmp(buf, "Unknown system error", 20) == 0)
        return strerror_r(errnum, buf, cap);
    return buf;
}

/* ------------------------------------------------------------ set-up */

/* The child's signal state, whatever the spawning thread's: nothing blocked, and
 * 1-31 at their defaults (an ignored SIGPIPE, say, would otherwise survive exec), as
 * libuv's uv_spawn did. A new session makes the shell's group the task's group.
 *
 * glibc's posix_spawn (2.36 at least) sets its two internal signals, 32 and 33, to
 * SIG_IGN in the child unless they are in the default set, and that survives exec;
 * sigaddset refuses them, so their bits are set by hand (the set is copied as is). */
static int init_attr(posix_spawnattr_t *attr)
{
    sigset_t none, dflt;
    sigemptyset(&none);
    sigemptyset(&dflt);
    for (int s = 1; s < 32; s++)
        if (s != SIGKILL && s != SIGSTOP)
            sigaddset(&dflt, s);
#ifdef __GLIBC__
    const size_t bits = 8 * sizeof dflt.__val[0];
    for (int s = 32; s < SIGRTMIN; s++)
        dflt.__val[(size_t)(s - 1) / bits] |= 1UL << ((size_t)(s - 1) % bits);
#endif
#ifdef POSIX_SPAWN_SETSID
    short group = POSIX_SPAWN_SETSID;
#else
    short group = POSIX_SPAWN_SETPGROUP; /* process group 0: its own */
#endif
    int rc = posix_spawnattr_init(attr);
    if (rc == 0 && ((rc = posix_spawnattr_setsigmask(attr, &none)) != 0 ||
                    (rc = posix_spawnattr_setsigdefault(attr, &dflt)) != 0 ||
                    (rc = posix_spawnattr_setflags(attr, (short)(POSIX_SPAWN_SETSIGMASK |
                                                                 POSIX_SPAWN_SETSIGDEF |
                                                                 group))) != 0))
        posix_spawnattr_destroy(attr);
    return -rc;
}

/* Moves a descriptor above the standard three, so the dup2 file actions never
 * overwrite one another's source (a program may run with fd 0-2 closed). */
int cp__fd_above_stdio(int fd)
{
    if (fd < 0 || fd > 2)
        return fd;
    int moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    int saved = errno;
    close(fd);
    errno = saved;
    return moved;
}

int cp__pidfd_open(int pid)
{
#ifdef SYS_pidfd_open
    return (int)syscall(SYS_pidfd_open, pid, 0);
#else
    (void)pid;
    errno = ENOSYS;
    return -1;
#endif
}

static bool pidfds_work(void)
{
    if (getenv("CPARSL_SHELL_NO_PIDFD"))
        return false;
    int fd = cp__pidfd_open(getpid());
    if (fd < 0)
        return false;
    close(fd);
    return true;
}

int cp__shell_spawn_init(struct cp__shell_spawn *sp)
{
    sp->shell = access("/bin/bash", X_OK) == 0 ? "/bin/bash" : "/bin/sh";
    sp->use_pidfd = pidfds_work();
    if ((sp->devnull = cp__fd_above_stdio(open("/dev/null", O_RDONLY | O_CLOEXEC))) < 0)
        return -errno;
    int rc = init_attr(&sp->attr);
    if (rc < 0) {
        close(sp->devnull);
        sp->devnull = -1;
    }
    return rc;
}

void cp__shell_spawn_fini(struct cp__shell_spawn *sp)
{
    posix_spawnattr_destroy(&sp->attr);
    close(sp->devnull);
}

void cp__shell_spawn_abandon(int pid)
{
    kill(-pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
}

