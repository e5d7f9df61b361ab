package policy

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"wasmhttpd/host/http1"
)

// ExtModule is the import module of wasmhttpd's own extension to the
// http-wasm ABI: route selection, counters and cache decisions. The
// version is in the name, so that an incompatible change is a new module
// (wasmhttpd_v2) that old guests never see.
const ExtModule = "wasmhttpd_v1"

// RouteKind says where a request goes after the policy chain.
type RouteKind uint8

// The routes a guest can choose. RouteDefault is the listener's own
// handler (its default root), used when no guest chose.
const (
	RouteDefault  RouteKind = iota
	RouteStatic             // a named document root
	RouteUpstream           // reverse-proxy to an upstream URL
	RouteForward            // forward-proxy to the request's own target
)

// String returns the kind's name as the ABI documentation spells it.
func (k RouteKind) String() string {
	switch k {
	case RouteStatic:
		return "static"
	case RouteUpstream:
		return "upstream"
	case RouteForward:
		return "forward"
	}
	return "default"
}

// Route is a guest's choice of handler.
type Route struct {
	Kind RouteKind
	// Target is the root's name (RouteStatic) or the upstream URL
	// (RouteUpstream); empty otherwise.
	Target string
	// Path, for RouteStatic, is the path under the root to serve instead
	// of the request's; empty means the request's own path.
	Path string
}

// Router serves the routes guests choose. A Chain whose next handler is a
// Router lets its guests route; Serve is the default route.
type Router interface {
	// CheckRoute reports why a route cannot be served (an unknown root, an
	// upstream URL that does not parse, no proxy configured). It runs
	// inside the guest's call, so a bad route traps that guest and the
	// failure is the policy's, logged with its name.
	CheckRoute(Route) error
	// ServeRoute answers ex by r, whose Kind is not RouteDefault.
	ServeRoute(ex *http1.Exchange, r Route)
	http1.Handler
}

// Limits on counters: a guest must not be able to grow the host's memory
// or the metrics without bound by inventing names.
const (
	maxCounters        = 64
	maxCounterNameSize = 64
)

// counters are a policy's named counters. They belong to the policy, not
// to a generation, so that a swap does not reset what the metrics show.
type counters struct {
	mu sync.RWMutex
	m  map[string]*atomic.Int64
}

// add adds delta to name, creating it within the bound; it reports false
// when the bound is reached.
func (c *counters) add(name []byte, delta int64) bool {
	c.mu.RLock()
	v := c.m[string(name)]
	c.mu.RUnlock()
	if v == nil {
		c.mu.Lock()
		if v = c.m[string(name)]; v == nil {
			if len(c.m) >= maxCounters {
				c.mu.Unlock()
				return false
			}
			if c.m == nil {
				c.m = make(map[string]*atomic.Int64)
			}
			v = new(atomic.Int64)
			c.m[string(name)] = v
		}
		c.mu.Unlock()
	}
	v.Add(delta)
	return true
}

// snapshot copies the counters.
func (c *counters) snapshot() map[string]int64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if len(c.m) == 0 {
		return nil
	}
	out := make(map[string]int64, len(c.m))
	for name, v := range c.m {
		out[name] = v.Load()
	}
	return out
}

// validCounterName allows what every metrics system accepts as a label
// value without escaping: lower-case letters, digits and underscores.
func validCounterName(b []byte) bool {
	if len(b) == 0 || len(b) > maxCounterNameSize {
		return false
	}
	for _, c := range b {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

func instantiateExtModule(ctx context.Context, rt wazero.Runtime) error {
	i32, i64 := api.ValueTypeI32, api.ValueTypeI64
	b := rt.NewHostModuleBuilder(ExtModule)
	fn := func(name string, f api.GoModuleFunc, params ...api.ValueType) {
		b.NewFunctionBuilder().WithGoModuleFunction(f, params, nil).Export(name)
	}
	fn("route_static", routeStatic, i32, i32, i32, i32)
	fn("route_upstream", routeUpstream, i32, i32)
	fn("route_forward", routeForward)
	fn("counter_add", counterAdd, i32, i32, i64)
	fn("cache_set_key", cacheSetKey, i32, i32)
	fn("cache_set_lifetime", cacheSetLifetime, i64, i64, i64)
	fn("cache_reusable", cacheReusable)
	_, err := b.Instantiate(ctx)
	return err
}

// route checks and records a guest's route: only in handle_request, only
// on a chain whose handler can route, and only a route it can serve.
func (in *instance) route(r Route, what string) {
	st := in.inRequest(what)
	if st.phase != phaseRequest || st.afterNext {
		in.trap("%s: routes are chosen in handle_request, before next", what)
	}
	if st.router == nil {
		in.trap("%s: this listener does not route", what)
	}
	if err := st.router.CheckRoute(r); err != nil {
		in.trap("%s: %v", what, err)
	}
	st.route = r
}

// route_static(root, root_len, path, path_len i32): serve from the named
// root; the path under it, when given, replaces the request's.
func routeStatic(ctx context.Context, mod api.Module, stack []uint64) {
	in := instanceOf(ctx)
	root := in.read(mod, uint32(stack[0]), uint32(stack[1]), "root name")
	path := in.read(mod, uint32(stack[2]), uint32(stack[3]), "path")
	if len(path) > in.gen.p.maxHeader {
		in.trap("route_static: a path of %d bytes is too long", len(path))
	}
	in.route(Route{Kind: RouteStatic, Target: string(root), Path: string(path)}, "route_static")
}

// route_upstream(url, url_len i32): reverse-proxy to url.
func routeUpstream(ctx context.Context, mod api.Module, stack []uint64) {
	in := instanceOf(ctx)
	u := in.read(mod, uint32(stack[0]), uint32(stack[1]), "upstream url")
	if len(u) > in.gen.p.maxHeader {
		in.trap("route_upstream: a URL of %d bytes is too long", len(u))
	}
	in.route(Route{Kind: RouteUpstream, Target: string(u)}, "route_upstream")
}

// route_forward(): forward-proxy to the request's own target.
func routeForward(ctx context.Context, _ api.Module, _ []uint64) {
	instanceOf(ctx).route(Route{Kind: RouteForward}, "route_forward")
}

// counter_add(name, name_len i32, delta i64): allowed in any call,
// _initialize included.
func counterAdd(ctx context.Context, mod api.Module, stack []uint64) {
	in := instanceOf(ctx)
	name := in.read(mod, uint32(stack[0]), uint32(stack[1]), "counter name")
	if !validCounterName(name) {
		in.trap("counter_add: %q is not a counter name ([a-z0-9_], 1 to %d bytes)", name, maxCounterNameSize)
	}
	if !in.gen.p.counters.add(name, int64(stack[2])) {
		in.trap("counter_add: more than %d counters", maxCounters)
	}
	in.st.trace.add(effectCounterAdd, 0, name, nil, int64(stack[2]))
}

// cache_set_key(key, key_len i32): the primary cache key, in cache_request
// only.
func cacheSetKey(ctx context.Context, mod api.Module, stack []uint64) {
	in := instanceOf(ctx)
	st := in.inRequest("cache_set_key")
	if st.phase != phaseCacheRequest {
		in.trap("cache_set_key: allowed in cache_request only")
	}
	key := in.read(mod, uint32(stack[0]), uint32(stack[1]), "cache key")
	if len(key) == 0 || len(key) > in.gen.p.maxHeader {
		in.trap("cache_set_key: a key must be 1 to %d bytes, not %d", in.gen.p.maxHeader, len(key))
	}
	st.cache.key = string(key)
	st.trace.add(effectSetKey, 0, nil, key, 0)
}

// cache_reusable(): in cache_request and cache_lookup, the guest's promise
// that the call's result and effects follow from what it read through the
// host and from the call's arguments alone, so that the host may answer
// later calls that would read the same without calling it (memo.go).
func cacheReusable(ctx context.Context, _ api.Module, _ []uint64) {
	in := instanceOf(ctx)
	st := in.inRequest("cache_reusable")
	if st.phase != phaseCacheRequest && st.phase != phaseCacheLookup {
		in.trap("cache_reusable: allowed in cache_request and cache_lookup only")
	}
	st.trace.reusable = true
}

// cache_set_lifetime(fresh, stale_while_revalidate, stale_if_error i64):
// seconds, in cache_store only.
func cacheSetLifetime(ctx context.Context, _ api.Module, stack []uint64) {
	in := instanceOf(ctx)
	st := in.inRequest("cache_set_lifetime")
	if st.phase != phaseCacheStore {
		in.trap("cache_set_lifetime: allowed in cache_store only")
	}
	for i, what := range [...]string{"freshness lifetime", "stale-while-revalidate", "stale-if-error"} {
		if s := int64(stack[i]); s < 0 || s > maxLifetimeSeconds {
			in.trap("cache_set_lifetime: %s of %d s is outside 0..%d", what, s, maxLifetimeSeconds)
		}
	}
	st.cache.lifetime = Lifetime{
		Fresh:                seconds(stack[0]),
		StaleWhileRevalidate: seconds(stack[1]),
		StaleIfError:         seconds(stack[2]),
	}
}
