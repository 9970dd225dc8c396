/* engine/config_find.c — what a config spec names (config_int.h): a path, a
 * template on $CPARSL_TEMPLATE_PATH, or one built into the library.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "engine/config_int.h"

static int oom(cp_err *err)
{
    return cp__errf(err, ENOMEM, "out of memory");
}

static char *join(const char *dir, const char *name)
{
    if (!dir || !*dir || name[0] == '/')
        return strdup(name);
    return cp__strdup_printf("%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", name);
}

/* The directory part of path, or NULL when it has none. */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return NULL;
    return slash == path ? strdup("/") : strndup(path, (size_t)(slash - path));
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t ls = strlen(s), lx = strlen(suffix);
    return ls >= lx && strcmp(s + ls - lx, suffix) == 0;
}

static bool is_path(const char *spec)
{
    return strchr(spec, '/') || ends_with(spec, ".yaml") || ends_with(spec, ".yml");
}

/* An error at `at` when there is one (an `extends:` or a workflow's `config:`
 * naming what failed), else a plain message. */
int cp__config_err_at(cp_err *err, const struct cp__ynode *at, int code, const char *fmt, ...)
{
    char msg[CP_ERR_TEXT_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (at)
        cp__yerr(err, at, "%s", msg);
    else
        cp__errf(err, code, "%s", msg);
    if (err)
        err->code = code;
    return -1;
}

/* ------------------------------------------------------------ finding configs */

/* Template names for "did you mean" and the list in the error: the embedded
 * ones and *.yaml in each $CPARSL_TEMPLATE_PATH directory. Fills list (a
 * comma-separated text) and returns the suggestion, copied into hint. */
static void template_names(const char *word, char *list, size_t nlist, char *hint,
                           size_t nhint)
{
    const char *cands[129];
    char *owned[128];
    size_t nc = 0, no = 0;
    for (size_t i = 0; cp__embedded_templates[i].name && nc < 64; i++)
        cands[nc++] = cp__embedded_templates[i].name;
    const char *path = getenv("CPARSL_TEMPLATE_PATH");
    char *copy = path ? strdup(path) : NULL, *save = NULL;
    for (char *dir = copy ? strtok_r(copy, ":", &save) : NULL; dir && no < 64;
         dir = strtok_r(NULL, ":", &save)) {
        DIR *d = opendir(dir);
        struct dirent *e;
        while (d && (e = readdir(d)) && no < 64)
            if (ends_with(e->d_name, ".yaml") && strlen(e->d_name) > 5 &&
                (owned[no] = strndup(e->d_name, strlen(e->d_name) - 5)))
                cands[nc++] = owned[no++];
        if (d)
            closedir(d);
    }
    cands[nc] = NULL;
    const char *best = cp__did_you_mean(word, cands);
    snprintf(hint, nhint, "%s", best ? best : "");
    size_t used = 0;
    list[0] = '\0';
    for (size_t i = 0; i < nc && used + 1 < nlist; i++) {
        bool dup = false;
        for (size_t j = 0; j < i; j++)
            dup = dup || strcmp(cands[i], cands[j]) == 0;
        if (!dup) {
            int w = snprintf(list + used, nlist - used, "%s%s", used ? ", " : "", cands[i]);
            used = w < 0 ? nlist : used + (size_t)w;
        }
    }
    for (size_t i = 0; i < no; i++)
        free(owned[i]);
    free(copy);
}

void cp__config_found_free(struct cp__config_found *f)
{
    free(f->open);
    free(f->shown);
    free(f->id);
    free(f->dir_open);
    free(f->dir_shown);
}

static int find_file(const char *open, const char *shown, const struct cp__ynode *at,
                     struct cp__config_found *f, cp_err *err)
{
    struct stat st;
    if (stat(open, &st) != 0)
        return cp__config_err_at(err, at, errno, "cannot read config file '%s': %s", shown,
                                 strerror(errno));
    if (S_ISDIR(st.st_mode))
        return cp__config_err_at(err, at, EISDIR, "config file '%s' is a directory",
                                 shown);
    char *real = realpath(open, NULL);
    if (!real)
        return cp__config_err_at(err, at, errno, "cannot read config file '%s': %s", shown,
                                 strerror(errno));
    f->open = strdup(open);
    f->shown = strdup(shown);
    f->id = real;
    f->dir_open = dir_of(open);
    f->dir_shown = dir_of(shown);
    if (!f->open || !f->shown || (strchr(open, '/') && !f->dir_open) ||
        (strchr(shown, '/') && !f->dir_shown))
        return oom(err);
    return 0;
}

/* An absolute path under the current directory is shown relative to it, as the
 * user most likely typed it (parsl-run makes --config paths absolute to open
 * them from the workflow's directory). Shortens in place. */
static void rel_to_cwd(char *shown)
{
    char cwd[4096];
    if (!shown || shown[0] != '/' || !getcwd(cwd, sizeof cwd))
        return;
    size_t n = strlen(cwd);
    if (n > 1 && strncmp(shown, cwd, n) == 0 && shown[n] == '/')
        memmove(shown, shown + n + 1, strlen(shown + n + 1) + 1);
}

/* spec is a path (relative to from's directory) or a template name. */
int cp__config_find(const char *spec, const struct cp__config_origin *from,
                    const struct cp__ynode *at, struct cp__config_found *f, cp_err *err)
{
    memset(f, 0, sizeof *f);
    if (!*spec)
        return cp__config_err_at(err, at, EINVAL,
                                 "empty config name: give a template name or a path");
    if (is_path(spec)) {
        if (from->builtin && spec[0] != '/')
            return cp__config_err_at(err, at, EINVAL, "a built-in template can extend "
                                     "templates by name only, not the relative path '%s'",
                                     spec);
        char *open = join(from->open_dir, spec), *shown = join(from->shown_dir, spec);
        rel_to_cwd(shown);
        int rc = open && shown ? find_file(open, shown, at, f, err) : oom(err);
        free(open);
        free(shown);
        return rc;
    }
    const char *path = getenv("CPARSL_TEMPLATE_PATH");
    if (path && *path) {
        char *copy = strdup(path), *save = NULL;
        if (!copy)
            return oom(err);
        for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
            char *file = cp__strdup_printf("%s/%s.yaml", dir, spec);
            struct stat st;
            if (!file) {
                free(copy);
                return oom(err);
            }
            if (stat(file, &st) == 0 && S_ISREG(st.st_mode)) {
                int rc = find_file(file, file, at, f, err);
                free(file);
                free(copy);
                return rc;
            }
            free(file);
        }
        free(copy);
    }
    for (size_t i = 0; cp__embedded_templates[i].name; i++)
        if (strcmp(cp__embedded_templates[i].name, spec) == 0) {
            f->builtin = &cp__embedded_templates[i];
            f->shown = cp__strdup_printf(CP__CONFIG_BUILTIN_DIR "/%s.yaml", spec);
            f->id = f->shown ? strdup(f->shown) : NULL;
            return f->id ? 0 : oom(err);
        }
    char list[400], hint[80];
    template_names(spec, list, sizeof list, hint, sizeof hint);
    if (*hint)
        return cp__config_err_at(err, at, ENOENT, "unknown config template '%.100s' (did "
                                 "you mean '%s'?)", spec, hint);
    return cp__config_err_at(err, at, ENOENT, "unknown config template '%.100s': give a path "
                             "(with a '/' or ending in .yaml) or one of: %s", spec, list);
}

