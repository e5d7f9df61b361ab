package proxy

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"wasmhttpd/host/http1"
)

func TestParseUpstream(t *testing.T) {
	tests := []struct {
		raw  string
		want Upstream
		err  string
	}{
		{raw: "http://127.0.0.1:9000", want: Upstream{Scheme: "http", Addr: "127.0.0.1:9000", Host: "127.0.0.1:9000"}},
		{raw: "http://backend/", want: Upstream{Scheme: "http", Addr: "backend:80", Host: "backend"}},
		{raw: "https://api.example:8443/v1/", want: Upstream{Scheme: "https", Addr: "api.example:8443", Host: "api.example:8443", ServerName: "api.example", Prefix: "/v1"}},
		{raw: "https://[::1]/a%20b", want: Upstream{Scheme: "https", Addr: "[::1]:443", Host: "[::1]", ServerName: "::1", Prefix: "/a%20b"}},
		{raw: "ftp://x/", err: "scheme must be http or https"},
		{raw: "http:///path", err: "no host"},
		{raw: "http://u:p@x/", err: "userinfo is not allowed"},
		{raw: "http://x/?q=1", err: "a query or fragment is not allowed"},
		{raw: "http://x/#f", err: "a query or fragment is not allowed"},
		{raw: "127.0.0.1:9000", err: "upstream 127.0.0.1:9000: want a URL such as http://host:port/prefix"},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			up, err := ParseUpstream(tt.raw)
			if tt.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, *up)
		})
	}
}

func TestJoinPath(t *testing.T) {
	for _, tt := range []struct{ prefix, path, want string }{
		{"", "/x", "/x"},
		{"/app", "/x/y", "/app/x/y"},
		{"/app", "/", "/app/"},
		{"/app", "", "/app/"},
	} {
		assert.Equal(t, tt.want, string(joinPath(nil, tt.prefix, []byte(tt.path))))
	}
}

// reverseTo serves every request by ServeUpstream to up.
func reverseTo(t *testing.T, cfg Config, up *Upstream) string {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = testName
	}
	p, _ := startProxy(t, cfg)
	return serve(t, http1.HandlerFunc(func(ex *http1.Exchange) { p.ServeUpstream(ex, up) }))
}

// headersOrigin answers with the request's URI, Host and forwarding
// fields, one per line.
func headersOrigin(w http.ResponseWriter, r *http.Request) {
	io.WriteString(w, strings.Join([]string{
		r.URL.RequestURI(), r.Host, r.Header.Get("X-Forwarded-For"), r.Header.Get("X-Forwarded-Proto"),
		r.Header.Get("X-Forwarded-Host"), r.Header.Get("Via"),
	}, "\n"))
}

func TestReverseProxy(t *testing.T) {
	noLeaks(t)
	origin := newOrigin(t, headersOrigin)
	tests := []struct {
		name     string
		keepHost bool
		xf       bool
		want     []string
	}{
		{"rewrites host", false, false, []string{"/base/a/b?q=1", origin.host(), "203.0.113.9", "", "", "1.1 " + testName}},
		{"keeps host", true, false, []string{"/base/a/b?q=1", "site.example", "203.0.113.9", "", "", "1.1 " + testName}},
		{"x-forwarded", false, true, []string{"/base/a/b?q=1", origin.host(), "203.0.113.9, 127.0.0.1", "http", "site.example", "1.1 " + testName}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up, err := ParseUpstream(origin.URL + "/base/")
			require.NoError(t, err)
			up.KeepHost, up.XForwarded = tt.keepHost, tt.xf
			addr := reverseTo(t, Config{}, up)
			resp, body := roundTrip(t, addr, "GET /a/b?q=1 HTTP/1.1\r\nHost: site.example\r\nX-Forwarded-For: 203.0.113.9\r\n\r\n", "GET")
			assert.Equal(t, 200, resp.StatusCode)
			assert.Equal(t, tt.want, strings.Split(body, "\n"))
		})
	}
}

func TestReverseProxyToTLSUpstream(t *testing.T) {
	noLeaks(t)
	origin := httptest.NewTLSServer(http.HandlerFunc(headersOrigin))
	defer origin.Close()
	roots := x509.NewCertPool()
	roots.AddCert(origin.Certificate())

	up, err := ParseUpstream(origin.URL + "/tls")
	require.NoError(t, err)
	addr := reverseTo(t, Config{TLS: &tls.Config{RootCAs: roots}}, up)
	resp, body := roundTrip(t, addr, "GET /x HTTP/1.1\r\nHost: a\r\n\r\n", "GET")
	assert.Equal(t, 200, resp.StatusCode)
	assert.True(t, strings.HasPrefix(body, "/tls/x\n"), body)

	// Without the test CA the certificate does not verify: 502, saying so.
	addr = reverseTo(t, Config{Name: "other"}, up)
	resp, body = roundTrip(t, addr, "GET /x HTTP/1.1\r\nHost: a\r\n\r\n", "GET")
	assert.Equal(t, 502, resp.StatusCode)
	assert.Contains(t, body, "connect to "+up.Addr+": tls: failed to verify certificate")
}

func TestReverseProxyRefusesConnect(t *testing.T) {
	noLeaks(t)
	up, err := ParseUpstream("http://127.0.0.1:1")
	require.NoError(t, err)
	addr := reverseTo(t, Config{}, up)
	resp, body := roundTrip(t, addr, "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", "GET")
	assert.Equal(t, 405, resp.StatusCode)
	assert.Contains(t, body, "CONNECT is not served by a reverse proxy")
	assert.NotContains(t, resp.Header.Get("Allow"), "CONNECT")

	resp, _ = roundTrip(t, addr, "OPTIONS /x HTTP/1.1\r\nHost: a\r\nMax-Forwards: 0\r\n\r\n", "OPTIONS")
	assert.Equal(t, 200, resp.StatusCode, "answered by the proxy, the upstream (unreachable) never asked")
	assert.Equal(t, allowReverse, resp.Header.Get("Allow"))
}
