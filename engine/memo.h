/* engine/memo.h — memoization and checkpoints (DESIGN.md §6, §9;
 * docs/checkpoints.md).
 *
 * A cacheable task's key hashes what decides its result: the app's name and
 * declared version, its arguments in the value encoding (native apps) or the
 * command its body rendered (shell apps), and the paths of its declared outputs
 * and declared stdout/stderr. Before a cacheable task runs, the key is looked up
 * among the results loaded from earlier runs' checkpoints (and, when asked, this
 * run's own finished tasks); a hit ends the task as memo_done with that result.
 *
 * Checkpoint modes say when results reach runinfo/NNN/checkpoint/tasks.db:
 *   task_exit  each result is committed (fsync'd) before its task is reported
 *              done: the task's final state, its dependents and its monitoring
 *              row all wait for the commit, which a writer thread makes for every
 *              result waiting at once;
 *   periodic   every `checkpoint_period` seconds, and at the end of the run;
 *   dfk_exit   at the end of the run;
 *   manual     when cp_checkpoint() is called.
 * Failures are never checkpointed; join apps are never cached.
 */
#ifndef CP_ENGINE_MEMO_H
#define CP_ENGINE_MEMO_H

#include <stdbool.h>

#include "common/err.h"
#include "common/value.h"
#include "monitoring/ckpt_db.h"

enum cp__ckpt_mode {
    CP_CKPT_NONE = 0,
    CP_CKPT_TASK_EXIT,
    CP_CKPT_PERIODIC,
    CP_CKPT_DFK_EXIT,
    CP_CKPT_MANUAL,
};

/* "none", "task_exit" … to the mode; -1 when s is none of them. */
int cp__ckpt_mode_parse(const char *s);
const char *cp__ckpt_mode_name(enum cp__ckpt_mode m);

struct cp__memo_settings {
    enum cp__ckpt_mode mode;
    double period;              /* periodic: seconds (> 0) */
    const char *run_dir;        /* runinfo/NNN: checkpoint/ goes in it */
    const char *root;           /* runinfo: where earlier runs are found */
    bool load_earlier;          /* load every earlier run's checkpoint under root */
    const char *const *files;   /* NULL-terminated checkpoint directories (or
                                 * tasks.db files) to load instead, or NULL */
    bool in_run;                /* this run's own finished tasks are reused too */
};

struct cp__memo;
struct cp_future;

/* Starts memoization: loads the checkpoints asked for (a damaged or foreign file
 * is an error naming it) and, for task_exit and periodic, starts the writer
 * thread. All of s is borrowed for the call. Caller owns the result. */
struct cp__memo *cp__memo_open(const struct cp__memo_settings *s, cp_err *err) CP__WUR;

/* The key of t from its app, resolved arguments (or rendered command) and
 * declared paths. false when t is not cacheable (join apps). */
bool cp__memo_key(const struct cp_future *t, unsigned char key[CP_CKPT_KEY_LEN]);
/* 1 and the stored result in *out (caller clears it) when key has one; 0 when not;
 * -1 when the stored value cannot be decoded (logged; treated as a miss). */
int cp__memo_lookup(struct cp__memo *m, const unsigned char *key, struct cp_value *out);
/* t (a cacheable task with t->memo_key) succeeded: records its result and
 * finalizes it as exec_done — now, or once its record is committed (task_exit). */
void cp__memo_done(struct cp__memo *m, struct cp_future *t);
/* Writes every result not yet written (cp_checkpoint()). 0, or -1 with err. */
int cp__memo_checkpoint(struct cp__memo *m, cp_err *err);
/* Ends memoization after the last task: writes what the mode still owes (every
 * mode but manual and none), stops the writer and frees m. 0, or -1 with err when
 * results could not be written. NULL is fine. */
int cp__memo_close(struct cp__memo *m, cp_err *err);

#endif
