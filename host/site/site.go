// Package site turns a configuration into the handlers the listeners
// serve: every named document root, the proxy and its cache, the policy
// chains, and the router that sends each request where a chain chose. A
// reload builds a new Site beside the running one, and Live hands
// requests over between two of them without dropping any.
package site

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"wasmhttpd/host/cache"
	"wasmhttpd/host/caching"
	"wasmhttpd/host/config"
	"wasmhttpd/host/http1"
	"wasmhttpd/host/policy"
	"wasmhttpd/host/proxy"
)

// Env is what a Site takes from the process: what outlives a reload.
type Env struct {
	Logger *slog.Logger
	// Store is the proxy's disk cache, opened once per process (it locks
	// its directory); nil runs the proxy without a cache.
	Store *cache.Store
	// Notify hears of the policies' loads, rejected modules and failures.
	Notify func(policy.Event)
	// ProxyAddrs are the forward proxy listener's addresses: a request
	// forwarded there would come straight back, so the proxy refuses it.
	// (The origin listener is a fine upstream: it does not forward.)
	ProxyAddrs []string
}

// Site is everything a configuration builds to answer requests.
type Site struct {
	origin  http1.Handler // the origin listener's: its chain, then its router
	forward http1.Handler // the forward proxy listener's, likewise

	targets  *targets
	proxy    *proxy.Proxy
	caching  *caching.Cache
	engine   *policy.Engine
	policies []*policy.Policy // every policy loaded, for closing
	loaded   map[string]*policy.Policy
	notify   func(policy.Event)
	stop     context.CancelFunc // ends the module watchers

	refs      atomic.Int64 // requests in flight, plus one while current
	closeOnce sync.Once
	closed    atomic.Bool
}

// Build opens every root, makes the proxy (with its cache when env has a
// store and the configuration names a cache policy) and loads the
// policies, each module watched for swaps.
func Build(cfg *config.Config, env Env) (*Site, error) {
	if env.Logger == nil {
		env.Logger = slog.Default()
	}
	ctx, stop := context.WithCancel(context.Background())
	s := &Site{stop: stop, loaded: map[string]*policy.Policy{}, notify: env.Notify}
	s.refs.Store(1)
	if err := s.build(ctx, cfg, env); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

func (s *Site) build(ctx context.Context, cfg *config.Config, env Env) error {
	s.proxy = proxy.New(proxyConfig(cfg.Proxy, env))
	var err error
	if s.targets, err = newTargets(cfg, s.proxy); err != nil {
		return err
	}
	if cfg.Cache.Policy != "" {
		decider, err := s.load(ctx, cfg, env.Logger, cfg.Cache.Policy)
		if err != nil {
			return err
		}
		if env.Store != nil {
			s.caching = caching.New(caching.Config{Store: env.Store, Proxy: s.proxy, Decider: decider, Logger: env.Logger})
			s.targets.caching = s.caching
		}
	}
	if s.origin, err = s.chain(ctx, cfg, env.Logger, cfg.Origin.Policies, s.targets.root(cfg.Origin.Root)); err != nil {
		return err
	}
	s.forward, err = s.chain(ctx, cfg, env.Logger, cfg.Proxy.Policies, http1.HandlerFunc(s.targets.forward))
	return err
}

// proxyConfig maps the [proxy] table onto the proxy's configuration.
func proxyConfig(c config.Proxy, env Env) proxy.Config {
	return proxy.Config{
		Name:                  c.Name,
		ConnectTimeout:        c.ConnectTimeout.Duration,
		ResponseHeaderTimeout: c.ResponseHeaderTimeout.Duration,
		ReadTimeout:           c.ReadTimeout.Duration,
		IdleTimeout:           c.IdleTimeout.Duration,
		TunnelIdleTimeout:     c.TunnelIdleTimeout.Duration,
		MaxIdlePerHost:        c.MaxIdlePerHost,
		MaxConnsPerHost:       c.MaxConnsPerHost,
		ConnectPorts:          c.ConnectPorts,
		XForwardedFor:         c.XForwardedFor,
		SelfAddrs:             env.ProxyAddrs,
		Logger:                env.Logger,
	}
}

// chain puts the named policies in front of def, through a router so
// that their guests can choose other routes.
func (s *Site) chain(ctx context.Context, cfg *config.Config, logger *slog.Logger, names []string, def http1.Handler) (http1.Handler, error) {
	r := &router{targets: s.targets, def: def}
	if len(names) == 0 {
		return r, nil
	}
	ps := make([]*policy.Policy, 0, len(names))
	for _, name := range names {
		p, err := s.load(ctx, cfg, logger, name)
		if err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	return policy.NewChain(ps, r), nil
}

// load loads policies.NAME once per site, watched for swaps. The cache's
// decider must carry the cache hooks, wherever else it also runs: one
// module, one pool, one set of counters.
func (s *Site) load(ctx context.Context, cfg *config.Config, logger *slog.Logger, name string) (*policy.Policy, error) {
	if p := s.loaded[name]; p != nil {
		return p, nil
	}
	if s.engine == nil {
		engine, err := policy.NewEngine(ctx, policy.EngineOptions{
			CacheDir:         cfg.Wasm.CacheDir,
			MemoryLimitPages: uint32(cfg.Wasm.MemoryLimit / (64 * config.KiB)),
			Logger:           logger,
		})
		if err != nil {
			return nil, fmt.Errorf("wasm: %w", err)
		}
		s.engine = engine
	}
	pc := cfg.Policies[name]
	guestConfig := []byte("{}")
	if pc.Config != nil {
		var err error
		if guestConfig, err = json.Marshal(pc.Config); err != nil {
			return nil, fmt.Errorf("policies.%s.config: %w", name, err)
		}
	}
	p, err := s.engine.Load(ctx, policy.Options{
		Notify:      s.notify,
		Name:        name,
		Path:        pc.Wasm,
		Config:      guestConfig,
		OnError:     policy.FailMode(pc.OnError),
		PoolSize:    pc.PoolSize,
		CallTimeout: cfg.Wasm.CallTimeout.Duration,
		CacheHooks:  name == cfg.Cache.Policy,
		Logger:      logger,
	})
	if err != nil {
		return nil, fmt.Errorf("policies.%s: %w", name, err)
	}
	s.loaded[name] = p
	s.policies = append(s.policies, p)
	go p.Watch(ctx, 0)
	return p, nil
}

// release drops a reference. The last one closes the site in the
// background: it is usually a request's, whose client must not wait for
// background revalidations to end and policies to close.
func (s *Site) release() {
	if s.refs.Add(-1) == 0 {
		go s.close()
	}
}

func (s *Site) close() {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.stop()
		if s.caching != nil {
			s.caching.Close()
		}
		for _, p := range s.policies {
			p.Close()
		}
		if s.engine != nil {
			s.engine.Close(context.Background())
		}
		if s.targets != nil {
			s.targets.close()
		}
		if s.proxy != nil {
			s.proxy.Close()
		}
	})
}
