#!/usr/bin/env bash
# Go side of `make test-deps` (and of `make proto`): the Go SDK's modules, the buf plugins
# protoc-gen-go and protoc-gen-go-grpc built from their modules into clients/go/.bin (buf runs
# them locally, no remote plugin), and the Go conformance app and PBX example built to
# examples/go/bin.
#   scripts/install-go-deps.sh            everything
#   scripts/install-go-deps.sh plugins    the buf plugins only
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

# Versions of the code generators; the runtime versions are in clients/go/go.mod.
PROTOC_GEN_GO=v1.36.12
PROTOC_GEN_GO_GRPC=v1.6.2

export PATH="$PATH:/usr/local/go/bin:$HOME/go/bin"
if ! command -v go >/dev/null 2>&1; then
  echo "go not found: installing Debian's golang-go (an older go fetches the toolchain go.mod names)"
  scripts/apt-install.sh golang-go
fi
# go.mod names the Go release it needs; an older go fetches that toolchain as a module.
export GOTOOLCHAIN="${GOTOOLCHAIN:-auto}"
export GOFLAGS="${GOFLAGS:--buildvcs=false}"

(cd clients/go && go mod download)
if [[ ! -x clients/go/.bin/protoc-gen-go || ! -x clients/go/.bin/protoc-gen-go-grpc ]]; then
  GOBIN="$ROOT/clients/go/.bin" go install "google.golang.org/protobuf/cmd/protoc-gen-go@$PROTOC_GEN_GO"
  GOBIN="$ROOT/clients/go/.bin" go install "google.golang.org/grpc/cmd/protoc-gen-go-grpc@$PROTOC_GEN_GO_GRPC"
fi
[[ "${1:-}" == plugins ]] && exit 0

(cd examples/go && go mod download && go build -o bin/conformance ./conformance && go build -o bin/pbx ./pbx)
echo "go: SDK modules ready, examples built (examples/go/bin/conformance, examples/go/bin/pbx)"
