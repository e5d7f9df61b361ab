# wasmhttpd — build, run, test, benchmark. Needs only Go; everything else
# (wrk for the benchmark) is installed by the target that needs it.

GO      ?= go
BIN     := bin/wasmhttpd
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)

.PHONY: all build policies run test vet browser fuzz bench clean

all: build

build: policies
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./host/cmd/wasmhttpd

# Policies: every policies/<name>/ becomes policies/<name>.wasm, with TinyGo
# when it is on PATH (small, fast modules) and the standard toolchain
# otherwise, so a machine with only Go builds everything.
TINYGO   ?= $(shell command -v tinygo 2>/dev/null)
POLICIES := $(patsubst policies/%/main.go,policies/%.wasm,$(wildcard policies/*/main.go))
GUEST_SRC := $(shell find guest -name '*.go' ! -name '*_test.go')

policies: $(POLICIES)

.SECONDEXPANSION:
policies/%.wasm: $$(wildcard policies/%/*.go) $(GUEST_SRC) go.mod
ifneq ($(TINYGO),)
	$(TINYGO) build -target=wasip1 -buildmode=c-shared -no-debug -o $@ ./policies/$*
else
	GOOS=wasip1 GOARCH=wasm $(GO) build -buildmode=c-shared -trimpath -ldflags '-s -w' -o $@ ./policies/$*
endif

run: build
	./$(BIN) -config config.toml

vet:
	@unformatted=$$(gofmt -l host bench e2e guest policies examples 2>/dev/null); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	GOOS=wasip1 GOARCH=wasm $(GO) vet ./guest/... ./policies/... ./examples/...

# The whole suite: unit tests under the race detector, then the end-to-end
# tests, which build and start the real binary on loopback ports.
test: vet browser
	$(GO) test -race -count=1 ./host/... ./bench/...
	$(GO) test -race -count=1 ./guest/... ./policies/... ./examples/...
	$(GO) test -count=1 ./e2e/...

# The browser tests drive Debian's chromium; it is installed when missing
# and apt-get can (as root), otherwise those tests skip and say why.
browser:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		echo "installing chromium for the browser tests" && \
		timeout 900 sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null'; } || \
		echo "chromium is not installed: the browser tests will skip"

# A short run of every fuzz target (the seed corpus also runs in `make test`).
FUZZTIME ?= 30s
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzReadRequest -fuzztime $(FUZZTIME) ./host/http1
	$(GO) test -run '^$$' -fuzz 'FuzzResolve$$' -fuzztime $(FUZZTIME) ./host/static
	$(GO) test -run '^$$' -fuzz 'FuzzServePath$$' -fuzztime $(FUZZTIME) ./host/static
	$(GO) test -run '^$$' -fuzz FuzzReadResponse -fuzztime $(FUZZTIME) ./host/http1
	$(GO) test -run '^$$' -fuzz 'FuzzDecodeMeta$$' -fuzztime $(FUZZTIME) ./host/cache
	$(GO) test -run '^$$' -fuzz 'FuzzDecodePayload$$' -fuzztime $(FUZZTIME) ./host/cache
	$(GO) test -run '^$$' -fuzz FuzzDecode -fuzztime $(FUZZTIME) ./host/ping
	$(GO) test -run '^$$' -fuzz FuzzReadReply -fuzztime $(FUZZTIME) ./host/smtp
	$(GO) test -run '^$$' -fuzz FuzzInstrument -fuzztime $(FUZZTIME) ./host/policy/internal/interrupt

bench: build
	bench/run.sh

clean:
	rm -rf bin policies/*.wasm
