# Cleanroom: `make demo` builds and runs the demo room; `make test` runs the
# test suite (what CI runs).

GO      ?= go
BIN     := bin/cleanroom
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
DEMO_DATA ?= demo-data
DEMO_ADDR ?= 127.0.0.1:8443

.PHONY: all build test demo bench fmt clean

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/cleanroom

test:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) test -count=1 ./...

demo: build
	$(BIN) demo --data $(DEMO_DATA) --addr $(DEMO_ADDR)

bench:
	$(GO) test -run '^$$' -bench . -benchtime 1x ./internal/synth/

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin $(DEMO_DATA)
