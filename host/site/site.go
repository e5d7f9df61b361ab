package main

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
	"wasmhttpd/host/static"
)

// site is everything a configuration builds to answer requests: the
// document root and the policy chain in front of it. SIGHUP builds a new
// one beside it; the old one closes when its last request ends.
type site struct {
	handler  http1.Handler
	root     *static.Handler
	engine   *policy.Engine
	policies []*policy.Policy
	stop     context.CancelFunc // ends the module watchers

	refs      atomic.Int64 // requests in flight, plus one while current
	closeOnce sync.Once
	closed    atomic.Bool
}

// buildSite opens the origin's root and loads its policy chain, each
// policy's module watched for swaps.
func buildSite(cfg *config.Config, logger *slog.Logger) (*site, error) {
	root := cfg.Roots[cfg.Origin.Root]
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
		return nil, fmt.Errorf("roots.%s: %w", root.Name, err)
	}
	ctx, stop := context.WithCancel(context.Background())
	s := &site{handler: h, root: h, stop: stop}
	s.refs.Store(1)
	if err := s.loadPolicies(ctx, cfg, logger); err != nil {
		s.close()
		return nil, err
	}
	if len(s.policies) > 0 {
		s.handler = policy.NewChain(s.policies, h)
	}
	return s, nil
}

func (s *site) loadPolicies(ctx context.Context, cfg *config.Config, logger *slog.Logger) error {
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

func (s *site) release() {
	if s.refs.Add(-1) == 0 {
		s.close()
	}
}

func (s *site) close() {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.stop()
		for _, p := range s.policies {
			p.Close()
		}
		if s.engine != nil {
			s.engine.Close(context.Background())
		}
		s.root.Close()
	})
}

// liveSite is the handler the server holds: it passes each exchange to
// the current site, and can change sites between two requests.
type liveSite struct {
	cur atomic.Pointer[site]
}

func newLiveSite(s *site) *liveSite {
	l := &liveSite{}
	l.cur.Store(s)
	return l
}

// Serve implements http1.Handler.
func (l *liveSite) Serve(ex *http1.Exchange) {
	s := l.acquire()
	defer s.release()
	s.handler.Serve(ex)
}

// acquire takes a reference on the current site. A site replaced between
// the load and the increment may already be closing, so the reference is
// kept only if the site is still current afterwards.
func (l *liveSite) acquire() *site {
	for {
		s := l.cur.Load()
		s.refs.Add(1)
		if l.cur.Load() == s {
			return s
		}
		s.release()
	}
}

// swap makes next current; the old site closes after its last request.
func (l *liveSite) swap(next *site) {
	l.cur.Swap(next).release()
}

// close retires the current site.
func (l *liveSite) close() { l.cur.Load().release() }

// restartOnly names the settings a reload cannot apply to a running
// server: they shape its listener and connections.
func restartOnly(old, next *config.Config) []string {
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
