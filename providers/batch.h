/* providers/batch.h — what the batch-scheduler providers share (Slurm now, PBS
 * Pro/Torque next): the channel their tools run through, the submit scripts'
 * two homes, and reading an ended block's output on the scheduler's side.
 *
 * A block's script is written to <run_dir>/submit_scripts/ (always, so the run
 * directory shows what was submitted) and, when the channel's script_dir is
 * elsewhere (ssh, or a local script_dir), put there through the channel. The
 * scheduler's tools then see the remote copy, and the block's output files sit
 * beside it, so their tails are read through the channel too.
 *
 * Not thread-safe by itself: the provider that embeds a cp__batch serialises its
 * calls (provider.h).
 */
#ifndef CP_PROVIDERS_BATCH_H
#define CP_PROVIDERS_BATCH_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"
#include "providers/channel.h"
#include "providers/provider.h"

struct cp__batch {
    const char *provider;       /* the type's name, for messages (static) */
    struct cp__channel *ch;     /* owned */
    char *local_dir;            /* absolute <run_dir>/submit_scripts; owned */
    char *remote_dir;           /* the scripts' directory on the channel's side; owned */
    bool same_dir;              /* remote_dir is local_dir: nothing to put */
    double cmd_timeout;         /* seconds per command */
};

/* Opens the channel cfg names (a copy of cfg is kept by the channel) and prepares
 * both directories: <run_dir>/submit_scripts here, and the channel's script_dir
 * (default: the same directory for local; ~/.cparsl/runs/<NNN>-<hash of the run
 * directory> for ssh), created through the channel with mode 0700. cmd_timeout
 * applies when cfg has none. provider is static text. 0, or -1 with err and
 * nothing left open. */
int cp__batch_open(struct cp__batch *b, const char *provider,
                   const struct cp__channel_config *cfg, double cmd_timeout,
                   const char *run_dir, cp_err *err) CP__WUR;
/* The same with a channel the caller made (tests): takes ownership of ch, even on
 * failure. remote_dir NULL: run_dir's submit_scripts. */
int cp__batch_open_with(struct cp__batch *b, const char *provider, struct cp__channel *ch,
                        const char *remote_dir, double cmd_timeout, const char *run_dir,
                        cp_err *err) CP__WUR;
/* Closes the channel and frees what b owns. A zeroed b is fine. */
void cp__batch_close(struct cp__batch *b);

/* job_name as a scheduler job name and file name: ASCII letters, digits, '_', '.'
 * and '-' kept, everything else '_', at most 200 bytes, "block" when empty.
 * Caller frees; NULL when memory runs out. */
char *cp__batch_safe_name(const char *job_name);

/* Whether path can stand, double-quoted, in a directive line (#SBATCH, #PBS):
 * not empty, and no control characters, '"', '\\' or '%' (the schedulers expand
 * %j and the like in output paths). */
bool cp__batch_path_ok(const char *path);

/* Reserves the script's name: creates <local_dir>/<name><ext> empty (or
 * <name>.2<ext>, .3 … when taken: an earlier block's files are never
 * overwritten). *local_path and *remote_path (caller frees) are where the script
 * lives here and on the scheduler's side. 0, or -1 with err. */
int cp__batch_reserve(struct cp__batch *b, const char *name, const char *ext,
                      char **local_path, char **remote_path, cp_err *err) CP__WUR;
/* Writes text to local_path and, unless same_dir, puts it at remote_path (mode
 * 0700, atomically). 0, or -1 with err naming the file. */
int cp__batch_store(struct cp__batch *b, const char *local_path, const char *remote_path,
                    const char *text, cp_err *err) CP__WUR;

/* Whether v is 1..max bytes of ASCII letters, digits and the characters of
 * extra: what a directive value (#SBATCH, #PBS) may hold, so no config value can
 * end the line or start a command. */
bool cp__batch_chars_ok(const char *v, const char *extra, size_t max);
/* v as an error message may show it: control characters as '?', at most n-1
 * bytes (a refused value may hold the very line break it was refused for).
 * Returns out. */
char *cp__batch_shown(const char *v, char *out, size_t n);
/* The first line of text that is neither blank nor a comment (scheduler_options
 * may hold only directive lines: commands belong in worker_init), or NULL;
 * *lineno gets its 1-based number. */
const char *cp__batch_command_line(const char *text, int *lineno);

/* Settings the batch providers read alike from their YAML map (batch_keys.c).
 * Each leaves *out as it is when key is absent or null, and fails with the
 * file:line:column of the value and what was wrong (-1, err). */
/* A directive value: 1..max bytes of letters, digits and extra ("a Slurm
 * partition name": scheduler "Slurm", what "partition name"); copied to *out. */
int cp__batch_key_value(const struct cp__ynode *map, const char *key, const char *extra,
                        size_t max, const char *scheduler, const char *what, char **out,
                        cp_err *err) CP__WUR;
/* scheduler_options: directive lines only (directive names them in the error,
 * "#SBATCH"); "" when absent. */
int cp__batch_key_options(const struct cp__ynode *map, const char *directive, char **out,
                          cp_err *err) CP__WUR;
/* cmd_timeout: seconds above 0, at most a day. */
int cp__batch_key_timeout(const struct cp__ynode *map, double *out, cp_err *err) CP__WUR;

/* One job a batch provider submitted, or was asked about (a job id it did not
 * submit has no script, so no output paths). Kept in a list, newest first. */
struct cp__batch_job {
    char *id;                   /* owned */
    char *script;               /* owned: on the scheduler's side, or NULL */
    bool cancelled;             /* the cancel command said yes */
    bool final;                 /* st is its last word */
    struct cp__block_status st; /* owned */
    struct cp__batch_job *next;
};
/* The job of list with id, or NULL. */
struct cp__batch_job *cp__batch_job_find(struct cp__batch_job *list, const char *id);
/* A new job (state UNKNOWN, exit code -1) at the head of *list; NULL when memory
 * runs out. id and script (NULL allowed) are copied. */
struct cp__batch_job *cp__batch_job_add(struct cp__batch_job **list, const char *id,
                                        const char *script);
void cp__batch_job_free(struct cp__batch_job *j);      /* one job; NULL is fine */

/* Runs cmd through the channel within cmd_timeout (channel.h's run). */
int cp__batch_run(struct cp__batch *b, const char *cmd, struct cp__channel_result *res,
                  cp_err *err) CP__WUR;

/* Fills st->stdout_tail and st->stderr_tail from st->stdout_path/stderr_path on
 * the channel's side (the last CP_PROVIDER_TAIL_LINES lines of the last
 * CP_PROVIDER_TAIL_BYTES bytes). A file that cannot be read leaves its tail
 * NULL. -1 only when memory runs out. */
int cp__batch_tails(struct cp__batch *b, struct cp__block_status *st);

/* A command's complaint for an error message: its stderr (its stdout when stderr
 * is empty), trimmed, lines joined by "; ", cut to fit n bytes. Returns buf. */
char *cp__batch_output_text(const struct cp__channel_result *r, char *buf, size_t n);

#endif
