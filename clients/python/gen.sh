#!/usr/bin/env bash
# `make proto` for Python: regenerates src/nksip/v1 from proto/ with grpcio-tools (messages,
# their type stubs, and the service stub). Run with the venv's python (scripts/install-python-deps.sh).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
py="${PYTHON:-$here/.venv/bin/python}"
out="$here/src"
rm -f "$out"/nksip/v1/*_pb2.py "$out"/nksip/v1/*_pb2.pyi "$out"/nksip/v1/*_pb2_grpc.py
"$py" -m grpc_tools.protoc -I"$root/proto" --python_out="$out" --pyi_out="$out" "$root"/proto/nksip/v1/*.proto
"$py" -m grpc_tools.protoc -I"$root/proto" --grpc_python_out="$out" "$root/proto/nksip/v1/service.proto"
