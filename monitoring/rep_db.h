/* monitoring/rep_db.h — a run in a monitoring database, opened read-only for the
 * report and the status display (docs/monitoring.md, "Reading a run").
 *
 * The database may be live: another process (the run) writes it in WAL mode
 * while we read. We never write it, not even the schema; readers of a live WAL
 * file do not block the writer, and the writer retries while we hold a read.
 */
#ifndef CP_MONITORING_REP_DB_H
#define CP_MONITORING_REP_DB_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"

/* The run's workflow row. Strings owned by the struct (cp__rep_close frees them);
 * a NULL column is NULL here. Times are cp__rep_time values (NAN when NULL). */
struct cp__rep_workflow {
    char *run_id, *name, *version, *host, *user, *rundir;
    char *began_text, *completed_text;
    double began, completed;
    long tasks_completed, tasks_failed;
};

struct cp__rep_db {
    sqlite3 *db;                /* read-only connection */
    char *path;                 /* the database file */
    struct cp__rep_workflow wf;
    /* The file is cparsl's: task, try, status and resource are views over its
     * cp_* tables (docs/monitoring.md, "How it is stored"). Readers that would
     * make SQLite compute the views' text times for every row read the tables
     * instead; a file Parsl made (real tables) is read through Parsl's names. */
    bool compact;
};

/* SQL for the run's number in the cp_* tables (?1 is its run id): SQLite
 * evaluates it once per statement. */
#define CP__REP_RUN "(SELECT run FROM cp_run WHERE run_id = ?1)"

/* Opens the run that `input` names, read-only:
 *   - a database file: its run `run_id` (an id or a unique prefix of one), or the
 *     latest run (by time_began) when run_id is NULL;
 *   - a run directory runinfo/NNN: the monitoring.db beside it (or the database
 *     its parsl.log names) and the run whose rundir is that directory;
 *   - a directory holding monitoring.db (runinfo/): as that file.
 * Errors that are the input's fault (no such path, no database for a run
 * directory, a file that is not a monitoring database, no such run) have code
 * ENOENT, ENOTSUP or EINVAL; anything else (I/O, locking) EIO or EBUSY. All
 * arguments borrowed; caller owns the result (cp__rep_close). */
struct cp__rep_db *cp__rep_open(const char *input, const char *run_id, cp_err *err);
void cp__rep_close(struct cp__rep_db *r);

/* Reads the workflow row again (status refreshes it to see the run end). */
int cp__rep_reload(struct cp__rep_db *r, cp_err *err) CP__WUR;

/* True when err's code means "the input was bad" (exit status 2 for the tools). */
bool cp__rep_bad_input(const cp_err *err);

/* Prepares sql on r's connection and binds the run id to ?1 when the statement
 * has parameters. NULL with err (naming `what`) on failure. */
sqlite3_stmt *cp__rep_prepare(struct cp__rep_db *r, const char *sql, const char *what,
                              cp_err *err);

/* Steps st until done, for a one-row query: SQLITE_ROW, SQLITE_DONE, or an error
 * (err filled, naming what). */
int cp__rep_step(struct cp__rep_db *r, sqlite3_stmt *st, const char *what, cp_err *err);

/* "YYYY-MM-DD HH:MM:SS[.ffffff]" (Parsl's stored times, local and naive; a 'T'
 * separator is accepted too) as seconds since 1970-01-01 00:00:00 in the same
 * naive clock: good for differences and for comparing with cp__rep_now(). NAN
 * for NULL or text that is not such a time. */
double cp__rep_time(const unsigned char *text);

/* The same for a time of our tables (microseconds of local wall-clock time, which
 * the views print as text): equal to cp__rep_time of that text, to the bit. */
double cp__rep_time_us(int64_t us);

/* The current time in that naive local clock. */
double cp__rep_now(void);

#endif
