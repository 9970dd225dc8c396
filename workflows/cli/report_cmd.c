/* workflows/cli/report_cmd.c — `parsl-run report [RUN_DIR|DB] [-o FILE] [--run-id ID]`.
 *
 * The page is written to a temporary file beside the output and renamed over it
 * when complete, so a failed or interrupted report never leaves a half page
 * under the name a user (or a browser tab reloading it) expects.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "monitoring/rep_db.h"
#include "monitoring/report.h"
#include "workflows/cli/subcmd.h"

enum { RP_OK = 0, RP_FAILED = 1, RP_BAD_INPUT = 2 };

static const char usage[] =
    "usage: parsl-run report [RUN_DIR | runinfo | monitoring.db] [-o FILE] [--run-id ID]\n"
    "\n"
    "Writes one self-contained HTML page about a run recorded with --monitor: summary,\n"
    "tasks by state over time, tries on a Gantt chart, run time per app, CPU and memory,\n"
    "the task graph, failures and blocks. Without a path: ./runinfo (its latest run).\n"
    "\n"
    "  -o, --output FILE   where to write (default report.html; - for standard output)\n"
    "  --run-id ID         the run (an id or a unique prefix) in a shared database\n"
    "                      (default: the run of RUN_DIR, else the latest)\n"
    "  -h, --help          this help\n"
    "\n"
    "Exit status: 0 written, 1 the database could not be read or the file not written,\n"
    "2 bad input (usage, no such path, not a monitoring database, no such run).\n";

static int bad(const char *fmt, const char *what)
{
    fputs("parsl-run report: ", stderr);
    fprintf(stderr, fmt, what);
    fputs("\nTry 'parsl-run report --help'.\n", stderr);
    return RP_BAD_INPUT;
}

/* The temporary file being written, for the signal handler: a report stopped by
 * Ctrl-C, a kill or the file-size limit takes it away with it rather than leave
 * a half page beside the output. "" when there is none. */
static char g_tmp[PATH_MAX + 16];
static const int g_sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGXFSZ};
static struct sigaction g_old[sizeof g_sigs / sizeof g_sigs[0]];

/* Removes the file, then lets the signal do what it would have done (the
 * handler was reset on entry, and the signal is not blocked in it). */
static void on_signal(int sig)
{
    if (g_tmp[0])
        unlink(g_tmp);
    raise(sig);
}

static void guard(const char *tmp)
{
    snprintf(g_tmp, sizeof g_tmp, "%s", tmp);
    struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_RESETHAND | SA_NODEFER};
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof g_sigs / sizeof g_sigs[0]; i++)
        sigaction(g_sigs[i], &sa, &g_old[i]);
}

static void unguard(void)
{
    for (size_t i = 0; i < sizeof g_sigs / sizeof g_sigs[0]; i++)
        sigaction(g_sigs[i], &g_old[i], NULL);
    g_tmp[0] = '\0';
}

/* Writes the page to out_path through a temporary file; the exit status. */
static int write_file(struct cp__rep_db *r, const char *out_path, cp_err *err)
{
    if (strcmp(out_path, "-") == 0) {
        int rc = cp__report_write(r, NULL, stdout, err);
        if (rc == 0 && fflush(stdout) != 0)
            rc = cp__errf(err, errno, "standard output: %s", strerror(errno));
        return rc == 0 ? RP_OK : RP_FAILED;
    }
    char *tmp = cp__strdup_printf("%s.tmp.XXXXXX", out_path);
    int fd = tmp ? mkstemp(tmp) : -1;
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        cp__errf(err, errno, "%s: cannot write here: %s", out_path,
                 tmp ? strerror(errno) : "out of memory");
        if (fd >= 0) {
            close(fd);
            unlink(tmp);
        }
        free(tmp);
        return RP_FAILED;
    }
    if (strlen(tmp) < sizeof g_tmp)
        guard(tmp);
    int rc = cp__report_write(r, NULL, f, err);
    if (rc == 0 && (fflush(f) != 0 || ferror(f) || fsync(fileno(f)) != 0))
        rc = cp__errf(err, errno ? errno : EIO, "%s: %s", tmp, strerror(errno ? errno : EIO));
    if (fclose(f) != 0 && rc == 0)
        rc = cp__errf(err, errno, "%s: %s", tmp, strerror(errno));
    /* mkstemp makes the file 0600; a report is as readable as any other output. */
    mode_t um = umask(0);
    umask(um);
    if (rc == 0 && (chmod(tmp, 0666 & ~um) != 0 || rename(tmp, out_path) != 0))
        rc = cp__errf(err, errno, "%s: %s", out_path, strerror(errno));
    if (rc != 0)
        unlink(tmp);
    unguard();
    free(tmp);
    return rc == 0 ? RP_OK : RP_FAILED;
}

int report_main(int argc, char **argv)
{
    static const struct option longs[] = {
        {"output", required_argument, NULL, 'o'}, {"run-id", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    const char *out = "report.html", *run_id = NULL;
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "o:h", longs, NULL)) != -1) {
        switch (c) {
        case 'o':
            if (!*optarg)
                return bad("%s", "-o needs a file name");
            out = optarg;
            break;
        case 'r':
            if (!*optarg)
                return bad("%s", "--run-id needs an id");
            run_id = optarg;
            break;
        case 'h': fputs(usage, stdout); return RP_OK;
        default: return bad("unknown option or missing value: '%s'", argv[optind - 1]);
        }
    }
    if (argc - optind > 1)
        return bad("%s", "give one run directory or database");
    const char *input = optind < argc ? argv[optind] : "runinfo";
    cp_err err = {0};
    struct cp__rep_db *r = cp__rep_open(input, run_id, &err);
    if (!r) {
        fprintf(stderr, "parsl-run report: %s\n", err.text);
        return cp__rep_bad_input(&err) ? RP_BAD_INPUT : RP_FAILED;
    }
    int status = write_file(r, out, &err);
    if (status != RP_OK)
        fprintf(stderr, "parsl-run report: %s\n", err.text);
    else if (strcmp(out, "-") != 0)
        fprintf(stderr, "parsl-run report: wrote %s (run %s of %s)\n", out, r->wf.run_id,
                r->wf.name ? r->wf.name : "an unnamed workflow");
    cp__rep_close(r);
    return status;
}
