#!/usr/bin/env bash
# A self-signed certificate for `make run` and the tests, for 127.0.0.1, ::1 and localhost:
# written to DIR (default .certs/, git-ignored) as cert.pem and key.pem unless already there.
# For trying TLS and WSS on this machine only: its key is of no value anywhere else.
set -euo pipefail
dir="${1:-$(dirname "$0")/../.certs}"
mkdir -p "$dir"
[ -s "$dir/cert.pem" ] && [ -s "$dir/key.pem" ] && exit 0
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 825 \
  -subj "/CN=localhost" \
  -addext "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost" \
  -addext "basicConstraints=critical,CA:TRUE" \
  -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null
chmod 600 "$dir/key.pem"
echo "made a self-signed test certificate in $dir"
