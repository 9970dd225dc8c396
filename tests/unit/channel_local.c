/* tests/unit/channel_local.c — the local channel (providers/channel.h) against
 * real processes and files: exit codes and signals, stdin, bounded output, the
 * time limit killing a whole process group, put/get/mkdirs and "~/".
 */
#include "providers/channel.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tap.h"
#include "testutil.h"
#include "common/util.h"

static char dir[256];

static struct cp__channel *open_local(double timeout)
{
    struct cp__channel_config cfg;
    cp__channel_config_local(&cfg);
    cfg.cmd_timeout = timeout;
    cp_err err = {0};
    struct cp__channel *ch = cp__channel_open(&cfg, &err);
    if (!ch)
        diag("open: %s", err.text);
    return ch;
}

static void test_run(struct cp__channel *ch)
{
    struct cp__channel_result r;
    cp_err err = {0};
    is_str(cp__channel_describe(ch), "localhost", "describe says localhost");
    ok(cp__channel_run(ch, "echo out; echo err >&2; exit 7", NULL, 0, &r, &err) == 0,
       "a command that fails still runs to its end: 0");
    is_int(r.exit_code, 7, "its exit code comes back");
    is_str(r.out, "out\n", "its stdout");
    is_str(r.err_text, "err\n", "its stderr");
    ok(!r.truncated, "not truncated");
    cp__channel_result_clear(&r);

    ok(cp__channel_run(ch, "kill -USR1 $$", NULL, 0, &r, &err) == 0, "a command killed by a signal");
    is_int(r.exit_code, 128 + SIGUSR1, "exit 128+N for signal N");
    cp__channel_result_clear(&r);

    ok(cp__channel_run(ch, "tr a-z A-Z", "hello\nworld\n", 0, &r, &err) == 0, "stdin text");
    is_str(r.out, "HELLO\nWORLD\n", "reaches the command");
    cp__channel_result_clear(&r);

    ok(cp__channel_run(ch, "true", "a lot of text nobody reads\n", 0, &r, &err) == 0 &&
       r.exit_code == 0, "stdin nobody reads does not end the engine with SIGPIPE");
    cp__channel_result_clear(&r);

    ok(cp__channel_run(ch, "test \"$(ps -o pgid= $$ | tr -d ' ')\" = $$", NULL, 0, &r, &err) == 0 &&
       r.exit_code == 0, "the command leads its own process group");
    cp__channel_result_clear(&r);

    /* 6 MB of output: 4 MB kept, the rest read and dropped (no blocked pipe). */
    ok(cp__channel_run(ch, "head -c 6000000 /dev/zero | tr '\\0' x; echo done >&2", NULL, 0, &r,
                       &err) == 0, "a command writing 6 MB");
    ok(r.truncated && strlen(r.out) == CP_CHANNEL_OUTPUT_MAX,
       "its stdout is cut at CP_CHANNEL_OUTPUT_MAX and truncated is set (%zu)",
       r.out ? strlen(r.out) : 0);
    is_str(r.err_text, "done\n", "and stderr is still complete");
    cp__channel_result_clear(&r);

    /* A background child holding the pipes does not keep the call waiting. */
    double t0 = cp__mono();
    ok(cp__channel_run(ch, "sleep 5 & echo started", NULL, 0, &r, &err) == 0 &&
       strcmp(r.out, "started\n") == 0, "a command that leaves a background child");
    ok(cp__mono() - t0 < 3, "returns soon after the shell exits (%.2f s)", cp__mono() - t0);
    cp__channel_result_clear(&r);
}

static void test_timeout(struct cp__channel *ch)
{
    struct cp__channel_result r;
    cp_err err = {0};
    char pidfile[300], cmd[600];
    snprintf(pidfile, sizeof pidfile, "%s/child.pid", dir);
    /* The shell's child ignores TERM: only the KILL after the grace ends it. */
    snprintf(cmd, sizeof cmd, "sh -c 'trap \"\" TERM; echo $$ > %s; exec sleep 60' & wait", pidfile);
    double t0 = cp__mono();
    int rc = cp__channel_run(ch, cmd, NULL, 0.5, &r, &err);
    double took = cp__mono() - t0;
    ok(rc == -1, "a command past its limit fails");
    ok(err.code == ETIMEDOUT && strstr(err.text, "did not finish within 0.5 s") &&
       strstr(err.text, "trap"), "naming the command and the limit: %s", err.text);
    ok(took < 3, "after the limit and the grace (%.2f s)", took);
    char *s = slurp(pidfile);
    int pid = s ? atoi(s) : 0;
    struct timespec ts = {0, 100 * 1000 * 1000};
    nanosleep(&ts, NULL);
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/%d/stat", pid);
    char *st = pid ? slurp(proc) : NULL;
    char *p = st ? strrchr(st, ')') : NULL;
    ok(pid > 0 && (!p || p[2] == 'Z'), "its TERM-ignoring child in the group was killed too");
    is_int(r.exit_code, 0, "the result is cleared");
    ok(r.out == NULL, "and holds nothing");

    /* The config's limit applies when the call gives none. */
    struct cp__channel *fast = open_local(0.3);
    t0 = cp__mono();
    ok(fast && cp__channel_run(fast, "sleep 10", NULL, 0, &r, &err) == -1 &&
       cp__mono() - t0 < 2.5, "the channel's cmd_timeout is the default limit");
    cp__channel_close(fast);
}

static void test_files(struct cp__channel *ch)
{
    cp_err err = {0};
    char path[400], *data = NULL;
    size_t len = 0;
    snprintf(path, sizeof path, "%s/a/b/c/script.sh", dir);
    ok(cp__channel_put(ch, path, "#!/bin/sh\necho hi\n", 18, 0755, &err) == 0,
       "put creates missing parents");
    struct stat st;
    char parent[400];
    snprintf(parent, sizeof parent, "%s/a/b", dir);
    int sr = stat(parent, &st);
    ok(sr == 0 && (st.st_mode & 0777) == 0700, "the new parents are 0700 (%o)",
       (unsigned)(st.st_mode & 0777));
    sr = stat(path, &st);
    ok(sr == 0 && (st.st_mode & 0777) == 0755, "the file has the mode asked (%o)",
       (unsigned)(st.st_mode & 0777));
    is_str(slurp(path), "#!/bin/sh\necho hi\n", "and the content");
    ok(cp__channel_put(ch, path, "new", 3, 0600, &err) == 0, "put replaces a file");
    is_str(slurp(path), "new", "atomically, with the new content");
    char listing[500];
    snprintf(listing, sizeof listing, "ls -a %s/a/b/c | grep -c tmp", dir);
    struct cp__channel_result r;
    ok(cp__channel_run(ch, listing, NULL, 0, &r, &err) == 0 && strcmp(r.out, "0\n") == 0,
       "no temporary file is left beside it");
    cp__channel_result_clear(&r);

    ok(cp__channel_get(ch, path, 100, &data, &len, &err) == 0 && len == 3 &&
       strcmp(data, "new") == 0, "get reads a whole short file");
    free(data);
    char big[400];
    snprintf(big, sizeof big, "%s/big.txt", dir);
    ok(cp__channel_put(ch, big, "0123456789", 10, 0644, &err) == 0, "put another");
    ok(cp__channel_get(ch, big, 4, &data, &len, &err) == 0 && len == 4 &&
       strcmp(data, "6789") == 0, "get keeps the last max bytes");
    free(data);
    char none[400];
    snprintf(none, sizeof none, "%s/nope.txt", dir);
    err = (cp_err){0};
    ok(cp__channel_get(ch, none, 10, &data, &len, &err) == -1 && err.code == ENOENT &&
       data == NULL && strstr(err.text, "nope.txt"), "a missing file: ENOENT naming it (%s)",
       err.text);
    err = (cp_err){0};
    ok(cp__channel_put(ch, "/proc/nope/x", "x", 1, 0644, &err) == -1 && err.text[0],
       "put where it cannot: an error (%s)", err.text);

    snprintf(path, sizeof path, "%s/m/n", dir);
    ok(cp__channel_mkdirs(ch, path, 0750, &err) == 0 && stat(path, &st) == 0 &&
       S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0750, "mkdirs with the mode");
    ok(cp__channel_mkdirs(ch, path, 0750, &err) == 0, "mkdirs of an existing directory is fine");
    err = (cp_err){0};
    ok(cp__channel_mkdirs(ch, big, 0700, &err) == -1 && strstr(err.text, "big.txt"),
       "mkdirs over a file fails (%s)", err.text);

    /* "~/" is $HOME. */
    char *home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
    setenv("HOME", dir, 1);
    ok(cp__channel_put(ch, "~/tilde/t.txt", "t", 1, 0600, &err) == 0, "put to ~/tilde/t.txt");
    snprintf(path, sizeof path, "%s/tilde/t.txt", dir);
    is_str(slurp(path), "t", "lands under $HOME");
    ok(cp__channel_get(ch, "~/tilde/t.txt", 10, &data, &len, &err) == 0 && len == 1,
       "get reads ~/ too");
    free(data);
    if (home) {
        setenv("HOME", home, 1);
        free(home);
    }
}

int main(void)
{
    tap_start(60);
    snprintf(dir, sizeof dir, "/tmp/cp-chlocal-%d", (int)getpid());
    cp_err err = {0};
    if (cp__mkdir_p(dir, &err) != 0) {
        printf("Bail out! %s\n", err.text);
        return 1;
    }
    struct cp__channel *ch = open_local(10);
    ok(ch != NULL, "the local channel opens");
    if (ch) {
        test_run(ch);
        test_timeout(ch);
        test_files(ch);
        cp__channel_close(ch);
    }
    char rm[300];
    snprintf(rm, sizeof rm, "rm -rf '%s'", dir);
    if (system(rm) != 0)
        diag("could not remove %s", dir);
    return done_testing();
}
