/* workflows/cli/parsl_run.c — `parsl-run WORKFLOW.yaml`: load, check, run.
 *
 * Exit statuses (DESIGN.md §5, docs/parsl-run.1): 0 every task succeeded, 1 some
 * task failed or dep_fail, 2 bad input (nothing was run or written), 130
 * interrupted (what finished is recorded; the run directory is consistent).
 * Everything is checked (workflow, config, executor labels) before the run
 * directory is created, so a bad input leaves no trace.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cparsl.h"
#include "common/util.h"
#include "engine/config_file.h"
#include "engine/observe.h"
#include "workflows/cli/progress.h"
#include "workflows/cli/subcmd.h"
#include "workflows/wf.h"
#include "workflows/wf_run.h"

enum { EXIT_OK = 0, EXIT_FAILED = 1, EXIT_BAD_INPUT = 2, EXIT_INTERRUPTED = 130 };

struct args {
    const char *workflow;
    const char *config;
    const char *run_dir;
    const char *dag;
    const char **defs;
    size_t ndefs;
    int max_workers;
    bool check, quiet;
    bool resume;                /* --resume */
    bool render;                /* --render-submit */
    bool monitor;               /* --monitor */
    const char *monitor_db;     /* --monitor=DB, or NULL */
};

static const char usage[] =
    "usage: parsl-run [options] WORKFLOW.yaml\n"
    "       parsl-run report|status [RUN_DIR|DB] ...  (see parsl-run report --help)\n"
    "\n"
    "Runs a cparsl workflow file (see parsl-run(1) and docs/workflows.md).\n"
    "\n"
    "  --check              validate the workflow and its config, run nothing\n"
    "  --dag dot|mermaid    print the task graph and exit\n"
    "  --render-submit      print the batch script one block of each executor would\n"
    "                       submit, and exit (WORKFLOW may be left out with --config)\n"
    "  --config C           a config file or template name (overrides config:)\n"
    "  -D, --define K=V     set workflow var K (and ${K} in the config)\n"
    "  --run-dir DIR        root of runinfo/NNN (default: runinfo beside the workflow)\n"
    "  -j, --max-workers N  threads of the local thread_pool executor\n"
    "  --monitor, --monitor=DB\n"
    "                       record the run in the monitoring database (default\n"
    "                       runinfo/monitoring.db, or the config's monitoring: db)\n"
    "  --resume             reuse the results that earlier runs under the same\n"
    "                       run directory checkpointed (tasks end as memo_done)\n"
    "  -q, --quiet          print only failures and the summary\n"
    "  -h, --help           this help\n"
    "  -V, --version        the version\n"
    "\n"
    "Exit status: 0 all tasks succeeded, 1 some task failed, 2 bad input,\n"
    "130 interrupted (Ctrl-C).\n";

static int bad_usage(const char *fmt, const char *what)
{
    fprintf(stderr, "parsl-run: ");
    fprintf(stderr, fmt, what);
    fprintf(stderr, "\nTry 'parsl-run --help'.\n");
    return EXIT_BAD_INPUT;
}

/* -1 to continue, else the exit status. */
static int parse_args(int argc, char **argv, struct args *a)
{
    static const struct option longs[] = {
        {"check", no_argument, NULL, 'c'},      {"dag", required_argument, NULL, 'g'},
        {"config", required_argument, NULL, 'C'}, {"define", required_argument, NULL, 'D'},
        {"run-dir", required_argument, NULL, 'r'}, {"max-workers", required_argument, NULL, 'j'},
        {"quiet", no_argument, NULL, 'q'},      {"help", no_argument, NULL, 'h'},
        {"monitor", optional_argument, NULL, 'M'}, {"resume", no_argument, NULL, 'R'},
        {"render-submit", no_argument, NULL, 'S'},
        {"version", no_argument, NULL, 'V'},    {NULL, 0, NULL, 0},
    };
    a->defs = calloc((size_t)argc + 1, sizeof *a->defs);
    if (!a->defs)
        return bad_usage("%s", "out of memory");
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "+D:j:qhV", longs, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'c': a->check = true; break;
        case 'g':
            if (strcmp(optarg, "dot") != 0 && strcmp(optarg, "mermaid") != 0)
                return bad_usage("--dag takes dot or mermaid, not '%s'", optarg);
            a->dag = optarg;
            break;
        case 'C': a->config = optarg; break;
        case 'D':
            if (!strchr(optarg, '=') || optarg[0] == '=')
                return bad_usage("-D takes NAME=VALUE, not '%s'", optarg);
            a->defs[a->ndefs++] = optarg;
            break;
        case 'r': a->run_dir = optarg; break;
        case 'R': a->resume = true; break;
        case 'S': a->render = true; break;
        case 'M':
            if (optarg && !*optarg)
                return bad_usage("%s", "--monitor=DB needs a file path");
            a->monitor = true;
            a->monitor_db = optarg;
            break;
        case 'j':
            errno = 0;
            long n = strtol(optarg, &end, 10);
            if (errno || *end || n < 1 || n > 100000)
                return bad_usage("-j takes a number of workers from 1 to 100000, not '%s'",
                                 optarg);
            a->max_workers = (int)n;
            break;
        case 'q': a->quiet = true; break;
        case 'h': fputs(usage, stdout); return EXIT_OK;
        case 'V': printf("parsl-run (cparsl) %s\n", CPARSL_VERSION); return EXIT_OK;
        default:
            return bad_usage("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (a->render && a->config && optind == argc)
        return -1;      /* --render-submit --config C: no workflow needed */
    if (optind != argc - 1)
        return bad_usage("%s", optind == argc ? "which workflow? give WORKFLOW.yaml"
                                              : "give exactly one workflow file");
    a->workflow = argv[optind];
    return -1;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t ls = strlen(s), lx = strlen(suffix);
    return ls >= lx && strcmp(s + ls - lx, suffix) == 0;
}

/* A path from the command line, made absolute against the current directory. */
static char *abs_path(const char *path)
{
    char cwd[PATH_MAX];
    if (path[0] == '/' || !getcwd(cwd, sizeof cwd))
        return strdup(path);
    return cp__strdup_printf("%s/%s", cwd, path);
}

/* The config: --config, else the workflow's config:, else the embedded local.
 * Relative paths inside it (run_dir, …) resolve in the workflow's working
 * directory, as DESIGN §5 says; a --config path itself is relative to where
 * parsl-run was started. */
static struct cp__run_config *load_config(const struct args *a, const struct cp__wf *wf,
                                          cp_err *err)
{
    struct cp__run_config *rc;
    char *spec = NULL;
    if (a->config && (strchr(a->config, '/') || ends_with(a->config, ".yaml") ||
                      ends_with(a->config, ".yml")) && !(spec = abs_path(a->config))) {
        cp__errf(err, ENOMEM, "out of memory");
        return NULL;
    }
    if (a->config)
        rc = cp__config_load(spec ? spec : a->config, wf->workdir, a->defs, a->ndefs, err);
    else if (wf->config)
        rc = cp__config_from_node(wf->config, wf->workdir, a->defs, a->ndefs, err);
    else
        rc = cp__config_load("local", wf->workdir, a->defs, a->ndefs, err);
    free(spec);
    if (!rc)
        return NULL;
    int status = 0;
    if (a->run_dir) {
        char *root = abs_path(a->run_dir);
        status = root ? cp__config_set_run_dir(rc, root, err)
                      : cp__errf(err, ENOMEM, "out of memory");
        free(root);
    }
    cp__config_set_workflow_checkpoints(rc, a->resume);
    if (status == 0 && a->max_workers > 0)
        status = cp__config_set_max_workers(rc, a->max_workers, err);
    if (status == 0 && a->monitor) {
        char *db = a->monitor_db ? abs_path(a->monitor_db) : NULL;
        status = a->monitor_db && !db ? cp__errf(err, ENOMEM, "out of memory")
                                      : cp__config_set_monitoring(rc, db, err);
        free(db);
    }
    /* The workflow's name is the run's workflow_name unless the config gives one. */
    if (status == 0 && rc->monitoring && !rc->mon_workflow_name && wf->name &&
        !(rc->mon_workflow_name = strdup(wf->name)))
        status = cp__errf(err, ENOMEM, "out of memory");
    if (status != 0) {
        cp__run_config_free(rc);
        return NULL;
    }
    return rc;
}

/* Every executor a task names must exist in the config. */
static int check_executors(const struct cp__wf *wf, const struct cp__run_config *rc,
                           cp_err *err)
{
    for (size_t i = 0; i < wf->ntasks; i++) {
        const struct cp__wf_task *t = &wf->tasks[i];
        struct cp__wf_settings s;
        cp__wf_eff(wf, t, &s);
        if (!(s.set & CP_WF_S_EXECUTOR) || cp__config_has_executor(rc, s.executor))
            continue;
        /* t->node and apps[].node are the name keys: find the mappings by name. */
        const struct cp__ynode *root = wf->doc->root, *at = cp__ymap_get(
            cp__ymap_get(cp__ymap_get(root, "tasks"), t->name), "executor");
        if (!at)
            at = cp__ymap_get(cp__ymap_get(cp__ymap_get(root, "apps"), wf->apps[t->app].name),
                              "executor");
        return cp__yerr(err, at ? at : t->node, "task '%s' uses executor '%s', which the "
                        "config does not define (executors: %s)", t->name, s.executor,
                        cp__config_labels(rc));
    }
    return 0;
}

/* -D names used neither by a workflow var nor by the config are likely typos. */
static void warn_unused_defs(const struct args *a, const struct cp__wf *wf,
                             const struct cp__run_config *rc)
{
    const char *const *used = cp__config_used_defs(rc);
    for (size_t i = 0; i < a->ndefs; i++) {
        size_t len = (size_t)(strchr(a->defs[i], '=') - a->defs[i]);
        bool found = false;
        for (size_t v = 0; v < wf->nvars && !found; v++)
            found = strlen(wf->var_names[v]) == len &&
                    strncmp(wf->var_names[v], a->defs[i], len) == 0;
        for (size_t u = 0; used && used[u] && !found; u++)
            found = strlen(used[u]) == len && strncmp(used[u], a->defs[i], len) == 0;
        if (!found)
            fprintf(stderr, "parsl-run: warning: -D %.*s is used by no workflow var and no "
                            "${%.*s} in the config\n", (int)len, a->defs[i], (int)len,
                    a->defs[i]);
    }
}

static volatile sig_atomic_t g_signals;

static void on_signal(int sig)
{
    (void)sig;
    if (++g_signals >= 2) {
        static const char msg[] = "\nparsl-run: interrupted again: exiting now\n";
        (void)!write(2, msg, sizeof msg - 1);
        _exit(EXIT_INTERRUPTED);
    }
}

static void catch_signals(void)
{
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* --render-submit: every executor's block script on stdout. */
static int render_submit(const struct cp__run_config *rc)
{
    int shown = 0;
    for (size_t i = 0; i < cp__config_executor_count(rc); i++) {
        cp_err err = {0};
        char *text = cp__config_render_submit(rc, i, &err);
        if (!text) {
            fprintf(stderr, "parsl-run: %s\n", err.text);
            if (err.code != ENOTSUP)
                return EXIT_BAD_INPUT;
            continue;
        }
        printf("%s# --- executor '%s': the script of one block (not submitted) ---\n%s",
               shown ? "\n" : "", cp__config_executor_label(rc, i), text);
        if (text[0] && text[strlen(text) - 1] != '\n')
            putchar('\n');
        free(text);
        shown++;
    }
    if (!shown) {
        fprintf(stderr, "parsl-run: no executor of this config submits batch jobs\n");
        return EXIT_BAD_INPUT;
    }
    return EXIT_OK;
}

/* Runs wf under rc; the exit status. */
static int run(const struct args *a, const struct cp__wf *wf, const struct cp__run_config *rc)
{
    cp_err err = {0};
    bool tty = isatty(2) && getenv("TERM") && strcmp(getenv("TERM"), "dumb") != 0;
    struct progress *p = progress_new(wf, stderr, tty, a->quiet);
    if (!p || chdir(wf->workdir) != 0) {
        fprintf(stderr, "parsl-run: %s: %s\n", wf->workdir, p ? strerror(errno) : "no memory");
        progress_free(p);
        return EXIT_BAD_INPUT;
    }
    cp__observe_add(progress_event, p);
    catch_signals();
    if (cp__load_run_config(rc, &err) != 0) {
        fprintf(stderr, "parsl-run: %s\n", err.text);
        cp__observe_clear();
        progress_free(p);
        return EXIT_BAD_INPUT;
    }
    char *run_dir = strdup(cp_run_dir());
    cp_future **futs = NULL;
    size_t nsub = 0;
    if (cp__wf_submit(wf, &futs, &nsub, &err) != 0)
        progress_note(p, "parsl-run: %s", err.text);
    bool interrupted = false;
    size_t target = nsub;
    while (progress_final(p) < target) {
        if (g_signals && !interrupted) {
            interrupted = true;
            progress_note(p, "parsl-run: interrupted: no new tasks start, running shell tasks "
                             "are killed (Ctrl-C again to exit at once)");
        }
        if (interrupted)
            cp__dfk_interrupt();   /* again each tick: see executor.h */
        progress_tick(p);
        progress_wait(p, target, 0.1);
    }
    int rc_shut = cp_shutdown();
    cp__observe_clear();
    progress_summary(p, run_dir, interrupted);
    cp__wf_release(futs, nsub);
    long bad = progress_count(p, PG_FAILED) + progress_count(p, PG_DEP_FAIL);
    progress_free(p);
    free(run_dir);
    if (interrupted)
        return EXIT_INTERRUPTED;
    return bad || rc_shut != 0 || nsub < wf->ninsts ? EXIT_FAILED : EXIT_OK;
}

int main(int argc, char **argv)
{
    /* Apps linked into parsl-run itself run in it as an app host on workers. */
    if (cp_init(&argc, &argv) != 0) {
        fprintf(stderr, "parsl-run: %s\n", cp_last_error());
        return 2;
    }
    int sub = subcmd_dispatch(argc, argv);     /* report, status */
    if (sub >= 0)
        return sub;
    struct args a = {0};
    int status = parse_args(argc, argv, &a);
    struct cp__wf *wf = NULL;
    struct cp__run_config *rc = NULL;
    cp_err err = {0};
    if (status >= 0)
        goto out;
    status = EXIT_BAD_INPUT;
    if (a.render && !a.workflow) {
        if (!(rc = cp__config_load(a.config, ".", a.defs, a.ndefs, &err)))
            fprintf(stderr, "%s\n", err.text);
        else
            status = render_submit(rc);
        goto out;
    }
    if (!(wf = cp__wf_load(a.workflow, a.defs, a.ndefs, &err)) ||
        !(rc = load_config(&a, wf, &err)) || check_executors(wf, rc, &err) != 0) {
        fprintf(stderr, "%s\n", err.text);
        goto out;
    }
    for (size_t i = 0; i < wf->nwarnings; i++)
        fprintf(stderr, "%s\n", wf->warnings[i]);
    warn_unused_defs(&a, wf, rc);
    if (a.dag) {
        char *text = cp__wf_dag(wf, a.dag, &err);
        if (text) {
            fputs(text, stdout);
            if (text[0] && text[strlen(text) - 1] != '\n')
                fputc('\n', stdout);
        }
        else
            fprintf(stderr, "parsl-run: %s\n", err.text);
        status = text ? EXIT_OK : EXIT_BAD_INPUT;
        free(text);
    } else if (a.render) {
        status = render_submit(rc);
    } else if (a.check) {
        printf("%s: ok: %zu apps, %zu tasks, %zu task instances; executors: %s\n", a.workflow,
               wf->napps, wf->ntasks, wf->ninsts, cp__config_labels(rc));
        status = EXIT_OK;
    } else {
        status = run(&a, wf, rc);
    }
out:
    cp__run_config_free(rc);
    cp__wf_free(wf);
    free(a.defs);
    return status;
}
