# kdu — see README.md. Every tool this Makefile needs is installed by the project itself and cached under
# $(HOME)/.cache/kdu, so a fresh Debian machine with Go is enough.

SHELL        := /bin/bash
GO           ?= go
CACHE        ?= $(HOME)/.cache/kdu
STATICCHECK  := $(CACHE)/bin/staticcheck-v0.8.2/staticcheck
BIN          := bin/kdu
VERSION      ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS      := -X github.com/kdu-io/kdu/internal/cli.Version=$(VERSION)
TEST_FLAGS   ?= -count=1 -timeout 30m
FUZZTIME     ?= 10s
SOAK_ROUNDS  ?= 100
RACE_PKGS    ?= ./internal/locks/ ./internal/store/... ./internal/testkit/pgtest/ ./internal/secret/ ./internal/engine/values/ ./internal/cluster/ ./internal/engine/helm/ ./internal/ops/ ./internal/statustarget/...

export CGO_ENABLED ?= 0
export GOFLAGS     ?= -buildvcs=false

.PHONY: all build demo test unit osm lint helm2 fuzz bench soak cluster-up cluster-down clean help

all: build

help: ## list targets
	@grep -E '^[a-z0-9-]+:.*##' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 16

build: ## build bin/kdu
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/kdu

demo: build ## local cluster up, kdu installs, scales, upgrades, rolls back and uninstalls the demo chart
	scripts/demo

test: lint helm2 ## lint, then every test: unit, fuzz seeds and integration on the local control plane and PostgreSQL
	scripts/devcluster up >/dev/null
	scripts/postgres install
	$(GO) test $(TEST_FLAGS) ./...
	@if command -v gcc >/dev/null; then \
	  echo "race detector on the concurrency-heavy packages:"; \
	  CGO_ENABLED=1 $(GO) test -race $(TEST_FLAGS) $(RACE_PKGS); \
	else echo "note: no C compiler, so no -race run (the race detector needs cgo)"; fi

unit: ## tests that need no cluster
	scripts/postgres install
	$(GO) test $(TEST_FLAGS) $$($(GO) list ./... | grep -v -e '^github.com/kdu-io/kdu$$' -e /internal/cli -e /internal/testkit/clustertest -e /internal/testkit/tillertest -e '/internal/serve$$' -e /connectors/osm)

osm: helm2 ## the OSM connector's tests (pytest, connectors/osm/tests) against a real kdu serve on the local control plane
	scripts/devcluster up >/dev/null
	$(GO) test $(TEST_FLAGS) -v ./connectors/osm/

lint: $(STATICCHECK) ## gofmt, go vet, staticcheck, go mod tidy, import rules
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt wants to change:"; echo "$$out"; exit 1; fi
	@$(GO) mod tidy -diff >/dev/null 2>&1 || { echo "go.mod/go.sum are not tidy: run go mod tidy"; $(GO) mod tidy -diff; exit 1; }
	scripts/check-imports
	$(GO) vet ./...
	$(STATICCHECK) ./...

helm2: ## build (once; cached under $(CACHE)/bin) Tiller v2.17.0 and the helm v2 CLI that the tests run
	scripts/helm2 build >/dev/null

$(STATICCHECK):
	GOBIN=$(dir $@) $(GO) install honnef.co/go/tools/cmd/staticcheck@v0.8.2

fuzz: ## run every fuzz target for FUZZTIME each
	@set -e; grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u | while read -r dir; do \
	  for f in $$(grep -h -o '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go | cut -d' ' -f2); do \
	    echo "== $$dir $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 3s $$dir; \
	  done; \
	done

bench: ## kdu status (library, API under 50 clients, OSM connector) against `helm status` exec'd, on the local cluster
	bash bench/run.sh

soak: ## SIGKILL kdu serve at random points of SOAK_ROUNDS operations (default 100) and check what each round left
	scripts/devcluster up >/dev/null
	$(GO) run ./bench/soak -rounds $(SOAK_ROUNDS)

cluster-up: ## start (building once) the local control plane
	scripts/devcluster up

cluster-down: ## stop the local control plane
	scripts/devcluster down

clean:
	rm -rf bin
