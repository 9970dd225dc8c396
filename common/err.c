/* common/err.c — see err.h. */
#include "common/err.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int cp__verrf(cp_err *err, int code, const char *fmt, va_list ap)
{
    int saved = errno;
    if (err) {
        err->code = code;
        vsnprintf(err->text, sizeof err->text, fmt, ap);
    }
    errno = code ? code : saved;
    return -1;
}

int cp__errf(cp_err *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cp__verrf(err, code, fmt, ap);
    va_end(ap);
    return -1;
}

void cp__err_prefix(cp_err *err, const char *fmt, ...)
{
    if (!err)
        return;
    char head[CP_ERR_TEXT_MAX], old[CP_ERR_TEXT_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(head, sizeof head, fmt, ap);
    va_end(ap);
    memcpy(old, err->text, sizeof old);
    /* Compose in a buffer big enough for both, then keep what fits. */
    char both[2 * CP_ERR_TEXT_MAX + 2];
    snprintf(both, sizeof both, "%s: %s", head, old);
    snprintf(err->text, sizeof err->text, "%.*s", CP_ERR_TEXT_MAX - 1, both);
}
