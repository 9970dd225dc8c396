/* common/file.c — see file.h. */
#include "common/file.h"

#include <stdlib.h>
#include <string.h>

/* file://host/path and file:///path name local paths; any other scheme keeps the
 * whole URL as its "path" until staging (a later issue) gives it a local one. */
static const char *local_part(const char *url)
{
    if (strncmp(url, "file://", 7) == 0) {
        const char *p = strchr(url + 7, '/');
        return p ? p : url + strlen(url);
    }
    return url;
}

struct cp_file *cp__file_create(const char *url, cp_future *producer)
{
    struct cp_file *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->url = strdup(url ? url : "");
    if (!f->url) {
        free(f);
        return NULL;
    }
    f->path = local_part(f->url);
    f->producer = producer;
    return f;
}

void cp__file_destroy(struct cp_file *f)
{
    if (!f)
        return;
    free(f->url);
    free(f);
}

cp_file *cp_file_new(const char *path_or_url)
{
    if (!path_or_url)
        return NULL;
    return cp__file_create(path_or_url, NULL);
}

void cp_file_free(cp_file *f)
{
    /* A task's output belongs to the task; freeing it here would break the future. */
    if (f && !f->task_owned)
        cp__file_destroy(f);
}

const char *cp_file_url(const cp_file *f) { return f ? f->url : NULL; }
const char *cp_file_path(const cp_file *f) { return f ? f->path : NULL; }
