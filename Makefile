# wasmhttpd — build, run, test, benchmark. Needs only Go; everything else
# (wrk for the benchmark) is installed by the target that needs it.

GO      ?= go
BIN     := bin/wasmhttpd
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)

.PHONY: all build run test vet fuzz bench clean

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./host/cmd/wasmhttpd

run: build
	./$(BIN) -config config.toml

vet:
	@unformatted=$$(gofmt -l host bench e2e 2>/dev/null); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

# The whole suite: unit tests under the race detector, then the end-to-end
# tests, which build and start the real binary on loopback ports.
test: vet
	$(GO) test -race -count=1 ./host/... ./bench/...
	$(GO) test -count=1 ./e2e/...

# A short run of every fuzz target (the seed corpus also runs in `make test`).
FUZZTIME ?= 30s
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzReadRequest -fuzztime $(FUZZTIME) ./host/http1
	$(GO) test -run '^$$' -fuzz 'FuzzResolve$$' -fuzztime $(FUZZTIME) ./host/static
	$(GO) test -run '^$$' -fuzz 'FuzzServePath$$' -fuzztime $(FUZZTIME) ./host/static

bench: build
	bench/run.sh

clean:
	rm -rf bin
