# shellcheck shell=bash
# Where the Free Spoken Digit Dataset is (upstream layout: recordings/{digit}_{speaker}_{index}.wav).
# Empty: stage 0 tries to clone the upstream repository into downloads/, else asks you to set it.
FSDD=${FSDD:-}
# Google Speech Commands v0.02 (optional; upstream layout <word>/<speaker-hash>_nohash_<n>.wav beside
# validation_list.txt and testing_list.txt): its digit words are added to train, dev and a test set sc_test.
# A directory without the tree gets it downloaded (2.3 GB); empty: not used.
SPEECH_COMMANDS=${SPEECH_COMMANDS:-}
