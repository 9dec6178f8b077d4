#!/usr/bin/env bash
# Installs the named Debian packages (through sudo when not root): the one way the set-up
# scripts fetch the system tools they find missing.
set -euo pipefail
[ $# -gt 0 ] || exit 0
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "installing $* from Debian's packages"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
