# shellcheck shell=bash
# Where mini LibriSpeech is: the directory holding LibriSpeech/{train-clean-5,dev-clean-2}/ (set it here or
# in the environment). Stage 0 downloads the missing parts into it from OpenSLR resource 31.
MINI_LIBRISPEECH=${MINI_LIBRISPEECH:-downloads}
# OpenSLR or one of its mirrors (e.g. https://us.openslr.org/resources, https://openslr.elda.org/resources).
OPENSLR_URL=${OPENSLR_URL:-https://www.openslr.org/resources}
