/* monitoring/none/ckpt_none.c — the checkpoint files' functions for parsl-worker,
 * which never writes or reads one: the engine does (see db_none.c for why). */
#include <errno.h>

#include "monitoring/ckpt_db.h"

struct cp__ckdb *cp__ckdb_open(const char *path, cp_err *err)
{
    (void)path;
    cp__errf(err, ENOTSUP, "parsl-worker does not write checkpoint files");
    return NULL;
}

int cp__ckdb_write(struct cp__ckdb *db, const struct cp__ckpt_rec *recs, size_t n, cp_err *err)
{
    (void)db, (void)recs, (void)n;
    return cp__errf(err, ENOTSUP, "parsl-worker does not write checkpoint files");
}

void cp__ckdb_close(struct cp__ckdb *db) { (void)db; }

int cp__ckdb_load(const char *path, int (*fn)(void *arg, const struct cp__ckpt_rec *r,
                                              cp_err *err),
                  void *arg, long *count, cp_err *err)
{
    (void)path, (void)fn, (void)arg;
    if (count)
        *count = 0;
    return cp__errf(err, ENOTSUP, "parsl-worker does not read checkpoint files");
}
