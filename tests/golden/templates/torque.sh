# --- executor 'torque': the script of one block (not submitted) ---
#!/bin/bash

#PBS -S /bin/bash
#PBS -N parsl.torque.block-0
#PBS -m n
#PBS -l walltime=01:00:00
#PBS -l nodes=1:ppn=1
#PBS -o <script_dir>/parsl.torque.block-0.submit.stdout
#PBS -e <script_dir>/parsl.torque.block-0.submit.stderr
#PBS -q workq
#PBS -A abc123

export JOBNAME='parsl.torque.block-0'

set -e
WORKERCOUNT=1

CMD_SCRIPT='runinfo/NNN/torque/submit_scripts/cmd_parsl.torque.block-0.sh'
rm -f "$CMD_SCRIPT"
(umask 077 && printf '%s\n' ''\''PARSL_WORKER'\'' --addresses '\''ADDRESSES'\'' --port '\''PORT'\'' --workdir '\''WORKDIR'\'' --secret-file '\''runinfo/NNN/torque/wire.secret'\'' --cores-per-worker '\''1'\'' --drain-period '\''3540'\'' --encrypted --block-id 0 --logdir runinfo/NNN/torque/block-0' > "$CMD_SCRIPT")
chmod u+x "$CMD_SCRIPT"

aprun -n 1 -N 1 -N 1 /bin/bash "$CMD_SCRIPT" &
wait $!

echo "Done"
