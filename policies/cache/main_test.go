package main

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"wasmhttpd/guest"
	"wasmhttpd/guest/cache"
	"wasmhttpd/guest/guesttest"
)

// t0 is when the stored responses below were requested; they arrive a
// second later.
var t0 = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

func date(t time.Time) string { return t.Format("Mon, 02 Jan 2006 15:04:05 GMT") }

// exchange is a request with request fields, and a response with status
// and response fields, on a fake host.
func exchange(method string, reqFields []string, status uint32, respFields ...string) *guesttest.Host {
	h := guesttest.NewRequest(method, "/a", reqFields...)
	h.Status = status
	for _, line := range respFields {
		name, value, _ := strings.Cut(line, ":")
		h.AddHeaderValue(guest.KindResponseHeaders, name, strings.TrimSpace(value))
	}
	return h.Install()
}

func newTestPolicy(t *testing.T, cfg string) *policy {
	t.Helper()
	p, err := newPolicy([]byte(cfg))
	require.NoError(t, err)
	return p
}

func TestRequestAccess(t *testing.T) {
	p := newTestPolicy(t, "")
	for _, tc := range []struct {
		method string
		fields []string
		source string
		want   cache.Access
	}{
		{"GET", nil, "", cache.Lookup | cache.Store},
		{"HEAD", nil, "", cache.Lookup},
		{"POST", nil, "", 0},
		{"GET", []string{"Cache-Control: no-store"}, "", cache.Lookup},
		{"GET", []string{"Cache-Control: only-if-cached, max-stale"}, "", cache.Lookup | cache.Store | cache.OnlyIfCached},
		{"PURGE", nil, "127.0.0.1:5000", cache.Purge},
		{"PURGE", nil, "[::1]:5000", cache.Purge},
		{"PURGE", nil, "192.0.2.1:5000", 0},
	} {
		h := exchange(tc.method, tc.fields, 0)
		h.Source = tc.source
		req, _ := guest.NewExchange(h)
		assert.Equal(t, tc.want, p.Request(req), "%s %v from %s", tc.method, tc.fields, tc.source)
		assert.True(t, h.Reusable, "a decision of the fields read alone")
	}
	anyone := newTestPolicy(t, `{"purge":"any"}`)
	h := exchange("PURGE", nil, 0)
	h.Source = "192.0.2.1:5000"
	req, _ := guest.NewExchange(h)
	assert.Equal(t, cache.Purge, anyone.Request(req))
}

// TestStoreSaysWhyItRevalidated: after a 304, Cache-Status blames the
// request when it asked for revalidation whatever the age, the stored
// response's staleness otherwise.
func TestStoreSaysWhyItRevalidated(t *testing.T) {
	p := newTestPolicy(t, "")
	at := cache.Times{Request: t0, Response: t0.Add(time.Second), Now: t0.Add(time.Second)}
	for reqField, fwd := range map[string]string{
		"Cache-Control: no-cache":  "fwd=request",
		"Pragma: no-cache":         "fwd=request",
		"Cache-Control: max-age=0": "fwd=request",
		"Cache-Control: max-age=5": "fwd=stale",
		"Accept: */*":              "fwd=stale",
	} {
		h := exchange("GET", []string{reqField}, 304, "Cache-Control: max-age=120", `ETag: "v"`)
		req, resp := guest.NewExchange(h)
		require.True(t, p.Store(req, resp, at))
		assert.Equal(t, "wasmhttpd; "+fwd+"; fwd-status=304; stored; ttl=119", h.Get(guest.KindResponseHeaders, "cache-status"), reqField)
	}
}

func TestStore(t *testing.T) {
	p := newTestPolicy(t, "")
	at := cache.Times{Request: t0, Response: t0.Add(time.Second), Now: t0.Add(time.Second)}
	for _, tc := range []struct {
		name      string
		method    string
		reqFields []string
		status    uint32
		fields    []string
		store     bool
		lifetime  [3]int64
		detail    string
	}{
		{"max-age", "GET", nil, 200, []string{"Cache-Control: max-age=60"}, true, [3]int64{60, 0, 0}, ""},
		{"s-maxage wins in a shared cache", "GET", nil, 200, []string{"Cache-Control: max-age=60, s-maxage=300"}, true, [3]int64{300, 0, 0}, ""},
		{"expires", "GET", nil, 200, []string{"Date: " + date(t0), "Expires: " + date(t0.Add(90*time.Second))}, true, [3]int64{90, 0, 0}, ""},
		{"heuristic: 10% of the Last-Modified age", "GET", nil, 200, []string{"Date: " + date(t0), "Last-Modified: " + date(t0.Add(-1000*time.Second))}, true, [3]int64{100, 0, 0}, ""},
		{"heuristic capped", "GET", nil, 200, []string{"Date: " + date(t0), "Last-Modified: " + date(t0.Add(-100*24*time.Hour))}, true, [3]int64{86400, 0, 0}, ""},
		{"max-age past ten years is recorded as ten years", "GET", nil, 200, []string{"Cache-Control: max-age=99999999999, stale-if-error=4000000000"}, true, [3]int64{cache.MaxLifetime, 0, cache.MaxLifetime}, ""},
		{"expires in 9999 is recorded as ten years", "GET", nil, 200, []string{"Date: " + date(t0), "Expires: Fri, 31 Dec 9999 23:59:59 GMT"}, true, [3]int64{cache.MaxLifetime, 0, 0}, ""},
		{"stale windows", "GET", nil, 200, []string{"Cache-Control: max-age=10, stale-while-revalidate=30, stale-if-error=600"}, true, [3]int64{10, 30, 600}, ""},
		{"no-cache is recorded with no lifetime", "GET", nil, 200, []string{"Cache-Control: no-cache, max-age=60", "ETag: \"v\""}, true, [3]int64{0, 0, 0}, ""},
		{"no-cache without a validator is never of use", "GET", nil, 200, []string{"Cache-Control: no-cache, max-age=60"}, false, [3]int64{}, "never fresh, no validator"},
		{"must-revalidate drops the stale windows", "GET", nil, 200, []string{"Cache-Control: max-age=10, must-revalidate, stale-if-error=600"}, true, [3]int64{10, 0, 0}, ""},
		{"no-store", "GET", nil, 200, []string{"Cache-Control: no-store, max-age=60"}, false, [3]int64{}, "no-store"},
		{"private in a shared cache", "GET", nil, 200, []string{"Cache-Control: private, max-age=60"}, false, [3]int64{}, "private"},
		{"request no-store", "GET", []string{"Cache-Control: no-store"}, 200, []string{"Cache-Control: max-age=60"}, false, [3]int64{}, "request no-store"},
		{"authorization without public", "GET", []string{"Authorization: Basic eA=="}, 200, []string{"Cache-Control: max-age=60"}, false, [3]int64{}, "authorization"},
		{"authorization with public", "GET", []string{"Authorization: Basic eA=="}, 200, []string{"Cache-Control: public, max-age=60"}, true, [3]int64{60, 0, 0}, ""},
		{"vary star", "GET", nil, 200, []string{"Cache-Control: max-age=60", "Vary: *"}, false, [3]int64{}, "vary *"},
		{"partial content", "GET", nil, 206, []string{"Cache-Control: max-age=60"}, false, [3]int64{}, "partial content"},
		{"POST", "POST", nil, 200, []string{"Cache-Control: max-age=60"}, false, [3]int64{}, "method"},
		{"302 without explicit lifetime", "GET", nil, 302, []string{"Last-Modified: " + date(t0.Add(-time.Hour))}, false, [3]int64{}, "status not cacheable by default"},
		{"302 with max-age", "GET", nil, 302, []string{"Cache-Control: max-age=60"}, true, [3]int64{60, 0, 0}, ""},
		{"404 heuristically cacheable, validator only", "GET", nil, 404, []string{"ETag: \"x\""}, true, [3]int64{0, 0, 0}, ""},
		{"200 never fresh without validator", "GET", nil, 200, nil, false, [3]int64{}, "never fresh, no validator"},
		{"malformed max-age is stale, kept for its validator", "GET", nil, 200, []string{"Cache-Control: max-age=abc", "ETag: \"v\""}, true, [3]int64{0, 0, 0}, ""},
		{"revalidated 304", "GET", nil, 304, []string{"Cache-Control: max-age=120", "ETag: \"v\""}, true, [3]int64{120, 0, 0}, ""},
		{"revalidated 304, heuristic freshness", "GET", nil, 304, []string{"Date: " + date(t0), "Last-Modified: " + date(t0.Add(-1000*time.Second))}, true, [3]int64{100, 0, 0}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := exchange(tc.method, tc.reqFields, tc.status, tc.fields...)
			req, resp := guest.NewExchange(h)
			assert.Equal(t, tc.store, p.Store(req, resp, at))
			status := h.Get(guest.KindResponseHeaders, "cache-status")
			if tc.store {
				assert.Equal(t, tc.lifetime, h.Lifetime)
				assert.Contains(t, status, "; stored")
				return
			}
			assert.NotContains(t, status, "stored")
			assert.Contains(t, status, `detail="`+tc.detail+`"`)
		})
	}
}

func TestLookup(t *testing.T) {
	p := newTestPolicy(t, "")
	stored := func(after time.Duration) cache.Times {
		return cache.Times{Request: t0, Response: t0.Add(time.Second), Now: t0.Add(time.Second + after)}
	}
	withDate := func(fields ...string) []string { return append([]string{"Date: " + date(t0)}, fields...) }
	for _, tc := range []struct {
		name      string
		reqFields []string
		fields    []string
		after     time.Duration
		want      cache.Decision
		age       string
		status    string
	}{
		{"fresh", nil, withDate("Cache-Control: max-age=60", "ETag: \"v\""), 10 * time.Second, cache.Decision{Action: cache.Fresh}, "11", "wasmhttpd; hit; ttl=49"},
		{"Age from upstream counts", nil, withDate("Cache-Control: max-age=60", "Age: 55", "ETag: \"v\""), 10 * time.Second, cache.Decision{Action: cache.Revalidate}, "66", "wasmhttpd; fwd=stale; ttl=-6"},
		{"stale with validator revalidates", nil, withDate("Cache-Control: max-age=60", "ETag: \"v\""), 70 * time.Second, cache.Decision{Action: cache.Revalidate}, "71", "wasmhttpd; fwd=stale; ttl=-11"},
		{"stale without validator refetches", nil, withDate("Cache-Control: max-age=60"), 70 * time.Second, cache.Decision{Action: cache.Miss}, "71", "wasmhttpd; fwd=stale; ttl=-11"},
		{"request no-cache", []string{"Cache-Control: no-cache"}, withDate("Cache-Control: max-age=60", "ETag: \"v\""), time.Second, cache.Decision{Action: cache.Revalidate}, "2", "wasmhttpd; fwd=request; ttl=58"},
		{"Pragma no-cache", []string{"Pragma: no-cache"}, withDate("Cache-Control: max-age=60", "ETag: \"v\""), time.Second, cache.Decision{Action: cache.Revalidate}, "", "wasmhttpd; fwd=request; ttl=58"},
		{"request max-age", []string{"Cache-Control: max-age=5"}, withDate("Cache-Control: max-age=60", "ETag: \"v\""), 10 * time.Second, cache.Decision{Action: cache.Revalidate}, "", "fwd=request"},
		{"request min-fresh", []string{"Cache-Control: min-fresh=55"}, withDate("Cache-Control: max-age=60", "ETag: \"v\""), 10 * time.Second, cache.Decision{Action: cache.Revalidate}, "", "fwd=request"},
		{"response no-cache", nil, withDate("Cache-Control: no-cache, max-age=60", "ETag: \"v\""), time.Second, cache.Decision{Action: cache.Revalidate}, "", "fwd=stale"},
		{"max-stale without value", []string{"Cache-Control: max-stale"}, withDate("Cache-Control: max-age=60"), time.Hour, cache.Decision{Action: cache.Fresh}, "", "detail=max-stale"},
		{"max-stale within", []string{"Cache-Control: max-stale=20"}, withDate("Cache-Control: max-age=60", "ETag: \"v\""), 70 * time.Second, cache.Decision{Action: cache.Fresh}, "", "detail=max-stale"},
		{"max-stale exceeded", []string{"Cache-Control: max-stale=5"}, withDate("Cache-Control: max-age=60", "ETag: \"v\""), 70 * time.Second, cache.Decision{Action: cache.Revalidate}, "", "fwd=stale"},
		{"must-revalidate ignores max-stale", []string{"Cache-Control: max-stale"}, withDate("Cache-Control: max-age=60, must-revalidate", "ETag: \"v\""), 70 * time.Second, cache.Decision{Action: cache.Revalidate}, "", "fwd=stale"},
		{"s-maxage implies proxy-revalidate", []string{"Cache-Control: max-stale"}, withDate("Cache-Control: s-maxage=60", "ETag: \"v\""), 70 * time.Second, cache.Decision{Action: cache.Revalidate}, "", "fwd=stale"},
		{"stale-while-revalidate", nil, withDate("Cache-Control: max-age=60, stale-while-revalidate=30", "ETag: \"v\""), 70 * time.Second, cache.Decision{Action: cache.StaleWhileRevalidate}, "", "detail=stale-while-revalidate"},
		{"stale-while-revalidate expired", nil, withDate("Cache-Control: max-age=60, stale-while-revalidate=5", "ETag: \"v\""), 70 * time.Second, cache.Decision{Action: cache.Revalidate}, "", "fwd=stale"},
		{"stale-if-error", nil, withDate("Cache-Control: max-age=60, stale-if-error=600", "ETag: \"v\""), 70 * time.Second, cache.Decision{Action: cache.Revalidate, StaleIfError: true}, "", "fwd=stale"},
		{"request stale-if-error", []string{"Cache-Control: stale-if-error=600"}, withDate("Cache-Control: max-age=60", "ETag: \"v\""), 70 * time.Second, cache.Decision{Action: cache.Revalidate, StaleIfError: true}, "", "fwd=stale"},
		{"expired Expires", nil, withDate("Expires: "+date(t0.Add(-time.Hour)), "ETag: \"v\""), 0, cache.Decision{Action: cache.Revalidate}, "", "fwd=stale"},
		{"invalid Expires is stale", nil, withDate("Expires: 0", "ETag: \"v\""), 0, cache.Decision{Action: cache.Revalidate}, "", "fwd=stale"},
		{"RFC 850 date accepted", nil, []string{"Date: Sunday, 29-Nov-26 12:00:00 GMT", "Cache-Control: max-age=60"}, 10 * time.Second, cache.Decision{Action: cache.Fresh}, "11", "hit"},
		{"conflicting max-age is stale", nil, withDate("Cache-Control: max-age=60", "Cache-Control: max-age=30", "ETag: \"v\""), 10 * time.Second, cache.Decision{Action: cache.Revalidate}, "", "fwd=stale"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := exchange("GET", tc.reqFields, 200, tc.fields...)
			req, resp := guest.NewExchange(h)
			assert.Equal(t, tc.want, p.Lookup(req, resp, stored(tc.after)))
			assert.True(t, h.Reusable, "a decision of the fields read and the times alone")
			if tc.age != "" {
				assert.Equal(t, tc.age, h.Get(guest.KindResponseHeaders, "age"))
			}
			assert.Contains(t, h.Get(guest.KindResponseHeaders, "cache-status"), tc.status)
		})
	}
}

func TestConfigErrors(t *testing.T) {
	for cfg, want := range map[string]string{
		`{"heuristic_fraction":2}`: "heuristic_fraction",
		`{"max_heuristic":-1}`:     "negative",
		`{"purge":"lan"}`:          "purge",
		`{"ttl":1}`:                "unknown field",
	} {
		_, err := newPolicy([]byte(cfg))
		assert.ErrorContains(t, err, want)
	}
}
