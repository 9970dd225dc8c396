# --- executor 'aspire1': the script of one block (not submitted) ---
#!/bin/bash

#PBS -S /bin/bash
#PBS -N parsl.aspire1.block-0
#PBS -m n
#PBS -l walltime=24:00:00
#PBS -l select=3:ncpus=24
#PBS -o <script_dir>/parsl.aspire1.block-0.submit.stdout
#PBS -e <script_dir>/parsl.aspire1.block-0.submit.stderr
#PBS -q normal
#PBS -P p42

module load openmpi
export JOBNAME='parsl.aspire1.block-0'

set -e
export CORES=$(getconf _NPROCESSORS_ONLN)
echo "Found cores : $CORES"
WORKERCOUNT=3

CMD_SCRIPT='runinfo/NNN/aspire1/submit_scripts/cmd_parsl.aspire1.block-0.sh'
rm -f "$CMD_SCRIPT"
(umask 077 && printf '%s\n' ''\''PARSL_WORKER'\'' --addresses '\''ADDRESSES'\'' --port '\''PORT'\'' --workdir '\''WORKDIR'\'' --secret-file '\''runinfo/NNN/aspire1/wire.secret'\'' --cores-per-worker '\''1'\'' --max-workers-per-node '\''24'\'' --cpu-affinity '\''block'\'' --drain-period '\''86340'\'' --encrypted --block-id 0 --logdir runinfo/NNN/aspire1/block-0' > "$CMD_SCRIPT")
chmod u+x "$CMD_SCRIPT"

mpirun -np $WORKERCOUNT --map-by ppr:1:node /bin/bash "$CMD_SCRIPT"

echo "All workers done"
