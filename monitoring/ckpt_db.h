/* monitoring/ckpt_db.h — the checkpoint files: one SQLite database per run,
 * runinfo/NNN/checkpoint/tasks.db, holding the result of every cacheable task
 * that succeeded (DESIGN.md §9, docs/checkpoints.md).
 *
 * Only storage lives here; which tasks are written and when is engine/memo.c.
 * A record is a 32-byte cache key and the task's result in the value encoding
 * (common/value.h), with the app and task id for people reading the file.
 *
 * Durability: WAL mode with synchronous=FULL, so a write that returned has
 * reached the disk and survives a kill -9 of the engine or a crash of the machine.
 * The writer batches records into one transaction, which makes that affordable.
 */
#ifndef CP_MONITORING_CKPT_DB_H
#define CP_MONITORING_CKPT_DB_H

#include <stddef.h>

#include "common/err.h"

#define CP_CKPT_KEY_LEN 32
#define CP_CKPT_FILE "tasks.db"

struct cp__ckpt_rec {
    const unsigned char *key;   /* CP_CKPT_KEY_LEN bytes; borrowed */
    const char *app;            /* borrowed */
    long task_id;
    const void *result;         /* the encoded value; borrowed */
    size_t result_len;
};

struct cp__ckdb;

/* Opens path for writing, creating the file and its table when missing. Caller
 * owns the result (cp__ckdb_close); NULL with err naming the path. */
struct cp__ckdb *cp__ckdb_open(const char *path, cp_err *err) CP__WUR;
/* Writes n records in one transaction (a key already present is replaced). 0,
 * or -1 with err when the transaction did not commit (then none is written). */
int cp__ckdb_write(struct cp__ckdb *db, const struct cp__ckpt_rec *recs, size_t n,
                   cp_err *err) CP__WUR;
void cp__ckdb_close(struct cp__ckdb *db);      /* NULL is fine */

/* Reads every record of an existing checkpoint file, read-only, calling fn for
 * each (the record is valid only during the call; fn returns 0 to go on, -1 to
 * stop with its err). 0 with *count records read; -1 with err naming the path
 * when it is missing, not a checkpoint file, or damaged. */
int cp__ckdb_load(const char *path, int (*fn)(void *arg, const struct cp__ckpt_rec *r,
                                              cp_err *err),
                  void *arg, long *count, cp_err *err) CP__WUR;

#endif
