package proxy

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wasmhttpd/host/http1"
	"wasmhttpd/host/server"
	"wasmhttpd/host/server/servertest"
)

// testName is the Via pseudonym of the proxies under test.
const testName = "testproxy"

// noLeaks fails the test if goroutines started during it are still
// running once it has cleaned up. Call it first, so that its check runs
// after every other cleanup. (It polls by hand: assert.Eventually would
// count its own goroutine.)
func noLeaks(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		http.DefaultTransport.(*http.Transport).CloseIdleConnections()
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if runtime.NumGoroutine() <= before {
				return
			}
		}
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines left behind:\n%s", runtime.NumGoroutine()-before, buf[:runtime.Stack(buf, true)])
	})
}

// serve runs handler in a real server on a loopback port and returns its
// address; server and proxy stop when the test ends.
func serve(t testing.TB, handler http1.Handler) string {
	t.Helper()
	return servertest.Start(t, server.Config{Name: "proxy", Handler: handler})
}

// startProxy starts a forward proxy with cfg (Name and Logger filled in
// when unset) and returns it with its address.
func startProxy(t testing.TB, cfg Config) (*Proxy, string) {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = testName
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	p := New(cfg)
	t.Cleanup(p.Close)
	return p, serve(t, p)
}

// proxyClient is a net/http client that uses the proxy at addr.
func proxyClient(t testing.TB, addr string) *http.Client {
	t.Helper()
	tr := &http.Transport{Proxy: http.ProxyURL(&url.URL{Scheme: "http", Host: addr})}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// countingOrigin is a net/http test origin that counts the connections
// it accepted and those open now.
type countingOrigin struct {
	*httptest.Server
	accepted atomic.Int64
	open     atomic.Int64
}

func newOrigin(t testing.TB, h http.HandlerFunc) *countingOrigin {
	t.Helper()
	o := &countingOrigin{Server: httptest.NewUnstartedServer(h)}
	o.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			o.accepted.Add(1)
			o.open.Add(1)
		case http.StateClosed, http.StateHijacked:
			o.open.Add(-1)
		}
	}
	o.Start()
	t.Cleanup(o.Close)
	return o
}

// host returns the origin's host:port.
func (o *countingOrigin) host() string { return strings.TrimPrefix(o.URL, "http://") }

// rawOrigin accepts connections on a loopback port and hands each to
// handle in its own goroutine; it stops, closing what is left, when the
// test ends.
func rawOrigin(t testing.TB, handle func(c net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				handle(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// readHead reads a request or response head up to its empty line.
func readHead(t testing.TB, br *bufio.Reader) string {
	t.Helper()
	var b strings.Builder
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Errorf("reading head: %v (so far %q)", err, b.String())
			return b.String()
		}
		b.WriteString(line)
		if line == "\r\n" {
			return b.String()
		}
	}
}

// dialProxy opens a raw connection to the proxy.
func dialProxy(t testing.TB, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c, bufio.NewReader(c)
}

// roundTrip sends raw to the proxy on a new connection and reads the
// response to method, body included.
func roundTrip(t testing.TB, addr, raw, method string) (*http.Response, string) {
	t.Helper()
	c, br := dialProxy(t, addr)
	_, err := io.WriteString(c, raw)
	require.NoError(t, err)
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(body)
}

// runtimeStats is the allocation total at one moment.
type runtimeStats struct{ alloc uint64 }

func (s *runtimeStats) read() {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	s.alloc = m.TotalAlloc
}
