package main

import (
	"bytes"
	"compress/gzip"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"wasmhttpd/guest"
	"wasmhttpd/guest/guesttest"
)

func TestAcceptsGzip(t *testing.T) {
	for v, want := range map[string]bool{
		"":                       false,
		"gzip":                   true,
		"GZIP":                   true,
		"x-gzip":                 true,
		"deflate, gzip;q=0.5":    true,
		"gzip;q=0":               false,
		"gzip; q=0.000":          false,
		"*":                      true,
		"*;q=0":                  false,
		"*, gzip;q=0":            false,
		"br, *;q=0.1":            true,
		"deflate":                false,
		"gzip;q=abc":             false,
		"identity;q=1, gzip;q=1": true,
	} {
		assert.Equal(t, want, acceptsGzip(v), "%q", v)
	}
}

func TestEcho(t *testing.T) {
	p, err := newPolicy(nil)
	require.NoError(t, err)

	h := guesttest.NewRequest("GET", "/echo/hello%20world?x=1")
	next, _ := h.Request(p)
	assert.False(t, next)
	assert.Equal(t, uint32(200), h.StatusCode())
	assert.Equal(t, "text/plain", h.Get(guest.KindResponseHeaders, "content-type"))
	assert.Equal(t, "11", h.Get(guest.KindResponseHeaders, "content-length"))
	assert.Empty(t, h.Get(guest.KindResponseHeaders, "content-encoding"))
	assert.Equal(t, "hello world", string(h.RespBody))

	for _, ae := range []string{"gzip", "deflate, gzip;q=0.3", "*"} {
		h = guesttest.NewRequest("GET", "/echo/abc", "Accept-Encoding: "+ae)
		next, _ = h.Request(p)
		assert.False(t, next)
		assert.Equal(t, "gzip", h.Get(guest.KindResponseHeaders, "content-encoding"), ae)
		assert.Equal(t, "Accept-Encoding", h.Get(guest.KindResponseHeaders, "vary"))
		zr, err := gzip.NewReader(bytes.NewReader(h.RespBody))
		require.NoError(t, err)
		b, err := io.ReadAll(zr)
		require.NoError(t, err)
		assert.Equal(t, "abc", string(b))
	}

	h = guesttest.NewRequest("GET", "/echo/abc", "Accept-Encoding: gzip;q=0")
	h.Request(p)
	assert.Empty(t, h.Get(guest.KindResponseHeaders, "content-encoding"))
	assert.Equal(t, "abc", string(h.RespBody))
}

func TestUserAgent(t *testing.T) {
	p, err := newPolicy(nil)
	require.NoError(t, err)
	h := guesttest.NewRequest("GET", "/user-agent", "User-Agent: curl/8.0", "Accept-Encoding: gzip")
	next, _ := h.Request(p)
	assert.False(t, next)
	assert.Equal(t, "curl/8.0", string(h.RespBody))
	assert.Equal(t, "8", h.Get(guest.KindResponseHeaders, "content-length"))
}

func TestPassThrough(t *testing.T) {
	p, err := newPolicy(nil)
	require.NoError(t, err)
	for _, c := range [][2]string{{"GET", "/"}, {"GET", "/echo"}, {"POST", "/echo/x"}, {"GET", "/files/a"}, {"GET", "/user-agent/x"}} {
		h := guesttest.NewRequest(c[0], c[1])
		next, _ := h.Request(p)
		assert.True(t, next, c)
		assert.Empty(t, h.RespBody)
	}
	_, err = newPolicy([]byte(`{"x":1}`))
	assert.Error(t, err)
}

func TestFilesRoute(t *testing.T) {
	p, err := newPolicy([]byte(`{"files_root":"files"}`))
	require.NoError(t, err)
	for _, method := range []string{"GET", "POST"} {
		h := guesttest.NewRequest(method, "/files/a%20b.txt?v=1")
		next, _ := h.Request(p)
		assert.True(t, next, "the host serves it")
		assert.Equal(t, guesttest.Route{Kind: guest.RouteStatic, Target: "files", Path: "/a%20b.txt"}, h.Routed)
	}

	h := guesttest.NewRequest("PUT", "/files/a.txt")
	next, _ := h.Request(p)
	assert.True(t, next)
	assert.Zero(t, h.Routed, "only GET, HEAD and POST are routed")

	h = guesttest.NewRequest("GET", "/filesystem")
	next, _ = h.Request(p)
	assert.True(t, next)
	assert.Zero(t, h.Routed, "only /files/ is routed")

	off, err := newPolicy(nil)
	require.NoError(t, err)
	h = guesttest.NewRequest("GET", "/files/a.txt")
	next, _ = h.Request(off)
	assert.True(t, next)
	assert.Zero(t, h.Routed, "without files_root /files/ passes on untouched")

	_, err = newPolicy([]byte(`{"files_dir":"x"}`))
	assert.Error(t, err, "unknown keys are refused")
}
