/* engine/dfk.c — the DataFlowKernel's lifecycle: cp_load, cp_shutdown, and the
 * one current run behind the global C API.
 *
 * The public API has no handle (like Parsl's DataFlowKernelLoader), so one run is
 * current per process. The lock below only makes "find the run and count a new task
 * in it" atomic against shutdown; the task path itself takes no global lock.
 * Shutdown waits for outstanding tasks with the lock released (join bodies and
 * other threads may still add tasks), then swaps the run out under the lock once
 * nothing is outstanding, and finally waits for threads still inside the last
 * cp__dfk_task_final before freeing.
 */
#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/log.h"
#include "common/util.h"
#include "engine/config_file.h"
#include "engine/memo.h"
#include "engine/monitor.h"
#include "engine/observe.h"
#include "engine/task.h"
#include "executors/app_invoke.h"
#include "executors/pool.h"

static pthread_rwlock_t g_lock = PTHREAD_RWLOCK_INITIALIZER;
static struct cp__dfk *g_dfk;
static bool g_was_loaded;
static atomic_int g_finalizing;     /* threads inside cp__dfk_task_final */
static __thread char last_error[CP_ERR_TEXT_MAX];
static char *g_argv0;

static int set_last(const cp_err *err)
{
    snprintf(last_error, sizeof last_error, "%s", err->text);
    return -1;
}

const char *cp_last_error(void) { return last_error; }

/* A program a worker relaunched to run its native apps serves tasks here and
 * never comes back (executors/pool.h). */
static int become_app_host(void)
{
    const char *spec = getenv(CP_APP_HOST_ENV);
    if (!spec)
        return 0;
    cp_err err = {0};
    cp__pool_app_host(spec, &err);
    return set_last(&err);
}

int cp_init(int *argc, char ***argv)
{
    if (argc && argv && *argv && *argc > 0 && (*argv)[0]) {
        free(g_argv0);
        g_argv0 = strdup((*argv)[0]);
    }
    return become_app_host();
}

/* ------------------------------------------------------------ run directory */

/* runinfo/NNN: one more than the largest number there; mkdir settles races
 * between runs starting at once. */
static char *make_run_dir(const char *root, cp_err *err)
{
    if (cp__mkdir_p(root, err) != 0)
        return NULL;
    for (int attempt = 0; attempt < 100; attempt++) {
        long next = 0;
        DIR *d = opendir(root);
        if (!d) {
            cp__errf(err, errno, "cannot read %s: %s", root, strerror(errno));
            return NULL;
        }
        struct dirent *e;
        while ((e = readdir(d))) {
            char *end;
            long n = strtol(e->d_name, &end, 10);
            if (end != e->d_name && *end == '\0' && n >= next)
                next = n + 1;
        }
        closedir(d);
        char *dir = cp__strdup_printf("%s/%03ld", root, next);
        if (!dir) {
            cp__errf(err, ENOMEM, "out of memory");
            return NULL;
        }
        if (mkdir(dir, 0755) == 0)
            return dir;
        int e2 = errno;
        free(dir);
        if (e2 != EEXIST) {
            cp__errf(err, e2, "cannot create run directory in %s: %s", root, strerror(e2));
            return NULL;
        }
    }
    cp__errf(err, EEXIST, "cannot create a run directory in %s: too many concurrent runs",
             root);
    return NULL;
}

/* ------------------------------------------------------------ create / destroy */

static void dfk_free(struct cp__dfk *dfk)
{
    if (!dfk)
        return;
    for (int i = 0; i < dfk->nexecs; i++)
        if (dfk->execs[i])
            dfk->execs[i]->ops->destroy(dfk->execs[i]);
    if (dfk->internal)
        dfk->internal->ops->destroy(dfk->internal);
    free(dfk->execs);
    free((char *)dfk->cfg.run_dir);
    free((char *)dfk->cfg.log_level);
    free(dfk->run_dir);
    free(dfk->task_logs);
    pthread_cond_destroy(&dfk->idle_cv);
    pthread_mutex_destroy(&dfk->mu);
    free(dfk);
}

/* A run from a loaded config (borrowed: everything kept is copied). The first
 * executor is the default for calls that name none. */
static struct cp__dfk *dfk_create(const struct cp__run_config *rc, cp_err *err)
{
    struct cp__dfk *dfk = calloc(1, sizeof *dfk);
    if (!dfk) {
        cp__errf(err, ENOMEM, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&dfk->mu, NULL);
    pthread_cond_init(&dfk->idle_cv, NULL);
    dfk->cfg.retries = rc->retries;
    dfk->cfg.retry_handler = rc->retry_handler;
    dfk->cfg.retry_handler_arg = rc->retry_handler_arg;
    dfk->cfg.internal_threads = rc->internal_threads;
    const char *lvl = rc->log_level ? rc->log_level : getenv("CPARSL_LOG_LEVEL");
    if (lvl && cp__log_level_parse(lvl) < 0) {
        cp__errf(err, EINVAL, "config: log_level '%s' is not one of debug, info, warning, "
                              "error, off", lvl);
        goto error;
    }
    dfk->cfg.run_dir = strdup(rc->run_dir ? rc->run_dir : "runinfo");
    dfk->cfg.log_level = lvl ? strdup(lvl) : NULL;
    if (!dfk->cfg.run_dir || (lvl && !dfk->cfg.log_level)) {
        cp__errf(err, ENOMEM, "out of memory");
        goto error;
    }
    if (rc->nexecs < 1) {
        cp__errf(err, EINVAL, "config: no executors");
        goto error;
    }
    if (!(dfk->run_dir = make_run_dir(dfk->cfg.run_dir, err)))
        goto error;
    dfk->task_logs = cp__strdup_printf("%s/task_logs", dfk->run_dir);
    char *log_path = cp__strdup_printf("%s/parsl.log", dfk->run_dir);
    if (!dfk->task_logs || !log_path) {
        free(log_path);
        cp__errf(err, ENOMEM, "out of memory");
        goto error;
    }
    int rc_log = cp__log_open(log_path, dfk->cfg.log_level, err);
    free(log_path);
    if (rc_log != 0)
        goto error;
    const char *prog = g_argv0 ? strrchr(g_argv0, '/') : NULL;
    if (cp__monitor_open(rc, dfk->run_dir, prog ? prog + 1 : g_argv0, err) != 0)
        goto error;
    if (rc->app_cache) {
        enum cp__ckpt_mode mode = rc->ckpt_mode < 0 ? CP_CKPT_NONE
                                                    : (enum cp__ckpt_mode)rc->ckpt_mode;
        struct cp__memo_settings ms = {
            .mode = mode,
            .period = rc->checkpoint_period,
            .run_dir = dfk->run_dir,
            .root = dfk->cfg.run_dir,
            .load_earlier = !rc->ckpt_files_none &&
                            (rc->ckpt_load >= 0 ? rc->ckpt_load == 1 : mode != CP_CKPT_NONE),
            .files = rc->ckpt_files_none ? NULL : (const char *const *)rc->ckpt_files,
            .in_run = rc->memo_in_run,
        };
        if (!(dfk->memo = cp__memo_open(&ms, err)))
            goto error;
        CP_INFO("engine", "checkpoint mode %s%s", cp__ckpt_mode_name(mode),
                ms.load_earlier || ms.files ? "; earlier results are reused" : "");
    }

    struct cp__executor_hooks hooks = cp__dfk_hooks_template;
    hooks.eng = dfk;
    dfk->execs = calloc(rc->nexecs, sizeof *dfk->execs);
    if (!dfk->execs) {
        cp__errf(err, ENOMEM, "out of memory");
        goto error;
    }
    struct cp__exec_run run = {
        .run_dir = dfk->run_dir, .strategy = (enum cp__strategy)rc->strategy,
        .strategy_period = rc->strategy_period, .max_idletime = rc->max_idletime,
        .mon = cp__monitor_db(), .mon_interval = rc->mon_interval,
    };
    for (size_t i = 0; i < rc->nexecs; i++) {
        const struct cp__rc_exec *e = &rc->execs[i];
        dfk->execs[i] = e->type->create(e->label, e->settings, &hooks, &run, err);
        if (!dfk->execs[i])
            goto error;
        dfk->nexecs++;
    }
    int internal = dfk->cfg.internal_threads ? dfk->cfg.internal_threads : 4;
    dfk->internal = cp__thread_pool_create("_parsl_internal", internal, &hooks, err);
    if (!dfk->internal)
        goto error;
    CP_INFO("engine", "cparsl %s run %s started from %s: retries %d, executors %s",
            CPARSL_VERSION, dfk->run_dir, rc->source ? rc->source : "a config", dfk->cfg.retries,
            rc->labels ? rc->labels : "?");
    for (size_t i = 0; i < rc->nexecs; i++) {
        char what[160];
        rc->execs[i].type->describe(rc->execs[i].settings, what, sizeof what);
        CP_INFO("engine", "executor '%s'%s: %s", rc->execs[i].label,
                i == 0 ? " (the default)" : "", what);
    }
    return dfk;
error:
    for (int i = 0; i < dfk->nexecs; i++) {
        dfk->execs[i]->ops->destroy(dfk->execs[i]);
        dfk->execs[i] = NULL;
    }
    cp__memo_close(dfk->memo, NULL);
    dfk->memo = NULL;
    cp__monitor_close(0, 0, NULL);
    if (dfk->run_dir)
        cp__log_close();
    dfk_free(dfk);
    return NULL;
}

int cp__load_run_config(const struct cp__run_config *rc, cp_err *err)
{
    cp_err e = {0};
    pthread_rwlock_wrlock(&g_lock);
    struct cp__dfk *dfk = NULL;
    if (g_dfk)
        cp__errf(&e, EBUSY, "cp_load: a run is already loaded (%s); call cp_shutdown() first",
                 g_dfk->run_dir);
    else if ((dfk = dfk_create(rc, &e))) {
        g_dfk = dfk;
        g_was_loaded = true;
    }
    pthread_rwlock_unlock(&g_lock);
    if (dfk)
        return 0;
    if (err)
        *err = e;
    return set_last(&e);
}

int cp_load_config(const cp_config *cfg)
{
    /* A program that forgot cp_init still becomes the host it was started as,
     * rather than start a run of its own on a worker. */
    if (become_app_host() != 0)
        return -1;
    cp_err err = {0};
    struct cp__run_config *rc = cp__config_from_c(cfg, &err);
    int rc_load = rc ? cp__load_run_config(rc, &err) : set_last(&err);
    cp__run_config_free(rc);
    return rc_load;
}

/* NULL is the C default (exactly cp_load_config(NULL)); anything else is a
 * template name or a path, relative to the current directory. */
int cp_load(const char *config)
{
    if (!config)
        return cp_load_config(NULL);
    if (become_app_host() != 0)
        return -1;
    cp_err err = {0};
    struct cp__run_config *rc = cp__config_load(config, ".", NULL, 0, &err);
    int rc_load = rc ? cp__load_run_config(rc, &err) : set_last(&err);
    cp__run_config_free(rc);
    return rc_load;
}

int cp_shutdown(void)
{
    cp_err err = {0};
    /* From inside an app body it would wait for its own task forever. */
    if (cp__ctx_current()) {
        cp__errf(&err, EDEADLK, "cp_shutdown: called from inside app '%s' (task %ld); "
                                "call it from the program, after the apps",
                 cp__ctx_current()->app->name, cp__ctx_current()->task_id);
        return set_last(&err);
    }
    pthread_rwlock_wrlock(&g_lock);
    struct cp__dfk *dfk = g_dfk;
    if (!dfk || dfk->closing) {
        pthread_rwlock_unlock(&g_lock);
        cp__errf(&err, EINVAL, dfk ? "cp_shutdown: already shutting down"
                                   : "cp_shutdown: nothing is loaded");
        return set_last(&err);
    }
    dfk->closing = true;
    pthread_rwlock_unlock(&g_lock);

    for (;;) {
        pthread_mutex_lock(&dfk->mu);
        while (atomic_load(&dfk->outstanding) > 0)
            pthread_cond_wait(&dfk->idle_cv, &dfk->mu);
        pthread_mutex_unlock(&dfk->mu);
        pthread_rwlock_wrlock(&g_lock);
        if (atomic_load(&dfk->outstanding) == 0) {
            g_dfk = NULL;
            pthread_rwlock_unlock(&g_lock);
            break;
        }
        pthread_rwlock_unlock(&g_lock);
    }
    while (atomic_load(&g_finalizing) > 0)
        sched_yield();

    long done = atomic_load(&dfk->n_done), failed = atomic_load(&dfk->n_failed);
    long dep = atomic_load(&dfk->n_dep_fail);
    CP_INFO("engine", "run %s ended: %ld tasks done, %ld failed, %ld dep_fail", dfk->run_dir,
            done, failed, dep);
    /* Executors go first: their threads may still be returning from the hooks. */
    for (int i = 0; i < dfk->nexecs; i++) {
        dfk->execs[i]->ops->destroy(dfk->execs[i]);
        dfk->execs[i] = NULL;
    }
    dfk->internal->ops->destroy(dfk->internal);
    dfk->internal = NULL;
    cp_err ce = {0};
    if (cp__memo_close(dfk->memo, &ce) != 0)
        CP_ERROR("engine", "checkpoint: %s", ce.text);
    dfk->memo = NULL;
    cp_err me = {0};
    if (cp__monitor_close(done, failed + dep, &me) != 0)
        CP_ERROR("engine", "monitoring database: %s", me.text);
    cp__log_close();
    dfk_free(dfk);
    atomic_store(&cp__interrupted, false);     /* the next run starts clean */
    return failed || dep ? 1 : 0;
}

int cp_checkpoint(void)
{
    cp_err err = {0};
    pthread_rwlock_rdlock(&g_lock);
    struct cp__dfk *dfk = g_dfk;
    int rc = 0;
    if (!dfk)
        rc = cp__errf(&err, EINVAL, "cp_checkpoint: nothing is loaded");
    else if (!dfk->memo)
        rc = cp__errf(&err, EINVAL, "cp_checkpoint: memoization is off (app_cache: false)");
    else
        rc = cp__memo_checkpoint(dfk->memo, &err);
    pthread_rwlock_unlock(&g_lock);
    return rc == 0 ? 0 : set_last(&err);
}

const char *cp_run_dir(void)
{
    pthread_rwlock_rdlock(&g_lock);
    const char *dir = g_dfk ? g_dfk->run_dir : NULL;
    pthread_rwlock_unlock(&g_lock);
    return dir;
}

/* ------------------------------------------------------------ task accounting */

struct cp__dfk *cp__dfk_enter(const char **why)
{
    pthread_rwlock_rdlock(&g_lock);
    struct cp__dfk *dfk = g_dfk;
    if (dfk)
        atomic_fetch_add(&dfk->outstanding, 1);
    else
        *why = g_was_loaded ? "cparsl was shut down; call cp_load() to start a new run"
                            : "cparsl is not loaded: call cp_load() before calling apps";
    pthread_rwlock_unlock(&g_lock);
    return dfk;
}

void cp__dfk_task_final(struct cp__dfk *dfk, cp_state state)
{
    atomic_fetch_add(&g_finalizing, 1);
    if (state == CP_FAILED)
        atomic_fetch_add_explicit(&dfk->n_failed, 1, memory_order_relaxed);
    else if (state == CP_DEP_FAIL)
        atomic_fetch_add_explicit(&dfk->n_dep_fail, 1, memory_order_relaxed);
    else
        atomic_fetch_add_explicit(&dfk->n_done, 1, memory_order_relaxed);
    if (atomic_fetch_sub(&dfk->outstanding, 1) == 1) {
        pthread_mutex_lock(&dfk->mu);
        pthread_cond_broadcast(&dfk->idle_cv);
        pthread_mutex_unlock(&dfk->mu);
    }
    atomic_fetch_sub(&g_finalizing, 1);     /* the last touch of dfk */
}

struct cp__executor *cp__dfk_executor(struct cp__dfk *dfk, const char *label)
{
    if (!label)
        return dfk->execs[0];
    for (int i = 0; i < dfk->nexecs; i++)
        if (strcmp(dfk->execs[i]->label, label) == 0)
            return dfk->execs[i];
    return NULL;
}

/* ------------------------------------------------------------ interrupt */

void cp__dfk_interrupt(void)
{
    pthread_rwlock_rdlock(&g_lock);
    struct cp__dfk *dfk = g_dfk;
    if (dfk) {
        if (!atomic_exchange(&cp__interrupted, true))
            CP_WARN("engine", "run %s interrupted: launching stops, running shell tasks are "
                              "killed", dfk->run_dir);
        for (int i = 0; i < dfk->nexecs; i++)
            if (dfk->execs[i]->ops->interrupt)
                dfk->execs[i]->ops->interrupt(dfk->execs[i]);
        if (dfk->internal && dfk->internal->ops->interrupt)
            dfk->internal->ops->interrupt(dfk->internal);
    }
    pthread_rwlock_unlock(&g_lock);
}
