package caching

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"wasmhttpd/host/cache"
	"wasmhttpd/host/http1"
	"wasmhttpd/host/policy"
	"wasmhttpd/host/proxy"
)

// cachePolicyWasm is the standard cache policy, as make builds it.
const cachePolicyWasm = "../../policies/cache.wasm"

// BenchmarkHit is one fresh 1 KiB hit as the forward proxy serves it,
// decided by the standard cache policy through the real policy host, and
// written to a discarding connection: the proxy's preparation, the
// decisions, the store's lookup, the body (kept in memory, as the default
// cache.max_memory keeps small ones) and the response. What is left of a
// hit on the wire is the socket's. "reused" is the proxy as it runs: the
// policy declares its decisions reusable, so the guest decides once a
// second; "decided" calls the guest twice on every hit, as a policy that
// does not declare them would be.
func BenchmarkHit(b *testing.B) {
	b.Run("reused", func(b *testing.B) { benchmarkHit(b, func(d Decider) Decider { return d }) })
	b.Run("decided", func(b *testing.B) { benchmarkHit(b, func(d Decider) Decider { return forgetful{d} }) })
}

// forgetful is a Decider that keeps no decisions for reuse.
type forgetful struct{ Decider }

func (f forgetful) CacheRequest(ex *http1.Exchange, _ *policy.Memo) (policy.CacheRequestDecision, error) {
	return f.Decider.CacheRequest(ex, nil)
}

func (f forgetful) CacheLookup(ex *http1.Exchange, t policy.CacheTimes, _ *policy.Memo) (policy.CacheLookupDecision, error) {
	return f.Decider.CacheLookup(ex, t, nil)
}

func benchmarkHit(b *testing.B, wrap func(Decider) Decider) {
	if _, err := os.Stat(cachePolicyWasm); err != nil {
		b.Skip("policies/cache.wasm is not built; run make policies")
	}
	quiet := slog.New(slog.DiscardHandler)
	ctx := context.Background()
	engine, err := policy.NewEngine(ctx, policy.EngineOptions{Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	defer engine.Close(ctx)
	// A generous deadline: on a loaded machine a call that meets the
	// guest's own garbage collection can take milliseconds, and a
	// timeout would end the benchmark, not measure it.
	decider, err := engine.Load(ctx, policy.Options{Name: "cache", Path: cachePolicyWasm, CacheHooks: true,
		CallTimeout: time.Second, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	defer decider.Close()
	store, err := cache.Open(b.TempDir(), cache.Options{MaxSize: 1 << 20, MaxEntries: 10, MaxObjectSize: 1 << 20,
		MaxMemory: 1 << 20, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	px := proxy.New(proxy.Config{Name: "bench", Logger: quiet})
	defer px.Close()
	c := New(Config{Store: store, Proxy: px, Decider: wrap(decider), Logger: quiet})
	defer c.Close()

	const raw = "GET http://origin.test/1k.bin HTTP/1.1\r\nHost: origin.test\r\nUser-Agent: bench\r\n\r\n"
	lastModified := time.Now().Add(-24 * time.Hour).UTC().Format(http1.TimeFormat)
	var stored http1.Header
	stored.Set("Content-Type", "application/octet-stream")
	stored.Set("ETag", `"bench"`)
	stored.Set("Last-Modified", lastModified)
	stored.Set("Date", time.Now().UTC().Format(http1.TimeFormat))
	body := strings.Repeat("x", 1024)
	now := time.Now()
	sw, err := store.Begin("http://origin.test/1k.bin", &http1.Header{}, cache.Response{Status: 200, Header: &stored,
		Times: cache.Times{Request: now, Response: now}, Length: int64(len(body))})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.WriteString(sw, body); err != nil {
		b.Fatal(err)
	}
	if _, err := sw.Commit(); err != nil {
		b.Fatal(err)
	}

	req := new(http1.Request)
	r := http1.NewReader(bufio.NewReader(strings.NewReader(raw)), io.Discard, http1.Limits{})
	if err := r.ReadRequest(req); err != nil {
		b.Fatal(err)
	}
	w := http1.NewResponseWriter(bufio.NewWriter(io.Discard), io.Discard)
	ex := &http1.Exchange{Request: req, Response: w, RemoteAddr: netip.MustParseAddrPort("127.0.0.1:4242")}
	b.ReportAllocs()
	for b.Loop() {
		w.Reset(req)
		c.ServeForward(ex)
		w.Finish()
		if !strings.HasPrefix(string(w.Header().Get("Cache-Status")), "wasmhttpd; hit") {
			b.Fatalf("not a hit: %q", w.Header().Get("Cache-Status"))
		}
	}
}
