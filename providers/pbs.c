/* providers/pbs.c — the `pbspro` and `torque` providers: blocks are PBS batch jobs,
 * driven with qsub, qstat and qdel through a channel (local, or ssh to a login
 * node). One implementation; the flavour picks the resource line, the state
 * letters and the status query. docs/providers.md, "The PBS Pro and Torque
 * providers".
 *
 * Status asks for every live block in one command per BATCH ids:
 *   pbspro  `qstat -x -f -F json` (PBS Pro 14+: finished jobs included, with
 *           Exit_status). A server whose qstat refuses that (older PBS Pro,
 *           Slurm's Torque wrapper) or prints what is not JSON gets `qstat -x -f`,
 *           then plain `qstat -f` text: each step is taken once and logged.
 *   torque  `qstat` (the brief table, as Parsl), and `qstat -f` for each job
 *           that has ended there, for its exit_status.
 * A job the batch query does not list is asked about alone (`qstat -f ID`) and
 * is MISSING only when that does not know it either: never taken as completed
 * by its absence. An ended block's state is kept and never asked again; its
 * output tails are read through the channel once.
 *
 * qsub that does not answer within cmd_timeout may still have queued the job,
 * and the executor would then start another block beside it. So the job is
 * looked for by its unique name (qselect -N, else the Job_Name of `qstat -f`)
 * and taken as the block when it is there.
 */
#include "providers/pbs.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/log.h"
#include "common/util.h"
#include "providers/batch.h"

#define BATCH 50                /* job ids per qstat call */

/* How a pbspro provider asks qstat, best first. */
enum qmode { Q_JSON, Q_TEXT_X, Q_TEXT };
static const char *const qmode_cmd[] = {"qstat -x -f -F json", "qstat -x -f", "qstat -f"};

struct pbs_provider {
    struct cp__provider base;
    const char *name;           /* "pbspro" or "torque" (static) */
    pthread_mutex_t mu;         /* guards everything below */
    struct cp__batch b;
    bool b_open;
    struct cp__pbs_settings s;  /* a deep copy (channel config not kept) */
    struct cp__provider_common c;       /* worker_init, nodes, walltime (no launcher) */
    enum qmode qmode;           /* pbspro */
    struct cp__batch_job *jobs;
};

static int oom(cp_err *err)
{
    return cp__errf(err, ENOMEM, "out of memory");
}

/* ------------------------------------------------------------ commands */

static int run(struct pbs_provider *pp, const char *cmd, struct cp__channel_result *res,
               cp_err *err)
{
    CP_DEBUG(pp->name, "running: %s", cmd);
    return cp__batch_run(&pp->b, cmd, res, err);
}

static bool mentions(const struct cp__channel_result *r, const char *what)
{
    return (r->err_text && strcasestr(r->err_text, what)) || (r->out && strcasestr(r->out, what));
}

/* A command's complaint for an error message, like cp__batch_output_text, but
 * when it does not fit its end is kept: qsub's reason comes last (Slurm's
 * wrapper first repeats the whole sbatch command line). Returns buf. */
static char *complaint(const struct cp__channel_result *r, char *buf, size_t n)
{
    char full[4096];
    cp__batch_output_text(r, full, sizeof full);
    size_t len = strlen(full);
    if (len < n)
        memcpy(buf, full, len + 1);
    else
        snprintf(buf, n, "...%s", full + len - (n - 4));
    return buf;
}

/* qstat's ways of saying that some ids are not (or no longer) jobs: the rest of
 * its output still stands. 153 is PBS's "unknown job id" (and the status of
 * Slurm's wrapper when it lists none). */
static bool only_unknown_ids(const struct cp__channel_result *r)
{
    return r->exit_code == 0 || r->exit_code == 153 || mentions(r, "Unknown Job Id") ||
           mentions(r, "Job has finished");
}

/* qstat refusing an option it does not have (and printing its usage). */
static bool refused_option(const struct cp__channel_result *r)
{
    return r->exit_code != 0 &&
           (mentions(r, "usage") || mentions(r, "unknown option") ||
            mentions(r, "invalid option") || mentions(r, "illegal option") ||
            mentions(r, "unrecognized option"));
}

/* " 'a' 'b' 'c'" from the ids (all checked), for a command line. Caller frees. */
static char *id_words(struct cp__batch_job *const *jobs, size_t n)
{
    char *s = strdup("");
    for (size_t i = 0; s && i < n; i++) {
        char *q = cp__shell_quote(jobs[i]->id);
        char *next = q ? cp__strdup_printf("%s %s", s, q) : NULL;
        free(q);
        free(s);
        s = next;
    }
    return s;
}

/* ------------------------------------------------------------ status */

static void step_down(struct pbs_provider *pp, const struct cp__channel_result *r,
                      const char *why)
{
    char text[200];
    CP_INFO(pp->name, "'%s' %s (%s): asking '%s' from now on", qmode_cmd[pp->qmode], why,
            cp__batch_output_text(r, text, sizeof text), qmode_cmd[pp->qmode + 1]);
    pp->qmode++;
}

/* One qstat call for n jobs, filling info[]. 0, or -1 with err. */
static int query_batch(struct pbs_provider *pp, struct cp__batch_job *const *jobs, size_t n,
                       struct cp__pbs_info *info, cp_err *err)
{
    const char *ids[BATCH];
    for (size_t i = 0; i < n; i++)
        ids[i] = jobs[i]->id;
    char *words = id_words(jobs, n);
    if (!words)
        return oom(err);
    int rc = 0;
    for (;;) {
        const char *base = pp->s.flavor == CP_PBS_TORQUE ? "qstat" : qmode_cmd[pp->qmode];
        char *cmd = cp__strdup_printf("%s%s", base, words);
        struct cp__channel_result r;
        if (!cmd) {
            rc = oom(err);
            break;
        }
        rc = run(pp, cmd, &r, err);
        free(cmd);
        if (rc != 0)
            break;
        bool again = false;
        if (pp->s.flavor == CP_PBS_PRO && pp->qmode < Q_TEXT && refused_option(&r)) {
            step_down(pp, &r, "is refused");
            again = true;
        } else if (!only_unknown_ids(&r)) {
            char text[300];
            rc = cp__errf(err, EIO, "%s failed (exit %d): %s", base, r.exit_code,
                          complaint(&r, text, sizeof text));
        } else if (pp->s.flavor == CP_PBS_TORQUE) {
            cp__pbs_read_brief(r.out, ids, n, info);
        } else if (pp->qmode == Q_JSON) {
            /* Empty output: none of the ids is known. */
            bool blank = !r.out || !r.out[strspn(r.out, " \t\r\n")];
            if (!blank && cp__pbs_read_json(r.out, ids, n, info) != 0) {
                step_down(pp, &r, "printed what is not JSON");
                again = true;
            }
        } else {
            bool blank = !r.out || !r.out[strspn(r.out, " \t\r\n")];
            /* Torque's -x is XML, not history: text without records. */
            if (!blank && !cp__pbs_has_full_record(r.out) && pp->qmode == Q_TEXT_X) {
                step_down(pp, &r, "printed no 'Job Id:' records");
                again = true;
            } else {
                cp__pbs_read_full(r.out, ids, n, info);
            }
        }
        cp__channel_result_clear(&r);
        if (!again || rc != 0)
            break;
        for (size_t i = 0; i < n; i++)
            info[i] = (struct cp__pbs_info){0};
    }
    free(words);
    return rc;
}

/* `qstat -f ID` for one job the batch did not settle: not listed, or (torque)
 * ended without an exit status in the brief table. */
static int follow_up(struct pbs_provider *pp, struct cp__batch_job *j, struct cp__pbs_info *in,
                     cp_err *err)
{
    bool ended = in->found && cp__pbs_state(pp->s.flavor, in->state) == CP_BLOCK_COMPLETED;
    if (in->found && (pp->s.flavor == CP_PBS_PRO || !ended || in->has_exit))
        return 0;
    bool history = pp->s.flavor == CP_PBS_PRO && pp->qmode != Q_TEXT;
    char *q = cp__shell_quote(j->id);
    char *cmd = q ? cp__strdup_printf("qstat%s -f %s", history ? " -x" : "", q) : NULL;
    free(q);
    if (!cmd)
        return oom(err);
    struct cp__channel_result r;
    int rc = run(pp, cmd, &r, err);
    if (rc == 0) {
        if (only_unknown_ids(&r)) {
            struct cp__pbs_info more = {0};
            const char *one[1] = {j->id};
            cp__pbs_read_full(r.out, one, 1, &more);
            if (more.found && more.state[0])
                *in = more;
        } else {
            char text[300];
            rc = cp__errf(err, EIO, "%s failed (exit %d): %s", cmd, r.exit_code,
                          complaint(&r, text, sizeof text));
        }
        cp__channel_result_clear(&r);
    }
    free(cmd);
    return rc;
}

/* The state, exit code and message of j after what qstat said. -1 on OOM. */
static int decide(struct pbs_provider *pp, const struct cp__batch_job *j, const struct cp__pbs_info *in,
                  struct cp__block_status *st)
{
    const char *why = NULL;
    st->exit_code = -1;
    if (!in->found) {
        st->state = CP_BLOCK_MISSING;
        st->message = cp__strdup_printf(
            "job %s is known neither to qstat nor to qstat -f: it ended and the server no "
            "longer keeps it (Torque's keep_completed, PBS Pro's job history), or it never "
            "existed", j->id);
        return st->message ? 0 : -1;
    }
    st->state = cp__pbs_state(pp->s.flavor, in->state);
    if (st->state == CP_BLOCK_COMPLETED)
        st->state = cp__pbs_ended(pp->s.flavor, in, &st->exit_code, &why);
    const char *sep = in->comment[0] ? "; " : "";
    if (j->cancelled) {
        /* Ours to end: whatever PBS says after qdel, the block was cancelled. */
        st->state = CP_BLOCK_CANCELLED;
        st->message = strdup("cancelled");
    } else if (st->state == CP_BLOCK_UNKNOWN) {
        st->message = cp__strdup_printf("PBS state '%s' is not one cparsl knows; counted as "
                                        "active%s%s", in->state, sep, in->comment);
    } else if (cp__block_state_terminal(st->state) && !in->has_exit) {
        st->message = cp__strdup_printf("PBS state %s without an exit status (this qstat "
                                        "gives none): taken as completed%s%s", in->state, sep,
                                        in->comment);
    } else if (cp__block_state_terminal(st->state)) {
        st->message = cp__strdup_printf("PBS state %s, exit status %ld%s%s%s%s%s",
                                        in->state, in->exit_status, why ? " (" : "",
                                        why ? why : "", why ? ")" : "", sep, in->comment);
    } else if (st->state == CP_BLOCK_HELD || in->comment[0]) {
        st->message = cp__strdup_printf("PBS state %s%s%s", in->state, sep, in->comment);
    } else {
        return 0;
    }
    return st->message ? 0 : -1;
}

static int settle(struct pbs_provider *pp, struct cp__batch_job *j, const struct cp__pbs_info *in)
{
    struct cp__block_status st = {.state = CP_BLOCK_UNKNOWN, .exit_code = -1};
    if (decide(pp, j, in, &st) != 0)
        goto oom;
    bool ended = cp__block_state_terminal(st.state);
    if (j->script && (!(st.stdout_path = cp__strdup_printf("%s.stdout", j->script)) ||
                      !(st.stderr_path = cp__strdup_printf("%s.stderr", j->script))))
        goto oom;
    if (ended && cp__batch_tails(&pp->b, &st) != 0)
        goto oom;
    cp__block_status_clear(&j->st);
    j->st = st;
    j->final = ended;
    if (ended)
        CP_INFO(pp->name, "job %s ended: %s%s%s", j->id, cp__block_state_name(st.state),
                st.message ? ": " : "", st.message ? st.message : "");
    return 0;
oom:
    cp__block_status_clear(&st);
    return -1;
}

static int copy_status(const struct cp__block_status *in, struct cp__block_status *out)
{
    *out = (struct cp__block_status){.state = in->state, .exit_code = in->exit_code};
    if ((in->message && !(out->message = strdup(in->message))) ||
        (in->stdout_path && !(out->stdout_path = strdup(in->stdout_path))) ||
        (in->stderr_path && !(out->stderr_path = strdup(in->stderr_path))) ||
        (in->stdout_tail && !(out->stdout_tail = strdup(in->stdout_tail))) ||
        (in->stderr_tail && !(out->stderr_tail = strdup(in->stderr_tail)))) {
        cp__block_status_clear(out);
        return -1;
    }
    return 0;
}

/* Queries the jobs that are not final, in batches, and settles each. */
static int refresh(struct pbs_provider *pp, struct cp__batch_job **todo, size_t n, cp_err *err)
{
    if (n == 0)
        return 0;
    struct cp__pbs_info *info = calloc(n, sizeof *info);
    if (!info)
        return oom(err);
    int rc = 0;
    for (size_t at = 0; at < n && rc == 0; at += BATCH)
        rc = query_batch(pp, todo + at, n - at < BATCH ? n - at : BATCH, info + at, err);
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = follow_up(pp, todo[i], &info[i], err);
    for (size_t i = 0; i < n && rc == 0; i++)
        if (settle(pp, todo[i], &info[i]) != 0)
            rc = oom(err);
    free(info);
    return rc;
}

static int pbs_status(struct cp__provider *p, const char *const *ids, size_t n,
                      struct cp__block_status *out, cp_err *err)
{
    struct pbs_provider *pp = (struct pbs_provider *)p;
    for (size_t i = 0; i < n; i++)
        out[i] = (struct cp__block_status){.state = CP_BLOCK_UNKNOWN, .exit_code = -1};
    struct cp__batch_job **todo = calloc(n ? n : 1, sizeof *todo), **jobs = calloc(n ? n : 1, sizeof *jobs);
    size_t ntodo = 0;
    int rc = 0;
    pthread_mutex_lock(&pp->mu);
    if (!todo || !jobs) {
        rc = oom(err);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        if (!cp__pbs_job_id_ok(ids[i]))
            continue;
        /* An id submitted elsewhere (an earlier engine on this run) is asked
         * about all the same: ids are the server's. */
        if (!(jobs[i] = cp__batch_job_find(pp->jobs, ids[i])) && !(jobs[i] = cp__batch_job_add(&pp->jobs, ids[i], NULL))) {
            rc = oom(err);
            goto done;
        }
        bool dup = false;
        for (size_t k = 0; k < ntodo; k++)
            dup |= todo[k] == jobs[i];
        if (!jobs[i]->final && !dup)
            todo[ntodo++] = jobs[i];
    }
    rc = refresh(pp, todo, ntodo, err);
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (!jobs[i]) {
            out[i].state = CP_BLOCK_MISSING;
            if (!(out[i].message = cp__strdup_printf("'%.40s' is not a PBS job id",
                                                     ids[i] ? ids[i] : "(null)")))
                rc = oom(err);
        } else if (copy_status(&jobs[i]->st, &out[i]) != 0) {
            rc = oom(err);
        }
    }
done:
    pthread_mutex_unlock(&pp->mu);
    if (rc != 0) {
        cp__block_status_clear_n(out, n);
        for (size_t i = 0; i < n; i++)
            out[i] = (struct cp__block_status){.state = CP_BLOCK_UNKNOWN, .exit_code = -1};
    }
    free(todo);
    free(jobs);
    return rc;
}

/* ------------------------------------------------------------ cancel */

/* Whether qdel's refusal says the job has ended already (PBS Pro "Job has
 * finished", Torque "invalid state for job - COMPLETE" or an unknown id; Slurm's
 * wrapper prints nothing then). */
static bool says_ended(const struct cp__channel_result *r)
{
    bool blank = (!r->out || !r->out[strspn(r->out, " \t\r\n")]) &&
                 (!r->err_text || !r->err_text[strspn(r->err_text, " \t\r\n")]);
    return blank || mentions(r, "Unknown Job Id") || mentions(r, "has finished") ||
           mentions(r, "COMPLETE") || mentions(r, "already");
}

/* qdel of jobs (n > 0); marks them cancelled when it says yes. When it says no,
 * the jobs that have ended meanwhile are fine (cancel's contract) and the others
 * are tried alone, so one bad id does not hide the rest. A lone job that qdel
 * says has ended, but qstat still lists (it is finishing), is left to the next
 * status call. */
static int qdel(struct pbs_provider *pp, struct cp__batch_job *const *jobs, size_t n, cp_err *err)
{
    char *words = id_words(jobs, n);
    char *cmd = words ? cp__strdup_printf("qdel%s", words) : NULL;
    free(words);
    if (!cmd)
        return oom(err);
    struct cp__channel_result r;
    int rc = run(pp, cmd, &r, err);
    if (rc == 0 && r.exit_code == 0) {
        for (size_t i = 0; i < n; i++)
            jobs[i]->cancelled = true;
        CP_INFO(pp->name, "cancelled: %s", cmd);
    } else if (rc == 0) {
        char text[300];
        complaint(&r, text, sizeof text);
        struct cp__batch_job **left = calloc(n, sizeof *left);
        rc = left ? refresh(pp, (struct cp__batch_job **)jobs, n, err) : oom(err);
        size_t k = 0;
        for (size_t i = 0; rc == 0 && i < n; i++)
            if (!jobs[i]->final)
                left[k++] = jobs[i];
        if (rc == 0 && k == 1 && n == 1 && says_ended(&r))
            CP_INFO(pp->name, "qdel says job %s has ended (%s); qstat will tell how",
                    left[0]->id, text[0] ? text : "no message");
        else if (rc == 0 && k == n && n == 1)
            rc = cp__errf(err, EIO, "qdel %s failed (exit %d): %s", left[0]->id, r.exit_code,
                          text[0] ? text : "no message");
        for (size_t i = 0; rc == 0 && n > 1 && i < k; i++)
            rc = qdel(pp, &left[i], 1, err);
        free(left);
    }
    cp__channel_result_clear(&r);
    free(cmd);
    return rc;
}

static int pbs_cancel(struct cp__provider *p, const char *const *ids, size_t n, bool *cancelled,
                      cp_err *err)
{
    struct pbs_provider *pp = (struct pbs_provider *)p;
    struct cp__batch_job **todo = calloc(n ? n : 1, sizeof *todo);
    size_t ntodo = 0;
    int rc = 0;
    if (cancelled)
        for (size_t i = 0; i < n; i++)
            cancelled[i] = false;
    if (!todo)
        return oom(err);
    pthread_mutex_lock(&pp->mu);
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (!cp__pbs_job_id_ok(ids[i])) {
            rc = cp__errf(err, EINVAL, "cannot cancel '%.40s': not a PBS job id",
                          ids[i] ? ids[i] : "(null)");
            break;
        }
        struct cp__batch_job *j = cp__batch_job_find(pp->jobs, ids[i]);
        if (!j && !(j = cp__batch_job_add(&pp->jobs, ids[i], NULL))) {
            rc = oom(err);
            break;
        }
        bool dup = false;
        for (size_t k = 0; k < ntodo; k++)
            dup |= todo[k] == j;
        if (!j->final && !j->cancelled && !dup)
            todo[ntodo++] = j;
    }
    if (rc == 0 && ntodo > 0)
        rc = qdel(pp, todo, ntodo, err);
    if (rc == 0 && cancelled)
        for (size_t i = 0; i < n; i++)
            cancelled[i] = true;
    pthread_mutex_unlock(&pp->mu);
    free(todo);
    return rc;
}

/* ------------------------------------------------------------ submit */

/* The id of the job named name (unique: it ends with the submit time), after
 * qsub ran past its limit. Caller frees; NULL when there is none. */
static char *find_by_name(struct pbs_provider *pp, const char *name)
{
    char *q = cp__shell_quote(name);
    char *cmd = q ? cp__strdup_printf("qselect -N %s", q) : NULL;
    struct cp__channel_result r;
    cp_err err = {0};
    char *id = NULL;
    if (cmd && run(pp, cmd, &r, &err) == 0) {
        if (r.exit_code == 0)
            id = cp__pbs_parse_job_id(r.out);
        cp__channel_result_clear(&r);
    }
    /* No qselect (Slurm's wrapper has none): the names in the full listing. */
    if (!id && q && run(pp, "qstat -f", &r, &err) == 0) {
        const char *cur = NULL;
        size_t curlen = 0;
        for (const char *l = r.out; l && *l && !id;) {
            size_t len = strcspn(l, "\n");
            const char *s = l + strspn(l, " \t");
            if (strncmp(s, "Job Id:", 7) == 0) {
                cur = s + 7 + strspn(s + 7, " \t");
                curlen = strcspn(cur, " \t\r\n");
            } else if (cur && strncmp(s, "Job_Name = ", 11) == 0 &&
                       strcspn(s + 11, " \t\r\n") == strlen(name) &&
                       strncmp(s + 11, name, strlen(name)) == 0) {
                id = strndup(cur, curlen);
            }
            l += len + (l[len] == '\n');
        }
        cp__channel_result_clear(&r);
    }
    if (id && !cp__pbs_job_id_ok(id)) {
        free(id);
        id = NULL;
    }
    free(q);
    free(cmd);
    return id;
}

/* Runs qsub for the script at remote; the job id (caller frees) or NULL with err. */
static char *qsub(struct pbs_provider *pp, const char *bid, const char *name, const char *remote,
                  cp_err *err)
{
    char *out_path = cp__strdup_printf("%s.stdout", remote);
    char *err_path = cp__strdup_printf("%s.stderr", remote);
    char *qo = out_path ? cp__shell_quote(out_path) : NULL;
    char *qe = err_path ? cp__shell_quote(err_path) : NULL;
    char *qs = cp__shell_quote(remote);
    /* -o/-e on the command line too: Slurm's Torque wrapper puts its own on
     * sbatch's, which would beat the script's #PBS lines. */
    char *cmd = qo && qe && qs ? cp__strdup_printf("qsub -o %s -e %s %s", qo, qe, qs) : NULL;
    free(out_path);
    free(err_path);
    free(qo);
    free(qe);
    free(qs);
    if (!cmd) {
        oom(err);
        return NULL;
    }
    struct cp__channel_result r = {0};
    char *id = NULL;
    if (run(pp, cmd, &r, err) != 0) {
        /* It may have reached the server all the same. */
        if (err && err->code == ETIMEDOUT && (id = find_by_name(pp, name)))
            CP_WARN(pp->name, "qsub for block %s did not answer in time, but job %s has its "
                    "name: taking it as the block", bid, id);
        else
            cp__err_prefix(err, "submitting block %s (%s)", bid, remote);
    } else if (r.exit_code != 0) {
        char out[320];
        cp__errf(err, EIO, "qsub rejected block %s (exit %d, script %s): %s", bid, r.exit_code,
                 remote, complaint(&r, out, sizeof out));
    } else if (!(id = cp__pbs_parse_job_id(r.out))) {
        char out[300];
        cp__errf(err, EPROTO, "qsub accepted block %s but named no job id: '%s'", bid,
                 cp__batch_output_text(&r, out, sizeof out));
    }
    cp__channel_result_clear(&r);
    free(cmd);
    return id;
}

static char *pbs_submit(struct cp__provider *p, const char *block_id, const char *cmd,
                        int tasks_per_node, const char *job_name, cp_err *err)
{
    struct pbs_provider *pp = (struct pbs_provider *)p;
    char *safe = cp__pbs_job_name(job_name), *name = NULL, *local = NULL, *remote = NULL;
    char *text = NULL, *id = NULL;
    const char *bid = block_id ? block_id : "?";
    pthread_mutex_lock(&pp->mu);
    /* Parsl's job names end with the time, so each block's files are its own. */
    if (!safe || !(name = cp__strdup_printf("%s.%ld", safe, (long)time(NULL)))) {
        oom(err);
        goto error;
    }
    if (cp__batch_reserve(&pp->b, name, ".submit", &local, &remote, err) != 0)
        goto error;
    const char *base = strrchr(local, '/') + 1;
    char *unique = strndup(base, strlen(base) - strlen(".submit"));
    if (!unique) {
        oom(err);
        goto error;
    }
    free(name);
    name = unique;
    if (!(text = cp__pbs_script(&pp->s, &pp->c, cmd, tasks_per_node, name, remote, true, err)) ||
        cp__batch_store(&pp->b, local, remote, text, err) != 0 ||
        !(id = qsub(pp, bid, name, remote, err)))
        goto error;
    struct cp__batch_job *j = cp__batch_job_find(pp->jobs, id);
    if (j) {                    /* an id reused after a server reset */
        free(j->script);
        cp__block_status_clear(&j->st);
        j->st = (struct cp__block_status){.state = CP_BLOCK_UNKNOWN, .exit_code = -1};
        j->final = j->cancelled = false;
        if (!(j->script = strdup(remote)))
            j = NULL;
    } else {
        j = cp__batch_job_add(&pp->jobs, id, remote);
    }
    if (!j) {
        /* Queued but impossible to track: cancel it rather than lose it. */
        struct cp__batch_job tmp = {.id = id};
        struct cp__batch_job *one[1] = {&tmp};
        cp_err e2 = {0};
        if (qdel(pp, one, 1, &e2) != 0)
            CP_WARN(pp->name, "job %s could not be tracked nor cancelled: %s", id, e2.text);
        oom(err);
        goto error;
    }
    CP_INFO(pp->name, "block %s submitted as job %s (%s)", bid, id, remote);
    pthread_mutex_unlock(&pp->mu);
    free(safe);
    free(name);
    free(local);
    free(remote);
    free(text);
    return id;
error:
    pthread_mutex_unlock(&pp->mu);
    free(safe);
    free(name);
    free(local);
    free(remote);
    free(text);
    free(id);
    return NULL;
}

/* ------------------------------------------------------------ create/destroy */

static void pbs_destroy(struct cp__provider *p)
{
    struct pbs_provider *pp = (struct pbs_provider *)p;
    if (!pp)
        return;
    /* Parsl cancels every block at shutdown: ours that have not ended go now. */
    size_t n = 0;
    for (struct cp__batch_job *j = pp->jobs; j; j = j->next)
        n += j->script && !j->final && !j->cancelled;
    struct cp__batch_job **todo = n ? calloc(n, sizeof *todo) : NULL;
    if (todo && pp->b_open) {
        size_t k = 0;
        for (struct cp__batch_job *j = pp->jobs; j; j = j->next)
            if (j->script && !j->final && !j->cancelled)
                todo[k++] = j;
        cp_err err = {0};
        if (qdel(pp, todo, k, &err) != 0)
            CP_WARN(pp->name, "at shutdown: %s", err.text);
    }
    free(todo);
    while (pp->jobs) {
        struct cp__batch_job *j = pp->jobs;
        pp->jobs = j->next;
        cp__batch_job_free(j);
    }
    if (pp->b_open)
        cp__batch_close(&pp->b);
    free(pp->s.account);
    free(pp->s.queue);
    free(pp->s.select_options);
    free(pp->s.scheduler_options);
    free(pp->c.worker_init);
    pthread_mutex_destroy(&pp->mu);
    free(pp);
}

static int dup_opt(const char *in, char **out)
{
    *out = NULL;
    return in && !(*out = strdup(in)) ? -1 : 0;
}

/* The settings the provider keeps (the config is freed once the run starts). */
static int keep_settings(struct pbs_provider *pp, const struct cp__provider_config *cfg)
{
    const struct cp__pbs_settings *in = cfg->settings;
    struct cp__pbs_settings *s = &pp->s;
    s->flavor = cfg->type == &cp__provider_torque ? CP_PBS_TORQUE : CP_PBS_PRO;
    s->cpus_per_node = 1;
    s->cmd_timeout = 120;
    if (in) {
        s->cpus_per_node = in->cpus_per_node;
        s->cmd_timeout = in->cmd_timeout;
        if (dup_opt(in->account, &s->account) || dup_opt(in->queue, &s->queue) ||
            dup_opt(in->select_options, &s->select_options))
            return -1;
    }
    if (!(s->scheduler_options = strdup(in && in->scheduler_options ? in->scheduler_options : "")))
        return -1;
    pp->c = cfg->common;
    pp->c.launcher = NULL;
    pp->c.worker_init = NULL;
    return (pp->c.worker_init = strdup(cfg->common.worker_init ? cfg->common.worker_init : ""))
               ? 0 : -1;
}

static struct pbs_provider *new_provider(const struct cp__provider_config *cfg, cp_err *err)
{
    struct pbs_provider *pp = calloc(1, sizeof *pp);
    if (!pp) {
        oom(err);
        return NULL;
    }
    pp->base.ops = cfg->type;
    pp->name = cfg->type->name;
    pp->qmode = Q_JSON;
    pthread_mutex_init(&pp->mu, NULL);
    if (keep_settings(pp, cfg) != 0) {
        oom(err);
        pbs_destroy(&pp->base);
        return NULL;
    }
    return pp;
}

static struct cp__provider *pbs_create(const struct cp__provider_config *cfg,
                                       const char *run_dir, cp_err *err)
{
    struct pbs_provider *pp = new_provider(cfg, err);
    if (!pp)
        return NULL;
    const struct cp__pbs_settings *in = cfg->settings;
    struct cp__channel_config local;
    cp__channel_config_local(&local);
    if (cp__batch_open(&pp->b, pp->name, in ? &in->channel : &local, pp->s.cmd_timeout, run_dir,
                       err) != 0) {
        pbs_destroy(&pp->base);
        return NULL;
    }
    pp->b_open = true;
    CP_INFO(pp->name, "provider on %s: scripts in %s", cp__channel_describe(pp->b.ch),
            pp->b.remote_dir);
    return &pp->base;
}

struct cp__provider *cp__pbs_create_with(const struct cp__provider_config *cfg,
                                         const char *run_dir, struct cp__channel *ch,
                                         const char *remote_dir, cp_err *err)
{
    struct pbs_provider *pp = new_provider(cfg, err);
    if (!pp) {
        cp__channel_close(ch);
        return NULL;
    }
    if (cp__batch_open_with(&pp->b, pp->name, ch, remote_dir, pp->s.cmd_timeout, run_dir,
                            err) != 0) {
        pbs_destroy(&pp->base);
        return NULL;
    }
    pp->b_open = true;
    return &pp->base;
}

/* ------------------------------------------------------------ the types */

static const struct cp__provider_common pbs_defaults = {
    .nodes_per_block = 1,
    .init_blocks = 1,
    .min_blocks = 0,
    .max_blocks = 1,
    .parallelism = 1.0,
    .walltime = 1200,           /* Parsl's 00:20:00 */
    .worker_init = "",
};

const struct cp__provider_ops cp__provider_pbspro = {
    .name = "pbspro",
    .keys = cp__pbspro_keys,
    .defaults = &pbs_defaults,
    .default_launcher = "single_node",
    .status_polling_interval = 60.0,
    .has_walltime = true,
    .parse = cp__pbspro_parse,
    .free_settings = cp__pbs_free_settings,
    .create = pbs_create,
    .submit = pbs_submit,
    .status = pbs_status,
    .cancel = pbs_cancel,
    .destroy = pbs_destroy,
    .render = cp__pbs_render,
};

const struct cp__provider_ops cp__provider_torque = {
    .name = "torque",
    .keys = cp__torque_keys,
    .defaults = &pbs_defaults,
    .default_launcher = "aprun",
    .status_polling_interval = 60.0,
    .has_walltime = true,
    .parse = cp__torque_parse,
    .free_settings = cp__pbs_free_settings,
    .create = pbs_create,
    .submit = pbs_submit,
    .status = pbs_status,
    .cancel = pbs_cancel,
    .destroy = pbs_destroy,
    .render = cp__pbs_render,
};
