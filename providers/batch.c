/* providers/batch.c — the batch providers' shared parts (batch.h): channel,
 * script directories, script files, output tails. */
#include "providers/batch.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/spawn.h"
#include "common/util.h"

#define NAME_MAX_BYTES 200
#define MAX_SUFFIX 10000

static int oom(cp_err *err)
{
    return cp__errf(err, ENOMEM, "out of memory");
}

static const char *errtext(int e, char *buf, size_t n)
{
    return cp__shell_spawn_errtext(e, buf, n);
}

/* FNV-1a: a short stable tag for a run directory's remote home. */
static unsigned long hash32(const char *s)
{
    unsigned long h = 2166136261u;
    for (; *s; s++)
        h = ((h ^ (unsigned char)*s) * 16777619u) & 0xffffffffu;
    return h;
}

static char *default_remote_dir(const char *local_dir, const char *run_dir)
{
    char *copy = strdup(run_dir);
    if (!copy)
        return NULL;
    size_t n = strlen(copy);
    while (n > 1 && copy[n - 1] == '/')
        copy[--n] = '\0';
    const char *base = strrchr(copy, '/');
    base = base ? base + 1 : copy;
    char *safe = cp__batch_safe_name(base);
    char *dir = safe ? cp__strdup_printf("~/.cparsl/runs/%s-%08lx", safe, hash32(local_dir))
                     : NULL;
    free(safe);
    free(copy);
    return dir;
}

static int prepare(struct cp__batch *b, const char *provider, struct cp__channel *ch,
                   const char *remote_dir, bool remote_default, double cmd_timeout,
                   const char *run_dir, cp_err *err)
{
    char buf[128];
    memset(b, 0, sizeof *b);
    b->provider = provider;
    b->ch = ch;
    b->cmd_timeout = cmd_timeout;
    char *dir = NULL;
    if (!run_dir || !*run_dir) {
        cp__errf(err, EINVAL, "%s provider: no run directory", provider);
        goto error;
    }
    if (!(dir = cp__strdup_printf("%s/submit_scripts", run_dir))) {
        oom(err);
        goto error;
    }
    if (cp__mkdir_p(dir, err) != 0)
        goto error;
    /* Absolute, so the paths in scripts and status hold whatever the process's
     * directory becomes. */
    if (!(b->local_dir = realpath(dir, NULL))) {
        cp__errf(err, errno, "cannot resolve %s: %s", dir, errtext(errno, buf, sizeof buf));
        goto error;
    }
    if (remote_dir)
        b->remote_dir = strdup(remote_dir);
    else if (remote_default)
        b->remote_dir = default_remote_dir(b->local_dir, run_dir);
    else
        b->remote_dir = strdup(b->local_dir);
    if (!b->remote_dir) {
        oom(err);
        goto error;
    }
    /* A trailing slash would double in the paths built on it. */
    for (size_t n = strlen(b->remote_dir); n > 1 && b->remote_dir[n - 1] == '/'; n--)
        b->remote_dir[n - 1] = '\0';
    b->same_dir = strcmp(ch->ops->name, "local") == 0 && strcmp(b->remote_dir, b->local_dir) == 0;
    if (!b->same_dir && cp__channel_mkdirs(ch, b->remote_dir, 0700, err) != 0) {
        cp__err_prefix(err, "%s provider: script_dir on %s", provider, cp__channel_describe(ch));
        goto error;
    }
    free(dir);
    return 0;
error:
    free(dir);
    cp__batch_close(b);
    return -1;
}

int cp__batch_open(struct cp__batch *b, const char *provider,
                   const struct cp__channel_config *cfg, double cmd_timeout,
                   const char *run_dir, cp_err *err)
{
    memset(b, 0, sizeof *b);
    struct cp__channel_config c;
    if (cp__channel_config_copy(cfg, &c, err) != 0)
        return -1;
    if (c.cmd_timeout <= 0)
        c.cmd_timeout = cmd_timeout;
    struct cp__channel *ch = cp__channel_open(&c, err);
    double timeout = c.cmd_timeout;
    bool is_ssh = c.type == CP_CHANNEL_SSH;
    char *script_dir = c.script_dir ? strdup(c.script_dir) : NULL;
    bool dir_oom = c.script_dir && !script_dir;
    cp__channel_config_fini(&c);
    if (!ch) {
        free(script_dir);
        cp__err_prefix(err, "%s provider: channel", provider);
        return -1;
    }
    if (dir_oom) {
        cp__channel_close(ch);
        return oom(err);
    }
    int rc = prepare(b, provider, ch, script_dir, is_ssh, timeout, run_dir, err);
    free(script_dir);
    return rc;
}

int cp__batch_open_with(struct cp__batch *b, const char *provider, struct cp__channel *ch,
                        const char *remote_dir, double cmd_timeout, const char *run_dir,
                        cp_err *err)
{
    return prepare(b, provider, ch, remote_dir, false, cmd_timeout, run_dir, err);
}

void cp__batch_close(struct cp__batch *b)
{
    if (!b)
        return;
    cp__channel_close(b->ch);
    free(b->local_dir);
    free(b->remote_dir);
    memset(b, 0, sizeof *b);
}

char *cp__batch_safe_name(const char *job_name)
{
    const char *src = job_name && *job_name ? job_name : "block";
    size_t len = strlen(src);
    if (len > NAME_MAX_BYTES)
        len = NAME_MAX_BYTES;
    char *s = strndup(src, len);
    for (char *c = s; c && *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '_' || *c == '.' || *c == '-'))
            *c = '_';
    /* "." and ".." are not file names of ours. */
    if (s && (strcmp(s, ".") == 0 || strcmp(s, "..") == 0))
        s[0] = '_';
    return s;
}

bool cp__batch_path_ok(const char *path)
{
    if (!path || !*path)
        return false;
    for (const unsigned char *c = (const unsigned char *)path; *c; c++)
        if (*c < 0x20 || *c == 0x7f || *c == '"' || *c == '\\' || *c == '%')
            return false;
    return true;
}

int cp__batch_reserve(struct cp__batch *b, const char *name, const char *ext,
                      char **local_path, char **remote_path, cp_err *err)
{
    char buf[128];
    *local_path = *remote_path = NULL;
    for (int i = 1; i <= MAX_SUFFIX; i++) {
        char *file = i == 1 ? cp__strdup_printf("%s%s", name, ext)
                            : cp__strdup_printf("%s.%d%s", name, i, ext);
        char *p = file ? cp__strdup_printf("%s/%s", b->local_dir, file) : NULL;
        if (!p) {
            free(file);
            return oom(err);
        }
        int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0700);
        if (fd >= 0) {
            close(fd);
            *local_path = p;
            *remote_path = cp__strdup_printf("%s/%s", b->remote_dir, file);
            free(file);
            if (!*remote_path) {
                unlink(p);
                free(p);
                *local_path = NULL;
                return oom(err);
            }
            return 0;
        }
        int e = errno;
        free(file);
        if (e != EEXIST) {
            cp__errf(err, e, "cannot create submit script %s: %s", p, errtext(e, buf, sizeof buf));
            free(p);
            return -1;
        }
        free(p);
    }
    return cp__errf(err, EEXIST, "cannot create a submit script for job '%s' in %s: %d "
                                 "blocks already use the name", name, b->local_dir, MAX_SUFFIX);
}

int cp__batch_store(struct cp__batch *b, const char *local_path, const char *remote_path,
                    const char *text, cp_err *err)
{
    char buf[128];
    size_t len = strlen(text);
    int fd = open(local_path, O_WRONLY | O_TRUNC | O_CLOEXEC);
    if (fd < 0)
        return cp__errf(err, errno, "cannot write submit script %s: %s", local_path,
                        errtext(errno, buf, sizeof buf));
    const char *p = text;
    size_t left = len;
    while (left > 0) {
        ssize_t n = write(fd, p, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            close(fd);
            return cp__errf(err, e, "cannot write submit script %s: %s", local_path,
                            errtext(e, buf, sizeof buf));
        }
        p += n;
        left -= (size_t)n;
    }
    if (close(fd) != 0)
        return cp__errf(err, errno, "cannot write submit script %s: %s", local_path,
                        errtext(errno, buf, sizeof buf));
    if (b->same_dir)
        return 0;
    if (cp__channel_put(b->ch, remote_path, text, len, 0700, err) != 0) {
        cp__err_prefix(err, "copying the submit script to %s", cp__channel_describe(b->ch));
        return -1;
    }
    return 0;
}

int cp__batch_run(struct cp__batch *b, const char *cmd, struct cp__channel_result *res,
                  cp_err *err)
{
    return cp__channel_run(b->ch, cmd, NULL, b->cmd_timeout, res, err);
}

static int tail_of(struct cp__batch *b, const char *path, char **out)
{
    *out = NULL;
    if (!path)
        return 0;
    char *data = NULL;
    size_t len = 0;
    cp_err err = {0};
    /* One byte more than the limit, to tell whether the file was cut. */
    if (cp__channel_get(b->ch, path, CP_PROVIDER_TAIL_BYTES + 1, &data, &len, &err) != 0)
        return err.code == ENOMEM ? -1 : 0;
    bool cut = len > CP_PROVIDER_TAIL_BYTES;
    if (cut) {
        memmove(data, data + 1, len);
        len--;
    }
    *out = cp__provider_tail_text(data, len, cut, CP_PROVIDER_TAIL_LINES);
    return 0;
}

int cp__batch_tails(struct cp__batch *b, struct cp__block_status *st)
{
    if (tail_of(b, st->stdout_path, &st->stdout_tail) != 0 ||
        tail_of(b, st->stderr_path, &st->stderr_tail) != 0)
        return -1;
    return 0;
}

char *cp__batch_output_text(const struct cp__channel_result *r, char *buf, size_t n)
{
    const char *src = r->err_text && r->err_text[strspn(r->err_text, " \t\r\n")] ? r->err_text
                                                                                 : r->out;
    size_t k = 0;
    buf[0] = '\0';
    if (!src || n < 8)
        return buf;
    src += strspn(src, " \t\r\n");
    for (const char *c = src; *c && k + 4 < n; c++) {
        if (*c == '\n' || *c == '\r') {
            const char *next = c + strspn(c, " \t\r\n");
            if (!*next)
                break;
            c = next - 1;
            if (k + 6 >= n)
                break;
            buf[k++] = ';';
            buf[k++] = ' ';
            continue;
        }
        buf[k++] = (unsigned char)*c < 0x20 ? ' ' : *c;
    }
    buf[k] = '\0';
    return buf;
}

/* ------------------------------------------------------------ values */

bool cp__batch_chars_ok(const char *v, const char *extra, size_t max)
{
    if (!v || !*v || strlen(v) > max)
        return false;
    for (const char *c = v; *c; c++)
        if (!isalnum((unsigned char)*c) && !strchr(extra, *c))
            return false;
    return true;
}

char *cp__batch_shown(const char *v, char *out, size_t n)
{
    size_t k = 0;
    for (const char *c = v; c && *c && k + 1 < n; c++)
        out[k++] = (unsigned char)*c < 0x20 || *c == 0x7f ? '?' : *c;
    if (n)
        out[k] = '\0';
    return out;
}

const char *cp__batch_command_line(const char *text, int *lineno)
{
    int n = 1;
    for (const char *l = text; l && *l; n++) {
        const char *s = l + strspn(l, " \t\r");
        if (*s && *s != '\n' && *s != '#') {
            *lineno = n;
            return s;
        }
        l = strchr(l, '\n');
        l = l ? l + 1 : NULL;
    }
    return NULL;
}

/* ------------------------------------------------------------ jobs */

void cp__batch_job_free(struct cp__batch_job *j)
{
    if (!j)
        return;
    free(j->id);
    free(j->script);
    cp__block_status_clear(&j->st);
    free(j);
}

struct cp__batch_job *cp__batch_job_find(struct cp__batch_job *list, const char *id)
{
    for (struct cp__batch_job *j = list; j; j = j->next)
        if (strcmp(j->id, id) == 0)
            return j;
    return NULL;
}

struct cp__batch_job *cp__batch_job_add(struct cp__batch_job **list, const char *id,
                                        const char *script)
{
    struct cp__batch_job *j = calloc(1, sizeof *j);
    if (!j || !(j->id = strdup(id)) || (script && !(j->script = strdup(script)))) {
        cp__batch_job_free(j);
        return NULL;
    }
    j->st = (struct cp__block_status){.state = CP_BLOCK_UNKNOWN, .exit_code = -1};
    j->next = *list;
    *list = j;
    return j;
}
