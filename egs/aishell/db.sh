# shellcheck shell=bash
# Where AISHELL-1 is: the directory holding data_aishell/ (transcript/ and wav/, the latter either as the
# shipped per-speaker <spk>.tar.gz or unpacked as wav/{train,dev,test}/<spk>/*.wav). Set it here or in the
# environment. Stage 0 downloads data_aishell.tgz from OpenSLR resource 33 when data_aishell/ is missing.
AISHELL=${AISHELL:-downloads}
# OpenSLR or one of its mirrors (e.g. https://us.openslr.org/resources, https://openslr.elda.org/resources).
OPENSLR_URL=${OPENSLR_URL:-https://www.openslr.org/resources}
