/* common/file.h — cp_file: a file named by path or URL, possibly a DataFuture.
 *
 * A cp_file made by cp_file_new() is the caller's. One made for a task's declared
 * outputs belongs to that task (its `producer`), which makes it a DataFuture: the
 * engine adds a dependency on the producer wherever it is passed. The producer is
 * opaque here (this layer knows nothing of tasks).
 */
#ifndef CP_COMMON_FILE_H
#define CP_COMMON_FILE_H

#include "cparsl.h"

struct cp_file {
    char *url;                  /* as given */
    const char *path;           /* into url: the local path part */
    cp_future *producer;        /* the task writing it, or NULL (not a reference) */
    bool task_owned;            /* freed with the producing task, not by cp_file_free */
};

/* Builds a file; caller owns (cp__file_destroy). NULL on no memory. */
struct cp_file *cp__file_create(const char *url, cp_future *producer);
void cp__file_destroy(struct cp_file *f);

#endif
