package admin

import (
	"maps"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"wasmhttpd/host/caching"
	"wasmhttpd/host/policy"
	"wasmhttpd/host/proxy"
	"wasmhttpd/host/server"
)

// Sources are snapshot functions that /metrics and the status page call
// when they are read, never on the request path. A nil field leaves its
// part out. They must be safe to call from any goroutine.
type Sources struct {
	// Servers returns each listener's connection counters by listener
	// name.
	Servers func() map[string]server.Stats
	// Cache returns the cache's counters, and false while no cache is
	// configured.
	Cache func() (caching.Stats, bool)
	// Policies returns every loaded policy's counters.
	Policies func() []policy.Stats
	// Upstream returns the proxy's upstream failure counters.
	Upstream func() proxy.Stats
}

// sourceCollector turns Sources into metrics at scrape time. It calls
// each source once per scrape, so that a policy's counters all come from
// one snapshot and a scrape costs one Stats call per part.
type sourceCollector struct {
	src   Sources
	start time.Time
}

func newDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

// metricDef is one metric read from a snapshot of type S.
type metricDef[S any] struct {
	desc *prometheus.Desc
	typ  prometheus.ValueType
	get  func(*S) float64
}

var (
	startDesc     = newDesc("wasmhttpd_start_time_seconds", "When the server started, in seconds since the epoch.")
	connsDesc     = newDesc("wasmhttpd_connections", "Open connections by listener and state: active (serving a request) or idle (waiting for one).", "listener", "state")
	rejectingDesc = newDesc("wasmhttpd_connections_rejecting", "Connections being refused with 503 because the listener is full, by listener.", "listener")
	policyInfo    = newDesc("wasmhttpd_policy_info", "The module a policy runs, always 1.", "policy", "module_hash")
	policyCounter = newDesc("wasmhttpd_policy_counter", "A policy's own counter, from counter_add.", "policy", "name")
)

var cacheDefs = []metricDef[caching.Stats]{
	{newDesc("wasmhttpd_cache_hits_total", "Requests answered from the cache, fresh or allowed stale."), prometheus.CounterValue, func(s *caching.Stats) float64 { return float64(s.Hits) }},
	{newDesc("wasmhttpd_cache_misses_total", "Requests fetched from upstream, whether stored or not."), prometheus.CounterValue, func(s *caching.Stats) float64 { return float64(s.Misses) }},
	{newDesc("wasmhttpd_cache_stale_served_total", "Stale responses served (stale-while-revalidate, stale-if-error, max-stale)."), prometheus.CounterValue, func(s *caching.Stats) float64 { return float64(s.StaleServed) }},
	{newDesc("wasmhttpd_cache_revalidations_total", "Conditional requests sent upstream for a stored response."), prometheus.CounterValue, func(s *caching.Stats) float64 { return float64(s.Revalidations) }},
	{newDesc("wasmhttpd_cache_revalidated_total", "Revalidations answered 304 Not Modified."), prometheus.CounterValue, func(s *caching.Stats) float64 { return float64(s.Revalidated) }},
	{newDesc("wasmhttpd_cache_bypassed_total", "Requests the cache policy kept away from the cache."), prometheus.CounterValue, func(s *caching.Stats) float64 { return float64(s.Bypassed) }},
	{newDesc("wasmhttpd_cache_purged_total", "Stored responses removed by PURGE."), prometheus.CounterValue, func(s *caching.Stats) float64 { return float64(s.Purged) }},
	{newDesc("wasmhttpd_cache_invalidated_total", "Stored responses removed after unsafe requests."), prometheus.CounterValue, func(s *caching.Stats) float64 { return float64(s.Invalidated) }},
	{newDesc("wasmhttpd_cache_policy_errors_total", "Cache decisions whose policy call failed."), prometheus.CounterValue, func(s *caching.Stats) float64 { return float64(s.PolicyErrors) }},
	{newDesc("wasmhttpd_cache_entries", "Responses stored now, variants counted apart."), prometheus.GaugeValue, func(s *caching.Stats) float64 { return float64(s.Store.Entries) }},
	{newDesc("wasmhttpd_cache_size_bytes", "Bytes the cache holds on disk now, bodies and metadata."), prometheus.GaugeValue, func(s *caching.Stats) float64 { return float64(s.Store.Bytes) }},
	{newDesc("wasmhttpd_cache_evictions_total", "Entries evicted to respect the size limits."), prometheus.CounterValue, func(s *caching.Stats) float64 { return float64(s.Store.Evictions) }},
	{newDesc("wasmhttpd_cache_stores_total", "Entries committed to the cache."), prometheus.CounterValue, func(s *caching.Stats) float64 { return float64(s.Store.Stores) }},
	{newDesc("wasmhttpd_cache_stores_aborted_total", "Stores abandoned: aborted, too large or of the wrong length."), prometheus.CounterValue, func(s *caching.Stats) float64 { return float64(s.Store.Aborted) }},
	{newDesc("wasmhttpd_cache_disk_errors_total", "Disk errors and corrupt cache files met."), prometheus.CounterValue, func(s *caching.Stats) float64 { return float64(s.Store.Errors) }},
	{newDesc("wasmhttpd_cache_memory_bytes", "Bytes of small bodies the cache also keeps in memory now."), prometheus.GaugeValue, func(s *caching.Stats) float64 { return float64(s.Store.Memory) }},
	{newDesc("wasmhttpd_cache_fills_waiting", "Collapsed misses waiting for another request's fill now."), prometheus.GaugeValue, func(s *caching.Stats) float64 { return float64(s.Store.Waiting) }},
}

var upstreamDefs = []metricDef[proxy.Stats]{
	{newDesc("wasmhttpd_upstream_errors_total", "Upstream fetches that failed, timeouts included."), prometheus.CounterValue, func(s *proxy.Stats) float64 { return float64(s.Errors) }},
	{newDesc("wasmhttpd_upstream_timeouts_total", "Upstream fetches that timed out."), prometheus.CounterValue, func(s *proxy.Stats) float64 { return float64(s.Timeouts) }},
}

var policyDefs = []metricDef[policy.Stats]{
	{newDesc("wasmhttpd_policy_calls_total", "Guest calls (handle_request and handle_response), by policy.", "policy"), prometheus.CounterValue, func(s *policy.Stats) float64 { return float64(s.Calls) }},
	{newDesc("wasmhttpd_policy_errors_total", "Guest calls that failed, timeouts included, by policy.", "policy"), prometheus.CounterValue, func(s *policy.Stats) float64 { return float64(s.Errors) }},
	{newDesc("wasmhttpd_policy_timeouts_total", "Guest calls that ran out of time, by policy.", "policy"), prometheus.CounterValue, func(s *policy.Stats) float64 { return float64(s.Timeouts) }},
	{newDesc("wasmhttpd_policy_reused_decisions_total", "Cache decisions answered from a reusable one the policy made, without a guest call.", "policy"), prometheus.CounterValue, func(s *policy.Stats) float64 { return float64(s.Reused) }},
	{newDesc("wasmhttpd_policy_swaps_total", "Successful reloads of a policy's module.", "policy"), prometheus.CounterValue, func(s *policy.Stats) float64 { return float64(s.Swaps) }},
	{newDesc("wasmhttpd_policy_rejected_total", "Reloads refused because the new module was bad; the old one kept serving.", "policy"), prometheus.CounterValue, func(s *policy.Stats) float64 { return float64(s.Rejected) }},
	{newDesc("wasmhttpd_policy_generation", "Generation of the module serving new requests, by policy.", "policy"), prometheus.GaugeValue, func(s *policy.Stats) float64 { return float64(s.Generation) }},
	{newDesc("wasmhttpd_policy_instances", "Live guest instances, all generations, by policy.", "policy"), prometheus.GaugeValue, func(s *policy.Stats) float64 { return float64(s.Instances) }},
	{newDesc("wasmhttpd_policy_load_seconds", "Compile and instantiate time of the policy's last load.", "policy"), prometheus.GaugeValue, func(s *policy.Stats) float64 { return s.LoadTime.Seconds() }},
}

// Describe sends every descriptor the collector can emit.
func (c *sourceCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{startDesc, connsDesc, rejectingDesc, policyInfo, policyCounter} {
		ch <- d
	}
	describe(ch, cacheDefs)
	describe(ch, upstreamDefs)
	describe(ch, policyDefs)
}

func describe[S any](ch chan<- *prometheus.Desc, defs []metricDef[S]) {
	for _, d := range defs {
		ch <- d.desc
	}
}

// Collect reads the sources and sends their metrics.
func (c *sourceCollector) Collect(ch chan<- prometheus.Metric) {
	emit(ch, startDesc, prometheus.GaugeValue, float64(c.start.UnixNano())/1e9)
	if c.src.Servers != nil {
		servers := c.src.Servers()
		for _, name := range slices.Sorted(maps.Keys(servers)) {
			s := servers[name]
			emit(ch, connsDesc, prometheus.GaugeValue, float64(s.Open-s.Idle), name, "active")
			emit(ch, connsDesc, prometheus.GaugeValue, float64(s.Idle), name, "idle")
			emit(ch, rejectingDesc, prometheus.GaugeValue, float64(s.Rejecting), name)
		}
	}
	if c.src.Cache != nil {
		if s, ok := c.src.Cache(); ok {
			collect(ch, cacheDefs, &s)
		}
	}
	if c.src.Upstream != nil {
		s := c.src.Upstream()
		collect(ch, upstreamDefs, &s)
	}
	if c.src.Policies != nil {
		for _, p := range c.src.Policies() {
			collect(ch, policyDefs, &p, p.Name)
			emit(ch, policyInfo, prometheus.GaugeValue, 1, p.Name, p.ModuleHash)
			// A gauge, not a counter: counter_add takes negative deltas.
			for name, v := range p.Counters {
				emit(ch, policyCounter, prometheus.GaugeValue, float64(v), p.Name, name)
			}
		}
	}
}

func collect[S any](ch chan<- prometheus.Metric, defs []metricDef[S], s *S, labels ...string) {
	for _, d := range defs {
		emit(ch, d.desc, d.typ, d.get(s), labels...)
	}
}

// emit sends one metric. A label value that is not valid UTF-8 makes the
// metric invalid, which fails the scrape with an error naming it rather
// than panicking or dropping it unseen.
func emit(ch chan<- prometheus.Metric, d *prometheus.Desc, typ prometheus.ValueType, v float64, labels ...string) {
	m, err := prometheus.NewConstMetric(d, typ, v, labels...)
	if err != nil {
		m = prometheus.NewInvalidMetric(d, err)
	}
	ch <- m
}
