package cache_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"wasmhttpd/guest"
	"wasmhttpd/guest/cache"
	"wasmhttpd/guest/guesttest"
)

// rules caches what has no Cache-Control: no-store for an hour, keyed by
// path only, and serves stored responses younger than a minute.
type rules struct{}

func (rules) Request(req guest.Request) cache.Access {
	cache.SetKey(req.Path())
	return cache.Lookup | cache.Store
}

func (rules) Lookup(_ guest.Request, stored guest.Response, t cache.Times) cache.Decision {
	if t.Now.Sub(t.Response) < time.Minute {
		return cache.Decision{Action: cache.Fresh}
	}
	stored.Header().Set("Warning", "stale")
	return cache.Decision{Action: cache.Revalidate, StaleIfError: true}
}

func (rules) Store(_ guest.Request, resp guest.Response, _ cache.Times) bool {
	if v, _ := resp.Header().Get("Cache-Control"); v == "no-store" {
		return false
	}
	cache.SetLifetime(3600, 60, 1<<40) // the last beyond the ABI's bound
	return true
}

func TestDispatch(t *testing.T) {
	h := guesttest.NewRequest("GET", "/a?b=1").Install()
	assert.Equal(t, uint32(0), cache.DispatchRequest(h), "no handler: bypass")
	cache.Handle(rules{})

	assert.Equal(t, uint32(cache.Lookup|cache.Store), cache.DispatchRequest(h))
	assert.Equal(t, "/a", h.CacheKey)

	assert.Equal(t, uint32(cache.Fresh), cache.DispatchLookup(h, cache.TimesOf(100, 101, 130)))
	assert.Equal(t, uint32(cache.Revalidate)|1<<8, cache.DispatchLookup(h, cache.TimesOf(100, 101, 200)))
	assert.Equal(t, "stale", h.Get(guest.KindResponseHeaders, "warning"))

	assert.Equal(t, uint32(1), cache.DispatchStore(h, cache.TimesOf(100, 101, 101)))
	assert.Equal(t, [3]int64{3600, 60, cache.MaxLifetime}, h.Lifetime)
	h.SetHeaderValue(guest.KindResponseHeaders, "Cache-Control", "no-store")
	assert.Equal(t, uint32(0), cache.DispatchStore(h, cache.TimesOf(100, 101, 101)))
}
