# --- executor 'slurm': the script of one block (not submitted) ---
#!/bin/bash

#SBATCH --job-name=parsl.slurm.block-0
#SBATCH --output="<script_dir>/parsl.slurm.block-0.submit.stdout"
#SBATCH --error="<script_dir>/parsl.slurm.block-0.submit.stderr"
#SBATCH --nodes=1
#SBATCH --time=60
#SBATCH --ntasks-per-node=1
#SBATCH --exclusive
#SBATCH --partition=debug
#SBATCH --account=abc123

export JOBNAME='parsl.slurm.block-0'

set -e
export CORES=$SLURM_CPUS_ON_NODE
export NODES=$SLURM_JOB_NUM_NODES

echo "Found cores : $CORES"
echo "Found nodes : $NODES"
WORKERCOUNT=1

CMD_SCRIPT='runinfo/NNN/slurm/submit_scripts/cmd_parsl.slurm.block-0.sh'
rm -f "$CMD_SCRIPT"
(umask 077 && printf '%s\n' ''\''PARSL_WORKER'\'' --addresses '\''ADDRESSES'\'' --port '\''PORT'\'' --workdir '\''WORKDIR'\'' --secret-file '\''runinfo/NNN/slurm/wire.secret'\'' --cores-per-worker '\''1'\'' --drain-period '\''3540'\'' --encrypted --block-id 0 --logdir runinfo/NNN/slurm/block-0' > "$CMD_SCRIPT")
chmod u+x "$CMD_SCRIPT"

srun --ntasks 1 -l bash "$CMD_SCRIPT"

echo "Done"
