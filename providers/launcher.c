/* providers/launcher.c — the launchers of docs/launchers.md.
 *
 * Each type renders the same structure and flags as the Parsl launcher of the same
 * name, with these deliberate differences (each explained where it is written):
 *  - the command is written to its file with printf and a quoted word, not an
 *    unquoted here-document, so `$`, backquotes or a line equal to the delimiter in
 *    the command reach the file unchanged;
 *  - the command file is created owner-only, because the worker command may carry
 *    the run's secret;
 *  - paths use the script_dir and job_name we are given, quoted, rather than
 *    $JOBNAME or the job's working directory;
 *  - exit statuses are the block's real outcome (Parsl's single_node exits at the
 *    first failed `wait` under `set -e`, and aprun/jsrun/srun_mpi end with a bare
 *    `wait`, which is always 0);
 *  - debug lines are left out when debug is off rather than emitted as
 *    `[[ "0" == "1" ]] && echo`, whose status 1 would become the script's status.
 */
#include "providers/launcher.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "common/util.h"

/* More copies than this in one block is a config mistake (a product of two large
 * numbers), not a machine; refusing it also keeps WORKERCOUNT far from overflow. */
#define MAX_COPIES 1000000

const char *const cp__launcher_type_names[CP_LAUNCHER_NTYPES + 1] = {
    [CP_LAUNCHER_SIMPLE] = "simple",
    [CP_LAUNCHER_SINGLE_NODE] = "single_node",
    [CP_LAUNCHER_SRUN] = "srun",
    [CP_LAUNCHER_SRUN_MPI] = "srun_mpi",
    [CP_LAUNCHER_APRUN] = "aprun",
    [CP_LAUNCHER_JSRUN] = "jsrun",
    [CP_LAUNCHER_MPIEXEC] = "mpiexec",
    [CP_LAUNCHER_MPIRUN] = "mpirun",
    [CP_LAUNCHER_GNU_PARALLEL] = "gnu_parallel",
    [CP_LAUNCHER_WRAPPED] = "wrapped",
    [CP_LAUNCHER_NTYPES] = NULL,
};

/* Parsl's class names, so a config copied from Python gets pointed at our name. */
static const char *const parsl_names[CP_LAUNCHER_NTYPES] = {
    [CP_LAUNCHER_SIMPLE] = "SimpleLauncher",
    [CP_LAUNCHER_SINGLE_NODE] = "SingleNodeLauncher",
    [CP_LAUNCHER_SRUN] = "SrunLauncher",
    [CP_LAUNCHER_SRUN_MPI] = "SrunMPILauncher",
    [CP_LAUNCHER_APRUN] = "AprunLauncher",
    [CP_LAUNCHER_JSRUN] = "JsrunLauncher",
    [CP_LAUNCHER_MPIEXEC] = "MpiExecLauncher",
    [CP_LAUNCHER_MPIRUN] = "MpiRunLauncher",
    [CP_LAUNCHER_GNU_PARALLEL] = "GnuParallelLauncher",
    [CP_LAUNCHER_WRAPPED] = "WrappedLauncher",
};

/* The keys each type accepts in its mapping form. */
static const char *const type_keys[CP_LAUNCHER_NTYPES][5] = {
    [CP_LAUNCHER_SIMPLE] = {"type", "debug", NULL},
    [CP_LAUNCHER_SINGLE_NODE] = {"type", "debug", "fail_on_any", NULL},
    [CP_LAUNCHER_SRUN] = {"type", "debug", "overrides", NULL},
    [CP_LAUNCHER_SRUN_MPI] = {"type", "debug", "overrides", NULL},
    [CP_LAUNCHER_APRUN] = {"type", "debug", "overrides", NULL},
    [CP_LAUNCHER_JSRUN] = {"type", "debug", "overrides", NULL},
    [CP_LAUNCHER_MPIEXEC] = {"type", "debug", "bind_cmd", "overrides", NULL},
    [CP_LAUNCHER_MPIRUN] = {"type", "debug", "bash_location", "overrides", NULL},
    [CP_LAUNCHER_GNU_PARALLEL] = {"type", "debug", NULL},
    [CP_LAUNCHER_WRAPPED] = {"type", "debug", "prepend", NULL},
};

static const char *const all_keys[] = {"type", "debug", "fail_on_any", "overrides",
                                       "bind_cmd", "bash_location", "prepend", NULL};

int cp__launcher_type_find(const char *name)
{
    for (int i = 0; name && i < CP_LAUNCHER_NTYPES; i++)
        if (strcmp(name, cp__launcher_type_names[i]) == 0)
            return i;
    return -1;
}

bool cp__launcher_writes_files(enum cp__launcher_type type)
{
    return type != CP_LAUNCHER_SIMPLE && type != CP_LAUNCHER_SINGLE_NODE &&
           type != CP_LAUNCHER_WRAPPED;
}

/* ------------------------------------------------------------ lifetime */

void cp__launcher_free(struct cp__launcher *l)
{
    if (!l)
        return;
    free(l->overrides);
    free(l->bind_cmd);
    free(l->bash_location);
    free(l->prepend);
    free(l);
}

static struct cp__launcher *oom(struct cp__launcher *l, cp_err *err)
{
    cp__launcher_free(l);
    cp__errf(err, ENOMEM, "out of memory");
    return NULL;
}

struct cp__launcher *cp__launcher_new(enum cp__launcher_type type, cp_err *err)
{
    if ((int)type < 0 || type >= CP_LAUNCHER_NTYPES) {
        cp__errf(err, EINVAL, "launcher type %d is out of range", (int)type);
        return NULL;
    }
    struct cp__launcher *l = calloc(1, sizeof *l);
    if (!l)
        return oom(NULL, err);
    l->type = type;
    l->debug = true;
    l->overrides = strdup("");
    l->bind_cmd = strdup("--bind-to");
    l->bash_location = strdup("/bin/bash");
    l->prepend = strdup("");
    if (!l->overrides || !l->bind_cmd || !l->bash_location || !l->prepend)
        return oom(l, err);
    return l;
}

/* Replaces *slot with a copy of s; -1 when memory runs out (slot unchanged). */
static int set_str(char **slot, const char *s)
{
    char *c = strdup(s);
    if (!c)
        return -1;
    free(*slot);
    *slot = c;
    return 0;
}

struct cp__launcher *cp__launcher_copy(const struct cp__launcher *l, cp_err *err)
{
    if (!l) {
        cp__errf(err, EINVAL, "no launcher to copy");
        return NULL;
    }
    struct cp__launcher *c = cp__launcher_new(l->type, err);
    if (!c)
        return NULL;
    c->debug = l->debug;
    c->fail_on_any = l->fail_on_any;
    if (set_str(&c->overrides, l->overrides) || set_str(&c->bind_cmd, l->bind_cmd) ||
        set_str(&c->bash_location, l->bash_location) || set_str(&c->prepend, l->prepend))
        return oom(c, err);
    return c;
}

/* ------------------------------------------------------------ config */

static bool is_one_of(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(s, *list) == 0)
            return true;
    return false;
}

static void join(char *buf, size_t size, const char *const *words)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; words[i] && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%s", i ? ", " : "", words[i]);
}

/* The type a scalar names, or -1 with an error that suggests the nearest name
 * (or our name for a Parsl class name). */
static int read_type(const struct cp__ynode *t, const char *what, cp_err *err)
{
    const char *s;
    if (cp__ynode_str(t, what, &s, err) != 0)
        return -1;
    int type = cp__launcher_type_find(s);
    if (type >= 0)
        return type;
    for (int i = 0; i < CP_LAUNCHER_NTYPES; i++)
        if (strcasecmp(s, parsl_names[i]) == 0)
            return cp__yerr(err, t, "unknown launcher type '%.100s' (did you mean '%s'? "
                                    "Parsl's %s is spelled '%s' here)", s,
                            cp__launcher_type_names[i], parsl_names[i],
                            cp__launcher_type_names[i]);
    const char *hint = cp__did_you_mean(s, cp__launcher_type_names);
    if (hint)
        return cp__yerr(err, t, "unknown launcher type '%.100s' (did you mean '%s'?)", s, hint);
    char list[200];
    join(list, sizeof list, cp__launcher_type_names);
    return cp__yerr(err, t, "unknown launcher type '%.100s' (known: %s)", s, list);
}

/* An option that becomes shell words: one line of text. A trailing newline is
 * dropped because YAML block scalars (`|`, `>`) add one that nobody means; any
 * other line break would end the starter's command line early, so it is refused.
 * Null keeps the default. */
static int read_words(const struct cp__ynode *v, const char *what, const char *key,
                      char **slot, cp_err *err)
{
    if (cp__ynode_is_null(v))
        return 0;
    char name[160];
    snprintf(name, sizeof name, "%s.%s", what, key);
    const char *s;
    if (cp__ynode_str(v, name, &s, err) != 0)
        return -1;
    size_t len = v->len;
    while (len > 0 && strchr(" \t\r\n", s[len - 1]))
        len--;
    if (memchr(s, '\0', len))
        return cp__yerr(err, v, "%s must be text without NUL bytes", name);
    if (memchr(s, '\n', len) || memchr(s, '\r', len))
        return cp__yerr(err, v, "%s must be one line of shell words (it goes into one "
                                "command line), got a line break", name);
    char *c = strndup(s, len);
    if (!c)
        return cp__errf(err, ENOMEM, "out of memory");
    free(*slot);
    *slot = c;
    return 0;
}

static int read_option(struct cp__launcher *l, const char *key, const struct cp__ynode *v,
                       const char *what, cp_err *err)
{
    char name[160];
    snprintf(name, sizeof name, "%s.%s", what, key);
    if (strcmp(key, "debug") == 0)
        return cp__ynode_is_null(v) ? 0 : cp__ynode_bool(v, name, &l->debug, err);
    if (strcmp(key, "fail_on_any") == 0)
        return cp__ynode_is_null(v) ? 0 : cp__ynode_bool(v, name, &l->fail_on_any, err);
    if (strcmp(key, "overrides") == 0)
        return read_words(v, what, key, &l->overrides, err);
    if (strcmp(key, "bind_cmd") == 0)
        return read_words(v, what, key, &l->bind_cmd, err);
    if (strcmp(key, "bash_location") == 0) {
        if (read_words(v, what, key, &l->bash_location, err) != 0)
            return -1;
        if (!l->bash_location[0])
            return cp__yerr(err, v, "%s must name a shell (default /bin/bash)", name);
        return 0;
    }
    if (strcmp(key, "prepend") == 0)
        return read_words(v, what, key, &l->prepend, err);
    return 0; /* "type", already read */
}

/* Keys the type does not take: a key that belongs to another type gets a message
 * saying so (the usual mistake: overrides on single_node); anything else goes to
 * the shared unknown-key check with its did-you-mean. */
static int check_keys(const struct cp__ynode *m, enum cp__launcher_type type, const char *what,
                      cp_err *err)
{
    const char *const *allowed = type_keys[type];
    char where[160];
    snprintf(where, sizeof where, "%s (%s)", what, cp__launcher_type_names[type]);
    for (size_t i = 0; i < m->n; i++) {
        const char *k = cp__ymap_key(m, i);
        if (is_one_of(k, allowed))
            continue;
        if (!is_one_of(k, all_keys))
            return cp__ymap_check_keys(m, allowed, where, err);
        char list[120];
        join(list, sizeof list, allowed);
        return cp__yerr(err, cp__ymap_keynode(m, i),
                        "'%s' is not an option of launcher type %s (it takes: %s)", k,
                        cp__launcher_type_names[type], list);
    }
    return 0;
}

struct cp__launcher *cp__launcher_parse(const struct cp__ynode *n, const char *what, cp_err *err)
{
    if (!what)
        what = "launcher";
    char types[200];
    join(types, sizeof types, cp__launcher_type_names);
    if (cp__ynode_is_null(n) || n->kind == CP_Y_SEQ) {
        cp__yerr(err, n, "%s must be a launcher type (%s) or a mapping with a type, got %s",
                 what, types, n ? (n->kind == CP_Y_SEQ ? "a list" : "null") : "nothing");
        return NULL;
    }
    const struct cp__ynode *t = n;
    if (n->kind == CP_Y_MAP) {
        t = cp__ymap_get(n, "type");
        if (cp__ynode_is_null(t)) {
            cp__yerr(err, n, "%s has no type (one of: %s)", what, types);
            return NULL;
        }
    }
    char tname[160];
    snprintf(tname, sizeof tname, "%s type", what);
    int type = read_type(t, tname, err);
    if (type < 0)
        return NULL;
    struct cp__launcher *l = cp__launcher_new((enum cp__launcher_type)type, err);
    if (!l || n->kind != CP_Y_MAP)
        return l;
    if (check_keys(n, l->type, what, err) != 0)
        goto error;
    for (size_t i = 0; i < n->n; i++)
        if (read_option(l, cp__ymap_key(n, i), cp__ymap_val(n, i), what, err) != 0)
            goto error;
    /* An empty prepend would make `wrapped` a silent `simple`: more likely a
     * variable that expanded to nothing than a wish. */
    if (l->type == CP_LAUNCHER_WRAPPED && !l->prepend[0]) {
        const struct cp__ynode *p = cp__ymap_get(n, "prepend");
        cp__yerr(err, p ? p : n, "%s (wrapped) needs a non-empty prepend, the words put "
                                 "before the command (launcher: simple runs it unwrapped)",
                 what);
        goto error;
    }
    return l;
error:
    cp__launcher_free(l);
    return NULL;
}

/* ------------------------------------------------------------ rendering */

/* Everything a renderer needs, with every substituted value already quoted. */
struct ctx {
    const struct cp__launcher *l;
    const char *cmd;            /* as given: shell text */
    char *qcmd;                 /* cmd as one quoted word */
    int tpn, nodes, copies;
    char *qscript;              /* <dir>/cmd_<job>.sh */
    char *qnodes;               /* <dir>/<job>.nodes */
    char *qpfile;               /* <dir>/cmd_<job>.sh.parallel */
    char *qpline;               /* the line `sh <dir>/cmd_<job>.sh`, quoted again */
    char *qjoblog;              /* <dir>/<job>.sh.parallel.log */
};

static void ctx_fini(struct ctx *c)
{
    free(c->qcmd);
    free(c->qscript);
    free(c->qnodes);
    free(c->qpfile);
    free(c->qpline);
    free(c->qjoblog);
}

/* <dir>/<prefix><job><suffix>, quoted; NULL when memory runs out. */
static char *qpath(const char *dir, const char *prefix, const char *job, const char *suffix)
{
    size_t dl = strlen(dir);
    const char *sep = dl && dir[dl - 1] == '/' ? "" : "/";
    char *p = cp__strdup_printf("%s%s%s%s%s", dir, sep, prefix, job, suffix);
    if (!p)
        return NULL;
    char *q = cp__shell_quote(p);
    free(p);
    return q;
}

static int ctx_paths(struct ctx *c, const char *dir, const char *job)
{
    c->qscript = qpath(dir, "cmd_", job, ".sh");
    c->qnodes = qpath(dir, "", job, ".nodes");
    c->qpfile = qpath(dir, "cmd_", job, ".sh.parallel");
    c->qjoblog = qpath(dir, "", job, ".sh.parallel.log");
    if (!c->qscript || !c->qnodes || !c->qpfile || !c->qjoblog)
        return -1;
    /* Each line of the parallel file is a command line parallel hands to a shell,
     * so the path is quoted inside it, and the whole line quoted once more to be
     * printed by this script. */
    char *line = cp__strdup_printf("sh %s", c->qscript);
    if (!line)
        return -1;
    c->qpline = cp__shell_quote(line);
    free(line);
    return c->qpline ? 0 : -1;
}

/* " words", or nothing: user options go in as written, without a doubled space
 * when they are empty. */
static void words(FILE *f, const char *s)
{
    if (s && s[0])
        fprintf(f, " %s", s);
}

static void debug_line(FILE *f, const struct ctx *c, const char *indent, const char *text)
{
    if (c->l->debug)
        fprintf(f, "%secho \"%s\"\n", indent, text);
}

static void cores_local(FILE *f, const struct ctx *c)
{
    fputs("export CORES=$(getconf _NPROCESSORS_ONLN)\n", f);
    debug_line(f, c, "", "Found cores : $CORES");
}

/* The command goes to its file through printf and a quoted word. The file is
 * removed first so that umask 077 decides its mode even when a stale file of the
 * same name exists: the worker command can carry the run's secret. */
static void cmd_file(FILE *f, const struct ctx *c)
{
    fprintf(f, "\nCMD_SCRIPT=%s\n", c->qscript);
    fputs("rm -f \"$CMD_SCRIPT\"\n", f);
    fprintf(f, "(umask 077 && printf '%%s\\n' %s > \"$CMD_SCRIPT\")\n", c->qcmd);
    fputs("chmod u+x \"$CMD_SCRIPT\"\n", f);
}

/* The job's distinct nodes, one per line, into the file named by var. */
static void node_file(FILE *f, const char *var, const char *qpath, const char *local)
{
    fprintf(f, "\n# Deduplicate the nodefile\n%s=%s\n", var, qpath);
    fputs("if [ -z \"$PBS_NODEFILE\" ]; then\n", f);
    fprintf(f, "    echo \"%s\" > \"$%s\"\n", local, var);
    fputs("else\n", f);
    fprintf(f, "    sort -u \"$PBS_NODEFILE\" > \"$%s\"\n", var);
    fputs("fi\n", f);
}

static void render_simple(FILE *f, const struct ctx *c)
{
    size_t n = strlen(c->cmd);
    fputs(c->cmd, f);
    if (c->cmd[n - 1] != '\n')
        fputc('\n', f);
}

static void render_wrapped(FILE *f, const struct ctx *c)
{
    fprintf(f, "%s ", c->l->prepend);
    render_simple(f, c);
}

/* The copies run as background subshells of this script. The command is eval'd
 * from a quoted word inside CMD, so no text in it can close the function or the
 * loop around it; each copy gets its number (1…N) as $1, as in Parsl. `wait` sits
 * in an if: under set -e a bare failing `wait` would end the script at the first
 * failed copy (Parsl's bug), leaving the others unwaited. */
static void render_single_node(FILE *f, const struct ctx *c)
{
    fputs("set -e\n", f);
    cores_local(f, c);
    fprintf(f, "WORKERCOUNT=%d\nFAILONANY=%d\nPIDS=\"\"\n\n", c->copies, c->l->fail_on_any);
    fprintf(f, "CMD() {\n    eval %s\n}\n", c->qcmd);
    fputs("for COUNT in $(seq 1 1 $WORKERCOUNT); do\n", f);
    debug_line(f, c, "    ", "Launching worker: $COUNT");
    fputs("    CMD $COUNT &\n"
          "    PIDS=\"$PIDS $!\"\n"
          "done\n\n"
          "ALLFAILED=1\n"
          "ANYFAILED=0\n"
          "for PID in $PIDS; do\n"
          "    if wait $PID; then\n"
          "        ALLFAILED=0\n"
          "    else\n"
          "        ANYFAILED=1\n"
          "    fi\n"
          "done\n\n", f);
    debug_line(f, c, "", "All workers done");
    fputs("if [ \"$FAILONANY\" = \"1\" ]; then\n"
          "    exit $ANYFAILED\n"
          "else\n"
          "    exit $ALLFAILED\n"
          "fi\n", f);
}

static void slurm_head(FILE *f, const struct ctx *c, bool defaults)
{
    fputs("set -e\n", f);
    if (defaults) {
        /* srun_mpi does arithmetic with these, so outside Slurm (or when a site
         * leaves one unset) they fall back to what we know instead of failing. */
        fputs("export CORES=${SLURM_CPUS_ON_NODE:-$(getconf _NPROCESSORS_ONLN)}\n", f);
        fprintf(f, "export NODES=${SLURM_JOB_NUM_NODES:-%d}\n\n", c->nodes);
    } else {
        fputs("export CORES=$SLURM_CPUS_ON_NODE\nexport NODES=$SLURM_JOB_NUM_NODES\n\n", f);
    }
    debug_line(f, c, "", "Found cores : $CORES");
    debug_line(f, c, "", "Found nodes : $NODES");
    fprintf(f, "WORKERCOUNT=%d\n", c->copies);
    cmd_file(f, c);
}

static void render_srun(FILE *f, const struct ctx *c)
{
    slurm_head(f, c, false);
    fprintf(f, "\nsrun --ntasks %d -l", c->copies);
    words(f, c->l->overrides);
    fputs(" bash \"$CMD_SCRIPT\"\n\n", f);
    debug_line(f, c, "", "Done");
}

/* One srun step per copy, so that each worker pool has its own step to launch MPI
 * applications from: an equal share of the block's cores when there are more
 * copies than nodes, whole nodes otherwise. Parsl's loop reads
 * `$(seq 1 1 $TASKBLOCKS):` (a stray colon), its share can round down to 0 tasks,
 * and its bare `wait` hides failures; here the share is at least 1 and the script
 * fails when every step failed. */
static void render_srun_mpi(FILE *f, const struct ctx *c)
{
    slurm_head(f, c, true);
    fprintf(f, "\nTASKBLOCKS=%d\nPIDS=\"\"\n\n", c->copies);
    fputs("# More task blocks than nodes: each gets an equal share of the cores\n"
          "if (( TASKBLOCKS > NODES )); then\n", f);
    debug_line(f, c, "    ", "TaskBlocks:$TASKBLOCKS > Nodes:$NODES");
    fputs("    CORES_PER_BLOCK=$(( NODES * CORES / TASKBLOCKS ))\n"
          "    if (( CORES_PER_BLOCK < 1 )); then\n"
          "        CORES_PER_BLOCK=1\n"
          "    fi\n"
          "    for blk in $(seq 1 1 $TASKBLOCKS); do\n", f);
    fputs("        srun --ntasks $CORES_PER_BLOCK -l", f);
    words(f, c->l->overrides);
    fputs(" bash \"$CMD_SCRIPT\" &\n", f);
    fputs("        PIDS=\"$PIDS $!\"\n"
          "    done\n"
          "else\n"
          "    # A task block can be an integer multiple of nodes\n", f);
    debug_line(f, c, "    ", "TaskBlocks:$TASKBLOCKS <= Nodes:$NODES");
    fputs("    NODES_PER_BLOCK=$(( NODES / TASKBLOCKS ))\n"
          "    for blk in $(seq 1 1 $TASKBLOCKS); do\n", f);
    fputs("        srun --exclusive --nodes $NODES_PER_BLOCK -l", f);
    words(f, c->l->overrides);
    fputs(" bash \"$CMD_SCRIPT\" &\n", f);
    fputs("        PIDS=\"$PIDS $!\"\n"
          "    done\n"
          "fi\n\n"
          "ALLFAILED=1\n"
          "for PID in $PIDS; do\n"
          "    if wait $PID; then\n"
          "        ALLFAILED=0\n"
          "    fi\n"
          "done\n\n", f);
    debug_line(f, c, "", "Done");
    fputs("exit $ALLFAILED\n", f);
}

/* aprun and jsrun: the starter runs in the background and is waited for, as in
 * Parsl (the shell stays free to take signals), but `wait $!` returns its status
 * where Parsl's bare `wait` returned 0. */
static void render_alps_like(FILE *f, const struct ctx *c, const char *starter,
                             const char *per_node_flag)
{
    fprintf(f, "set -e\nWORKERCOUNT=%d\n", c->copies);
    cmd_file(f, c);
    fprintf(f, "\n%s -n %d %s %d", starter, c->copies, per_node_flag, c->tpn);
    words(f, c->l->overrides);
    fputs(" /bin/bash \"$CMD_SCRIPT\" &\nwait $!\n\n", f);
    debug_line(f, c, "", "Done");
}

static void render_mpiexec(FILE *f, const struct ctx *c)
{
    fputs("set -e\n", f);
    cores_local(f, c);
    fprintf(f, "WORKERCOUNT=%d\n", c->copies);
    node_file(f, "HOSTFILE", c->qnodes, "localhost");
    cmd_file(f, c);
    /* An empty bind_cmd drops the binding words instead of leaving a bare `none`. */
    fputs("\nmpiexec", f);
    if (c->l->bind_cmd[0])
        fprintf(f, " %s none", c->l->bind_cmd);
    words(f, c->l->overrides);
    fputs(" -n $WORKERCOUNT --hostfile \"$HOSTFILE\" /usr/bin/sh \"$CMD_SCRIPT\"\n\n", f);
    debug_line(f, c, "", "All workers done");
}

static void render_mpirun(FILE *f, const struct ctx *c)
{
    fputs("set -e\n", f);
    cores_local(f, c);
    fprintf(f, "WORKERCOUNT=%d\n", c->copies);
    cmd_file(f, c);
    fputs("\nmpirun -np $WORKERCOUNT", f);
    words(f, c->l->overrides);
    fprintf(f, " %s \"$CMD_SCRIPT\"\n\n", c->l->bash_location);
    debug_line(f, c, "", "All workers done");
}

/* Without a PBS nodefile the login list is ":", GNU parallel's name for "this
 * computer, no ssh" (Parsl writes "localhost", which needs ssh to localhost). */
static void render_gnu_parallel(FILE *f, const struct ctx *c)
{
    fputs("set -e\n", f);
    cores_local(f, c);
    fprintf(f, "WORKERCOUNT=%d\n", c->copies);
    node_file(f, "SSHLOGINFILE", c->qnodes, ":");
    cmd_file(f, c);
    fprintf(f, "\n# The commands for parallel, one per worker\nPFILE=%s\n", c->qpfile);
    fputs(": > \"$PFILE\"\n"
          "for COUNT in $(seq 1 1 $WORKERCOUNT); do\n", f);
    fprintf(f, "    printf '%%s\\n' %s >> \"$PFILE\"\n", c->qpline);
    fputs("done\n\n", f);
    fprintf(f, "parallel --env _ --joblog %s \\\n"
               "    --sshloginfile \"$SSHLOGINFILE\" --jobs %d < \"$PFILE\"\n\n",
            c->qjoblog, c->tpn);
    debug_line(f, c, "", "All workers done");
}

static int check_args(const struct cp__launcher *l, const char *cmd, int tpn, int nodes,
                      const char *dir, const char *job, cp_err *err)
{
    if (!l)
        return cp__errf(err, EINVAL, "no launcher");
    if ((int)l->type < 0 || l->type >= CP_LAUNCHER_NTYPES)
        return cp__errf(err, EINVAL, "launcher type %d is out of range", (int)l->type);
    if (!cmd || !cmd[strspn(cmd, " \t\n")])
        return cp__errf(err, EINVAL, "launcher %s: the command to launch is empty",
                        cp__launcher_type_names[l->type]);
    if (tpn < 1 || nodes < 1 || tpn > MAX_COPIES / nodes)
        return cp__errf(err, EINVAL, "launcher %s: tasks_per_node (%d) and nodes_per_block "
                                     "(%d) must be at least 1, with at most %d copies in all",
                        cp__launcher_type_names[l->type], tpn, nodes, MAX_COPIES);
    if (!cp__launcher_writes_files(l->type))
        return 0;
    if (!dir || !dir[0])
        return cp__errf(err, EINVAL, "launcher %s writes the command to a file and needs a "
                                     "script directory", cp__launcher_type_names[l->type]);
    /* The job name becomes part of file names in dir; a '/' would put them
     * somewhere else. */
    if (!job || !job[0] || strchr(job, '/'))
        return cp__errf(err, EINVAL, "launcher %s: job name '%s' must be non-empty and "
                                     "without '/' (it names files in %s)",
                        cp__launcher_type_names[l->type], job ? job : "", dir);
    return 0;
}

char *cp__launcher_render(const struct cp__launcher *l, const char *cmd, int tasks_per_node,
                          int nodes_per_block, const char *script_dir, const char *job_name,
                          cp_err *err)
{
    if (check_args(l, cmd, tasks_per_node, nodes_per_block, script_dir, job_name, err) != 0)
        return NULL;
    struct ctx c = {.l = l, .cmd = cmd, .tpn = tasks_per_node, .nodes = nodes_per_block,
                    .copies = tasks_per_node * nodes_per_block};
    char *text = NULL;
    size_t len = 0;
    FILE *f = NULL;
    c.qcmd = cp__shell_quote(cmd);
    if (!c.qcmd)
        goto oom;
    if (cp__launcher_writes_files(l->type) && ctx_paths(&c, script_dir, job_name) != 0)
        goto oom;
    /* Parsl warns the same way: these two start one copy whatever was asked. */
    if ((l->type == CP_LAUNCHER_SIMPLE || l->type == CP_LAUNCHER_WRAPPED) && c.copies > 1)
        CP_WARN("launcher", "launcher %s starts one copy of the command, not the %d asked for "
                            "(%d tasks per node x %d nodes); use single_node, srun or mpiexec "
                            "for more", cp__launcher_type_names[l->type], c.copies,
                tasks_per_node, nodes_per_block);
    f = open_memstream(&text, &len);
    if (!f)
        goto oom;
    switch (l->type) {
    case CP_LAUNCHER_SIMPLE: render_simple(f, &c); break;
    case CP_LAUNCHER_WRAPPED: render_wrapped(f, &c); break;
    case CP_LAUNCHER_SINGLE_NODE: render_single_node(f, &c); break;
    case CP_LAUNCHER_SRUN: render_srun(f, &c); break;
    case CP_LAUNCHER_SRUN_MPI: render_srun_mpi(f, &c); break;
    case CP_LAUNCHER_APRUN: render_alps_like(f, &c, "aprun", "-N"); break;
    case CP_LAUNCHER_JSRUN: render_alps_like(f, &c, "jsrun", "-r"); break;
    case CP_LAUNCHER_MPIEXEC: render_mpiexec(f, &c); break;
    case CP_LAUNCHER_MPIRUN: render_mpirun(f, &c); break;
    case CP_LAUNCHER_GNU_PARALLEL: render_gnu_parallel(f, &c); break;
    case CP_LAUNCHER_NTYPES: break;
    }
    bool failed = ferror(f) != 0;
    if (fclose(f) != 0 || failed) {
        f = NULL;
        goto oom;
    }
    ctx_fini(&c);
    return text;
oom:
    if (f)
        fclose(f);
    free(text);
    ctx_fini(&c);
    cp__errf(err, ENOMEM, "out of memory rendering launcher %s",
             cp__launcher_type_names[l->type]);
    return NULL;
}
