/* providers/slurm.c — the `slurm` provider: blocks are Slurm batch jobs, driven
 * with sbatch, squeue/sacct/scontrol and scancel through a channel (local, or
 * ssh to a login node). docs/providers.md, "The Slurm provider".
 *
 * Status asks for every live block in one command per status_batch_size ids:
 * `sacct -X` when accounting works (probed once, on the first status call), else
 * `squeue --states=all`. A job neither lists is not taken as completed (Parsl's
 * old habit, issue #1588): it is looked up in `scontrol show job` (jobs that
 * ended within MinJobAge), then in the job completion log (`sacct -c`), and only
 * a job none of them knows is MISSING. An ended block's state is kept and never
 * asked again; its output tails are read through the channel once.
 *
 * Every command carries the same --clusters scope as the submission (a job id
 * means nothing on another cluster: Parsl issue #3675).
 *
 * sbatch that does not answer within cmd_timeout may still have queued the job,
 * and the executor would then start another block beside it. So the job is
 * looked for by its unique name (squeue --name) and taken as the block when it
 * is there.
 */
#include "providers/slurm.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/util.h"
#include "providers/batch.h"

#define MSG_MAX 300

struct slurm_provider {
    struct cp__provider base;
    pthread_mutex_t mu;         /* guards everything below */
    struct cp__batch b;
    bool b_open;
    struct cp__slurm_settings s;        /* a deep copy (channel config not kept) */
    struct cp__provider_common c;       /* worker_init, nodes, walltime (no launcher) */
    char *scope;                /* " --clusters=X" or "" */
    int accounting;             /* -1 not probed yet, 0 squeue, 1 sacct -X */
    struct cp__batch_job *jobs;
};

static int oom(cp_err *err)
{
    return cp__errf(err, ENOMEM, "out of memory");
}

/* ------------------------------------------------------------ commands */

/* Runs cmd; 0 with res filled (any exit code), or -1 with err. */
static int run(struct slurm_provider *sp, const char *cmd, struct cp__channel_result *res,
               cp_err *err)
{
    CP_DEBUG("slurm", "running: %s", cmd);
    return cp__batch_run(&sp->b, cmd, res, err);
}

/* "1,2,3" from the ids (all checked digits). Caller frees. */
static char *id_list(struct cp__batch_job *const *jobs, size_t n)
{
    size_t len = 1;
    for (size_t i = 0; i < n; i++)
        len += strlen(jobs[i]->id) + 1;
    char *s = malloc(len), *p = s;
    for (size_t i = 0; s && i < n; i++)
        p += sprintf(p, "%s%s", i ? "," : "", jobs[i]->id);
    if (s)
        *p = '\0';
    return s;
}

/* Asks scontrol about one job. 0 with *s filled (found or not); -1 when scontrol
 * failed otherwise. */
static int ask_scontrol(struct slurm_provider *sp, const char *id, struct cp__slurm_seen *s, cp_err *err)
{
    char cmd[200];
    struct cp__channel_result r;
    snprintf(cmd, sizeof cmd, "scontrol%s show job -o %s", sp->scope, id);
    if (run(sp, cmd, &r, err) != 0)
        return -1;
    int rc = 0;
    char field[64];
    if (r.exit_code == 0 && r.out && cp__slurm_scontrol_field(r.out, "JobState", s->slurm_state,
                                                    sizeof s->slurm_state)) {
        s->found = true;
        s->reason[0] = '\0';
        if (cp__slurm_scontrol_field(r.out, "Reason", field, sizeof field) && strcmp(field, "None") != 0)
            cp__slurm_copy(s->reason, sizeof s->reason, field, strlen(field));
        s->exit_code = cp__slurm_scontrol_field(r.out, "ExitCode", field, sizeof field)
                           ? cp__slurm_exit_code(field) : -1;
        s->state = cp__slurm_state(s->slurm_state, s->reason);
    } else if (!cp__slurm_says_invalid_id(&r)) {
        char text[200];
        rc = cp__errf(err, EIO, "scontrol show job %s failed (exit %d): %s", id, r.exit_code,
                      cp__batch_output_text(&r, text, sizeof text));
    }
    cp__channel_result_clear(&r);
    return rc;
}

/* Asks the job completion log (sacct -c) about one job: 0 with *s filled when
 * it has a record, else 0 with s->found false. The log may be off (then sacct
 * fails): that is "no record". */
static int ask_jobcomp(struct slurm_provider *sp, struct cp__batch_job *j, struct cp__slurm_seen *s, cp_err *err)
{
    char cmd[200];
    struct cp__channel_result r;
    snprintf(cmd, sizeof cmd, "sacct%s -c --noheader --parsable2 --format=JobID,State,ExitCode "
             "--jobs=%s", sp->scope, j->id);
    if (run(sp, cmd, &r, err) != 0)
        return -1;
    if (r.exit_code == 0 && r.out) {
        /* With ids reused (a cluster reset), the last record is the newest. */
        const char *last = NULL;
        for (const char *l = r.out; *l;) {
            size_t len = strcspn(l, "\n");
            if (len > strlen(j->id) && strncmp(l, j->id, strlen(j->id)) == 0 &&
                l[strlen(j->id)] == '|')
                last = l;
            l += len + (l[len] == '\n');
        }
        if (last) {
            char line[160];
            cp__slurm_copy(line, sizeof line, last, strcspn(last, "\n"));
            const char *one[1] = {j->id};
            cp__slurm_read_lines(line, true, one, 1, s);
        }
    }
    cp__channel_result_clear(&r);
    return 0;
}

/* ------------------------------------------------------------ status */

/* Whether accounting answers (`sacct -X`), asked once. */
static int probe_accounting(struct slurm_provider *sp, cp_err *err)
{
    if (sp->accounting >= 0)
        return 0;
    char cmd[200];
    struct cp__channel_result r;
    snprintf(cmd, sizeof cmd, "sacct%s -X --noheader --format=JobID --starttime=now", sp->scope);
    if (run(sp, cmd, &r, err) != 0)
        return -1;
    sp->accounting = r.exit_code == 0;
    char text[200];
    CP_INFO("slurm", "job states come from %s%s%s%s", sp->accounting ? "sacct -X" : "squeue",
            sp->accounting ? "" : " (sacct -X: ", sp->accounting ? "" :
            cp__batch_output_text(&r, text, sizeof text), sp->accounting ? "" : ")");
    cp__channel_result_clear(&r);
    return 0;
}

/* One sacct or squeue call for n jobs. 0 with seen[] filled; -1 with err. */
static int query_batch(struct slurm_provider *sp, struct cp__batch_job *const *jobs, size_t n,
                       struct cp__slurm_seen *seen, cp_err *err)
{
    char *ids = id_list(jobs, n);
    char *cmd = !ids ? NULL
              : sp->accounting ? cp__strdup_printf("sacct%s -X --noheader --parsable2 "
                                                   "--format=JobID,State,ExitCode --jobs=%s",
                                                   sp->scope, ids)
                               : cp__strdup_printf("squeue%s --noheader --states=all "
                                                   "--format='%%i|%%T|%%r' --jobs=%s",
                                                   sp->scope, ids);
    free(ids);
    if (!cmd)
        return oom(err);
    struct cp__channel_result r;
    int rc = run(sp, cmd, &r, err);
    if (rc == 0) {
        /* squeue refuses a list of only unknown ids: none of them is listed. */
        if (r.exit_code != 0 && !(cp__slurm_says_invalid_id(&r))) {
            char text[300];
            rc = cp__errf(err, EIO, "%s failed (exit %d): %s", sp->accounting ? "sacct" : "squeue",
                          r.exit_code, cp__batch_output_text(&r, text, sizeof text));
        } else if (r.exit_code == 0) {
            const char **idv = malloc(n * sizeof *idv);
            if (!idv) {
                rc = oom(err);
            } else {
                for (size_t i = 0; i < n; i++)
                    idv[i] = jobs[i]->id;
                cp__slurm_read_lines(r.out, sp->accounting == 1, idv, n, seen);
                free(idv);
            }
        }
        cp__channel_result_clear(&r);
    }
    free(cmd);
    return rc;
}

/* Settles a job the batch query did not list, or an ended one whose exit code it
 * could not give (squeue has none). */
static int follow_up(struct slurm_provider *sp, struct cp__batch_job *j, struct cp__slurm_seen *s, cp_err *err)
{
    if (s->found && (!cp__block_state_terminal(s->state) || s->exit_code >= 0))
        return 0;
    struct cp__slurm_seen more = {.exit_code = -1};
    if (ask_scontrol(sp, j->id, &more, err) != 0)
        return -1;
    if (more.found) {
        if (!s->found || more.state == s->state)
            *s = more;
        return 0;
    }
    if (s->found)
        return 0;
    return ask_jobcomp(sp, j, s, err);
}

/* The message for j's status (NULL when there is nothing to add), into *out. -1
 * when memory runs out. */
static int message_for(const struct cp__batch_job *j, const struct cp__slurm_seen *s, char **out)
{
    char *m = NULL;
    *out = NULL;
    if (!s->found)
        m = cp__strdup_printf("job %s is known neither to squeue/sacct, scontrol nor the job "
                              "completion log (sacct -c): it ended and aged out of slurmctld "
                              "(MinJobAge) with no record of how, or never existed", j->id);
    else if (s->state == CP_BLOCK_UNKNOWN)
        m = cp__strdup_printf("Slurm state '%s' is not one cparsl knows; counted as active",
                              s->slurm_state);
    else if (j->cancelled && (s->state == CP_BLOCK_CANCELLED ||
                              !cp__block_state_terminal(s->state)))
        m = strdup("cancelled");
    else if (s->state == CP_BLOCK_TIMEOUT)
        m = cp__strdup_printf("Slurm ended it at its time limit (%s%s%s)", s->slurm_state,
                              s->reason[0] ? ", " : "", s->reason);
    else if (s->state == CP_BLOCK_CANCELLED)
        m = cp__strdup_printf("cancelled outside cparsl (Slurm state %s)", s->slurm_state);
    else if (cp__block_state_terminal(s->state) || s->state == CP_BLOCK_HELD)
        m = cp__strdup_printf("Slurm state %s%s%s", s->slurm_state,
                              s->reason[0] ? ", reason " : "", s->reason);
    else
        return 0;
    *out = m;
    return m ? 0 : -1;
}

/* The status of j after what the query said; final ones are kept. -1 on OOM. */
static int settle(struct slurm_provider *sp, struct cp__batch_job *j, const struct cp__slurm_seen *s)
{
    struct cp__block_status st = {.state = s->found ? s->state : CP_BLOCK_MISSING,
                                  .exit_code = s->found ? s->exit_code : -1};
    /* Cancelled by us and not yet ended: say so at once (provider.h). */
    if (j->cancelled && !cp__block_state_terminal(st.state))
        st.state = CP_BLOCK_CANCELLED;
    bool ended = s->found ? cp__block_state_terminal(s->state) : true;
    if ((j->script && (!(st.stdout_path = cp__strdup_printf("%s.stdout", j->script)) ||
                       !(st.stderr_path = cp__strdup_printf("%s.stderr", j->script)))))
        goto oom;
    if (message_for(j, s, &st.message) != 0)
        goto oom;
    if (ended && cp__batch_tails(&sp->b, &st) != 0)
        goto oom;
    cp__block_status_clear(&j->st);
    j->st = st;
    j->final = ended;
    if (ended)
        CP_INFO("slurm", "job %s ended: %s%s%s", j->id, cp__block_state_name(st.state),
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
static int refresh(struct slurm_provider *sp, struct cp__batch_job **todo, size_t n, cp_err *err)
{
    if (n == 0)
        return 0;
    if (probe_accounting(sp, err) != 0)
        return -1;
    struct cp__slurm_seen *seen = calloc(n, sizeof *seen);
    if (!seen)
        return oom(err);
    int rc = 0;
    for (size_t i = 0; i < n; i++)
        seen[i].exit_code = -1;
    size_t batch = sp->s.status_batch_size > 0 ? (size_t)sp->s.status_batch_size : 50;
    for (size_t at = 0; at < n && rc == 0; at += batch)
        rc = query_batch(sp, todo + at, n - at < batch ? n - at : batch, seen + at, err);
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = follow_up(sp, todo[i], &seen[i], err);
    for (size_t i = 0; i < n && rc == 0; i++)
        if (settle(sp, todo[i], &seen[i]) != 0)
            rc = oom(err);
    free(seen);
    return rc;
}

static int slurm_status(struct cp__provider *p, const char *const *ids, size_t n,
                        struct cp__block_status *out, cp_err *err)
{
    struct slurm_provider *sp = (struct slurm_provider *)p;
    for (size_t i = 0; i < n; i++)
        out[i] = (struct cp__block_status){.state = CP_BLOCK_UNKNOWN, .exit_code = -1};
    struct cp__batch_job **todo = calloc(n ? n : 1, sizeof *todo), **jobs = calloc(n ? n : 1, sizeof *jobs);
    size_t ntodo = 0;
    int rc = 0;
    pthread_mutex_lock(&sp->mu);
    if (!todo || !jobs) {
        rc = oom(err);
        goto done;
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (!cp__slurm_job_id_ok(ids[i]))
            continue;
        /* A job id submitted elsewhere (an earlier engine on this run) is asked
         * about all the same: ids are the scheduler's. */
        if (!(jobs[i] = cp__batch_job_find(sp->jobs, ids[i])) && !(jobs[i] = cp__batch_job_add(&sp->jobs, ids[i], NULL))) {
            rc = oom(err);
            break;
        }
        bool dup = false;
        for (size_t k = 0; k < ntodo; k++)
            dup |= todo[k] == jobs[i];
        if (!jobs[i]->final && !dup)
            todo[ntodo++] = jobs[i];
    }
    if (rc == 0)
        rc = refresh(sp, todo, ntodo, err);
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (!jobs[i]) {
            out[i].state = CP_BLOCK_MISSING;
            if (!(out[i].message = cp__strdup_printf("'%.40s' is not a Slurm job id",
                                                     ids[i] ? ids[i] : "(null)")))
                rc = oom(err);
        } else if (copy_status(&jobs[i]->st, &out[i]) != 0) {
            rc = oom(err);
        }
    }
done:
    pthread_mutex_unlock(&sp->mu);
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

/* scancel of the ids in jobs (n > 0). */
static int scancel(struct slurm_provider *sp, struct cp__batch_job *const *jobs, size_t n, cp_err *err)
{
    char *ids = id_list(jobs, n);
    for (char *c = ids; c && *c; c++)
        if (*c == ',')
            *c = ' ';
    char *cmd = ids ? cp__strdup_printf("scancel%s %s", sp->scope, ids) : NULL;
    free(ids);
    if (!cmd)
        return oom(err);
    struct cp__channel_result r;
    int rc = run(sp, cmd, &r, err);
    if (rc == 0 && r.exit_code != 0) {
        char text[300];
        rc = cp__errf(err, EIO, "scancel failed (exit %d): %s", r.exit_code,
                      cp__batch_output_text(&r, text, sizeof text));
    }
    if (rc == 0) {
        for (size_t i = 0; i < n; i++)
            jobs[i]->cancelled = true;
        CP_INFO("slurm", "cancelled: %s", cmd);
    }
    cp__channel_result_clear(&r);
    free(cmd);
    return rc;
}

static int slurm_cancel(struct cp__provider *p, const char *const *ids, size_t n,
                        bool *cancelled, cp_err *err)
{
    struct slurm_provider *sp = (struct slurm_provider *)p;
    struct cp__batch_job **todo = calloc(n ? n : 1, sizeof *todo);
    size_t ntodo = 0;
    int rc = 0;
    if (cancelled)
        for (size_t i = 0; i < n; i++)
            cancelled[i] = false;
    if (!todo)
        return oom(err);
    pthread_mutex_lock(&sp->mu);
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (!cp__slurm_job_id_ok(ids[i])) {
            rc = cp__errf(err, EINVAL, "cannot cancel '%.40s': not a Slurm job id",
                          ids[i] ? ids[i] : "(null)");
            break;
        }
        struct cp__batch_job *j = cp__batch_job_find(sp->jobs, ids[i]);
        if (!j && !(j = cp__batch_job_add(&sp->jobs, ids[i], NULL))) {
            rc = oom(err);
            break;
        }
        if (!j->final && !j->cancelled)
            todo[ntodo++] = j;
    }
    if (rc == 0 && ntodo > 0)
        rc = scancel(sp, todo, ntodo, err);
    if (rc == 0 && cancelled)
        for (size_t i = 0; i < n; i++)
            cancelled[i] = true;
    pthread_mutex_unlock(&sp->mu);
    free(todo);
    return rc;
}

/* ------------------------------------------------------------ submit */

/* After sbatch ran past its limit: the job it may have queued, by its unique
 * name. Caller frees; NULL when there is none. */
static char *find_by_name(struct slurm_provider *sp, const char *name)
{
    char *q = cp__shell_quote(name);
    char *cmd = q ? cp__strdup_printf("squeue%s --noheader --states=all --format=%%i --name=%s",
                                      sp->scope, q) : NULL;
    free(q);
    struct cp__channel_result r;
    cp_err err = {0};
    char *id = NULL;
    if (cmd && run(sp, cmd, &r, &err) == 0) {
        const char *l = r.out ? r.out + strspn(r.out, " \n") : "";
        size_t len = strspn(l, "0123456789");
        if (r.exit_code == 0 && len > 0 && len <= 20)
            id = strndup(l, len);
        cp__channel_result_clear(&r);
    }
    free(cmd);
    return id;
}

static char *slurm_submit(struct cp__provider *p, const char *block_id, const char *cmd,
                          int tasks_per_node, const char *job_name, cp_err *err)
{
    struct slurm_provider *sp = (struct slurm_provider *)p;
    char *safe = cp__batch_safe_name(job_name), *name = NULL, *local = NULL, *remote = NULL;
    char *text = NULL, *q = NULL, *sbatch = NULL, *id = NULL;
    struct cp__channel_result r = {0};
    const char *bid = block_id ? block_id : "?";
    pthread_mutex_lock(&sp->mu);
    /* Parsl's job names end with the time, so each block's files are its own. */
    if (!safe || !(name = cp__strdup_printf("%s.%ld", safe, (long)time(NULL)))) {
        oom(err);
        goto error;
    }
    if (cp__batch_reserve(&sp->b, name, ".submit", &local, &remote, err) != 0)
        goto error;
    const char *base = strrchr(local, '/') + 1;
    char *unique = strndup(base, strlen(base) - strlen(".submit"));
    if (!unique) {
        oom(err);
        goto error;
    }
    free(name);
    name = unique;
    if (!(text = cp__slurm_script(&sp->s, &sp->c, cmd, tasks_per_node, name, remote, err)) ||
        cp__batch_store(&sp->b, local, remote, text, err) != 0)
        goto error;
    if (!(q = cp__shell_quote(remote)) || !(sbatch = cp__strdup_printf("sbatch %s", q))) {
        oom(err);
        goto error;
    }
    if (run(sp, sbatch, &r, err) != 0) {
        /* It may have reached slurmctld all the same. */
        if (err && err->code == ETIMEDOUT && (id = find_by_name(sp, name))) {
            CP_WARN("slurm", "sbatch for block %s did not answer in time, but job %s has its "
                    "name: taking it as the block", bid, id);
        } else {
            cp__err_prefix(err, "submitting block %s (%s)", bid, remote);
            goto error;
        }
    } else if (r.exit_code != 0) {
        char out[400];
        cp__errf(err, EIO, "sbatch rejected block %s (exit %d, script %s): %s", bid,
                 r.exit_code, remote, cp__batch_output_text(&r, out, sizeof out));
        goto error;
    } else if (!(id = cp__slurm_parse_job_id(r.out))) {
        char out[300];
        cp__errf(err, EPROTO, "sbatch accepted block %s but named no job id: '%s'", bid,
                 cp__batch_output_text(&r, out, sizeof out));
        goto error;
    }
    struct cp__batch_job *j = cp__batch_job_find(sp->jobs, id);
    if (j) {                    /* an id reused after a cluster reset */
        free(j->script);
        cp__block_status_clear(&j->st);
        j->st = (struct cp__block_status){.state = CP_BLOCK_UNKNOWN, .exit_code = -1};
        j->final = j->cancelled = false;
        if (!(j->script = strdup(remote)))
            j = NULL;
    } else {
        j = cp__batch_job_add(&sp->jobs, id, remote);
    }
    if (!j) {
        /* Queued but impossible to track: cancel it rather than lose it. */
        struct cp__batch_job tmp = {.id = id};
        struct cp__batch_job *one[1] = {&tmp};
        cp_err e2 = {0};
        if (scancel(sp, one, 1, &e2) != 0)
            CP_WARN("slurm", "job %s could not be tracked nor cancelled: %s", id, e2.text);
        oom(err);
        goto error;
    }
    CP_INFO("slurm", "block %s submitted as job %s (%s)", bid, id, remote);
    cp__channel_result_clear(&r);
    pthread_mutex_unlock(&sp->mu);
    free(safe);
    free(name);
    free(local);
    free(remote);
    free(text);
    free(q);
    free(sbatch);
    return id;
error:
    cp__channel_result_clear(&r);
    pthread_mutex_unlock(&sp->mu);
    free(safe);
    free(name);
    free(local);
    free(remote);
    free(text);
    free(q);
    free(sbatch);
    free(id);
    return NULL;
}

/* ------------------------------------------------------------ create/destroy */

static void slurm_destroy(struct cp__provider *p)
{
    struct slurm_provider *sp = (struct slurm_provider *)p;
    if (!sp)
        return;
    /* Parsl cancels every block at shutdown: ours that have not ended go now. */
    size_t n = 0;
    for (struct cp__batch_job *j = sp->jobs; j; j = j->next)
        n += j->script && !j->final && !j->cancelled;
    struct cp__batch_job **todo = n ? calloc(n, sizeof *todo) : NULL;
    if (todo && sp->b_open) {
        size_t k = 0;
        for (struct cp__batch_job *j = sp->jobs; j; j = j->next)
            if (j->script && !j->final && !j->cancelled)
                todo[k++] = j;
        cp_err err = {0};
        if (scancel(sp, todo, k, &err) != 0)
            CP_WARN("slurm", "at shutdown: %s", err.text);
    }
    free(todo);
    while (sp->jobs) {
        struct cp__batch_job *j = sp->jobs;
        sp->jobs = j->next;
        cp__batch_job_free(j);
    }
    if (sp->b_open)
        cp__batch_close(&sp->b);
    free(sp->s.partition);
    free(sp->s.account);
    free(sp->s.qos);
    free(sp->s.constraint);
    free(sp->s.clusters);
    free(sp->s.gpus_per_node);
    free(sp->s.gres);
    free(sp->s.scheduler_options);
    free(sp->c.worker_init);
    free(sp->scope);
    pthread_mutex_destroy(&sp->mu);
    free(sp);
}

static int dup_opt(const char *in, char **out)
{
    *out = NULL;
    return in && !(*out = strdup(in)) ? -1 : 0;
}

/* The settings the provider keeps (the config is freed once the run starts). */
static int keep_settings(struct slurm_provider *sp, const struct cp__provider_config *cfg)
{
    const struct cp__slurm_settings *in = cfg->settings;
    struct cp__slurm_settings *s = &sp->s;
    s->exclusive = true;
    s->cmd_timeout = 10;
    s->status_batch_size = 50;
    if (in) {
        s->exclusive = in->exclusive;
        s->cmd_timeout = in->cmd_timeout;
        s->status_batch_size = in->status_batch_size;
        s->cores_per_node = in->cores_per_node;
        s->mem_per_node = in->mem_per_node;
        if (dup_opt(in->partition, &s->partition) || dup_opt(in->account, &s->account) ||
            dup_opt(in->qos, &s->qos) || dup_opt(in->constraint, &s->constraint) ||
            dup_opt(in->clusters, &s->clusters) ||
            dup_opt(in->gpus_per_node, &s->gpus_per_node) || dup_opt(in->gres, &s->gres))
            return -1;
    }
    if (!(s->scheduler_options = strdup(in && in->scheduler_options ? in->scheduler_options : "")))
        return -1;
    sp->c = cfg->common;
    sp->c.launcher = NULL;
    sp->c.worker_init = NULL;
    if (!(sp->c.worker_init = strdup(cfg->common.worker_init ? cfg->common.worker_init : "")))
        return -1;
    sp->scope = s->clusters ? cp__strdup_printf(" --clusters=%s", s->clusters) : strdup("");
    return sp->scope ? 0 : -1;
}

static struct slurm_provider *new_provider(const struct cp__provider_config *cfg, cp_err *err)
{
    struct slurm_provider *sp = calloc(1, sizeof *sp);
    if (!sp) {
        oom(err);
        return NULL;
    }
    sp->base.ops = &cp__provider_slurm;
    sp->accounting = -1;
    pthread_mutex_init(&sp->mu, NULL);
    if (keep_settings(sp, cfg) != 0) {
        oom(err);
        slurm_destroy(&sp->base);
        return NULL;
    }
    return sp;
}

static struct cp__provider *slurm_create(const struct cp__provider_config *cfg,
                                         const char *run_dir, cp_err *err)
{
    struct slurm_provider *sp = new_provider(cfg, err);
    if (!sp)
        return NULL;
    const struct cp__slurm_settings *in = cfg->settings;
    struct cp__channel_config local;
    cp__channel_config_local(&local);
    if (cp__batch_open(&sp->b, "slurm", in ? &in->channel : &local, sp->s.cmd_timeout, run_dir,
                       err) != 0) {
        slurm_destroy(&sp->base);
        return NULL;
    }
    sp->b_open = true;
    CP_INFO("slurm", "provider on %s: scripts in %s%s%s", cp__channel_describe(sp->b.ch),
            sp->b.remote_dir, sp->scope[0] ? "," : "", sp->scope);
    return &sp->base;
}

struct cp__provider *cp__slurm_create_with(const struct cp__provider_config *cfg,
                                           const char *run_dir, struct cp__channel *ch,
                                           const char *remote_dir, cp_err *err)
{
    struct slurm_provider *sp = new_provider(cfg, err);
    if (!sp) {
        cp__channel_close(ch);
        return NULL;
    }
    if (cp__batch_open_with(&sp->b, "slurm", ch, remote_dir, sp->s.cmd_timeout, run_dir,
                            err) != 0) {
        slurm_destroy(&sp->base);
        return NULL;
    }
    sp->b_open = true;
    return &sp->base;
}

/* ------------------------------------------------------------ the type */

static const struct cp__provider_common slurm_defaults = {
    .nodes_per_block = 1,
    .init_blocks = 1,
    .min_blocks = 0,
    .max_blocks = 1,
    .parallelism = 1.0,
    .walltime = 600,            /* Parsl's 00:10:00 */
    .worker_init = "",
};

const struct cp__provider_ops cp__provider_slurm = {
    .name = "slurm",
    .keys = cp__slurm_keys,
    .defaults = &slurm_defaults,
    .default_launcher = "single_node",
    .status_polling_interval = 60.0,
    .has_walltime = true,
    .parse = cp__slurm_parse,
    .free_settings = cp__slurm_free_settings,
    .create = slurm_create,
    .submit = slurm_submit,
    .status = slurm_status,
    .cancel = slurm_cancel,
    .destroy = slurm_destroy,
    .render = cp__slurm_render,
};
