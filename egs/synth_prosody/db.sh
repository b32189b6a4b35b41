# shellcheck shell=bash
# Corpus locations. synth_prosody makes its audio itself (local/data.sh), so nothing to set here.
