package admin

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"wasmhttpd/host/cache"
	"wasmhttpd/host/caching"
	"wasmhttpd/host/http1"
	"wasmhttpd/host/policy"
	"wasmhttpd/host/proxy"
	"wasmhttpd/host/server"
	"wasmhttpd/host/server/servertest"
)

// serve runs handler in a real server on a loopback port, reporting
// exchanges to observe, and returns its base URL; the server stops when
// the test ends.
func serve(t testing.TB, name string, handler http1.Handler, observe Observer) string {
	t.Helper()
	return "http://" + servertest.Start(t, server.Config{Name: name, Handler: handler, Observe: observe})
}

// fetch sends method to url with a fresh client and returns the response
// with its body read.
func fetch(t testing.TB, method, url string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	require.NoError(t, err)
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(body)
}

// hostileText is text a config or a guest could put in a name or a message;
// the status page must show it, never obey it.
const hostileText = `<script>alert("x")</script>&`

// fakeSources report fixed figures, with a policy and an event whose
// text needs escaping.
func fakeSources() Sources {
	return Sources{
		Servers: func() map[string]server.Stats {
			return map[string]server.Stats{"origin": {Open: 5, Idle: 2}, "proxy": {Open: 1, Idle: 1, Rejecting: 3}}
		},
		Cache: func() (caching.Stats, bool) {
			return caching.Stats{Hits: 30, Misses: 10, StaleServed: 4, Revalidations: 6, Store: cache.Stats{Entries: 12, Bytes: 3 << 20, Evictions: 2, Memory: 5 << 10}}, true
		},
		Policies: func() []policy.Stats {
			return []policy.Stats{
				{Name: "auth", Generation: 3, ModuleHash: "ab12cd", LoadTime: 12 * time.Millisecond, Calls: 100, Errors: 2, Timeouts: 1, Reused: 40, Swaps: 2, Instances: 4, Counters: map[string]int64{"denied": 7}},
				{Name: hostileText, Generation: 1, ModuleHash: "ef34"},
			}
		},
		Upstream: func() proxy.Stats { return proxy.Stats{Errors: 9, Timeouts: 4} },
	}
}

// adminServer starts the admin handler over fake sources and returns its
// URL, the metrics and the readiness switch.
func adminServer(t testing.TB) (string, *Metrics, *atomic.Bool) {
	t.Helper()
	m := NewMetrics(fakeSources())
	events := NewEvents(8)
	events.Add(EventSwap, "auth", "generation 3 from auth.wasm")
	events.Add(EventError, hostileText, hostileText)
	var ready atomic.Bool
	ready.Store(true)
	return serve(t, "admin", Handler(m, events, ready.Load), nil), m, &ready
}

func TestMetricsEndpointParsesAndHasTheFamilies(t *testing.T) {
	url, m, _ := adminServer(t)
	origin := serve(t, "origin", http1.HandlerFunc(func(ex *http1.Exchange) {
		reply(ex.Response, 200, "text/plain", []byte("hi"))
	}), m.Observe)
	for range 2 {
		resp, _ := fetch(t, "GET", origin+"/")
		require.Equal(t, 200, resp.StatusCode)
	}

	resp, body := fetch(t, "GET", url+"/metrics")
	require.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "text/plain; version=0.0.4; charset=utf-8", resp.Header.Get("Content-Type"))
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fs, err := parser.TextToMetricFamilies(strings.NewReader(body))
	require.NoError(t, err)

	for _, c := range []struct {
		family string
		labels map[string]string
		want   float64
	}{
		{"wasmhttpd_requests_total", map[string]string{"listener": "origin", "method": "GET", "code": "200"}, 2},
		{"wasmhttpd_response_body_bytes_total", map[string]string{"listener": "origin"}, 4},
		{"wasmhttpd_connections", map[string]string{"listener": "origin", "state": "active"}, 3},
		{"wasmhttpd_connections", map[string]string{"listener": "origin", "state": "idle"}, 2},
		{"wasmhttpd_connections_rejecting", map[string]string{"listener": "proxy"}, 3},
		{"wasmhttpd_cache_hits_total", map[string]string{}, 30},
		{"wasmhttpd_cache_misses_total", map[string]string{}, 10},
		{"wasmhttpd_cache_stale_served_total", map[string]string{}, 4},
		{"wasmhttpd_cache_revalidations_total", map[string]string{}, 6},
		{"wasmhttpd_cache_size_bytes", map[string]string{}, 3 << 20},
		{"wasmhttpd_cache_memory_bytes", map[string]string{}, 5 << 10},
		{"wasmhttpd_cache_entries", map[string]string{}, 12},
		{"wasmhttpd_cache_evictions_total", map[string]string{}, 2},
		{"wasmhttpd_upstream_errors_total", map[string]string{}, 9},
		{"wasmhttpd_upstream_timeouts_total", map[string]string{}, 4},
		{"wasmhttpd_policy_calls_total", map[string]string{"policy": "auth"}, 100},
		{"wasmhttpd_policy_errors_total", map[string]string{"policy": "auth"}, 2},
		{"wasmhttpd_policy_timeouts_total", map[string]string{"policy": "auth"}, 1},
		{"wasmhttpd_policy_reused_decisions_total", map[string]string{"policy": "auth"}, 40},
		{"wasmhttpd_policy_swaps_total", map[string]string{"policy": "auth"}, 2},
		{"wasmhttpd_policy_generation", map[string]string{"policy": "auth"}, 3},
		{"wasmhttpd_policy_generation", map[string]string{"policy": hostileText}, 1},
		{"wasmhttpd_policy_instances", map[string]string{"policy": "auth"}, 4},
		{"wasmhttpd_policy_load_seconds", map[string]string{"policy": "auth"}, 0.012},
		{"wasmhttpd_policy_info", map[string]string{"policy": "auth", "module_hash": "ab12cd"}, 1},
		{"wasmhttpd_policy_counter", map[string]string{"policy": "auth", "name": "denied"}, 7},
	} {
		assert.InDelta(t, c.want, value(sample(t, fs[c.family], c.labels)), 1e-9, "%s %v", c.family, c.labels)
	}
	h := sample(t, fs["wasmhttpd_request_duration_seconds"], map[string]string{"listener": "origin"}).GetHistogram()
	assert.Equal(t, uint64(2), h.GetSampleCount())
	for _, f := range []string{"wasmhttpd_start_time_seconds", "go_goroutines", "process_start_time_seconds"} {
		assert.Contains(t, fs, f)
	}
}

func TestMetricsLeaveOutMissingSources(t *testing.T) {
	m := NewMetrics(Sources{Cache: func() (caching.Stats, bool) { return caching.Stats{}, false }})
	fs := families(t, m)
	for name := range fs {
		assert.False(t, strings.HasPrefix(name, "wasmhttpd_cache_") || strings.HasPrefix(name, "wasmhttpd_policy_") ||
			strings.HasPrefix(name, "wasmhttpd_upstream_") || strings.HasPrefix(name, "wasmhttpd_connections"), name)
	}
	assert.Contains(t, fs, "wasmhttpd_start_time_seconds")
}

func TestMetricsFailingCollectorIs500(t *testing.T) {
	m := NewMetrics(Sources{Policies: func() []policy.Stats { return []policy.Stats{{Name: "bad\xff"}} }})
	resp, body := fetch(t, "GET", serve(t, "admin", Handler(m, nil, nil), nil)+"/metrics")
	assert.Equal(t, 500, resp.StatusCode)
	assert.Contains(t, body, "gathering metrics")
	assert.Contains(t, body, "wasmhttpd_policy_")
}

func TestHealthAndReadiness(t *testing.T) {
	url, _, ready := adminServer(t)
	resp, body := fetch(t, "GET", url+"/healthz")
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "ok\n", body)

	resp, body = fetch(t, "GET", url+"/readyz")
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "ready\n", body)

	ready.Store(false) // draining
	resp, _ = fetch(t, "GET", url+"/readyz")
	assert.Equal(t, 503, resp.StatusCode)
	resp, _ = fetch(t, "GET", url+"/healthz")
	assert.Equal(t, 200, resp.StatusCode, "a draining process is still alive")

	resp, _ = fetch(t, "GET", serve(t, "admin", Handler(NewMetrics(Sources{}), nil, nil), nil)+"/readyz")
	assert.Equal(t, 200, resp.StatusCode, "no readiness function means ready")
}

func TestStatusPage(t *testing.T) {
	url, _, ready := adminServer(t)
	ready.Store(false)
	resp, body := fetch(t, "GET", url+"/status")
	require.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"))
	assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
	assert.Contains(t, resp.Header.Get("Content-Security-Policy"), "default-src 'none'")

	assert.True(t, strings.HasPrefix(body, "<!DOCTYPE html>"))
	assert.True(t, strings.HasSuffix(body, "</html>\n"))
	assert.Contains(t, body, `<meta http-equiv="refresh" content="5">`)
	for _, external := range []string{"<script", "<link", "src=", "@import", "url("} {
		assert.NotContains(t, body, external, "the page loads nothing and runs nothing")
	}
	assert.Equal(t, strings.Count(body, "<tr>"), strings.Count(body, "</tr>"))
	assert.Equal(t, strings.Count(body, "<table>"), strings.Count(body, "</table>"))

	for _, want := range []string{
		"not ready",
		"<td>origin</td><td class=\"n\">3</td><td class=\"n\">2</td>", // active, idle
		"75.0%",   // cache hit ratio, 30 of 40
		"3.0 MiB", // cache size
		"<td>auth</td><td class=\"n\">3</td><td><code>ab12cd</code></td><td class=\"n\">12.0 ms</td><td class=\"n\">100</td>",
		"<code>denied=7</code>", // the guest's own counter
		"generation 3 from auth.wasm",
		"&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&amp;", // the hostileText policy name and event detail, escaped
	} {
		assert.Contains(t, body, want)
	}
	assert.Less(t, strings.Index(body, "&lt;script"), strings.Index(body, "generation 3 from"), "newest event first")
}

func TestStatusJSON(t *testing.T) {
	url, m, _ := adminServer(t)
	m.Observe(exchange(t, "origin", "GET", 0, 200, "x"), time.Millisecond)
	m.Observe(exchange(t, "admin-only", "GET", 0, 200, "x"), time.Millisecond)
	resp, body := fetch(t, "GET", url+"/status.json")
	require.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))

	var st Status
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&st))
	assert.True(t, st.Ready)
	assert.Equal(t, uint64(2), st.Requests)
	assert.Positive(t, st.UptimeSeconds)
	assert.Equal(t, int64(3), st.Active)
	assert.Equal(t, int64(3), st.Idle)
	assert.Equal(t, []ListenerStatus{
		{Name: "admin-only", Requests: 1}, // seen by Observe, not among the Servers
		{Name: "origin", Active: 3, Idle: 2, Requests: 1},
		{Name: "proxy", Idle: 1, Rejecting: 3},
	}, st.Listeners)
	assert.Equal(t, &CacheStatus{Hits: 30, Misses: 10, HitRatio: 0.75, StaleServed: 4, Revalidations: 6, Entries: 12, Bytes: 3 << 20, Evictions: 2}, st.Cache)
	assert.Equal(t, &UpstreamStatus{Errors: 9, Timeouts: 4}, st.Upstream)
	// Decoding matches keys case-insensitively: pin the exact names too.
	var raw struct{ Upstream map[string]int64 }
	require.NoError(t, json.Unmarshal([]byte(body), &raw))
	assert.Equal(t, map[string]int64{"errors": 9, "timeouts": 4}, raw.Upstream)
	require.Len(t, st.Policies, 2)
	assert.Equal(t, PolicyStatus{Name: "auth", Generation: 3, ModuleHash: "ab12cd", LoadSeconds: 0.012, Calls: 100, Errors: 2,
		Timeouts: 1, Reused: 40, Swaps: 2, Instances: 4, Counters: map[string]int64{"denied": 7}}, st.Policies[0])
	require.Len(t, st.Events, 2)
	assert.Equal(t, EventError, st.Events[0].Kind)
	assert.Equal(t, hostileText, st.Events[0].Detail)
}

func TestStatusJSONWithoutSources(t *testing.T) {
	_, body := fetch(t, "GET", serve(t, "admin", Handler(NewMetrics(Sources{}), nil, nil), nil)+"/status.json")
	var raw map[string]any
	require.NoError(t, json.Unmarshal([]byte(body), &raw))
	assert.NotContains(t, raw, "cache")
	assert.NotContains(t, raw, "upstream")
	for _, list := range []string{"listeners", "policies", "events"} {
		assert.Equal(t, []any{}, raw[list], "%s is an empty list, not null", list)
	}
}

func TestRouting(t *testing.T) {
	url, _, _ := adminServer(t)
	for _, c := range []struct {
		method, path string
		status       int
		body         string
	}{
		{"GET", "/", 404, `no admin resource at "/"`},
		{"GET", "/metrics/", 404, "no admin resource"},
		{"GET", "/status?x=1", 200, "<!DOCTYPE html>"},
		{"HEAD", "/metrics", 200, ""},
		{"POST", "/metrics", 405, `method "POST" not allowed`},
		{"DELETE", "/healthz", 405, "GET and HEAD"},
		{"POST", "/nowhere", 404, "no admin resource"},
	} {
		resp, body := fetch(t, c.method, url+c.path)
		assert.Equal(t, c.status, resp.StatusCode, "%s %s", c.method, c.path)
		assert.Contains(t, body, c.body, "%s %s", c.method, c.path)
		if c.status == 405 {
			assert.Equal(t, "GET, HEAD", resp.Header.Get("Allow"))
		}
		if c.method == "HEAD" {
			assert.Empty(t, body)
			assert.Positive(t, resp.ContentLength, "HEAD declares the GET length")
		}
	}
}

func TestFormatting(t *testing.T) {
	for _, c := range []struct {
		seconds float64
		want    string
	}{{0.4, "0s"}, {59, "59s"}, {61, "1m 1s"}, {3 * 3600, "3h 0m"}, {2*86400 + 3*3600 + 4*60 + 5, "2d 3h 4m"}} {
		assert.Equal(t, c.want, formatDuration(c.seconds))
	}
	for _, c := range []struct {
		n    int64
		want string
	}{{0, "0 B"}, {1023, "1023 B"}, {1024, "1.0 KiB"}, {3 << 19, "1.5 MiB"}, {5 << 40, "5.0 TiB"}} {
		assert.Equal(t, c.want, formatBytes(c.n))
	}
}
