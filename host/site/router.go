package site

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"wasmhttpd/host/caching"
	"wasmhttpd/host/config"
	"wasmhttpd/host/http1"
	"wasmhttpd/host/policy"
	"wasmhttpd/host/proxy"
	"wasmhttpd/host/static"
)

// targets are what routes lead to, shared by every listener of a site:
// the named roots, and the proxy (through its cache when there is one).
type targets struct {
	roots   map[string]*static.Handler
	proxy   *proxy.Proxy
	caching *caching.Cache // nil without a cache

	keepHost, xForwarded bool         // reverse-route options, from [proxy]
	upstreams            sync.Map     // URL → *proxy.Upstream, parsed once
	parsedUpstreams      atomic.Int64 // entries of upstreams, at most maxParsedUpstreams
}

// newTargets opens every root of cfg.
func newTargets(cfg *config.Config, px *proxy.Proxy) (*targets, error) {
	t := &targets{roots: make(map[string]*static.Handler, len(cfg.Roots)), proxy: px,
		keepHost: cfg.Proxy.PreserveHost, xForwarded: cfg.Proxy.XForwarded}
	for name, root := range cfg.Roots {
		h, err := static.New(static.Config{
			Root:            root.Path,
			Index:           root.Index,
			Listing:         root.Listing,
			Writes:          root.Writes,
			Compress:        root.Compress,
			CompressMinSize: int64(root.CompressMinSize),
			CompressTypes:   root.CompressTypes,
			Precompressed:   root.Precompressed,
			MaxBody:         int64(cfg.Limits.MaxBody),
		})
		if err != nil {
			t.close()
			return nil, fmt.Errorf("roots.%s: %w", name, err)
		}
		t.roots[name] = h
	}
	return t, nil
}

func (t *targets) close() {
	for _, h := range t.roots {
		h.Close()
	}
}

// root returns the named root, which the configuration guarantees.
func (t *targets) root(name string) http1.Handler { return t.roots[name] }

// maxParsedUpstreams bounds the parsed upstream URLs kept: a guest that
// builds URLs from its requests would otherwise grow the map for good;
// past the bound, such URLs are parsed on every request, which is cheap.
const maxParsedUpstreams = 1024

// upstream parses a route's upstream URL, once for the first
// maxParsedUpstreams URLs.
func (t *targets) upstream(raw string) (*proxy.Upstream, error) {
	if up, ok := t.upstreams.Load(raw); ok {
		return up.(*proxy.Upstream), nil
	}
	up, err := proxy.ParseUpstream(raw)
	if err != nil {
		return nil, err
	}
	up.KeepHost, up.XForwarded = t.keepHost, t.xForwarded
	if t.parsedUpstreams.Load() < maxParsedUpstreams {
		if kept, loaded := t.upstreams.LoadOrStore(raw, up); loaded {
			return kept.(*proxy.Upstream), nil
		}
		t.parsedUpstreams.Add(1)
	}
	return up, nil
}

// reverse sends ex to up, through the cache when there is one.
func (t *targets) reverse(ex *http1.Exchange, up *proxy.Upstream) {
	if t.caching != nil {
		t.caching.ServeUpstream(ex, up)
		return
	}
	t.proxy.ServeUpstream(ex, up)
}

// forward sends ex on to its own target: an absolute-form request (or
// CONNECT) as a forward proxy does, an origin-form one to the server its
// Host names.
func (t *targets) forward(ex *http1.Exchange) {
	if ex.Request.Form == http1.OriginForm {
		// Parsed afresh, not kept: the Host comes from the client, and a
		// cache of every value a client sends would grow without bound.
		up, err := proxy.ParseUpstream("http://" + string(ex.Request.Host))
		if err != nil {
			ex.Response.Error(400, "cannot forward: "+err.Error())
			return
		}
		up.KeepHost, up.XForwarded = true, t.xForwarded
		t.reverse(ex, up)
		return
	}
	if t.caching != nil {
		t.caching.ServeForward(ex)
		return
	}
	t.proxy.Serve(ex)
}

// router serves the routes guests choose (policy.Router), and def when
// they choose none.
type router struct {
	*targets
	def http1.Handler
}

// Serve implements http1.Handler: the default route.
func (r *router) Serve(ex *http1.Exchange) { r.def.Serve(ex) }

// CheckRoute implements policy.Router.
func (r *router) CheckRoute(rt policy.Route) error {
	switch rt.Kind {
	case policy.RouteStatic:
		if _, ok := r.roots[rt.Target]; !ok {
			names := slices.Sorted(maps.Keys(r.roots))
			return fmt.Errorf("no root named %q (the roots are %s)", rt.Target, strings.Join(names, ", "))
		}
		if rt.Path != "" && rt.Path[0] != '/' {
			return fmt.Errorf("path %q under root %s does not start with /", rt.Path, rt.Target)
		}
		return nil
	case policy.RouteUpstream:
		_, err := r.upstream(rt.Target)
		return err
	case policy.RouteForward:
		return nil
	}
	return fmt.Errorf("unknown route kind %d", rt.Kind)
}

// ServeRoute implements policy.Router for routes CheckRoute accepted.
func (r *router) ServeRoute(ex *http1.Exchange, rt policy.Route) {
	switch rt.Kind {
	case policy.RouteStatic:
		h := r.roots[rt.Target]
		if rt.Path == "" {
			h.Serve(ex)
			return
		}
		h.ServePath(ex, []byte(rt.Path))
	case policy.RouteUpstream:
		up, _ := r.upstream(rt.Target)
		r.reverse(ex, up)
	case policy.RouteForward:
		r.forward(ex)
	}
}
