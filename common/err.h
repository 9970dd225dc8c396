/* common/err.h — error text carried next to a 0/-1 return (STYLE.md §4).
 *
 * A function that can fail takes an optional `cp_err *err` (NULL allowed) and, on
 * failure, fills it with a message a user can act on and returns -1 (or NULL).
 */
#ifndef CP_COMMON_ERR_H
#define CP_COMMON_ERR_H

#include <stdarg.h>

#define CP_ERR_TEXT_MAX 512

/* Marks calls whose failure must not be ignored (STYLE.md §4). */
#define CP__WUR __attribute__((warn_unused_result))

typedef struct cp_err {
    int code;                   /* errno-style code, 0 when unset */
    char text[CP_ERR_TEXT_MAX]; /* NUL-terminated, truncated to fit */
} cp_err;

/* Fills err (when not NULL) with code and the formatted text; returns -1 so callers
 * can write `return cp__errf(err, EINVAL, "...")`. errno is preserved. */
int cp__errf(cp_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int cp__verrf(cp_err *err, int code, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* Prefixes existing text with "what: " (for adding context on the way up). */
void cp__err_prefix(cp_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
