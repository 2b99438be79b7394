# Cleanroom: `make demo` builds and runs the demo room; `make test` runs the
# test suite (what CI runs); `make fuzz` runs every fuzz target for FUZZTIME
# each (CI runs it too); `make vuln` runs govulncheck (over the Beam build,
# which holds every package of the default one); `make bench-load`
# runs the load benchmark (BENCHMARKS.md, "Load"); `make build-beam` builds
# the binary with the Apache Beam engine (docs/scale-out.md).

GO      ?= go
BIN     := bin/cleanroom
BIN_BEAM := bin/cleanroom-beam
# The packages whose tests also run in the Beam build: the engine itself,
# and the server's whole suite (runs, output controls, budgets, audit)
# with every plan computed on Beam.
BEAM_TAGS := beam
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
DEMO_DATA ?= demo-data
DEMO_ADDR ?= 127.0.0.1:8443
# Each fuzz target runs this long, one after another (.ci/fuzz), except
# FuzzAPI: every input of it goes through the server and its database,
# whose fuzzing build answers a few dozen requests a second, so it needs
# longer to get past its seeds.
FUZZTIME     ?= 3s
FUZZTIME_API ?= 40s
# govulncheck, and the Go vulnerability database it reads: built from the
# OSV files of the golang.org/x/vulndb module, which the Go module proxy
# serves, since govulncheck's own database server may be out of reach.
# latest is the newest data.
GOVULNCHECK_VERSION ?= v1.9.0
VULNDB_VERSION      ?= latest
VULNDB_DIR          ?= bin/vulndb
# The load benchmark: LOAD_CLIENTS clients spread over LOAD_ROOMS rooms
# send requests for LOAD_DURATION, then the run is checked for consistency.
LOAD_DURATION ?= 30s
LOAD_CLIENTS  ?= 50
LOAD_ROOMS    ?= 10
# The scale-out benchmark: rows of each of the two datasets, comma-separated.
SCALEOUT_ROWS ?= 1000000,5000000

.PHONY: all build build-beam test fuzz vuln attacks demo bench bench-load bench-scaleout fmt clean

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/cleanroom

# The default binary leaves Beam out (its SDK and gRPC take a minute to
# build); this one has it.
build-beam:
	$(GO) build -tags $(BEAM_TAGS) -ldflags "$(LDFLAGS)" -o $(BIN_BEAM) ./cmd/cleanroom

test:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) test -count=1 ./...
	$(GO) vet -tags $(BEAM_TAGS) ./internal/scaleout/ ./internal/httpapi/ ./cmd/cleanroom/
	$(GO) test -count=1 -tags $(BEAM_TAGS) ./internal/scaleout/ ./cmd/cleanroom/ -run 'Beam|ScaleOut'
	CLEANROOM_TEST_ENGINE=beam $(GO) test -count=1 -tags $(BEAM_TAGS) ./internal/httpapi/

fuzz:
	GO=$(GO) FUZZTIME=$(FUZZTIME) FUZZTIME_FuzzAPI=$(FUZZTIME_API) ./.ci/fuzz

vuln:
	@set -e; \
	version=$$($(GO) list -m -f '{{.Version}}' golang.org/x/vulndb@$(VULNDB_VERSION)); \
	dir=$$($(GO) mod download -json golang.org/x/vulndb@$$version | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$$/\1/p'); \
	test -d "$$dir/data/osv" || { echo "vuln: no OSV files in golang.org/x/vulndb@$$version" >&2; exit 1; }; \
	rm -rf $(VULNDB_DIR); \
	$(GO) run golang.org/x/vulndb/cmd/indexdb@$$version -vulns "$$dir/data/osv" -out $(VULNDB_DIR); \
	echo "vuln: database golang.org/x/vulndb@$$version, $$(ls $$dir/data/osv | wc -l) entries"; \
	$(GO) run golang.org/x/vuln/cmd/govulncheck@$(GOVULNCHECK_VERSION) -tags $(BEAM_TAGS) -db file://$(abspath $(VULNDB_DIR)) ./...

# The attack suite alone: every test that plays an attacker (docs/security.md,
# "Attack suite"). `make test` runs it too.
attacks:
	$(GO) test -count=1 -run '^TestAttack' ./...

demo: build
	$(BIN) demo --data $(DEMO_DATA) --addr $(DEMO_ADDR)

bench:
	$(GO) test -run '^$$' -bench . -benchtime 1x ./internal/synth/

bench-load:
	$(GO) test -run '^$$' -bench '^BenchmarkLoad$$' -benchtime 1x -timeout 1h ./cmd/cleanroom/ \
		-args -load.duration $(LOAD_DURATION) -load.clients $(LOAD_CLIENTS) -load.rooms $(LOAD_ROOMS)

# DuckDB and Beam on Prism on the same plan and data, and blinding in
# process and on Beam (BENCHMARKS.md, "Scale-out").
bench-scaleout:
	$(GO) test -tags $(BEAM_TAGS) -run '^$$' -bench '^Benchmark(Engines|Prepare)$$' -benchtime 1x -timeout 2h ./internal/scaleout/ \
		-args -bench.rows $(SCALEOUT_ROWS)

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin $(DEMO_DATA)
