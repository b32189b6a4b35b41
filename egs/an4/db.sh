# shellcheck shell=bash
# Where AN4 is: the directory holding an4/ (etc/, wav/, README) as an4_sphere.tar.gz unpacks (set it here
# or in the environment). Stage 0 downloads and unpacks CMU's archive into it when an4/ is missing.
AN4=${AN4:-downloads}
AN4_URL=${AN4_URL:-http://www.speech.cs.cmu.edu/databases/an4/an4_sphere.tar.gz}
