# --- executor 'aurora': the script of one block (not submitted) ---
#!/bin/bash

#PBS -S /bin/bash
#PBS -N parsl.aurora.block-0
#PBS -m n
#PBS -l walltime=01:00:00
#PBS -l select=1:ncpus=208
#PBS -o <script_dir>/parsl.aurora.block-0.submit.stdout
#PBS -e <script_dir>/parsl.aurora.block-0.submit.stderr
#PBS -q debug
#PBS -A abc123
#PBS -l filesystems=home:flare

export JOBNAME='parsl.aurora.block-0'

set -e
export CORES=$(getconf _NPROCESSORS_ONLN)
echo "Found cores : $CORES"
WORKERCOUNT=1

# Deduplicate the nodefile
HOSTFILE='runinfo/NNN/aurora/submit_scripts/parsl.aurora.block-0.nodes'
if [ -z "$PBS_NODEFILE" ]; then
    echo "localhost" > "$HOSTFILE"
else
    sort -u "$PBS_NODEFILE" > "$HOSTFILE"
fi

CMD_SCRIPT='runinfo/NNN/aurora/submit_scripts/cmd_parsl.aurora.block-0.sh'
rm -f "$CMD_SCRIPT"
(umask 077 && printf '%s\n' ''\''PARSL_WORKER'\'' --addresses '\''ADDRESSES'\'' --port '\''PORT'\'' --workdir '\''WORKDIR'\'' --secret-file '\''runinfo/NNN/aurora/wire.secret'\'' --cores-per-worker '\''8'\'' --cpu-affinity '\''block'\'' --available-accelerators '\''0.0;0.1;1.0;1.1;2.0;2.1;3.0;3.1;4.0;4.1;5.0;5.1'\'' --drain-period '\''3540'\'' --encrypted --block-id 0 --logdir runinfo/NNN/aurora/block-0' > "$CMD_SCRIPT")
chmod u+x "$CMD_SCRIPT"

mpiexec --cpu-bind none --depth=208 --ppn 1 -n $WORKERCOUNT --hostfile "$HOSTFILE" /usr/bin/sh "$CMD_SCRIPT"

echo "All workers done"
