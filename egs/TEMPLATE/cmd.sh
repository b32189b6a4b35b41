# shellcheck shell=bash
# Where the parallel jobs of the feature and decoding stages run (utils/run.py --backend).
#   local: processes on this machine (default)
#   slurm: one sbatch job array per step; options for sbatch in $ECHO_SLURM_OPTS (e.g. "-p cpu --mem 4G")
# (egs/<corpus>/cmd.sh is a link to this file; replace the link with a file to change it for one recipe.)
# shellcheck disable=SC2034  # read by asr.sh
cmd_backend=${ECHO_CMD_BACKEND:-local}
