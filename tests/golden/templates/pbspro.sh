# --- executor 'pbs': the script of one block (not submitted) ---
#!/bin/bash

#PBS -S /bin/bash
#PBS -N parsl.pbs.block-0
#PBS -m n
#PBS -l walltime=01:00:00
#PBS -l select=1:ncpus=32
#PBS -o <script_dir>/parsl.pbs.block-0.submit.stdout
#PBS -e <script_dir>/parsl.pbs.block-0.submit.stderr
#PBS -q workq
#PBS -A abc123

export JOBNAME='parsl.pbs.block-0'

set -e
export CORES=$(getconf _NPROCESSORS_ONLN)
echo "Found cores : $CORES"
WORKERCOUNT=1

# Deduplicate the nodefile
HOSTFILE='runinfo/NNN/pbs/submit_scripts/parsl.pbs.block-0.nodes'
if [ -z "$PBS_NODEFILE" ]; then
    echo "localhost" > "$HOSTFILE"
else
    sort -u "$PBS_NODEFILE" > "$HOSTFILE"
fi

CMD_SCRIPT='runinfo/NNN/pbs/submit_scripts/cmd_parsl.pbs.block-0.sh'
rm -f "$CMD_SCRIPT"
(umask 077 && printf '%s\n' ''\''PARSL_WORKER'\'' --addresses '\''ADDRESSES'\'' --port '\''PORT'\'' --workdir '\''WORKDIR'\'' --secret-file '\''runinfo/NNN/pbs/wire.secret'\'' --cores-per-worker '\''1'\'' --drain-period '\''3540'\'' --encrypted --block-id 0 --logdir runinfo/NNN/pbs/block-0' > "$CMD_SCRIPT")
chmod u+x "$CMD_SCRIPT"

mpiexec --bind-to none --ppn 1 -n $WORKERCOUNT --hostfile "$HOSTFILE" /usr/bin/sh "$CMD_SCRIPT"

echo "All workers done"
