package main

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"wasmhttpd/guest"
	"wasmhttpd/guest/cache"
	"wasmhttpd/guest/guesttest"
)

// The rules as the tests see them: the defaults of the variables.
const (
	forcedHostName = "static.example.com"
	otherHost      = "www.example.com"
)

// imfFixdate is the layout of an HTTP-date.
const imfFixdate = "Mon, 02 Jan 2006 15:04:05 GMT"

// t0 is when the stored responses were requested and received.
var t0 = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

func after(d time.Duration) cache.Times {
	return cache.Times{Request: t0, Response: t0, Now: t0.Add(d)}
}

// exchange is a request for host and uri with request fields, and a
// response with status and fields ("Name: value").
func exchange(method, host, uri string, reqFields []string, status uint32, respFields ...string) (*guesttest.Host, guest.Request, guest.Response) {
	h := guesttest.NewRequest(method, uri, append([]string{"Host: " + host}, reqFields...)...)
	h.Status = status
	for _, line := range respFields {
		name, value, _ := strings.Cut(line, ":")
		h.AddHeaderValue(guest.KindResponseHeaders, name, strings.TrimSpace(value))
	}
	req, resp := guest.NewExchange(h.Install())
	return h, req, resp
}

func TestRequest(t *testing.T) {
	r := &rules{}
	for _, tc := range []struct {
		method, uri, source string
		fields              []string
		want                cache.Access
	}{
		{"GET", "/a", "", nil, cache.Lookup | cache.Store},
		{"HEAD", "/a", "", nil, cache.Lookup | cache.Store},
		{"POST", "/a", "", nil, 0},
		{"GET", "/account/me", "", nil, 0},
		{"GET", "/accounts", "", nil, cache.Lookup | cache.Store},
		{"GET", "/a", "", []string{"Cache-Control: no-store"}, cache.Lookup},
		{"GET", "/a", "", []string{"Cache-Control: only-if-cached"}, cache.Lookup | cache.Store | cache.OnlyIfCached},
		{"PURGE", "/a", "127.0.0.1:4000", nil, cache.Purge},
		{"PURGE", "/a", "192.0.2.9:4000", nil, 0},
	} {
		h, req, _ := exchange(tc.method, otherHost, tc.uri, tc.fields, 0)
		h.Source = tc.source
		assert.Equal(t, tc.want, r.Request(req), "%s %s %v", tc.method, tc.uri, tc.fields)
		assert.True(t, h.Reusable, "a decision of the fields read alone")
	}
}

func TestStore(t *testing.T) {
	r := &rules{}
	for _, tc := range []struct {
		name      string
		host      string
		reqFields []string
		status    uint32
		fields    []string
		lifetime  int64  // seconds; -1: not stored
		detail    string // Cache-Status part
	}{
		{"max-age", otherHost, nil, 200, []string{"Cache-Control: max-age=60"}, 60, "fwd=miss; fwd-status=200; stored; ttl=60"},
		{"s-maxage first", otherHost, nil, 200, []string{"Cache-Control: max-age=60, s-maxage=120"}, 120, "ttl=120"},
		{"no lifetime", otherHost, nil, 200, []string{"Cache-Control: no-cache"}, -1, `detail="no lifetime"`},
		{"forced host ignores no-cache", forcedHostName, nil, 200, []string{"Cache-Control: no-cache"}, 3600, "stored; ttl=3600; detail=forced"},
		{"forced host ignores max-age", forcedHostName, nil, 200, []string{"Cache-Control: max-age=5"}, 3600, "detail=forced"},
		{"forced host, matched without case", "Static.Example.COM", nil, 200, nil, 3600, "detail=forced"},
		{"forced host keeps no-store", forcedHostName, nil, 200, []string{"Cache-Control: no-store"}, -1, `detail="no-store or private"`},
		{"private", otherHost, nil, 200, []string{"Cache-Control: private, max-age=60"}, -1, `detail="no-store or private"`},
		{"request no-store", otherHost, []string{"Cache-Control: no-store"}, 200, []string{"Cache-Control: max-age=60"}, -1, `detail="request no-store"`},
		{"authorization", otherHost, []string{"Authorization: Basic eA=="}, 200, []string{"Cache-Control: max-age=60"}, -1, `detail="authorization"`},
		{"authorization, public", otherHost, []string{"Authorization: Basic eA=="}, 200, []string{"Cache-Control: public, max-age=60"}, 60, "stored"},
		{"vary star", otherHost, nil, 200, []string{"Cache-Control: max-age=60", "Vary: Accept, *"}, -1, `detail="vary *"`},
		{"status", otherHost, nil, 404, []string{"Cache-Control: max-age=60"}, -1, `detail="status"`},
		{"revalidated", otherHost, nil, 304, []string{"Cache-Control: max-age=90"}, 90, "fwd=stale; fwd-status=304; stored; ttl=90"},
		{"malformed max-age is stale, kept for its validator", otherHost, nil, 200, []string{"Cache-Control: max-age=soon", "ETag: \"v\""}, 0, "ttl=0"},
		{"max-age=0 without validator", otherHost, nil, 200, []string{"Cache-Control: max-age=0"}, -1, `detail="never fresh, no validator"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, req, resp := exchange("GET", tc.host, "/a", tc.reqFields, tc.status, tc.fields...)
			stored := r.Store(req, resp, after(0))
			assert.Equal(t, tc.lifetime >= 0, stored)
			if stored {
				assert.Equal(t, [3]int64{tc.lifetime, 0, 0}, h.Lifetime)
			}
			assert.Contains(t, h.Get(guest.KindResponseHeaders, "cache-status"), tc.detail)
		})
	}
	_, req, resp := exchange("POST", otherHost, "/a", nil, 200, "Cache-Control: max-age=60")
	assert.False(t, r.Store(req, resp, after(0)), "only GET responses are stored")
}

func TestLookup(t *testing.T) {
	r := &rules{}
	fresh := cache.Decision{Action: cache.Fresh}
	revalidate := cache.Decision{Action: cache.Revalidate}
	miss := cache.Decision{Action: cache.Miss}
	for _, tc := range []struct {
		name      string
		host      string
		reqFields []string
		fields    []string
		age       time.Duration
		want      cache.Decision
		ageField  string
		status    string
	}{
		{"fresh", otherHost, nil, []string{"Cache-Control: max-age=60"}, 10 * time.Second, fresh, "10", "wasmhttpd; hit; ttl=50"},
		{"Age from upstream counts", otherHost, nil, []string{"Cache-Control: max-age=60", "Age: 55", "ETag: \"v\""}, 10 * time.Second, revalidate, "65", "fwd=stale; ttl=-5"},
		{"an old Date counts (RFC 9111 4.2.3)", otherHost, nil, []string{"Cache-Control: max-age=60", "Date: " + t0.Add(-30*time.Second).Format(imfFixdate)}, 10 * time.Second, fresh, "40", "hit; ttl=20"},
		{"conflicting max-age is stale", otherHost, nil, []string{"Cache-Control: max-age=60", "Cache-Control: max-age=600", "ETag: \"v\""}, 10 * time.Second, revalidate, "10", "fwd=stale; ttl=-10"},
		{"stale without validator refetches", otherHost, nil, []string{"Cache-Control: max-age=60"}, time.Minute, miss, "60", "fwd=stale; ttl=0"},
		{"stale with Last-Modified revalidates", otherHost, nil, []string{"Cache-Control: max-age=60", "Last-Modified: Sun, 29 Nov 2026 11:00:00 GMT"}, 2 * time.Minute, revalidate, "", "fwd=stale"},
		{"response no-cache", otherHost, nil, []string{"Cache-Control: no-cache, max-age=60", "ETag: \"v\""}, time.Second, revalidate, "", "fwd=stale"},
		{"request no-cache", otherHost, []string{"Cache-Control: no-cache"}, []string{"Cache-Control: max-age=60", "ETag: \"v\""}, time.Second, revalidate, "", "fwd=stale"},
		{"forced host: an hour whatever the origin said", forcedHostName, nil, []string{"Cache-Control: no-cache, max-age=0"}, 59 * time.Minute, fresh, "3540", "hit; ttl=60"},
		{"forced host: stale after the hour", forcedHostName, nil, []string{"Cache-Control: max-age=86400", "ETag: \"v\""}, time.Hour, revalidate, "3600", "fwd=stale; ttl=0"},
		{"forced host: the client's no-cache still revalidates", forcedHostName, []string{"Cache-Control: no-cache"}, []string{"ETag: \"v\""}, time.Second, revalidate, "", "fwd=stale"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, req, stored := exchange("GET", tc.host, "/a", tc.reqFields, 200, tc.fields...)
			assert.Equal(t, tc.want, r.Lookup(req, stored, after(tc.age)))
			assert.True(t, h.Reusable, "a decision of the fields read and the times alone")
			if tc.ageField != "" {
				assert.Equal(t, tc.ageField, h.Get(guest.KindResponseHeaders, "age"))
			}
			assert.Contains(t, h.Get(guest.KindResponseHeaders, "cache-status"), tc.status)
		})
	}
}
