#!/usr/bin/env bash
# The benchmarks compare with Kamailio, from Debian's packages; installed when missing.
set -euo pipefail
command -v kamailio >/dev/null 2>&1 || [ -x /usr/sbin/kamailio ] && exit 0
"$(dirname "$0")/apt-install.sh" kamailio
