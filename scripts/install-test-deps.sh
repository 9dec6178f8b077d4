#!/usr/bin/env bash
# Installs the tools the interop tests drive, from Debian's packages, when missing: sipp for
# call flows and load, chromium for the browser (SIP over WebSocket) test; then the TLS-capable
# sipp of the `sipp -t l1` test into .tools/ (scripts/install-sipp-tls.sh, nothing system-wide).
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v sipp >/dev/null 2>&1 || need+=(sip-tester)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
scripts/apt-install.sh "${need[@]}"
scripts/install-sipp-tls.sh
