/* engine/monitor.h — the live run's rows in the monitoring database (monitor.c). */
#ifndef CP_ENGINE_MONITOR_H
#define CP_ENGINE_MONITOR_H

#include "cparsl.h"
#include "common/err.h"
#include "engine/config_file.h"

struct cp_future;

/* Opens the database rc asks for (nothing when monitoring is off) for the run in
 * run_dir; default_name (the program's, may be NULL) is the workflow_name when
 * the config gives none. All borrowed. 0, or -1 with err. */
int cp__monitor_open(const struct cp__run_config *rc, const char *run_dir,
                     const char *default_name, cp_err *err);

/* The open database, for executors' block and node rows; NULL when off. */
struct cp__mon *cp__monitor_db(void);

/* t entered state at now (CLOCK_REALTIME); called from the engine's event path
 * while monitoring is open. */
void cp__monitor_event(struct cp_future *t, cp_state state, double now);

/* Writes what is queued, records the run's end and closes; 0 when it was never
 * open. */
int cp__monitor_close(long done, long failed, cp_err *err);

#endif
