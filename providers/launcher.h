/* providers/launcher.h — launchers: the shell text that starts a block's copies
 * of the worker-pool command (DESIGN.md §1, docs/launchers.md).
 *
 * A provider has one command line (`parsl-worker …`) and wants tasks_per_node ×
 * nodes_per_block copies of it running inside one batch job. The launcher turns
 * that command into the text the provider puts at the end of its batch script (or
 * of the local provider's wrapper script): Parsl's launchers, same structure and
 * flags, written here. Launchers that hand the command to a parallel starter
 * (srun, aprun, mpiexec …) first write it to `<script_dir>/cmd_<job_name>.sh`.
 *
 * Quoting: the command, script_dir and job_name are always substituted as quoted
 * shell words (or, for simple and wrapped, the command *is* the text), so a path
 * or job name with spaces or quotes can neither break the script nor inject into
 * it. The values a user configures — overrides, prepend, bind_cmd, bash_location
 * — go in as written, because they are meant to be shell words.
 *
 * Nothing here runs anything or prints. Rendering only reads its arguments (it
 * may add a warning to the run's log, as Parsl does, when simple or wrapped is
 * asked for more than one copy), so it is safe from any thread.
 */
#ifndef CP_PROVIDERS_LAUNCHER_H
#define CP_PROVIDERS_LAUNCHER_H

#include <stdbool.h>

#include "common/err.h"
#include "common/yaml.h"

enum cp__launcher_type {
    CP_LAUNCHER_SIMPLE,         /* the command, once */
    CP_LAUNCHER_SINGLE_NODE,    /* N background copies in this shell, then wait */
    CP_LAUNCHER_SRUN,           /* one `srun --ntasks N` step */
    CP_LAUNCHER_SRUN_MPI,       /* N independent srun steps (MPI apps inside workers) */
    CP_LAUNCHER_APRUN,          /* Cray ALPS */
    CP_LAUNCHER_JSRUN,          /* IBM LSF/CSM (Summit-style) */
    CP_LAUNCHER_MPIEXEC,        /* MPICH/Hydra/PALS-style mpiexec with a hostfile */
    CP_LAUNCHER_MPIRUN,         /* Open MPI-style mpirun */
    CP_LAUNCHER_GNU_PARALLEL,   /* GNU parallel over the job's nodes */
    CP_LAUNCHER_WRAPPED,        /* `prepend command` (containers, env, time …) */
    CP_LAUNCHER_NTYPES
};

/* The config names, indexed by type, NULL-terminated (static storage). */
extern const char *const cp__launcher_type_names[CP_LAUNCHER_NTYPES + 1];

/* The type named `name` (a config name such as "srun"), or -1. */
int cp__launcher_type_find(const char *name);

/* Every option lives in one struct; each type reads only its own (the others
 * stay at their defaults and are ignored). Strings are owned by the struct and
 * never NULL once built by cp__launcher_new/parse/copy. */
struct cp__launcher {
    enum cp__launcher_type type;
    bool debug;                 /* echo progress lines to the block's stdout (default
                                 * true, as Parsl) */
    bool fail_on_any;           /* single_node: exit non-zero when any copy fails
                                 * (default false: only when all fail) */
    char *overrides;            /* owned. srun, srun_mpi, aprun, jsrun, mpiexec,
                                 * mpirun: extra shell words for the starter; "" */
    char *bind_cmd;             /* owned. mpiexec: the binding flag, followed by
                                 * `none`; default "--bind-to", "" leaves it out */
    char *bash_location;        /* owned. mpirun: the shell that runs the command
                                 * file; default "/bin/bash" */
    char *prepend;              /* owned. wrapped: the words put before the command */
};

/* A launcher of `type` with Parsl's defaults. Caller owns (cp__launcher_free).
 * NULL with err when memory runs out or type is out of range. */
struct cp__launcher *cp__launcher_new(enum cp__launcher_type type, cp_err *err) CP__WUR;

/* Reads a config node: a scalar name (`launcher: srun`) or a mapping with `type`
 * and that type's options (`launcher: {type: srun, overrides: "--cpu-bind=cores"}`).
 * `what` names the key in messages (NULL: "launcher"); n is borrowed for the call
 * and must not be NULL or null (the provider picks its default launcher then).
 * Caller owns the result (cp__launcher_free). NULL with err "file:line:col: …" on
 * an unknown type or key (with a did-you-mean), a wrong value type, a missing
 * `prepend` for wrapped, or an option value that is not one line of text. */
struct cp__launcher *cp__launcher_parse(const struct cp__ynode *n, const char *what,
                                        cp_err *err) CP__WUR;

/* A deep copy of l (borrowed). Caller owns the result. NULL with err on OOM. */
struct cp__launcher *cp__launcher_copy(const struct cp__launcher *l, cp_err *err) CP__WUR;

/* True when the type writes `<script_dir>/cmd_<job_name>.sh` (and maybe other
 * files there), so render needs script_dir and job_name; the directory must be
 * visible at the same path on every node of the block. */
bool cp__launcher_writes_files(enum cp__launcher_type type);

/* The shell text that starts tasks_per_node × nodes_per_block copies of cmd.
 * All arguments are borrowed for the call. cmd is one shell command line (it runs
 * as shell text); script_dir and job_name are used only by the types for which
 * cp__launcher_writes_files() is true (NULL allowed otherwise); job_name must not
 * contain '/'. The text is bash (the batch script's shell), ends with a newline,
 * and its exit status is the block's (see docs/launchers.md for each type's rule).
 * Caller owns the result (free()). NULL with err on a bad argument or OOM. */
char *cp__launcher_render(const struct cp__launcher *l, const char *cmd, int tasks_per_node,
                          int nodes_per_block, const char *script_dir, const char *job_name,
                          cp_err *err) CP__WUR;

/* NULL is fine. */
void cp__launcher_free(struct cp__launcher *l);

#endif
