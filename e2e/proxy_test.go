package e2e

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// cachingConfig is defaultConfig with the forward proxy on and its cache
// in cacheDir, decided by the standard cache policy; proxyKeys go into
// [proxy], extra after the rest.
func cachingConfig(t *testing.T, cacheDir, extra string, proxyKeys ...string) string {
	t.Helper()
	policies, err := filepath.Abs("../policies")
	require.NoError(t, err)
	return withProxy(defaultConfig(fmt.Sprintf(`
[policies.cache]
wasm = %q

[cache]
policy = "cache"
dir = %q
`, filepath.Join(policies, "cache.wasm"), cacheDir)+extra), proxyKeys...)
}

// countingOrigin is a Go test origin that counts its requests.
func countingOrigin(t *testing.T, handler http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		handler(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

// viaProxy returns a client that sends every request through addr, with
// the harness client's deadline, so that a hung proxy fails the test
// rather than the run.
func viaProxy(addr string, tlsConfig *tls.Config) *http.Client {
	u, _ := url.Parse("http://" + addr)
	return &http.Client{
		Transport: &http.Transport{Proxy: http.ProxyURL(u), TLSClientConfig: tlsConfig, DisableKeepAlives: true},
		Timeout:   client.Timeout,
	}
}

// getVia GETs url with c.
func getVia(t *testing.T, c *http.Client, url string) (*http.Response, string) {
	t.Helper()
	return fetch(t, c, "GET", url, nil)
}

// TestCachingForwardProxy: a miss is stored, the next request is a hit
// with Age and Cache-Status from the cache policy, and the cache outlives
// a restart.
func TestCachingForwardProxy(t *testing.T) {
	origin, hits := countingOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=300")
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, "from the origin "+r.URL.Path)
	})
	cacheDir := t.TempDir()
	config := cachingConfig(t, cacheDir, "")
	inst := startServer(t, config)
	client := viaProxy(inst.proxy(), nil)

	resp, body := getVia(t, client, origin.URL+"/doc")
	assert.Equal(t, "from the origin /doc", body)
	assert.Contains(t, resp.Header.Get("Cache-Status"), "fwd=miss; fwd-status=200; stored")
	resp, body = getVia(t, client, origin.URL+"/doc")
	assert.Equal(t, "from the origin /doc", body)
	assert.Contains(t, resp.Header.Get("Cache-Status"), "wasmhttpd; hit")
	assert.NotEmpty(t, resp.Header.Get("Age"))
	assert.Contains(t, resp.Header.Get("Via"), "1.1 ")
	assert.Equal(t, int64(1), hits.Load())

	inst.stop()
	inst = startServer(t, config)
	client = viaProxy(inst.proxy(), nil)
	resp, body = getVia(t, client, origin.URL+"/doc")
	assert.Equal(t, "from the origin /doc", body)
	assert.Contains(t, resp.Header.Get("Cache-Status"), "hit", "served from the warm cache after a restart")
	assert.Equal(t, int64(1), hits.Load())
	assert.Contains(t, inst.stderr.String(), "entries=1")
}

// TestCachingTheProjectsOwnOrigin puts the proxy in front of wasmhttpd's
// own origin listener: the static root's validators revalidate with 304.
func TestCachingTheProjectsOwnOrigin(t *testing.T) {
	inst := startServer(t, cachingConfig(t, t.TempDir(), ""))
	// Modified an hour ago, new.html is heuristically fresh for six
	// minutes; as copied for the test, it would be for no whole second.
	hourAgo := time.Now().Add(-time.Hour)
	require.NoError(t, os.Chtimes(filepath.Join(inst.dir, "www", "new.html"), hourAgo, hourAgo))
	client := viaProxy(inst.proxy(), nil)
	resp, first := getVia(t, client, inst.url("/new.html"))
	require.Equal(t, 200, resp.StatusCode)
	assert.Contains(t, resp.Header.Get("Cache-Status"), "stored", "Last-Modified makes it heuristically fresh")
	resp, second := getVia(t, client, inst.url("/new.html"))
	assert.Equal(t, first, second)
	assert.Contains(t, resp.Header.Get("Cache-Status"), "hit")

	r, _ := fetch(t, client, "GET", inst.url("/new.html"), nil, "Cache-Control", "no-cache")
	assert.Equal(t, 200, r.StatusCode)
	assert.Contains(t, r.Header.Get("Cache-Status"), "fwd=request; fwd-status=304", "no-cache revalidated against the origin")
}

// TestCurlThroughTheProxy is a real `curl -x` run.
func TestCurlThroughTheProxy(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl is not installed")
	}
	origin, hits := countingOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprint(w, "curl me")
	})
	inst := startServer(t, cachingConfig(t, t.TempDir(), ""))
	for range 2 {
		out, err := exec.Command(curl, "-sS", "-i", "--max-time", "15", "-x", "http://"+inst.proxy(), origin.URL+"/c").CombinedOutput()
		require.NoError(t, err, string(out))
		assert.Contains(t, string(out), "curl me")
	}
	assert.Equal(t, int64(1), hits.Load())
}

// TestConnectTunnelToATLSOrigin: https through the proxy, the port allowed
// by configuration; another port is refused.
func TestConnectTunnelToATLSOrigin(t *testing.T) {
	origin := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "secret over tls")
	}))
	defer origin.Close()
	_, port, _ := net.SplitHostPort(origin.Listener.Addr().String())
	inst := startServer(t, cachingConfig(t, t.TempDir(), "", "connect_ports = ["+port+"]"))
	client := viaProxy(inst.proxy(), origin.Client().Transport.(*http.Transport).TLSClientConfig)
	resp, body := getVia(t, client, origin.URL+"/")
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "secret over tls", body)

	conn, err := net.Dial("tcp", inst.proxy())
	require.NoError(t, err)
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(client.Timeout))
	fmt.Fprint(conn, "CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n")
	line := make([]byte, 12)
	_, err = io.ReadFull(conn, line)
	require.NoError(t, err)
	assert.Equal(t, "HTTP/1.1 403", string(line))
	assert.Eventually(t, func() bool { return strings.Contains(inst.stderr.String(), "tunnel closed") }, 5*time.Second, 10*time.Millisecond)
}

// TestKillDuringAStore kills the server with -9 while a large response is
// being stored; after a restart nothing torn is served and the next
// request fetches the whole body again.
func TestKillDuringAStore(t *testing.T) {
	const size = 8 << 20
	body := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	release := make(chan struct{})
	var slow atomic.Bool
	slow.Store(true)
	origin, hits := countingOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=300")
		w.Header().Set("Content-Length", strconv.Itoa(size))
		w.Write(body[:1<<20])
		w.(http.Flusher).Flush()
		if slow.Load() {
			<-release
		}
		w.Write(body[1<<20:])
	})
	defer close(release)
	cacheDir := t.TempDir()
	config := cachingConfig(t, cacheDir, "")
	inst := startServer(t, config)
	client := viaProxy(inst.proxy(), nil)
	resp, err := client.Get(origin.URL + "/big")
	require.NoError(t, err)
	_, err = io.ReadFull(resp.Body, make([]byte, 512<<10))
	require.NoError(t, err, "half a megabyte arrives before the origin stalls")
	require.NoError(t, inst.cmd.Process.Kill())
	<-inst.exited
	resp.Body.Close()

	slow.Store(false)
	inst = startServer(t, config)
	// Checked before the next fetch, whose own temporary file lives
	// until its commit, a moment after the client has the body.
	tmp, err := os.ReadDir(filepath.Join(cacheDir, "http", "tmp"))
	require.NoError(t, err)
	assert.Empty(t, tmp, "the restart removed the half-written files")
	client = viaProxy(inst.proxy(), nil)
	r, got := getVia(t, client, origin.URL+"/big")
	assert.Equal(t, 200, r.StatusCode)
	assert.Equal(t, string(body), got, "the whole body, never a torn one")
	assert.Equal(t, int64(2), hits.Load(), "nothing of the killed store was kept")
	r, got = getVia(t, client, origin.URL+"/big")
	assert.Equal(t, len(body), len(got))
	assert.Contains(t, r.Header.Get("Cache-Status"), "hit")
}

// TestReverseRouteThroughTheCache: the router policy sends /api/ of the
// origin listener to an upstream, through the cache.
func TestReverseRouteThroughTheCache(t *testing.T) {
	upstream, hits := countingOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprintf(w, "api %s host=%s xff=%q", r.URL.Path, r.Host, r.Header.Get("X-Forwarded-For"))
	})
	policies, err := filepath.Abs("../policies")
	require.NoError(t, err)
	config := cachingConfig(t, t.TempDir(), fmt.Sprintf(`
[policies.router]
wasm = %q
config = { rules = [{ prefix = "/api/", upstream = %q, strip_prefix = true }] }
`, filepath.Join(policies, "router.wasm"), upstream.URL+"/v1"), "x_forwarded = true")
	inst := startServer(t, withOriginPolicies(config, "router"))

	for i := range 2 {
		resp, body := get(t, "GET", inst.url("/api/users"), nil)
		assert.Equal(t, 200, resp.StatusCode)
		assert.Contains(t, body, "api /v1/users host="+strings.TrimPrefix(upstream.URL, "http://"))
		assert.Contains(t, body, `xff="127.0.0.1"`)
		if i == 1 {
			assert.Contains(t, resp.Header.Get("Cache-Status"), "hit")
		}
	}
	assert.Equal(t, int64(1), hits.Load())
	resp, _ := get(t, "GET", inst.url("/new.html"), nil)
	assert.Equal(t, 200, resp.StatusCode, "other paths stay on the root")
}

// TestProxyRefusesItself: a request aimed at the proxy's own listener
// would loop.
func TestProxyRefusesItself(t *testing.T) {
	inst := startServer(t, cachingConfig(t, t.TempDir(), ""))
	resp, body := getVia(t, viaProxy(inst.proxy(), nil), "http://"+inst.proxy()+"/")
	assert.Equal(t, 508, resp.StatusCode)
	assert.Contains(t, body, "loop")
}
