package e2e

import (
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The caching proxy end to end: the real binary, the real cache policy
// (policies/cache.wasm), and Go test origins on loopback that send exact
// header fields and count what reaches them. Ages in the policy are whole
// seconds, so staleness is made with an Age field from the origin rather
// than by sleeping.

// scriptedOrigin is a test origin with a handler per path; it counts the
// requests of each path and keeps the last one's header fields.
type scriptedOrigin struct {
	*httptest.Server
	mu       sync.Mutex
	handlers map[string]http.HandlerFunc
	hits     map[string]int
	last     map[string]http.Header
}

func newScriptedOrigin(t *testing.T) *scriptedOrigin {
	o := &scriptedOrigin{handlers: map[string]http.HandlerFunc{}, hits: map[string]int{}, last: map[string]http.Header{}}
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.mu.Lock()
		o.hits[r.URL.Path]++
		o.last[r.URL.Path] = r.Header.Clone()
		h := o.handlers[r.URL.Path]
		o.mu.Unlock()
		if h == nil {
			http.NotFound(w, r)
			return
		}
		h(w, r)
	}))
	t.Cleanup(o.Close)
	return o
}

// handle serves path with h and returns its absolute URL.
func (o *scriptedOrigin) handle(path string, h http.HandlerFunc) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.handlers[path] = h
	return o.URL + path
}

// count is how many requests for path reached the origin.
func (o *scriptedOrigin) count(path string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.hits[path]
}

// lastHeader is the header of the last request for path.
func (o *scriptedOrigin) lastHeader(path string) http.Header {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.last[path]
}

// fixed answers body with the given fields (name, value pairs), or 304
// when the request's If-None-Match names the ETag among them.
func fixed(body string, fields ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i+1 < len(fields); i += 2 {
			w.Header().Set(fields[i], fields[i+1])
		}
		if etag := w.Header().Get("ETag"); etag != "" && r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		io.WriteString(w, body)
	}
}

// sequence answers the nth request with the nth handler, and every later
// one with the last.
func sequence(handlers ...http.HandlerFunc) http.HandlerFunc {
	var n atomic.Int64
	return func(w http.ResponseWriter, r *http.Request) {
		i := min(int(n.Add(1))-1, len(handlers)-1)
		handlers[i](w, r)
	}
}

// failing answers 503, as an origin in trouble.
func failing(w http.ResponseWriter, _ *http.Request) {
	http.Error(w, "origin down", http.StatusServiceUnavailable)
}

// waitStored waits until the proxy can answer url from its store: a
// response is committed just after the client has it, and requests that
// do not wait for a fill in progress (only-if-cached, no-store, PURGE)
// could otherwise race the commit. Only-if-cached never reaches the
// origin for a fresh entry, so the polling leaves the counts alone.
func waitStored(t *testing.T, c *http.Client, url string) {
	t.Helper()
	require.Eventually(t, func() bool {
		resp, _ := fetch(t, c, "GET", url, nil, "Cache-Control", "only-if-cached")
		return resp.StatusCode == 200
	}, 5*time.Second, 5*time.Millisecond, "%s is never stored", url)
}

// step is one request of a directive case and what it must produce.
type step struct {
	method      string   // "" means GET
	header      []string // request fields, name, value pairs
	status      int      // 0 means 200
	body        string   // "" means not checked
	hits        int      // the origin's count for the path afterwards
	cacheStatus string   // a regular expression Cache-Status matches
	conditional string   // when set, the If-None-Match the origin last saw
	stored      bool     // wait for the response to be committed before the next step
}

func TestCacheDirectives(t *testing.T) {
	o := newScriptedOrigin(t)
	inst := startServer(t, cachingConfig(t, t.TempDir(), ""))
	c := viaProxy(inst.proxy(), nil)
	httpDate := func(d time.Duration) string { return time.Now().Add(d).UTC().Format(http.TimeFormat) }
	const (
		miss  = "wasmhttpd; fwd=miss; fwd-status=200; stored"
		hit   = "wasmhttpd; hit; ttl="
		to304 = "wasmhttpd; fwd=stale; fwd-status=304; stored"
		asked = "wasmhttpd; fwd=request; fwd-status=304; stored" // the request asked for the revalidation
	)
	// A fresh response with a validator, which the origin confirms
	// with 304, and one already 30 s old and stale after 10 s.
	fresh := fixed("fresh", "Cache-Control", "max-age=60", "ETag", `"r1"`)
	stale := fixed("old", "Cache-Control", "max-age=10", "Age", "30", "ETag", `"s1"`)

	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		steps   []step
	}{
		// Response directives.
		{"max-age", fixed("a", "Cache-Control", "max-age=60"), []step{
			{body: "a", hits: 1, cacheStatus: miss + `; ttl=(59|60)$`},
			{body: "a", hits: 1, cacheStatus: hit},
		}},
		{"s-maxage over max-age", fixed("b", "Cache-Control", "max-age=0, s-maxage=60"), []step{
			{hits: 1, cacheStatus: `stored; ttl=(59|60)$`},
			{body: "b", hits: 1, cacheStatus: hit},
		}},
		{"Expires", fixed("c", "Expires", httpDate(time.Hour)), []step{
			{hits: 1, cacheStatus: miss},
			{body: "c", hits: 1, cacheStatus: hit},
		}},
		{"Expires in the past, no validator", fixed("d", "Expires", httpDate(-time.Hour)), []step{
			{hits: 1, cacheStatus: `detail="never fresh, no validator"`},
			{body: "d", hits: 2},
		}},
		{"heuristic freshness from Last-Modified", fixed("e", "Last-Modified", httpDate(-10000*time.Second)), []step{
			{hits: 1, cacheStatus: miss},
			{body: "e", hits: 1, cacheStatus: hit},
		}},
		{"no-store", fixed("f", "Cache-Control", "no-store, max-age=60"), []step{
			{hits: 1, cacheStatus: `detail="no-store"`},
			{body: "f", hits: 2},
		}},
		{"private", fixed("g", "Cache-Control", "private, max-age=60"), []step{
			{hits: 1, cacheStatus: `detail="private"`},
			{body: "g", hits: 2},
		}},
		{"response no-cache revalidates every time", fixed("h", "Cache-Control", "no-cache, max-age=60", "ETag", `"h1"`), []step{
			{hits: 1, cacheStatus: miss},
			{body: "h", hits: 2, conditional: `"h1"`, cacheStatus: to304},
			{body: "h", hits: 3, conditional: `"h1"`, cacheStatus: to304},
		}},
		{"must-revalidate: no stale serving", sequence(
			fixed("i", "Cache-Control", "max-age=10, must-revalidate, stale-if-error=600", "Age", "30", "ETag", `"i1"`),
			failing), []step{
			{body: "i", hits: 1, cacheStatus: miss},
			{header: []string{"Cache-Control", "max-stale"}, status: 503, hits: 2, conditional: `"i1"`},
		}},
		{"Vary: two variants", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "max-age=60")
			w.Header().Set("Vary", "Accept-Language")
			io.WriteString(w, "lang="+r.Header.Get("Accept-Language"))
		}, []step{
			{header: []string{"Accept-Language", "en"}, body: "lang=en", hits: 1, cacheStatus: miss},
			{header: []string{"Accept-Language", "fr"}, body: "lang=fr", hits: 2, cacheStatus: miss},
			{header: []string{"Accept-Language", "en"}, body: "lang=en", hits: 2, cacheStatus: hit},
			{header: []string{"Accept-Language", "fr"}, body: "lang=fr", hits: 2, cacheStatus: hit},
		}},
		{"Vary: * is never stored", fixed("j", "Cache-Control", "max-age=60", "Vary", "*"), []step{
			{hits: 1, cacheStatus: `detail="vary \*"`},
			{body: "j", hits: 2},
		}},
		{"Authorization without public", fixed("k", "Cache-Control", "max-age=60"), []step{
			{header: []string{"Authorization", "Basic dTpw"}, hits: 1, cacheStatus: `detail="authorization"`},
			{header: []string{"Authorization", "Basic dTpw"}, body: "k", hits: 2},
		}},
		{"Authorization with public", fixed("l", "Cache-Control", "public, max-age=60"), []step{
			{header: []string{"Authorization", "Basic dTpw"}, hits: 1, cacheStatus: miss},
			{header: []string{"Authorization", "Basic dTpw"}, body: "l", hits: 1, cacheStatus: hit},
		}},

		// Request directives.
		{"request no-cache", fresh, []step{
			{hits: 1, cacheStatus: miss},
			{header: []string{"Cache-Control", "no-cache"}, body: "fresh", hits: 2, conditional: `"r1"`, cacheStatus: asked},
		}},
		{"Pragma: no-cache", fresh, []step{
			{hits: 1, cacheStatus: miss},
			{header: []string{"Pragma", "no-cache"}, body: "fresh", hits: 2, conditional: `"r1"`, cacheStatus: asked},
		}},
		{"request no-store: served from the cache", fresh, []step{
			{hits: 1, cacheStatus: miss, stored: true},
			{header: []string{"Cache-Control", "no-store"}, body: "fresh", hits: 1, cacheStatus: hit},
		}},
		{"request no-store: not stored", fresh, []step{
			{header: []string{"Cache-Control", "no-store"}, hits: 1, cacheStatus: `fwd=miss; fwd-status=200; detail="request no-store"$`},
			{body: "fresh", hits: 2, cacheStatus: miss},
		}},
		{"HEAD: looked up, never stored", fresh, []step{
			{method: "HEAD", hits: 1, cacheStatus: `fwd=miss; fwd-status=200; detail="method"$`},
			{hits: 2, cacheStatus: miss, stored: true},
			{method: "HEAD", hits: 2, cacheStatus: hit},
		}},
		{"request max-age=0", fixed("m", "Cache-Control", "max-age=60", "Age", "5", "ETag", `"m1"`), []step{
			{hits: 1, cacheStatus: miss},
			{header: []string{"Cache-Control", "max-age=30"}, body: "m", hits: 1, cacheStatus: hit},
			{header: []string{"Cache-Control", "max-age=0"}, body: "m", hits: 2, conditional: `"m1"`, cacheStatus: asked},
		}},
		{"request min-fresh", fresh, []step{
			{hits: 1, cacheStatus: miss},
			{header: []string{"Cache-Control", "min-fresh=10"}, body: "fresh", hits: 1, cacheStatus: hit},
			{header: []string{"Cache-Control", "min-fresh=120"}, body: "fresh", hits: 2, conditional: `"r1"`, cacheStatus: to304},
		}},
		{"request max-stale", stale, []step{
			{hits: 1, cacheStatus: miss},
			{header: []string{"Cache-Control", "max-stale=60"}, body: "old", hits: 1, cacheStatus: `hit; ttl=-2\d; detail=max-stale`},
			{header: []string{"Cache-Control", "max-stale"}, body: "old", hits: 1, cacheStatus: "detail=max-stale"},
			{header: []string{"Cache-Control", "max-stale=5"}, body: "old", hits: 2, conditional: `"s1"`, cacheStatus: to304},
		}},
		{"only-if-cached", fresh, []step{
			{header: []string{"Cache-Control", "only-if-cached"}, status: 504, hits: 0},
			{hits: 1, cacheStatus: miss, stored: true},
			{header: []string{"Cache-Control", "only-if-cached"}, body: "fresh", hits: 1, cacheStatus: hit},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := "/" + strings.NewReplacer(" ", "-", ":", "", "*", "star", "=", "").Replace(tc.name)
			url := o.handle(path, tc.handler)
			for i, s := range tc.steps {
				method := s.method
				if method == "" {
					method = "GET"
				}
				resp, body := fetch(t, c, method, url, nil, s.header...)
				want := s.status
				if want == 0 {
					want = 200
				}
				assert.Equal(t, want, resp.StatusCode, "step %d", i+1)
				if s.body != "" {
					assert.Equal(t, s.body, body, "step %d", i+1)
				}
				assert.Equal(t, s.hits, o.count(path), "step %d: origin hits", i+1)
				assert.Regexp(t, s.cacheStatus, resp.Header.Get("Cache-Status"), "step %d", i+1)
				if s.conditional != "" {
					assert.Equal(t, s.conditional, o.lastHeader(path).Get("If-None-Match"), "step %d: a revalidation", i+1)
				}
				if s.stored {
					waitStored(t, c, url)
				}
			}
		})
	}

	t.Run("stale-while-revalidate", func(t *testing.T) {
		release := make(chan struct{})
		var once sync.Once
		unblock := func() { once.Do(func() { close(release) }) }
		t.Cleanup(unblock)
		url := o.handle("/swr", sequence(
			fixed("old", "Cache-Control", "max-age=10, stale-while-revalidate=600", "Age", "30", "ETag", `"w1"`),
			func(w http.ResponseWriter, r *http.Request) {
				<-release
				fixed("new", "Cache-Control", "max-age=600", "ETag", `"w2"`)(w, r)
			}))
		_, body := fetch(t, c, "GET", url, nil)
		require.Equal(t, "old", body)
		// The origin holds the revalidation until released: the stale
		// answer comes at once.
		resp, body := fetch(t, c, "GET", url, nil)
		assert.Equal(t, "old", body)
		assert.Regexp(t, `^wasmhttpd; hit; ttl=-2\d; detail=stale-while-revalidate$`, resp.Header.Get("Cache-Status"))
		require.Eventually(t, func() bool { return o.count("/swr") == 2 }, 5*time.Second, 5*time.Millisecond,
			"the background revalidation reaches the origin")
		assert.Equal(t, `"w1"`, o.lastHeader("/swr").Get("If-None-Match"))
		unblock()
		require.Eventually(t, func() bool {
			_, body := fetch(t, c, "GET", url, nil)
			return body == "new"
		}, 5*time.Second, 5*time.Millisecond, "the new version replaces the stale one")
		resp, body = fetch(t, c, "GET", url, nil)
		assert.Equal(t, "new", body)
		assert.Contains(t, resp.Header.Get("Cache-Status"), hit)
	})

	t.Run("stale-if-error: the origin answers 503", func(t *testing.T) {
		url := o.handle("/sie", sequence(
			fixed("kept", "Cache-Control", "max-age=10, stale-if-error=600", "Age", "30", "ETag", `"e1"`),
			failing))
		_, body := fetch(t, c, "GET", url, nil)
		require.Equal(t, "kept", body)
		resp, body := fetch(t, c, "GET", url, nil)
		assert.Equal(t, 200, resp.StatusCode)
		assert.Equal(t, "kept", body)
		assert.Equal(t, 2, o.count("/sie"), "the origin was asked, and failed")
	})

	t.Run("stale-if-error: the origin goes away", func(t *testing.T) {
		gone := httptest.NewServer(fixed("kept", "Cache-Control", "max-age=10, stale-if-error=600", "Age", "30", "ETag", `"g1"`))
		t.Cleanup(gone.Close)
		url := gone.URL + "/gone"
		_, body := fetch(t, c, "GET", url, nil)
		require.Equal(t, "kept", body)
		gone.Close()
		resp, body := fetch(t, c, "GET", url, nil)
		assert.Equal(t, 200, resp.StatusCode)
		assert.Equal(t, "kept", body)
	})

	t.Run("PURGE from loopback", func(t *testing.T) {
		url := o.handle("/purge", fresh)
		fetch(t, c, "GET", url, nil)
		waitStored(t, c, url)
		resp, body := fetch(t, c, "PURGE", url, nil)
		assert.Equal(t, 200, resp.StatusCode)
		assert.Contains(t, body, "purged 1 stored response(s) of "+url)
		resp, _ = fetch(t, c, "GET", url, nil)
		assert.Contains(t, resp.Header.Get("Cache-Status"), miss, "fetched again")
		assert.Equal(t, 2, o.count("/purge"))
		resp, _ = fetch(t, c, "PURGE", o.URL+"/never-stored", nil)
		assert.Equal(t, 404, resp.StatusCode)
		assert.Zero(t, o.count("/never-stored"), "PURGE never reaches the origin")
	})

	t.Run("an unsafe method invalidates its target and Location", func(t *testing.T) {
		other := o.handle("/post-other", fresh)
		url := o.handle("/post", func(w http.ResponseWriter, r *http.Request) {
			if r.Method == "POST" {
				w.Header().Set("Location", "/post-other")
				w.WriteHeader(201)
				return
			}
			fresh(w, r)
		})
		for _, u := range []string{url, other} {
			fetch(t, c, "GET", u, nil)
			waitStored(t, c, u)
		}
		resp, _ := fetch(t, c, "POST", url, nil)
		require.Equal(t, 201, resp.StatusCode)
		for _, path := range []string{"/post", "/post-other"} {
			resp, _ = fetch(t, c, "GET", o.URL+path, nil)
			assert.Contains(t, resp.Header.Get("Cache-Status"), miss, path)
		}
		assert.Equal(t, 3, o.count("/post"), "GET, POST, GET")
		assert.Equal(t, 2, o.count("/post-other"))
	})

	t.Run("50 concurrent misses collapse into one origin request", func(t *testing.T) {
		// The origin takes a while, so that the misses are waiting
		// together; any that came after the store would be hits, so the
		// count is exact whatever the timing.
		url := o.handle("/collapse", func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(200 * time.Millisecond)
			fixed("shared", "Cache-Control", "max-age=60")(w, r)
		})
		var wg sync.WaitGroup
		bodies := make([]string, 50)
		statuses := make([]int, 50)
		for i := range bodies {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, err := c.Get(url)
				if err != nil {
					bodies[i] = err.Error()
					return
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				bodies[i], statuses[i] = string(b), resp.StatusCode
			}()
		}
		wg.Wait()
		for i := range bodies {
			assert.Equal(t, 200, statuses[i], "request %d: %s", i, bodies[i])
			assert.Equal(t, "shared", bodies[i], "request %d", i)
		}
		assert.Equal(t, 1, o.count("/collapse"))
	})
}

// TestCacheEvictionAtTheSizeBound stores objects of 300 KiB in a cache of
// 1 MiB: the fourth evicts the first, and the files stay under the bound.
func TestCacheEvictionAtTheSizeBound(t *testing.T) {
	o := newScriptedOrigin(t)
	cacheDir := t.TempDir()
	inst := startServer(t, cachingConfig(t, cacheDir, "max_size = \"1MiB\"\nmax_object_size = \"512KiB\"\n"))
	c := viaProxy(inst.proxy(), nil)
	big := strings.Repeat("x", 300<<10)
	urls := make([]string, 4)
	for i := range urls {
		urls[i] = o.handle(fmt.Sprintf("/big/%d", i), fixed(big, "Cache-Control", "max-age=600"))
	}
	onDisk := func() (bodies int, total int64) {
		filepath.WalkDir(filepath.Join(cacheDir, "http"), func(path string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return nil
			}
			info, err := d.Info()
			if err != nil {
				return nil
			}
			if strings.HasSuffix(path, ".b") {
				bodies++
			}
			total += info.Size()
			return nil
		})
		return bodies, total
	}
	for i, url := range urls {
		resp, body := fetch(t, c, "GET", url, nil)
		require.Equal(t, len(big), len(body))
		require.Contains(t, resp.Header.Get("Cache-Status"), "stored")
		require.Eventually(t, func() bool {
			bodies, total := onDisk()
			return bodies == min(i+1, 3) && total <= 1<<20
		}, 5*time.Second, 5*time.Millisecond, "after %d stores", i+1)
	}
	_, total := onDisk()
	assert.Greater(t, total, int64(900<<10), "three objects are kept")

	resp, _ := fetch(t, c, "GET", urls[3], nil)
	assert.Contains(t, resp.Header.Get("Cache-Status"), "hit", "the newest is kept")
	resp, _ = fetch(t, c, "GET", urls[0], nil)
	assert.Contains(t, resp.Header.Get("Cache-Status"), "fwd=miss", "the oldest was evicted")
	assert.Equal(t, 2, o.count("/big/0"))
	require.Eventually(t, func() bool {
		bodies, total := onDisk()
		return bodies == 3 && total <= 1<<20
	}, 5*time.Second, 5*time.Millisecond)
}

// TestCacheVariantHotSwap runs the standard cache policy, then renames the
// operator's variant over its module while clients keep requesting: the
// forced host is cached for an hour whatever its origin says, the
// never-cached prefix bypasses the cache, and no request fails.
func TestCacheVariantHotSwap(t *testing.T) {
	o := newScriptedOrigin(t)
	forced := strings.TrimPrefix(o.URL, "http://")
	noCache := o.handle("/page", fixed("page", "Cache-Control", "no-cache"))
	account := o.handle("/account/me", fixed("me", "Cache-Control", "max-age=600"))
	loop := o.handle("/loop", fixed("loop", "Cache-Control", "max-age=1"))

	dir := t.TempDir()
	live := filepath.Join(dir, "cache.wasm")
	copyFile(t, "../policies/cache.wasm", live)
	variant := filepath.Join(dir, "variant.wasm")
	buildWasm(t, "examples/cache-variant", variant, fmt.Sprintf("-X main.forcedHost=%s -X main.neverPrefix=/account/", forced))
	config := cachingConfig(t, t.TempDir(), "")
	config = strings.Replace(config, filepath.Join(mustAbs(t, "../policies"), "cache.wasm"), live, 1)
	inst := startServer(t, config)
	c := viaProxy(inst.proxy(), nil)

	// Clients keep going across the swap.
	stop := loopClients(c, 2, loop, nil)
	defer func() {
		served, failed := stop()
		assert.Zero(t, failed, "no request failed across the swap")
		assert.Positive(t, served)
	}()

	// The standard rules: no-cache without a validator is not stored,
	// /account/ is cached as its max-age says.
	for range 2 {
		fetch(t, c, "GET", noCache, nil)
	}
	assert.Equal(t, 2, o.count("/page"))
	fetch(t, c, "GET", account, nil)
	waitStored(t, c, account)
	resp, _ := fetch(t, c, "GET", account, nil)
	assert.Contains(t, resp.Header.Get("Cache-Status"), "hit")
	assert.Equal(t, 1, o.count("/account/me"))

	copyFile(t, variant, live+".tmp")
	require.NoError(t, os.Rename(live+".tmp", live))
	require.Eventually(t, func() bool {
		return strings.Contains(inst.stderr.String(), `msg="policy module loaded" policy=cache generation=2`)
	}, 20*time.Second, 20*time.Millisecond, "the variant is swapped in:\n%s", inst.stderr.String())

	// The variant: the forced host's no-cache page is kept for an hour,
	// and /account/ goes to the origin every time, stored or not.
	resp, body := fetch(t, c, "GET", noCache, nil)
	assert.Equal(t, "page", body)
	assert.Contains(t, resp.Header.Get("Cache-Status"), "fwd=miss; fwd-status=200; stored; ttl=3600; detail=forced")
	waitStored(t, c, noCache)
	resp, _ = fetch(t, c, "GET", noCache, nil)
	assert.Contains(t, resp.Header.Get("Cache-Status"), "hit; ttl=")
	assert.Equal(t, 3, o.count("/page"))
	for range 2 {
		resp, body = fetch(t, c, "GET", account, nil)
		assert.Equal(t, "me", body)
		assert.Empty(t, resp.Header.Get("Cache-Status"), "the cache is bypassed")
	}
	assert.Equal(t, 3, o.count("/account/me"))
}

func mustAbs(t *testing.T, path string) string {
	t.Helper()
	abs, err := filepath.Abs(path)
	require.NoError(t, err)
	return abs
}

// TestCacheReusesThePolicysDecisions: the standard cache policy declares
// its decisions reusable, so repeated hits are answered without guest
// calls — and a request whose fields differ where the policy looked (a
// reload's no-cache) is still decided by the policy, in between hits.
func TestCacheReusesThePolicysDecisions(t *testing.T) {
	o := newScriptedOrigin(t)
	url := o.handle("/reused", fixed("reused", "Cache-Control", "max-age=60", "ETag", `"u1"`))
	inst := startServer(t, withAdmin(cachingConfig(t, t.TempDir(), "")))
	c := viaProxy(inst.proxy(), nil)
	fetch(t, c, "GET", url, nil)
	waitStored(t, c, url)

	hit := func() {
		t.Helper()
		resp, body := fetch(t, c, "GET", url, nil)
		assert.Equal(t, "reused", body)
		assert.Regexp(t, `^wasmhttpd; hit; ttl=\d+$`, resp.Header.Get("Cache-Status"))
		assert.NotEmpty(t, resp.Header.Get("Age"))
	}
	for range 5 {
		hit()
	}
	resp, body := fetch(t, c, "GET", url, nil, "Cache-Control", "no-cache")
	assert.Equal(t, "reused", body)
	assert.Regexp(t, `^wasmhttpd; fwd=request; fwd-status=304; stored; ttl=\d+$`, resp.Header.Get("Cache-Status"))
	assert.Equal(t, 2, o.count("/reused"))
	hit()
	assert.Equal(t, 2, o.count("/reused"))

	_, metrics := get(t, "GET", "http://"+inst.admin()+"/metrics", nil)
	m := regexp.MustCompile(`wasmhttpd_policy_reused_decisions_total\{policy="cache"\} (\d+)`).FindStringSubmatch(metrics)
	require.NotNil(t, m, metrics)
	reused, err := strconv.Atoi(m[1])
	require.NoError(t, err)
	// At least the cache_request of four of the five hits (the first
	// follows waitStored's only-if-cached, which read differently).
	assert.GreaterOrEqual(t, reused, 4)
}
