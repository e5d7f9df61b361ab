package http1

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// parse reads one request from raw with the given limits and, when the head
// is accepted, its whole body.
func parse(t testing.TB, raw string, limits Limits) (*Request, []byte, error) {
	t.Helper()
	var cont bytes.Buffer
	r := NewReader(bufio.NewReaderSize(strings.NewReader(raw), 4096), &cont, limits)
	req := new(Request)
	if err := r.ReadRequest(req); err != nil {
		return req, nil, err
	}
	body, err := io.ReadAll(req.Body)
	return req, body, err
}

func TestReadRequestStatus(t *testing.T) {
	long := strings.Repeat("a", 9000)
	tests := []struct {
		name   string
		raw    string
		status int // 0 = accepted
	}{
		{"simple", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 0},
		{"http/1.0 without host", "GET / HTTP/1.0\r\n\r\n", 0},
		{"leading empty line", "\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 0},
		{"absolute form", "GET http://example.com/x?y HTTP/1.1\r\nHost: other\r\n\r\n", 0},
		{"authority form", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 0},
		{"asterisk form", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", 0},
		{"unknown method reaches handler", "BREW /pot HTTP/1.1\r\nHost: a\r\n\r\n", 0},
		{"ipv6 host", "GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", 0},
		{"empty host", "GET / HTTP/1.1\r\nHost:\r\n\r\n", 0},

		{"http/2.0", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505},
		{"http/0.9 style", "GET /\r\n\r\n", 400},
		{"http/1.2", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505},
		{"lowercase version", "GET / http/1.1\r\nHost: a\r\n\r\n", 400},
		{"method not a token", "G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"two spaces", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"tab separator", "GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"asterisk not options", "GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"relative target", "GET x HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"non-ascii target", "GET /\xff HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"connect without port", "CONNECT example.com HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"bad scheme", "GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"userinfo", "GET http://u@a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400},

		{"no host", "GET / HTTP/1.1\r\n\r\n", 400},
		{"two hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
		{"bad host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400},
		{"host port too big", "GET / HTTP/1.1\r\nHost: a:70000\r\n\r\n", 400},
		{"space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n 2\r\n\r\n", 400},
		{"no colon", "GET / HTTP/1.1\r\nHost: a\r\nX\r\n\r\n", 400},
		{"empty name", "GET / HTTP/1.1\r\nHost: a\r\n: x\r\n\r\n", 400},
		{"nul in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n", 400},
		{"bare cr in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", 400},
		{"bare lf line", "GET / HTTP/1.1\nHost: a\r\n\r\n", 400},
		{"bare lf header", "GET / HTTP/1.1\r\nHost: a\n\r\n", 400},

		{"content-length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc", 0},
		{"same content-lengths", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", 0},
		{"same content-length list", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\nabc", 0},
		{"differing content-lengths", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400},
		{"signed content-length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\nabc", 400},
		{"hex content-length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x3\r\n\r\nabc", 400},
		{"empty content-length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", 400},
		{"huge content-length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n", 400},
		{"te and cl", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n", 400},
		{"te not chunked last", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400},
		{"te chunked twice", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 400},
		{"te unknown", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: foo, chunked\r\n\r\n", 501},
		{"te gzip chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n", 501},
		{"te only unknown", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n", 400},
		{"te in http/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		{"chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 0},
		{"chunked case", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n0\r\n\r\n", 0},
		{"chunk ext", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;name=val;x\r\nabc\r\n0\r\n\r\n", 0},
		{"chunk overflow", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n", 400},
		{"chunk bad size", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n", 400},
		{"chunk bad ext", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3 x\r\nabc\r\n0\r\n\r\n", 400},
		{"chunk missing crlf", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n", 400},
		{"chunk bare lf", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n", 400},
		{"chunk lf terminator", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\n0\r\n\r\n", 400},
		{"trailer obs-fold", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: 1\r\n 2\r\n\r\n", 400},

		{"expect continue", "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx", 0},
		{"expect other", "POST / HTTP/1.1\r\nHost: a\r\nExpect: coffee\r\nContent-Length: 1\r\n\r\nx", 417},

		{"request line too long", "GET /" + long + " HTTP/1.1\r\nHost: a\r\n\r\n", 414},
		{"header too large", "GET / HTTP/1.1\r\nHost: a\r\nX: " + strings.Repeat(long, 8) + "\r\n\r\n", 431},
		{"too many headers", "GET / HTTP/1.1\r\nHost: a\r\n" + strings.Repeat("X: 1\r\n", 100) + "\r\n", 431},
		{"body too large", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000000\r\n\r\n", 413},
		{"chunked body too large", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n40000000\r\n", 413},
		{"truncated body", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nab", 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := parse(t, tt.raw, Limits{})
			if tt.status == 0 {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Equal(t, tt.status, StatusOf(err), "error: %v", err)
		})
	}
}

func TestReadRequestFields(t *testing.T) {
	req, body, err := parse(t, "POST http://Example.com:81/a/b?x=1&y HTTP/1.1\r\n"+
		"Host: ignored\r\nX-Multi: one\r\nx-multi:  two \r\nConnection: keep-alive, Upgrade\r\n"+
		"Transfer-Encoding: chunked\r\n\r\n"+
		"4;ext=\"q\"\r\nWiki\r\n5\r\npedia\r\n0\r\nChecksum: abc\r\n\r\n", Limits{})
	require.NoError(t, err)
	assert.Equal(t, "POST", req.Method)
	assert.Equal(t, AbsoluteForm, req.Form)
	assert.Equal(t, "Example.com:81", string(req.Host), "absolute-form target overrides Host")
	assert.Equal(t, "/a/b", string(req.Path))
	assert.Equal(t, "x=1&y", string(req.Query))
	assert.Equal(t, "http", string(req.Scheme))
	assert.Equal(t, int64(-1), req.ContentLength)
	assert.True(t, req.KeepAlive)
	assert.Equal(t, "Wikipedia", string(body))
	assert.Equal(t, "abc", string(req.Trailer.Get("checksum")))

	var values []string
	for v := range req.Header.Values("X-MULTI") {
		values = append(values, string(v))
	}
	assert.Equal(t, []string{"one", "two"}, values)
	assert.True(t, req.Header.HasToken("connection", "upgrade"))
}

func TestKeepAlive(t *testing.T) {
	tests := []struct {
		raw  string
		keep bool
	}{
		{"GET / HTTP/1.1\r\nHost: a\r\n\r\n", true},
		{"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", false},
		{"GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, CLOSE\r\n\r\n", false},
		{"GET / HTTP/1.0\r\n\r\n", false},
		{"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", true},
	}
	for _, tt := range tests {
		req, _, err := parse(t, tt.raw, Limits{})
		require.NoError(t, err)
		assert.Equal(t, tt.keep, req.KeepAlive, tt.raw)
	}
}

func TestLimitsAreConfigurable(t *testing.T) {
	_, _, err := parse(t, "GET /0123456789 HTTP/1.1\r\nHost: a\r\n\r\n", Limits{MaxRequestLine: 16})
	assert.Equal(t, 414, StatusOf(err))
	_, _, err = parse(t, "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n", Limits{MaxHeaders: 2})
	assert.Equal(t, 431, StatusOf(err))
	_, _, err = parse(t, "GET / HTTP/1.1\r\nHost: a\r\nA: 0123456789\r\n\r\n", Limits{MaxHeaderBytes: 16})
	assert.Equal(t, 431, StatusOf(err))
	_, _, err = parse(t, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n0123456789a", Limits{MaxBody: 10})
	assert.Equal(t, 413, StatusOf(err))
	_, _, err = parse(t, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n6\r\n012345\r\n6\r\n012345\r\n0\r\n\r\n", Limits{MaxBody: 10})
	assert.ErrorIs(t, err, ErrBodyTooLarge)
}

func TestPipelinedRequestsShareTheReader(t *testing.T) {
	raw := "POST /1 HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi" +
		"GET /2 HTTP/1.1\r\nHost: a\r\n\r\n" +
		"POST /3 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n"
	r := NewReader(bufio.NewReader(strings.NewReader(raw)), io.Discard, Limits{})
	var req Request
	var paths, bodies []string
	for {
		err := r.ReadRequest(&req)
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		body, err := io.ReadAll(req.Body)
		require.NoError(t, err)
		paths = append(paths, string(req.Path))
		bodies = append(bodies, string(body))
	}
	assert.Equal(t, []string{"/1", "/2", "/3"}, paths)
	assert.Equal(t, []string{"hi", "", "x"}, bodies)
}

func TestContinueSentOnFirstRead(t *testing.T) {
	var cont bytes.Buffer
	raw := "PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 2\r\n\r\nok"
	r := NewReader(bufio.NewReader(strings.NewReader(raw)), &cont, Limits{})
	var req Request
	require.NoError(t, r.ReadRequest(&req))
	assert.Empty(t, cont.String(), "nothing is sent before the handler reads")
	body, err := io.ReadAll(req.Body)
	require.NoError(t, err)
	assert.Equal(t, "ok", string(body))
	assert.Equal(t, "HTTP/1.1 100 Continue\r\n\r\n", cont.String())
}

func TestDrain(t *testing.T) {
	tests := []struct {
		name  string
		raw   string
		limit int64
		ok    bool
	}{
		{"sized within limit", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", 10, true},
		{"sized over limit", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 50\r\n\r\n" + strings.Repeat("x", 50), 10, false},
		{"chunked within limit", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 10, true},
		{"chunked over limit", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" + strings.Repeat("5\r\nhello\r\n", 10) + "0\r\n\r\n", 10, false},
		{"waiting for continue", "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n", 10, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(bufio.NewReader(strings.NewReader(tt.raw+"GET / HTTP/1.1\r\nHost: a\r\n\r\n")), io.Discard, Limits{})
			var req Request
			require.NoError(t, r.ReadRequest(&req))
			require.Equal(t, tt.ok, req.Body.Drain(tt.limit))
			if tt.ok {
				require.NoError(t, r.ReadRequest(&req), "the next request parses after a drain")
				assert.Equal(t, "GET", req.Method)
			}
		})
	}
}
