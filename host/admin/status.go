package admin

import (
	"maps"
	"slices"
	"sync"
	"time"

	"wasmhttpd/host/server"
)

// Status is what /status shows and /status.json returns.
type Status struct {
	Time              time.Time        `json:"time"`
	Started           time.Time        `json:"started"`
	UptimeSeconds     float64          `json:"uptime_seconds"`
	Ready             bool             `json:"ready"`
	Requests          uint64           `json:"requests"`            // answered since start, all listeners
	RequestsPerSecond float64          `json:"requests_per_second"` // see rateMeter
	Active            int64            `json:"active_connections"`  // all listeners
	Idle              int64            `json:"idle_connections"`    // all listeners
	Listeners         []ListenerStatus `json:"listeners"`           // by name
	Cache             *CacheStatus     `json:"cache,omitempty"`     // nil without a cache
	Upstream          *UpstreamStatus  `json:"upstream,omitempty"`  // nil while not counted
	Policies          []PolicyStatus   `json:"policies"`
	Events            []Event          `json:"events"` // newest first
}

// ListenerStatus is one listener's connections and requests.
type ListenerStatus struct {
	Name      string `json:"name"`
	Active    int64  `json:"active"`
	Idle      int64  `json:"idle"`
	Rejecting int64  `json:"rejecting"`
	Requests  uint64 `json:"requests"`
}

// CacheStatus is the cache at a glance.
type CacheStatus struct {
	Hits          int64   `json:"hits"`
	Misses        int64   `json:"misses"`
	HitRatio      float64 `json:"hit_ratio"` // hits / (hits + misses), 0 before any
	StaleServed   int64   `json:"stale_served"`
	Revalidations int64   `json:"revalidations"`
	Entries       int     `json:"entries"`
	Bytes         int64   `json:"bytes"`
	Evictions     int64   `json:"evictions"`
}

// UpstreamStatus is the proxy's upstream failures.
type UpstreamStatus struct {
	Errors   int64 `json:"errors"`   // fetches that failed, timeouts included
	Timeouts int64 `json:"timeouts"` // of those, the ones that timed out
}

// PolicyStatus is one policy's module and counters.
type PolicyStatus struct {
	Name        string           `json:"name"`
	Generation  uint64           `json:"generation"`
	ModuleHash  string           `json:"module_hash"`
	LoadSeconds float64          `json:"load_seconds"`
	Calls       uint64           `json:"calls"`
	Errors      uint64           `json:"errors"`
	Timeouts    uint64           `json:"timeouts"`
	Reused      uint64           `json:"reused_decisions"`
	Swaps       uint64           `json:"swaps"`
	Rejected    uint64           `json:"rejected"`
	Instances   int64            `json:"instances"`
	Counters    map[string]int64 `json:"counters,omitempty"`
}

// Status gathers the state of the server now. ready is reported as
// given; events may be nil.
func (m *Metrics) Status(ready bool, events *Events) Status {
	now := time.Now()
	total, byListener := m.requestCounts()
	st := Status{
		Time: now, Started: m.start, UptimeSeconds: now.Sub(m.start).Seconds(), Ready: ready,
		Requests: total, RequestsPerSecond: m.rate.rate(now, total, m.start),
		Listeners: []ListenerStatus{}, Policies: []PolicyStatus{}, Events: events.Recent(),
	}
	if st.Events == nil {
		st.Events = []Event{}
	}
	var servers map[string]server.Stats
	if m.src.Servers != nil {
		servers = m.src.Servers()
	}
	names := slices.Collect(maps.Keys(servers))
	for name := range byListener {
		if _, ok := servers[name]; !ok {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		s := servers[name]
		l := ListenerStatus{Name: name, Active: s.Open - s.Idle, Idle: s.Idle, Rejecting: s.Rejecting, Requests: byListener[name]}
		st.Active += l.Active
		st.Idle += l.Idle
		st.Listeners = append(st.Listeners, l)
	}
	if m.src.Cache != nil {
		if s, ok := m.src.Cache(); ok {
			c := &CacheStatus{
				Hits: s.Hits, Misses: s.Misses, StaleServed: s.StaleServed, Revalidations: s.Revalidations,
				Entries: s.Store.Entries, Bytes: s.Store.Bytes, Evictions: s.Store.Evictions,
			}
			if looked := s.Hits + s.Misses; looked > 0 {
				c.HitRatio = float64(s.Hits) / float64(looked)
			}
			st.Cache = c
		}
	}
	if m.src.Upstream != nil {
		u := m.src.Upstream()
		st.Upstream = &UpstreamStatus{Errors: u.Errors, Timeouts: u.Timeouts}
	}
	if m.src.Policies != nil {
		for _, p := range m.src.Policies() {
			st.Policies = append(st.Policies, PolicyStatus{
				Name: p.Name, Generation: p.Generation, ModuleHash: p.ModuleHash, LoadSeconds: p.LoadTime.Seconds(),
				Calls: p.Calls, Errors: p.Errors, Timeouts: p.Timeouts, Reused: p.Reused, Swaps: p.Swaps, Rejected: p.Rejected,
				Instances: p.Instances, Counters: p.Counters,
			})
		}
	}
	return st
}

// Requests per second are measured over the last minute from samples of
// the request count that the status page itself takes, at most one a
// second, rather than by a ticking goroutine: an admin surface nobody
// looks at then costs nothing, and there is nothing to stop. The rate is
// the increase since the oldest sample at most rateWindow old; when every
// sample is older (nobody looked for a while) it is the average since the
// newest of them, and before the first sample the average since start.
const (
	rateWindow  = time.Minute
	rateEvery   = time.Second
	rateSamples = 64 // > rateWindow/rateEvery, so a page viewed every second keeps a full window
)

type rateSample struct {
	t     time.Time
	count uint64
}

// rateMeter is a ring of request-count samples, oldest at next when full.
type rateMeter struct {
	mu      sync.Mutex
	samples [rateSamples]rateSample
	n, next int
}

// rate returns the requests per second up to now, when count requests
// had been answered, and records the sample.
func (r *rateMeter) rate(now time.Time, count uint64, start time.Time) float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	base := rateSample{t: start}
	for i := range r.n {
		s := r.samples[(r.next-r.n+i+rateSamples)%rateSamples]
		base = s
		if now.Sub(s.t) <= rateWindow {
			break
		}
	}
	if r.n == 0 || now.Sub(r.samples[(r.next-1+rateSamples)%rateSamples].t) >= rateEvery {
		r.samples[r.next] = rateSample{t: now, count: count}
		r.next = (r.next + 1) % rateSamples
		r.n = min(r.n+1, rateSamples)
	}
	elapsed := now.Sub(base.t).Seconds()
	// Two concurrent views may record their counts out of order.
	if elapsed <= 0 || count < base.count {
		return 0
	}
	return float64(count-base.count) / elapsed
}
