// Package caching is the caching proxy: the mechanism of RFC 9111 between
// clients, the disk store (package cache) and upstreams (package proxy).
// Every decision — may this request use the cache, may this stored
// response answer it, may this response be stored and for how long — is
// asked of a Decider, in practice a policy guest through the wasmhttpd_v1
// cache hooks, so that an operator changes the rules by swapping a .wasm.
// The mechanism is this package's: keys, collapsing concurrent misses,
// conditional requests and 304 merging, serving hits by sendfile,
// stale-while-revalidate in the background, stale-if-error, PURGE, and
// invalidation after unsafe requests.
//
// # RATIONALE
//
// The decider sees each response in the client's response header table
// (ex.Response.Header): a hit's stored fields before they are sent, a
// fetched response's fields before they are relayed. What it sets there
// (Age, Cache-Status) reaches the client; the store keeps what the
// upstream sent. After a 304 the decider sees status 304 with the stored
// fields refreshed, which is how it tells a revalidation from a miss.
//
// A stored response is committed once the client has been sent the whole
// body (the response is flushed first), so the store's fsync does not
// delay the client; a body cut short is never committed.
package caching

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"wasmhttpd/host/cache"
	"wasmhttpd/host/http1"
	"wasmhttpd/host/policy"
	"wasmhttpd/host/proxy"
)

// Decider makes the caching decisions; *policy.Policy loaded with
// CacheHooks is one. Its methods see and may amend ex.Response's header,
// as the package documentation says. The Memo they are given keeps the
// decisions the decider allows to be reused: one for every request's
// CacheRequest, one per stored response for its CacheLookup.
type Decider interface {
	CacheRequest(ex *http1.Exchange, memo *policy.Memo) (policy.CacheRequestDecision, error)
	CacheLookup(ex *http1.Exchange, t policy.CacheTimes, memo *policy.Memo) (policy.CacheLookupDecision, error)
	CacheStore(ex *http1.Exchange, t policy.CacheTimes) (policy.CacheStoreDecision, error)
	// FailOpen says whether a failed decision bypasses the cache (true)
	// or fails the request with 500 (false).
	FailOpen() bool
}

// Config is what a Cache is made of.
type Config struct {
	Store   *cache.Store
	Proxy   *proxy.Proxy
	Decider Decider
	Logger  *slog.Logger // nil: slog.Default()
}

// Cache serves requests through the proxy and the store. It is safe for
// concurrent use.
type Cache struct {
	store   *cache.Store
	proxy   *proxy.Proxy
	decider Decider
	log     *slog.Logger

	// background revalidations (stale-while-revalidate): one per key at
	// a time, all waited for by Close.
	revalidating sync.Map
	background   sync.WaitGroup

	// revalidations in flight for a client, by stored entry
	// (*cache.Entry → *revalidation): concurrent ones collapse.
	revalidations sync.Map

	stats counters

	requestMemo policy.Memo // CacheRequest's
}

// New returns a Cache over cfg's store, proxy and decider.
func New(cfg Config) *Cache {
	c := &Cache{store: cfg.Store, proxy: cfg.Proxy, decider: cfg.Decider, log: cfg.Logger}
	if c.log == nil {
		c.log = slog.Default()
	}
	return c
}

// Close waits for the background revalidations to end. The store and the
// proxy are the caller's to close afterwards.
func (c *Cache) Close() { c.background.Wait() }

// counters are what Stats reports beside the store's own.
type counters struct {
	hits, misses, revalidations, revalidated, staleServed, bypassed, purged, invalidated, policyErrors atomic.Int64
}

// Stats are a Cache's counters since New.
type Stats struct {
	Hits          int64 // answered from the store, fresh or allowed stale
	Misses        int64 // fetched, whether stored or not
	Revalidations int64 // conditional requests sent for a stored response
	Revalidated   int64 // of those, answered 304
	StaleServed   int64 // stale responses served (stale-while-revalidate, stale-if-error, max-stale)
	Bypassed      int64 // requests the decider kept away from the cache
	Purged        int64 // stored responses removed by PURGE
	Invalidated   int64 // stored responses removed after unsafe requests
	PolicyErrors  int64 // decisions that failed
	Store         cache.Stats
}

// Stats returns the counters.
func (c *Cache) Stats() Stats {
	s := &c.stats
	return Stats{
		Hits: s.hits.Load(), Misses: s.misses.Load(), Revalidations: s.revalidations.Load(),
		Revalidated: s.revalidated.Load(), StaleServed: s.staleServed.Load(), Bypassed: s.bypassed.Load(),
		Purged: s.purged.Load(), Invalidated: s.invalidated.Load(), PolicyErrors: s.policyErrors.Load(),
		Store: c.store.Stats(),
	}
}

// ServeForward is the caching forward proxy: CONNECT opens a tunnel,
// absolute-form requests go through the cache.
func (c *Cache) ServeForward(ex *http1.Exchange) {
	if ex.Request.Form == http1.AuthorityForm {
		c.proxy.Serve(ex)
		return
	}
	if out := c.proxy.Prepare(ex); out != nil {
		x := takeExchange(ex)
		c.serve(x, out)
		x.release()
		c.proxy.Release(out)
	}
}

// ServeUpstream is the caching reverse proxy to up.
func (c *Cache) ServeUpstream(ex *http1.Exchange, up *proxy.Upstream) {
	if out := c.proxy.PrepareUpstream(ex, up); out != nil {
		x := takeExchange(ex)
		c.serve(x, out)
		x.release()
		c.proxy.Release(out)
	}
}

// defaultKey is the absolute URI the request is fetched from, scheme and
// host lower-cased: what RFC 9111 2 calls the target URI.
func defaultKey(out *proxy.Outbound) string { return keyFor(out, out.Target) }

// keyFor is the default key of target on out's scheme and host.
func keyFor(out *proxy.Outbound, target []byte) string {
	host := out.Header.Get("Host")
	var b strings.Builder
	b.Grow(len(out.Scheme) + 3 + len(host) + len(target))
	b.WriteString(out.Scheme)
	b.WriteString("://")
	for _, ch := range host {
		if 'A' <= ch && ch <= 'Z' {
			ch += 'a' - 'A'
		}
		b.WriteByte(ch)
	}
	b.Write(target)
	return b.String()
}

// serve answers ex, whose upstream request out is prepared.
func (c *Cache) serve(ex *exchange, out *proxy.Outbound) {
	d, err := c.decider.CacheRequest(ex.Exchange, &c.requestMemo)
	if err != nil && !c.policyFailed(ex) {
		return
	}
	key := d.Key
	if key == "" {
		key = defaultKey(out)
	}
	req := ex.Request
	switch {
	case d.Access&policy.CachePurge != 0:
		c.purge(ex, key)
		return
	case req.Method == "PURGE":
		// Not forwarded: an origin that answers any method with 200
		// would turn a refused PURGE into an invalidation.
		ex.Response.Error(403, "PURGE is not allowed by the cache policy")
		return
	case d.Access&(policy.CacheLookup|policy.CacheStore|policy.CacheOnlyIfCached) == 0:
		c.stats.bypassed.Add(1)
		c.pass(ex, out, key)
		return
	}

	store := d.Access&policy.CacheStore != 0
	busy := false
	var e *cache.Entry
	var fill *cache.Fill
	switch {
	case d.Access&policy.CacheLookup == 0:
		// A forced refresh (store without lookup): fetched, stored.
	case store && req.Method == "GET" && d.Access&policy.CacheOnlyIfCached == 0:
		// Only a GET that may store fills: the others would make the
		// misses waiting on it wait for nothing.
		e, fill, err = c.store.LookupOrFill(context.Background(), key, &req.Header)
		if err != nil {
			// Another request's fill failed or is slow: fetch alone,
			// and leave the storing to that one.
			store, busy = false, true
		}
	default:
		e = c.store.Lookup(key, &req.Header)
	}
	if fill != nil {
		defer fill.Cancel()
	}
	onlyIfCached := d.Access&policy.CacheOnlyIfCached != 0
	var stale *fallback // served if the fetch fails and the decider allowed it
	if e != nil {
		var done bool
		if done, stale = c.serveStored(ex, out, key, e, onlyIfCached, store); done {
			return
		}
	}
	if onlyIfCached {
		ex.Response.Error(504, "only-if-cached: no stored response can answer this request")
		return
	}
	c.stats.misses.Add(1)
	sink := storeSink{fill: fill, key: key, allowed: store, busy: busy}
	c.fetch(ex, out, sink, stale)
}

// policyFailed applies the decider's fail mode to a failed decision and
// reports whether the request may go on (bypassing the cache where it
// must).
func (c *Cache) policyFailed(ex *exchange) bool {
	c.stats.policyErrors.Add(1)
	if c.decider.FailOpen() {
		return true
	}
	// Whatever stored or fetched fields were there must not go out on
	// an error a downstream cache might then keep.
	ex.Response.Header().Reset()
	ex.Response.Error(500, "the cache policy failed")
	return false
}

// purge removes every stored response of key.
func (c *Cache) purge(ex *exchange, key string) {
	n := c.store.Invalidate(key)
	c.stats.purged.Add(int64(n))
	w := ex.Response
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if n == 0 {
		w.Error(404, "not in the cache: "+key)
		return
	}
	msg := "purged " + strconv.Itoa(n) + " stored response(s) of " + key + "\n"
	w.SetContentLength(int64(len(msg)))
	w.WriteHeader(200)
	w.WriteString(msg)
}

// pass forwards a request that does not use the cache, and invalidates
// what a successful unsafe request changed (RFC 9111 4.4).
func (c *Cache) pass(ex *exchange, out *proxy.Outbound, key string) {
	resp, err := c.proxy.Fetch(out)
	if err != nil {
		c.proxy.Fail(ex.Exchange, out, err)
		return
	}
	defer resp.Close()
	if unsafe(ex.Request.Method) && resp.Status >= 200 && resp.Status < 400 {
		c.invalidate(key, out, resp.Header)
	}
	ex.withChainFields()
	if err := c.proxy.Relay(ex.Exchange, resp); err != nil {
		c.proxy.RelayFailed(ex.Exchange, out, err)
	}
}

// unsafe reports a method that may change the resource (RFC 9110 9.2.1).
func unsafe(method string) bool {
	switch method {
	case "GET", "HEAD", "OPTIONS", "TRACE":
		return false
	}
	return true
}

// invalidate drops the stored responses of key and of the URIs that
// Location and Content-Location name on the same host (RFC 9111 4.4).
func (c *Cache) invalidate(key string, out *proxy.Outbound, h *http1.Header) {
	n := c.store.Invalidate(key)
	for _, name := range [...]string{"Location", "Content-Location"} {
		if target := sameOriginPath(string(h.Get(name)), out); target != "" {
			n += c.store.Invalidate(keyFor(out, []byte(target)))
		}
	}
	c.stats.invalidated.Add(int64(n))
}

// sameOriginPath returns the origin-form target a Location-like value
// names on out's host: a path as it is, an absolute URI only when its
// authority is out's host. "" otherwise.
func sameOriginPath(v string, out *proxy.Outbound) string {
	switch {
	case v == "":
		return ""
	case v[0] == '/' && (len(v) == 1 || v[1] != '/'):
		return v
	}
	prefix := out.Scheme + "://" + string(out.Header.Get("Host"))
	if len(v) > len(prefix) && strings.EqualFold(v[:len(prefix)], prefix) && v[len(prefix)] == '/' {
		return v[len(prefix):]
	}
	return ""
}

// times converts an entry's times for the decider.
func times(t cache.Times, now time.Time) policy.CacheTimes {
	return policy.CacheTimes{Request: t.Request, Response: t.Response, Now: now}
}
