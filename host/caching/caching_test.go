package caching

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"wasmhttpd/host/cache"
	"wasmhttpd/host/http1"
	"wasmhttpd/host/proxy"
)

func TestMissThenHit(t *testing.T) {
	f := newFixture(t)
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, "hello")
	})
	resp, body := f.do(t, "GET", o.URL+"/a")
	assert.Equal(t, "hello", body)
	assert.Equal(t, "test; fwd=miss; stored", resp.Header.Get("Cache-Status"))

	resp, body = f.do(t, "GET", o.URL+"/a")
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "hello", body)
	assert.Equal(t, "test; hit", resp.Header.Get("Cache-Status"))
	assert.Equal(t, "0", resp.Header.Get("Age"))
	assert.Equal(t, "text/plain", resp.Header.Get("Content-Type"))
	assert.Contains(t, resp.Header.Get("Via"), "cachetest")
	assert.Equal(t, int64(1), o.hits.Load(), "the second request is a hit")

	resp, body = f.do(t, "HEAD", o.URL+"/a")
	assert.Equal(t, 200, resp.StatusCode)
	assert.Empty(t, body)
	assert.Equal(t, int64(5), resp.ContentLength, "HEAD is answered from the stored GET")
	assert.Equal(t, int64(1), o.hits.Load())

	st := f.cache.Stats()
	assert.Equal(t, int64(2), st.Hits)
	assert.Equal(t, int64(1), st.Misses)
	assert.Equal(t, 1, st.Store.Entries)
}

func TestClientConditionalOnAHit(t *testing.T) {
	f := newFixture(t)
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("ETag", `"v1"`)
		fmt.Fprint(w, "body")
	})
	f.do(t, "GET", o.URL+"/c")
	resp, body := f.do(t, "GET", o.URL+"/c", "If-None-Match", `W/"v1"`)
	assert.Equal(t, 304, resp.StatusCode)
	assert.Empty(t, body)
	resp, _ = f.do(t, "GET", o.URL+"/c", "If-None-Match", `"v2"`)
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, int64(1), o.hits.Load())
}

func TestRevalidation(t *testing.T) {
	f := newFixture(t)
	var conditional, notModified int
	var mu sync.Mutex
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		w.Header().Set("Cache-Control", "max-age=0")
		w.Header().Set("ETag", `"v1"`)
		if r.Header.Get("If-None-Match") != "" {
			conditional++
		}
		if r.Header.Get("If-None-Match") == `"v1"` {
			notModified++
			w.Header().Set("X-Refreshed", "yes")
			w.WriteHeader(304)
			return
		}
		fmt.Fprint(w, "version one")
	})
	f.do(t, "GET", o.URL+"/r")
	resp, body := f.do(t, "GET", o.URL+"/r", "If-None-Match", `"something else"`)
	assert.Equal(t, 200, resp.StatusCode, "the client's own condition fails against the stored ETag")
	assert.Equal(t, "version one", body)
	assert.Equal(t, "yes", resp.Header.Get("X-Refreshed"), "the 304's fields refresh the stored ones")
	mu.Lock()
	assert.Equal(t, 1, conditional, "the cache sent its own validator")
	assert.Equal(t, 1, notModified)
	mu.Unlock()
	assert.Equal(t, int64(1), f.cache.Stats().Revalidated)

	e := f.store.Lookup(o.URL+"/r", nil)
	require.NotNil(t, e)
	assert.Equal(t, "yes", string(e.Header.Get("X-Refreshed")), "the store holds the refreshed fields")
}

func TestNoStoreIsNotStored(t *testing.T) {
	f := newFixture(t)
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		fmt.Fprint(w, "secret")
	})
	for range 2 {
		resp, body := f.do(t, "GET", o.URL+"/n")
		assert.Equal(t, "secret", body)
		assert.Equal(t, "test; fwd=miss", resp.Header.Get("Cache-Status"))
	}
	assert.Equal(t, int64(2), o.hits.Load())
	assert.Zero(t, f.cache.Stats().Store.Entries)
}

func TestConcurrentMissesCollapse(t *testing.T) {
	f := newFixture(t)
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(200 * time.Millisecond)
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprint(w, strings.Repeat("x", 10000))
	})
	for _, b := range f.getConcurrently(t, o.URL+"/busy", 50) {
		assert.Len(t, b, 10000)
	}
	assert.Equal(t, int64(1), o.hits.Load(), "50 concurrent misses, one origin request")
}

// TestConcurrentRevalidationsCollapse: requests that find one stored
// response stale while its revalidation is in flight wait for it and are
// answered from the refreshed entry.
func TestConcurrentRevalidationsCollapse(t *testing.T) {
	f := newFixture(t)
	o, conditional := revalidatedOrigin(t, "max-age=1", func(int64) {
		time.Sleep(300 * time.Millisecond) // the others arrive meanwhile
	})
	storeStale(t, f, o.URL+"/hot")
	for _, b := range f.getConcurrently(t, o.URL+"/hot", 20) {
		assert.Equal(t, "the body", b)
	}
	// One, or two when a request looked the entry up just before the
	// refresh and joined just after (see revalidate); twenty without
	// collapsing.
	assert.LessOrEqual(t, conditional.Load(), int64(2), "20 concurrent revalidations, one conditional request")
	assert.Equal(t, int64(1), o.hits.Load()-conditional.Load(), "and no other fetch")
}

// TestAWaiterThatAskedForNoCacheRevalidatesAlone: a request whose own
// no-cache forces a revalidation is not answered by another request's,
// even when it waited for it.
func TestAWaiterThatAskedForNoCacheRevalidatesAlone(t *testing.T) {
	f := newFixture(t)
	held := newHeldConditionals()
	o, _ := revalidatedOrigin(t, "max-age=1", func(int64) { held.hold() })
	storeStale(t, f, o.URL+"/hot")
	var status string
	held.during(func() { f.do(t, "GET", o.URL+"/hot") }, func() {
		resp, body := f.do(t, "GET", o.URL+"/hot", "Cache-Control", "no-cache")
		assert.Equal(t, "the body", body)
		status = resp.Header.Get("Cache-Status")
	})
	assert.Equal(t, int64(2), held.count.Load(), "the no-cache request sent its own")
	assert.Equal(t, "test; fwd=miss; stored", status, "answered by its own revalidation's 304")
}

// TestAResponseWithNoLifetimeIsRevalidatedPerRequest: a stored response
// its decider gave no freshness lifetime (max-age=0) is validated for
// every request, as its origin asked, so its concurrent revalidations do
// not wait for one another — they could not share the outcome, and the
// wait would only double their latency.
func TestAResponseWithNoLifetimeIsRevalidatedPerRequest(t *testing.T) {
	f := newFixture(t)
	arrived, second, release := make(chan struct{}), make(chan struct{}), make(chan struct{})
	o, _ := revalidatedOrigin(t, "max-age=0", func(n int64) {
		switch n {
		case 1:
			close(arrived)
			<-release
		case 2:
			close(second)
		}
	})
	f.do(t, "GET", o.URL+"/always") // stored, stale at once: max-age=0
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(release)
	get := func() {
		_, body := f.do(t, "GET", o.URL+"/always")
		assert.Equal(t, "the body", body)
	}
	wg.Go(get)
	<-arrived
	wg.Go(get)
	select {
	case <-second:
	case <-time.After(10 * time.Second):
		t.Fatal("the second request waited for the first's revalidation")
	}
}

// TestRevalidationWaitersDoNotWaitForTheRelay: when the origin answers a
// revalidation with a new response, the requests waiting for it go on at
// once, not when its body has been relayed (which a slow origin or a slow
// client may make last for minutes).
func TestRevalidationWaitersDoNotWaitForTheRelay(t *testing.T) {
	f := newFixture(t)
	var conditional atomic.Int64
	arrived, release := make(chan struct{}), make(chan struct{})
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=1")
		switch {
		case r.Header.Get("If-None-Match") == "":
			w.Header().Set("ETag", `"v1"`)
			fmt.Fprint(w, "the body")
		case conditional.Add(1) == 1:
			// A new response, whose body is slow to come.
			w.Header().Set("ETag", `"v2"`)
			w.Header().Set("Content-Length", "10")
			fmt.Fprint(w, "new ")
			w.(http.Flusher).Flush()
			close(arrived)
			<-release
			fmt.Fprint(w, "body!!")
		default:
			w.Header().Set("ETag", `"v1"`)
			w.WriteHeader(304)
		}
	})
	storeStale(t, f, o.URL+"/slow")
	var wg sync.WaitGroup
	defer wg.Wait()
	var once sync.Once
	defer once.Do(func() { close(release) })
	wg.Go(func() {
		_, body := f.do(t, "GET", o.URL+"/slow")
		assert.Equal(t, "new body!!", body)
	})
	<-arrived
	answered := make(chan string)
	wg.Go(func() {
		_, body := f.do(t, "GET", o.URL+"/slow")
		answered <- body
	})
	select {
	case body := <-answered:
		assert.Equal(t, "the body", body, "its own revalidation's 304")
	case <-time.After(10 * time.Second):
		once.Do(func() { close(release) })
		<-answered
		t.Fatal("the waiter was held until the other request's body had been relayed")
	}
}

// TestRevalidationWaitersFallBackToStaleAtOnce: when the revalidation a
// request waited for failed at the upstream, the waiter answers with its
// own stale-if-error fallback rather than try the failing origin again.
func TestRevalidationWaitersFallBackToStaleAtOnce(t *testing.T) {
	f := newFixture(t)
	held := newHeldConditionals()
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("If-None-Match") == "" {
			w.Header().Set("Cache-Control", "max-age=1, stale-if-error")
			w.Header().Set("ETag", `"v1"`)
			fmt.Fprint(w, "kept")
			return
		}
		held.hold()
		w.WriteHeader(503)
	})
	storeStale(t, f, o.URL+"/down")
	var body, status string
	held.during(func() {
		_, body := f.do(t, "GET", o.URL+"/down")
		assert.Equal(t, "kept", body)
	}, func() {
		var resp *http.Response
		resp, body = f.do(t, "GET", o.URL+"/down")
		status = resp.Header.Get("Cache-Status")
	})
	assert.Equal(t, "kept", body)
	assert.Equal(t, "test; fwd=stale", status, "as the decider saw it at its lookup")
	assert.Equal(t, int64(1), held.count.Load(), "the failing origin was asked once")
}

// TestARevalidationWaiterWhoseRefreshedEntryWasPurgedFetches: a waiter
// that finds the refreshed entry gone (a PURGE came in between) is a
// miss, as any request that finds its entry's body gone is; it does not
// revalidate the purged entry, which has no body to serve either.
func TestARevalidationWaiterWhoseRefreshedEntryWasPurgedFetches(t *testing.T) {
	f := newFixture(t)
	held := newHeldConditionals()
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"v1"`)
		if r.Header.Get("If-None-Match") == "" {
			w.Header().Set("Cache-Control", "max-age=1")
			fmt.Fprint(w, "the body")
			return
		}
		held.hold()
		w.Header().Set("Cache-Control", "max-age=60") // the refreshed entry is fresh
		w.WriteHeader(304)
	})
	storeStale(t, f, o.URL+"/purged")
	var lookups atomic.Int64
	f.rules.onLookup = func(ex *http1.Exchange) {
		// The waiter's second lookup, of the refreshed entry.
		if ex.Request.Header.Has("X-Waiter") && lookups.Add(1) == 2 {
			f.store.Invalidate(o.URL + "/purged") // the default key: o.URL is lower-case
		}
	}
	var resp *http.Response
	var body string
	held.during(func() {
		_, body := f.do(t, "GET", o.URL+"/purged")
		assert.Equal(t, "the body", body)
	}, func() { resp, body = f.do(t, "GET", o.URL+"/purged", "X-Waiter", "1") })
	require.Equal(t, int64(2), lookups.Load(), "the waiter looked up the refreshed entry")
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "the body", body)
	assert.Equal(t, int64(1), held.count.Load(), "fetched, not revalidated")
}

// TestARevalidatedEntryPurgedMeanwhileIsAMiss: a PURGE that takes the
// stored response while its revalidation's 304 is being applied leaves
// no body to send: the request is fetched anew, not failed.
func TestARevalidatedEntryPurgedMeanwhileIsAMiss(t *testing.T) {
	f := newFixture(t)
	o, conditional := revalidatedOrigin(t, "max-age=1", nil)
	storeStale(t, f, o.URL+"/gone")
	f.rules.onStore = func(ex *http1.Exchange) {
		if ex.Response.Status() == 304 {
			f.store.Invalidate(o.URL + "/gone")
		}
	}
	resp, body := f.do(t, "GET", o.URL+"/gone")
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "the body", body)
	assert.Equal(t, int64(1), conditional.Load())
	assert.Equal(t, int64(3), o.hits.Load(), "stored, revalidated, fetched again")
}

// TestAWaiterThatGivesUpClaimsNoStore: a miss that stops waiting for a
// slow filler fetches alone and may not store; the decider is not asked,
// so no Cache-Status says "stored" for it.
func TestAWaiterThatGivesUpClaimsNoStore(t *testing.T) {
	f := newFixtureWith(t, nil, cache.Options{FillWait: 50 * time.Millisecond})
	release := make(chan struct{})
	var first atomic.Bool
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		if first.CompareAndSwap(false, true) {
			<-release
		}
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprint(w, "body")
	})
	filler := make(chan string)
	go func() {
		resp, _ := f.do(t, "GET", o.URL+"/slow")
		filler <- resp.Header.Get("Cache-Status")
	}()
	require.Eventually(t, func() bool { return o.hits.Load() == 1 }, 5*time.Second, time.Millisecond)
	resp, body := f.do(t, "GET", o.URL+"/slow")
	assert.Equal(t, "body", body)
	assert.Empty(t, resp.Header.Get("Cache-Status"), "fetched alone, not stored")
	close(release)
	assert.Equal(t, "test; fwd=miss; stored", <-filler)
}

func TestPurgeAndInvalidation(t *testing.T) {
	f := newFixture(t)
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		if r.Method == "POST" {
			w.Header().Set("Location", "/other")
			w.WriteHeader(201)
			return
		}
		fmt.Fprint(w, r.URL.Path)
	})
	f.do(t, "GET", o.URL+"/p")
	resp, body := f.do(t, "PURGE", o.URL+"/p")
	assert.Equal(t, 200, resp.StatusCode)
	assert.Contains(t, body, "purged 1")
	resp, _ = f.do(t, "PURGE", o.URL+"/p")
	assert.Equal(t, 404, resp.StatusCode)

	f.do(t, "GET", o.URL+"/p")
	f.do(t, "GET", o.URL+"/other")
	hits := o.hits.Load()
	resp, _ = f.do(t, "POST", o.URL+"/p")
	assert.Equal(t, 201, resp.StatusCode)
	f.do(t, "GET", o.URL+"/p")
	f.do(t, "GET", o.URL+"/other")
	assert.Equal(t, hits+3, o.hits.Load(), "the POST invalidated its target and its Location")
	assert.Equal(t, int64(2), f.cache.Stats().Invalidated)
}

func TestOnlyIfCached(t *testing.T) {
	f := newFixture(t)
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprint(w, "x")
	})
	resp, _ := f.do(t, "GET", o.URL+"/o", "Cache-Control", "only-if-cached")
	assert.Equal(t, 504, resp.StatusCode)
	assert.Zero(t, o.hits.Load())
	f.do(t, "GET", o.URL+"/o")
	resp, _ = f.do(t, "GET", o.URL+"/o", "Cache-Control", "only-if-cached")
	assert.Equal(t, 200, resp.StatusCode)

	stale := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=0")
		w.Header().Set("ETag", `"x"`)
		fmt.Fprint(w, "x")
	})
	f.do(t, "GET", stale.URL+"/s")
	resp, _ = f.do(t, "GET", stale.URL+"/s", "Cache-Control", "only-if-cached")
	assert.Equal(t, 504, resp.StatusCode, "a stored response that needs revalidating is not fetched")
	assert.Equal(t, int64(1), stale.hits.Load())
}

func TestRefusedPurgeIsNotForwarded(t *testing.T) {
	f := newFixture(t)
	f.rules.noPurge = true
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprint(w, "x")
	})
	f.do(t, "GET", o.URL+"/p")
	resp, _ := f.do(t, "PURGE", o.URL+"/p")
	assert.Equal(t, 403, resp.StatusCode)
	assert.Equal(t, int64(1), o.hits.Load(), "the origin never saw the PURGE")
	assert.Equal(t, 1, f.cache.Stats().Store.Entries)
}

func TestStaleIfError(t *testing.T) {
	f := newFixture(t)
	var down sync.Mutex
	failing := false
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		down.Lock()
		defer down.Unlock()
		if failing {
			w.WriteHeader(503)
			return
		}
		w.Header().Set("Cache-Control", "max-age=0, stale-if-error")
		w.Header().Set("ETag", `"e"`)
		fmt.Fprint(w, "kept")
	})
	f.do(t, "GET", o.URL+"/s")
	down.Lock()
	failing = true
	down.Unlock()
	resp, body := f.do(t, "GET", o.URL+"/s")
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "kept", body, "the stale response stands in for the 503")
	assert.Equal(t, "test; fwd=stale", resp.Header.Get("Cache-Status"), "as the decider saw it at lookup")
	assert.Equal(t, int64(1), f.cache.Stats().StaleServed)

	o.Close() // a connection error now
	resp, body = f.do(t, "GET", o.URL+"/s")
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "kept", body)
}

func TestStaleWhileRevalidate(t *testing.T) {
	f := newFixture(t)
	var version atomicString
	version.Store("one")
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=0, stale-while-revalidate")
		w.Header().Set("ETag", `"`+version.Load()+`"`)
		if r.Header.Get("If-None-Match") == `"`+version.Load()+`"` {
			w.WriteHeader(304)
			return
		}
		fmt.Fprint(w, version.Load())
	})
	f.do(t, "GET", o.URL+"/w")
	version.Store("two")
	_, body := f.do(t, "GET", o.URL+"/w")
	assert.Equal(t, "one", body, "served stale at once")
	assert.Eventually(t, func() bool {
		e := f.store.Lookup(o.URL+"/w", nil)
		return e != nil && string(e.Header.Get("ETag")) == `"two"`
	}, 5*time.Second, 10*time.Millisecond, "revalidated in the background")
	assert.Equal(t, int64(2), o.hits.Load())
}

func TestVaryKeepsVariants(t *testing.T) {
	f := newFixture(t)
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Vary", "Accept-Language")
		fmt.Fprint(w, "lang="+r.Header.Get("Accept-Language"))
	})
	for range 2 {
		for _, lang := range []string{"en", "fr"} {
			_, body := f.do(t, "GET", o.URL+"/v", "Accept-Language", lang)
			assert.Equal(t, "lang="+lang, body)
		}
	}
	assert.Equal(t, int64(2), o.hits.Load(), "one fetch per variant")
}

func TestDecisionFailures(t *testing.T) {
	f := newFixture(t)
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "x") })
	f.rules.fail.Store(true)
	resp, _ := f.do(t, "GET", o.URL+"/f")
	assert.Equal(t, 500, resp.StatusCode, "fail-closed")
	f.rules.failOpen = true
	resp, body := f.do(t, "GET", o.URL+"/f")
	assert.Equal(t, 200, resp.StatusCode, "fail-open bypasses the cache")
	assert.Equal(t, "x", body)
	assert.Equal(t, int64(2), f.cache.Stats().PolicyErrors)
}

func TestTruncatedBodyIsNotStored(t *testing.T) {
	f := newFixture(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	var served sync.WaitGroup
	served.Go(func() {
		for range 2 {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			bufio.NewReader(c).ReadString('\n')
			fmt.Fprint(c, "HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nContent-Length: 100\r\n\r\nonly part")
			c.Close()
		}
	})
	for range 2 {
		_, err := f.client.Get("http://" + ln.Addr().String() + "/t")
		_ = err // the body breaks off: the client sees an error or a short body
	}
	served.Wait()
	assert.Zero(t, f.cache.Stats().Store.Entries, "a cut body is never committed")
}

// atomicString is a string shared with an origin handler.
type atomicString struct {
	mu sync.Mutex
	s  string
}

func (a *atomicString) Store(s string) { a.mu.Lock(); a.s = s; a.mu.Unlock() }
func (a *atomicString) Load() string   { a.mu.Lock(); defer a.mu.Unlock(); return a.s }

func TestAConditionalMissIsNotStored(t *testing.T) {
	f := newFixture(t)
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("ETag", `"v1"`)
		if r.Header.Get("If-None-Match") == `"v1"` {
			w.WriteHeader(304)
			return
		}
		fmt.Fprint(w, "full body")
	})
	resp, _ := f.do(t, "GET", o.URL+"/c", "If-None-Match", `"v1"`)
	assert.Equal(t, 304, resp.StatusCode, "the client's own condition, answered by the origin")
	resp, body := f.do(t, "GET", o.URL+"/c")
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "full body", body, "the 304 was not stored as the answer to plain GETs")
}

func TestForcedRefreshStoresWithoutLookingUp(t *testing.T) {
	f := newFixture(t)
	var version atomicString
	version.Store("one")
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprint(w, version.Load())
	})
	f.do(t, "GET", o.URL+"/r")
	version.Store("two")
	f.rules.refresh = true
	_, body := f.do(t, "GET", o.URL+"/r")
	assert.Equal(t, "two", body, "store without lookup fetches")
	f.rules.refresh = false
	_, body = f.do(t, "GET", o.URL+"/r")
	assert.Equal(t, "two", body, "and what it fetched replaced the stored response")
	assert.Equal(t, int64(2), o.hits.Load())
}

// TestChainFieldsSurviveTheCache: fields a policy set before the cache
// (cookie's Set-Cookie) go out once with every kind of answer.
func TestChainFieldsSurviveTheCache(t *testing.T) {
	f := newFixtureBehind(t, func(ex *http1.Exchange) { ex.Response.Header().Set("Set-Cookie", "session=abc") })
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("ETag", `"e"`)
		fmt.Fprint(w, "x")
	})
	for _, tc := range []struct {
		name, method string
		header       []string
		status       int
	}{
		{"miss", "GET", nil, 200},
		{"hit", "GET", nil, 200},
		{"a 304 from the cache", "GET", []string{"If-None-Match", `"e"`}, 304},
		{"bypass", "POST", nil, 200},
	} {
		resp, _ := f.do(t, tc.method, o.URL+"/c", tc.header...)
		assert.Equal(t, tc.status, resp.StatusCode, tc.name)
		assert.Equal(t, []string{"session=abc"}, resp.Header.Values("Set-Cookie"), tc.name)
	}
}

// TestSameOriginPath: which Location or Content-Location values name a
// URI on the request's own host, and so are invalidated with it.
func TestSameOriginPath(t *testing.T) {
	out := &proxy.Outbound{Scheme: "http"}
	out.Header.Set("Host", "origin.test:8080")
	for v, want := range map[string]string{
		"/other":                             "/other",
		"/":                                  "/",
		"//elsewhere.test/x":                 "",
		"http://origin.test:8080/x?y":        "/x?y",
		"HTTP://ORIGIN.test:8080/x":          "/x",
		"http://origin.test:8080":            "",
		"https://origin.test:8080/x":         "",
		"http://origin.test:80/x":            "",
		"http://origin.test:8080.evil.test/": "",
		"":                                   "",
	} {
		assert.Equal(t, want, sameOriginPath(v, out), v)
	}
}

// TestDecisionsAreKeptWhereTheyHold: every CacheRequest gets the Cache's
// one Memo, and a stored response's CacheLookups get its own, which a
// refreshed response does not inherit.
func TestDecisionsAreKeptWhereTheyHold(t *testing.T) {
	f := newFixture(t)
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		if r.URL.Path == "/stale" {
			w.Header().Set("Cache-Control", "max-age=0")
			w.Header().Set("ETag", `"v1"`)
			if r.Header.Get("If-None-Match") != "" {
				w.WriteHeader(304)
				return
			}
		}
		fmt.Fprint(w, "body")
	})
	for _, path := range []string{"/a", "/a", "/a", "/b", "/b", "/stale", "/stale", "/stale"} {
		f.do(t, "GET", o.URL+path)
	}
	requests := f.rules.memosOf("request")
	require.Len(t, requests, 8)
	require.NotNil(t, requests[0])
	for _, m := range requests {
		assert.Same(t, requests[0], m)
	}
	lookups := f.rules.memosOf("lookup") // /a twice, /b once, /stale twice
	require.Len(t, lookups, 5)
	assert.NotNil(t, lookups[0])
	assert.Same(t, lookups[0], lookups[1], "one stored response, one Memo")
	assert.NotSame(t, lookups[0], lookups[2], "another stored response")
	assert.NotSame(t, lookups[3], lookups[4], "the revalidated response is a new one")
	assert.NotSame(t, requests[0], lookups[0])
}

// heldConditionals counts an origin's conditional requests and holds the
// first until release is closed, so that other requests can come while a
// revalidation is in flight.
type heldConditionals struct {
	count            atomic.Int64
	arrived, release chan struct{}
}

func newHeldConditionals() *heldConditionals {
	return &heldConditionals{arrived: make(chan struct{}), release: make(chan struct{})}
}

// hold counts a conditional request, holding the first, and returns the
// count.
func (h *heldConditionals) hold() int64 {
	n := h.count.Add(1)
	if n == 1 {
		close(h.arrived)
		<-h.release
	}
	return n
}

// during runs leader, and once its revalidation is held at the origin,
// waiter; it gives the waiter time to join the revalidation in flight
// (microseconds, given a fifth of a second on a loaded machine), lets the
// origin answer, and waits for both.
func (h *heldConditionals) during(leader, waiter func()) {
	var wg sync.WaitGroup
	wg.Go(leader)
	<-h.arrived
	wg.Go(waiter)
	time.Sleep(200 * time.Millisecond)
	close(h.release)
	wg.Wait()
}

// getConcurrently GETs url n times at once and returns the bodies.
func (f *fixture) getConcurrently(t *testing.T, url string, n int) []string {
	var wg sync.WaitGroup
	bodies := make([]string, n)
	for i := range bodies {
		wg.Go(func() { _, bodies[i] = f.do(t, "GET", url) })
	}
	wg.Wait()
	return bodies
}

// revalidatedOrigin serves "the body" with Cache-Control cc and ETag
// "v1", and answers a conditional request 304 after onConditional, when
// set, is given its count; it counts the conditional requests.
func revalidatedOrigin(t *testing.T, cc string, onConditional func(n int64)) (*origin, *atomic.Int64) {
	var conditional atomic.Int64
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", cc)
		w.Header().Set("ETag", `"v1"`)
		if r.Header.Get("If-None-Match") == "" {
			fmt.Fprint(w, "the body")
			return
		}
		n := conditional.Add(1)
		if onConditional != nil {
			onConditional(n)
		}
		w.WriteHeader(304)
	})
	return o, &conditional
}

// storeStale fetches url through f, so that it is stored, and waits until
// it is stale (its origin says max-age=1).
func storeStale(t *testing.T, f *fixture, url string) {
	t.Helper()
	f.do(t, "GET", url)
	time.Sleep(1100 * time.Millisecond)
}
