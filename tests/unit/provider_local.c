/* tests/unit/provider_local.c — the provider interface and the local provider,
 * against real processes.
 *
 * Blocks are real process groups; the test watches them through /proc (members
 * of a group, zombies among our children). Time bounds are loose (seconds where
 * milliseconds are expected) so a loaded machine does not make the test flaky.
 */
#include "providers/provider.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tap.h"
#include "testutil.h"
#include "common/util.h"
#include "common/yaml.h"
#include "providers/launcher.h"

static char root[512];          /* a directory with a space and a quote in its name */

/* ------------------------------------------------------------ helpers */

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Reads /proc/<pid>/stat: state, parent and process group. */
static int proc_stat(const char *pid, char *state, int *ppid, int *pgrp)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%s/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (!p || sscanf(p + 1, " %c %d %d", state, ppid, pgrp) != 3)
        return -1;
    return 0;
}

/* Processes of group pgid that still run. Zombies do not count: an orphan of a
 * block belongs to whoever adopted it (PID 1 here), which may be slow to reap. */
static int group_members(int pgid)
{
    DIR *d = opendir("/proc");
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char st;
        int ppid, pgrp;
        if (e->d_name[0] >= '1' && e->d_name[0] <= '9' &&
            proc_stat(e->d_name, &st, &ppid, &pgrp) == 0 && pgrp == pgid && st != 'Z')
            n++;
    }
    if (d)
        closedir(d);
    return n;
}

/* Our children in state Z. */
static int zombies(void)
{
    DIR *d = opendir("/proc");
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char st;
        int ppid, pgrp;
        if (e->d_name[0] >= '1' && e->d_name[0] <= '9' &&
            proc_stat(e->d_name, &st, &ppid, &pgrp) == 0 && ppid == getpid() && st == 'Z')
            n++;
    }
    if (d)
        closedir(d);
    return n;
}

/* Our children, in any state. */
static int children(void)
{
    DIR *d = opendir("/proc");
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char st;
        int ppid, pgrp;
        if (e->d_name[0] >= '1' && e->d_name[0] <= '9' &&
            proc_stat(e->d_name, &st, &ppid, &pgrp) == 0 && ppid == getpid())
            n++;
    }
    if (d)
        closedir(d);
    return n;
}

static struct cp__provider *make(const char *run, const char *worker_init)
{
    struct cp__provider_config cfg;
    cp_err err = {0};
    struct cp__provider *p = NULL;
    if (cp__provider_config_default(&cp__provider_local, &cfg, &err) == 0) {
        if (worker_init) {
            free(cfg.common.worker_init);
            cfg.common.worker_init = strdup(worker_init);
        }
        p = cp__provider_create(&cfg, run, &err);
        cp__provider_config_fini(&cfg);
    }
    if (!p)
        diag("create: %s", err.text);
    return p;
}

static char *submit(struct cp__provider *p, const char *block, const char *cmd, const char *name)
{
    cp_err err = {0};
    char *id = cp__provider_submit(p, block, cmd, 1, name, &err);
    if (!id)
        diag("submit: %s", err.text);
    return id;
}

/* The status of one block (caller clears). */
static struct cp__block_status one(struct cp__provider *p, const char *id)
{
    struct cp__block_status st;
    cp_err err = {0};
    if (cp__provider_status(p, &id, 1, &st, &err) != 0)
        diag("status: %s", err.text);
    return st;
}

/* Polls until the block's state is not `from` (at most ms); returns the last. */
static struct cp__block_status wait_leave(struct cp__provider *p, const char *id,
                                          enum cp__block_state from, long ms)
{
    struct cp__block_status st = one(p, id);
    for (long waited = 0; st.state == from && waited < ms; waited += 20) {
        nap_ms(20);
        cp__block_status_clear(&st);
        st = one(p, id);
    }
    return st;
}

/* ------------------------------------------------------------ pure parts */

static void test_states(void)
{
    static const char *const lower[] = {"unknown", "pending", "running", "cancelled", "completed",
                                        "failed", "timeout", "held", "missing", "scaled_in"};
    static const char *const upper[] = {"UNKNOWN", "PENDING", "RUNNING", "CANCELLED", "COMPLETED",
                                        "FAILED", "TIMEOUT", "HELD", "MISSING", "SCALED_IN"};
    int names_ok = 1, parse_ok = 1;
    for (int i = 0; i < CP_BLOCK_NSTATES; i++) {
        enum cp__block_state s;
        names_ok &= strcmp(cp__block_state_name(i), lower[i]) == 0 &&
                    strcmp(cp__block_state_db_name(i), upper[i]) == 0;
        parse_ok &= cp__block_state_parse(lower[i], &s) == 0 && s == (enum cp__block_state)i &&
                    cp__block_state_parse(upper[i], &s) == 0 && s == (enum cp__block_state)i;
    }
    ok(names_ok, "state names: Parsl's JobState numbers, lower and DB (capital) spellings");
    enum cp__block_state s;
    ok(parse_ok && cp__block_state_parse("runing", &s) == -1, "state names parse back; typos don't");
    is_str(cp__block_state_name(42), "?", "out of range is ?");
    int term = 0;
    for (int i = 0; i < CP_BLOCK_NSTATES; i++)
        term |= cp__block_state_terminal(i) << i;
    is_int(term, (1 << CP_BLOCK_CANCELLED) | (1 << CP_BLOCK_COMPLETED) | (1 << CP_BLOCK_FAILED) |
                 (1 << CP_BLOCK_TIMEOUT) | (1 << CP_BLOCK_MISSING) | (1 << CP_BLOCK_SCALED_IN),
           "terminal: cancelled, completed, failed, timeout, missing, scaled_in (not held, "
           "unknown, pending, running)");
}

static void test_walltime(void)
{
    struct { const char *text; long want; } good[] = {
        {"01:00:00", 3600}, {"00:10:00", 600}, {"100:00:01", 360001}, {"1-02:03:04", 93784},
        {"3600", 3600}, {"1.5", 2}, {"0:0:1", 1},
    };
    const char *bad[] = {"", "00:00:00", "1:60:00", "1:00:60", "abc", "-1", " 10", "1:00",
                         "1-24:00:00", "1-1:00", "10s", "inf", "nan", "0", "1:2:3:4", NULL};
    int all = 1;
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        long s = -1;
        if (cp__walltime_parse(good[i].text, &s) != 0 || s != good[i].want) {
            diag("%s -> %ld", good[i].text, s);
            all = 0;
        }
    }
    ok(all, "walltime: HH:MM:SS, D-HH:MM:SS and seconds (fractions round up)");
    all = 1;
    for (size_t i = 0; bad[i]; i++) {
        long s;
        if (cp__walltime_parse(bad[i], &s) == 0) {
            diag("accepted '%s'", bad[i]);
            all = 0;
        }
    }
    ok(all, "walltime: zero, out-of-range fields, spaces, units and junk are refused");
    char buf[32];
    is_str(cp__walltime_hms(93784, buf, sizeof buf), "26:03:04", "walltime as HH:MM:SS");
}

static void test_tail(void)
{
    char path[600];
    snprintf(path, sizeof path, "%s/tail.txt", root);
    FILE *f = fopen(path, "w");
    for (int i = 1; i <= 20; i++)
        fprintf(f, "line %d\n", i);
    fprintf(f, "\n\n  \n");
    fclose(f);
    char *t = cp__provider_tail(path, 3, 1000);
    is_str(t, "line 18\nline 19\nline 20", "tail: last lines, trailing blank space trimmed");
    free(t);
    t = cp__provider_tail(path, 10, 20);
    is_str(t, "line 20", "tail: the byte limit drops a cut first line");
    free(t);
    t = cp__provider_tail(path, 10, 22);
    is_str(t, "line 19\nline 20", "tail: a cut that falls on a line start loses nothing");
    free(t);
    f = fopen(path, "w");
    fclose(f);
    t = cp__provider_tail(path, 3, 1000);
    is_str(t, "", "tail of an empty file is \"\"");
    free(t);
    unlink(path);
    errno = 0;
    ok(!cp__provider_tail(path, 3, 1000) && errno == ENOENT, "tail of a missing file is NULL");
}

static void test_failure_text(void)
{
    struct cp__block_status a = {
        .state = CP_BLOCK_FAILED, .exit_code = 3, .stdout_path = "/r/b0.sh.out",
        .stderr_path = "/r/b0.sh.err", .stdout_tail = "hi\nthere", .stderr_tail = "",
    };
    struct cp__block_status b = {
        .state = CP_BLOCK_MISSING, .exit_code = -1,
        .message = "no process and no exit code file",
    };
    struct cp__block_status c = {
        .state = CP_BLOCK_FAILED, .exit_code = -1,
        .message = "sbatch: error: invalid partition specified: nope",
    };
    struct cp__block_report r[] = {{"0", "4242", &a}, {"1", "4243", &b}, {"2", NULL, &c}};
    char *text = cp__block_failure_text("htex", r, 3);
    is_str(text,
           "executor 'htex': all 3 blocks failed\n"
           "block 0 (job 4242): failed, exit code 3\n"
           "  stdout (/r/b0.sh.out):\n"
           "    hi\n"
           "    there\n"
           "  stderr (/r/b0.sh.err): empty\n"
           "block 1 (job 4243): missing: no process and no exit code file\n"
           "block 2 (not submitted): failed: sbatch: error: invalid partition specified: nope",
           "all-blocks-failed text: each block's state, exit code, message and output tails");
    free(text);
    text = cp__block_failure_text(NULL, r, 1);
    like(text, "its only block failed\nblock 0 (job 4242)", "one block, no label");
    free(text);
    struct cp__block_report many[CP_BLOCK_REPORT_MAX + 2];
    for (size_t i = 0; i < CP_BLOCK_REPORT_MAX + 2; i++)
        many[i] = (struct cp__block_report){"9", "1", &b};
    text = cp__block_failure_text("x", many, CP_BLOCK_REPORT_MAX + 2);
    int lines = 0;
    for (const char *q = text; q && *q; q++)
        lines += *q == '\n';
    ok(text && lines == CP_BLOCK_REPORT_MAX + 1 && strstr(text, "\n... and 2 more blocks") &&
           text[strlen(text) - 1] != '\n',
       "at most %d blocks in detail, then a count; no trailing newline", CP_BLOCK_REPORT_MAX);
    free(text);
}

/* ------------------------------------------------------------ config */

static struct cp__ydoc *doc_of(const char *yaml)
{
    cp_err err = {0};
    struct cp__ydoc *d = cp__ydoc_load_mem("cfg.yaml", yaml, strlen(yaml), &err);
    if (!d)
        diag("yaml: %s", err.text);
    return d;
}

/* Parses yaml; returns the error text ("" on success) in a static buffer. */
static const char *parse_err(const char *yaml)
{
    static cp_err err;
    memset(&err, 0, sizeof err);
    struct cp__ydoc *d = doc_of(yaml);
    struct cp__provider_config cfg;
    if (d && cp__provider_config_parse(d->root, "provider of executor 'htex'", &cfg, &err) == 0)
        cp__provider_config_fini(&cfg);
    cp__ydoc_free(d);
    return err.text;
}

static void test_config(void)
{
    struct cp__ydoc *d = doc_of("type: local\n");
    struct cp__provider_config cfg;
    cp_err err = {0};
    int rc = cp__provider_config_parse(d->root, NULL, &cfg, &err);
    ok(rc == 0 && cfg.type == &cp__provider_local && cfg.common.nodes_per_block == 1 &&
           cfg.common.init_blocks == 1 && cfg.common.min_blocks == 0 &&
           cfg.common.max_blocks == 1 && cfg.common.parallelism == 1.0 &&
           cfg.common.walltime == 0 && strcmp(cfg.common.worker_init, "") == 0 &&
           cfg.common.launcher && cfg.common.launcher->type == CP_LAUNCHER_SINGLE_NODE,
       "defaults: Parsl's LocalProvider (1 node, 1 init, 0..1 blocks, parallelism 1, "
       "single_node launcher)");
    cp__provider_config_fini(&cfg);
    cp__ydoc_free(d);

    d = doc_of("type: local\nnodes_per_block: 2\ninit_blocks: 0\nmin_blocks: 1\n"
               "max_blocks: 4\nparallelism: 0.5\nworker_init: |\n  module load gcc\n"
               "  export X=1\nlauncher: {type: wrapped, prepend: time}\n");
    rc = cp__provider_config_parse(d->root, NULL, &cfg, &err);
    ok(rc == 0 && cfg.common.nodes_per_block == 2 && cfg.common.init_blocks == 0 &&
           cfg.common.min_blocks == 1 && cfg.common.max_blocks == 4 &&
           cfg.common.parallelism == 0.5 &&
           strcmp(cfg.common.worker_init, "module load gcc\nexport X=1\n") == 0 &&
           cfg.common.launcher->type == CP_LAUNCHER_WRAPPED,
       "every shared key is read (launcher through launcher.h, with options)");
    if (rc != 0)
        diag("%s", err.text);
    cp__provider_config_fini(&cfg);
    cp__ydoc_free(d);

    d = doc_of("type: local\nmax_blocks: ~\nworker_init: ~\nlauncher: ~\n");
    rc = cp__provider_config_parse(d->root, NULL, &cfg, &err);
    ok(rc == 0 && cfg.common.max_blocks == 1 && cfg.common.launcher &&
           cfg.common.launcher->type == CP_LAUNCHER_SINGLE_NODE,
       "a key set to null takes the default");
    cp__provider_config_fini(&cfg);
    cp__ydoc_free(d);

    is_str(parse_err("type: local\nmax_block: 3\n"),
           "cfg.yaml:2:1: unknown key 'max_block' in provider of executor 'htex' (local) "
           "(did you mean 'max_blocks'?)", "unknown key: did you mean");
    is_str(parse_err("type: local\nwalltime: \"01:00:00\"\n"),
           "cfg.yaml:2:11: walltime is not a setting of the local provider: its blocks run "
           "until they end or are cancelled", "walltime on local is refused by name");
    ok(*parse_err("type: local\nwalltime: ~\n") == '\0', "walltime: ~ is fine on local");
    is_str(parse_err("type: locl\n"),
           "cfg.yaml:1:7: unknown provider type 'locl' (did you mean 'local'?)",
           "unknown type: did you mean");
    is_str(parse_err("type: kubernetes\n"),
           "cfg.yaml:1:7: provider type 'kubernetes' is not supported yet by this build (it "
           "has: local, slurm, pbspro, torque)", "a planned type is 'not supported yet'");
    is_str(parse_err("nodes_per_block: 1\n"),
           "cfg.yaml:1:1: provider of executor 'htex' has no type (one of: local, slurm, pbspro, "
           "torque)", "no type");
    is_str(parse_err("- local\n"),
           "cfg.yaml:1:1: provider of executor 'htex' must be a mapping (type, "
           "nodes_per_block, ...), got a list", "not a mapping");
    is_str(parse_err("type: local\nmin_blocks: 3\nmax_blocks: 2\n"),
           "cfg.yaml:3:13: min_blocks (3) is more than max_blocks (2)", "min > max");
    is_str(parse_err("type: local\ninit_blocks: 2\n"),
           "cfg.yaml:2:14: init_blocks (2) is more than max_blocks (1), the default of the "
           "provider; set max_blocks", "init > default max names the default");
    is_str(parse_err("type: local\nparallelism: 1.5\n"),
           "cfg.yaml:2:14: parallelism must be a number from 0 to 1, got '1.5'",
           "parallelism out of range");
    is_str(parse_err("type: local\nmax_blocks: 0\n"),
           "cfg.yaml:2:13: max_blocks must be an integer from 1 to 100000, got '0'",
           "max_blocks 0");
    like(parse_err("type: local\nnodes_per_block: two\n"), "cfg.yaml:2:18: nodes_per_block",
         "a word where a number goes");
    like(parse_err("type: local\nlauncher: srn\n"), "cfg.yaml:2:11: ", "launcher typo has a "
         "position");
    like(parse_err("type: local\nlauncher: srn\n"), "srun", "launcher typo: did you mean");
    like(parse_err("type: local\nworker_init: [a]\n"), "cfg.yaml:2:14: worker_init",
         "worker_init must be text");

    struct cp__provider_config def;
    ok(cp__provider_config_default(&cp__provider_local, &def, &err) == 0 &&
           def.common.max_blocks == 1 && def.common.launcher, "defaults without YAML");
    cp__provider_config_fini(&def);
    cp__provider_config_fini(NULL);
    ok(cp__provider_type_find("local") == &cp__provider_local && !cp__provider_type_find("x"),
       "the registry finds local");
    ok(cp__provider_local.status_polling_interval == 5.0 && !cp__provider_local.has_walltime,
       "local facts: polls every 5 s, no walltime");
}

/* ------------------------------------------------------------ processes */

static void test_blocks(void)
{
    char run[600];
    snprintf(run, sizeof run, "%s/run 'one'", root);
    struct cp__provider *p = make(run, NULL);
    if (!ok(p != NULL, "create in a run dir with a space and quotes"))
        return;
    struct stat sb;
    char dir[700];
    snprintf(dir, sizeof dir, "%s/submit_scripts", run);
    ok(stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode), "create makes submit_scripts/");

    /* A sleeper with a grandchild that ignores SIGTERM: only SIGKILL ends it. */
    char *a = submit(p, "0", "bash -c 'trap \"\" TERM; sleep 30' &\nsleep 30\nwait",
                     "parsl.htex.block-0");
    char *b = submit(p, "1", "echo hi; echo oops >&2; exit 3", "parsl.htex.block-1");
    if (!ok(a && b, "two blocks submitted")) {
        cp__provider_destroy(p);
        return;
    }
    ok(atoi(a) > 1 && strspn(a, "0123456789") == strlen(a), "job id is the group id as text");

    struct cp__block_status st = wait_leave(p, b, CP_BLOCK_RUNNING, 10000);
    cp__block_status_clear(&st);
    /* Give the sleeper's grandchild time to start. */
    for (int i = 0; i < 200 && group_members(atoi(a)) < 4; i++)
        nap_ms(10);
    const char *ids[] = {a, b};
    struct cp__block_status two[2];
    cp_err err = {0};
    is_int(cp__provider_status(p, ids, 2, two, &err), 0, "one status call for both blocks");
    is_str(cp__block_state_name(two[0].state), "running", "the sleeper is running");
    ok(two[0].exit_code == -1 && !two[0].stdout_tail, "a running block has no exit code or tail");
    ok(two[0].stdout_path && strstr(two[0].stdout_path, "/submit_scripts/parsl.htex.block-0.sh.out"),
       "status names the block's stdout file");
    is_str(cp__block_state_name(two[1].state), "failed", "exit 3 is failed");
    is_int(two[1].exit_code, 3, "with exit code 3");
    is_str(two[1].stdout_tail, "hi", "and 'hi' in its stdout tail");
    is_str(two[1].stderr_tail, "oops", "and its stderr tail");
    ok(!two[1].message, "an exit code needs no message");
    struct cp__block_report rep = {"1", b, &two[1]};
    char *text = cp__block_failure_text("htex", &rep, 1);
    like(text, "block 1 (job ", "failure text from a real status");
    like(text, "failed, exit code 3\n  stdout (", "…with exit code");
    like(text, ".sh.out):\n    hi\n  stderr (", "…and tails");
    free(text);
    cp__block_status_clear_n(two, 2);

    int members = group_members(atoi(a));
    ok(members >= 4, "the sleeper's group holds wrapper, script, sleep and the grandchild (%d)",
       members);
    double t0 = cp__mono();
    bool cancelled = false;
    is_int(cp__provider_cancel(p, &ids[0], 1, &cancelled, &err), 0, "cancel");
    ok(cancelled, "cancel says the block is cancelled");
    ok(cp__mono() - t0 < 0.5, "cancel does not wait for the group (%.3f s)", cp__mono() - t0);
    st = one(p, a);
    is_str(cp__block_state_name(st.state), "cancelled", "status says cancelled at once");
    cp__block_status_clear(&st);
    int left = -1;
    while (cp__mono() - t0 < 8) {
        st = one(p, a);         /* status calls reap and escalate */
        cp__block_status_clear(&st);
        if ((left = group_members(atoi(a))) == 0)
            break;
        nap_ms(50);
    }
    double took = cp__mono() - t0;
    ok(left == 0 && took < 6, "the whole group, TERM-ignoring grandchild included, is gone "
       "in %.1f s", took);
    st = one(p, a);
    is_str(cp__block_state_name(st.state), "cancelled", "and stays cancelled");
    is_str(st.message, "cancelled", "with message 'cancelled'");
    cp__block_status_clear(&st);
    snprintf(dir, sizeof dir, "%s/submit_scripts/parsl.htex.block-0.sh.cancelled", run);
    ok(access(dir, F_OK) == 0, "cancel leaves a .cancelled marker for a later provider");
    is_int(cp__provider_cancel(p, &ids[1], 1, &cancelled, &err), 0,
           "cancelling an ended block is fine");
    st = one(p, b);
    ok(cancelled && st.state == CP_BLOCK_FAILED, "and it keeps its state");
    cp__block_status_clear(&st);

    /* Exit 0 is completed; the default job name when none is given. */
    char *c = submit(p, "2", "echo done", NULL);
    st = wait_leave(p, c, CP_BLOCK_RUNNING, 10000);
    is_str(cp__block_state_name(st.state), "completed", "exit 0 is completed");
    is_int(st.exit_code, 0, "with exit code 0");
    is_str(st.stdout_tail, "done", "and its output");
    like(st.stdout_path, "/submit_scripts/block.sh.out", "a block without a name is 'block'");
    cp__block_status_clear(&st);

    /* A block killed from outside (kill -9 of its group): no exit code file. */
    char *k = submit(p, "3", "sleep 30", "killed");
    nap_ms(100);
    kill(-atoi(k), SIGKILL);
    st = wait_leave(p, k, CP_BLOCK_RUNNING, 10000);
    is_str(cp__block_state_name(st.state), "failed", "a block killed from outside fails");
    is_int(st.exit_code, 128 + SIGKILL, "exit code 128+9");
    is_str(st.message, "killed by signal SIGKILL", "the message names the signal");
    cp__block_status_clear(&st);

    /* Unknown ids. */
    const char *unknown[] = {"999999999", "abc", "1", "-5"};
    struct cp__block_status four[4];
    is_int(cp__provider_status(p, unknown, 4, four, &err), 0, "status of unknown ids");
    ok(four[0].state == CP_BLOCK_MISSING && four[1].state == CP_BLOCK_MISSING &&
           four[2].state == CP_BLOCK_MISSING && four[3].state == CP_BLOCK_MISSING,
       "an id the provider never started is missing");
    like(four[0].message, "not a block of this provider", "and says so");
    cp__block_status_clear_n(four, 4);
    bool cx[2] = {true, true};
    const char *mixed[] = {"1", c};
    ok(cp__provider_cancel(p, mixed, 2, cx, &err) == -1 && !cx[0] && cx[1] &&
           strstr(err.text, "cannot cancel job 1: not a block of this provider"),
       "cancel refuses an id it did not start (never signals a stranger's group: here init's)");

    /* A later provider on the same run directory (the engine restarted). The
     * killed block's `sleep` may still be on its way out (under load it can take
     * a moment to become a zombie), and while it is, the group is rightly alive:
     * wait for it to go before asking. */
    for (int i = 0; i < 500 && group_members(atoi(k)) > 0; i++)
        nap_ms(10);
    struct cp__provider *q = make(run, NULL);
    const char *old[] = {b, c, k, a};
    struct cp__block_status was[4];
    is_int(cp__provider_status(q, old, 4, was, &err), 0, "a new provider asks about old ids");
    ok(was[0].state == CP_BLOCK_FAILED && was[0].exit_code == 3 &&
           was[0].stdout_tail && strcmp(was[0].stdout_tail, "hi") == 0,
       "it finds the failed block's exit code and output through the index");
    ok(was[1].state == CP_BLOCK_COMPLETED && was[1].exit_code == 0, "and the completed one");
    ok(was[2].state == CP_BLOCK_MISSING, "a block with neither process nor .ec is missing (%s)",
       cp__block_state_name(was[2].state));
    ok(was[3].state == CP_BLOCK_CANCELLED, "a cancelled one is cancelled (marker)");
    cp__block_status_clear_n(was, 4);

    /* A block still running when the new provider comes: it sees it running and
     * can cancel it; the old one still reaps its child. */
    char *r = submit(p, "4", "sleep 30", "adopted");
    nap_ms(100);
    st = one(q, r);
    is_str(cp__block_state_name(st.state), "running", "a new provider sees a running block");
    cp__block_status_clear(&st);
    is_int(cp__provider_cancel(q, (const char *const *)&r, 1, NULL, &err), 0,
           "and cancels it");
    st = wait_leave(p, r, CP_BLOCK_RUNNING, 10000);
    is_str(cp__block_state_name(st.state), "cancelled",
           "the first provider reaps it and reads the cancel from the marker");
    cp__block_status_clear(&st);
    for (int i = 0; i < 100 && group_members(atoi(r)) > 0; i++)
        nap_ms(20);
    is_int(group_members(atoi(r)), 0, "its group is gone");
    cp__provider_destroy(q);

    is_int(zombies(), 0, "no zombies among our children");
    cp__provider_destroy(p);
    is_int(children(), 0, "destroy leaves no children");
    free(a), free(b), free(c), free(k), free(r);
}

static void test_worker_init_and_names(void)
{
    char run[600];
    snprintf(run, sizeof run, "%s/run two", root);
    struct cp__provider *p = make(run, "export GREETING='hello from init'\ncd /tmp");
    if (!ok(p != NULL, "create with worker_init"))
        return;
    const char *weird = "it's a \"job\" $(touch PWNED) `touch PWNED2` /x\ny";
    char *id = submit(p, "7", "echo \"$GREETING\"; pwd; printf '%s\\n' \"$JOBNAME\"", weird);
    struct cp__block_status st = wait_leave(p, id, CP_BLOCK_RUNNING, 10000);
    is_str(cp__block_state_name(st.state), "completed", "the block ran");
    char want[300];
    snprintf(want, sizeof want, "hello from init\n/tmp\n%s", weird);
    is_str(st.stdout_tail, want, "worker_init ran first, in the same shell; JOBNAME is the "
           "job name, exactly");
    ok(st.stdout_path && strstr(st.stdout_path, "/submit_scripts/it's a \"job\" $(touch PWNED) "
                                                "`touch PWNED2` _x_y.sh.out"),
       "the file name keeps quotes and spaces, '/' and newlines become '_'");
    ok(access("PWNED", F_OK) != 0 && access("/tmp/PWNED", F_OK) != 0 &&
           access("/tmp/PWNED2", F_OK) != 0, "nothing in the name was run");
    cp__block_status_clear(&st);

    /* The same name again: a new script, the old block's files kept. */
    char *id2 = submit(p, "8", "echo second", weird);
    st = wait_leave(p, id2, CP_BLOCK_RUNNING, 10000);
    ok(st.state == CP_BLOCK_COMPLETED && st.stdout_path && strstr(st.stdout_path, "_x_y.2.sh.out") &&
           st.stdout_tail && strcmp(st.stdout_tail, "second") == 0,
       "a reused job name gets name.2.sh; the first block's files stay");
    cp__block_status_clear(&st);
    st = one(p, id);
    like(st.stdout_tail, "hello from init", "the first block still reports its own output");
    cp__block_status_clear(&st);

    /* A run directory that cannot hold the script. */
    cp_err err = {0};
    struct cp__provider_config cfg;
    ok(cp__provider_config_default(&cp__provider_local, &cfg, &err) == 0, "defaults");
    ok(!cp__provider_create(&cfg, "/proc/nope", &err) && *err.text,
       "create in an unwritable place fails: %s", err.text);
    cp__provider_config_fini(&cfg);

    /* destroy ends a running block (TERM, then KILL after the grace) and reaps it. */
    char *s = submit(p, "9", "trap '' TERM; sleep 30", "stubborn");
    nap_ms(200);
    double t0 = cp__mono();
    cp__provider_destroy(p);
    double took = cp__mono() - t0;
    ok(took < 5, "destroy ends a TERM-ignoring block within the grace (%.1f s)", took);
    /* SIGKILL was sent; the kernel may take a moment to finish the processes. */
    for (int i = 0; i < 100 && group_members(atoi(s)) > 0; i++)
        nap_ms(20);
    is_int(group_members(atoi(s)), 0, "its group is gone");
    is_int(children(), 0, "and reaped");
    free(id), free(id2), free(s);
}

/* status, submit and cancel from several threads at once (for TSan). */
struct hammer {
    struct cp__provider *p;
    const char *id;
    atomic_bool stop;
};

static void *hammer_status(void *arg)
{
    struct hammer *h = arg;
    while (!atomic_load(&h->stop)) {
        struct cp__block_status st;
        if (cp__provider_status(h->p, &h->id, 1, &st, NULL) == 0)
            cp__block_status_clear(&st);
    }
    return NULL;
}

static void test_threads(void)
{
    char run[600];
    snprintf(run, sizeof run, "%s/run3", root);
    struct cp__provider *p = make(run, NULL);
    char *first = submit(p, "0", "sleep 0.2", "t0");
    struct hammer h = {.p = p, .id = first};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, hammer_status, &h);
    char *ids[6];
    for (int i = 0; i < 6; i++)
        ids[i] = submit(p, "x", i % 2 ? "true" : "sleep 5", "t");
    ok(cp__provider_cancel(p, (const char *const *)ids, 6, NULL, NULL) == 0,
       "cancel while other threads ask for status");
    nap_ms(300);
    atomic_store(&h.stop, true);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    struct cp__block_status st[6];
    ok(cp__provider_status(p, (const char *const *)ids, 6, st, NULL) == 0, "batch status of 6");
    int settled = 0;
    for (int i = 0; i < 6; i++)
        settled += cp__block_state_terminal(st[i].state);
    is_int(settled, 6, "every block ended or cancelled");
    cp__block_status_clear_n(st, 6);
    cp__provider_destroy(p);
    is_int(children(), 0, "no children left");
    for (int i = 0; i < 6; i++)
        free(ids[i]);
    free(first);
}

int main(void)
{
    tap_start(90);
    snprintf(root, sizeof root, "/tmp/cparsl-provider %d 'q'", (int)getpid());
    cp_err err = {0};
    if (cp__mkdir_p(root, &err) != 0) {
        diag("%s", err.text);
        return 1;
    }
    test_states();
    test_walltime();
    test_tail();
    test_failure_text();
    test_config();
    test_blocks();
    test_worker_init_and_names();
    test_threads();
    char *q = cp__shell_quote(root);
    char *cmd = cp__strdup_printf("rm -rf %s", q);
    if (cmd && system(cmd) != 0)
        diag("could not remove %s", root);
    free(q);
    free(cmd);
    return done_testing();
}
