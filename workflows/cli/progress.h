/* workflows/cli/progress.h — what parsl-run shows while a workflow runs: a
 * progress bar on a terminal, or one line per state change otherwise, and the
 * closing summary. Fed by engine events (engine/observe.h). */
#ifndef CP_WORKFLOWS_CLI_PROGRESS_H
#define CP_WORKFLOWS_CLI_PROGRESS_H

#include <stdbool.h>
#include <stdio.h>

#include "engine/observe.h"
#include "workflows/wf.h"

enum { PG_PENDING, PG_LAUNCHED, PG_RUNNING, PG_DONE, PG_FAILED, PG_DEP_FAIL, PG_NCAT };

struct progress;

/* wf borrowed for the progress's life; out borrowed (stderr). tty: draw a bar,
 * else print lines. quiet: only failures and the summary. */
struct progress *progress_new(const struct cp__wf *wf, FILE *out, bool tty, bool quiet);
void progress_free(struct progress *p);
/* The observer to register with cp__observe_add (arg: the progress). */
void progress_event(void *arg, const struct cp__task_event *ev);
/* Redraws the bar (a terminal only); call a few times a second. */
void progress_tick(struct progress *p);
/* A note above the bar ("interrupted: …"). */
void progress_note(struct progress *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Waits until `target` instances are final or `seconds` pass (a signal may end
 * it early too); true when they are. */
bool progress_wait(struct progress *p, size_t target, double seconds);
/* Instances in a final state. */
size_t progress_final(const struct progress *p);
long progress_count(const struct progress *p, int cat);
/* The closing lines. */
void progress_summary(struct progress *p, const char *run_dir, bool interrupted);

#endif
