package site

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"wasmhttpd/host/config"
	"wasmhttpd/host/http1"
	"wasmhttpd/host/policy"
	"wasmhttpd/host/static"
)

// router serves the routes policies choose (policy.Router): every named
// root of the configuration, with the origin's own root as the default.
type router struct {
	roots map[string]*static.Handler
	def   *static.Handler
}

// newRouter opens every root of cfg.
func newRouter(cfg *config.Config) (*router, error) {
	r := &router{roots: make(map[string]*static.Handler, len(cfg.Roots))}
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
			r.close()
			return nil, fmt.Errorf("roots.%s: %w", name, err)
		}
		r.roots[name] = h
	}
	r.def = r.roots[cfg.Origin.Root]
	return r, nil
}

func (r *router) close() {
	for _, h := range r.roots {
		h.Close()
	}
}

// Serve implements http1.Handler: the default route.
func (r *router) Serve(ex *http1.Exchange) { r.def.Serve(ex) }

// errNoProxy refuses proxy routes until a proxy is configured.
var errNoProxy = errors.New("no proxy is configured for this listener")

// CheckRoute implements policy.Router.
func (r *router) CheckRoute(rt policy.Route) error {
	switch rt.Kind {
	case policy.RouteStatic:
		if _, ok := r.roots[rt.Target]; !ok {
			names := make([]string, 0, len(r.roots))
			for name := range r.roots {
				names = append(names, name)
			}
			slices.Sort(names)
			return fmt.Errorf("no root named %q (the roots are %s)", rt.Target, strings.Join(names, ", "))
		}
		if rt.Path != "" && rt.Path[0] != '/' {
			return fmt.Errorf("path %q under root %s does not start with /", rt.Path, rt.Target)
		}
		return nil
	case policy.RouteUpstream, policy.RouteForward:
		return errNoProxy
	}
	return fmt.Errorf("unknown route kind %d", rt.Kind)
}

// ServeRoute implements policy.Router for routes CheckRoute accepted.
func (r *router) ServeRoute(ex *http1.Exchange, rt policy.Route) {
	h := r.roots[rt.Target]
	if rt.Path == "" {
		h.Serve(ex)
		return
	}
	h.ServePath(ex, []byte(rt.Path))
}
