// Package site turns a configuration into the handler a listener serves:
// every named document root, the policy chain, and the router that sends
// each request where the chain chose. A reload builds a new Site beside
// the running one, and Live hands requests over between two of them
// without dropping any.
package site

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"sync"
	"sync/atomic"

	"wasmhttpd/host/config"
	"wasmhttpd/host/http1"
	"wasmhttpd/host/policy"
)

// Site is everything a configuration builds to answer requests: the
// document roots, the router over them and the policy chain in front.
// SIGHUP builds a new one beside it; the old one closes when its last
// request ends.
type Site struct {
	handler  http1.Handler
	routes   *router
	engine   *policy.Engine
	policies []*policy.Policy
	stop     context.CancelFunc // ends the module watchers

	refs      atomic.Int64 // requests in flight, plus one while current
	closeOnce sync.Once
	closed    atomic.Bool
}

// Build opens every root and loads the origin's policy chain, each
// policy's module watched for swaps.
func Build(cfg *config.Config, logger *slog.Logger) (*Site, error) {
	ctx, stop := context.WithCancel(context.Background())
	s := &Site{stop: stop}
	s.refs.Store(1)
	routes, err := newRouter(cfg)
	if err != nil {
		s.close()
		return nil, err
	}
	s.routes, s.handler = routes, routes
	if err := s.loadPolicies(ctx, cfg, logger); err != nil {
		s.close()
		return nil, err
	}
	if len(s.policies) > 0 {
		s.handler = policy.NewChain(s.policies, routes)
	}
	return s, nil
}

func (s *Site) loadPolicies(ctx context.Context, cfg *config.Config, logger *slog.Logger) error {
	if len(cfg.Origin.Policies) == 0 {
		return nil
	}
	engine, err := policy.NewEngine(ctx, policy.EngineOptions{
		CacheDir:         cfg.Wasm.CacheDir,
		MemoryLimitPages: uint32(cfg.Wasm.MemoryLimit / (64 * config.KiB)),
		Logger:           logger,
	})
	if err != nil {
		return fmt.Errorf("wasm: %w", err)
	}
	s.engine = engine
	for _, name := range cfg.Origin.Policies {
		pc := cfg.Policies[name]
		guestConfig := []byte("{}")
		if pc.Config != nil {
			if guestConfig, err = json.Marshal(pc.Config); err != nil {
				return fmt.Errorf("policies.%s.config: %w", name, err)
			}
		}
		p, err := engine.Load(ctx, policy.Options{
			Name:        name,
			Path:        pc.Wasm,
			Config:      guestConfig,
			OnError:     policy.FailMode(pc.OnError),
			PoolSize:    pc.PoolSize,
			CallTimeout: cfg.Wasm.CallTimeout.Duration,
			Logger:      logger,
		})
		if err != nil {
			return fmt.Errorf("policies.%s: %w", name, err)
		}
		s.policies = append(s.policies, p)
		go p.Watch(ctx, 0)
	}
	return nil
}

func (s *Site) release() {
	if s.refs.Add(-1) == 0 {
		s.close()
	}
}

func (s *Site) close() {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.stop()
		for _, p := range s.policies {
			p.Close()
		}
		if s.engine != nil {
			s.engine.Close(context.Background())
		}
		if s.routes != nil {
			s.routes.close()
		}
	})
}

// Live is the handler the server holds: it passes each exchange to the
// current site, and can change sites between two requests.
type Live struct {
	cur atomic.Pointer[Site]
}

// NewLive returns a Live serving s.
func NewLive(s *Site) *Live {
	l := &Live{}
	l.cur.Store(s)
	return l
}

// Serve implements http1.Handler.
func (l *Live) Serve(ex *http1.Exchange) {
	s := l.acquire()
	defer s.release()
	s.handler.Serve(ex)
}

// acquire takes a reference on the current site. A site replaced between
// the load and the increment may already be closing, so the reference is
// kept only if the site is still current afterwards.
func (l *Live) acquire() *Site {
	for {
		s := l.cur.Load()
		s.refs.Add(1)
		if l.cur.Load() == s {
			return s
		}
		s.release()
	}
}

// Swap makes next current; the old site closes after its last request.
func (l *Live) Swap(next *Site) {
	l.cur.Swap(next).release()
}

// Close retires the current site.
func (l *Live) Close() { l.cur.Load().release() }

// RestartOnly names the settings a reload cannot apply to a running
// server: they shape its listener and connections.
func RestartOnly(old, next *config.Config) []string {
	var keys []string
	for _, c := range []struct {
		key       string
		old, next any
	}{
		{"origin.listen", old.Origin.Listen, next.Origin.Listen},
		{"limits", old.Limits, next.Limits},
		{"timeouts", old.Timeouts, next.Timeouts},
		{"log", old.Log, next.Log},
	} {
		if !reflect.DeepEqual(c.old, c.next) {
			keys = append(keys, c.key)
		}
	}
	return keys
}
