/* workflows/wf_run.h — a loaded workflow's instances become engine tasks.
 *
 * Each instance is one cp__call_ex whose tag is the instance's index, so events
 * (engine/observe.h) name it. Shell commands are rendered in the engine when the
 * task's dependencies are ready, so {t.result} is substituted with the value the
 * parent really returned; native arguments that need results are computed by a
 * small join task first. Nothing here prints.
 */
#ifndef CP_WORKFLOWS_WF_RUN_H
#define CP_WORKFLOWS_WF_RUN_H

#include "cparsl.h"
#include "workflows/wf.h"

/* Submits every instance of wf to the loaded run, in order. wf is borrowed until
 * cp__wf_release (shell bodies read it). *futs gets an array the caller owns
 * (cp__wf_release, after cp_shutdown) holding *nsubmitted futures: all of them, or
 * on -1 (memory ran out) those submitted before, with the run interrupted. A bad
 * instance becomes a failed task, not an error here. */
int cp__wf_submit(const struct cp__wf *wf, cp_future ***futs, size_t *nsubmitted,
                  cp_err *err);
/* Releases the futures and the app definitions made for the run; only after
 * cp_shutdown, when no body can run any more. */
void cp__wf_release(cp_future **futs, size_t n);

#endif
