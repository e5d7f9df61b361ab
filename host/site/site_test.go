package site

import (
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"wasmhttpd/host/cache"
	"wasmhttpd/host/config"
)

func testSite(t *testing.T) *Site {
	t.Helper()
	cfg := config.Default()
	cfg.Roots[config.DefaultRoot].Path = t.TempDir()
	s, err := Build(cfg, Env{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	return s
}

func closed(s *Site) bool { return s.closed.Load() }

// closesSoon reports whether s closes shortly: the last release closes a
// site in the background.
func closesSoon(t *testing.T, s *Site) bool {
	return assert.Eventually(t, func() bool { return closed(s) }, 5*time.Second, time.Millisecond)
}

// TestLiveSiteClosesOldSiteAfterItsLastRequest checks the hand-over of a
// reload: a request in flight keeps its site open; the site closes when
// that request ends, and new requests go to the new site.
func TestLiveSiteClosesOldSiteAfterItsLastRequest(t *testing.T) {
	oldSite, newSite := testSite(t), testSite(t)
	live := NewLive(oldSite)

	inFlight := live.acquire()
	require.Same(t, oldSite, inFlight)
	live.Swap(newSite)
	assert.Equal(t, int64(1), oldSite.refs.Load(), "the request in flight still holds the old site")
	assert.Same(t, newSite, live.acquire(), "new requests get the new site")
	newSite.release()

	inFlight.release()
	assert.Equal(t, int64(0), oldSite.refs.Load())
	closesSoon(t, oldSite)
	assert.False(t, closed(newSite))
	live.Close()
	closesSoon(t, newSite)
}

func TestLiveSiteConcurrentSwaps(t *testing.T) {
	sites := []*Site{testSite(t)}
	live := NewLive(sites[0])
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 2000 {
				s := live.acquire()
				assert.False(t, closed(s), "a site in use is never closed")
				s.release()
			}
		}()
	}
	for range 20 {
		s := testSite(t)
		sites = append(sites, s)
		live.Swap(s)
	}
	wg.Wait()
	for _, s := range sites[:len(sites)-1] {
		closesSoon(t, s)
	}
	live.Close()
}

// TestADeciderInAChainIsLoadedOnce: the cache's decider that also runs in
// the proxy's chain is one policy, reported once, not a second module
// whose counters would hide the first's.
func TestADeciderInAChainIsLoadedOnce(t *testing.T) {
	wasm, err := filepath.Abs("../../policies/cache.wasm")
	require.NoError(t, err)
	if _, err := os.Stat(wasm); err != nil {
		t.Skip("policies/cache.wasm is not built; run make policies")
	}
	cfg := config.Default()
	cfg.Roots[config.DefaultRoot].Path = t.TempDir()
	cfg.Wasm.CacheDir = ""
	cfg.Policies = map[string]*config.Policy{"cache": {Name: "cache", Wasm: wasm, OnError: "fail-closed"}}
	cfg.Proxy.Policies = []string{"cache"}
	cfg.Cache.Policy = "cache"
	store, err := cache.Open(t.TempDir(), cache.Options{MaxSize: 1 << 20, MaxEntries: 10, MaxObjectSize: 1 << 20,
		Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	t.Cleanup(func() { store.Close() })
	s, err := Build(cfg, Env{Logger: slog.New(slog.DiscardHandler), Store: store})
	require.NoError(t, err)
	live := NewLive(s)
	t.Cleanup(live.Close)
	require.Len(t, s.policies, 1)
	assert.Len(t, live.Policies(), 1)
}
