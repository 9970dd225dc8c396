/* executors/app_invoke.h — running one app body on argument values.
 *
 * The macros of cparsl.h generate, per app, an invoker that pulls each parameter
 * out of a cp__ctx with a type check and stores the body's result back. This is
 * the code around it: context set-up, the current context of a thread (so that
 * cp_fail and cp_q know where they are), and the app registry. Used wherever an app
 * body runs: a thread_pool thread, the engine (shell and join bodies), and app
 * hosts on workers.
 */
#ifndef CP_EXECUTORS_APP_INVOKE_H
#define CP_EXECUTORS_APP_INVOKE_H

#include "common/value.h"

struct cp_file;

struct cp__ctx {
    const cp_app_def *app;
    long task_id;
    int try_id;
    int nargs;
    const struct cp_value *args;     /* borrowed for the call */
    /* Outcomes; the caller takes them after cp__app_invoke. */
    struct cp_value result;
    char *shell_cmd;                 /* shell apps */
    cp_future *joined;               /* join apps */
    char *error;                     /* the failure's text, or NULL */
    bool failed;                     /* set by every failure, even one whose text
                                      * could not be allocated */
    /* Owned scratch, freed by cp__ctx_release. */
    struct cp_file *files[CP_MAX_PARAMS];
    char **strings;                  /* cp_q() results */
    size_t nstrings, capstrings;
    cp_future **made;                /* futures cp_call'ed inside a join body */
    size_t nmade, capmade;
    bool collect_futures;            /* join bodies: record into made */
};

void cp__ctx_init(struct cp__ctx *cx, const cp_app_def *app, const struct cp_value *args,
                  int nargs, long task_id, int try_id);
/* Runs the body with cx as the thread's current context. Afterwards either
 * `failed` is set (with `error` when memory allowed) or the outcome is in result,
 * shell_cmd (non-NULL) or joined (non-NULL). */
void cp__app_invoke(struct cp__ctx *cx);
/* Frees scratch (files, cp_q strings). The outcome fields are left to the caller,
 * who must have taken or freed them; `made` must have been drained too. */
void cp__ctx_release(struct cp__ctx *cx);

/* The context of the body running on this thread, or NULL. */
struct cp__ctx *cp__ctx_current(void);
/* Fails cx with a formatted message unless it already failed. */
void cp__ctx_fail(struct cp__ctx *cx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Records a future made inside a join body (takes it); 0, or -1 on no memory. */
int cp__ctx_adopt(struct cp__ctx *cx, cp_future *f);
/* Forgets f if it was adopted (the user released it); true when it was. */
bool cp__ctx_disown(struct cp__ctx *cx, cp_future *f);

/* Name of a parameter type code ("long", "const char *", …). */
const char *cp__ptype_name(int code);
/* The version an app declares (its definition's, else CP_APP_VERSION's), or NULL.
 * Static storage. */
const char *cp__app_version(const cp_app_def *def);

#endif
