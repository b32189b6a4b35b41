# shellcheck shell=bash
# Where LibriSpeech is: the directory holding LibriSpeech/{train-clean-100,dev-clean,dev-other,test-clean,test-other}/
# (set it here or in the environment). Stage 0 downloads the missing parts into it from OpenSLR resource 12.
LIBRISPEECH=${LIBRISPEECH:-downloads}
# OpenSLR or one of its mirrors (e.g. https://us.openslr.org/resources, https://openslr.elda.org/resources).
OPENSLR_URL=${OPENSLR_URL:-https://www.openslr.org/resources}
