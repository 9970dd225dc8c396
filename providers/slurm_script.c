/* providers/slurm_script.c — the `slurm` provider's settings, its batch script
 * and what Slurm's tools say, read back (slurm.h). Nothing here runs anything.
 *
 * Injection. A batch script is a shell script whose #SBATCH comment lines sbatch
 * reads as options until the first command. A config value with a newline in it
 * would end its comment and become a command, so every value that goes into a
 * directive is checked against the characters Slurm's own syntax for it uses
 * (no blanks, quotes, newlines), paths are double-quoted and may not hold '"',
 * '\\' or '%', the job name is reduced to [A-Za-z0-9_.-], and JOBNAME is a
 * quoted shell word. scheduler_options may only hold comment lines (#SBATCH …):
 * commands belong in worker_init, which is shell by design.
 */
#include "providers/slurm.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/util.h"
#include "providers/batch.h"

#define DEFAULT_CMD_TIMEOUT 10.0        /* Parsl's SlurmProvider */
#define DEFAULT_BATCH_SIZE 50
#define VALUE_MAX 256

const char *const cp__slurm_keys[] = {
    "partition", "account", "qos", "constraint", "clusters", "cores_per_node",
    "mem_per_node", "gpus_per_node", "gres", "exclusive", "scheduler_options",
    "cmd_timeout", "status_batch_size", "channel", NULL,
};

/* Characters each directive value may hold, beyond ASCII letters and digits. */
#define NAME_EXTRA "_.-+"                   /* partition, account, qos */
#define LIST_EXTRA "_.-+,"                  /* clusters: a comma list */
#define CONSTRAINT_EXTRA "_.-+,&|[]()*!:="  /* features with Slurm's operators */
#define GRES_EXTRA "_.-+,:=/"               /* gpu:a100:2,shard:1 */
#define GPUS_EXTRA "_.-:,"                  /* 2, a100:2 */

static int oom(cp_err *err)
{
    return cp__errf(err, ENOMEM, "out of memory");
}

/* ------------------------------------------------------------ settings */

void cp__slurm_free_settings(void *p)
{
    struct cp__slurm_settings *s = p;
    if (!s)
        return;
    free(s->partition);
    free(s->account);
    free(s->qos);
    free(s->constraint);
    free(s->clusters);
    free(s->gpus_per_node);
    free(s->gres);
    free(s->scheduler_options);
    cp__channel_config_fini(&s->channel);
    free(s);
}

static int value(const struct cp__ynode *map, const char *key, const char *extra,
                 const char *what, char **out, cp_err *err)
{
    return cp__batch_key_value(map, key, extra, VALUE_MAX, "Slurm", what, out, err);
}

static int int_value(const struct cp__ynode *map, const char *key, long lo, long hi, int *out,
                     cp_err *err)
{
    const struct cp__ynode *n = cp__ymap_get(map, key);
    if (cp__ynode_is_null(n))
        return 0;
    long v;
    if (cp__ynode_long(n, key, &v, err) != 0)
        return -1;
    if (v < lo || v > hi)
        return cp__yerr(err, n, "%s must be an integer from %ld to %ld, got '%s'", key, lo, hi,
                        n->str);
    *out = (int)v;
    return 0;
}

int cp__slurm_parse(const struct cp__ynode *map, void **out, cp_err *err)
{
    struct cp__slurm_settings *s = calloc(1, sizeof *s);
    if (!s)
        return oom(err);
    s->exclusive = true;
    s->cmd_timeout = DEFAULT_CMD_TIMEOUT;
    s->status_batch_size = DEFAULT_BATCH_SIZE;
    cp__channel_config_local(&s->channel);
    const struct cp__ynode *n;
    if (value(map, "partition", NAME_EXTRA, "partition name", &s->partition, err) ||
        value(map, "account", NAME_EXTRA, "account name", &s->account, err) ||
        value(map, "qos", NAME_EXTRA, "QOS name", &s->qos, err) ||
        value(map, "clusters", LIST_EXTRA, "cluster list", &s->clusters, err) ||
        value(map, "constraint", CONSTRAINT_EXTRA, "constraint", &s->constraint, err) ||
        value(map, "gres", GRES_EXTRA, "gres list", &s->gres, err) ||
        value(map, "gpus_per_node", GPUS_EXTRA, "GPU count ([type:]count)", &s->gpus_per_node,
              err) ||
        int_value(map, "cores_per_node", 1, 1 << 20, &s->cores_per_node, err) ||
        int_value(map, "mem_per_node", 1, 1 << 24, &s->mem_per_node, err) ||
        int_value(map, "status_batch_size", 1, 10000, &s->status_batch_size, err) ||
        cp__batch_key_options(map, "#SBATCH", &s->scheduler_options, err) ||
        cp__batch_key_timeout(map, &s->cmd_timeout, err))
        goto error;
    if (!cp__ynode_is_null(n = cp__ymap_get(map, "exclusive")) &&
        cp__ynode_bool(n, "exclusive", &s->exclusive, err) != 0)
        goto error;
    if (!cp__ynode_is_null(n = cp__ymap_get(map, "channel")) &&
        cp__channel_config_parse(n, "channel of the slurm provider", &s->channel, err) != 0)
        goto error;
    *out = s;
    return 0;
error:
    cp__slurm_free_settings(s);
    return -1;
}

/* ------------------------------------------------------------ the script */

struct check {
    const char *key, *value, *extra;
};

static int check_values(const struct cp__slurm_settings *s, cp_err *err)
{
    const struct check checks[] = {
        {"partition", s->partition, NAME_EXTRA},     {"account", s->account, NAME_EXTRA},
        {"qos", s->qos, NAME_EXTRA},                 {"clusters", s->clusters, LIST_EXTRA},
        {"constraint", s->constraint, CONSTRAINT_EXTRA}, {"gres", s->gres, GRES_EXTRA},
        {"gpus_per_node", s->gpus_per_node, GPUS_EXTRA},
    };
    for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++)
        if (checks[i].value && !cp__batch_chars_ok(checks[i].value, checks[i].extra, VALUE_MAX))
            return cp__errf(err, EINVAL, "slurm provider: %s '%.80s' cannot go into a batch "
                            "script", checks[i].key, checks[i].value);
    int line;
    if (s->scheduler_options && cp__batch_command_line(s->scheduler_options, &line))
        return cp__errf(err, EINVAL, "slurm provider: scheduler_options line %d is not a "
                        "directive", line);
    return 0;
}

/* Text that ends with exactly one newline (nothing for empty text). */
static void put_lines(FILE *f, const char *text)
{
    size_t n = text ? strlen(text) : 0;
    if (n)
        fprintf(f, "%s%s", text, text[n - 1] == '\n' ? "" : "\n");
}

char *cp__slurm_script(const struct cp__slurm_settings *s, const struct cp__provider_common *c,
                       const char *cmd, int tasks_per_node, const char *job_name,
                       const char *script_path, cp_err *err)
{
    if (!cmd) {
        cp__errf(err, EINVAL, "slurm provider: no command");
        return NULL;
    }
    if (check_values(s, err) != 0)
        return NULL;
    if (!cp__batch_path_ok(script_path)) {
        cp__errf(err, EINVAL, "slurm provider: the script path '%.200s' cannot be named in "
                 "#SBATCH lines (empty, or holds a control character, '\"', '\\\\' or '%%'); "
                 "choose another run directory or channel script_dir", script_path ? script_path : "");
        return NULL;
    }
    if (tasks_per_node < 1)
        tasks_per_node = 1;
    char *name = cp__batch_safe_name(job_name);
    char *qname = name ? cp__shell_quote(name) : NULL;
    char *text = NULL;
    size_t len = 0;
    FILE *f = qname ? open_memstream(&text, &len) : NULL;
    if (!f) {
        free(name);
        free(qname);
        oom(err);
        return NULL;
    }
    long minutes = c->walltime > 0 ? (c->walltime + 59) / 60 : 10;
    fprintf(f, "#!/bin/bash\n\n");
    fprintf(f, "#SBATCH --job-name=%s\n", name);
    fprintf(f, "#SBATCH --output=\"%s.stdout\"\n", script_path);
    fprintf(f, "#SBATCH --error=\"%s.stderr\"\n", script_path);
    fprintf(f, "#SBATCH --nodes=%d\n", c->nodes_per_block > 0 ? c->nodes_per_block : 1);
    fprintf(f, "#SBATCH --time=%ld\n", minutes);
    fprintf(f, "#SBATCH --ntasks-per-node=%d\n", tasks_per_node);
    put_lines(f, s->scheduler_options);
    if (s->exclusive)
        fputs("#SBATCH --exclusive\n", f);
    if (s->partition)
        fprintf(f, "#SBATCH --partition=%s\n", s->partition);
    if (s->account)
        fprintf(f, "#SBATCH --account=%s\n", s->account);
    if (s->qos)
        fprintf(f, "#SBATCH --qos=%s\n", s->qos);
    if (s->constraint)
        fprintf(f, "#SBATCH --constraint=%s\n", s->constraint);
    if (s->clusters)
        fprintf(f, "#SBATCH --clusters=%s\n", s->clusters);
    if (s->gpus_per_node)
        fprintf(f, "#SBATCH --gpus-per-node=%s\n", s->gpus_per_node);
    if (s->gres)
        fprintf(f, "#SBATCH --gres=%s\n", s->gres);
    if (s->mem_per_node > 0)
        fprintf(f, "#SBATCH --mem=%dg\n", s->mem_per_node);
    if (s->cores_per_node > 0) {
        int cpt = s->cores_per_node / tasks_per_node;
        fprintf(f, "#SBATCH --cpus-per-task=%d\n", cpt > 0 ? cpt : 1);
    }
    fputc('\n', f);
    put_lines(f, c->worker_init);
    if (s->cores_per_node > 0)
        fprintf(f, "export PARSL_CORES=%d\n", s->cores_per_node);
    if (s->mem_per_node > 0)
        fprintf(f, "export PARSL_MEMORY_GB=%d\n", s->mem_per_node);
    fprintf(f, "export JOBNAME=%s\n\n", qname);
    put_lines(f, cmd);
    free(name);
    free(qname);
    if (fclose(f) != 0) {
        free(text);
        oom(err);
        return NULL;
    }
    return text;
}

char *cp__slurm_render(const struct cp__provider_config *cfg, const char *cmd,
                       int tasks_per_node, const char *job_name, const char *script_path,
                       cp_err *err)
{
    struct cp__slurm_settings defaults = {.exclusive = true, .scheduler_options = (char *)""};
    const struct cp__slurm_settings *s = cfg->settings ? cfg->settings : &defaults;
    char *placeholder = NULL;
    if (!script_path) {
        char *name = cp__batch_safe_name(job_name);
        placeholder = name ? cp__strdup_printf("<script_dir>/%s.submit", name) : NULL;
        free(name);
        if (!placeholder) {
            oom(err);
            return NULL;
        }
        script_path = placeholder;
    }
    char *text = cp__slurm_script(s, &cfg->common, cmd, tasks_per_node, job_name, script_path,
                                  err);
    free(placeholder);
    return text;
}

/* ------------------------------------------------------------ reading Slurm */

struct state_name {
    const char *name;
    enum cp__block_state state;
};

/* Long names (sacct, squeue %T, scontrol) and squeue's short codes (%t). */
static const struct state_name states[] = {
    {"PENDING", CP_BLOCK_PENDING},      {"PD", CP_BLOCK_PENDING},
    {"CONFIGURING", CP_BLOCK_PENDING},  {"CF", CP_BLOCK_PENDING},
    {"REQUEUED", CP_BLOCK_PENDING},     {"RQ", CP_BLOCK_PENDING},
    {"REQUEUE_FED", CP_BLOCK_PENDING},  {"RF", CP_BLOCK_PENDING},
    {"RUNNING", CP_BLOCK_RUNNING},      {"R", CP_BLOCK_RUNNING},
    {"COMPLETING", CP_BLOCK_RUNNING},   {"CG", CP_BLOCK_RUNNING},
    {"STAGE_OUT", CP_BLOCK_RUNNING},    {"SO", CP_BLOCK_RUNNING},
    {"SIGNALING", CP_BLOCK_RUNNING},    {"SI", CP_BLOCK_RUNNING},
    {"RESIZING", CP_BLOCK_RUNNING},     {"RS", CP_BLOCK_RUNNING},
    {"CANCELLED", CP_BLOCK_CANCELLED},  {"CA", CP_BLOCK_CANCELLED},
    {"COMPLETED", CP_BLOCK_COMPLETED},  {"CD", CP_BLOCK_COMPLETED},
    {"FAILED", CP_BLOCK_FAILED},        {"F", CP_BLOCK_FAILED},
    {"NODE_FAIL", CP_BLOCK_FAILED},     {"NF", CP_BLOCK_FAILED},
    {"BOOT_FAIL", CP_BLOCK_FAILED},     {"BF", CP_BLOCK_FAILED},
    {"REVOKED", CP_BLOCK_FAILED},       {"RV", CP_BLOCK_FAILED},
    {"OUT_OF_MEMORY", CP_BLOCK_FAILED}, {"OOM", CP_BLOCK_FAILED},
    {"SPECIAL_EXIT", CP_BLOCK_FAILED},  {"SE", CP_BLOCK_FAILED},
    {"TIMEOUT", CP_BLOCK_TIMEOUT},      {"TO", CP_BLOCK_TIMEOUT},
    {"DEADLINE", CP_BLOCK_TIMEOUT},     {"DL", CP_BLOCK_TIMEOUT},
    {"PREEMPTED", CP_BLOCK_TIMEOUT},    {"PR", CP_BLOCK_TIMEOUT},
    {"SUSPENDED", CP_BLOCK_HELD},       {"S", CP_BLOCK_HELD},
    {"STOPPED", CP_BLOCK_HELD},         {"ST", CP_BLOCK_HELD},
    {"REQUEUE_HOLD", CP_BLOCK_HELD},    {"RH", CP_BLOCK_HELD},
    {"RESV_DEL_HOLD", CP_BLOCK_HELD},   {"RD", CP_BLOCK_HELD},
};

enum cp__block_state cp__slurm_state(const char *state, const char *reason)
{
    if (!state)
        return CP_BLOCK_UNKNOWN;
    state += strspn(state, " \t");
    /* sacct says "CANCELLED by 1234" and may pad with '+' when a column is cut. */
    size_t len = strcspn(state, " \t+\r\n");
    for (size_t i = 0; i < sizeof states / sizeof states[0]; i++) {
        if (strlen(states[i].name) != len || strncasecmp(states[i].name, state, len) != 0)
            continue;
        /* A held job is pending with reason JobHeldUser or JobHeldAdmin. */
        if (states[i].state == CP_BLOCK_PENDING && reason && strncmp(reason, "JobHeld", 7) == 0)
            return CP_BLOCK_HELD;
        return states[i].state;
    }
    return CP_BLOCK_UNKNOWN;
}

int cp__slurm_exit_code(const char *text)
{
    if (!text)
        return -1;
    char *end;
    errno = 0;
    long code = strtol(text, &end, 10);
    if (end == text || *end != ':' || errno || code < 0 || code > 255)
        return -1;
    const char *p = end + 1;
    long sig = strtol(p, &end, 10);
    if (end == p || (*end && !isspace((unsigned char)*end)) || sig < 0 || sig > 127)
        return -1;
    return sig ? 128 + (int)sig : (int)code;
}

bool cp__slurm_job_id_ok(const char *text)
{
    if (!text || !*text || strlen(text) > 20)
        return false;
    for (const char *c = text; *c; c++)
        if (!isdigit((unsigned char)*c))
            return false;
    return true;
}

char *cp__slurm_parse_job_id(const char *out)
{
    if (!out)
        return NULL;
    const char *p = strstr(out, "Submitted batch job ");
    if (p)
        p += strlen("Submitted batch job ");
    else
        p = out + strspn(out, " \t\r\n");      /* --parsable: "42" or "42;cluster" */
    size_t n = strspn(p, "0123456789");
    if (n == 0 || n > 20 || (p[n] && !strchr(" ;\r\n", p[n])))
        return NULL;
    return strndup(p, n);
}

/* ------------------------------------------------------------ command output */

void cp__slurm_copy(char *dst, size_t cap, const char *src, size_t len)
{
    if (len >= cap)
        len = cap - 1;
    memcpy(dst, src, len);
    dst[len] = '\0';
}

/* Fills seen[i] for jobs[i] from lines "ID|STATE|EXIT-OR-REASON" (sacct --parsable2
 * JobID,State,ExitCode, or squeue %i|%T|%r); other lines (squeue's "CLUSTER: x"
 * with --clusters) are skipped. is_exit: the third field is an exit code. */
void cp__slurm_read_lines(const char *out, bool is_exit, const char *const *ids, size_t n,
                          struct cp__slurm_seen *seen)
{
    for (const char *l = out; l && *l;) {
        size_t len = strcspn(l, "\n");
        const char *bar1 = memchr(l, '|', len);
        const char *bar2 = bar1 ? memchr(bar1 + 1, '|', len - (size_t)(bar1 + 1 - l)) : NULL;
        if (bar1 && bar2) {
            size_t idlen = (size_t)(bar1 - l);
            for (size_t i = 0; i < n; i++) {
                if (strlen(ids[i]) != idlen || strncmp(ids[i], l, idlen) != 0)
                    continue;
                struct cp__slurm_seen *s = &seen[i];
                s->found = true;
                cp__slurm_copy(s->slurm_state, sizeof s->slurm_state, bar1 + 1,
                           (size_t)(bar2 - bar1 - 1));
                const char *third = bar2 + 1;
                size_t tlen = len - (size_t)(third - l);
                char field[64];
                cp__slurm_copy(field, sizeof field, third, tlen);
                if (is_exit) {
                    s->exit_code = cp__slurm_exit_code(field);
                    s->reason[0] = '\0';
                } else {
                    s->exit_code = -1;
                    cp__slurm_copy(s->reason, sizeof s->reason, field, strlen(field));
                }
                s->state = cp__slurm_state(s->slurm_state, s->reason);
            }
        }
        l += len + (l[len] == '\n');
    }
}

/* The value of " KEY=" in scontrol's one-line record, into buf. */
bool cp__slurm_scontrol_field(const char *rec, const char *key, char *buf, size_t cap)
{
    char pat[40];
    snprintf(pat, sizeof pat, " %s=", key);
    const char *p = strstr(rec, pat);
    if (!p && strncmp(rec, pat + 1, strlen(pat + 1)) == 0)
        p = rec - 1;
    if (!p)
        return false;
    p += strlen(pat);
    cp__slurm_copy(buf, cap, p, strcspn(p, " \n"));
    return true;
}

bool cp__slurm_says_invalid_id(const struct cp__channel_result *r)
{
    return (r->err_text && strstr(r->err_text, "Invalid job id")) ||
           (r->out && strstr(r->out, "Invalid job id"));
}
