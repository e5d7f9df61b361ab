package caching

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wasmhttpd/host/cache"
	"wasmhttpd/host/http1"
	"wasmhttpd/host/policy"
	"wasmhttpd/host/proxy"
	"wasmhttpd/host/server"
	"wasmhttpd/host/server/servertest"
)

// rules is a Decider written in Go with just enough of RFC 9111 for the
// mechanism's tests: GET and HEAD use the cache, PURGE purges, max-age is
// the lifetime, a request's no-cache revalidates, stale responses are
// revalidated (or served while
// revalidating, or on error, as their Cache-Control says), no-store is
// not stored. Cache-Status says what it decided. fail makes every
// decision fail.
type rules struct {
	fail     atomic.Bool
	failOpen bool
	noPurge  bool
	refresh  bool // GETs store without looking up
	// onLookup, when set, runs as CacheLookup begins: what happens
	// between a lookup and the answer.
	onLookup func(*http1.Exchange)
	// onStore, when set, runs as CacheStore begins.
	onStore func(*http1.Exchange)

	mu    sync.Mutex
	memos map[string][]*policy.Memo // by hook, each Memo the cache handed it
}

// memo notes the Memo the cache handed the hook.
func (r *rules) memo(hook string, m *policy.Memo) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.memos == nil {
		r.memos = make(map[string][]*policy.Memo)
	}
	r.memos[hook] = append(r.memos[hook], m)
}

// memosOf returns the Memos handed to the hook so far.
func (r *rules) memosOf(hook string) []*policy.Memo {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.memos[hook])
}

var errRules = errors.New("rules fail on purpose")

func (r *rules) FailOpen() bool { return r.failOpen }

func (r *rules) CacheRequest(ex *http1.Exchange, m *policy.Memo) (policy.CacheRequestDecision, error) {
	r.memo("request", m)
	if r.fail.Load() {
		return policy.CacheRequestDecision{}, errRules
	}
	var access policy.CacheAccess
	switch ex.Request.Method {
	case "GET", "HEAD":
		access = policy.CacheLookup | policy.CacheStore
		if r.refresh {
			access = policy.CacheStore
		}
	case "PURGE":
		if !r.noPurge {
			access = policy.CachePurge
		}
	}
	if ex.Request.Header.HasToken("Cache-Control", "only-if-cached") {
		access |= policy.CacheOnlyIfCached
	}
	return policy.CacheRequestDecision{Access: access}, nil
}

func maxAge(h *http1.Header) time.Duration {
	for v := range h.Values("Cache-Control") {
		for d := range http1.CommaList(v) {
			if n, ok := strings.CutPrefix(string(d), "max-age="); ok {
				s, _ := strconv.Atoi(n)
				return time.Duration(s) * time.Second
			}
		}
	}
	return 0
}

func (r *rules) CacheLookup(ex *http1.Exchange, t policy.CacheTimes, m *policy.Memo) (policy.CacheLookupDecision, error) {
	r.memo("lookup", m)
	if r.onLookup != nil {
		r.onLookup(ex)
	}
	h := ex.Response.Header()
	age := t.Now.Sub(t.Response)
	h.Set("Age", strconv.Itoa(int(age/time.Second)))
	if ex.Request.Header.HasToken("Cache-Control", "no-cache") && h.Has("ETag") {
		h.Set("Cache-Status", "test; fwd=request")
		return policy.CacheLookupDecision{Action: policy.CacheRevalidate}, nil
	}
	if age < maxAge(h) {
		h.Set("Cache-Status", "test; hit")
		return policy.CacheLookupDecision{Action: policy.CacheFresh}, nil
	}
	h.Set("Cache-Status", "test; fwd=stale")
	staleIfError := h.HasToken("Cache-Control", "stale-if-error")
	if h.HasToken("Cache-Control", "stale-while-revalidate") {
		return policy.CacheLookupDecision{Action: policy.CacheStaleWhileRevalidate, StaleIfError: staleIfError}, nil
	}
	if !h.Has("ETag") {
		return policy.CacheLookupDecision{Action: policy.CacheMiss, StaleIfError: staleIfError}, nil
	}
	return policy.CacheLookupDecision{Action: policy.CacheRevalidate, StaleIfError: staleIfError}, nil
}

func (r *rules) CacheStore(ex *http1.Exchange, t policy.CacheTimes) (policy.CacheStoreDecision, error) {
	if r.onStore != nil {
		r.onStore(ex)
	}
	h := ex.Response.Header()
	if ex.Request.Method != "GET" || h.HasToken("Cache-Control", "no-store") {
		h.Set("Cache-Status", "test; fwd=miss")
		return policy.CacheStoreDecision{}, nil
	}
	h.Set("Cache-Status", "test; fwd=miss; stored")
	return policy.CacheStoreDecision{Store: true, Lifetime: policy.Lifetime{Fresh: maxAge(h)}}, nil
}

// origin is a test origin that counts its requests per path.
type origin struct {
	*httptest.Server
	hits atomic.Int64
}

func newOrigin(t *testing.T, handler http.HandlerFunc) *origin {
	o := &origin{}
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.hits.Add(1)
		handler(w, r)
	}))
	t.Cleanup(o.Close)
	return o
}

// fixture is a caching forward proxy in a real server on loopback, with
// a net/http client that uses it.
type fixture struct {
	cache  *Cache
	store  *cache.Store
	rules  *rules
	addr   string
	client *http.Client
}

func newFixture(t *testing.T) *fixture { return newFixtureBehind(t, nil) }

// newFixtureBehind is newFixture with before run ahead of the cache on
// every request, as a policy chain is.
func newFixtureBehind(t *testing.T, before func(*http1.Exchange)) *fixture {
	return newFixtureWith(t, before, cache.Options{})
}

// newFixtureWith is newFixtureBehind over a store with opts' FillWait.
func newFixtureWith(t *testing.T, before func(*http1.Exchange), opts cache.Options) *fixture {
	t.Helper()
	store, err := cache.Open(t.TempDir(), cache.Options{MaxSize: 64 << 20, MaxEntries: 1000, MaxObjectSize: 8 << 20,
		FillWait: opts.FillWait, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	px := proxy.New(proxy.Config{Name: "cachetest", Logger: slog.New(slog.DiscardHandler)})
	f := &fixture{store: store, rules: &rules{}}
	f.cache = New(Config{Store: store, Proxy: px, Decider: f.rules, Logger: slog.New(slog.DiscardHandler)})
	// Registered first, so run last: after the server has shut down.
	t.Cleanup(func() {
		f.cache.Close()
		px.Close()
		store.Close()
	})
	handler := http1.HandlerFunc(func(ex *http1.Exchange) {
		if before != nil {
			before(ex)
		}
		f.cache.ServeForward(ex)
	})
	f.addr = servertest.Start(t, server.Config{Name: "proxy", Handler: handler})
	proxyURL, _ := url.Parse("http://" + f.addr)
	transport := &http.Transport{Proxy: http.ProxyURL(proxyURL)}
	f.client = &http.Client{Transport: transport}
	t.Cleanup(transport.CloseIdleConnections)
	return f
}

// do sends a request through the proxy and returns the response with its
// body read.
func (f *fixture) do(t *testing.T, method, url string, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	require.NoError(t, err)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := f.client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var b strings.Builder
	_, err = io.Copy(&b, resp.Body)
	require.NoError(t, err)
	return resp, b.String()
}
