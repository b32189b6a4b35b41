# shellcheck shell=bash
# Where the parallel jobs of the feature and decoding stages run (utils/run.py --backend).
#   local: processes on this machine (default)
#   slurm: one sbatch job array per step, and training (stage 3) as one job of srun tasks; sbatch resources
#          (partition, cpus, mem, gpus, time, nodes, extra options) from the file $ECHO_SLURM_CONFIG names,
#          else from the recipe's conf/slurm.yaml (a template: egs/TEMPLATE/conf/slurm.yaml)
# (egs/<corpus>/cmd.sh is a link to this file; replace the link with a file to change it for one recipe.)
# shellcheck disable=SC2034  # read by asr.sh
cmd_backend=${ECHO_CMD_BACKEND:-local}
