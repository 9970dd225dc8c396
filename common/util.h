/* common/util.h — small helpers shared by every layer. */
#ifndef CP_COMMON_UTIL_H
#define CP_COMMON_UTIL_H

#include <stdarg.h>
#include <stddef.h>

#include "common/err.h"

/* Seconds since the epoch (CLOCK_REALTIME) and since an arbitrary point
 * (CLOCK_MONOTONIC). */
double cp__now(void);
double cp__mono(void);

/* mkdir -p for path itself (mode 0755); 0 when it exists as a directory. */
int cp__mkdir_p(const char *path, cp_err *err) CP__WUR;
/* mkdir -p for the directory that would hold path. */
int cp__mkdir_parent(const char *path, cp_err *err) CP__WUR;

/* printf into a new string; caller owns (free()). NULL when memory runs out. */
char *cp__strdup_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *cp__strdup_vprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

/* s quoted for bash as one word ('…' with embedded quotes as '\''); caller owns. */
char *cp__shell_quote(const char *s);

/* Number of online CPUs this process may use (sched_getaffinity), at least 1. */
int cp__cpu_count(void);

#endif
