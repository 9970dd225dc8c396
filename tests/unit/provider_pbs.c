/* tests/unit/provider_pbs.c — the `pbspro` and `torque` providers without a PBS
 * server: settings and their errors, the rendered scripts (pinned by golden files
 * in tests/golden/pbs/; CP_UPDATE_GOLDEN=1 rewrites them), the state and exit
 * status tables, qstat's three output forms as real servers print them, and the
 * provider's command sequences against a scripted channel (the JSON → text
 * fallback, follow-ups for unlisted jobs, qsub/qdel refusals, injection).
 *
 * tests/scripts/torque.t runs both types against Slurm's real Torque wrappers;
 * what those cannot show (PBS Pro's JSON, Exit_status, comments, history) is
 * shown here with output of the forms PBS Pro and Torque document.
 */
#include "providers/pbs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tap.h"
#include "testutil.h"
#include "common/util.h"
#include "common/yaml.h"
#include "providers/launcher.h"

static char root[256];

/* ------------------------------------------------------------ config helpers */

static struct cp__ydoc *doc_of(const char *yaml)
{
    cp_err err = {0};
    struct cp__ydoc *d = cp__ydoc_load_mem("cfg.yaml", yaml, strlen(yaml), &err);
    if (!d)
        diag("yaml: %s", err.text);
    return d;
}

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

static int config_of(const char *yaml, struct cp__provider_config *cfg)
{
    cp_err err = {0};
    struct cp__ydoc *d = doc_of(yaml);
    int rc = d ? cp__provider_config_parse(d->root, NULL, cfg, &err) : -1;
    if (rc != 0)
        diag("config: %s", err.text);
    cp__ydoc_free(d);
    return rc;
}

/* ------------------------------------------------------------ settings */

static void test_config(void)
{
    struct cp__provider_config cfg;
    ok(config_of("type: pbspro\n", &cfg) == 0 && cfg.type == &cp__provider_pbspro &&
           cfg.common.walltime == 1200 && cfg.common.max_blocks == 1 &&
           cfg.common.launcher->type == CP_LAUNCHER_SINGLE_NODE &&
           ((struct cp__pbs_settings *)cfg.settings)->cpus_per_node == 1 &&
           ((struct cp__pbs_settings *)cfg.settings)->cmd_timeout == 120 &&
           ((struct cp__pbs_settings *)cfg.settings)->channel.type == CP_CHANNEL_LOCAL &&
           cp__provider_polling_interval(&cfg) == 60,
       "pbspro defaults: Parsl's (walltime 00:20:00, cpus_per_node 1, cmd_timeout 120, "
       "single_node, polled every 60 s)");
    cp__provider_config_fini(&cfg);
    ok(config_of("type: torque\n", &cfg) == 0 && cfg.type == &cp__provider_torque &&
           cfg.common.walltime == 1200 && cfg.common.launcher->type == CP_LAUNCHER_APRUN,
       "torque defaults: Parsl's (walltime 00:20:00, the aprun launcher)");
    cp__provider_config_fini(&cfg);
    ok(config_of("type: pbspro\nselect_options: \":ngpus=4\"\nqueue: prod@pbs01:15001\n",
                 &cfg) == 0 &&
           strcmp(((struct cp__pbs_settings *)cfg.settings)->select_options, "ngpus=4") == 0,
       "select_options may be written with its leading ':'; queue@server:port is a queue");
    cp__provider_config_fini(&cfg);

    like(parse_err("type: torque\nselect_options: ngpus=1\n"),
         "cfg.yaml:2:1: unknown key 'select_options' in provider of executor 'htex' (torque)",
         "torque has no select_options");
    is_str(parse_err("type: pbspro\ncpu_per_node: 4\n"),
           "cfg.yaml:2:1: unknown key 'cpu_per_node' in provider of executor 'htex' (pbspro) "
           "(did you mean 'cpus_per_node'?)", "a misspelt key: did you mean");
    is_str(parse_err("type: pbspro\naccount: \"my project\"\n"),
           "cfg.yaml:2:10: account 'my project' is not a PBS account name: only letters, "
           "digits and '_.-+@' (at most 256 characters), no blanks, quotes or line breaks",
           "a blank in account is refused at its place");
    like(parse_err("type: torque\nqueue: \"batch\\n#PBS -l nodes=100\"\n"),
         "cfg.yaml:2:8: queue 'batch?#PBS -l nodes=100' is not a PBS queue",
         "a line break in queue (a directive injection) is refused");
    is_str(parse_err("type: pbspro\nselect_options: \"ngpus=1 -q other\"\n"),
           "cfg.yaml:2:17: select_options 'ngpus=1 -q other' is not a PBS select chunk resource "
           "list: only letters, digits and '_.-+=:,@' (at most 256 characters), no blanks, "
           "quotes or line breaks", "blanks in select_options are refused");
    is_str(parse_err("type: torque\nscheduler_options: |\n  #PBS -l mem=4gb\n  rm -rf ~\n"),
           "cfg.yaml:2:20: scheduler_options line 2 is not a directive: 'rm -rf ~'. Give #PBS "
           "lines only; commands belong in worker_init", "a command in scheduler_options");
    is_str(parse_err("type: pbspro\ncpus_per_node: 0\n"),
           "cfg.yaml:2:16: cpus_per_node must be an integer from 1 to 1048576, got '0'",
           "cpus_per_node 0");
    is_str(parse_err("type: pbspro\ncmd_timeout: -5\n"),
           "cfg.yaml:2:14: cmd_timeout must be a number of seconds above 0 (at most 86400), "
           "got '-5'", "a negative cmd_timeout");
    like(parse_err("type: torque\nwalltime: soon\n"), "cfg.yaml:2:11: ",
         "a walltime that is not one is refused at its place");
    like(parse_err("type: torque\nchannel: {type: ssh}\n"), "cfg.yaml:2:",
         "an ssh channel without host is refused at its place");
    like(parse_err("type: torque\nchannel: {type: ssh}\n"), "channel of the torque provider",
         "... naming the torque provider's channel");
}

/* ------------------------------------------------------------ scripts */

static char *file_text(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char *buf = calloc(1, 65536);
    size_t n = buf ? fread(buf, 1, 65535, f) : 0;
    (void)n;
    fclose(f);
    return buf;
}

static void golden(const char *name, const char *yaml, const char *script_path)
{
    struct cp__provider_config cfg;
    cp_err err = {0};
    char path[256];
    snprintf(path, sizeof path, "tests/golden/pbs/%s.submit", name);
    char *text = NULL;
    if (config_of(yaml, &cfg) == 0) {
        char *cmd = cp__launcher_render(cfg.common.launcher,
                                        "'/opt/cparsl/bin/parsl-worker' --port 54000 --block-id 0",
                                        1, cfg.common.nodes_per_block, "/home/ada/run/submit_scripts",
                                        "parsl.htex.block-0", &err);
        text = cmd ? cp__provider_render(&cfg, cmd, 1, "parsl.htex.block-0", script_path, &err)
                   : NULL;
        free(cmd);
        cp__provider_config_fini(&cfg);
    }
    if (!text) {
        ok(0, "golden %s renders: %s", name, err.text);
        return;
    }
    if (getenv("CP_UPDATE_GOLDEN")) {
        FILE *f = fopen(path, "w");
        if (f) {
            fputs(text, f);
            fclose(f);
        }
        diag("wrote %s", path);
    }
    char *want = file_text(path);
    ok(want && strcmp(want, text) == 0, "golden script %s", path);
    if (want && strcmp(want, text) != 0)
        diag("rendered:\n%s", text);
    free(want);
    free(text);
}

static void test_scripts(void)
{
    golden("pbspro-defaults", "type: pbspro\n", NULL);
    golden("pbspro-full",
           "type: pbspro\naccount: PROJ-1\nqueue: prod@pbs01\nselect_options: "
           "ngpus=4:mem=64gb\ncpus_per_node: 64\nnodes_per_block: 2\nwalltime: \"01:30:00\"\n"
           "scheduler_options: |\n  #PBS -l filesystems=home:eagle\n  #PBS -l place=scatter\n"
           "worker_init: |\n  module load conda\n  conda activate /home/ada/env\n"
           "launcher: {type: mpiexec, overrides: \"--ppn 1 --depth=64\"}\n",
           "/home/ada/run/submit_scripts/parsl.htex.block-0.1700000000.submit");
    golden("torque-defaults", "type: torque\n", NULL);
    golden("torque-full",
           "type: torque\naccount: bw-123\nqueue: normal\nnodes_per_block: 4\nwalltime: 7200\n"
           "scheduler_options: \"#PBS -l gres=ccm\"\nworker_init: source ~/env.sh\n"
           "launcher: {type: aprun, overrides: \"-b -- bwpy-environ --\"}\n",
           "/home/ada/run/submit_scripts/parsl.htex.block-0.1700000000.submit");

    struct cp__provider_config cfg;
    cp_err err = {0};
    if (config_of("type: torque\n", &cfg) == 0) {
        char *t = cp__provider_render(&cfg, "true", 1, "x", "/home/my run/x.submit", &err);
        ok(!t && strstr(err.text, "the script path '/home/my run/x.submit' cannot be named in "
                                  "#PBS lines"),
           "a script path with a blank is refused by name (PBS would cut it there)");
        free(t);
        t = cp__provider_render(&cfg, "true", 1, "x", "/srv:/x.submit", &err);
        ok(!t, "a ':' in the script path is refused (PBS reads host:path)");
        free(t);
        t = cp__provider_render(&cfg, "true", 3, "7; rm -rf ~", "/r/a.submit", &err);
        ok(t && strstr(t, "#PBS -N p7__rm_-rf__\n") && strstr(t, "nodes=1:ppn=3") &&
               strstr(t, "export JOBNAME='p7__rm_-rf__'\n"),
           "a job name is reduced to [A-Za-z0-9_.-] and starts with a letter; tasks_per_node "
           "is ppn");
        free(t);
        cp__provider_config_fini(&cfg);
    }
    /* Settings made without the parser are checked all the same. */
    struct cp__pbs_settings bad = {.flavor = CP_PBS_PRO, .cpus_per_node = 1,
                                   .account = (char *)"a\nrm -rf ~",
                                   .scheduler_options = (char *)""};
    struct cp__provider_common c = {.nodes_per_block = 1, .walltime = 60,
                                    .worker_init = (char *)""};
    char *t = cp__pbs_script(&bad, &c, "true", 1, "x", "/r/x.submit", true, &err);
    ok(!t && strstr(err.text, "account"), "an account with a line break cannot reach a script "
                                          "built without the parser");
    free(t);
    bad.account = NULL;
    bad.scheduler_options = (char *)"#PBS -l x=1\necho hi\n";
    t = cp__pbs_script(&bad, &c, "true", 1, "x", "/r/x.submit", true, &err);
    ok(!t && strstr(err.text, "scheduler_options line 2"), "nor a command in scheduler_options");
    free(t);
}

/* ------------------------------------------------------------ tables */

static void test_states(void)
{
    struct row {
        const char *letters;
        enum cp__block_state state;
    };
    const struct row pro[] = {
        {"QWT", CP_BLOCK_PENDING}, {"REB", CP_BLOCK_RUNNING}, {"HSU", CP_BLOCK_HELD},
        {"FXC", CP_BLOCK_COMPLETED}, {"MZ", CP_BLOCK_UNKNOWN},
    };
    const struct row torque[] = {
        {"QWT", CP_BLOCK_PENDING}, {"RB", CP_BLOCK_RUNNING}, {"HSU", CP_BLOCK_HELD},
        {"CEFX", CP_BLOCK_COMPLETED}, {"MZ", CP_BLOCK_UNKNOWN},
    };
    for (int f = 0; f < 2; f++) {
        const struct row *t = f ? torque : pro;
        for (size_t i = 0; i < 5; i++) {
            bool all = true;
            for (const char *c = t[i].letters; *c; c++) {
                char l[2] = {*c, 0};
                if (cp__pbs_state((enum cp__pbs_flavor)f, l) != t[i].state) {
                    all = false;
                    diag("%s %c -> %s", f ? "torque" : "pbspro", *c,
                         cp__block_state_name(cp__pbs_state((enum cp__pbs_flavor)f, l)));
                }
            }
            ok(all, "%s letters %s are %s", f ? "torque" : "pbspro", t[i].letters,
               cp__block_state_name(t[i].state));
        }
    }
    ok(cp__pbs_state(CP_PBS_PRO, "RR") == CP_BLOCK_UNKNOWN &&
           cp__pbs_state(CP_PBS_PRO, "") == CP_BLOCK_UNKNOWN &&
           cp__pbs_state(CP_PBS_PRO, NULL) == CP_BLOCK_UNKNOWN,
       "more than one letter, none, or NULL: unknown (counted as active)");

    struct erow {
        enum cp__pbs_flavor f;
        bool has;
        long status;
        const char *comment;
        enum cp__block_state state;
        int exit_code;
        const char *why;
    };
    const struct erow e[] = {
        {CP_PBS_PRO, false, 0, "", CP_BLOCK_COMPLETED, -1, NULL},
        {CP_PBS_PRO, true, 0, "", CP_BLOCK_COMPLETED, 0, NULL},
        {CP_PBS_PRO, true, 3, "", CP_BLOCK_FAILED, 3, NULL},
        {CP_PBS_PRO, true, 137, "", CP_BLOCK_FAILED, 137, NULL},
        {CP_PBS_PRO, true, 265, "", CP_BLOCK_FAILED, 137, "SIGKILL"},
        {CP_PBS_PRO, true, 271, "job killed: walltime 152 exceeded limit 120",
         CP_BLOCK_TIMEOUT, 143, "SIGTERM"},
        {CP_PBS_PRO, true, -1, "", CP_BLOCK_FAILED, -1, "PBS could not run the job"},
        {CP_PBS_TORQUE, true, 0, "", CP_BLOCK_COMPLETED, 0, NULL},
        {CP_PBS_TORQUE, true, 271, "", CP_BLOCK_FAILED, 143, "SIGTERM"},
        {CP_PBS_TORQUE, true, -11, "", CP_BLOCK_TIMEOUT, -1, "walltime"},
        {CP_PBS_TORQUE, true, -12, "", CP_BLOCK_TIMEOUT, -1, "CPU time"},
        {CP_PBS_TORQUE, true, -10, "", CP_BLOCK_FAILED, -1, "memory limit"},
        {CP_PBS_TORQUE, true, -9, "", CP_BLOCK_FAILED, -1, "stdout/stderr"},
        {CP_PBS_TORQUE, true, -99, "", CP_BLOCK_FAILED, -1, "negative exit status"},
    };
    for (size_t i = 0; i < sizeof e / sizeof e[0]; i++) {
        struct cp__pbs_info in = {.found = true, .has_exit = e[i].has,
                                  .exit_status = e[i].status};
        snprintf(in.comment, sizeof in.comment, "%s", e[i].comment);
        int code;
        const char *why;
        enum cp__block_state s = cp__pbs_ended(e[i].f, &in, &code, &why);
        ok(s == e[i].state && code == e[i].exit_code &&
               (e[i].why ? why && strstr(why, e[i].why) : !why),
           "%s exit status %s%ld%s%s: %s, exit code %d%s%s", e[i].f ? "torque" : "pbspro",
           e[i].has ? "" : "(none) ", e[i].status, e[i].comment[0] ? ", comment " : "",
           e[i].comment, cp__block_state_name(e[i].state), e[i].exit_code,
           e[i].why ? ", " : "", e[i].why ? e[i].why : "");
        if (s != e[i].state || code != e[i].exit_code)
            diag("got %s, %d, %s", cp__block_state_name(s), code, why ? why : "(null)");
    }
}

/* ------------------------------------------------------------ readers */

/* Slurm 22.05's Torque wrapper, as run in torque.t. */
static const char wrapper_brief[] =
    "Job id              Name             Username        Time Use S Queue          \n"
    "------------------- ---------------- --------------- -------- - ---------------\n"
    "1                   parsl.htex.block root            00:00:00 C debug          \n"
    "2                   pbspro.block     root            00:00:00 R debug          \n";

static const char wrapper_full[] =
    "Job Id:\t2\n\tJob_Name = pbspro.block\n\tJob_Owner = root@localhost\n\tjob_state = R\n"
    "\tqueue = debug\n\tqtime = Thu Nov 26 12:27:37 2026\n\tResource_List.walltime = 00:03:00\n"
    "\n";

/* Torque's documented qstat -f (a Variable_List that wraps). */
static const char torque_full[] =
    "Job Id: 179.host\n    Job_Name = STDIN\n    job_state = C\n    queue = batchq\n"
    "    Variable_List = PBS_O_HOME=/home/user,PBS_O_LOGNAME=user,\n"
    "\tjob_state = R,exit_status = 0\n"
    "    exit_status = -1\n"
    "Job Id: 180.host\n    job_state = R\n";

/* PBS Pro 2021's qstat -x -f -F json, cut to what matters (and one stranger). */
static const char pro_json[] =
    "{\n \"timestamp\":1700000000,\n \"pbs_version\":\"2021.1.3\",\n \"pbs_server\":\"pbs01\",\n"
    " \"Jobs\":{\n"
    "  \"1234.pbs01\":{\"Job_Name\":\"parsl.htex.block-0\",\"job_state\":\"F\",\"queue\":\"prod\","
    "\"Exit_status\":271,\"comment\":\"Job run at Mon Jan 01 at 00:00 on (x1:ncpus=64) and failed; "
    "job killed: walltime 1210 exceeded limit 1200\","
    "\"Variable_List\":{\"PBS_O_HOME\":\"/home/ada\",\"job_state\":\"Q\"}},\n"
    "  \"1235.pbs01\":{\"job_state\":\"R\"},\n"
    "  \"9999.pbs01\":{\"job_state\":\"Q\"}\n }\n}\n";

static void test_readers(void)
{
    const char *ids[] = {"1", "2", "3"};
    struct cp__pbs_info in[3] = {0};
    cp__pbs_read_brief(wrapper_brief, ids, 3, in);
    ok(in[0].found && strcmp(in[0].state, "C") == 0 && in[1].found &&
           strcmp(in[1].state, "R") == 0 && !in[2].found && !in[0].has_exit,
       "the wrapper's brief table: states by id, the header skipped, 3 not listed");

    memset(in, 0, sizeof in);
    cp__pbs_read_full(wrapper_full, ids, 3, in);
    ok(!in[0].found && in[1].found && strcmp(in[1].state, "R") == 0 && !in[1].has_exit,
       "the wrapper's -f record: job_state, no exit status");
    ok(cp__pbs_has_full_record(wrapper_full) && !cp__pbs_has_full_record("<Data><Job>") &&
           !cp__pbs_has_full_record(""),
       "a -f record is recognised; XML (Torque's -x) is not one");

    const char *tids[] = {"179.host", "180.host.example.org"};
    struct cp__pbs_info t[2] = {0};
    cp__pbs_read_full(torque_full, tids, 2, t);
    ok(t[0].found && strcmp(t[0].state, "C") == 0 && t[0].has_exit && t[0].exit_status == -1,
       "Torque's -f: the first job_state and the real exit_status, not the ones inside the "
       "wrapped Variable_List");
    ok(t[1].found && strcmp(t[1].state, "R") == 0,
       "a record printed as 180.host is our 180.host.example.org");

    const char *pids[] = {"1234.pbs01", "1235.pbs01", "1236.pbs01"};
    struct cp__pbs_info p[3] = {0};
    ok(cp__pbs_read_json(pro_json, pids, 3, p) == 0, "PBS Pro's JSON is read");
    ok(p[0].found && strcmp(p[0].state, "F") == 0 && p[0].has_exit && p[0].exit_status == 271 &&
           strstr(p[0].comment, "walltime 1210 exceeded limit 1200"),
       "job_state, Exit_status and comment (not the Variable_List's job_state)");
    ok(p[1].found && strcmp(p[1].state, "R") == 0 && !p[1].has_exit && !p[2].found,
       "a running job has no Exit_status; a job not listed is not found");
    memset(p, 0, sizeof p);
    ok(cp__pbs_read_json("{\"timestamp\":1,\"pbs_version\":\"19.1\"}", pids, 3, p) == 0 &&
           !p[0].found, "JSON without Jobs: none found");
    ok(cp__pbs_read_json("{\"Jobs\":{\"1\":{\"Variable_List\":\"a\\qb\"}}}", pids, 3, p) == -1 &&
           cp__pbs_read_json("usage: qstat [-f]", pids, 3, p) == -1 &&
           cp__pbs_read_json("[1]", pids, 3, p) == -1,
       "broken JSON (PBS's unescaped backslashes), text, or not an object: -1");

    char *id = cp__pbs_parse_job_id("1234.pbs01\n");
    is_str(id, "1234.pbs01", "qsub's answer: the id");
    free(id);
    id = cp__pbs_parse_job_id("qsub: warning: something\n\n  42.torque.example.org  \n\n");
    is_str(id, "42.torque.example.org", "the last non-blank line, trimmed");
    free(id);
    ok(!(id = cp__pbs_parse_job_id("There was an error running the Slurm sbatch command.\n")),
       "a sentence is not a job id");
    free(id);
    ok(cp__pbs_job_id_ok("12[].pbs01") && !cp__pbs_job_id_ok("1;rm") &&
           !cp__pbs_job_id_ok("1 2") && !cp__pbs_job_id_ok("$(id)") && !cp__pbs_job_id_ok(""),
       "job ids: letters, digits and ._-[]@ only");
    ok(cp__pbs_id_match("1234.pbs01.example.org", "1234.pbs01", 10) &&
           cp__pbs_id_match("1234", "1234.pbs01", 10) &&
           !cp__pbs_id_match("1234", "12345", 5) && !cp__pbs_id_match("123", "1234.x", 6),
       "ids match with or without (part of) the server name, never by prefix of the number");
}

/* ------------------------------------------------------------ a scripted channel */

struct reply {
    const char *expect;         /* the command must start with this */
    int rc;
    const char *out, *err;
};

static const struct reply *script;
static size_t nscript, at;
static char cmds[8192];         /* every command run, one per line */
static int surprises;

static int fake_run(struct cp__channel *ch, const char *cmd, const char *stdin_text,
                    double timeout, struct cp__channel_result *res, cp_err *err)
{
    (void)ch;
    (void)stdin_text;
    (void)timeout;
    memset(res, 0, sizeof *res);
    snprintf(cmds + strlen(cmds), sizeof cmds - strlen(cmds), "%s\n", cmd);
    if (at >= nscript || strncmp(cmd, script[at].expect, strlen(script[at].expect)) != 0) {
        surprises++;
        diag("unexpected command: %s (expected: %s)", cmd,
             at < nscript ? script[at].expect : "none");
        return cp__errf(err, EIO, "unexpected command");
    }
    const struct reply *r = &script[at++];
    res->exit_code = r->rc;
    res->out = strdup(r->out ? r->out : "");
    res->err_text = strdup(r->err ? r->err : "");
    return 0;
}

static int fake_put(struct cp__channel *ch, const char *path, const void *data, size_t len,
                    int mode, cp_err *err)
{
    (void)ch;
    (void)mode;
    FILE *f = fopen(path, "w");
    if (!f || fwrite(data, 1, len, f) != len) {
        if (f)
            fclose(f);
        return cp__errf(err, EIO, "cannot write %s", path);
    }
    fclose(f);
    return 0;
}

static int fake_get(struct cp__channel *ch, const char *path, size_t max, char **data,
                    size_t *len, cp_err *err)
{
    (void)ch;
    (void)max;
    char *t = file_text(path);
    if (!t)
        return cp__errf(err, ENOENT, "no %s", path);
    *data = t;
    *len = strlen(t);
    return 0;
}

static int fake_mkdirs(struct cp__channel *ch, const char *path, int mode, cp_err *err)
{
    (void)ch;
    (void)mode;
    return cp__mkdir_p(path, err);
}

static const char *fake_describe(struct cp__channel *ch)
{
    (void)ch;
    return "fake";
}

static void fake_close(struct cp__channel *ch)
{
    free(ch);
}

static const struct cp__channel_ops fake_ops = {
    .name = "fake", .run = fake_run, .put = fake_put, .get = fake_get,
    .mkdirs = fake_mkdirs, .describe = fake_describe, .close = fake_close,
};

static struct cp__provider *fake_provider(const char *yaml, const struct reply *r, size_t n,
                                          struct cp__provider_config *cfg)
{
    script = r;
    nscript = n;
    at = 0;
    cmds[0] = '\0';
    surprises = 0;
    struct cp__channel *ch = calloc(1, sizeof *ch);
    ch->ops = &fake_ops;
    cp_err err = {0};
    if (config_of(yaml, cfg) != 0)
        return NULL;
    struct cp__provider *p = cp__pbs_create_with(cfg, root, ch, NULL, &err);
    if (!p)
        diag("create: %s", err.text);
    return p;
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void test_pbspro_provider(void)
{
    static const struct reply r[] = {
        {"qsub -o '", 0, "1234.pbs01\n", NULL},
        {"qsub -o '", 0, "1235.pbs01\n", NULL},
        /* status: qstat has no -F (PBS Pro 13): one step down. */
        {"qstat -x -f -F json '1235.pbs01' '1234.pbs01'", 2, "",
         "qstat: invalid option -- 'F'\nusage:\n\tqstat [-f] [-J] [-p] [-t] [-x] ..."},
        {"qstat -x -f '1235.pbs01' '1234.pbs01'", 0,
         "Job Id: 1234.pbs01\n    job_state = R\n\nJob Id: 1235.pbs01\n    job_state = Q\n"
         "    comment = Not Running: Insufficient amount of resource: ncpus\n", NULL},
        /* again: the text form at once; 1234 ended with exit 3 */
        {"qstat -x -f '1235.pbs01' '1234.pbs01'", 153,
         "Job Id: 1234.pbs01\n    job_state = F\n    Exit_status = 3\n\n",
         "qstat: Unknown Job Id 1235.pbs01\n"},
        /* 1235 is no longer listed (history off): asked alone, unknown: missing */
        {"qstat -x -f '1235.pbs01'", 153, "", "qstat: Unknown Job Id 1235.pbs01\n"},
    };
    struct cp__provider_config cfg;
    struct cp__provider *p = fake_provider("type: pbspro\nqueue: prod\n", r, N(r), &cfg);
    if (!p) {
        ok(0, "pbspro provider with a scripted channel");
        return;
    }
    cp_err err = {0};
    char *a = cp__provider_submit(p, "0", "echo block 0", 1, "parsl.htex.block-0", &err);
    char *b = cp__provider_submit(p, "1", "echo block 1", 1, "parsl.htex.block-1", &err);
    is_str(a, "1234.pbs01", "qsub's id is the block's job id");
    like(cmds, ".submit.stdout' -e '", "qsub gets -o and -e (quoted) as well as the script");
    char *script0 = NULL;
    {
        /* The script named on qsub's line exists and holds the block's command. */
        char first[1024];
        snprintf(first, sizeof first, "%.*s", (int)strcspn(cmds, "\n"), cmds);
        char *last = strrchr(first, ' ');
        if (last) {
            last[strlen(last) - 1] = '\0';
            script0 = file_text(last + 2);
        }
    }
    ok(script0 && strstr(script0, "#PBS -q prod\n") && strstr(script0, "\necho block 0\n") &&
           strstr(script0, "#PBS -N parsl.htex.block-0."),
       "the script qsub was given is the block's (queue, unique name, command)");
    free(script0);

    const char *ids[2] = {b, a};
    struct cp__block_status st[2] = {0};
    int rc = cp__provider_status(p, ids, 2, st, &err);
    ok(rc == 0 && st[0].state == CP_BLOCK_PENDING && st[1].state == CP_BLOCK_RUNNING,
       "after one refused option, qstat -x -f text: pending, running");
    like(st[0].message, "Insufficient amount of resource", "a pending job's comment is shown");
    like(cmds, "qstat -x -f -F json", "JSON was asked first");
    cp__block_status_clear_n(st, 2);

    rc = cp__provider_status(p, ids, 2, st, &err);
    ok(rc == 0 && st[1].state == CP_BLOCK_FAILED && st[1].exit_code == 3 &&
           st[0].state == CP_BLOCK_MISSING,
       "F with Exit_status 3: failed, exit code 3; a job neither listed nor known alone: "
       "missing (never completed)");
    like(st[0].message, "known neither to qstat nor to qstat -f", "... saying why");
    ok(st[1].stdout_path && strstr(st[1].stdout_path, ".submit.stdout"),
       "an ended block names its output files");
    cp__block_status_clear_n(st, 2);
    ok(surprises == 0 && at == N(r), "the commands were exactly: qsub x2, json, -x -f x2, "
                                     "-x -f of the unlisted job");
    if (surprises || at != N(r))
        diag("commands:\n%s", cmds);
    /* Final states are not asked again. */
    cmds[0] = '\0';
    rc = cp__provider_status(p, ids, 2, st, &err);
    ok(rc == 0 && cmds[0] == '\0' && st[1].state == CP_BLOCK_FAILED,
       "ended blocks are not asked about again");
    cp__block_status_clear_n(st, 2);
    free(a);
    free(b);
    cp__provider_destroy(p);
    cp__provider_config_fini(&cfg);
}

static void test_pbspro_json(void)
{
    static const struct reply r[] = {
        {"qstat -x -f -F json '1234.pbs01' '1235.pbs01'", 0, pro_json, NULL},
        {"qdel '1235.pbs01'", 0, "", NULL},
        {"qstat -x -f -F json '1235.pbs01'", 0,
         "{\"Jobs\":{\"1235.pbs01\":{\"job_state\":\"F\",\"Exit_status\":271}}}", NULL},
        /* a broken JSON answer: text from then on */
        {"qstat -x -f -F json '77.pbs01'", 0, "{\"Jobs\":{\"77.pbs01\":{\"x\":\"a\\qb\"}}}",
         NULL},
        {"qstat -x -f '77.pbs01'", 0, "Job Id: 77.pbs01\n    job_state = H\n", NULL},
    };
    struct cp__provider_config cfg;
    struct cp__provider *p = fake_provider("type: pbspro\n", r, N(r), &cfg);
    if (!p) {
        ok(0, "pbspro provider (json)");
        return;
    }
    cp_err err = {0};
    const char *ids[2] = {"1234.pbs01", "1235.pbs01"};
    struct cp__block_status st[2] = {0};
    int rc = cp__provider_status(p, ids, 2, st, &err);
    ok(rc == 0 && st[0].state == CP_BLOCK_TIMEOUT && st[0].exit_code == 143 &&
           st[1].state == CP_BLOCK_RUNNING,
       "JSON: F with 271 and 'walltime … exceeded limit': timeout, exit code 143; R running");
    like(st[0].message, "PBS state F, exit status 271 (SIGTERM); Job run at",
         "the message has the state, exit status, signal and PBS's comment");
    cp__block_status_clear_n(st, 2);
    bool cancelled[1] = {false};
    rc = cp__provider_cancel(p, ids + 1, 1, cancelled, &err);
    ok(rc == 0 && cancelled[0], "qdel of a running job");
    rc = cp__provider_status(p, ids + 1, 1, st, &err);
    ok(rc == 0 && st[0].state == CP_BLOCK_CANCELLED,
       "a job we cancelled is cancelled, whatever exit status PBS gives it");
    cp__block_status_clear_n(st, 1);
    const char *bad[1] = {"77.pbs01"};
    rc = cp__provider_status(p, bad, 1, st, &err);
    ok(rc == 0 && st[0].state == CP_BLOCK_HELD,
       "JSON PBS could not write properly: the same call asks qstat -x -f text instead");
    cp__block_status_clear_n(st, 1);
    ok(surprises == 0 && at == N(r), "the commands were as expected");
    if (surprises || at != N(r))
        diag("commands:\n%s", cmds);
    cp__provider_destroy(p);
    cp__provider_config_fini(&cfg);
}

static void test_torque_provider(void)
{
    static const struct reply r[] = {
        {"qsub -o '", 0, "57.torque01.example.org\n", NULL},
        {"qsub -o '", 1, "", "qsub: submit error (Unknown queue MSG=requested queue not "
                             "found)\n"},
        {"qsub -o '", 0, "There was an error\n\n", NULL},
        {"qstat '57.torque01.example.org' '58.torque01.example.org' '59.torque01'", 153,
         "Job ID                    Name             User            Time Use S Queue\n"
         "------------------------- ---------------- --------------- -------- - -----\n"
         "57.torque01               parsl.htex.block ada             00:00:01 C batch\n"
         "59.torque01               parsl.htex.block ada             0        Z batch\n",
         "qstat: Unknown Job Id Error 58.torque01.example.org\n"},
        {"qstat -f '57.torque01.example.org'", 0,
         "Job Id: 57.torque01.example.org\n    job_state = C\n    exit_status = -11\n", NULL},
        {"qstat -f '58.torque01.example.org'", 0,
         "Job Id: 58.torque01.example.org\n    job_state = C\n    exit_status = 0\n", NULL},
        /* qstat cannot reach the server */
        {"qstat '59.torque01'", 1, "", "Cannot connect to default server host 'torque01' - "
                                       "check pbs_server daemon.\n"},
        /* qdel: one job ended meanwhile, one did not */
        {"qdel '59.torque01' '60.torque01'", 170, "", "qdel: Request invalid for state of job "
                                                      "MSG=invalid state for job - COMPLETE "
                                                      "59.torque01\n"},
        {"qstat '59.torque01' '60.torque01'", 0,
         "59.torque01 n ada 0 C batch\n60.torque01 n ada 0 R batch\n", NULL},
        {"qstat -f '59.torque01'", 0, "Job Id: 59.torque01\n    job_state = C\n"
                                      "    exit_status = 271\n", NULL},
        {"qdel '60.torque01'", 0, "", NULL},
        {"qstat '60.torque01'", 0, "60.torque01 n ada 0 R batch\n", NULL},
        /* someone else's job */
        {"qdel '61.torque01'", 159, "", "qdel: Unauthorized Request  MSG=operation not "
                                        "permitted 61.torque01\n"},
        {"qstat '61.torque01'", 0, "61.torque01 n bob 0 R batch\n", NULL},
        /* a job finishing as we qdel it: qstat still says R */
        {"qdel '62.torque01'", 170, "", "qdel: Request invalid for state of job MSG=invalid "
                                        "state for job - COMPLETE 62.torque01\n"},
        {"qstat '62.torque01'", 0, "62.torque01 n ada 0 R batch\n", NULL},
    };
    struct cp__provider_config cfg;
    struct cp__provider *p = fake_provider("type: torque\nlauncher: simple\n", r, N(r), &cfg);
    if (!p) {
        ok(0, "torque provider with a scripted channel");
        return;
    }
    cp_err err = {0};
    char *a = cp__provider_submit(p, "0", "true", 1, "parsl.htex.block-0", &err);
    is_str(a, "57.torque01.example.org", "qsub's id, with its server name");
    char *b = cp__provider_submit(p, "1", "true", 1, "parsl.htex.block-1", &err);
    ok(!b && strstr(err.text, "qsub rejected block 1 (exit 1, script ") &&
           strstr(err.text, "): qsub: submit error (Unknown queue MSG=requested queue not found)"),
       "a rejected submission fails with qsub's own message");
    free(b);
    b = cp__provider_submit(p, "2", "true", 1, "parsl.htex.block-2", &err);
    ok(!b && strstr(err.text, "qsub accepted block 2 but named no job id: 'There was an error'"),
       "an answer without a job id is an error, not a job");
    free(b);

    const char *ids[3] = {a, "58.torque01.example.org", "59.torque01"};
    struct cp__block_status st[3] = {0};
    int rc = cp__provider_status(p, ids, 3, st, &err);
    ok(rc == 0 && st[0].state == CP_BLOCK_TIMEOUT && st[1].state == CP_BLOCK_COMPLETED &&
           st[1].exit_code == 0 && st[2].state == CP_BLOCK_UNKNOWN,
       "brief qstat, then qstat -f for the ended one (-11: timeout) and the unlisted one "
       "(C, exit 0: completed); an unknown letter is unknown");
    like(st[0].message, "JOB_EXEC_OVERLIMIT_WT", "Torque's own code is named");
    like(st[2].message, "PBS state 'Z' is not one cparsl knows; counted as active",
         "an unknown letter says so");
    cp__block_status_clear_n(st, 3);
    rc = cp__provider_status(p, ids + 2, 1, st, &err);
    ok(rc == -1 && strstr(err.text, "qstat failed (exit 1): Cannot connect to default server") &&
           st[0].state == CP_BLOCK_UNKNOWN,
       "qstat that cannot reach the server: status fails with its message, states unknown");
    cp__block_status_clear_n(st, 1);

    const char *c2[2] = {"59.torque01", "60.torque01"};
    bool cancelled[2] = {false, false};
    rc = cp__provider_cancel(p, c2, 2, cancelled, &err);
    ok(rc == 0 && cancelled[0] && cancelled[1],
       "qdel refused for a job that had ended: it keeps its end, the other is qdel'd alone");
    if (rc != 0)
        diag("%s", err.text);
    rc = cp__provider_status(p, c2, 2, st, &err);
    ok(rc == 0 && st[0].state == CP_BLOCK_FAILED && st[0].exit_code == 143 &&
           st[1].state == CP_BLOCK_CANCELLED,
       "... failed (exit 271: SIGTERM) and cancelled");
    cp__block_status_clear_n(st, 2);

    const char *other[1] = {"61.torque01"};
    rc = cp__provider_cancel(p, other, 1, cancelled, &err);
    ok(rc == -1 && !cancelled[0] &&
           strstr(err.text, "qdel 61.torque01 failed (exit 159): qdel: Unauthorized Request"),
       "qdel refused for a running job: cancel fails with qdel's message");
    const char *ending[1] = {"62.torque01"};
    rc = cp__provider_cancel(p, ending, 1, cancelled, &err);
    ok(rc == 0 && cancelled[0], "qdel saying the job is COMPLETE while qstat still lists it "
                                "running: it has ended, not an error");

    const char *evil[1] = {"1; touch /tmp/pwned"};
    cmds[0] = '\0';
    rc = cp__provider_status(p, evil, 1, st, &err);
    ok(rc == 0 && st[0].state == CP_BLOCK_MISSING && cmds[0] == '\0',
       "an id that is not one is missing, and no command runs");
    cp__block_status_clear_n(st, 1);
    rc = cp__provider_cancel(p, evil, 1, NULL, &err);
    ok(rc == -1 && err.code == EINVAL && cmds[0] == '\0', "nor is it passed to qdel");
    ok(surprises == 0 && at == N(r), "the commands were as expected");
    if (surprises || at != N(r))
        diag("commands:\n%s", cmds);
    free(a);
    cp__provider_destroy(p);
    cp__provider_config_fini(&cfg);
}

int main(void)
{
    tap_start(60);
    snprintf(root, sizeof root, "/tmp/cparsl-pbs-%d", (int)getpid());
    test_config();
    test_scripts();
    test_states();
    test_readers();
    test_pbspro_provider();
    test_pbspro_json();
    test_torque_provider();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd) != 0)
        diag("could not remove %s", root);
    return done_testing();
}
