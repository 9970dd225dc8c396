/* App hosts: a C program's own native apps on high_throughput pools. The pools'
 * workers relaunch this very test program, which cp_init turns into an app host;
 * the apps below then run there, not in the engine:
 *   - results are right and come from another process running this program;
 *   - an app that kills its host fails that try with the signal's name, the host
 *     is replaced, and with retries the task still succeeds;
 *   - cp_fail in a hosted app reaches the future;
 *   - a program that exits before cp_init gets a failure that says so, not a hang.
 * Needs parsl-worker ($CP_BUILD/parsl-worker). */
#include <cparsl.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tap.h"

CP_APP(long, sq, (long, x)) { return x * x; }

/* "<pid> <program>": who ran the app. */
CP_APP(const char *, whoami, (long, unused))
{
    (void)unused;
    static char buf[PATH_MAX + 32];
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = '\0';
    snprintf(buf, sizeof buf, "%d %s", (int)getpid(), exe);
    return buf;
}

/* Kills its own host the first time (marker absent), succeeds after. */
CP_APP(long, crash_once, (const char *, marker))
{
    int fd = open(marker, O_CREAT | O_EXCL | O_WRONLY, 0644);
    if (fd >= 0) {
        close(fd);
        kill(getpid(), SIGKILL);
    }
    return 7;
}

CP_APP(long, crash_always, (long, x))
{
    (void)x;
    kill(getpid(), SIGKILL);
    return 0;
}

CP_APP(long, refuse, (long, x))
{
    cp_fail("refusing %ld on purpose", x);
    return 0;
}

static char tmp[] = "/tmp/cp-apphost-XXXXXX";

static int write_config(const char *path, int retries)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fprintf(f,
            "retries: %d\n"
            "executors:\n"
            "  - label: htex\n"
            "    type: high_throughput\n"
            "    max_workers_per_node: 2\n"
            "    heartbeat_period: 0.5\n"
            "    provider:\n"
            "      type: local\n"
            "      init_blocks: 1\n"
            "      max_blocks: 1\n",
            retries);
    return fclose(f);
}

int main(int argc, char **argv)
{
    /* The "forgot cp_init" case: as an app host with this set, leave at once. */
    if (getenv("CP_TEST_APPHOST_EXIT") && getenv("CPARSL_APP_HOST"))
        return 3;
    if (cp_init(&argc, &argv) != 0) {
        printf("Bail out! cp_init: %s\n", cp_last_error());
        return 1;
    }
    tap_start(120);

    const char *build = getenv("CP_BUILD") ? getenv("CP_BUILD") : "build";
    char cwd[PATH_MAX], worker[PATH_MAX * 2 + 32], self[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd))
        return 1;
    snprintf(worker, sizeof worker, "%s%s%s/parsl-worker", build[0] == '/' ? "" : cwd,
             build[0] == '/' ? "" : "/", build);
    ssize_t sn = readlink("/proc/self/exe", self, sizeof self - 1);
    self[sn > 0 ? sn : 0] = '\0';
    if (access(worker, X_OK) != 0) {
        printf("Bail out! no parsl-worker at %s\n", worker);
        return 1;
    }
    setenv("CPARSL_WORKER", worker, 1);
    if (!mkdtemp(tmp) || chdir(tmp) != 0) {
        printf("Bail out! temp dir: %s\n", strerror(errno));
        return 1;
    }

    /* Run 1: normal app hosts, retries 1. */
    ok(write_config("htex.yaml", 1) == 0, "config written");
    if (!ok(cp_load("htex.yaml") == 0, "cp_load of a high_throughput config")) {
        diag("%s", cp_last_error());
        return done_testing();
    }
    enum { N = 60 };
    cp_future *f[N];
    for (long i = 0; i < N; i++)
        f[i] = cp_call(sq, i);
    int right = 0;
    for (long i = 0; i < N; i++) {
        if (cp_future_wait(f[i]) == 0 && cp_future_int(f[i]) == i * i)
            right++;
        else
            diag("sq(%ld): %s", i, cp_future_error(f[i]) ? cp_future_error(f[i]) : "wrong value");
        cp_future_release(f[i]);
    }
    is_int(right, N, "every result of an app defined in the program is right");

    cp_future *w = cp_call(whoami, 0L);
    const char *who = cp_future_wait(w) == 0 ? cp_future_str(w) : cp_future_error(w);
    int pid = 0;
    char exe[PATH_MAX] = "";
    if (who)
        sscanf(who, "%d %4095s", &pid, exe);
    ok(pid > 0 && pid != (int)getpid(), "it ran in another process (pid %d, engine %d)", pid,
       (int)getpid());
    is_str(exe, self, "... running this very program (an app host)");
    cp_future_release(w);

    char marker[PATH_MAX + 16];
    snprintf(marker, sizeof marker, "%s/crashed", tmp);
    cp_future *c1 = cp_call(crash_once, marker);
    ok(cp_future_wait(c1) == 0 && cp_future_int(c1) == 7,
       "an app that kills its host once succeeds on the retry (%s)",
       cp_future_error(c1) ? cp_future_error(c1) : "ok");
    cp_future_release(c1);

    cp_future *c2 = cp_call(crash_always, 1L);
    ok(cp_future_wait(c2) != 0, "an app that always kills its host fails");
    like(cp_future_error(c2), "SIGKILL", "... with the signal's name");
    cp_future_release(c2);

    cp_future *rf = cp_call(refuse, 5L);
    ok(cp_future_wait(rf) != 0, "cp_fail in a hosted app fails the task");
    like(cp_future_error(rf), "refusing 5 on purpose", "... with the app's message");
    cp_future_release(rf);

    cp_future *again = cp_call(sq, 12L);
    ok(cp_future_wait(again) == 0 && cp_future_int(again) == 144,
       "replaced hosts still serve");
    cp_future_release(again);
    is_int(cp_shutdown(), 1, "shutdown reports the tasks that failed");

    /* Run 2: the program exits before cp_init when relaunched. */
    setenv("CP_TEST_APPHOST_EXIT", "1", 1);
    ok(write_config("htex0.yaml", 0) == 0, "config without retries written");
    if (ok(cp_load("htex0.yaml") == 0, "a second run")) {
        cp_future *x = cp_call(sq, 3L);
        ok(cp_future_wait(x) != 0, "a host that exits before cp_init fails the task");
        like(cp_future_error(x), "must call cp_init() before anything else",
             "... saying what main() must do");
        like(cp_future_error(x), self, "... naming the program");
        cp_future_release(x);
        cp_shutdown();
    }
    unsetenv("CP_TEST_APPHOST_EXIT");
    if (chdir("/") == 0) {
        char rm[sizeof tmp + 16];
        snprintf(rm, sizeof rm, "rm -rf %s", tmp);
        if (system(rm) != 0)
            diag("could not remove %s", tmp);
    }
    return done_testing();
}
