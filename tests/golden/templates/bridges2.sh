# --- executor 'bridges2': the script of one block (not submitted) ---
#!/bin/bash

#SBATCH --job-name=parsl.bridges2.block-0
#SBATCH --output="<script_dir>/parsl.bridges2.block-0.submit.stdout"
#SBATCH --error="<script_dir>/parsl.bridges2.block-0.submit.stderr"
#SBATCH --nodes=1
#SBATCH --time=60
#SBATCH --ntasks-per-node=1
#SBATCH --exclusive
#SBATCH --partition=RM
#SBATCH --account=abc123

export JOBNAME='parsl.bridges2.block-0'

set -e
export CORES=$SLURM_CPUS_ON_NODE
export NODES=$SLURM_JOB_NUM_NODES

echo "Found cores : $CORES"
echo "Found nodes : $NODES"
WORKERCOUNT=1

CMD_SCRIPT='runinfo/NNN/bridges2/submit_scripts/cmd_parsl.bridges2.block-0.sh'
rm -f "$CMD_SCRIPT"
(umask 077 && printf '%s\n' ''\''PARSL_WORKER'\'' --addresses '\''ADDRESSES'\'' --port '\''PORT'\'' --workdir '\''WORKDIR'\'' --secret-file '\''runinfo/NNN/bridges2/wire.secret'\'' --cores-per-worker '\''1'\'' --max-workers-per-node '\''128'\'' --cpu-affinity '\''block'\'' --drain-period '\''3540'\'' --encrypted --block-id 0 --logdir runinfo/NNN/bridges2/block-0' > "$CMD_SCRIPT")
chmod u+x "$CMD_SCRIPT"

srun --ntasks 1 -l bash "$CMD_SCRIPT"

echo "Done"
