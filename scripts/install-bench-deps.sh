#!/usr/bin/env bash
# The benchmarks compare with Kamailio, from Debian's packages; installed when missing.
set -euo pipefail
command -v kamailio >/dev/null 2>&1 || [ -x /usr/sbin/kamailio ] && exit 0
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "installing kamailio from Debian's packages"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq kamailio >/dev/null
