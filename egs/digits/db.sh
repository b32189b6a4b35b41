# shellcheck shell=bash
# Where the Free Spoken Digit Dataset is (upstream layout: recordings/{digit}_{speaker}_{index}.wav).
# Empty: stage 0 tries to clone the upstream repository into downloads/, else asks you to set it.
FSDD=${FSDD:-}
