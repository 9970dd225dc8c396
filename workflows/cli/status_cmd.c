/* workflows/cli/status_cmd.c — `parsl-run status [RUN_DIR|DB] [--once] [--run-id ID]`.
 *
 * On a terminal the summary is redrawn in place every second until the workflow
 * row says the run ended (cursor up over the previous lines, then clear to the
 * end of the screen: the rest of the terminal is left alone). Otherwise, or with
 * --once, it is printed once, so `parsl-run status | grep` and cron jobs work.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "monitoring/rep_db.h"
#include "monitoring/rep_status.h"
#include "workflows/cli/subcmd.h"

enum { S_OK = 0, S_FAILED = 1, S_BAD_INPUT = 2 };

#define RATE_WINDOW 10.0

static const char usage[] =
    "usage: parsl-run status [RUN_DIR | runinfo | monitoring.db] [--once] [--run-id ID]\n"
    "\n"
    "Shows a run recorded with --monitor: tasks by state, tries running, blocks, rate and\n"
    "elapsed time. On a terminal it is redrawn every second until the run ends; otherwise\n"
    "(or with --once) it is printed once. Without a path: ./runinfo (its latest run).\n"
    "\n"
    "  --once              print once and exit\n"
    "  --run-id ID         the run (an id or a unique prefix) in a shared database\n"
    "  -h, --help          this help\n"
    "\n"
    "Exit status: 0 shown, 1 the database could not be read, 2 bad input (usage, no such\n"
    "path, not a monitoring database, no such run).\n";

static void duration(FILE *f, double s)
{
    if (isnan(s) || s < 0)
        fputs("?", f);
    else if (s < 60)
        fprintf(f, "%.1f s", s);
    else if (s < 3600)
        fprintf(f, "%d min %02d s", (int)(s / 60), (int)fmod(s, 60));
    else
        fprintf(f, "%ld h %02d min", (long)(s / 3600), (int)fmod(s / 60, 60));
}

/* Prints the summary; returns the number of lines. */
static int draw(FILE *f, const struct cp__rep_db *r, const struct cp__rep_status *s)
{
    const struct cp__rep_workflow *w = &r->wf;
    fprintf(f, "workflow: %s (run %s)\n", w->name ? w->name : "(unnamed)", w->run_id);
    if (s->ended) {
        fprintf(f, "state:    ended %s, after ", w->completed_text);
        duration(f, s->elapsed);
    } else {
        fputs("state:    running for ", f);
        duration(f, s->elapsed);
        fprintf(f, " (began %s)", w->began_text ? w->began_text : "?");
    }
    fprintf(f, "\ntasks:    %ld: pending %ld, launched %ld, running %ld, done %ld, failed %ld, "
               "dep_fail %ld", s->ntasks, s->cat[REP_CAT_PENDING] + s->no_status,
            s->cat[REP_CAT_LAUNCHED], s->cat[REP_CAT_RUNNING], s->cat[REP_CAT_DONE],
            s->cat[REP_CAT_FAILED], s->cat[REP_CAT_DEP_FAIL]);
    if (s->state[REP_ST_FAIL_RETRYABLE])
        fprintf(f, " (%ld of the pending wait for a retry)", s->state[REP_ST_FAIL_RETRYABLE]);
    fprintf(f, "; %ld retried\n", s->retried);
    fprintf(f, "tries:    %ld, %ld running now\n", s->ntries, s->running_tries);
    fprintf(f, "blocks:   %ld", s->nblocks);
    for (int i = 0; i < s->nblock_states; i++)
        fprintf(f, "%s%s %ld", i ? ", " : ": ", s->block_state[i].name, s->block_state[i].n);
    fprintf(f, "; %ld pools connected\n", s->nodes_active);
    double overall = s->elapsed > 0 ? (double)s->ended_total / s->elapsed : 0;
    fprintf(f, "rate:     %.3g tasks/s overall", overall);
    if (!s->ended)
        fprintf(f, ", %.3g tasks/s in the last %g s", (double)s->ended_recent / s->window,
                s->window);
    fputc('\n', f);
    return 6;
}

static void sleep_secs(double s)
{
    struct timespec ts = {.tv_sec = (time_t)s, .tv_nsec = (long)((s - floor(s)) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

int status_main(int argc, char **argv)
{
    static const struct option longs[] = {
        {"once", no_argument, NULL, '1'}, {"run-id", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    const char *run_id = NULL;
    bool once = false;
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        switch (c) {
        case '1': once = true; break;
        case 'r': run_id = optarg; break;
        case 'h': fputs(usage, stdout); return S_OK;
        default:
            fprintf(stderr, "parsl-run status: unknown option or missing value: '%s'\n"
                            "Try 'parsl-run status --help'.\n", argv[optind - 1]);
            return S_BAD_INPUT;
        }
    }
    if (argc - optind > 1) {
        fputs("parsl-run status: give one run directory or database\n", stderr);
        return S_BAD_INPUT;
    }
    const char *input = optind < argc ? argv[optind] : "runinfo";
    cp_err err = {0};
    struct cp__rep_db *r = cp__rep_open(input, run_id, &err);
    if (!r) {
        fprintf(stderr, "parsl-run status: %s\n", err.text);
        return cp__rep_bad_input(&err) ? S_BAD_INPUT : S_FAILED;
    }
    bool live = !once && isatty(1);
    int lines = 0, status = S_OK;
    for (;;) {
        struct cp__rep_status s;
        if (cp__rep_status_read(r, RATE_WINDOW, &s, &err) != 0) {
            fprintf(stderr, "parsl-run status: %s\n", err.text);
            status = S_FAILED;
            break;
        }
        if (lines > 0)
            printf("\033[%dA\033[J", lines);
        lines = draw(stdout, r, &s);
        fflush(stdout);
        if (!live || s.ended)
            break;
        sleep_secs(1);
    }
    cp__rep_close(r);
    return status;
}

int subcmd_dispatch(int argc, char **argv)
{
    if (argc < 2)
        return -1;
    if (strcmp(argv[1], "report") == 0)
        return report_main(argc - 1, argv + 1);
    if (strcmp(argv[1], "status") == 0)
        return status_main(argc - 1, argv + 1);
    return -1;
}
