/* providers/provider.h — the provider interface (DESIGN.md §1, docs/providers.md).
 *
 * A provider starts *blocks* (batch jobs, pods, instances, or on a laptop process
 * groups) that run a worker-pool command, tells their states, and cancels them.
 * The shape is cctools' batch_queue_module: one const ops table per provider type,
 * listed in cp__provider_types[], and instances that start with a pointer to it.
 * The executor that owns the blocks (high_throughput) knows block ids, pools and
 * scaling; a provider knows only job ids and what its scheduler says about them.
 *
 * Settings come from the provider mapping of a config file: keys every provider
 * shares (struct cp__provider_common) plus the type's own. Parsing them starts
 * nothing, so a config can be checked without running anything.
 *
 * Threads: every operation of an instance may be called from any thread; an
 * instance serialises them itself. This header includes only common/; the
 * providers use providers/launcher.h and, to start processes the way shell tasks
 * are started, executors/shell_spawn.h (its spawn attributes, nothing else).
 */
#ifndef CP_PROVIDERS_PROVIDER_H
#define CP_PROVIDERS_PROVIDER_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"
#include "common/yaml.h"

/* ------------------------------------------------------------ block states */

/* Parsl's JobState, with its numbers (parsl/jobs/states.py), so the values can be
 * compared with Parsl's databases and logs. */
enum cp__block_state {
    CP_BLOCK_UNKNOWN = 0,
    CP_BLOCK_PENDING = 1,
    CP_BLOCK_RUNNING = 2,
    CP_BLOCK_CANCELLED = 3,
    CP_BLOCK_COMPLETED = 4,
    CP_BLOCK_FAILED = 5,
    CP_BLOCK_TIMEOUT = 6,
    CP_BLOCK_HELD = 7,
    CP_BLOCK_MISSING = 8,
    CP_BLOCK_SCALED_IN = 9,
};
#define CP_BLOCK_NSTATES 10

/* "pending" … "unknown": the spelling of logs and docs. Static; "?" out of range. */
const char *cp__block_state_name(enum cp__block_state s);
/* "PENDING" … "UNKNOWN": the monitoring database's block.status (DESIGN.md §9). */
const char *cp__block_state_db_name(enum cp__block_state s);
/* Either spelling (case-insensitive) back to the state; -1 when it is neither. */
int cp__block_state_parse(const char *name, enum cp__block_state *out);
/* Parsl's terminal states: cancelled, completed, failed, timeout, missing and
 * scaled_in. A block in one of them runs nothing and never changes again (held
 * and unknown are not terminal: a held job may resume, an unknown one counts as
 * active so max_blocks holds). */
bool cp__block_state_terminal(enum cp__block_state s);

/* What status says about one block. The strings are owned by the struct: free
 * them with cp__block_status_clear. */
struct cp__block_status {
    enum cp__block_state state;
    int exit_code;              /* an ended block's exit code (128+N when its
                                 * script was killed by signal N); -1 unknown */
    char *message;              /* why, beyond the state and exit code ("killed by
                                 * signal SIGKILL", the scheduler's reason), or NULL */
    char *stdout_path;          /* the block's output files, or NULL when the
                                 * provider cannot name them */
    char *stderr_path;
    char *stdout_tail;          /* ended blocks: the last lines of each file
                                 * ("" when empty), NULL when not read or absent */
    char *stderr_tail;
};

/* Frees the strings and resets st to {UNKNOWN, -1, NULL…}. NULL is fine. */
void cp__block_status_clear(struct cp__block_status *st);
/* The same for n entries. */
void cp__block_status_clear_n(struct cp__block_status *st, size_t n);

/* The last lines of a text file (at most max_lines lines of the last max_bytes
 * bytes, trailing blank space trimmed, NULs shown as '?'), reading only the end
 * of the file. Caller owns the result; "" for an empty file; NULL when the file
 * cannot be read (errno says why) or memory runs out. */
char *cp__provider_tail(const char *path, int max_lines, size_t max_bytes);
/* The same for text already read: buf holds len bytes that end the file (cut:
 * the file had more before them). Trims and cuts buf in place (it must have room
 * for a NUL at len) and returns it. For providers that read files over a channel. */
char *cp__provider_tail_text(char *buf, size_t len, bool cut, int max_lines);
#define CP_PROVIDER_TAIL_LINES 10
#define CP_PROVIDER_TAIL_BYTES 2000

/* One block for cp__block_failure_text: all borrowed. */
struct cp__block_report {
    const char *block_id;       /* the executor's id ("0") */
    const char *job_id;         /* the provider's id, NULL when it never got one
                                 * (its submission failed; say why in message) */
    const struct cp__block_status *status;
};

/* The error an executor gives its outstanding tasks when every block has failed
 * (DESIGN.md §9): a header naming label (NULL: none) and the count, then per
 * block its id, job id, state, exit code, message and output tails, at most
 * CP_BLOCK_REPORT_MAX blocks in detail. The exact layout is in docs/providers.md.
 * Caller owns the text (free()); NULL when memory runs out. */
char *cp__block_failure_text(const char *label, const struct cp__block_report *blocks,
                             size_t n);
#define CP_BLOCK_REPORT_MAX 10

/* ------------------------------------------------------------ settings */

/* The settings every provider shares (parsl-notes §4). */
struct cp__provider_common {
    int nodes_per_block;        /* nodes in one block (Parsl: 1) */
    int init_blocks;            /* blocks started at the beginning (1) */
    int min_blocks;             /* scaling never goes below (0) */
    int max_blocks;             /* nor above (1) */
    double parallelism;         /* 0…1: task slots provisioned per outstanding
                                 * task (1) */
    long walltime;              /* seconds a block may run; 0 when the provider
                                 * has none (local) */
    double status_polling_interval; /* seconds between status calls; 0 = the
                                 * type's (ops->status_polling_interval) */
    char *worker_init;          /* shell text run before the command (""); owned */
    /* How the worker command is started on the block's nodes: opaque here
     * (providers/launcher.h). Owned, never NULL once parsed or defaulted. The
     * executor renders the command with it before submit. */
    struct cp__launcher *launcher;
};

/* Frees what c owns (not c itself) and leaves those fields NULL. */
void cp__provider_common_fini(struct cp__provider_common *c);

/* Walltime text: seconds (a number > 0), "HH:MM:SS" or Slurm's "D-HH:MM:SS", to
 * whole seconds (a fraction rounds up). -1 when the text is none of those. */
int cp__walltime_parse(const char *text, long *seconds);
/* seconds as "HH:MM:SS" (hours may pass 99) into buf; returns buf. */
char *cp__walltime_hms(long seconds, char *buf, size_t n);

struct cp__provider_ops;
struct cp__launcher;

/* A provider mapping read from a config: its type, the shared settings and the
 * type's own (type->parse made them). Plain data; cp__provider_config_fini frees. */
struct cp__provider_config {
    const struct cp__provider_ops *type;
    struct cp__provider_common common;
    void *settings;             /* the type's, or NULL; type->free_settings */
};

/* Reads a provider mapping (`type: local`, the shared keys, the type's keys) into
 * *out. Unknown keys are refused with a did-you-mean hint, a key set to null takes
 * the type's default, and relations are checked (min_blocks ≤ max_blocks,
 * init_blocks ≤ max_blocks). Errors are "file:line:col: …" at the offending node;
 * `where` names the mapping in them ("provider of executor 'htex'"; NULL:
 * "provider"). map is borrowed for the call. 0, or -1 with nothing allocated and
 * *out zeroed. */
int cp__provider_config_parse(const struct cp__ynode *map, const char *where,
                              struct cp__provider_config *out, cp_err *err) CP__WUR;
/* The type's defaults, for building a config without YAML (the C API). 0, or -1
 * when memory runs out. */
int cp__provider_config_default(const struct cp__provider_ops *type,
                                struct cp__provider_config *out, cp_err *err) CP__WUR;
/* Frees what parse or default made; leaves *cfg zeroed. NULL is fine. */
void cp__provider_config_fini(struct cp__provider_config *cfg);

/* ------------------------------------------------------------ the interface */

struct cp__provider {
    const struct cp__provider_ops *ops;
};

struct cp__provider_ops {
    const char *name;                   /* the `type:` value, e.g. "local" */
    /* The type's own keys besides the shared ones (cp__provider_common_keys),
     * NULL-terminated, or NULL when it has none. */
    const char *const *keys;
    /* Parsl's defaults of the shared settings (worker_init is static text;
     * launcher is unused: default_launcher names it). */
    const struct cp__provider_common *defaults;
    const char *default_launcher;       /* a launcher.h type name, "single_node" */
    /* Facts the executor plans with. */
    double status_polling_interval;     /* seconds between status calls (Parsl: 5
                                         * for local, 60 for batch schedulers) */
    bool has_walltime;                  /* blocks end at common.walltime; without,
                                         * a walltime in the config is an error */

    /* Reads the type's own keys of map (already key-checked; the shared ones are
     * read already) into *settings, which the config then owns. NULL when the type
     * has no keys of its own. 0, or -1 with nothing allocated. */
    int (*parse)(const struct cp__ynode *map, void **settings, cp_err *err);
    void (*free_settings)(void *settings);      /* NULL is fine */

    /* Makes a provider. cfg (whose type is this) and run_dir (runinfo/NNN, where
     * submit_scripts/ goes) are borrowed for the call. Caller owns the result
     * (cp__provider_destroy). NULL with err on failure. */
    struct cp__provider *(*create)(const struct cp__provider_config *cfg, const char *run_dir,
                                   cp_err *err);
    /* Starts one block running cmd (shell text: the launcher-wrapped worker
     * command) after common.worker_init. block_id is the executor's id; job_name
     * names the block's files and scheduler job ("parsl.htex.block-0"), any text;
     * tasks_per_node is for schedulers' resource lines. All borrowed for the call.
     * Returns the job id text, caller owns (free()); NULL with err on failure. */
    char *(*submit)(struct cp__provider *p, const char *block_id, const char *cmd,
                    int tasks_per_node, const char *job_name, cp_err *err);
    /* The states of n blocks in one call (batched for the scheduler's sake). out
     * has n entries that the call fills (the caller clears them afterwards with
     * cp__block_status_clear_n). An id the provider does not know is MISSING.
     * 0, or -1 with err when the scheduler could not be asked: then every entry
     * is UNKNOWN and holds nothing. */
    int (*status)(struct cp__provider *p, const char *const *job_ids, size_t n,
                  struct cp__block_status *out, cp_err *err);
    /* Cancels n blocks. Does not wait for them to end: status says CANCELLED at
     * once and the provider finishes the job (escalating signals, cleaning up) on
     * later calls. A block that has already ended keeps its state. cancelled (n
     * entries, or NULL) tells per block whether it is now cancelled or had ended.
     * 0, or -1 with err when some block could not be cancelled. */
    int (*cancel)(struct cp__provider *p, const char *const *job_ids, size_t n,
                  bool *cancelled, cp_err *err);
    /* Ends what the provider still runs or owns (blocks the caller did not
     * cancel included, as Parsl cancels every block at shutdown) and frees it. */
    void (*destroy)(struct cp__provider *p);

    /* Optional (NULL: the type has no submit script, e.g. local). The text submit
     * would hand the scheduler for one block, from the config alone: nothing is
     * run, written or connected, so `parsl-run --render-submit` can show it.
     * cmd is the launcher-wrapped command (as for submit); job_name is used as is
     * (submit adds a unique suffix); script_path is where the script would lie on
     * the scheduler's side, which names its output files (NULL: a placeholder,
     * "<script_dir>/<job_name>.submit"). All borrowed. Caller owns the text;
     * NULL with err on a bad argument or OOM. */
    char *(*render)(const struct cp__provider_config *cfg, const char *cmd, int tasks_per_node,
                    const char *job_name, const char *script_path, cp_err *err);
};

/* The shared keys, NULL-terminated ("type" first). */
extern const char *const cp__provider_common_keys[];

/* Every provider type this build has, NULL-terminated (static). */
extern const struct cp__provider_ops *const cp__provider_types[];
/* Types the design names but this build does not have yet, so a config naming one
 * gets "not supported yet" instead of "unknown". */
extern const char *const cp__provider_types_planned[];
/* The type called name, or NULL. */
const struct cp__provider_ops *cp__provider_type_find(const char *name);

extern const struct cp__provider_ops cp__provider_local;
extern const struct cp__provider_ops cp__provider_slurm;
extern const struct cp__provider_ops cp__provider_pbspro;
extern const struct cp__provider_ops cp__provider_torque;

/* The seconds between a config's status calls: its status_polling_interval, or
 * its type's. */
double cp__provider_polling_interval(const struct cp__provider_config *cfg);

/* The submit script of one block, through the type's render op; NULL with err
 * (ENOTSUP, "the local provider has no submit script") for types without one. */
char *cp__provider_render(const struct cp__provider_config *cfg, const char *cmd,
                          int tasks_per_node, const char *job_name, const char *script_path,
                          cp_err *err) CP__WUR;

/* Calls through the ops, so results cannot be ignored by mistake. */
static inline CP__WUR struct cp__provider *
cp__provider_create(const struct cp__provider_config *cfg, const char *run_dir, cp_err *err)
{
    return cfg->type->create(cfg, run_dir, err);
}
static inline CP__WUR char *cp__provider_submit(struct cp__provider *p, const char *block_id,
                                                const char *cmd, int tasks_per_node,
                                                const char *job_name, cp_err *err)
{
    return p->ops->submit(p, block_id, cmd, tasks_per_node, job_name, err);
}
static inline CP__WUR int cp__provider_status(struct cp__provider *p,
                                              const char *const *job_ids, size_t n,
                                              struct cp__block_status *out, cp_err *err)
{
    return p->ops->status(p, job_ids, n, out, err);
}
static inline CP__WUR int cp__provider_cancel(struct cp__provider *p,
                                              const char *const *job_ids, size_t n,
                                              bool *cancelled, cp_err *err)
{
    return p->ops->cancel(p, job_ids, n, cancelled, err);
}
static inline void cp__provider_destroy(struct cp__provider *p)
{
    if (p)
        p->ops->destroy(p);
}

#endif
