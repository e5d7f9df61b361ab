package site

import (
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
