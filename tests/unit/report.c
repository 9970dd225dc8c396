/* tests/unit/report.c — the report's building blocks (monitoring/rep_*.h): stored
 * times parsed as SQLite's julianday() reads them, escaping, the status pass over
 * rows written by the real writer (states, retries, timeline, wanted tasks), and
 * which run a path or id opens. */
#include <errno.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "monitoring/db.h"
#include "monitoring/rep_db.h"
#include "monitoring/rep_html.h"
#include "monitoring/rep_scan.h"
#include "tap.h"

static char dir[64] = "/tmp/cp-report-XXXXXX";

static void times(void)
{
    sqlite3 *db;
    sqlite3_open(":memory:", &db);
    const char *texts[] = {"2026-11-26 12:00:14.017687", "1970-01-01 00:00:00", "2000-02-29 23:59:59.5",
                           "1969-12-31 23:59:59.000001"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        sqlite3_stmt *st;
        sqlite3_prepare_v2(db, "SELECT (julianday(?1) - 2440587.5) * 86400.0", -1, &st, NULL);
        sqlite3_bind_text(st, 1, texts[i], -1, SQLITE_STATIC);
        sqlite3_step(st);
        double want = sqlite3_column_double(st, 0);
        sqlite3_finalize(st);
        ok(fabs(cp__rep_time((const unsigned char *)texts[i]) - want) < 1e-3,
           "cp__rep_time(%s) agrees with SQLite (%.6f)", texts[i], want);
    }
    sqlite3_close(db);
    ok(isnan(cp__rep_time(NULL)), "NULL is NAN");
    ok(isnan(cp__rep_time((const unsigned char *)"yesterday")), "text that is no time is NAN");
    ok(isnan(cp__rep_time((const unsigned char *)"2026-11-26")), "a date alone is NAN");
    is_dbl(cp__rep_time((const unsigned char *)"2026-11-26T00:00:01") -
           cp__rep_time((const unsigned char *)"2026-11-26 00:00:00"), 1.0, "T separator");
}

static char *capture(void (*fn)(FILE *, const void *), const void *arg)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    fn(f, arg);
    fclose(f);
    return buf;
}

static void esc_all(FILE *f, const void *s) { cp__h_esc(f, s, 0); }
static void esc_7(FILE *f, const void *s) { cp__h_esc(f, s, 7); }
static void count(FILE *f, const void *n) { cp__h_count(f, *(const long *)n); }

static void escaping(void)
{
    char *s = capture(esc_all, "<img src=x onerror='a(1)'> & \"q\"\x01");
    is_str(s, "&lt;img src=x onerror=&#39;a(1)&#39;&gt; &amp; &quot;q&quot;\xef\xbf\xbd",
           "every markup character escaped, control characters replaced");
    free(s);
    s = capture(esc_7, "abcdef\xc3\xa9\xc3\xa9");   /* é is 2 bytes: a cut at 7 splits one */
    is_str(s, "abcdef\xe2\x80\xa6", "cut at a character boundary, with an ellipsis");
    free(s);
    long v[] = {0, 999, 1000, 1234567, -4500};
    const char *want[] = {"0", "999", "1,000", "1,234,567", "-4,500"};
    for (int i = 0; i < 5; i++) {
        s = capture(count, &v[i]);
        is_str(s, want[i], "count %ld", v[i]);
        free(s);
    }
}

/* A run written with the real writer: task 0 ok, task 1 retried then failed,
 * task 2 dep_fail, task 3 still running. */
static void scan(void)
{
    char path[128];
    snprintf(path, sizeof path, "%s/m.db", dir);
    cp_err err = {0};
    double t0 = 1.7e9;
    struct cp__mon *m = cp__mon_open(&(struct cp__mon_opts){.path = path, .run_id = "run-a",
                                     .workflow_name = "w", .rundir = "/x/runinfo/000",
                                     .time_began = t0}, &err);
    ok(m != NULL, "writer opened: %s", err.text);
    if (!m)
        return;
    const char *seq[][3] = {
        {"0", "0", "pending"}, {"0", "0", "launched"}, {"0", "0", "running"},
        {"0", "0", "exec_done"}, {"1", "0", "pending"}, {"1", "0", "launched"},
        {"1", "0", "running"}, {"1", "0", "fail_retryable"}, {"1", "1", "launched"},
        {"1", "1", "running"}, {"1", "1", "failed"}, {"2", "0", "pending"},
        {"2", "0", "dep_fail"}, {"3", "0", "pending"}, {"3", "0", "launched"},
        {"3", "0", "running"},
    };
    for (int i = 0; i < 16; i++)
        cp__mon_status(m, atol(seq[i][0]), atoi(seq[i][1]), seq[i][2], t0 + 1 + i);
    for (long t = 0; t < 4; t++)
        cp__mon_task(m, &(struct cp__mon_task){.task_id = t, .func_name = "f"});
    is_int(cp__mon_close(m, t0 + 20, 1, 2, &err), 0, "writer closed");

    struct cp__rep_db *r = cp__rep_open(path, NULL, &err);
    ok(r != NULL, "opened read-only: %s", err.text);
    if (!r)
        return;
    is_str(r->wf.run_id, "run-a", "the latest run");
    long want[] = {1, 3, 9};
    struct cp__rep_scan_opts o = {.t0 = t0, .t1 = t0 + 20, .bins = 20, .recent_since = t0 + 12,
                                  .want_ids = want, .nwant = 3};
    struct cp__rep_scan s;
    is_int(cp__rep_scan(r, &o, &s, &err), 0, "the pass ran");
    is_int(s.ntasks, 4, "4 tasks with status rows");
    is_int(s.state[REP_ST_EXEC_DONE], 1, "1 exec_done");
    is_int(s.state[REP_ST_FAILED], 1, "1 failed (after its fail_retryable)");
    is_int(s.state[REP_ST_DEP_FAIL], 1, "1 dep_fail");
    is_int(s.state[REP_ST_RUNNING], 1, "1 still running");
    is_int(s.retried, 1, "1 task retried");
    is_int(s.ended_recent, 1, "1 ended since t0+12 (dep_fail at t0+13)");
    is_int(s.want_state[0], REP_ST_FAILED, "wanted task 1: failed");
    is_int(s.want_state[1], REP_ST_RUNNING, "wanted task 3: running");
    is_int(s.want_state[2], -1, "wanted task 9: no status");
    const long *last = s.timeline + 19 * REP_NCAT, *mid = s.timeline + 5 * REP_NCAT;
    is_int(last[REP_CAT_DONE] + last[REP_CAT_FAILED] + last[REP_CAT_DEP_FAIL] +
           last[REP_CAT_RUNNING] + last[REP_CAT_PENDING] + last[REP_CAT_LAUNCHED], 4,
           "at the end every task is in exactly one group");
    is_int(last[REP_CAT_RUNNING], 1, "and one is running");
    /* bin 5 is [t0+5, t0+6): task 0 exec_done at t0+4, task 1 pending at t0+5 */
    is_int(mid[REP_CAT_DONE], 1, "by t0+6: task 0 done");
    is_int(mid[REP_CAT_PENDING], 1, "by t0+6: task 1 pending");
    is_int(mid[REP_CAT_LAUNCHED], 0, "by t0+6: nothing launched yet (task 1 at t0+6)");
    cp__rep_scan_free(&s);
    cp__rep_close(r);

    ok(!cp__rep_open(path, "zz", &err) && err.code == EINVAL && cp__rep_bad_input(&err),
       "an unknown run id is bad input: %s", err.text);
    r = cp__rep_open(path, "run", &err);
    ok(r && strcmp(r->wf.run_id, "run-a") == 0, "a unique prefix finds the run");
    cp__rep_close(r);
    ok(!cp__rep_open("/nonexistent/x.db", NULL, &err) && err.code == ENOENT,
       "a missing path is ENOENT: %s", err.text);
}

int main(void)
{
    tap_start(30);
    if (!mkdtemp(dir)) {
        printf("Bail out! mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    times();
    escaping();
    scan();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    (void)!system(cmd);
    return done_testing();
}
