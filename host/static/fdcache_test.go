package static

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func openFDs(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(entries)
}

func TestFDCacheRevalidates(t *testing.T) {
	if sysStatAt == 0 {
		t.Skip("no open-file cache on this platform")
	}
	base := t.TempDir()
	root := filepath.Join(base, "www")
	write(t, root, "page.html", "version 1")
	write(t, base, "secret.txt", "secret")
	h := newHandler(t, Config{Root: root}, false)
	require.NotNil(t, h.cache)

	hit := func(want string) {
		t.Helper()
		res := get(t, h, "GET", "/page.html")
		require.Equal(t, 200, res.StatusCode)
		assert.Equal(t, want, res.body)
		assert.Equal(t, int64(len(want)), res.ContentLength)
	}
	hit("version 1")
	e := h.cache.acquire([]byte("page.html"))
	require.NotNil(t, e, "a small file is cached after its first GET")
	e.release()
	hit("version 1")

	// Rewritten in place: same inode, the descriptor reads the new bytes.
	f, err := os.OpenFile(filepath.Join(root, "page.html"), os.O_WRONLY|os.O_TRUNC, 0)
	require.NoError(t, err)
	f.WriteString("version 2, longer")
	f.Close()
	hit("version 2, longer")

	// Replaced by rename: a new inode, so a new open.
	write(t, root, "next.html", "version 3")
	require.NoError(t, os.Rename(filepath.Join(root, "next.html"), filepath.Join(root, "page.html")))
	hit("version 3")

	// Grown past the cached size: served whole, through the os.File path.
	big := strings.Repeat("z", 3*smallBody)
	write(t, root, "page.html", big)
	hit(big)
	write(t, root, "page.html", "small again")
	hit("small again")

	// Replaced by a link that leaves the root: refused, never served from
	// the old descriptor.
	require.NoError(t, os.Remove(filepath.Join(root, "page.html")))
	require.NoError(t, os.Symlink(filepath.Join(base, "secret.txt"), filepath.Join(root, "page.html")))
	res := get(t, h, "GET", "/page.html")
	assert.Equal(t, 403, res.StatusCode)

	// Deleted.
	require.NoError(t, os.Remove(filepath.Join(root, "page.html")))
	assert.Equal(t, 404, get(t, h, "GET", "/page.html").StatusCode)
	assert.Nil(t, h.cache.acquire([]byte("page.html")), "dropped")
}

func TestFDCacheBounded(t *testing.T) {
	if sysStatAt == 0 {
		t.Skip("no open-file cache on this platform")
	}
	root := filepath.Join(t.TempDir(), "www")
	const files = 3000
	for i := range files {
		write(t, root, fmt.Sprintf("f%d.txt", i), fmt.Sprint(i))
	}
	before := openFDs(t)
	h, err := New(Config{Root: root})
	require.NoError(t, err)
	for round := range 2 {
		for i := range files {
			res := get(t, h, "GET", fmt.Sprintf("/f%d.txt", i))
			require.Equal(t, fmt.Sprint(i), res.body, "round %d", round)
		}
	}
	held := openFDs(t) - before
	assert.LessOrEqual(t, held, len(h.cache.shards)*fdCacheShardSize+8, "descriptors are bounded")
	require.NoError(t, h.Close())
	assert.LessOrEqual(t, openFDs(t)-before, 2, "Close releases the cached descriptors")
}

// TestFDCacheRacingReplace has readers fetch a small file while writers
// replace it by PUT: every read sees one complete version.
func TestFDCacheRacingReplace(t *testing.T) {
	root := makeRoot(t)
	h := newHandler(t, Config{Root: root, Writes: true}, false)
	valid := map[string]bool{}
	var versions []string
	for i := range 6 {
		v := strings.Repeat(string(rune('a'+i)), 100+i*300)
		versions = append(versions, v)
		valid[v] = true
	}
	require.Equal(t, 201, serve(t, h, withBody("PUT", "/hot.txt", versions[0])).StatusCode)
	var wg sync.WaitGroup
	var mu sync.Mutex
	bad := 0
	for i := range 60 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%4 == 0 {
				serve(t, h, withBody("PUT", "/hot.txt", versions[i%len(versions)]))
				return
			}
			res := get(t, h, "GET", "/hot.txt")
			if res.StatusCode != 200 || !valid[res.body] || res.ContentLength != int64(len(res.body)) {
				mu.Lock()
				bad++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	assert.Zero(t, bad)
}
