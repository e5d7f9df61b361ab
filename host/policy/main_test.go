package policy

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"wasmhttpd/host/http1"
)

// Guests are built from testdata/<name>/main.go by the standard toolchain
// once per run; the engine (and its compilation cache) is shared so that
// each module is compiled once.
var (
	guestDir string
	engine   *Engine
	logBuf   syncBuffer
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "policy-test")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	guestDir = dir
	builds := []struct{ name, src, ldflags string }{
		{"conform", "conform", ""},
		{"hostile", "hostile", ""},
		{"v1", "version", "-X main.version=v1"},
		{"v2", "version", "-X main.version=v2"},
		{"noexport", "noexport", ""},
		{"inittrap", "inittrap", ""},
	}
	var wg sync.WaitGroup
	errs := make([]error, len(builds))
	for i, b := range builds {
		wg.Go(func() {
			cmd := exec.Command("go", "build", "-buildmode=c-shared", "-ldflags", b.ldflags,
				"-o", filepath.Join(dir, b.name+".wasm"), ".")
			cmd.Dir = filepath.Join("testdata", b.src)
			cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
			if out, err := cmd.CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("building %s: %v\n%s", b.name, err, out)
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	logger := slog.New(slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	engine, err = NewEngine(context.Background(), EngineOptions{
		CacheDir: filepath.Join(dir, "cache"), MemoryLimitPages: 512, Logger: logger,
	})
	if err != nil {
		panic(err)
	}
	defer engine.Close(context.Background())
	return m.Run()
}

func guest(name string) string { return filepath.Join(guestDir, name+".wasm") }

// load loads a test guest with test-friendly options.
func load(t testing.TB, name string, mod func(*Options)) *Policy {
	t.Helper()
	opts := Options{Name: name, Path: guest(name), PoolSize: 4}
	if mod != nil {
		mod(&opts)
	}
	p, err := engine.Load(context.Background(), opts)
	require.NoError(t, err)
	t.Cleanup(p.Close)
	return p
}

// echo is the next handler of the tests: it reflects the request it got
// in response fields (x-echo-method, x-echo-uri, x-echo-h-<name>) and its
// body in the response body.
var echo = http1.HandlerFunc(func(ex *http1.Exchange) {
	req, w := ex.Request, ex.Response
	h := w.Header()
	h.Set("x-echo-method", req.Method)
	h.Set("x-echo-uri", string(req.Target))
	for name, v := range req.Header.All() {
		h.AddBytes(append([]byte("x-echo-h-"), name...), v)
	}
	body, _ := io.ReadAll(req.Body)
	h.Set("content-type", "text/plain")
	w.SetContentLength(int64(len(body)))
	w.WriteHeader(200)
	w.Write(body)
})

// response is a parsed response and the trailer fields the writer held.
type response struct {
	*http.Response
	body    string
	trailer http.Header
}

// do serves one raw request through h over in-memory buffers and parses
// the result with net/http, an independent peer.
func do(t testing.TB, h http1.Handler, raw string) response {
	t.Helper()
	ex, finish := exchange(t, raw)
	h.Serve(ex)
	return finish()
}

// exchange parses raw into an exchange whose response goes to memory;
// finish completes the response and parses it.
func exchange(t testing.TB, raw string) (ex *http1.Exchange, finish func() response) {
	t.Helper()
	br := bufio.NewReader(strings.NewReader(raw))
	var out bytes.Buffer
	bw := bufio.NewWriter(&out)
	r := http1.NewReader(br, bw, http1.Limits{})
	var req http1.Request
	require.NoError(t, r.ReadRequest(&req))
	w := http1.NewResponseWriter(bw, &out)
	w.Reset(&req)
	ex = &http1.Exchange{Request: &req, Response: w, RemoteAddr: netip.MustParseAddrPort("192.0.2.7:4242")}
	return ex, func() response {
		w.Finish()
		bw.Flush()
		resp, err := http.ReadResponse(bufio.NewReader(&out), nil)
		require.NoError(t, err, out.String())
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return response{Response: resp, body: string(body), trailer: resp.Trailer}
	}
}

func get(test string, extra ...string) string {
	return "GET /path?x=1 HTTP/1.1\r\nHost: example.test\r\nX-Test: " + test + "\r\n" +
		strings.Join(extra, "") + "\r\n"
}

// loadLoop sends good requests through c from n goroutines until the
// returned stop is called; stop reports how many responses passed check
// and how many did not.
func loadLoop(t *testing.T, c *Chain, n int, check func(response) bool) (stop func() (passed, failed int64)) {
	done := make(chan struct{})
	var ok, bad atomic.Int64
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				if r := do(t, c, get("fine")); check(r) {
					ok.Add(1)
				} else if bad.Add(1) == 1 {
					t.Logf("first failed response: %d %q", r.StatusCode, r.body)
				}
			}
		})
	}
	return func() (int64, int64) {
		close(done)
		wg.Wait()
		return ok.Load(), bad.Load()
	}
}
