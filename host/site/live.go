package site

import (
	"reflect"
	"sync/atomic"

	"wasmhttpd/host/caching"
	"wasmhttpd/host/config"
	"wasmhttpd/host/http1"
	"wasmhttpd/host/policy"
	"wasmhttpd/host/proxy"
)

// Live is what the listeners hold: it passes each exchange to the
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

// Origin is the origin listener's handler.
func (l *Live) Origin() http1.Handler {
	return http1.HandlerFunc(func(ex *http1.Exchange) { l.serve(ex, func(s *Site) http1.Handler { return s.origin }) })
}

// Forward is the forward proxy listener's handler.
func (l *Live) Forward() http1.Handler {
	return http1.HandlerFunc(func(ex *http1.Exchange) { l.serve(ex, func(s *Site) http1.Handler { return s.forward }) })
}

func (l *Live) serve(ex *http1.Exchange, handler func(*Site) http1.Handler) {
	s := l.acquire()
	defer s.release()
	handler(s).Serve(ex)
}

// Cache returns the current site's cache statistics; ok is false when it
// runs no cache.
func (l *Live) Cache() (_ caching.Stats, ok bool) {
	s := l.acquire()
	defer s.release()
	if s.caching == nil {
		return caching.Stats{}, false
	}
	return s.caching.Stats(), true
}

// Upstream returns the current site's proxy failure counters.
func (l *Live) Upstream() proxy.Stats {
	s := l.acquire()
	defer s.release()
	return s.proxy.Stats()
}

// Policies returns the statistics of every policy the current site runs.
func (l *Live) Policies() []policy.Stats {
	s := l.acquire()
	defer s.release()
	stats := make([]policy.Stats, 0, len(s.policies))
	for _, p := range s.policies {
		stats = append(stats, p.Stats())
	}
	return stats
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

// Close retires the current site, closing it before it returns when no
// request holds it (the listeners have drained), so that the caller can
// close what the site uses, the cache's store, afterwards.
func (l *Live) Close() {
	if s := l.cur.Load(); s.refs.Add(-1) == 0 {
		s.close()
	}
}

// RestartOnly names the settings a reload cannot apply to a running
// server: they shape its listeners, its connections and the cache's store.
func RestartOnly(old, next *config.Config) []string {
	// Which policy decides can change; whether there is a store, and
	// its limits, cannot.
	storeOf := func(c config.Cache) config.Cache {
		if c.Policy != "" {
			c.Policy = "on"
		}
		return c
	}
	var keys []string
	for _, c := range []struct {
		key       string
		old, next any
	}{
		{"origin.listen", old.Origin.Listen, next.Origin.Listen},
		{"proxy.listen", old.Proxy.Listen, next.Proxy.Listen},
		{"admin.listen", old.Admin.Listen, next.Admin.Listen},
		{"cache", storeOf(old.Cache), storeOf(next.Cache)},
		{"limits", old.Limits, next.Limits},
		{"timeouts", old.Timeouts, next.Timeouts},
		{"log", old.Log, next.Log},
		{"ping", old.Ping, next.Ping},
		{"mail", old.Mail, next.Mail},
	} {
		if !reflect.DeepEqual(c.old, c.next) {
			keys = append(keys, c.key)
		}
	}
	return keys
}
