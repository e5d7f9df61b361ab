package policy

import (
	"bufio"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"wasmhttpd/host/http1"
)

// BenchmarkPassThrough measures one request through a chain of a single
// pass-through guest (handle_request making one host call,
// set_header_value) in front of a handler that answers an empty 200:
// instance checkout, the deadline context, the guest call and the host
// call. BenchmarkNoPolicy is the same exchange without the chain.
func BenchmarkPassThrough(b *testing.B) {
	p := load(b, "v1", func(o *Options) { o.Name = "bench" })
	benchExchange(b, NewChain([]*Policy{p}, empty))
}

// BenchmarkNoPolicy is the baseline for BenchmarkPassThrough.
func BenchmarkNoPolicy(b *testing.B) { benchExchange(b, empty) }

// BenchmarkGuestCall is the bare cost of one handle_request call on a
// checked-out instance, without the exchange around it.
func BenchmarkGuestCall(b *testing.B) {
	p := load(b, "v1", func(o *Options) { o.Name = "bench-call" })
	g := p.acquire()
	defer g.release()
	in, err := g.get()
	if err != nil {
		b.Fatal(err)
	}
	defer g.put(in)
	ex := newBenchExchange()
	ex.Response.Reset(ex.Request)
	in.st.begin(ex, 0)
	b.ReportAllocs()
	for b.Loop() {
		ex.Response.Header().Reset()
		if _, f := in.handleRequest(); f != nil {
			b.Fatal(f.cause)
		}
	}
}

var empty = http1.HandlerFunc(func(ex *http1.Exchange) {
	ex.Response.SetContentLength(0)
	ex.Response.WriteHeader(200)
})

func newBenchExchange() *http1.Exchange {
	raw := "GET /index.html HTTP/1.1\r\nHost: example.test\r\nUser-Agent: bench\r\n\r\n"
	br := bufio.NewReader(strings.NewReader(raw))
	r := http1.NewReader(br, io.Discard, http1.Limits{})
	req := new(http1.Request)
	if err := r.ReadRequest(req); err != nil {
		panic(err)
	}
	w := http1.NewResponseWriter(bufio.NewWriter(io.Discard), io.Discard)
	return &http1.Exchange{Request: req, Response: w, RemoteAddr: netip.MustParseAddrPort("192.0.2.7:4242")}
}

func benchExchange(b *testing.B, h http1.Handler) {
	ex := newBenchExchange()
	b.ReportAllocs()
	for b.Loop() {
		ex.Response.Reset(ex.Request)
		h.Serve(ex)
		ex.Response.Finish()
	}
}

// BenchmarkSwap is the time to swap a policy between two modules the
// compilation cache has seen: read, hash, compile (cached), instantiate
// the pre-warmed instances, swap, and close the old generation. It also
// reports the Go heap growth over the run: with -benchtime 200x it is the
// "no memory growth across 200 swaps" check of issue 3.
func BenchmarkSwap(b *testing.B) {
	v1, err := os.ReadFile(guest("v1"))
	if err != nil {
		b.Fatal(err)
	}
	v2, _ := os.ReadFile(guest("v2"))
	path := filepath.Join(b.TempDir(), "swap.wasm")
	install(b, path, v1)
	p := load(b, "v1", func(o *Options) { o.Name, o.Path = "bench-swap", path })
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	i := 0
	for b.Loop() {
		data := v2
		if i%2 == 1 {
			data = v1
		}
		i++
		install(b, path, data)
		if err := p.Reload(b.Context()); err != nil {
			b.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(p.Stats().Instances), "instances")
	b.ReportMetric(float64(int64(after.HeapInuse)-int64(before.HeapInuse))/(1<<20), "heap-MiB-growth")
	b.ReportMetric(float64(engine.OpenInstances()), "engine-instances")
}
