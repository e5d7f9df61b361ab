package static

import (
	"bufio"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"wasmhttpd/host/http1"
)

// benchRoot holds a 1 KiB page and a 16 KiB stylesheet.
func benchRoot(b *testing.B) string {
	root := filepath.Join(b.TempDir(), "www")
	write(b, root, "page.html", "<!doctype html>"+strings.Repeat("x", 1024-15))
	write(b, root, "assets/css/site.css", strings.Repeat("body { color: #333; margin: 0 auto; }\n", 16<<10/38))
	return root
}

// fakeConn is a connection's worth of http1 state over io.Discard.
type fakeConn struct {
	req http1.Request
	w   *http1.ResponseWriter
	ex  http1.Exchange
}

func newFakeConn(b *testing.B, raw string) *fakeConn {
	c := &fakeConn{}
	r := http1.NewReader(bufio.NewReader(strings.NewReader(raw)), io.Discard, http1.Limits{})
	require.NoError(b, r.ReadRequest(&c.req))
	c.w = http1.NewResponseWriter(bufio.NewWriterSize(io.Discard, 8<<10), io.Discard)
	c.ex = http1.Exchange{Request: &c.req, Response: c.w}
	return c
}

func (c *fakeConn) serve(h http1.Handler) {
	c.w.Reset(&c.req)
	h.Serve(&c.ex)
	c.w.Finish()
}

// BenchmarkServe1KiB is the hot path: a GET for a 1 KiB file, as wrk
// sends it, through Serve and the response writer.
func BenchmarkServe1KiB(b *testing.B) {
	for _, mode := range []struct {
		name     string
		fallback bool
	}{{"openat2", false}, {"os.Root", true}} {
		b.Run(mode.name, func(b *testing.B) {
			h := newHandler(b, Config{Root: benchRoot(b)}, mode.fallback)
			c := newFakeConn(b, "GET /page.html HTTP/1.1\r\nHost: bench\r\nUser-Agent: wrk\r\n\r\n")
			c.serve(h)
			require.Equal(b, 200, c.w.Status())
			b.ReportAllocs()
			for b.Loop() {
				c.serve(h)
			}
		})
	}
}

// BenchmarkServeBrowserGET is a browser's request for the same file,
// with conditionals that miss and compression on (the file is HTML, and
// compressible, so sidecars are looked for and gzip is made).
func BenchmarkServeBrowserGET(b *testing.B) {
	root := benchRoot(b)
	raw := "GET /page.html HTTP/1.1\r\nHost: bench\r\n" +
		"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36\r\n" +
		"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n" +
		"Accept-Language: en-US,en;q=0.9\r\nAccept-Encoding: gzip, deflate, br, zstd\r\n" +
		"If-None-Match: \"stale\"\r\nIf-Modified-Since: Sat, 01 Jan 2000 00:00:00 GMT\r\n\r\n"
	for _, cfg := range []struct {
		name string
		cfg  Config
	}{
		{"plain", Config{Root: root}},
		{"compress+precompressed", Config{Root: root, Compress: true, Precompressed: true}},
	} {
		b.Run(cfg.name, func(b *testing.B) {
			h := newHandler(b, cfg.cfg, false)
			c := newFakeConn(b, raw)
			b.ReportAllocs()
			for b.Loop() {
				c.serve(h)
			}
		})
	}
}

// BenchmarkServe304 is a revalidation that hits.
func BenchmarkServe304(b *testing.B) {
	root := benchRoot(b)
	h := newHandler(b, Config{Root: root}, false)
	c := newFakeConn(b, "GET /page.html HTTP/1.1\r\nHost: bench\r\n\r\n")
	c.serve(h)
	etag := c.w.Header().Get("ETag")
	c = newFakeConn(b, "GET /page.html HTTP/1.1\r\nHost: bench\r\nIf-None-Match: "+string(etag)+"\r\n\r\n")
	c.serve(h)
	require.Equal(b, 304, c.w.Status())
	b.ReportAllocs()
	for b.Loop() {
		c.serve(h)
	}
}

// BenchmarkGzip measures on-the-fly gzip of a 16 KiB stylesheet both
// ways: compressed into a buffer to learn its length, and streamed
// chunked. It is the measurement behind bufferedGzipMax.
func BenchmarkGzip(b *testing.B) {
	root := benchRoot(b)
	h := newHandler(b, Config{Root: root, Compress: true}, false)
	c := newFakeConn(b, "GET /assets/css/site.css HTTP/1.1\r\nHost: bench\r\nAccept-Encoding: gzip\r\n\r\n")
	for _, mode := range []struct {
		name string
		max  int64
	}{{"buffered", 64 << 10}, {"streamed", 0}} {
		b.Run(mode.name, func(b *testing.B) {
			saved := bufferedGzipMax
			bufferedGzipMax = mode.max
			defer func() { bufferedGzipMax = saved }()
			b.ReportAllocs()
			b.SetBytes(16 << 10)
			for b.Loop() {
				c.serve(h)
			}
		})
	}
}

// discardResponseWriter is the least a net/http handler can write to.
type discardResponseWriter struct {
	h      http.Header
	status int
}

func (w *discardResponseWriter) Header() http.Header         { return w.h }
func (w *discardResponseWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardResponseWriter) WriteHeader(status int)      { w.status = status }

// BenchmarkNetHTTPFileServer1KiB is the reference: net/http's FileServer
// for the same file, with a ResponseWriter that does nothing (so it
// leaves out net/http's own serialization, which BenchmarkServe1KiB
// includes for us).
func BenchmarkNetHTTPFileServer1KiB(b *testing.B) {
	fs := http.FileServer(http.Dir(benchRoot(b)))
	req, err := http.ReadRequest(bufio.NewReader(strings.NewReader("GET /page.html HTTP/1.1\r\nHost: bench\r\nUser-Agent: wrk\r\n\r\n")))
	require.NoError(b, err)
	w := &discardResponseWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		fs.ServeHTTP(w, req)
	}
}
