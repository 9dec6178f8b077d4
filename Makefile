# nksip-server: `make run` starts the server, `make test` sets up and runs every test.
SHELL := /bin/bash
NODE_MODULES := node_modules/.installed
BUILD := dist/.built
# Go SDK: go from PATH or its usual install place; the buf plugins scripts/install-go-deps.sh builds.
export PATH := $(PATH):/usr/local/go/bin
GO_PLUGINS := clients/go/.bin/protoc-gen-go clients/go/.bin/protoc-gen-go-grpc
TS_SOURCES := $(shell find server/src clients/typescript/src examples/typescript -name '*.ts' -not -path '*/dist/*' 2>/dev/null)

.PHONY: all build proto run test test-deps python-deps test-python go-test java-test unit lint format bench clean

all: build

$(NODE_MODULES): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

$(BUILD): $(NODE_MODULES) $(TS_SOURCES) tsconfig.json tsconfig.build.json
	npm run build
	@touch $@

# Regenerates every language's code from proto/ (buf lints the contract first).
proto: $(NODE_MODULES) python-deps $(GO_PLUGINS)
	npx buf lint
	npx buf generate
	clients/python/gen.sh

$(GO_PLUGINS):
	scripts/install-go-deps.sh plugins

build: $(BUILD)

# The built-in PBX on 127.0.0.1: UDP and TCP 5060, TLS 5061, WS 8080 and WSS 8443 (path /ws),
# readable logs (examples/pbx-demo.yaml: users alice/1234 and bob/5678; TLS with the
# self-signed certificate scripts/make-test-cert.sh makes in .certs/). Ctrl-C stops it.
run: build
	@scripts/make-test-cert.sh
	@echo "Demo users: alice (password 1234), bob (password 5678)."
	bin/nksip-server --config examples/pbx-demo.yaml

# Tools the interop tests drive: sipp and chromium from Debian's packages when missing, and
# the TLS-capable sipp of the `sipp -t l1` test in .tools/ (scripts/install-sipp-tls.sh).
test-deps: python-deps
	@scripts/install-test-deps.sh
	@scripts/install-go-deps.sh
	@scripts/install-java-deps.sh

# The Python SDK's venv (clients/python/.venv) with the package and its dev extras.
python-deps:
	@scripts/install-python-deps.sh

# The Python SDK: ruff and mypy --strict on the package and the examples, then pytest (part of
# it against the built server).
test-python: build python-deps
	cd clients/python && .venv/bin/ruff format --check src tests ../../examples/python
	cd clients/python && .venv/bin/ruff check src tests ../../examples/python
	cd clients/python && .venv/bin/mypy
	cd clients/python && .venv/bin/mypy --strict ../../examples/python
	cd clients/python && .venv/bin/python -m pytest -q

# The Go SDK's own checks: gofmt, go vet, and go test with the race detector (its
# integration tests start the built server, so `build` comes first).
go-test: build
	@# the unformatted files go to stderr by dup (>&2): `tee /dev/stderr` reopened a log file
	@# that stderr was redirected to, truncating everything logged before it
	@unformatted="$$(gofmt -l clients/go examples/go)"; \
	if [ -n "$$unformatted" ]; then echo "$$unformatted" >&2; exit 1; fi
	cd clients/go && go vet ./... && go test -race -count=1 ./...
	cd examples/go && go vet ./...

# The Java SDK's JUnit tests (part of them against the built server, so `build` comes first).
java-test: build
	mvn -B -ntp -f clients/java/pom.xml test

test: build test-deps test-python go-test java-test
	npx vitest run

unit: $(NODE_MODULES)
	npx vitest run server/test

lint: $(NODE_MODULES)
	npx buf lint
	npx biome check .
	npx tsc -p tsconfig.json --noEmit
	npx tsc -p clients/typescript/tsconfig.json --noEmit
	npx tsc -p examples/typescript/tsconfig.json --noEmit

format: $(NODE_MODULES)
	npx biome check --write .

bench: build test-deps
	scripts/install-bench-deps.sh
	node bench/parser-bench.mjs
	node bench/options-load.mjs

clean:
	rm -rf dist
