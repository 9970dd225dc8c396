/* providers/batch_keys.c — settings the batch providers read alike (batch.h):
 * a value that goes into a directive line, scheduler_options, cmd_timeout.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "providers/batch.h"

static int oom(cp_err *err)
{
    return cp__errf(err, ENOMEM, "out of memory");
}

int cp__batch_key_value(const struct cp__ynode *map, const char *key, const char *extra,
                        size_t max, const char *scheduler, const char *what, char **out,
                        cp_err *err)
{
    const struct cp__ynode *n = cp__ymap_get(map, key);
    if (cp__ynode_is_null(n))
        return 0;
    const char *v;
    if (cp__ynode_str(n, key, &v, err) != 0)
        return -1;
    if (!cp__batch_chars_ok(v, extra, max) || strlen(v) != n->len) {
        char shown[81];
        return cp__yerr(err, n, "%s '%s' is not a %s %s: only letters, digits and '%s' "
                                "(at most %zu characters), no blanks, quotes or line breaks",
                        key, cp__batch_shown(v, shown, sizeof shown), scheduler, what, extra,
                        max);
    }
    char *copy = strdup(v);
    if (!copy)
        return oom(err);
    free(*out);
    *out = copy;
    return 0;
}

int cp__batch_key_options(const struct cp__ynode *map, const char *directive, char **out,
                          cp_err *err)
{
    const struct cp__ynode *n = cp__ymap_get(map, "scheduler_options");
    const char *v = "";
    if (!cp__ynode_is_null(n)) {
        if (cp__ynode_str(n, "scheduler_options", &v, err) != 0)
            return -1;
        if (strlen(v) != n->len)
            return cp__yerr(err, n, "scheduler_options must not contain NUL characters");
        int line;
        const char *cmd = cp__batch_command_line(v, &line);
        if (cmd) {
            int len = (int)strcspn(cmd, "\n");
            return cp__yerr(err, n, "scheduler_options line %d is not a directive: '%.*s'. "
                                    "Give %s lines only; commands belong in worker_init",
                            line, len > 60 ? 60 : len, cmd, directive);
        }
    }
    char *copy = strdup(v);
    if (!copy)
        return oom(err);
    free(*out);
    *out = copy;
    return 0;
}

int cp__batch_key_timeout(const struct cp__ynode *map, double *out, cp_err *err)
{
    const struct cp__ynode *n = cp__ymap_get(map, "cmd_timeout");
    if (cp__ynode_is_null(n))
        return 0;
    double v;
    if (cp__ynode_double(n, "cmd_timeout", &v, err) != 0)
        return -1;
    if (!(v > 0 && v <= 86400))
        return cp__yerr(err, n, "cmd_timeout must be a number of seconds above 0 (at most "
                                "86400), got '%s'", n->str);
    *out = v;
    return 0;
}
