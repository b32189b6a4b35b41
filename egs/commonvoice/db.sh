# shellcheck shell=bash
# Where Common Voice is: ONE language's release directory, the one holding train.tsv, dev.tsv, test.tsv
# and clips/ (e.g. .../cv-corpus-17.0-2024-03-15/zh-CN). Set it here or in the environment. Common Voice
# cannot be downloaded by a script: each release needs its licence accepted (with an e-mail address) at
# https://commonvoice.mozilla.org/datasets ; download the language there and unpack it.
COMMONVOICE=${COMMONVOICE:-}
