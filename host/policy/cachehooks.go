package policy

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/tetratelabs/wazero/api"

	"wasmhttpd/host/http1"
)

// The cache hooks are optional exports with which a guest makes the
// caching proxy's decisions (docs/ABI.md, "Cache decisions"). The proxy
// owns the mechanism — storage, coalescing, conditional requests — and
// asks the guest at three points of a request: may this request use the
// cache (cache_request), may this stored response answer it
// (cache_lookup), may this response be stored (cache_store).
const (
	exportCacheRequest = "cache_request"
	exportCacheLookup  = "cache_lookup"
	exportCacheStore   = "cache_store"
)

// CacheAccess is what cache_request allows a request.
type CacheAccess uint32

// The bits of cache_request's result. Zero bypasses the cache entirely.
const (
	CacheLookup       CacheAccess = 1 << 0 // a stored response may answer it
	CacheStore        CacheAccess = 1 << 1 // its response may be stored
	CacheOnlyIfCached CacheAccess = 1 << 2 // on a miss answer 504, never fetch
	CachePurge        CacheAccess = 1 << 3 // a PURGE: remove the stored responses
)

// CacheRequestDecision is the outcome of cache_request.
type CacheRequestDecision struct {
	Access CacheAccess
	// Key is the primary key the guest set with cache_set_key; empty
	// means the host's default (the absolute request URI).
	Key string
}

// CacheAction is what cache_lookup decides about a stored response.
type CacheAction uint8

// The actions of cache_lookup's result (its low byte).
const (
	CacheMiss                 CacheAction = iota // ignore it and fetch
	CacheFresh                                   // serve it
	CacheRevalidate                              // ask the origin conditionally; serve it on 304
	CacheStaleWhileRevalidate                    // serve it now and revalidate in the background
)

// cacheStaleIfError is the flag bit of cache_lookup's result.
const cacheStaleIfError = 1 << 8

// CacheLookupDecision is the outcome of cache_lookup.
type CacheLookupDecision struct {
	Action CacheAction
	// StaleIfError allows serving the stored response when the fetch or
	// revalidation fails (an error, or a 500, 502, 503 or 504).
	StaleIfError bool
}

// Lifetime is what cache_store records with a stored response.
type Lifetime struct {
	Fresh                time.Duration // freshness lifetime
	StaleWhileRevalidate time.Duration // how long after it a stale serve may hide a revalidation
	StaleIfError         time.Duration // how long after it a stale serve may hide an error
}

// maxLifetimeSeconds bounds cache_set_lifetime at ten years, beyond which
// RFC 9111 says a lifetime means nothing more than "forever".
const maxLifetimeSeconds = 10 * 365 * 24 * 3600

func seconds(v uint64) time.Duration { return time.Duration(int64(v)) * time.Second }

// CacheStoreDecision is the outcome of cache_store.
type CacheStoreDecision struct {
	Store bool
	// Lifetime is what the guest set with cache_set_lifetime; the zero
	// value when it set none.
	Lifetime Lifetime
}

// CacheTimes are the clock readings of RFC 9111 4.2.3 that an age
// calculation needs; the hooks receive them as Unix seconds.
type CacheTimes struct {
	Request  time.Time // when the stored (or fetched) response was requested
	Response time.Time // when it was received
	Now      time.Time
}

// FailOpen reports whether the policy's failures are to be ignored
// (on_error = "fail-open"); callers of the cache hooks apply it.
func (p *Policy) FailOpen() bool { return p.failOpen }

// CacheRequest calls cache_request for ex. Request fields are visible to
// the guest and read-only. memo, when not nil, keeps the decision for
// reuse if the guest allows it, and answers from it when it can (memo.go).
func (p *Policy) CacheRequest(ex *http1.Exchange, memo *Memo) (CacheRequestDecision, error) {
	var d CacheRequestDecision
	err := p.callHook(ex, phaseCacheRequest, exportCacheRequest, CacheTimes{}, memo, func(r hookResult) string {
		d = CacheRequestDecision{Access: CacheAccess(uint32(r.value)) & (CacheLookup | CacheStore | CacheOnlyIfCached | CachePurge), Key: r.key}
		return ""
	})
	return d, err
}

// CacheLookup calls cache_lookup for ex with the stored response's fields
// in ex.Response.Header(), which are what a hit will send: the guest may
// set Age, Cache-Status and the like there. memo is as for CacheRequest;
// it belongs with the stored response.
func (p *Policy) CacheLookup(ex *http1.Exchange, t CacheTimes, memo *Memo) (CacheLookupDecision, error) {
	var d CacheLookupDecision
	err := p.callHook(ex, phaseCacheLookup, exportCacheLookup, t, memo, func(r hookResult) string {
		d = CacheLookupDecision{Action: CacheAction(r.value & 0xff), StaleIfError: r.value&cacheStaleIfError != 0}
		if d.Action > CacheStaleWhileRevalidate {
			return fmt.Sprintf("returned the unknown action %d", d.Action)
		}
		return ""
	})
	return d, err
}

// CacheStore calls cache_store for ex with the fetched (or revalidated)
// response's status and fields in ex.Response, which the guest may amend
// for the client; what is stored is the caller's own copy.
func (p *Policy) CacheStore(ex *http1.Exchange, t CacheTimes) (CacheStoreDecision, error) {
	var d CacheStoreDecision
	err := p.callHook(ex, phaseCacheStore, exportCacheStore, t, nil, func(r hookResult) string {
		d = CacheStoreDecision{Store: uint32(r.value) == 1, Lifetime: r.lifetime}
		return ""
	})
	return d, err
}

// ErrNotCacheDecider is returned by the cache hooks of a policy loaded
// without Options.CacheHooks.
var ErrNotCacheDecider = errors.New("policy does not make cache decisions")

// hookResult is what a cache hook answered.
type hookResult struct {
	value    uint64
	key      string   // set with cache_set_key
	lifetime Lifetime // set with cache_set_lifetime
}

// callHook runs one cache hook on an instance of the current generation,
// or answers it from memo, and hands its result to decode while the
// request state is still the hook's; decode returns why the result is
// invalid, if it is. A failure is logged with the policy's name, counted,
// and returned; the instance is then discarded.
func (p *Policy) callHook(ex *http1.Exchange, phase callPhase, export string, t CacheTimes, memo *Memo, decode func(hookResult) string) error {
	if !p.cacheHooks {
		return ErrNotCacheDecider
	}
	var args [3]uint64
	if phase != phaseCacheRequest {
		args = [3]uint64{unixSeconds(t.Request), unixSeconds(t.Response), unixSeconds(t.Now)}
	}
	if memo != nil {
		if value, key, ok := memo.reuse(p, phase, args, ex); ok {
			p.reused.Add(1)
			decode(hookResult{value: value, key: key}) // valid: it was when recorded
			return nil
		}
	}
	g := p.acquire()
	if g == nil {
		return errors.New("policy " + p.name + " is closed")
	}
	defer g.release()
	in, err := g.get()
	if err != nil {
		return p.hookFailed(ex, g.id, export, "instance: "+err.Error())
	}
	st := &in.st
	st.begin(ex, in.initFeatures)
	st.phase, st.afterNext = phase, true
	st.trace.begin(memo != nil)
	in.stack = args
	nparams := 3
	if phase == phaseCacheRequest {
		nparams = 0
	}
	if f := in.call(in.cacheFns[phase], nparams); f != nil {
		g.discard(in)
		return p.hookFailed(ex, g.id, export, f.cause)
	}
	r := hookResult{value: in.stack[0], key: st.cache.key, lifetime: st.cache.lifetime}
	if cause := decode(r); cause != "" {
		g.discard(in)
		return p.hookFailed(ex, g.id, export, cause)
	}
	if memo != nil {
		st.trace.keep(memo, g, phase, args, r.value)
	}
	g.put(in)
	return nil
}

func unixSeconds(t time.Time) uint64 {
	if t.IsZero() {
		return 0
	}
	return uint64(t.Unix())
}

func (p *Policy) hookFailed(ex *http1.Exchange, gen uint64, export, cause string) error {
	p.logFailure(ex, gen, export+": "+cause)
	return fmt.Errorf("policy %s: %s: %s", p.name, export, cause)
}

// checkCacheExports requires the three hooks with their signatures.
func checkCacheExports(fns map[string]api.FunctionDefinition) error {
	i32, i64 := api.ValueTypeI32, api.ValueTypeI64
	for _, want := range []struct {
		name   string
		params []api.ValueType
	}{
		{exportCacheRequest, nil},
		{exportCacheLookup, []api.ValueType{i64, i64, i64}},
		{exportCacheStore, []api.ValueType{i64, i64, i64}},
	} {
		fn, ok := fns[want.name]
		if !ok {
			return fmt.Errorf("module does not export %s: not a cache policy", want.name)
		}
		if !slices.Equal(fn.ParamTypes(), want.params) || !slices.Equal(fn.ResultTypes(), []api.ValueType{i32}) {
			return fmt.Errorf("%s must have the signature (%s) -> i32", want.name, typeList(want.params))
		}
	}
	return nil
}
