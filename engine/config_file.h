/* engine/config_file.h — config files (DESIGN.md §6, docs/config.md): a template
 * name or a path, or a workflow's inline `config:` mapping, read into a checked
 * run configuration that cp__load_run_config() starts.
 *
 * Loading is pure: it reads files and the environment and creates nothing (no
 * run directory, no threads), so `parsl-run --check` can load a config and stop.
 * Steps: read the file and, through `extends:`, its ancestors (each a template
 * name or a path relative to the file naming it); deep-merge them (maps merge,
 * `executors` merges by label, anything else is replaced); fill every `${NAME}`
 * from the -D definitions, then the environment; check every key and value and
 * build the settings. Every error is "file:line:col: message", naming the file
 * the offending text was written in (a template's own name for its nodes).
 */
#ifndef CP_ENGINE_CONFIG_FILE_H
#define CP_ENGINE_CONFIG_FILE_H

#include <stdbool.h>
#include <stddef.h>

#include "cparsl.h"
#include "common/err.h"
#include "common/yaml.h"
#include "executors/exec_types.h"

/* One executor of a config. */
struct cp__rc_exec {
    char *label;                        /* owned */
    const struct cp__exec_type *type;   /* static registry row */
    void *settings;                     /* owned; type->free_settings */
};

/* A loaded config. Read it through the functions below; the fields are visible
 * for engine/dfk.c, which starts a run from it. */
struct cp__run_config {
    int retries;                /* default retries per task (>= 0) */
    char *run_dir;              /* owned; root of runinfo/NNN (already joined with
                                 * the base directory when relative) */
    char *log_level;            /* owned, or NULL: $CPARSL_LOG_LEVEL, else info */
    int internal_threads;       /* join-app threads; 0: the engine's default (4) */
    int strategy;               /* enum cp__strategy (executors/exec_types.h) */
    double strategy_period;     /* seconds between block-scaling decisions */
    double max_idletime;        /* seconds idle before blocks are scaled in */
    double checkpoint_period;   /* seconds, 0 when not given; no effect (mode none) */
    /* checkpoints and memoization (docs/checkpoints.md) */
    int ckpt_mode;              /* enum cp__ckpt_mode, or -1 when the config says
                                 * nothing (none; parsl-run makes it task_exit) */
    char **ckpt_files;          /* owned, NULL-terminated checkpoint_files (joined
                                 * with the base directory), or NULL */
    bool ckpt_files_none;       /* checkpoint_files: none — load nothing */
    int ckpt_load;              /* load earlier runs' checkpoints: 1, 0, or -1 for
                                 * the default (when a mode is set) */
    bool memo_in_run;           /* reuse this run's own results (true; parsl-run:
                                 * false, DESIGN §9) */
    bool app_cache;             /* false: no memoization at all (Parsl's app_cache) */
    /* monitoring: (docs/monitoring.md) */
    bool monitoring;            /* write the monitoring database */
    char *mon_db;               /* owned; NULL: <run_dir root>/monitoring.db; a
                                 * relative path is joined with the base directory */
    double mon_interval;        /* resource_interval, seconds (0: start and end) */
    char *mon_workflow_name;    /* owned, or NULL */
    char *mon_workflow_version; /* owned, or NULL */
    struct cp__rc_exec *execs;  /* owned, nexecs >= 1; execs[0] is the default */
    size_t nexecs;
    char *labels;               /* owned: "threads, gpu" for messages */
    char **used_defs;           /* owned, NULL-terminated: -D names used by ${…} */
    char *source;               /* owned: what was loaded, for the log */
    /* Only from the C API (cp_config); a file cannot name a function. */
    cp_retry_handler retry_handler;
    void *retry_handler_arg;    /* borrowed until cp_shutdown */
};

/* A template compiled into the library (every templates/NAME.yaml, embedded at build time
 * by tools/embed-templates.sh into $(BUILD)/gen/templates.c). */
struct cp__embedded_template {
    const char *name;           /* "local" (the file name without .yaml) */
    const char *text;
    size_t len;
};
/* Terminated by a row whose name is NULL. Static. */
extern const struct cp__embedded_template cp__embedded_templates[];

/* Loads a config. spec: a template name ("local": $CPARSL_TEMPLATE_PATH's
 * directories first, then the embedded copies), or a path (it contains '/' or
 * ends in .yaml/.yml) relative to base_dir (NULL or "." : the current directory);
 * NULL means "local". base_dir is also where a relative run_dir lands. defs:
 * "NAME=value" strings for ${NAME} (borrowed for the call; a later definition of
 * a name wins). Creates nothing. Caller owns the result (cp__run_config_free);
 * NULL with err on any error, the first one only. */
struct cp__run_config *cp__config_load(const char *spec, const char *base_dir,
                                       const char *const *defs, size_t ndefs,
                                       cp_err *err) CP__WUR;

/* As cp__config_load, from a workflow's `config:` node (borrowed for the call):
 * a scalar names a template or path (its ${…} filled too), a mapping is a config
 * written inline (its `extends:` relative to base_dir), null means "local". */
struct cp__run_config *cp__config_from_node(const struct cp__ynode *node,
                                            const char *base_dir,
                                            const char *const *defs, size_t ndefs,
                                            cp_err *err) CP__WUR;

/* The run configuration of a C cp_config (borrowed; NULL: all defaults): one
 * thread_pool executor "threads". What cp_load_config() starts. Caller owns. */
struct cp__run_config *cp__config_from_c(const cp_config *cfg, cp_err *err) CP__WUR;

/* parsl-run -j N: sets max_threads of every thread_pool executor (every type
 * with a worker-count knob). -1 with err when n < 1 or the config has no such
 * executor. */
int cp__config_set_max_workers(struct cp__run_config *rc, int n, cp_err *err) CP__WUR;
/* parsl-run --monitor[=DB]: turns monitoring on; db (borrowed, absolute, or
 * NULL to keep the config's or the default) is the database file. */
int cp__config_set_monitoring(struct cp__run_config *rc, const char *db, cp_err *err) CP__WUR;

/* parsl-run's checkpoint defaults (DESIGN §9): task_exit unless the config names
 * a mode, results of this run are not reused within it, and earlier runs' are
 * loaded only when resume (--resume) is set. */
void cp__config_set_workflow_checkpoints(struct cp__run_config *rc, bool resume);

/* parsl-run --run-dir: the root of runinfo/NNN, used as given (dir borrowed,
 * copied). */
int cp__config_set_run_dir(struct cp__run_config *rc, const char *dir, cp_err *err) CP__WUR;

/* Starts a run from rc (borrowed for the call: the run copies what it keeps), as
 * cp_load() does: 0, or -1 with err (and cp_last_error()) when a run is already
 * loaded or an executor cannot start; then nothing is left behind but possibly
 * an empty runinfo/NNN. */
int cp__load_run_config(const struct cp__run_config *rc, cp_err *err) CP__WUR;

/* Whether the config defines an executor labelled label. */
bool cp__config_has_executor(const struct cp__run_config *rc, const char *label);
/* The labels in order ("threads, gpu"), borrowed from rc, for messages such as
 * "task uses executor 'gpu' which the config does not define (executors: threads)". */
const char *cp__config_labels(const struct cp__run_config *rc);
size_t cp__config_executor_count(const struct cp__run_config *rc);
const char *cp__config_executor_label(const struct cp__run_config *rc, size_t i);

/* The -D names that some ${NAME} used, NULL-terminated, borrowed from rc (so
 * parsl-run can warn about definitions nothing used). */
const char *const *cp__config_used_defs(const struct cp__run_config *rc);

/* parsl-run --render-submit: the submit script of one block of executor i
 * (caller frees). NULL with err: ENOTSUP when the executor submits no batch jobs
 * (thread_pool, a local provider), naming it. */
char *cp__config_render_submit(const struct cp__run_config *rc, size_t i, cp_err *err) CP__WUR;

void cp__run_config_free(struct cp__run_config *rc);       /* NULL is fine */

#endif
