/* tests/unit/launcher.c — launchers (providers/launcher.c): golden text for every
 * type, the config forms and their errors, and the text really run in bash.
 *
 * Launchers that start copies themselves (simple, single_node, wrapped) are run
 * as they are. For the parallel starters, fake `srun`, `aprun`, `jsrun`,
 * `mpiexec`, `mpirun` and `parallel` scripts go first on PATH: each records its
 * argv and runs the interpreter and command file it was given as many times as
 * its count option says, so a run proves the text parses, writes the command
 * file, passes the right words, and reports the right exit status. Every run uses
 * a script directory and job name with spaces, quotes and `$(…)` in them.
 */
#include "providers/launcher.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"
#include "common/yaml.h"
#include "tap.h"
#include "testutil.h"

/* ------------------------------------------------------------ goldens */

/* Rendered with cmd "parsl-worker --block-id 0", script_dir
 * "/runs/000/submit_scripts", job "parsl.htex.block-0": defaults at 1 task × 1
 * node, then 2 tasks × 3 nodes with overrides "--cpu-bind=cores" (wrapped:
 * prepend "env X=1"). */
static const char golden_simple_1x1[] =
    "parsl-worker --block-id 0\n";

static const char golden_single_node_1x1[] =
    "set -e\n"
    "export CORES=$(getconf _NPROCESSORS_ONLN)\n"
    "echo \"Found cores : $CORES\"\n"
    "WORKERCOUNT=1\n"
    "FAILONANY=0\n"
    "PIDS=\"\"\n"
    "\n"
    "CMD() {\n"
    "    eval 'parsl-worker --block-id 0'\n"
    "}\n"
    "for COUNT in $(seq 1 1 $WORKERCOUNT); do\n"
    "    echo \"Launching worker: $COUNT\"\n"
    "    CMD $COUNT &\n"
    "    PIDS=\"$PIDS $!\"\n"
    "done\n"
    "\n"
    "ALLFAILED=1\n"
    "ANYFAILED=0\n"
    "for PID in $PIDS; do\n"
    "    if wait $PID; then\n"
    "        ALLFAILED=0\n"
    "    else\n"
    "        ANYFAILED=1\n"
    "    fi\n"
    "done\n"
    "\n"
    "echo \"All workers done\"\n"
    "if [ \"$FAILONANY\" = \"1\" ]; then\n"
    "    exit $ANYFAILED\n"
    "else\n"
    "    exit $ALLFAILED\n"
    "fi\n";

static const char golden_srun_1x1[] =
    "set -e\n"
    "export CORES=$SLURM_CPUS_ON_NODE\n"
    "export NODES=$SLURM_JOB_NUM_NODES\n"
    "\n"
    "echo \"Found cores : $CORES\"\n"
    "echo \"Found nodes : $NODES\"\n"
    "WORKERCOUNT=1\n"
    "\n"
    "CMD_SCRIPT='/runs/000/submit_scripts/cmd_parsl.htex.block-0.sh'\n"
    "rm -f \"$CMD_SCRIPT\"\n"
    "(umask 077 && printf '%s\\n' 'parsl-worker --block-id 0' > \"$CMD_SCRIPT\")\n"
    "chmod u+x \"$CMD_SCRIPT\"\n"
    "\n"
    "srun --ntasks 1 -l bash \"$CMD_SCRIPT\"\n"
    "\n"
    "echo \"Done\"\n";

static const char golden_srun_mpi_1x1[] =
    "set -e\n"
    "export CORES=${SLURM_CPUS_ON_NODE:-$(getconf _NPROCESSORS_ONLN)}\n"
    "export NODES=${SLURM_JOB_NUM_NODES:-1}\n"
    "\n"
    "echo \"Found cores : $CORES\"\n"
    "echo \"Found nodes : $NODES\"\n"
    "WORKERCOUNT=1\n"
    "\n"
    "CMD_SCRIPT='/runs/000/submit_scripts/cmd_parsl.htex.block-0.sh'\n"
    "rm -f \"$CMD_SCRIPT\"\n"
    "(umask 077 && printf '%s\\n' 'parsl-worker --block-id 0' > \"$CMD_SCRIPT\")\n"
    "chmod u+x \"$CMD_SCRIPT\"\n"
    "\n"
    "TASKBLOCKS=1\n"
    "PIDS=\"\"\n"
    "\n"
    "# More task blocks than nodes: each gets an equal share of the cores\n"
    "if (( TASKBLOCKS > NODES )); then\n"
    "    echo \"TaskBlocks:$TASKBLOCKS > Nodes:$NODES\"\n"
    "    CORES_PER_BLOCK=$(( NODES * CORES / TASKBLOCKS ))\n"
    "    if (( CORES_PER_BLOCK < 1 )); then\n"
    "        CORES_PER_BLOCK=1\n"
    "    fi\n"
    "    for blk in $(seq 1 1 $TASKBLOCKS); do\n"
    "        srun --ntasks $CORES_PER_BLOCK -l bash \"$CMD_SCRIPT\" &\n"
    "        PIDS=\"$PIDS $!\"\n"
    "    done\n"
    "else\n"
    "    # A task block can be an integer multiple of nodes\n"
    "    echo \"TaskBlocks:$TASKBLOCKS <= Nodes:$NODES\"\n"
    "    NODES_PER_BLOCK=$(( NODES / TASKBLOCKS ))\n"
    "    for blk in $(seq 1 1 $TASKBLOCKS); do\n"
    "        srun --exclusive --nodes $NODES_PER_BLOCK -l bash \"$CMD_SCRIPT\" &\n"
    "        PIDS=\"$PIDS $!\"\n"
    "    done\n"
    "fi\n"
    "\n"
    "ALLFAILED=1\n"
    "for PID in $PIDS; do\n"
    "    if wait $PID; then\n"
    "        ALLFAILED=0\n"
    "    fi\n"
    "done\n"
    "\n"
    "echo \"Done\"\n"
    "exit $ALLFAILED\n";

static const char golden_aprun_1x1[] =
    "set -e\n"
    "WORKERCOUNT=1\n"
    "\n"
    "CMD_SCRIPT='/runs/000/submit_scripts/cmd_parsl.htex.block-0.sh'\n"
    "rm -f \"$CMD_SCRIPT\"\n"
    "(umask 077 && printf '%s\\n' 'parsl-worker --block-id 0' > \"$CMD_SCRIPT\")\n"
    "chmod u+x \"$CMD_SCRIPT\"\n"
    "\n"
    "aprun -n 1 -N 1 /bin/bash \"$CMD_SCRIPT\" &\n"
    "wait $!\n"
    "\n"
    "echo \"Done\"\n";

static const char golden_jsrun_1x1[] =
    "set -e\n"
    "WORKERCOUNT=1\n"
    "\n"
    "CMD_SCRIPT='/runs/000/submit_scripts/cmd_parsl.htex.block-0.sh'\n"
    "rm -f \"$CMD_SCRIPT\"\n"
    "(umask 077 && printf '%s\\n' 'parsl-worker --block-id 0' > \"$CMD_SCRIPT\")\n"
    "chmod u+x \"$CMD_SCRIPT\"\n"
    "\n"
    "jsrun -n 1 -r 1 /bin/bash \"$CMD_SCRIPT\" &\n"
    "wait $!\n"
    "\n"
    "echo \"Done\"\n";

static const char golden_mpiexec_1x1[] =
    "set -e\n"
    "export CORES=$(getconf _NPROCESSORS_ONLN)\n"
    "echo \"Found cores : $CORES\"\n"
    "WORKERCOUNT=1\n"
    "\n"
    "# Deduplicate the nodefile\n"
    "HOSTFILE='/runs/000/submit_scripts/parsl.htex.block-0.nodes'\n"
    "if [ -z \"$PBS_NODEFILE\" ]; then\n"
    "    echo \"localhost\" > \"$HOSTFILE\"\n"
    "else\n"
    "    sort -u \"$PBS_NODEFILE\" > \"$HOSTFILE\"\n"
    "fi\n"
    "\n"
    "CMD_SCRIPT='/runs/000/submit_scripts/cmd_parsl.htex.block-0.sh'\n"
    "rm -f \"$CMD_SCRIPT\"\n"
    "(umask 077 && printf '%s\\n' 'parsl-worker --block-id 0' > \"$CMD_SCRIPT\")\n"
    "chmod u+x \"$CMD_SCRIPT\"\n"
    "\n"
    "mpiexec --bind-to none -n $WORKERCOUNT --hostfile \"$HOSTFILE\" /usr/bin/sh \"$CMD_SCRIPT\"\n"
    "\n"
    "echo \"All workers done\"\n";

static const char golden_mpirun_1x1[] =
    "set -e\n"
    "export CORES=$(getconf _NPROCESSORS_ONLN)\n"
    "echo \"Found cores : $CORES\"\n"
    "WORKERCOUNT=1\n"
    "\n"
    "CMD_SCRIPT='/runs/000/submit_scripts/cmd_parsl.htex.block-0.sh'\n"
    "rm -f \"$CMD_SCRIPT\"\n"
    "(umask 077 && printf '%s\\n' 'parsl-worker --block-id 0' > \"$CMD_SCRIPT\")\n"
    "chmod u+x \"$CMD_SCRIPT\"\n"
    "\n"
    "mpirun -np $WORKERCOUNT /bin/bash \"$CMD_SCRIPT\"\n"
    "\n"
    "echo \"All workers done\"\n";

static const char golden_gnu_parallel_1x1[] =
    "set -e\n"
    "export CORES=$(getconf _NPROCESSORS_ONLN)\n"
    "echo \"Found cores : $CORES\"\n"
    "WORKERCOUNT=1\n"
    "\n"
    "# Deduplicate the nodefile\n"
    "SSHLOGINFILE='/runs/000/submit_scripts/parsl.htex.block-0.nodes'\n"
    "if [ -z \"$PBS_NODEFILE\" ]; then\n"
    "    echo \":\" > \"$SSHLOGINFILE\"\n"
    "else\n"
    "    sort -u \"$PBS_NODEFILE\" > \"$SSHLOGINFILE\"\n"
    "fi\n"
    "\n"
    "CMD_SCRIPT='/runs/000/submit_scripts/cmd_parsl.htex.block-0.sh'\n"
    "rm -f \"$CMD_SCRIPT\"\n"
    "(umask 077 && printf '%s\\n' 'parsl-worker --block-id 0' > \"$CMD_SCRIPT\")\n"
    "chmod u+x \"$CMD_SCRIPT\"\n"
    "\n"
    "# The commands for parallel, one per worker\n"
    "PFILE='/runs/000/submit_scripts/cmd_parsl.htex.block-0.sh.parallel'\n"
    ": > \"$PFILE\"\n"
    "for COUNT in $(seq 1 1 $WORKERCOUNT); do\n"
    "    printf '%s\\n' 'sh '\\''/runs/000/submit_scripts/cmd_parsl.htex.block-0.sh'\\''' >> \"$PFILE\"\n"
    "done\n"
    "\n"
    "parallel --env _ --joblog '/runs/000/submit_scripts/parsl.htex.block-0.sh.parallel.log' \\\n"
    "    --sshloginfile \"$SSHLOGINFILE\" --jobs 1 < \"$PFILE\"\n"
    "\n"
    "echo \"All workers done\"\n";

static const char golden_wrapped_1x1[] =
    " parsl-worker --block-id 0\n";

static const char golden_simple_2x3[] =
    "parsl-worker --block-id 0\n";

static const char golden_single_node_2x3[] =
    "set -e\n"
    "export CORES=$(getconf _NPROCESSORS_ONLN)\n"
    "echo \"Found cores : $CORES\"\n"
    "WORKERCOUNT=6\n"
    "FAILONANY=0\n"
    "PIDS=\"\"\n"
    "\n"
    "CMD() {\n"
    "    eval 'parsl-worker --block-id 0'\n"
    "}\n"
    "for COUNT in $(seq 1 1 $WORKERCOUNT); do\n"
    "    echo \"Launching worker: $COUNT\"\n"
    "    CMD $COUNT &\n"
    "    PIDS=\"$PIDS $!\"\n"
    "done\n"
    "\n"
    "ALLFAILED=1\n"
    "ANYFAILED=0\n"
    "for PID in $PIDS; do\n"
    "    if wait $PID; then\n"
    "        ALLFAILED=0\n"
    "    else\n"
    "        ANYFAILED=1\n"
    "    fi\n"
    "done\n"
    "\n"
    "echo \"All workers done\"\n"
    "if [ \"$FAILONANY\" = \"1\" ]; then\n"
    "    exit $ANYFAILED\n"
    "else\n"
    "    exit $ALLFAILED\n"
    "fi\n";

static const char golden_srun_2x3[] =
    "set -e\n"
    "export CORES=$SLURM_CPUS_ON_NODE\n"
    "export NODES=$SLURM_JOB_NUM_NODES\n"
    "\n"
    "echo \"Found cores : $CORES\"\n"
    "echo \"Found nodes : $NODES\"\n"
    "WORKERCOUNT=6\n"
    "\n"
    "CMD_SCRIPT='/runs/000/submit_scripts/cmd_parsl.htex.block-0.sh'\n"
    "rm -f \"$CMD_SCRIPT\"\n"
    "(umask 077 && printf '%s\\n' 'parsl-worker --block-id 0' > \"$CMD_SCRIPT\")\n"
    "chmod u+x \"$CMD_SCRIPT\"\n"
    "\n"
    "srun --ntasks 6 -l --cpu-bind=cores bash \"$CMD_SCRIPT\"\n"
    "\n"
    "echo \"Done\"\n";

static const char golden_srun_mpi_2x3[] =
    "set -e\n"
    "export CORES=${SLURM_CPUS_ON_NODE:-$(getconf _NPROCESSORS_ONLN)}\n"
    "export NODES=${SLURM_JOB_NUM_NODES:-3}\n"
    "\n"
    "echo \"Found cores : $CORES\"\n"
    "echo \"Found nodes : $NODES\"\n"
    "WORKERCOUNT=6\n"
    "\n"
    "CMD_SCRIPT='/runs/000/submit_scripts/cmd_parsl.htex.block-0.sh'\n"
    "rm -f \"$CMD_SCRIPT\"\n"
    "(umask 077 && printf '%s\\n' 'parsl-worker --block-id 0' > \"$CMD_SCRIPT\")\n"
    "chmod u+x \"$CMD_SCRIPT\"\n"
    "\n"
    "TASKBLOCKS=6\n"
    "PIDS=\"\"\n"
    "\n"
    "# More task blocks than nodes: each gets an equal share of the cores\n"
    "if (( TASKBLOCKS > NODES )); then\n"
    "    echo \"TaskBlocks:$TASKBLOCKS > Nodes:$NODES\"\n"
    "    CORES_PER_BLOCK=$(( NODES * CORES / TASKBLOCKS ))\n"
    "    if (( CORES_PER_BLOCK < 1 )); then\n"
    "        CORES_PER_BLOCK=1\n"
    "    fi\n"
    "    for blk in $(seq 1 1 $TASKBLOCKS); do\n"
    "        srun --ntasks $CORES_PER_BLOCK -l --cpu-bind=cores bash \"$CMD_SCRIPT\" &\n"
    "        PIDS=\"$PIDS $!\"\n"
    "    done\n"
    "else\n"
    "    # A task block can be an integer multiple of nodes\n"
    "    echo \"TaskBlocks:$TASKBLOCKS <= Nodes:$NODES\"\n"
    "    NODES_PER_BLOCK=$(( NODES / TASKBLOCKS ))\n"
    "    for blk in $(seq 1 1 $TASKBLOCKS); do\n"
    "        srun --exclusive --nodes $NODES_PER_BLOCK -l --cpu-bind=cores bash \"$CMD_SCRIPT\" &\n"
    "        PIDS=\"$PIDS $!\"\n"
    "    done\n"
    "fi\n"
    "\n"
    "ALLFAILED=1\n"
    "for PID in $PIDS; do\n"
    "    if wait $PID; then\n"
    "        ALLFAILED=0\n"
    "    fi\n"
    "done\n"
    "\n"
    "echo \"Done\"\n"
    "exit $ALLFAILED\n";

static const char golden_aprun_2x3[] =
    "set -e\n"
    "WORKERCOUNT=6\n"
    "\n"
    "CMD_SCRIPT='/runs/000/submit_scripts/cmd_parsl.htex.block-0.sh'\n"
    "rm -f \"$CMD_SCRIPT\"\n"
    "(umask 077 && printf '%s\\n' 'parsl-worker --block-id 0' > \"$CMD_SCRIPT\")\n"
    "chmod u+x \"$CMD_SCRIPT\"\n"
    "\n"
    "aprun -n 6 -N 2 --cpu-bind=cores /bin/bash \"$CMD_SCRIPT\" &\n"
    "wait $!\n"
    "\n"
    "echo \"Done\"\n";

static const char golden_jsrun_2x3[] =
    "set -e\n"
    "WORKERCOUNT=6\n"
    "\n"
    "CMD_SCRIPT='/runs/000/submit_scripts/cmd_parsl.htex.block-0.sh'\n"
    "rm -f \"$CMD_SCRIPT\"\n"
    "(umask 077 && printf '%s\\n' 'parsl-worker --block-id 0' > \"$CMD_SCRIPT\")\n"
    "chmod u+x \"$CMD_SCRIPT\"\n"
    "\n"
    "jsrun -n 6 -r 2 --cpu-bind=cores /bin/bash \"$CMD_SCRIPT\" &\n"
    "wait $!\n"
    "\n"
    "echo \"Done\"\n";

static const char golden_mpiexec_2x3[] =
    "set -e\n"
    "export CORES=$(getconf _NPROCESSORS_ONLN)\n"
    "echo \"Found cores : $CORES\"\n"
    "WORKERCOUNT=6\n"
    "\n"
    "# Deduplicate the nodefile\n"
    "HOSTFILE='/runs/000/submit_scripts/parsl.htex.block-0.nodes'\n"
    "if [ -z \"$PBS_NODEFILE\" ]; then\n"
    "    echo \"localhost\" > \"$HOSTFILE\"\n"
    "else\n"
    "    sort -u \"$PBS_NODEFILE\" > \"$HOSTFILE\"\n"
    "fi\n"
    "\n"
    "CMD_SCRIPT='/runs/000/submit_scripts/cmd_parsl.htex.block-0.sh'\n"
    "rm -f \"$CMD_SCRIPT\"\n"
    "(umask 077 && printf '%s\\n' 'parsl-worker --block-id 0' > \"$CMD_SCRIPT\")\n"
    "chmod u+x \"$CMD_SCRIPT\"\n"
    "\n"
    "mpiexec --bind-to none --cpu-bind=cores -n $WORKERCOUNT --hostfile \"$HOSTFILE\" /usr/bin/sh \"$CMD_SCRIPT\"\n"
    "\n"
    "echo \"All workers done\"\n";

static const char golden_mpirun_2x3[] =
    "set -e\n"
    "export CORES=$(getconf _NPROCESSORS_ONLN)\n"
    "echo \"Found cores : $CORES\"\n"
    "WORKERCOUNT=6\n"
    "\n"
    "CMD_SCRIPT='/runs/000/submit_scripts/cmd_parsl.htex.block-0.sh'\n"
    "rm -f \"$CMD_SCRIPT\"\n"
    "(umask 077 && printf '%s\\n' 'parsl-worker --block-id 0' > \"$CMD_SCRIPT\")\n"
    "chmod u+x \"$CMD_SCRIPT\"\n"
    "\n"
    "mpirun -np $WORKERCOUNT --cpu-bind=cores /bin/bash \"$CMD_SCRIPT\"\n"
    "\n"
    "echo \"All workers done\"\n";

static const char golden_gnu_parallel_2x3[] =
    "set -e\n"
    "export CORES=$(getconf _NPROCESSORS_ONLN)\n"
    "echo \"Found cores : $CORES\"\n"
    "WORKERCOUNT=6\n"
    "\n"
    "# Deduplicate the nodefile\n"
    "SSHLOGINFILE='/runs/000/submit_scripts/parsl.htex.block-0.nodes'\n"
    "if [ -z \"$PBS_NODEFILE\" ]; then\n"
    "    echo \":\" > \"$SSHLOGINFILE\"\n"
    "else\n"
    "    sort -u \"$PBS_NODEFILE\" > \"$SSHLOGINFILE\"\n"
    "fi\n"
    "\n"
    "CMD_SCRIPT='/runs/000/submit_scripts/cmd_parsl.htex.block-0.sh'\n"
    "rm -f \"$CMD_SCRIPT\"\n"
    "(umask 077 && printf '%s\\n' 'parsl-worker --block-id 0' > \"$CMD_SCRIPT\")\n"
    "chmod u+x \"$CMD_SCRIPT\"\n"
    "\n"
    "# The commands for parallel, one per worker\n"
    "PFILE='/runs/000/submit_scripts/cmd_parsl.htex.block-0.sh.parallel'\n"
    ": > \"$PFILE\"\n"
    "for COUNT in $(seq 1 1 $WORKERCOUNT); do\n"
    "    printf '%s\\n' 'sh '\\''/runs/000/submit_scripts/cmd_parsl.htex.block-0.sh'\\''' >> \"$PFILE\"\n"
    "done\n"
    "\n"
    "parallel --env _ --joblog '/runs/000/submit_scripts/parsl.htex.block-0.sh.parallel.log' \\\n"
    "    --sshloginfile \"$SSHLOGINFILE\" --jobs 2 < \"$PFILE\"\n"
    "\n"
    "echo \"All workers done\"\n";

static const char golden_wrapped_2x3[] =
    "env X=1 parsl-worker --block-id 0\n";

static const char *const golden_1x1[CP_LAUNCHER_NTYPES] = {
    golden_simple_1x1, golden_single_node_1x1, golden_srun_1x1, golden_srun_mpi_1x1,
    golden_aprun_1x1, golden_jsrun_1x1, golden_mpiexec_1x1, golden_mpirun_1x1,
    golden_gnu_parallel_1x1, golden_wrapped_1x1,
};
static const char *const golden_2x3[CP_LAUNCHER_NTYPES] = {
    golden_simple_2x3, golden_single_node_2x3, golden_srun_2x3, golden_srun_mpi_2x3,
    golden_aprun_2x3, golden_jsrun_2x3, golden_mpiexec_2x3, golden_mpirun_2x3,
    golden_gnu_parallel_2x3, golden_wrapped_2x3,
};

#define GCMD "parsl-worker --block-id 0"
#define GDIR "/runs/000/submit_scripts"
#define GJOB "parsl.htex.block-0"

static struct cp__launcher *mk(enum cp__launcher_type t)
{
    cp_err err = {0};
    struct cp__launcher *l = cp__launcher_new(t, &err);
    if (!l)
        diag("cp__launcher_new: %s", err.text);
    return l;
}

static void set(char **slot, const char *s)
{
    free(*slot);
    *slot = strdup(s);
}

/* Renders l for (tpn, nodes) with the golden arguments; caller frees. */
static char *render_g(const struct cp__launcher *l, int tpn, int nodes)
{
    cp_err err = {0};
    char *s = cp__launcher_render(l, GCMD, tpn, nodes, GDIR, GJOB, &err);
    if (!s)
        diag("render: %s", err.text);
    return s;
}

static void test_goldens(void)
{
    for (int t = 0; t < CP_LAUNCHER_NTYPES; t++) {
        const char *name = cp__launcher_type_names[t];
        struct cp__launcher *l = mk(t);
        char *s = render_g(l, 1, 1);
        is_str(s, golden_1x1[t], "%s: golden text at 1 task x 1 node", name);
        free(s);
        set(&l->overrides, "--cpu-bind=cores");
        set(&l->prepend, "env X=1");
        s = render_g(l, 2, 3);
        is_str(s, golden_2x3[t], "%s: golden text at 2 tasks x 3 nodes, with options", name);
        free(s);
        cp__launcher_free(l);
    }
}

/* Options that the two goldens leave at one value. */
static void test_option_text(void)
{
    struct cp__launcher *l = mk(CP_LAUNCHER_MPIEXEC);
    set(&l->bind_cmd, "--cpu-bind");
    set(&l->overrides, "--depth=64 --ppn 1");
    char *s = render_g(l, 1, 2);
    like(s, "\nmpiexec --cpu-bind none --depth=64 --ppn 1 -n $WORKERCOUNT --hostfile \"$HOSTFILE\" "
            "/usr/bin/sh \"$CMD_SCRIPT\"\n", "mpiexec: bind_cmd and overrides as written (Polaris)");
    free(s);
    set(&l->bind_cmd, "");
    set(&l->overrides, "");
    s = render_g(l, 1, 2);
    like(s, "\nmpiexec -n $WORKERCOUNT --hostfile", "mpiexec: an empty bind_cmd leaves out the "
                                                  "binding words");
    free(s);
    cp__launcher_free(l);

    l = mk(CP_LAUNCHER_MPIRUN);
    set(&l->bash_location, "/usr/local/bin/bash");
    s = render_g(l, 1, 1);
    like(s, "\nmpirun -np $WORKERCOUNT /usr/local/bin/bash \"$CMD_SCRIPT\"\n",
         "mpirun: bash_location runs the command file");
    free(s);
    cp__launcher_free(l);

    l = mk(CP_LAUNCHER_SINGLE_NODE);
    l->fail_on_any = true;
    l->debug = false;
    s = render_g(l, 4, 1);
    like(s, "WORKERCOUNT=4\nFAILONANY=1\n", "single_node: fail_on_any is FAILONANY=1");
    ok(s && !strstr(s, "echo"), "single_node: debug off leaves out every echo line");
    free(s);
    cp__launcher_free(l);

    for (int t = 0; t < CP_LAUNCHER_NTYPES; t++) {
        l = mk(t);
        l->debug = false;
        s = render_g(l, 2, 2);
        bool quiet = s != NULL;
        const char *progress[] = {"Found ", "Launching worker", "workers done", "\"Done\"",
                                  "TaskBlocks:", "[[", NULL};
        for (int i = 0; s && progress[i]; i++)
            quiet &= !strstr(s, progress[i]);
        ok(quiet, "%s: debug off has no progress lines (and no `[[ 0 == 1 ]] &&` whose "
                  "status would leak)", cp__launcher_type_names[t]);
        free(s);
        cp__launcher_free(l);
    }

    l = mk(CP_LAUNCHER_SIMPLE);
    cp_err err = {0};
    s = cp__launcher_render(l, "a\n", 1, 1, NULL, NULL, &err);
    is_str(s, "a\n", "simple: a command that ends in a newline gets no second one");
    free(s);
    cp__launcher_free(l);

    l = mk(CP_LAUNCHER_SRUN);
    s = render_g(l, 1, 1);
    like(s, "srun --ntasks 1 -l bash", "srun: empty overrides leave no doubled space");
    free(s);
    s = cp__launcher_render(l, "x", 1, 1, "/d/", "j", &err);
    like(s, "CMD_SCRIPT='/d/cmd_j.sh'\n", "a script_dir ending in / gets no second one");
    free(s);
    cp__launcher_free(l);
}

static void test_names(void)
{
    is_int(cp__launcher_type_find("srun_mpi"), CP_LAUNCHER_SRUN_MPI, "type_find srun_mpi");
    is_int(cp__launcher_type_find("SrunLauncher"), -1, "type_find refuses a Parsl class name");
    is_int(cp__launcher_type_find(NULL), -1, "type_find NULL");
    ok(cp__launcher_type_names[CP_LAUNCHER_NTYPES] == NULL, "the name list is NULL-terminated");
    int files = 0;
    for (int t = 0; t < CP_LAUNCHER_NTYPES; t++)
        files += cp__launcher_writes_files(t);
    is_int(files, 7, "seven types write a command file (all but simple, single_node, wrapped)");
}

static void test_render_errors(void)
{
    cp_err err = {0};
    struct cp__launcher *l = mk(CP_LAUNCHER_SRUN);
    ok(!cp__launcher_render(l, GCMD, 0, 1, GDIR, GJOB, &err), "tasks_per_node 0 refused");
    like(err.text, "tasks_per_node (0)", "named: %s", err.text);
    ok(!cp__launcher_render(l, GCMD, 1, -2, GDIR, GJOB, &err), "negative nodes refused");
    ok(!cp__launcher_render(l, GCMD, 100000, 100000, GDIR, GJOB, &err), "10^10 copies refused");
    is_int(err.code, EINVAL, "EINVAL");
    ok(!cp__launcher_render(l, "  \n", 1, 1, GDIR, GJOB, &err), "a blank command refused");
    like(err.text, "command to launch is empty", "named: %s", err.text);
    ok(!cp__launcher_render(l, NULL, 1, 1, GDIR, GJOB, &err), "a NULL command refused");
    ok(!cp__launcher_render(l, GCMD, 1, 1, NULL, GJOB, &err), "srun without script_dir refused");
    like(err.text, "needs a script directory", "named: %s", err.text);
    ok(!cp__launcher_render(l, GCMD, 1, 1, GDIR, "a/../../etc/x", &err), "a job name with / refused");
    like(err.text, "without '/'", "named: %s", err.text);
    ok(!cp__launcher_render(l, GCMD, 1, 1, GDIR, "", &err), "an empty job name refused");
    ok(!cp__launcher_render(NULL, GCMD, 1, 1, GDIR, GJOB, &err), "a NULL launcher refused");
    cp__launcher_free(l);
    l = mk(CP_LAUNCHER_SINGLE_NODE);
    char *s = cp__launcher_render(l, GCMD, 2, 1, NULL, NULL, &err);
    ok(s != NULL, "single_node needs no script_dir or job name");
    free(s);
    cp__launcher_free(l);
    ok(!cp__launcher_new(CP_LAUNCHER_NTYPES, &err), "new refuses an out-of-range type");
    cp__launcher_free(NULL);
    ok(1, "free(NULL) is fine");
}

/* ------------------------------------------------------------ config */

static struct cp__ydoc *doc;

/* The launcher read from `text`'s key `launcher`; err holds the error. */
static struct cp__launcher *parse(const char *text, cp_err *err)
{
    memset(err, 0, sizeof *err);
    cp__ydoc_free(doc);
    doc = cp__ydoc_load_mem("cfg.yaml", text, strlen(text), err);
    if (!doc) {
        diag("yaml: %s", err->text);
        return NULL;
    }
    return cp__launcher_parse(cp__ymap_get(doc->root, "launcher"), NULL, err);
}

static void test_parse(void)
{
    cp_err err;
    struct cp__launcher *l = parse("launcher: srun\n", &err);
    ok(l && l->type == CP_LAUNCHER_SRUN && l->debug && !strcmp(l->overrides, ""),
       "a scalar names the type, options at their defaults");
    cp__launcher_free(l);

    l = parse("launcher: {type: srun, overrides: \"--cpu-bind=cores\"}\n", &err);
    ok(l && l->type == CP_LAUNCHER_SRUN, "a flow mapping: %s", err.text);
    is_str(l ? l->overrides : NULL, "--cpu-bind=cores", "overrides kept as written");
    cp__launcher_free(l);

    l = parse("launcher:\n  type: mpiexec\n  bind_cmd: --cpu-bind\n"
              "  overrides: --depth=64 --ppn 1\n", &err);
    ok(l && l->type == CP_LAUNCHER_MPIEXEC, "mpiexec mapping: %s", err.text);
    is_str(l ? l->bind_cmd : NULL, "--cpu-bind", "bind_cmd");
    is_str(l ? l->overrides : NULL, "--depth=64 --ppn 1", "overrides with spaces");
    struct cp__launcher *c = cp__launcher_copy(l, &err);
    ok(c && c != l && c->type == l->type && !strcmp(c->bind_cmd, l->bind_cmd) &&
       c->bind_cmd != l->bind_cmd && !strcmp(c->overrides, l->overrides), "copy is deep");
    cp__launcher_free(c);
    cp__launcher_free(l);

    l = parse("launcher: mpiexec\n", &err);
    is_str(l ? l->bind_cmd : NULL, "--bind-to", "mpiexec's bind_cmd defaults to --bind-to");
    cp__launcher_free(l);
    l = parse("launcher: mpirun\n", &err);
    is_str(l ? l->bash_location : NULL, "/bin/bash", "mpirun's bash_location defaults to /bin/bash");
    cp__launcher_free(l);

    l = parse("launcher:\n  type: single_node\n  fail_on_any: true\n  debug: false\n", &err);
    ok(l && l->fail_on_any && !l->debug, "single_node fail_on_any and debug: %s", err.text);
    cp__launcher_free(l);

    l = parse("launcher:\n  type: srun\n  overrides: >\n    --cpu-bind=cores\n    --hint=nomultithread\n", &err);
    is_str(l ? l->overrides : NULL, "--cpu-bind=cores --hint=nomultithread",
           "a folded block scalar loses its trailing newline");
    cp__launcher_free(l);

    l = parse("launcher: {type: srun, overrides: ~}\n", &err);
    is_str(l ? l->overrides : NULL, "", "null overrides keep the default");
    cp__launcher_free(l);

    l = parse("launcher: {type: wrapped, prepend: \"singularity exec img.sif\"}\n", &err);
    is_str(l ? l->prepend : NULL, "singularity exec img.sif", "wrapped prepend");
    cp__launcher_free(l);

    /* errors, each with file:line:col */
    ok(!parse("launcher: sruns\n", &err), "unknown type refused");
    is_str(err.text, "cfg.yaml:1:11: unknown launcher type 'sruns' (did you mean 'srun'?)",
           "with a did-you-mean");
    ok(!parse("launcher: quantum\n", &err), "a far-off type refused");
    like(err.text, "cfg.yaml:1:11: unknown launcher type 'quantum' (known: simple, single_node, "
                   "srun, srun_mpi, aprun, jsrun, mpiexec, mpirun, gnu_parallel, wrapped)",
         "lists the types");
    ok(!parse("launcher: {type: MpiExecLauncher}\n", &err), "a Parsl class name refused");
    is_str(err.text, "cfg.yaml:1:18: unknown launcher type 'MpiExecLauncher' (did you mean "
                     "'mpiexec'? Parsl's MpiExecLauncher is spelled 'mpiexec' here)",
           "and pointed at our name");
    ok(!parse("launcher:\n  type: srun\n  overide: --x\n", &err), "a misspelt key refused");
    is_str(err.text, "cfg.yaml:3:3: unknown key 'overide' in launcher (srun) (did you "
                     "mean 'overrides'?)", "with a did-you-mean");
    ok(!parse("launcher:\n  type: single_node\n  overrides: --x\n", &err),
       "another type's option refused");
    is_str(err.text, "cfg.yaml:3:3: 'overrides' is not an option of launcher type single_node "
                     "(it takes: type, debug, fail_on_any)", "said so");
    ok(!parse("launcher: {overrides: --x}\n", &err), "a mapping without type refused");
    like(err.text, "cfg.yaml:1:11: launcher has no type (one of: simple,", "named: %s", err.text);
    ok(!parse("launcher: {type: wrapped}\n", &err), "wrapped without prepend refused");
    like(err.text, "cfg.yaml:1:11: launcher (wrapped) needs a non-empty prepend", "named: %s",
         err.text);
    ok(!parse("launcher: {type: wrapped, prepend: ''}\n", &err), "an empty prepend refused");
    like(err.text, "cfg.yaml:1:36:", "at the value: %s", err.text);
    ok(!parse("launcher:\n  type: srun\n  overrides: |\n    --a\n    --b\n", &err),
       "two lines of overrides refused");
    like(err.text, "cfg.yaml:3:14: launcher.overrides must be one line of shell words", "named: %s",
         err.text);
    ok(!parse("launcher: {type: single_node, debug: maybe}\n", &err), "a non-boolean debug refused");
    like(err.text, "cfg.yaml:1:38: launcher.debug must be", "named: %s", err.text);
    ok(!parse("launcher: {type: mpirun, bash_location: ''}\n", &err), "an empty bash_location refused");
    like(err.text, "launcher.bash_location must name a shell", "named: %s", err.text);
    ok(!parse("launcher: {type: srun, overrides: {a: 1}}\n", &err), "a mapping as overrides refused");
    like(err.text, "cfg.yaml:1:35: launcher.overrides", "named: %s", err.text);
    ok(!parse("launcher: [srun]\n", &err), "a list refused");
    like(err.text, "cfg.yaml:1:11: launcher must be a launcher type", "named: %s", err.text);
    ok(!parse("launcher: ~\n", &err), "null refused (the provider picks its default instead)");
    ok(!parse("launcher: {type: [srun]}\n", &err), "a list as type refused");

    /* `what` names the key in messages */
    cp__ydoc_free(doc);
    doc = cp__ydoc_load_mem("site.yaml", "launcher: {type: srun, bad: 1}\n", 31, &err);
    ok(doc && !cp__launcher_parse(cp__ymap_get(doc->root, "launcher"), "provider.launcher", &err),
       "what given");
    like(err.text, "site.yaml:1:24: unknown key 'bad' in provider.launcher (srun)", "names it: %s",
         err.text);
    cp__ydoc_free(doc);
    doc = NULL;
}

/* ------------------------------------------------------------ running */

static char base[128];          /* mkdtemp; the cwd of every run */
static char sdir[512];          /* the script dir: spaces, quotes, $(…) */
static char bin[256];           /* fake starters */
static char pbin[256];          /* fake parallel */
static char fakelog[256];
static const char *const JOB = "job 'x' \"y\" `touch PWNED2` $(touch PWNED3)";
static int nrun;

static int write_file(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fputs(text, f);
    int rc = fclose(f);
    return rc == 0 ? chmod(path, mode) : -1;
}

/* A stand-in parallel starter: argv to $FAKE_LOG, then the interpreter and file
 * it was given (its last two words), once per count, with FAKE_RANK set. */
static const char fake_starter[] =
    "#!/bin/bash\n"
    "tool=${0##*/}\n"
    "# one write per call, so steps started together do not interleave\n"
    "words=$(printf '<%s>\\n' \"$@\")\n"
    "printf -- '--- %s\\n%s\\n' \"$tool\" \"$words\" >> \"$FAKE_LOG\"\n"
    "args=(\"$@\")\n"
    "n=1\n"
    "for ((i = 0; i < ${#args[@]}; i++)); do\n"
    "    case \"$tool:${args[i]}\" in\n"
    "    srun:--ntasks|srun:--nodes|aprun:-n|jsrun:-n|mpiexec:-n|mpirun:-np) n=${args[i+1]} ;;\n"
    "    mpiexec:--hostfile) cp \"${args[i+1]}\" \"$FAKE_LOG.hostfile\" ;;\n"
    "    esac\n"
    "done\n"
    "interp=${args[${#args[@]}-2]}\n"
    "script=${args[${#args[@]}-1]}\n"
    "[ -f \"$script\" ] || { echo \"$tool: no file '$script'\" >&2; exit 90; }\n"
    "pids=()\n"
    "for ((r = 0; r < n; r++)); do\n"
    "    FAKE_RANK=$r \"$interp\" \"$script\" &\n"
    "    pids+=($!)\n"
    "done\n"
    "rc=0\n"
    "for p in \"${pids[@]}\"; do wait \"$p\" || rc=$?; done\n"
    "exit $rc\n";

/* GNU parallel's part we use: each stdin line through sh, all at once. */
static const char fake_parallel[] =
    "#!/bin/bash\n"
    "{ echo '--- parallel'; printf '<%s>\\n' \"$@\"; } >> \"$FAKE_LOG\"\n"
    "args=(\"$@\")\n"
    "for ((i = 0; i < ${#args[@]}; i++)); do\n"
    "    case \"${args[i]}\" in\n"
    "    --sshloginfile) cp \"${args[i+1]}\" \"$FAKE_LOG.sshlogin\" ;;\n"
    "    esac\n"
    "done\n"
    "r=0\n"
    "pids=()\n"
    "while IFS= read -r line; do\n"
    "    FAKE_RANK=$r sh -c \"$line\" &\n"
    "    pids+=($!)\n"
    "    r=$((r + 1))\n"
    "done\n"
    "rc=0\n"
    "for p in \"${pids[@]}\"; do wait \"$p\" || rc=$?; done\n"
    "exit $rc\n";

static int setup(void)
{
    snprintf(base, sizeof base, "/tmp/cp-launcher-XXXXXX");
    if (!mkdtemp(base))
        return -1;
    snprintf(sdir, sizeof sdir, "%s/scripts dir's \"q\" $(touch PWNED1)", base);
    snprintf(bin, sizeof bin, "%s/bin", base);
    snprintf(pbin, sizeof pbin, "%s/pbin", base);
    snprintf(fakelog, sizeof fakelog, "%s/fake.log", base);
    if (mkdir(sdir, 0755) || mkdir(bin, 0755) || mkdir(pbin, 0755))
        return -1;
    const char *tools[] = {"srun", "aprun", "jsrun", "mpiexec", "mpirun", NULL};
    char p[512];
    for (int i = 0; tools[i]; i++) {
        snprintf(p, sizeof p, "%s/%s", bin, tools[i]);
        if (write_file(p, fake_starter, 0755))
            return -1;
    }
    snprintf(p, sizeof p, "%s/parallel", pbin);
    if (write_file(p, fake_parallel, 0755))
        return -1;
    setenv("FAKE_LOG", fakelog, 1);
    unsetenv("PBS_NODEFILE");
    unsetenv("SLURM_JOB_NUM_NODES");
    unsetenv("SLURM_CPUS_ON_NODE");
    return chdir(base);
}

/* A fresh output directory (with a space in its name) for one run. */
static void outdir(char *out, size_t size, const char *name)
{
    snprintf(out, size, "%s/out %s", base, name);
    char cmd[1024];
    char *q = cp__shell_quote(out);
    snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir %s", q, q);
    free(q);
    if (system(cmd) != 0)
        diag("could not make %s", out);
}

/* A command line that writes "<rank> <pid>" to <out>/pid.<pid>, then runs tail. */
static char *rank_cmd(const char *out, const char *rank, const char *pid, const char *tail)
{
    char *q = cp__shell_quote(out);
    char *s = cp__strdup_printf("printf '%%s %%s\\n' \"%s\" \"%s\" > %s/pid.%s%s%s", rank, pid,
                                q, pid, tail ? "; " : "", tail ? tail : "");
    free(q);
    return s;
}

/* The ranks found in out: count[r] copies wrote rank r; returns the number of
 * copies, -1 when two copies share a pid or a file is malformed. */
static int ranks(const char *out, int *count, int max)
{
    memset(count, 0, sizeof *count * (size_t)max);
    DIR *d = opendir(out);
    if (!d)
        return -1;
    int n = 0, bad = 0;
    long pids[256];
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, "pid.", 4) != 0)
            continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", out, e->d_name);
        int r;
        long pid;
        const char *s = slurp(path);
        if (!s || sscanf(s, "%d %ld", &r, &pid) != 2 || r < 0 || r >= max || n >= 256) {
            bad = 1;
            continue;
        }
        for (int i = 0; i < n; i++)
            bad |= pids[i] == pid;
        pids[n++] = pid;
        count[r]++;
    }
    closedir(d);
    return bad ? -1 : n;
}

/* Writes "#!/bin/bash" + text to a script in base and runs it with bash from
 * base, with extra_path first on PATH; the exit status, or -1. */
static int run_text(const char *text, const char *extra_path)
{
    char script[256], log[256];
    snprintf(script, sizeof script, "%s/block-%d.sh", base, ++nrun);
    snprintf(log, sizeof log, "%s/block-%d.log", base, nrun);
    char *full = cp__strdup_printf("#!/bin/bash\n%s", text);
    if (!full || write_file(script, full, 0700)) {
        free(full);
        return -1;
    }
    free(full);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s%s%sbash '%s' > '%s' 2>&1", extra_path ? "PATH='" : "",
             extra_path ? extra_path : "", extra_path ? "':\"$PATH\" " : "", script, log);
    unlink(fakelog);
    int st = system(cmd);
    if (st == -1 || !WIFEXITED(st))
        return -1;
    return WEXITSTATUS(st);
}

/* The last run's output as diagnostics, for a run that should have passed. */
static void dump_log(void)
{
    char log[256];
    snprintf(log, sizeof log, "%s/block-%d.log", base, nrun);
    FILE *f = fopen(log, "r");
    char line[512];
    while (f && fgets(line, sizeof line, f))
        diag("block-%d.log: %.*s", nrun, (int)strcspn(line, "\n"), line);
    if (f)
        fclose(f);
}

/* Test descriptions are one line: argv words are written with their newlines
 * shown as spaces. */
static const char *oneline(const char *s)
{
    static char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *c = buf; *c; c++)
        if (*c == '\n')
            *c = ' ';
    return buf;
}

static char *render(const struct cp__launcher *l, const char *cmd, int tpn, int nodes)
{
    cp_err err = {0};
    char *s = cp__launcher_render(l, cmd, tpn, nodes, sdir, JOB, &err);
    if (!s)
        diag("render: %s", err.text);
    return s;
}

static bool all_ranks_once(const int *count, int n)
{
    for (int i = 0; i < n; i++)
        if (count[i] != 1)
            return false;
    return true;
}

/* The command file: at its quoted path, holding exactly cmd, owner-only. */
static void check_cmd_file(const char *name, const char *cmd)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/cmd_%s.sh", sdir, JOB);
    struct stat st = {0};
    int rc = stat(path, &st);
    ok(rc == 0 && (st.st_mode & 0777) == 0700,
       "%s: cmd_<job>.sh in the script dir, mode 0700 (got %o)", name,
       (unsigned)(st.st_mode & 0777));
    char *want = cp__strdup_printf("%s\n", cmd);
    is_str(slurp(path), want, "%s: the command file holds the command byte for byte", name);
    free(want);
}

static void no_injection(const char *name)
{
    char p[256];
    int found = 0;
    for (int i = 1; i <= 3; i++) {
        snprintf(p, sizeof p, "%s/PWNED%d", base, i);
        found += access(p, F_OK) == 0;
    }
    is_int(found, 0, "%s: nothing in the script dir or job name ran", name);
}

static void test_run_simple_wrapped(void)
{
    char out[512];
    int count[8];
    struct cp__launcher *l = mk(CP_LAUNCHER_SIMPLE);
    outdir(out, sizeof out, "simple");
    char *cmd = rank_cmd(out, "0", "$$", NULL);
    char *s = render(l, cmd, 1, 1);
    if (!ok(run_text(s, NULL) == 0, "simple: runs and exits 0"))
        dump_log();
    is_int(ranks(out, count, 8), 1, "simple: one copy ran");
    free(s);
    free(cmd);
    s = render(l, "exit 4", 1, 1);
    is_int(run_text(s, NULL), 4, "simple: the command's status is the block's");
    free(s);
    cp__launcher_free(l);

    /* wrapped: the prepended words really wrap the command */
    l = mk(CP_LAUNCHER_WRAPPED);
    set(&l->prepend, "env X=1");
    outdir(out, sizeof out, "wrapped");
    char *qo = cp__shell_quote(out);
    char *inner = cp__strdup_printf("echo \"X=$X\" > %s/x", qo);
    char *qi = cp__shell_quote(inner);
    cmd = cp__strdup_printf("sh -c %s", qi);
    s = render(l, cmd, 1, 1);
    like(s, "env X=1 sh -c ", "wrapped: prepend, then the command");
    if (!ok(run_text(s, NULL) == 0, "wrapped: runs"))
        dump_log();
    char xp[600];
    snprintf(xp, sizeof xp, "%s/x", out);
    is_str(slurp(xp), "X=1\n", "wrapped: the command saw X=1 from `env X=1`");
    free(s);
    free(cmd);
    free(qi);
    free(inner);
    free(qo);
    cp__launcher_free(l);
}

static void test_run_single_node(void)
{
    char out[512];
    int count[8];
    struct cp__launcher *l = mk(CP_LAUNCHER_SINGLE_NODE);

    /* Six copies, each waiting until all six have written their file: they can
     * only finish if they really run at the same time. */
    outdir(out, sizeof out, "single");
    char *q = cp__shell_quote(out);
    char *barrier = cp__strdup_printf(
        "for i in $(seq 200); do [ $(ls %s | wc -l) -ge 6 ] && exit 0; sleep 0.05; done; exit 9",
        q);
    char *cmd = rank_cmd(out, "$1", "$BASHPID", barrier);
    char *s = render(l, cmd, 2, 3);
    if (!ok(run_text(s, NULL) == 0, "single_node 2x3: all copies ran concurrently and exit 0"))
        dump_log();
    is_int(ranks(out, count, 8), 6, "single_node: six copies, six distinct pids");
    ok(count[0] == 0 && all_ranks_once(count + 1, 6), "single_node: ranks 1..6 once each ($1)");
    free(s);
    free(cmd);
    free(barrier);

    /* Exactly one copy fails: the first to make the lock directory. */
    char *one = cp__strdup_printf("mkdir %s/lock 2>/dev/null && exit 5; exit 0", q);
    s = render(l, one, 3, 1);
    if (!ok(run_text(s, NULL) == 0, "single_node: one of three failing is not a failed block"))
        dump_log();
    free(s);
    l->fail_on_any = true;
    outdir(out, sizeof out, "single");
    s = render(l, one, 3, 1);
    ok(run_text(s, NULL) != 0, "single_node fail_on_any: one of three failing fails the block");
    free(s);
    s = render(l, "exit 3", 3, 1);
    ok(run_text(s, NULL) != 0, "single_node fail_on_any: all failing fails the block");
    free(s);
    l->fail_on_any = false;
    s = render(l, "exit 3", 3, 1);
    ok(run_text(s, NULL) != 0, "single_node: all failing fails the block");
    free(s);
    free(one);
    free(q);
    cp__launcher_free(l);
}

/* One run of a fake starter: copies, ranks, argv words, the command file. */
static void run_fake(enum cp__launcher_type t, int tpn, int nodes, int want_copies,
                     const char *const *words)
{
    const char *name = cp__launcher_type_names[t];
    char out[512];
    int count[32];
    struct cp__launcher *l = mk(t);
    set(&l->overrides, "--comment='two words'");
    outdir(out, sizeof out, name);
    char *cmd = rank_cmd(out, "$FAKE_RANK", "$$", NULL);
    char *s = render(l, cmd, tpn, nodes);
    char path[600];
    snprintf(path, sizeof path, "%s:%s", bin, pbin);
    if (!ok(run_text(s, path) == 0, "%s %dx%d: runs through the fake starter", name, tpn, nodes))
        dump_log();
    int n = ranks(out, count, 32);
    is_int(n, want_copies, "%s: %d copies started, each its own process", name, want_copies);
    if (t != CP_LAUNCHER_SRUN_MPI)
        ok(all_ranks_once(count, want_copies), "%s: ranks 0..%d once each", name,
           want_copies - 1);
    const char *log = slurp(fakelog);
    if (t != CP_LAUNCHER_GNU_PARALLEL)
        like(log, "<--comment=two words>", "%s: overrides reach the starter as shell words", name);
    for (int i = 0; words && words[i]; i++)
        like(log, words[i], "%s: argv has %s", name, oneline(words[i]));
    check_cmd_file(name, cmd);
    no_injection(name);
    free(s);
    free(cmd);
    cp__launcher_free(l);
}

static void test_run_fakes(void)
{
    run_fake(CP_LAUNCHER_SRUN, 2, 3, 6,
             (const char *[]){"<--ntasks>\n<6>\n<-l>\n", "<bash>\n<", NULL});
    run_fake(CP_LAUNCHER_APRUN, 2, 3, 6,
             (const char *[]){"<-n>\n<6>\n<-N>\n<2>\n", "</bin/bash>\n<", NULL});
    run_fake(CP_LAUNCHER_JSRUN, 2, 3, 6,
             (const char *[]){"<-n>\n<6>\n<-r>\n<2>\n", "</bin/bash>\n<", NULL});
    run_fake(CP_LAUNCHER_MPIEXEC, 2, 3, 6,
             (const char *[]){"<--bind-to>\n<none>\n", "<-n>\n<6>\n<--hostfile>\n",
                              "</usr/bin/sh>\n<", NULL});
    is_str(slurp("fake.log.hostfile"), "localhost\n", "mpiexec: hostfile is localhost without "
                                                      "PBS_NODEFILE");
    run_fake(CP_LAUNCHER_MPIRUN, 2, 3, 6, (const char *[]){"<-np>\n<6>\n", "</bin/bash>\n<", NULL});
    run_fake(CP_LAUNCHER_GNU_PARALLEL, 2, 3, 6,
             (const char *[]){"<--env>\n<_>\n<--joblog>\n", "<--jobs>\n<2>\n", NULL});
    is_str(slurp("fake.log.sshlogin"), ":\n", "gnu_parallel: without PBS_NODEFILE the login "
                                              "file is ':' (this computer, no ssh)");

    /* srun_mpi: more task blocks than nodes → 6 steps of CORES_PER_BLOCK tasks */
    setenv("SLURM_JOB_NUM_NODES", "3", 1);
    setenv("SLURM_CPUS_ON_NODE", "4", 1);
    run_fake(CP_LAUNCHER_SRUN_MPI, 2, 3, 12, (const char *[]){"<--ntasks>\n<2>\n<-l>\n", NULL});
    /* as many task blocks as nodes → exclusive steps of whole nodes */
    setenv("SLURM_JOB_NUM_NODES", "2", 1);
    run_fake(CP_LAUNCHER_SRUN_MPI, 1, 2, 2,
             (const char *[]){"<--exclusive>\n<--nodes>\n<1>\n<-l>\n", NULL});
    /* outside Slurm the defaults stand in: 2 nodes from nodes_per_block */
    unsetenv("SLURM_JOB_NUM_NODES");
    unsetenv("SLURM_CPUS_ON_NODE");
    run_fake(CP_LAUNCHER_SRUN_MPI, 1, 2, 2, (const char *[]){"<--exclusive>\n", NULL});

    /* PBS_NODEFILE: deduplicated */
    write_file("nodefile", "n2\nn1\nn2\nn1\n", 0644);
    char nf[256];
    snprintf(nf, sizeof nf, "%s/nodefile", base);
    setenv("PBS_NODEFILE", nf, 1);
    run_fake(CP_LAUNCHER_MPIEXEC, 1, 2, 2, NULL);
    is_str(slurp("fake.log.hostfile"), "n1\nn2\n", "mpiexec: hostfile is sort -u $PBS_NODEFILE");
    unsetenv("PBS_NODEFILE");
}

/* A failing command fails the block for every starter (Parsl's aprun/jsrun end
 * with a bare `wait`, which hid it). */
static void test_run_fake_failures(void)
{
    char path[600];
    snprintf(path, sizeof path, "%s:%s", bin, pbin);
    const enum cp__launcher_type types[] = {CP_LAUNCHER_SRUN, CP_LAUNCHER_APRUN, CP_LAUNCHER_JSRUN,
                                            CP_LAUNCHER_MPIEXEC, CP_LAUNCHER_MPIRUN,
                                            CP_LAUNCHER_GNU_PARALLEL, CP_LAUNCHER_SRUN_MPI};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        struct cp__launcher *l = mk(types[i]);
        char *s = render(l, "exit 7", 1, 2);
        ok(run_text(s, path) != 0, "%s: a failing command fails the block",
           cp__launcher_type_names[types[i]]);
        free(s);
        cp__launcher_free(l);
    }
    /* srun_mpi: one of two steps failing is not a failed block */
    char out[512];
    outdir(out, sizeof out, "srun_mpi_lock");
    char *q = cp__shell_quote(out);
    char *one = cp__strdup_printf("mkdir %s/lock 2>/dev/null && exit 5; exit 0", q);
    struct cp__launcher *l = mk(CP_LAUNCHER_SRUN_MPI);
    char *s = render(l, one, 1, 2);
    if (!ok(run_text(s, path) == 0, "srun_mpi: one of two steps failing leaves the block ok"))
        dump_log();
    free(s);
    free(one);
    free(q);
    cp__launcher_free(l);
}

static void test_real_parallel(void)
{
    if (system("command -v parallel > /dev/null 2>&1") != 0) {
        skip("GNU parallel is not installed (the fake parallel run above covers the text)");
        return;
    }
    char out[512];
    int count[8];
    struct cp__launcher *l = mk(CP_LAUNCHER_GNU_PARALLEL);
    outdir(out, sizeof out, "parallel");
    char *cmd = rank_cmd(out, "0", "$$", NULL);
    char *s = render(l, cmd, 3, 1);
    if (!ok(run_text(s, NULL) == 0, "gnu_parallel: real GNU parallel runs the text"))
        dump_log();
    is_int(ranks(out, count, 8), 3, "gnu_parallel: three copies");
    free(s);
    free(cmd);
    cp__launcher_free(l);
}

/* bash -n on every type, both shapes, with the hostile dir and job name. */
static void test_syntax(void)
{
    for (int t = 0; t < CP_LAUNCHER_NTYPES; t++) {
        for (int shape = 0; shape < 2; shape++) {
            struct cp__launcher *l = mk(t);
            set(&l->overrides, "--x='a b' -y");
            set(&l->prepend, "env A='1 2'");
            l->debug = shape == 1;
            char *s = render(l, "parsl-worker --name \"it's\" $HOME `id` ; echo }", 1 + shape,
                             1 + 2 * shape);
            char p[256];
            snprintf(p, sizeof p, "%s/syntax.sh", base);
            write_file(p, s ? s : "(", 0600);
            char cmd[600];
            snprintf(cmd, sizeof cmd, "bash -n '%s' 2>/dev/null", p);
            is_int(system(cmd), 0, "bash -n: %s at %s", cp__launcher_type_names[t],
                   shape ? "2x3, debug on" : "1x1, debug off");
            free(s);
            cp__launcher_free(l);
        }
    }
}

int main(void)
{
    tap_start(120);
    test_names();
    test_goldens();
    test_option_text();
    test_render_errors();
    test_parse();
    if (setup() != 0) {
        ok(0, "set up %s: %s", base, strerror(errno));
        return done_testing();
    }
    test_syntax();
    test_run_simple_wrapped();
    test_run_single_node();
    test_run_fakes();
    test_run_fake_failures();
    test_real_parallel();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "cd / && rm -rf '%s'", base);
    if (system(cmd) != 0)
        diag("could not remove %s", base);
    return done_testing();
}
