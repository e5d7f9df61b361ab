package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"wasmhttpd/guest"
	"wasmhttpd/guest/guesttest"
)

const rules = `{"rules":[
	{"host":"static.example.test","root":"assets"},
	{"prefix":"/api/","upstream":"http://127.0.0.1:9000/v1","strip_prefix":true},
	{"prefix":"/docs/","root":"manual","strip_prefix":true},
	{"path":"/healthz","status":200,"body":"ok\n","headers":{"Cache-Control":"no-store"}},
	{"host":"*.internal","methods":["get","HEAD"],"forward":true}
]}`

func TestRoutes(t *testing.T) {
	p, err := newPolicy([]byte(rules))
	require.NoError(t, err)
	for _, tc := range []struct {
		name, method, uri, host string
		want                    guesttest.Route
		wantURI                 string // after the policy; "" = unchanged
	}{
		{"host rule", "GET", "/x.css", "Static.Example.Test:8080", guesttest.Route{Kind: guest.RouteStatic, Target: "assets"}, ""},
		{"upstream, prefix stripped, query kept", "POST", "/api/users?id=7", "a", guesttest.Route{Kind: guest.RouteUpstream, Target: "http://127.0.0.1:9000/v1"}, "/users?id=7"},
		{"root, prefix stripped", "GET", "/docs/a/b.html", "a", guesttest.Route{Kind: guest.RouteStatic, Target: "manual", Path: "/a/b.html"}, ""},
		{"wildcard host and methods", "HEAD", "/", "db.internal", guesttest.Route{Kind: guest.RouteForward}, ""},
		{"wildcard needs a subdomain", "GET", "/", "internal", guesttest.Route{}, ""},
		{"method not listed", "POST", "/", "db.internal", guesttest.Route{}, ""},
		{"no rule: default root", "GET", "/index.html", "a", guesttest.Route{}, ""},
		{"prefix takes whole segments only", "GET", "/docsearch", "a", guesttest.Route{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := guesttest.NewRequest(tc.method, tc.uri, "Host: "+tc.host).Install()
			next, _ := h.Request(p)
			assert.True(t, next)
			assert.Equal(t, tc.want, h.Routed)
			want := tc.wantURI
			if want == "" {
				want = tc.uri
			}
			assert.Equal(t, want, h.URI())
		})
	}
}

func TestDirectAnswerAndCounters(t *testing.T) {
	p, err := newPolicy([]byte(rules))
	require.NoError(t, err)
	h := guesttest.NewRequest("GET", "/healthz", "Host: a").Install()
	next, _ := h.Request(p)
	assert.False(t, next)
	assert.Equal(t, uint32(200), h.StatusCode())
	assert.Equal(t, "ok\n", string(h.RespBody))
	assert.Equal(t, "text/plain; charset=utf-8", h.Get(guest.KindResponseHeaders, "content-type"))
	assert.Equal(t, "no-store", h.Get(guest.KindResponseHeaders, "cache-control"))
	assert.Equal(t, map[string]int64{"rule_3": 1}, h.Counters)
}

func TestConfigErrors(t *testing.T) {
	for cfg, want := range map[string]string{
		`{"rules":[{"prefix":"/a/"}]}`:                                   "rule 0: needs exactly one of",
		`{"rules":[{"root":"a","forward":true}]}`:                        "exactly one",
		`{"rules":[{"path":"/a","prefix":"/b","root":"r"}]}`:             "exclude each other",
		`{"rules":[{"prefix":"a/","root":"r"}]}`:                         "must start with /",
		`{"rules":[{"root":"r","strip_prefix":true}]}`:                   "strip_prefix needs a prefix",
		`{"rules":[{"prefix":"/a","forward":true,"strip_prefix":true}]}`: "root and upstream rules only",
		`{"rules":[{"upstream":"ftp://x"}]}`:                             "not an http:// or https:// URL",
		`{"rules":[{"status":700}]}`:                                     "not 100..599",
		`{"rules":[{"root":"r","body":"x"}]}`:                            "belong to status rules",
		`{"rules":[{"root":"r","typo":1}]}`:                              "unknown field",
	} {
		_, err := newPolicy([]byte(cfg))
		assert.ErrorContains(t, err, want, cfg)
	}
}

func TestUnderPrefix(t *testing.T) {
	for _, tc := range []struct {
		path, prefix string
		want         bool
	}{
		{"/api", "/api", true},
		{"/api/x", "/api", true},
		{"/apiary", "/api", false},
		{"/api/", "/api/", true},
		{"/api/x", "/api/", true},
		{"/ap", "/api", false},
	} {
		assert.Equal(t, tc.want, underPrefix(tc.path, tc.prefix), "%s under %s", tc.path, tc.prefix)
	}
}
