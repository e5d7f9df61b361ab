package policy

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"wasmhttpd/host/http1"
)

// router is a Router that knows the root "files" and http:// upstreams,
// and answers with what it was asked to serve.
type router struct{}

func (router) CheckRoute(r Route) error {
	switch {
	case r.Kind == RouteStatic && r.Target != "files":
		return errors.New("no root named " + r.Target)
	case r.Kind == RouteUpstream && !strings.HasPrefix(r.Target, "http://"):
		return errors.New("upstream " + r.Target + " is not an http URL")
	}
	return nil
}

func (router) ServeRoute(ex *http1.Exchange, r Route) {
	ex.Response.Header().Set("x-route", r.Kind.String()+"|"+r.Target+"|"+r.Path)
	ex.Response.SetContentLength(0)
	ex.Response.WriteHeader(200)
}

func (router) Serve(ex *http1.Exchange) { echo.Serve(ex) }

func TestRoutes(t *testing.T) {
	p := load(t, "conform", nil)
	routed := NewChain([]*Policy{p}, router{})
	for _, tc := range []struct {
		name, test, extra string
		status            int
		route             string // x-route of the answer
	}{
		{"static with path", "route-static", "X-Root: files\r\nX-Path: /a.txt\r\n", 200, "static|files|/a.txt"},
		{"static, request path", "route-static", "X-Root: files\r\n", 200, "static|files|"},
		{"unknown root traps", "route-static", "X-Root: nope\r\n", 500, ""},
		{"upstream", "route-upstream", "X-Url: http://127.0.0.1:9/x\r\n", 200, "upstream|http://127.0.0.1:9/x|"},
		{"bad upstream traps", "route-upstream", "X-Url: ftp://x\r\n", 500, ""},
		{"forward", "route-forward", "", 200, "forward||"},
		{"last choice wins", "route-twice", "X-Url: http://u\r\n", 200, "upstream|http://u|"},
		// The default handler answered before handle_response trapped.
		{"route after next traps", "route-after-next", "", 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, routed, get(tc.test, tc.extra))
			assert.Equal(t, tc.status, r.StatusCode)
			assert.Equal(t, tc.route, r.Header.Get("x-route"))
		})
	}
	assert.Contains(t, logBuf.String(), "route_static: no root named nope")
	assert.Contains(t, logBuf.String(), "route_upstream: upstream ftp://x is not an http URL")
	assert.Contains(t, logBuf.String(), "route_forward: routes are chosen in handle_request, before next")

	t.Run("no route leaves the default handler", func(t *testing.T) {
		r := do(t, routed, get("fine"))
		assert.Equal(t, "GET", r.Header.Get("x-echo-method"))
		assert.Empty(t, r.Header.Get("x-route"))
	})
	t.Run("a chain that does not route traps", func(t *testing.T) {
		r := do(t, NewChain([]*Policy{p}, echo), get("route-forward"))
		assert.Equal(t, 500, r.StatusCode)
		assert.Contains(t, logBuf.String(), "this listener does not route")
	})
}

func TestCounters(t *testing.T) {
	p := load(t, "conform", func(o *Options) { o.Name = "counting" })
	c := NewChain([]*Policy{p}, echo)
	for range 3 {
		assert.Equal(t, 200, do(t, c, get("counter", "X-Counter: hits\r\n")).StatusCode)
	}
	assert.Equal(t, map[string]int64{"hits": 6}, p.Stats().Counters)

	for _, bad := range []string{"Hits", "a-b", "", strings.Repeat("x", 65)} {
		assert.Equal(t, 500, do(t, c, get("counter", "X-Counter: "+bad+"\r\n")).StatusCode, "counter name %q", bad)
	}
	for i := range maxCounters - 1 {
		do(t, c, get("counter", "X-Counter: c"+string(rune('a'+i/26))+string(rune('a'+i%26))+"\r\n"))
	}
	assert.Len(t, p.Stats().Counters, maxCounters)
	assert.Equal(t, 500, do(t, c, get("counter", "X-Counter: one_too_many\r\n")).StatusCode)
	assert.Equal(t, 200, do(t, c, get("counter", "X-Counter: hits\r\n")).StatusCode, "existing counters still count")
}

func TestCacheHooks(t *testing.T) {
	p := load(t, "conform", func(o *Options) { o.Name, o.CacheHooks = "cache", true })
	times := CacheTimes{Request: time.Unix(1000, 0), Response: time.Unix(1001, 0), Now: time.Unix(1031, 0)}

	t.Run("cache_request", func(t *testing.T) {
		ex, _ := exchange(t, get("", "X-Cache-Access: 7\r\nX-Cache-Key: k1\r\n"))
		d, err := p.CacheRequest(ex)
		require.NoError(t, err)
		assert.Equal(t, CacheRequestDecision{Access: CacheLookup | CacheStore | CacheOnlyIfCached, Key: "k1"}, d)

		ex, _ = exchange(t, get("", "X-Cache-Access: 8\r\n"))
		d, err = p.CacheRequest(ex)
		require.NoError(t, err)
		assert.Equal(t, CacheRequestDecision{Access: CachePurge}, d, "no key set: the host's default")
	})
	t.Run("cache_lookup sees times and amends the answer", func(t *testing.T) {
		for _, tc := range []struct {
			result string
			want   CacheLookupDecision
		}{
			{"0", CacheLookupDecision{Action: CacheMiss}},
			{"1", CacheLookupDecision{Action: CacheFresh}},
			{"2", CacheLookupDecision{Action: CacheRevalidate}},
			{"259", CacheLookupDecision{Action: CacheStaleWhileRevalidate, StaleIfError: true}},
		} {
			ex, finish := exchange(t, get("", "X-Lookup: "+tc.result+"\r\n"))
			d, err := p.CacheLookup(ex, times)
			require.NoError(t, err)
			assert.Equal(t, tc.want, d, "result %s", tc.result)
			r := finish()
			assert.Equal(t, "30", r.Header.Get("age"))
			assert.Equal(t, "1000,1001", r.Header.Get("x-times"))
		}
		ex, _ := exchange(t, get("", "X-Lookup: 4\r\n"))
		_, err := p.CacheLookup(ex, times)
		assert.ErrorContains(t, err, "unknown action 4")
	})
	t.Run("cache_store", func(t *testing.T) {
		ex, finish := exchange(t, get(""))
		d, err := p.CacheStore(ex, times)
		require.NoError(t, err)
		assert.Equal(t, CacheStoreDecision{Store: true, Lifetime: Lifetime{
			Fresh: time.Minute, StaleWhileRevalidate: 10 * time.Second, StaleIfError: 20 * time.Second}}, d)
		assert.Equal(t, "wasmhttpd; fwd=miss; stored", finish().Header.Get("cache-status"))
		assert.Equal(t, int64(1), p.Stats().Counters["stored"])

		ex, _ = exchange(t, get(""))
		ex.Response.Header().Set("Cache-Control", "no-store")
		d, err = p.CacheStore(ex, times)
		require.NoError(t, err)
		assert.False(t, d.Store)
	})
	t.Run("refusals trap", func(t *testing.T) {
		for _, tc := range []struct {
			call  func(*http1.Exchange) error
			extra string
			cause string
		}{
			{func(ex *http1.Exchange) error { _, err := p.CacheRequest(ex); return err }, "X-Cache-Status: 1\r\n", "set_status_code in a cache hook"},
			{func(ex *http1.Exchange) error { _, err := p.CacheStore(ex, times); return err }, "X-Store: bad-lifetime\r\n", "freshness lifetime of -1 s"},
		} {
			ex, _ := exchange(t, get("", tc.extra))
			assert.ErrorContains(t, tc.call(ex), tc.cause)
		}
		r := do(t, NewChain([]*Policy{p}, echo), get("cache-key-outside"))
		assert.Equal(t, 500, r.StatusCode)
		assert.Contains(t, logBuf.String(), "cache_set_key: allowed in cache_request only")
	})
	t.Run("a policy that is not the decider", func(t *testing.T) {
		plain := load(t, "conform", nil)
		ex, _ := exchange(t, get(""))
		_, err := plain.CacheRequest(ex)
		assert.ErrorIs(t, err, ErrNotCacheDecider)
	})
	t.Run("a decider must export the hooks", func(t *testing.T) {
		_, err := engine.Load(t.Context(), Options{Name: "nohooks", Path: guest("v1"), CacheHooks: true})
		assert.ErrorContains(t, err, "does not export cache_request")
	})
}

func TestLogRation(t *testing.T) {
	var r logRation
	t0 := time.Unix(0, 0)
	for i := range logBurst {
		_, ok := r.take(t0)
		require.True(t, ok, "line %d of the burst", i)
	}
	for range 5 {
		_, ok := r.take(t0)
		assert.False(t, ok)
	}
	unlogged, ok := r.take(t0.Add(time.Second / logRate))
	assert.True(t, ok, "a token comes back after 1/logRate s")
	assert.Equal(t, uint64(5), unlogged)
}

// TestCountersSurviveASwap: counters belong to the policy, not to the
// module serving it.
func TestCountersSurviveASwap(t *testing.T) {
	conform, err := os.ReadFile(guest("conform"))
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "counting.wasm")
	install(t, path, conform)
	p, err := engine.Load(t.Context(), Options{Name: "surviving", Path: path})
	require.NoError(t, err)
	defer p.Close()
	c := NewChain([]*Policy{p}, echo)
	do(t, c, get("counter", "X-Counter: hits\r\n"))

	// The same code with a custom section appended: another module.
	install(t, path, append(bytes.Clone(conform), 0, 3, 1, 'x', 0))
	require.NoError(t, p.Reload(t.Context()))
	require.Equal(t, uint64(2), p.Stats().Generation)
	do(t, c, get("counter", "X-Counter: hits\r\n"))
	assert.Equal(t, map[string]int64{"hits": 4}, p.Stats().Counters)
}
