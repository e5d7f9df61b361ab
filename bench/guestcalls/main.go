// Command guestcalls prints how many guest calls a request costs when it
// passes through a chain of policy modules and every guest passes it on.
// It runs one such request through the real policy host and reads the
// call counters, because the count is not in the modules' exports alone:
// a guest that declares FeatureRequestOnly exports handle_response but is
// not called there. bench/run.sh divides the chain's extra CPU per request
// by this count.
//
//	guestcalls MODULE.wasm...
//
// Output: "REQUEST_CALLS RESPONSE_CALLS", e.g. "3 0".
package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"wasmhttpd/host/http1"
	"wasmhttpd/host/policy"
)

// request is what the benchmark's client sends: a GET that every
// standard policy passes on (it holds the cookie policy's cookie).
const request = "GET /1k.bin HTTP/1.1\r\nHost: bench\r\nCookie: session=0123456789abcdef0123456789abcdef\r\n\r\n"

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: guestcalls MODULE.wasm...")
		os.Exit(2)
	}
	ctx := context.Background()
	logger := slog.New(slog.DiscardHandler)
	engine, err := policy.NewEngine(ctx, policy.EngineOptions{Logger: logger})
	if err != nil {
		fail(err)
	}
	defer engine.Close(ctx)
	var chain []*policy.Policy
	for _, path := range os.Args[1:] {
		p, err := engine.Load(ctx, policy.Options{Name: strings.TrimSuffix(filepath.Base(path), ".wasm"), Path: path,
			CallTimeout: 10 * time.Second, Logger: logger})
		if err != nil {
			fail(err)
		}
		defer p.Close()
		chain = append(chain, p)
	}
	passed := false
	next := http1.HandlerFunc(func(ex *http1.Exchange) {
		passed = true
		ex.Response.SetContentLength(0)
		ex.Response.WriteHeader(200)
	})
	r := http1.NewReader(bufio.NewReader(strings.NewReader(request)), io.Discard, http1.Limits{})
	var req http1.Request
	if err := r.ReadRequest(&req); err != nil {
		fail(err)
	}
	w := http1.NewResponseWriter(bufio.NewWriter(io.Discard), io.Discard)
	w.Reset(&req)
	policy.NewChain(chain, next).Serve(&http1.Exchange{Request: &req, Response: w})
	if !passed {
		fail(fmt.Errorf("a policy of the chain answered the request itself (status %d)", w.Status()))
	}
	var calls uint64
	for _, p := range chain {
		calls += p.Stats().Calls
	}
	fmt.Println(len(chain), calls-uint64(len(chain)))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "guestcalls:", err)
	os.Exit(1)
}
