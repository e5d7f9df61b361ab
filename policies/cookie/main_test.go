package main

import (
	"errors"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"wasmhttpd/guest"
	"wasmhttpd/guest/guesttest"
)

func TestIssuedWhenAbsent(t *testing.T) {
	p, err := newPolicy(nil)
	require.NoError(t, err)
	for _, hdr := range [][]string{
		nil,
		{"Cookie: other=1"},
		{"Cookie: session="},
		{"Cookie: xsession=abc; sessionx=def"},
	} {
		h := guesttest.NewRequest("GET", "/", hdr...)
		next, _ := h.Request(p)
		assert.True(t, next)
		sc := h.HeaderValues(guest.KindResponseHeaders, "set-cookie")
		require.Len(t, sc, 1, hdr)
		assert.Regexp(t, regexp.MustCompile(`^session=[A-Za-z0-9_-]{22}; Path=/; Max-Age=86400; HttpOnly; SameSite=Lax$`), sc[0])
	}
}

func TestNotIssuedWhenPresent(t *testing.T) {
	p, err := newPolicy(nil)
	require.NoError(t, err)
	for _, hdr := range [][]string{
		{"Cookie: session=abc"},
		{"Cookie: a=1; session=abc; b=2"},
		{"Cookie: a=1", "Cookie: session=abc"},
	} {
		h := guesttest.NewRequest("GET", "/", hdr...)
		next, _ := h.Request(p)
		assert.True(t, next)
		assert.Empty(t, h.HeaderValues(guest.KindResponseHeaders, "set-cookie"), hdr)
	}
}

func TestIDsDiffer(t *testing.T) {
	p, err := newPolicy(nil)
	require.NoError(t, err)
	seen := map[string]bool{}
	for range 100 {
		h := guesttest.NewRequest("GET", "/")
		h.Request(p)
		v := h.Get(guest.KindResponseHeaders, "set-cookie")
		assert.False(t, seen[v])
		seen[v] = true
	}
}

func TestAttributes(t *testing.T) {
	p, err := newPolicy([]byte(`{"name":"sid","path":"/app","max_age":60,"http_only":false,"secure":true,"same_site":"None","domain":"example.org"}`))
	require.NoError(t, err)
	h := guesttest.NewRequest("GET", "/")
	h.Request(p)
	assert.Regexp(t, `^sid=[A-Za-z0-9_-]{22}; Path=/app; Domain=example.org; Max-Age=60; Secure; SameSite=None$`,
		h.Get(guest.KindResponseHeaders, "set-cookie"))

	p, err = newPolicy([]byte(`{"max_age":0,"same_site":"Strict"}`))
	require.NoError(t, err)
	h = guesttest.NewRequest("GET", "/")
	h.Request(p)
	assert.Regexp(t, `^session=[^;]+; Path=/; HttpOnly; SameSite=Strict$`, h.Get(guest.KindResponseHeaders, "set-cookie"))
}

func TestNoEntropyNoCookie(t *testing.T) {
	p, err := newPolicy(nil)
	require.NoError(t, err)
	p.random = func([]byte) error { return errors.New("broken") }
	h := guesttest.NewRequest("GET", "/")
	next, _ := h.Request(p)
	assert.True(t, next)
	assert.Empty(t, h.HeaderValues(guest.KindResponseHeaders, "set-cookie"))
}

func TestBadConfig(t *testing.T) {
	for _, raw := range []string{
		`{"name":"a b"}`, `{"name":""}`, `{"max_age":-1}`, `{"same_site":"Loose"}`,
		`{"same_site":"None"}`, `{"path":"/;x"}`, `{"nam":"x"}`,
	} {
		_, err := newPolicy([]byte(raw))
		assert.Error(t, err, raw)
	}
}
