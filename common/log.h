/* common/log.h — the run's log file (runinfo/NNN/parsl.log).
 *
 * One process-wide sink, because deep layers (executors, providers) log without
 * being handed a handle; it is opened by cp_load and closed by cp_shutdown. The
 * level is tested before the arguments are evaluated, so a debug line costs one
 * load when debug is off. Nothing goes to the terminal.
 */
#ifndef CP_COMMON_LOG_H
#define CP_COMMON_LOG_H

#include <stdatomic.h>

#include "common/err.h"

enum { CP_LOG_DEBUG = 10, CP_LOG_INFO = 20, CP_LOG_WARNING = 30, CP_LOG_ERROR = 40,
       CP_LOG_OFF = 100 };

extern atomic_int cp__log_level;

/* Opens (appends to) path; level is a name ("debug", "info", "warning", "error",
 * "off") or NULL for info. -1 with err on a bad level or an unopenable file. */
int cp__log_open(const char *path, const char *level, cp_err *err) CP__WUR;
void cp__log_close(void);
/* Parses a level name; -1 when unknown. */
int cp__log_level_parse(const char *name);

void cp__log_write(int level, const char *subsys, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define CP_LOG(level, subsys, ...)                                              \
    do {                                                                        \
        if ((level) >= atomic_load_explicit(&cp__log_level, memory_order_relaxed)) \
            cp__log_write((level), (subsys), __VA_ARGS__);                      \
    } while (0)
#define CP_DEBUG(subsys, ...) CP_LOG(CP_LOG_DEBUG, subsys, __VA_ARGS__)
#define CP_INFO(subsys, ...) CP_LOG(CP_LOG_INFO, subsys, __VA_ARGS__)
#define CP_WARN(subsys, ...) CP_LOG(CP_LOG_WARNING, subsys, __VA_ARGS__)
#define CP_ERROR(subsys, ...) CP_LOG(CP_LOG_ERROR, subsys, __VA_ARGS__)

#endif
