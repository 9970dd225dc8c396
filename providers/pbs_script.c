/* providers/pbs_script.c — the `pbspro` and `torque` providers' settings and their
 * batch script (pbs.h). Nothing here runs anything.
 *
 * Injection. PBS reads the #PBS comment lines of a script as qsub options until
 * the first command; a config value with a newline in it would end its comment
 * and become a command. So every value that goes into a directive is checked
 * against the characters PBS's own syntax for it uses (no blanks, quotes,
 * newlines, '#'), output paths are limited to a plain set of characters (PBS
 * reads "host:path", and Slurm's Torque wrapper passes them through a shell
 * unquoted), the job name is reduced to [A-Za-z0-9_.-], and JOBNAME is a quoted
 * shell word. scheduler_options may only hold comment lines (#PBS …): commands
 * belong in worker_init, which is shell by design.
 */
#include "providers/pbs.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "providers/batch.h"

#define DEFAULT_CMD_TIMEOUT 120.0       /* Parsl's PBSProProvider and TorqueProvider */
#define VALUE_MAX 256
#define PATH_MAX_BYTES 4000
#define NAME_MAX_BYTES 200

const char *const cp__pbspro_keys[] = {
    "account", "queue", "select_options", "cpus_per_node", "scheduler_options",
    "cmd_timeout", "channel", NULL,
};

const char *const cp__torque_keys[] = {
    "account", "queue", "scheduler_options", "cmd_timeout", "channel", NULL,
};

/* Characters each directive value may hold, beyond ASCII letters and digits. */
#define ACCOUNT_EXTRA "_.-+@"
#define QUEUE_EXTRA "_.-+@:"           /* queue, or queue@server[:port] */
#define SELECT_EXTRA "_.-+=:,@"        /* ngpus=4:mem=32gb, chunks joined by '+' */
#define PATH_EXTRA "/_.-+~@,="

static int oom(cp_err *err)
{
    return cp__errf(err, ENOMEM, "out of memory");
}

static const char *flavor_name(enum cp__pbs_flavor f)
{
    return f == CP_PBS_TORQUE ? "torque" : "pbspro";
}

bool cp__pbs_path_ok(const char *path)
{
    return cp__batch_chars_ok(path, PATH_EXTRA, PATH_MAX_BYTES);
}

char *cp__pbs_job_name(const char *job_name)
{
    char *safe = cp__batch_safe_name(job_name);
    if (!safe || isalpha((unsigned char)safe[0]))
        return safe;
    char *named = cp__strdup_printf("p%.*s", NAME_MAX_BYTES - 1, safe);
    free(safe);
    return named;
}

/* ------------------------------------------------------------ settings */

void cp__pbs_free_settings(void *p)
{
    struct cp__pbs_settings *s = p;
    if (!s)
        return;
    free(s->account);
    free(s->queue);
    free(s->select_options);
    free(s->scheduler_options);
    cp__channel_config_fini(&s->channel);
    free(s);
}

static int parse(const struct cp__ynode *map, enum cp__pbs_flavor f, void **out, cp_err *err)
{
    struct cp__pbs_settings *s = calloc(1, sizeof *s);
    if (!s)
        return oom(err);
    s->flavor = f;
    s->cpus_per_node = 1;
    s->cmd_timeout = DEFAULT_CMD_TIMEOUT;
    cp__channel_config_local(&s->channel);
    const struct cp__ynode *n;
    if (cp__batch_key_value(map, "account", ACCOUNT_EXTRA, VALUE_MAX, "PBS", "account name",
                            &s->account, err) ||
        cp__batch_key_value(map, "queue", QUEUE_EXTRA, VALUE_MAX, "PBS",
                            "queue (queue or queue@server)", &s->queue, err) ||
        cp__batch_key_options(map, "#PBS", &s->scheduler_options, err) ||
        cp__batch_key_timeout(map, &s->cmd_timeout, err))
        goto error;
    if (f == CP_PBS_PRO) {
        if (cp__batch_key_value(map, "select_options", SELECT_EXTRA, VALUE_MAX, "PBS",
                                "select chunk resource list", &s->select_options, err))
            goto error;
        /* It may be written with the ':' that joins it to the chunk. */
        if (s->select_options && s->select_options[0] == ':')
            memmove(s->select_options, s->select_options + 1, strlen(s->select_options));
        if (!cp__ynode_is_null(n = cp__ymap_get(map, "cpus_per_node"))) {
            long v;
            if (cp__ynode_long(n, "cpus_per_node", &v, err) != 0)
                goto error;
            if (v < 1 || v > (1 << 20)) {
                cp__yerr(err, n, "cpus_per_node must be an integer from 1 to %d, got '%s'",
                         1 << 20, n->str);
                goto error;
            }
            s->cpus_per_node = (int)v;
        }
    }
    if (!cp__ynode_is_null(n = cp__ymap_get(map, "channel"))) {
        char where[64];
        snprintf(where, sizeof where, "channel of the %s provider", flavor_name(f));
        if (cp__channel_config_parse(n, where, &s->channel, err) != 0)
            goto error;
    }
    *out = s;
    return 0;
error:
    cp__pbs_free_settings(s);
    return -1;
}

int cp__pbspro_parse(const struct cp__ynode *map, void **out, cp_err *err)
{
    return parse(map, CP_PBS_PRO, out, err);
}

int cp__torque_parse(const struct cp__ynode *map, void **out, cp_err *err)
{
    return parse(map, CP_PBS_TORQUE, out, err);
}

/* ------------------------------------------------------------ the script */

static int check_values(const struct cp__pbs_settings *s, cp_err *err)
{
    const char *name = flavor_name(s->flavor);
    if (s->account && !cp__batch_chars_ok(s->account, ACCOUNT_EXTRA, VALUE_MAX))
        return cp__errf(err, EINVAL, "%s provider: account '%.80s' cannot go into a batch "
                        "script", name, s->account);
    if (s->queue && !cp__batch_chars_ok(s->queue, QUEUE_EXTRA, VALUE_MAX))
        return cp__errf(err, EINVAL, "%s provider: queue '%.80s' cannot go into a batch script",
                        name, s->queue);
    if (s->flavor == CP_PBS_PRO && s->select_options &&
        !cp__batch_chars_ok(s->select_options, SELECT_EXTRA, VALUE_MAX))
        return cp__errf(err, EINVAL, "%s provider: select_options '%.80s' cannot go into a "
                        "batch script", name, s->select_options);
    int line;
    if (s->scheduler_options && cp__batch_command_line(s->scheduler_options, &line))
        return cp__errf(err, EINVAL, "%s provider: scheduler_options line %d is not a "
                        "directive", name, line);
    return 0;
}

/* Text that ends with exactly one newline (nothing for empty text). */
static void put_lines(FILE *f, const char *text)
{
    size_t n = text ? strlen(text) : 0;
    if (n)
        fprintf(f, "%s%s", text, text[n - 1] == '\n' ? "" : "\n");
}

char *cp__pbs_script(const struct cp__pbs_settings *s, const struct cp__provider_common *c,
                     const char *cmd, int tasks_per_node, const char *job_name,
                     const char *script_path, bool check_path, cp_err *err)
{
    const char *pname = flavor_name(s->flavor);
    if (!cmd) {
        cp__errf(err, EINVAL, "%s provider: no command", pname);
        return NULL;
    }
    if (check_values(s, err) != 0)
        return NULL;
    if (!script_path || (check_path && !cp__pbs_path_ok(script_path))) {
        cp__errf(err, EINVAL, "%s provider: the script path '%.200s' cannot be named in #PBS "
                 "lines (PBS paths here may hold only letters, digits and '%s'); choose a run "
                 "directory or a channel script_dir without blanks or other characters",
                 pname, script_path ? script_path : "", PATH_EXTRA);
        return NULL;
    }
    if (tasks_per_node < 1)
        tasks_per_node = 1;
    char *name = cp__pbs_job_name(job_name);
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
    char hms[32];
    cp__walltime_hms(c->walltime > 0 ? c->walltime : 1200, hms, sizeof hms);
    int nodes = c->nodes_per_block > 0 ? c->nodes_per_block : 1;
    fprintf(f, "#!/bin/bash\n\n");
    /* PBS runs a script with the user's login shell unless told: ours is bash. */
    fprintf(f, "#PBS -S /bin/bash\n");
    fprintf(f, "#PBS -N %s\n", name);
    fprintf(f, "#PBS -m n\n");
    fprintf(f, "#PBS -l walltime=%s\n", hms);
    if (s->flavor == CP_PBS_PRO)
        fprintf(f, "#PBS -l select=%d:ncpus=%d%s%s\n", nodes,
                s->cpus_per_node > 0 ? s->cpus_per_node : 1, s->select_options ? ":" : "",
                s->select_options ? s->select_options : "");
    else
        fprintf(f, "#PBS -l nodes=%d:ppn=%d\n", nodes, tasks_per_node);
    fprintf(f, "#PBS -o %s.stdout\n", script_path);
    fprintf(f, "#PBS -e %s.stderr\n", script_path);
    if (s->queue)
        fprintf(f, "#PBS -q %s\n", s->queue);
    if (s->account)
        fprintf(f, "#PBS -A %s\n", s->account);
    put_lines(f, s->scheduler_options);
    fputc('\n', f);
    put_lines(f, c->worker_init);
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

char *cp__pbs_render(const struct cp__provider_config *cfg, const char *cmd, int tasks_per_node,
                     const char *job_name, const char *script_path, cp_err *err)
{
    struct cp__pbs_settings defaults = {
        .flavor = strcmp(cfg->type->name, "torque") == 0 ? CP_PBS_TORQUE : CP_PBS_PRO,
        .cpus_per_node = 1,
        .scheduler_options = (char *)"",
    };
    const struct cp__pbs_settings *s = cfg->settings ? cfg->settings : &defaults;
    char *placeholder = NULL;
    bool check = script_path != NULL;
    if (!script_path) {
        char *name = cp__pbs_job_name(job_name);
        placeholder = name ? cp__strdup_printf("<script_dir>/%s.submit", name) : NULL;
        free(name);
        if (!placeholder) {
            oom(err);
            return NULL;
        }
        script_path = placeholder;
    }
    char *text = cp__pbs_script(s, &cfg->common, cmd, tasks_per_node, job_name, script_path,
                                check, err);
    free(placeholder);
    return text;
}
