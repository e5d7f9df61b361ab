package policy

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"wasmhttpd/host/http1"
)

// router is a Router that knows the root "files" and http:// upstreams,
// and answers with what it was asked to serve.
type router struct{}

func (router) CheckRoute(r Route) error {
	switch {
	case r.Kind == RouteStatic && r.Target != "files":
		return errors.New("no root named " + r.Target)
	case r.Kind == RouteUpstream && !strings.HasPrefix(r.Target, "http://"):
		return errors.New("upstream " + r.Target + " is not an http URL")
	}
	return nil
}

func (router) ServeRoute(ex *http1.Exchange, r Route) {
	ex.Response.Header().Set("x-route", r.Kind.String()+"|"+r.Target+"|"+r.Path)
	ex.Response.SetContentLength(0)
	ex.Response.WriteHeader(200)
}

func (router) Serve(ex *http1.Exchange) { echo.Serve(ex) }

func TestRoutes(t *testing.T) {
	p := load(t, "conform", nil)
	routed := NewChain([]*Policy{p}, router{})
	for _, tc := range []struct {
		name, test, extra string
		status            int
		route             string // x-route of the answer
	}{
		{"static with path", "route-static", "X-Root: files\r\nX-Path: /a.txt\r\n", 200, "static|files|/a.txt"},
		{"static, request path", "route-static", "X-Root: files\r\n", 200, "static|files|"},
		{"unknown root traps", "route-static", "X-Root: nope\r\n", 500, ""},
		{"upstream", "route-upstream", "X-Url: http://127.0.0.1:9/x\r\n", 200, "upstream|http://127.0.0.1:9/x|"},
		{"bad upstream traps", "route-upstream", "X-Url: ftp://x\r\n", 500, ""},
		{"forward", "route-forward", "", 200, "forward||"},
		{"last choice wins", "route-twice", "X-Url: http://u\r\n", 200, "upstream|http://u|"},
		// The default handler answered before handle_response trapped.
		{"route after next traps", "route-after-next", "", 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, routed, get(tc.test, tc.extra))
			assert.Equal(t, tc.status, r.StatusCode)
			assert.Equal(t, tc.route, r.Header.Get("x-route"))
		})
	}
	assert.Contains(t, logBuf.String(), "route_static: no root named nope")
	assert.Contains(t, logBuf.String(), "route_upstream: upstream ftp://x is not an http URL")
	assert.Contains(t, logBuf.String(), "route_forward: routes are chosen in handle_request, before next")

	t.Run("no route leaves the default handler", func(t *testing.T) {
		r := do(t, routed, get("fine"))
		assert.Equal(t, "GET", r.Header.Get("x-echo-method"))
		assert.Empty(t, r.Header.Get("x-route"))
	})
	t.Run("a chain that does not route traps", func(t *testing.T) {
		r := do(t, NewChain([]*Policy{p}, echo), get("route-forward"))
		assert.Equal(t, 500, r.StatusCode)
		assert.Contains(t, logBuf.String(), "this listener does not route")
	})
}

func TestCounters(t *testing.T) {
	p := load(t, "conform", func(o *Options) { o.Name = "counting" })
	c := NewChain([]*Policy{p}, echo)
	for range 3 {
		assert.Equal(t, 200, do(t, c, get("counter", "X-Counter: hits\r\n")).StatusCode)
	}
	assert.Equal(t, map[string]int64{"hits": 6}, p.Stats().Counters)

	for _, bad := range []string{"Hits", "a-b", "", strings.Repeat("x", 65)} {
		assert.Equal(t, 500, do(t, c, get("counter", "X-Counter: "+bad+"\r\n")).StatusCode, "counter name %q", bad)
	}
	for i := range maxCounters - 1 {
		do(t, c, get("counter", "X-Counter: c"+string(rune('a'+i/26))+string(rune('a'+i%26))+"\r\n"))
	}
	assert.Len(t, p.Stats().Counters, maxCounters)
	assert.Equal(t, 500, do(t, c, get("counter", "X-Counter: one_too_many\r\n")).StatusCode)
	assert.Equal(t, 200, do(t, c, get("counter", "X-Counter: hits\r\n")).StatusCode, "existing counters still count")
}

func TestCacheHooks(t *testing.T) {
	p := load(t, "conform", func(o *Options) { o.Name, o.CacheHooks = "cache", true })
	times := CacheTimes{Request: time.Unix(1000, 0), Response: time.Unix(1001, 0), Now: time.Unix(1031, 0)}

	t.Run("cache_request", func(t *testing.T) {
		ex, _ := exchange(t, get("", "X-Cache-Access: 7\r\nX-Cache-Key: k1\r\n"))
		d, err := p.CacheRequest(ex, nil)
		require.NoError(t, err)
		assert.Equal(t, CacheRequestDecision{Access: CacheLookup | CacheStore | CacheOnlyIfCached, Key: "k1"}, d)

		ex, _ = exchange(t, get("", "X-Cache-Access: 8\r\n"))
		d, err = p.CacheRequest(ex, nil)
		require.NoError(t, err)
		assert.Equal(t, CacheRequestDecision{Access: CachePurge}, d, "no key set: the host's default")
	})
	t.Run("cache_lookup sees times and amends the answer", func(t *testing.T) {
		for _, tc := range []struct {
			result string
			want   CacheLookupDecision
		}{
			{"0", CacheLookupDecision{Action: CacheMiss}},
			{"1", CacheLookupDecision{Action: CacheFresh}},
			{"2", CacheLookupDecision{Action: CacheRevalidate}},
			{"259", CacheLookupDecision{Action: CacheStaleWhileRevalidate, StaleIfError: true}},
		} {
			ex, finish := exchange(t, get("", "X-Lookup: "+tc.result+"\r\n"))
			d, err := p.CacheLookup(ex, times, nil)
			require.NoError(t, err)
			assert.Equal(t, tc.want, d, "result %s", tc.result)
			r := finish()
			assert.Equal(t, "30", r.Header.Get("age"))
			assert.Equal(t, "1000,1001", r.Header.Get("x-times"))
		}
		ex, _ := exchange(t, get("", "X-Lookup: 4\r\n"))
		_, err := p.CacheLookup(ex, times, nil)
		assert.ErrorContains(t, err, "unknown action 4")
	})
	t.Run("cache_store", func(t *testing.T) {
		ex, finish := exchange(t, get(""))
		d, err := p.CacheStore(ex, times)
		require.NoError(t, err)
		assert.Equal(t, CacheStoreDecision{Store: true, Lifetime: Lifetime{
			Fresh: time.Minute, StaleWhileRevalidate: 10 * time.Second, StaleIfError: 20 * time.Second}}, d)
		assert.Equal(t, "wasmhttpd; fwd=miss; stored", finish().Header.Get("cache-status"))
		assert.Equal(t, int64(1), p.Stats().Counters["stored"])

		ex, _ = exchange(t, get(""))
		ex.Response.Header().Set("Cache-Control", "no-store")
		d, err = p.CacheStore(ex, times)
		require.NoError(t, err)
		assert.False(t, d.Store)
	})
	t.Run("refusals trap", func(t *testing.T) {
		for _, tc := range []struct {
			call  func(*http1.Exchange) error
			extra string
			cause string
		}{
			{func(ex *http1.Exchange) error { _, err := p.CacheRequest(ex, nil); return err }, "X-Cache-Status: 1\r\n", "set_status_code in a cache hook"},
			{func(ex *http1.Exchange) error { _, err := p.CacheStore(ex, times); return err }, "X-Store: bad-lifetime\r\n", "freshness lifetime of -1 s"},
			{func(ex *http1.Exchange) error { _, err := p.CacheStore(ex, times); return err }, "X-Store: reusable\r\n", "cache_reusable: allowed in cache_request and cache_lookup only"},
		} {
			ex, _ := exchange(t, get("", tc.extra))
			assert.ErrorContains(t, tc.call(ex), tc.cause)
		}
		r := do(t, NewChain([]*Policy{p}, echo), get("cache-key-outside"))
		assert.Equal(t, 500, r.StatusCode)
		assert.Contains(t, logBuf.String(), "cache_set_key: allowed in cache_request only")
		r = do(t, NewChain([]*Policy{p}, echo), get("cache-reusable-outside"))
		assert.Equal(t, 500, r.StatusCode)
		assert.Contains(t, logBuf.String(), "cache_reusable: allowed in cache_request and cache_lookup only")
	})
	t.Run("reusable decisions", func(t *testing.T) { testReusableDecisions(t, p, times) })
	t.Run("a policy that is not the decider", func(t *testing.T) {
		plain := load(t, "conform", nil)
		ex, _ := exchange(t, get(""))
		_, err := plain.CacheRequest(ex, nil)
		assert.ErrorIs(t, err, ErrNotCacheDecider)
	})
	t.Run("a decider must export the hooks", func(t *testing.T) {
		_, err := engine.Load(t.Context(), Options{Name: "nohooks", Path: guest("v1"), CacheHooks: true})
		assert.ErrorContains(t, err, "does not export cache_request")
	})
}

func TestLogRation(t *testing.T) {
	var r logRation
	t0 := time.Unix(0, 0)
	for i := range logBurst {
		_, ok := r.take(t0)
		require.True(t, ok, "line %d of the burst", i)
	}
	for range 5 {
		_, ok := r.take(t0)
		assert.False(t, ok)
	}
	unlogged, ok := r.take(t0.Add(time.Second / logRate))
	assert.True(t, ok, "a token comes back after 1/logRate s")
	assert.Equal(t, uint64(5), unlogged)
}

// TestCountersSurviveASwap: counters belong to the policy, not to the
// module serving it.
func TestCountersSurviveASwap(t *testing.T) {
	conform, err := os.ReadFile(guest("conform"))
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "counting.wasm")
	install(t, path, conform)
	p, err := engine.Load(t.Context(), Options{Name: "surviving", Path: path})
	require.NoError(t, err)
	defer p.Close()
	c := NewChain([]*Policy{p}, echo)
	do(t, c, get("counter", "X-Counter: hits\r\n"))

	// The same code with a custom section appended: another module.
	install(t, path, append(bytes.Clone(conform), 0, 3, 1, 'x', 0))
	require.NoError(t, p.Reload(t.Context()))
	require.Equal(t, uint64(2), p.Stats().Generation)
	do(t, c, get("counter", "X-Counter: hits\r\n"))
	assert.Equal(t, map[string]int64{"hits": 4}, p.Stats().Counters)
}

// testReusableDecisions checks cache_reusable: a decision is reused, its
// effects replayed, only while every read the guest made would read the
// same, with the same times, generation and policy, and never after the
// guest did what a reuse cannot repeat.
func testReusableDecisions(t *testing.T, p *Policy, times CacheTimes) {
	const reusable = "X-Reusable: 1\r\nX-Read-All: 1\r\nX-Lookup: 1\r\n"
	base := get("", reusable)
	// lookup asks p about raw, changed by change, and reports whether the
	// guest was called.
	lookup := func(t *testing.T, p *Policy, memo *Memo, raw string, tm CacheTimes, change func(*http1.Exchange)) (called bool, r response) {
		t.Helper()
		ex, finish := exchange(t, raw)
		ex.Response.Header().Set("ETag", `"v1"`)
		if change != nil {
			change(ex)
		}
		calls, lookups := p.Stats().Calls, p.Stats().Counters["lookups"]
		d, err := p.CacheLookup(ex, tm, memo)
		require.NoError(t, err)
		assert.Equal(t, CacheLookupDecision{Action: CacheFresh}, d)
		assert.Equal(t, lookups+1, p.Stats().Counters["lookups"], "the counter counts reused decisions too")
		return p.Stats().Calls > calls, finish()
	}

	t.Run("reused with its effects", func(t *testing.T) {
		var memo Memo
		reused := p.Stats().Reused
		called, first := lookup(t, p, &memo, base, times, nil)
		require.True(t, called)
		called, again := lookup(t, p, &memo, base, times, nil)
		assert.False(t, called, "the same reads: no guest call")
		assert.Equal(t, reused+1, p.Stats().Reused)
		for _, name := range []string{"age", "x-times", "etag"} {
			assert.Equal(t, first.Header.Get(name), again.Header.Get(name), name)
		}
		assert.Equal(t, "30", again.Header.Get("age"))
	})
	t.Run("not reused when a read differs", func(t *testing.T) {
		later := times
		later.Now = later.Now.Add(time.Second)
		other := load(t, "conform", func(o *Options) { o.Name, o.CacheHooks = "other", true })
		for _, tc := range []struct {
			name   string
			raw    string
			times  CacheTimes
			change func(*http1.Exchange)
			p      *Policy
		}{
			{name: "method", raw: strings.Replace(base, "GET", "HEAD", 1)},
			{name: "uri", raw: strings.Replace(base, "/path?x=1", "/path?x=2", 1)},
			{name: "protocol", raw: strings.Replace(base, "HTTP/1.1", "HTTP/1.0", 1)},
			{name: "a field's value", raw: strings.Replace(base, "X-Reusable: 1", "X-Reusable: 2", 1)},
			{name: "the request's field names", raw: get("", reusable, "X-More: 1\r\n")},
			{name: "the response's field names", change: func(ex *http1.Exchange) { ex.Response.Header().Set("X-Stored", "1") }},
			{name: "status", change: func(ex *http1.Exchange) { ex.Response.SetStatus(203) }},
			{name: "source address", change: func(ex *http1.Exchange) { ex.RemoteAddr = netip.MustParseAddrPort("192.0.2.8:4242") }},
			{name: "now", times: later},
			{name: "another policy", p: other},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var memo Memo
				called, _ := lookup(t, p, &memo, base, times, nil)
				require.True(t, called)
				raw, tm, q := cmp.Or(tc.raw, base), times, cmp.Or(tc.p, p)
				if !tc.times.Now.IsZero() {
					tm = tc.times
				}
				called, _ = lookup(t, q, &memo, raw, tm, tc.change)
				assert.True(t, called, "the guest decides again")
			})
		}
	})
	t.Run("not reused across a swap", func(t *testing.T) {
		var memo Memo
		called, _ := lookup(t, p, &memo, base, times, nil)
		require.True(t, called)
		data, err := os.ReadFile(guest("conform"))
		require.NoError(t, err)
		// An empty custom section: the same code, a new module, a new
		// generation.
		require.NoError(t, p.swapTo(t.Context(), append(data, 0, 3, 1, 'x', 0)))
		called, _ = lookup(t, p, &memo, base, times, nil)
		assert.True(t, called)
	})
	t.Run("a used decision outlives others", func(t *testing.T) {
		var memo Memo
		called, _ := lookup(t, p, &memo, base, times, nil)
		require.True(t, called)
		called, _ = lookup(t, p, &memo, base, times, nil)
		require.False(t, called)
		// memoSlots decisions that read differently, each kept: the
		// last of them takes the place of one not used since, never
		// of the one in use.
		for i := range memoSlots {
			called, _ = lookup(t, p, &memo, strings.Replace(base, "X-Reusable: 1", "X-Reusable: "+strconv.Itoa(i+2), 1), times, nil)
			require.True(t, called)
		}
		called, _ = lookup(t, p, &memo, base, times, nil)
		assert.False(t, called, "the plain request's decision is still there")
		called, _ = lookup(t, p, &memo, strings.Replace(base, "X-Reusable: 1", "X-Reusable: 5", 1), times, nil)
		assert.False(t, called, "and the latest of the others")
	})
	t.Run("decisions of a past second make room first", func(t *testing.T) {
		var memo Memo
		other := strings.Replace(base, "X-Reusable: 1", "X-Reusable: 2", 1)
		tm := times
		for range 5 {
			for _, raw := range []string{base, other} {
				called, _ := lookup(t, p, &memo, raw, tm, nil)
				require.True(t, called, "a new second: the guest decides")
			}
			tm.Now = tm.Now.Add(time.Second)
		}
		kept := 0
		for i := range memo.slots {
			if memo.slots[i].Load() != nil {
				kept++
			}
		}
		assert.Equal(t, 2, kept, "one record per kind of request, not one per second")
	})
	t.Run("not kept when the guest did not allow it or logged", func(t *testing.T) {
		for _, raw := range []string{get("", "X-Lookup: 1\r\n"), get("", reusable, "X-Log: 1\r\n")} {
			var memo Memo
			for range 2 {
				called, _ := lookup(t, p, &memo, raw, times, nil)
				assert.True(t, called, raw)
			}
		}
	})
	t.Run("not reused by another hook", func(t *testing.T) {
		var memo Memo
		raw := get("", "X-Reusable: 1\r\nX-Cache-Access: 3\r\nX-Lookup: 1\r\n")
		ex, _ := exchange(t, raw)
		_, err := p.CacheRequest(ex, &memo)
		require.NoError(t, err)
		calls := p.Stats().Calls
		ex, _ = exchange(t, raw)
		d, err := p.CacheLookup(ex, CacheTimes{}, &memo) // the arguments of cache_request: none
		require.NoError(t, err)
		assert.Equal(t, CacheLookupDecision{Action: CacheFresh}, d)
		assert.Greater(t, p.Stats().Calls, calls)
	})
	t.Run("concurrent calls through one Memo", func(t *testing.T) {
		// Two requests that read differently take turns replacing the
		// record; each must still get its own decision and fields.
		type call struct {
			ex     *http1.Exchange
			finish func() response
			want   CacheAction
			got    CacheLookupDecision
			err    error
		}
		calls := make([]call, 100)
		for i := range calls {
			c := &calls[i]
			c.want = CacheAction(1 + i%2)
			c.ex, c.finish = exchange(t, get("", fmt.Sprintf("X-Reusable: 1\r\nX-Lookup: %d\r\n", c.want)))
		}
		var memo Memo
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Go(func() {
				for i := g; i < len(calls); i += 4 {
					c := &calls[i]
					c.got, c.err = p.CacheLookup(c.ex, times, &memo)
				}
			})
		}
		wg.Wait()
		for _, c := range calls {
			require.NoError(t, c.err)
			assert.Equal(t, c.want, c.got.Action)
			assert.Equal(t, "30", c.finish().Header.Get("Age"))
		}
	})
	t.Run("cache_request with its key", func(t *testing.T) {
		var memo Memo
		raw := get("", "X-Reusable: 1\r\nX-Cache-Access: 3\r\nX-Cache-Key: k1\r\n")
		want := CacheRequestDecision{Access: CacheLookup | CacheStore, Key: "k1"}
		for i := range 2 {
			calls := p.Stats().Calls
			ex, _ := exchange(t, raw)
			d, err := p.CacheRequest(ex, &memo)
			require.NoError(t, err)
			assert.Equal(t, want, d)
			assert.Equal(t, i == 0, p.Stats().Calls > calls, "call %d", i)
		}
	})
}

// TestReuseAnswersAsTheGuest checks a reuse against the guest itself: the
// second of two lookups through one Memo must leave the fields, and the
// error, the guest gives that request when asked afresh.
func TestReuseAnswersAsTheGuest(t *testing.T) {
	p := load(t, "conform", func(o *Options) { o.CacheHooks = true })
	times := CacheTimes{Request: time.Unix(1000, 0), Response: time.Unix(1001, 0), Now: time.Unix(1031, 0)}
	big := strings.Repeat("b", 64<<10-30) // setting age and x-times would pass the 64 KiB bound
	lookup := func(t *testing.T, memo *Memo, raw string, change func(*http1.Exchange)) (http.Header, error) {
		t.Helper()
		ex, finish := exchange(t, raw)
		ex.Response.Header().Set("ETag", `"v1"`)
		if change != nil {
			change(ex)
		}
		if _, err := p.CacheLookup(ex, times, memo); err != nil {
			return nil, err
		}
		return finish().Header, nil
	}
	for _, tc := range []struct {
		name   string
		extra  string
		change func(*http1.Exchange) // of the second request
		fails  bool                  // the guest fails the second request
		reused bool                  // the second request is answered from the first
	}{
		{"a field added, then read", "X-Change: values\r\n", func(ex *http1.Exchange) { ex.Response.Header().Set("X-Seen", "1") }, false, false},
		{"names read after changes", "X-Change: names\r\n", func(ex *http1.Exchange) {
			ex.Response.Header().Set("X-A", "1")
			ex.Response.Header().Set("X-B", "1")
		}, false, false},
		{"a field set past the size bound", "", func(ex *http1.Exchange) { ex.Response.Header().Set("X-Big", big) }, true, false},
		{"fields added and removed", "X-Change: add-remove\r\n", func(ex *http1.Exchange) {
			ex.Response.Header().Set("X-Added", "0")
			ex.Response.Header().Set("X-Removed", "1")
			ex.Response.Header().Add("X-Removed", "2")
		}, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := get("", "X-Reusable: 1\r\nX-Lookup: 1\r\n", tc.extra)
			want, wantErr := lookup(t, nil, raw, tc.change)
			var memo Memo
			_, err := lookup(t, &memo, raw, nil)
			require.NoError(t, err)
			calls := p.Stats().Calls
			got, err := lookup(t, &memo, raw, tc.change)
			assert.Equal(t, tc.reused, p.Stats().Calls == calls, "reused")
			require.Equal(t, tc.fails, wantErr != nil, "the guest's own answer: %v", wantErr)
			if tc.fails {
				assert.Error(t, err, "the guest fails this request")
				return
			}
			require.NoError(t, err)
			delete(got, "Date")
			delete(want, "Date")
			assert.Equal(t, want, got)
		})
	}
	t.Run("log_enabled of level none", func(t *testing.T) {
		var memo Memo
		raw := get("", "X-Reusable: 1\r\nX-Lookup: 1\r\nX-Log-Enabled: 3\r\n")
		_, err := lookup(t, &memo, raw, nil)
		require.NoError(t, err)
		calls := p.Stats().Calls
		_, err = lookup(t, &memo, raw, nil)
		require.NoError(t, err)
		assert.Equal(t, calls, p.Stats().Calls, "log_enabled(3) reads the same: reused")
	})
}

// TestTraceIsBounded checks that a hook reading on and on cannot grow the
// instance's trace, which outlives the call, past its bounds: the call is
// then simply not reusable.
func TestTraceIsBounded(t *testing.T) {
	value := bytes.Repeat([]byte("v"), 1<<10)
	for _, tc := range []struct {
		name string
		read func(*trace)
	}{
		{"values", func(tr *trace) { tr.add(readHeaderValues, kindRequest, []byte("x"), value, 1) }},
		{"status", func(tr *trace) { tr.add(readStatus, 0, nil, nil, 200) }},
		{"method", func(tr *trace) { tr.addString(readMethod, "GET") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var tr trace
			tr.begin(true)
			tr.reusable = true
			for range 1 << 14 {
				tc.read(&tr)
			}
			assert.False(t, tr.on, "recording ended")
			assert.LessOrEqual(t, len(tr.entries), maxTraceEntries)
			assert.LessOrEqual(t, len(tr.data), maxTraceBytes)
			var memo Memo
			tr.keep(&memo, &generation{}, phaseCacheLookup, [3]uint64{}, 1)
			for i := range memo.slots {
				assert.Nil(t, memo.slots[i].Load(), "nothing kept")
			}
		})
	}
}
