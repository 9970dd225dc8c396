/* monitoring/db_int.h — what db.c (the queue, the thread, open and close) and
 * db_write.c (folding a batch and writing it) share. Internal to monitoring/.
 *
 * Rows are copied into chunks of a few tens of KiB, one after another (values,
 * then the strings they point to), so queueing a row is a copy under a mutex and
 * no allocation of its own; the writer takes whole chunks.
 */
#ifndef CP_MONITORING_DB_INT_H
#define CP_MONITORING_DB_INT_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/util.h"
#include "monitoring/db.h"

#define CHUNK_BYTES (64 * 1024)

/* Rows queued that wake the writer before its interval is up. */
#define WAKE_ROWS 4096

/* Written chunks kept for reuse (4 MiB): memory the queue already touched, where
 * a fresh allocation cost page faults for every row. */
#define SPARE_CHUNKS 64

enum kind { K_TASK, K_STATUS, K_TRY, K_BLOCK, K_NODE, K_RESOURCE, K_TASK_END, K_END, K_COUNT };

/* Values of each kind of row, in the order the cp__mon_* functions give them. */
enum { N_TASK = 14, N_STATUS = 4, N_TRY = 10, N_BLOCK = 5, N_NODE = 10, N_RESOURCE = 17,
       N_TASK_END = 4, N_END = 3, N_WORKFLOW = 6 };

enum vtype { V_NULL, V_INT, V_REAL, V_TEXT, V_TIME };

struct cp__mon_val {
    enum vtype t;
    union {
        int64_t i;
        double d;                       /* V_REAL; V_TIME: CLOCK_REALTIME seconds */
        const char *s;                  /* V_TEXT; in a queued row, points into the chunk */
    };
};

struct cp__mon_row {
    uint32_t size;                      /* bytes from here to the next row */
    uint16_t kind;                      /* enum kind */
    uint16_t n;
    struct cp__mon_val v[];             /* then the bytes of the strings */
};

struct cp__mon_chunk {
    struct cp__mon_chunk *next;
    size_t used, cap;                   /* bytes of data */
    size_t rows;
    _Alignas(16) unsigned char data[];
};

/* The statements of the writer. ?1 is bound once when prepared: the run's
 * number in our tables, its run_id in Parsl's. */
enum stmt { S_TASK_NEW, S_TASK, S_TASK_PENDING, S_TASK_END, S_TRY_NEW, S_TRY, S_TRY_CHECK,
            S_STATUS, S_RESOURCE, S_BLOCK, S_NODE, S_END, S_COUNT };

struct cp__mon {
    sqlite3 *db;                        /* the opening thread, then only the writer */
    sqlite3_stmt *st[S_COUNT];
    char *path, *run_id;
    int64_t run;                        /* cp_run.run */
    struct cp__mon_fold *fold;          /* the writer's, kept between batches (db_write.c) */
    double flush_interval, lock_timeout;
    pthread_t thread;

    pthread_mutex_t mu;                 /* guards the fields below */
    pthread_cond_t cv;                  /* wakes the writer: close, or many rows queued */
    struct cp__mon_chunk *head, *tail;  /* queued, not yet taken by the writer */
    struct cp__mon_chunk *spare;        /* written chunks kept for reuse */
    size_t nspare;
    size_t queued_rows;                 /* rows in head..tail */
    size_t queued_bytes, max_bytes;     /* chunk bytes in head..tail, and the cap */
    pthread_cond_t space;               /* wakes callers waiting for queue space */
    int callers_waiting;
    double warned_at;                   /* CLOCK_MONOTONIC of the last "the run waits" */
    bool writer_waiting, closing;
    struct cp__mon_stats stats;

    /* Set by the writer when it gives up at close; read by close after the join. */
    uint64_t lost_rows;
    bool lost_end;
    int last_rc;
    char last_error[256];
};

/* Values of a row. */
typedef struct cp__mon_val cp__mon_val_t;

static inline cp__mon_val_t v_int(int64_t i)
{
    return (cp__mon_val_t){.t = V_INT, .i = i};
}

static inline cp__mon_val_t v_real(double d)
{
    return (cp__mon_val_t){.t = V_REAL, .d = d};
}

static inline cp__mon_val_t v_text(const char *s)
{
    return s ? (cp__mon_val_t){.t = V_TEXT, .s = s} : (cp__mon_val_t){.t = V_NULL};
}

/* For the columns Parsl declares NOT NULL: a row with '' beats a lost row. */
static inline cp__mon_val_t v_text_nn(const char *s)
{
    return v_text(s ? s : "");
}

/* A time of 0 (or less) is NULL; in a NOT NULL column (_nn), the time of the call. */
static inline cp__mon_val_t v_time(double t)
{
    return t > 0 ? (cp__mon_val_t){.t = V_TIME, .d = t} : (cp__mon_val_t){.t = V_NULL};
}

static inline cp__mon_val_t v_time_nn(double t)
{
    return v_time(t > 0 ? t : cp__now());
}

/* One row to queue: its kind and values (borrowed for the call). */
struct cp__mon_spec {
    enum kind k;
    const struct cp__mon_val *v;
    int n;
};

/* Rows one cp__mon_enqueue call takes at most. */
#define CP__MON_GROUP 16

/* Copies the rows (at most CP__MON_GROUP) into the queue together (one lock)
 * and wakes the writer when many wait; waits itself while the queue is full.
 * 0; -1 when memory ran out: the rows are counted as dropped and logged, except
 * the run's completion (K_END), which close reports itself. */
int cp__mon_enqueue(struct cp__mon *m, const struct cp__mon_spec *s, int n);
int cp__mon_enqueue1(struct cp__mon *m, enum kind k, const struct cp__mon_val *v, int n);

/* Frees a list of chunks (NULL is fine). */
void cp__mon_free_chunks(struct cp__mon_chunk *c);
/* Rows in a list of chunks, the run's completion apart (*has_end set when there). */
size_t cp__mon_count_rows(const struct cp__mon_chunk *c, bool *has_end);

/* Microseconds of local wall-clock time, as our tables keep times (schema.c). */
int64_t cp__mon_local_us(double t);

/* Binds v to ?2, ?3, … of st. Times are bound as text ("YYYY-MM-DD
 * HH:MM:SS.ffffff", Parsl's tables) or as cp__mon_local_us (ours). Strings are
 * SQLITE_STATIC: they outlive the step, and every use rebinds every value. */
int cp__mon_bind(sqlite3_stmt *st, const struct cp__mon_val *v, int n, bool time_text);

/* Writes the rows of the chunks in one transaction: SQLITE_OK when committed,
 * otherwise rolled back (the caller keeps the chunks and tries again later;
 * the rows are only read, so a retry writes the same). Rows of one task or try
 * are folded into one statement each (db_write.c). *written counts the rows
 * that are now in the file (folded ones too), *ignored the ones not stored: the
 * same status given twice, or a row SQLite refused (logged). */
int cp__mon_write_batch(struct cp__mon *m, const struct cp__mon_chunk *chunks,
                        uint64_t *written, uint64_t *ignored);

/* Frees m->fold (NULL is fine). */
void cp__mon_fold_free(struct cp__mon *m);

/* Remembers (and logs, once per kind of error) why a batch failed. */
void cp__mon_note_failure(struct cp__mon *m, int rc);

/* True for the results that refuse a row for its content, so that retrying the
 * batch would fail again: the row is skipped (and logged) instead. */
bool cp__mon_row_refused(int rc);

#endif
