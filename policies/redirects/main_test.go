package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"wasmhttpd/guest"
	"wasmhttpd/guest/guesttest"
)

const table = `{"rules":[
 {"from":"/old.html","to":"/new.html"},
 {"from":"/tmp","to":"/temporary","status":302},
 {"from":"/api/v1/","to":"/api/v2/","prefix":true,"status":307,"keep_query":true},
 {"from":"/docs/","to":"https://docs.example/","prefix":true,"status":308},
 {"from":"/q","to":"/r?a=1","keep_query":true}
]}`

func TestRedirects(t *testing.T) {
	p, err := newPolicy([]byte(table))
	require.NoError(t, err)
	for _, tc := range []struct {
		uri    string
		next   bool
		status uint32
		loc    string
	}{
		{"/old.html", false, 301, "/new.html"},
		{"/old.html?x=1", false, 301, "/new.html"}, // query dropped by default
		{"/old.html/", true, 0, ""},                // exact means exact
		{"/tmp", false, 302, "/temporary"},
		{"/api/v1/users?id=7", false, 307, "/api/v2/users?id=7"},
		{"/api/v1/", false, 307, "/api/v2/"},
		{"/api/v1", true, 0, ""},
		{"/docs/a/b.html?z", false, 308, "https://docs.example/a/b.html"},
		{"/q?b=2", false, 301, "/r?a=1&b=2"},
		{"/elsewhere", true, 0, ""},
	} {
		t.Run(tc.uri, func(t *testing.T) {
			h := guesttest.NewRequest("GET", tc.uri)
			next, _ := h.Request(p)
			assert.Equal(t, tc.next, next)
			if !tc.next {
				assert.Equal(t, tc.status, h.StatusCode())
				assert.Equal(t, tc.loc, h.Get(guest.KindResponseHeaders, "location"))
			} else {
				assert.Empty(t, h.Fields[guest.KindResponseHeaders])
			}
		})
	}
}

func TestDefaultConfig(t *testing.T) {
	for _, raw := range []string{"", "{}"} { // the host sends {} for no table
		p, err := newPolicy([]byte(raw))
		require.NoError(t, err)
		h := guesttest.NewRequest("GET", "/old.html")
		next, _ := h.Request(p)
		assert.False(t, next, raw)
		assert.Equal(t, uint32(301), h.StatusCode())
		assert.Equal(t, "/new.html", h.Get(guest.KindResponseHeaders, "location"))
	}
	p, err := newPolicy([]byte(`{"rules":[]}`))
	require.NoError(t, err)
	next, _ := guesttest.NewRequest("GET", "/old.html").Request(p)
	assert.True(t, next, "empty rules turn redirects off")
}

func TestBadConfig(t *testing.T) {
	for _, raw := range []string{
		`{"rules":[{"from":"/a","to":"/b","status":200}]}`,
		`{"rules":[{"from":"a","to":"/b"}]}`,
		`{"rules":[{"from":"/a","to":""}]}`,
		`{"rulez":[]}`,
		`{`,
	} {
		_, err := newPolicy([]byte(raw))
		assert.Error(t, err, raw)
	}
}
