/* monitoring/schema.h — Parsl's monitoring tables in SQLite, internal to monitoring/.
 *
 * workflow, node and block are the tables Parsl's database manager
 * (parsl/monitoring/db_manager.py, SQLAlchemy) creates, spelled as SQLAlchemy
 * spells them for SQLite. task, try, status and resource are views with Parsl's
 * columns over compact integer-keyed tables of ours (cp_run, cp_task, cp_try,
 * cp_status, cp_resource; schema.c, docs/monitoring.md "How it is stored"), so
 * a Parsl reader's SELECTs find what they look for.
 */
#ifndef CP_MONITORING_SCHEMA_H
#define CP_MONITORING_SCHEMA_H

#include <sqlite3.h>

#include "common/err.h"

/* Creates the tables and views that are missing and checks that every table
 * already there has each column we write (a missing one is an error naming the
 * table and the column) and that Parsl's bulk tables are our views (a file
 * Parsl made is refused). Call inside a write transaction on db, which the caller
 * owns. path (borrowed) only names the file in messages. 0; or -1 with err, whose
 * code is EBUSY when another connection held the database (try again). */
int cp__mon_schema_create(sqlite3 *db, const char *path, cp_err *err) CP__WUR;
/* The indexes the report's queries use. The
 * writer makes them when a run closes, not when it opens: building an index
 * once over the rows costs far less than keeping it up to date row by row while
 * a run writes hundreds of thousands of them (bench/results/monitoring-*.md). A
 * file that already has them keeps them. 0, or -1 with err. */
int cp__mon_schema_indexes(sqlite3 *db, const char *path, cp_err *err) CP__WUR;

/* Fills err from SQLite's rc and db's message after "<what>: "; returns -1. The
 * code is EBUSY for SQLITE_BUSY/SQLITE_LOCKED (a retry may succeed), ENOTSUP for a
 * file that is not a database, EIO otherwise. db may be NULL. */
int cp__mon_sqlerr(cp_err *err, sqlite3 *db, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* True for the results that mean "another connection has the database": the rows
 * are kept and the transaction is tried again. */
static inline int cp__mon_is_busy(int rc)
{
    rc &= 0xff;
    return rc == SQLITE_BUSY || rc == SQLITE_LOCKED;
}

#endif
