/* providers/ssh_files.c — the ssh channel's files: put, get and mkdirs by SFTP
 * (providers/channel.h, docs/channels.md). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>

#include <libssh/sftp.h>

#include "common/log.h"
#include "common/util.h"
#include "providers/ssh_chan.h"

/* "~" and "~/x" on the far side: the SFTP server starts in the login
 * directory, so they become "." and "x". */
static const char *far_path(const char *path)
{
    if (path[0] == '~' && path[1] == '\0')
        return ".";
    if (path[0] == '~' && path[1] == '/')
        return path[2] ? path + 2 : ".";
    return path;
}

static int sftp_fail(struct cp__ssh_chan *c, const char *what, const char *path, cp_err *err)
{
    int code = c->sftp ? sftp_get_error(c->sftp) : -1;
    const char *why;
    int e = EIO;
    switch (code) {
    case SSH_FX_NO_SUCH_FILE:
    case SSH_FX_NO_SUCH_PATH:
        why = "no such file or directory";
        e = ENOENT;
        break;
    case SSH_FX_PERMISSION_DENIED:
    case SSH_FX_WRITE_PROTECT:
        why = "permission denied";
        e = EACCES;
        break;
    case SSH_FX_FILE_ALREADY_EXISTS:
        why = "it already exists";
        e = EEXIST;
        break;
    case SSH_FX_OP_UNSUPPORTED:
        why = "the server does not support it";
        break;
    default:
        why = cp__ssh_chan_broken(c) ? "the connection was lost" : ssh_get_error(c->conn.s);
        break;
    }
    return cp__errf(err, e, "ssh to %s: cannot %s %s: %s", c->conn.desc, what, path, why);
}

static int sftp_ready(struct cp__ssh_chan *c, cp_err *err)
{
    if (c->sftp)
        return 0;
    c->sftp = sftp_new(c->conn.s);
    if (!c->sftp || sftp_init(c->sftp) != SSH_OK) {
        cp__errf(err, EIO, "ssh to %s: cannot start SFTP (is the sftp subsystem enabled on the "
                 "server?): %s", c->conn.desc, ssh_get_error(c->conn.s));
        if (c->sftp)
            sftp_free(c->sftp);
        c->sftp = NULL;
        return -1;
    }
    return 0;
}

static int do_mkdirs(struct cp__ssh_chan *c, const char *p, int mode, cp_err *err)
{
    cp__ssh_wd_arm(&c->conn, c->conn.cfg.connect_timeout);
    sftp_attributes a = sftp_stat(c->sftp, p);
    if (a) {
        bool dir = a->type == SSH_FILEXFER_TYPE_DIRECTORY;
        sftp_attributes_free(a);
        return dir ? 0 : cp__errf(err, ENOTDIR, "ssh to %s: %s exists and is not a directory",
                                  c->conn.desc, p);
    }
    int code = sftp_get_error(c->sftp);
    if (code != SSH_FX_NO_SUCH_FILE && code != SSH_FX_NO_SUCH_PATH)
        return sftp_fail(c, "look at", p, err);
    char *parent = strdup(p);
    if (!parent)
        return cp__errf(err, ENOMEM, "out of memory");
    char *slash = strrchr(parent, '/');
    int rc = 0;
    if (slash && slash != parent) {
        *slash = '\0';
        rc = do_mkdirs(c, parent, mode, err);
    }
    free(parent);
    if (rc < 0)
        return -1;
    if (sftp_mkdir(c->sftp, p, (mode_t)mode) < 0) {
        a = sftp_stat(c->sftp, p);     /* made by someone else meanwhile? */
        bool dir = a && a->type == SSH_FILEXFER_TYPE_DIRECTORY;
        sftp_attributes_free(a);
        return dir ? 0 : sftp_fail(c, "create directory", p, err);
    }
    /* The far side's umask applied to mkdir: set the mode asked for. */
    if (sftp_chmod(c->sftp, p, (mode_t)mode) < 0)
        return sftp_fail(c, "set the mode of", p, err);
    return 0;
}

/* A path without trailing slashes (caller frees). */
static char *trimmed(const char *path)
{
    char *p = strdup(far_path(path));
    size_t n = p ? strlen(p) : 0;
    while (n > 1 && p[n - 1] == '/')
        p[--n] = '\0';
    return p;
}

struct file_op {
    int kind;                   /* 'm' mkdirs, 'p' put, 'g' get */
    const char *path;
    int mode;
    const void *data;
    size_t len, max;
    char **out;
    size_t *out_len;
};

static int do_put(struct cp__ssh_chan *c, const struct file_op *op, const char *p, cp_err *err)
{
    char *slash = strrchr(p, '/');
    if (slash && slash != p) {
        char *dir = strndup(p, (size_t)(slash - p));
        if (!dir)
            return cp__errf(err, ENOMEM, "out of memory");
        int rc = do_mkdirs(c, dir, 0700, err);
        free(dir);
        if (rc < 0)
            return -1;
    }
    unsigned r = 0;
    if (getrandom(&r, sizeof r, 0) != sizeof r)
        r = (unsigned)(cp__mono() * 1e6);
    const char *base = slash ? slash + 1 : p;
    char *tmp = cp__strdup_printf("%.*s.%s.cparsl-%08x", slash ? (int)(slash + 1 - p) : 0, p,
                                  base, r);
    if (!tmp)
        return cp__errf(err, ENOMEM, "out of memory");
    int rc = -1;
    cp__ssh_wd_arm(&c->conn, c->conn.cfg.connect_timeout);
    sftp_file f = sftp_open(c->sftp, tmp, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (!f) {
        sftp_fail(c, "create", tmp, err);
        goto out;
    }
    const char *d = op->data;
    for (size_t done = 0; done < op->len;) {
        size_t n = op->len - done > 65536 ? 65536 : op->len - done;
        cp__ssh_wd_arm(&c->conn, c->conn.cfg.connect_timeout);
        ssize_t w = sftp_write(f, d + done, n);
        if (w <= 0) {
            sftp_fail(c, "write", tmp, err);
            sftp_close(f);
            goto unlink;
        }
        done += (size_t)w;
    }
    cp__ssh_wd_arm(&c->conn, c->conn.cfg.connect_timeout);
    if (sftp_extension_supported(c->sftp, "fsync@openssh.com", "1") && sftp_fsync(f) < 0) {
        sftp_fail(c, "flush", tmp, err);
        sftp_close(f);
        goto unlink;
    }
    if (sftp_close(f) < 0) {
        sftp_fail(c, "close", tmp, err);
        goto unlink;
    }
    if (sftp_chmod(c->sftp, tmp, (mode_t)op->mode) < 0) {
        sftp_fail(c, "set the mode of", tmp, err);
        goto unlink;
    }
    /* SFTP v3's rename refuses an existing target, and libssh 0.10 has no
     * posix-rename: a file that exists is replaced by mv (rename(2)) instead. */
    sftp_attributes a = sftp_lstat(c->sftp, p);
    if (!a && sftp_rename(c->sftp, tmp, p) == 0) {
        rc = 0;
        goto out;
    }
    sftp_attributes_free(a);
    char *qt = cp__shell_quote(tmp), *qp = cp__shell_quote(p);
    char *mv = qt && qp ? cp__strdup_printf("mv -f -- %s %s", qt, qp) : NULL;
    free(qt);
    free(qp);
    if (!mv) {
        cp__errf(err, ENOMEM, "out of memory");
        goto unlink;
    }
    struct cp__channel_result res;
    rc = cp__ssh_exec(c, mv, NULL, cp__ssh_timeout(c, 0), &res, err);
    free(mv);
    if (rc == 0 && res.exit_code != 0) {
        rc = cp__errf(err, EIO, "ssh to %s: cannot replace %s: mv: %s", c->conn.desc, op->path,
                      res.err_text);
    }
    cp__channel_result_clear(&res);
    if (rc == 0)
        goto out;
unlink:
    if (!cp__ssh_chan_broken(c))
        sftp_unlink(c->sftp, tmp);
out:
    free(tmp);
    return rc;
}

static int do_get(struct cp__ssh_chan *c, const struct file_op *op, const char *p, cp_err *err)
{
    cp__ssh_wd_arm(&c->conn, c->conn.cfg.connect_timeout);
    sftp_file f = sftp_open(c->sftp, p, O_RDONLY, 0);
    if (!f)
        return sftp_fail(c, "read", op->path, err);
    size_t want = op->max;
    sftp_attributes a = sftp_fstat(f);
    if (a && (a->flags & SSH_FILEXFER_ATTR_SIZE)) {
        if (a->size > op->max) {
            if (sftp_seek64(f, a->size - op->max) < 0) {
                sftp_attributes_free(a);
                sftp_close(f);
                return sftp_fail(c, "seek in", op->path, err);
            }
        } else {
            want = (size_t)a->size;
        }
    }
    sftp_attributes_free(a);
    char *buf = malloc(want + 1);
    if (!buf) {
        sftp_close(f);
        return cp__errf(err, ENOMEM, "out of memory");
    }
    size_t len = 0;
    while (len < want) {
        size_t n = want - len > 65536 ? 65536 : want - len;
        cp__ssh_wd_arm(&c->conn, c->conn.cfg.connect_timeout);
        ssize_t got = sftp_read(f, buf + len, n);
        if (got < 0) {
            free(buf);
            sftp_close(f);
            return sftp_fail(c, "read", op->path, err);
        }
        if (got == 0)
            break;
        len += (size_t)got;
    }
    sftp_close(f);
    buf[len] = '\0';
    *op->out = buf;
    *op->out_len = len;
    return 0;
}

/* Runs a file operation, connecting again once when the connection had
 * dropped (they may be repeated: put writes a new temporary file each time). */
static int file_op(struct cp__ssh_chan *c, const struct file_op *op, cp_err *err)
{
    if (!op->path || !*op->path)
        return cp__errf(err, EINVAL, "ssh to %s: empty path", c->conn.desc);
    char *p = trimmed(op->path);
    if (!p)
        return cp__errf(err, ENOMEM, "out of memory");
    struct cp__ssh_guard g;
    pthread_mutex_lock(&c->mu);
    cp__ssh_guard_on(&g);
    int rc = -1;
    for (int attempt = 0;; attempt++) {
        bool fresh;
        if (cp__ssh_chan_ensure(c, &fresh, err) < 0)
            break;
        cp__ssh_wd_arm(&c->conn, c->conn.cfg.connect_timeout);
        rc = sftp_ready(c, err);
        if (rc == 0)
            rc = op->kind == 'm' ? do_mkdirs(c, p, op->mode, err)
               : op->kind == 'p' ? do_put(c, op, p, err)
                                 : do_get(c, op, p, err);
        bool fired = cp__ssh_wd_disarm(&c->conn);
        if (rc == 0 || !(fired || cp__ssh_chan_broken(c)))
            break;
        cp__ssh_chan_drop(c);
        if (fired) {
            rc = cp__errf(err, ETIMEDOUT, "ssh to %s: no answer within %g s (connect_timeout) "
                          "while working on %s; the connection was closed", c->conn.desc,
                          c->conn.cfg.connect_timeout, op->path);
            break;
        }
        if (fresh || attempt > 0)
            break;
        CP_WARN("ssh", "%s: the connection dropped; connecting again", c->conn.desc);
    }
    cp__ssh_guard_off(&g);
    pthread_mutex_unlock(&c->mu);
    free(p);
    return rc;
}

int cp__ssh_put(struct cp__channel *ch, const char *path, const void *data, size_t len,
                   int mode, cp_err *err)
{
    struct file_op op = {.kind = 'p', .path = path, .data = data, .len = len, .mode = mode};
    return file_op((struct cp__ssh_chan *)ch, &op, err);
}

int cp__ssh_get(struct cp__channel *ch, const char *path, size_t max, char **data,
                   size_t *len, cp_err *err)
{
    *data = NULL;
    *len = 0;
    struct file_op op = {.kind = 'g', .path = path, .max = max, .out = data, .out_len = len};
    return file_op((struct cp__ssh_chan *)ch, &op, err);
}

int cp__ssh_mkdirs(struct cp__channel *ch, const char *path, int mode, cp_err *err)
{
    struct file_op op = {.kind = 'm', .path = path, .mode = mode};
    return file_op((struct cp__ssh_chan *)ch, &op, err);
}

