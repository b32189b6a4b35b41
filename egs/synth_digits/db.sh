# shellcheck shell=bash
# Corpus locations. synth_digits makes its audio itself (local/data.sh), so nothing to set here.
