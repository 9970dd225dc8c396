/* providers/pbs_qstat.c — what qsub and qstat print, read back (pbs.h): job ids,
 * the state letters of PBS Pro and Torque, exit statuses, and qstat's three
 * output forms (the brief table, `-f` text records, `-f -F json`). Nothing here
 * runs anything.
 *
 * The readers take only the fields they need and skip everything else, so other
 * columns, attributes or versions' extras cannot confuse them; a value is taken
 * from the first place it appears in a job's record (later lines of a long
 * Variable_List cannot pose as job_state).
 */
#include "providers/pbs.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ID_MAX 100

/* ------------------------------------------------------------ job ids */

bool cp__pbs_job_id_ok(const char *text)
{
    if (!text || !*text || strlen(text) > ID_MAX)
        return false;
    for (const char *c = text; *c; c++)
        if (!isalnum((unsigned char)*c) && !strchr("._-[]@", *c))
            return false;
    return true;
}

char *cp__pbs_parse_job_id(const char *out)
{
    if (!out)
        return NULL;
    const char *last = NULL;
    size_t last_len = 0;
    for (const char *l = out; *l;) {
        size_t len = strcspn(l, "\n");
        const char *s = l + strspn(l, " \t\r");
        size_t n = len - (size_t)(s - l);
        while (n > 0 && isspace((unsigned char)s[n - 1]))
            n--;
        if (n > 0) {
            last = s;
            last_len = n;
        }
        l += len + (l[len] == '\n');
    }
    if (!last || last_len > ID_MAX)
        return NULL;
    char *id = strndup(last, last_len);
    if (id && !cp__pbs_job_id_ok(id)) {
        free(id);
        return NULL;
    }
    return id;
}

bool cp__pbs_id_match(const char *ours, const char *printed, size_t len)
{
    if (!ours || !printed || len == 0)
        return false;
    if (strlen(ours) == len && strncmp(ours, printed, len) == 0)
        return true;
    /* "1234.server.domain" printed as "1234.server" or "1234", or the other way. */
    size_t a = strcspn(ours, ".");
    size_t b = 0;
    while (b < len && printed[b] != '.')
        b++;
    return a == b && a > 0 && strncmp(ours, printed, a) == 0;
}

/* ------------------------------------------------------------ states */

struct letter {
    char c;
    enum cp__block_state state;
};

/* PBS Pro: B array begun, E exiting, F finished, H held, M moved, Q queued, R
 * running, S suspended, T transiting, U suspended (workstation busy), W waiting,
 * X subjob finished. E is still running: PBS Pro keeps the job (history) and
 * says F with its Exit_status next. */
static const struct letter pro_letters[] = {
    {'Q', CP_BLOCK_PENDING}, {'W', CP_BLOCK_PENDING}, {'T', CP_BLOCK_PENDING},
    {'R', CP_BLOCK_RUNNING}, {'E', CP_BLOCK_RUNNING}, {'B', CP_BLOCK_RUNNING},
    {'H', CP_BLOCK_HELD},    {'S', CP_BLOCK_HELD},    {'U', CP_BLOCK_HELD},
    {'F', CP_BLOCK_COMPLETED}, {'X', CP_BLOCK_COMPLETED},
    /* Not PBS Pro's, but what servers of Torque descent (and Slurm's wrapper)
     * print for an ended job: taken as ended rather than active for ever. */
    {'C', CP_BLOCK_COMPLETED},
};

/* Torque (parsl-notes §4): C completed, E exiting after having run (its
 * exit_status is known then), plus the letters other PBS servers print. */
static const struct letter torque_letters[] = {
    {'Q', CP_BLOCK_PENDING},   {'W', CP_BLOCK_PENDING},   {'T', CP_BLOCK_PENDING},
    {'R', CP_BLOCK_RUNNING},   {'B', CP_BLOCK_RUNNING},
    {'C', CP_BLOCK_COMPLETED}, {'E', CP_BLOCK_COMPLETED}, {'F', CP_BLOCK_COMPLETED},
    {'X', CP_BLOCK_COMPLETED},
    {'H', CP_BLOCK_HELD},      {'S', CP_BLOCK_HELD},      {'U', CP_BLOCK_HELD},
};

enum cp__block_state cp__pbs_state(enum cp__pbs_flavor f, const char *letter)
{
    if (!letter)
        return CP_BLOCK_UNKNOWN;
    letter += strspn(letter, " \t");
    if (!letter[0] || (letter[1] && !isspace((unsigned char)letter[1])))
        return CP_BLOCK_UNKNOWN;
    const struct letter *t = f == CP_PBS_TORQUE ? torque_letters : pro_letters;
    size_t n = f == CP_PBS_TORQUE ? sizeof torque_letters / sizeof torque_letters[0]
                                  : sizeof pro_letters / sizeof pro_letters[0];
    for (size_t i = 0; i < n; i++)
        if (t[i].c == toupper((unsigned char)letter[0]))
            return t[i].state;
    return CP_BLOCK_UNKNOWN;
}

/* Torque's own exit codes (JOB_EXEC_*): the job's script did not end by itself. */
static const char *const torque_codes[] = {
    NULL,
    "Torque could not start the job (before its files; JOB_EXEC_FAIL1)",
    "Torque could not start the job (after its files; JOB_EXEC_FAIL2)",
    "Torque could not start the job and will retry (JOB_EXEC_RETRY)",
    "the job was aborted when its MOM started (JOB_EXEC_INITABT)",
    "the job was aborted when its MOM started (JOB_EXEC_INITRST)",
    "the job was aborted when its MOM started (JOB_EXEC_INITRMG)",
    "the job's restart failed (JOB_EXEC_BADRESRT)",
    "exec() of the job's script failed (JOB_EXEC_CMDFAIL)",
    "the job's stdout/stderr files could not be created (JOB_EXEC_STDOUTFAIL)",
    "the job exceeded a memory limit (JOB_EXEC_OVERLIMIT_MEM)",
    "the job exceeded its walltime (JOB_EXEC_OVERLIMIT_WT)",
    "the job exceeded its CPU time limit (JOB_EXEC_OVERLIMIT_CPUT)",
    "the job's cgroups could not be created",
    "the job's prologue failed",
};

static const char *const signal_names[] = {
    NULL,      "SIGHUP",  "SIGINT",    "SIGQUIT", "SIGILL",  "SIGTRAP", "SIGABRT", "SIGBUS",
    "SIGFPE",  "SIGKILL", "SIGUSR1",   "SIGSEGV", "SIGUSR2", "SIGPIPE", "SIGALRM", "SIGTERM",
};

enum cp__block_state cp__pbs_ended(enum cp__pbs_flavor f, const struct cp__pbs_info *in,
                                   int *exit_code, const char **why)
{
    *why = NULL;
    *exit_code = -1;
    if (!in->has_exit)
        return CP_BLOCK_COMPLETED;
    long e = in->exit_status;
    bool walltime = f == CP_PBS_PRO && strstr(in->comment, "walltime") &&
                    strstr(in->comment, "exceeded limit");
    if (e < 0) {
        if (f == CP_PBS_TORQUE && -e < (long)(sizeof torque_codes / sizeof torque_codes[0])) {
            *why = torque_codes[-e];
            return e == -11 || e == -12 ? CP_BLOCK_TIMEOUT : CP_BLOCK_FAILED;
        }
        *why = "PBS could not run the job (a negative exit status is the server's own code)";
        return walltime ? CP_BLOCK_TIMEOUT : CP_BLOCK_FAILED;
    }
    if (e >= 256 && e < 256 + 128) {
        int sig = (int)(e - 256);
        *exit_code = 128 + sig;
        *why = sig > 0 && sig < (int)(sizeof signal_names / sizeof signal_names[0])
                   ? signal_names[sig] : "a signal";
    } else {
        *exit_code = e <= 255 ? (int)e : -1;
    }
    if (walltime)
        return CP_BLOCK_TIMEOUT;
    return e == 0 ? CP_BLOCK_COMPLETED : CP_BLOCK_FAILED;
}

/* ------------------------------------------------------------ readers */

static void copy_field(char *dst, size_t cap, const char *src, size_t len)
{
    if (len >= cap)
        len = cap - 1;
    memcpy(dst, src, len);
    dst[len] = '\0';
}

static bool parse_long(const char *s, size_t len, long *out)
{
    char buf[32];
    if (len == 0 || len >= sizeof buf)
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *end;
    errno = 0;
    long v = strtol(buf, &end, 10);
    if (end == buf || *end || errno)
        return false;
    *out = v;
    return true;
}

/* The index of the id of ours that printed[0..len) names, or -1. */
static long which(const char *const *ids, size_t n, const char *printed, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (cp__pbs_id_match(ids[i], printed, len))
            return (long)i;
    return -1;
}

void cp__pbs_read_brief(const char *out, const char *const *ids, size_t n,
                        struct cp__pbs_info *info)
{
    for (const char *l = out; l && *l;) {
        size_t len = strcspn(l, "\n");
        /* Words of the line: the id first, the state second to last (a job name
         * of someone else's with blanks in it cannot shift it). */
        const char *w[16];
        size_t wl[16], nw = 0;
        for (size_t k = 0; k < len;) {
            while (k < len && isspace((unsigned char)l[k]))
                k++;
            size_t start = k;
            while (k < len && !isspace((unsigned char)l[k]))
                k++;
            if (k > start && nw < 16) {
                w[nw] = l + start;
                wl[nw++] = k - start;
            }
        }
        if (nw >= 6 && wl[nw - 2] == 1 && isalpha((unsigned char)w[nw - 2][0])) {
            long i = which(ids, n, w[0], wl[0]);
            if (i >= 0 && !info[i].found) {
                info[i].found = true;
                copy_field(info[i].state, sizeof info[i].state, w[nw - 2], 1);
            }
        }
        l += len + (l[len] == '\n');
    }
}

/* "key = value" at the start of line (after blanks): the value, or NULL. */
static const char *attr(const char *line, size_t len, const char *key, size_t *vlen)
{
    size_t k = 0;
    while (k < len && (line[k] == ' ' || line[k] == '\t'))
        k++;
    size_t kl = strlen(key);
    if (len - k < kl + 3 || strncasecmp(line + k, key, kl) != 0 ||
        strncmp(line + k + kl, " = ", 3) != 0)
        return NULL;
    const char *v = line + k + kl + 3;
    size_t n = len - (size_t)(v - line);
    while (n > 0 && isspace((unsigned char)v[n - 1]))
        n--;
    *vlen = n;
    return v;
}

static const char *record_start(const char *line, size_t len, size_t *idlen)
{
    size_t k = strspn(line, " \t");
    if (k > len || len - k < 7 || strncmp(line + k, "Job Id:", 7) != 0)
        return NULL;
    const char *id = line + k + 7;
    id += strspn(id, " \t");
    size_t n = len - (size_t)(id - line);
    while (n > 0 && isspace((unsigned char)id[n - 1]))
        n--;
    *idlen = n;
    return id;
}

bool cp__pbs_has_full_record(const char *out)
{
    for (const char *l = out; l && *l;) {
        size_t len = strcspn(l, "\n"), idlen;
        if (record_start(l, len, &idlen) && idlen > 0)
            return true;
        l += len + (l[len] == '\n');
    }
    return false;
}

void cp__pbs_read_full(const char *out, const char *const *ids, size_t n,
                       struct cp__pbs_info *info)
{
    struct cp__pbs_info *cur = NULL;
    bool seen_state = false, seen_exit = false, seen_comment = false;
    for (const char *l = out; l && *l;) {
        size_t len = strcspn(l, "\n"), idlen, vlen;
        const char *id = record_start(l, len, &idlen), *v;
        if (id) {
            long i = which(ids, n, id, idlen);
            cur = i >= 0 && !info[i].found ? &info[i] : NULL;
            if (cur)
                cur->found = true;
            seen_state = seen_exit = seen_comment = false;
        } else if (cur) {
            if (!seen_state && (v = attr(l, len, "job_state", &vlen))) {
                seen_state = true;
                copy_field(cur->state, sizeof cur->state, v, vlen);
            } else if (!seen_exit && (v = attr(l, len, "exit_status", &vlen))) {
                seen_exit = true;
                cur->has_exit = parse_long(v, vlen, &cur->exit_status);
            } else if (!seen_comment && (v = attr(l, len, "comment", &vlen))) {
                seen_comment = true;
                copy_field(cur->comment, sizeof cur->comment, v, vlen);
            }
        }
        l += len + (l[len] == '\n');
    }
}
