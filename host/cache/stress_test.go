package cache

import (
	"context"
	"io"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestConcurrentUse runs every operation at once on a small store, so
// that evictions, replacements, updates and invalidations race, then
// checks that the index, the counters, the bodies kept in memory and the
// directory agree.
func TestConcurrentUse(t *testing.T) {
	dir := t.TempDir()
	s, _ := open(t, dir, Options{MaxEntries: 20, MaxSize: 40 << 10, MaxObjectSize: 8 << 10, MaxMemory: 8 << 10})
	keys := keyed(30)
	encodings := []string{"gzip", "br", ""}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			for range 150 {
				key := keys[rng.IntN(len(keys))]
				req := header("Accept-Encoding", encodings[rng.IntN(len(encodings))])
				switch op := rng.IntN(10); {
				case op < 4:
					e, fill, err := s.LookupOrFill(context.Background(), key, req)
					switch {
					case e != nil:
						checkHit(t, s, e)
						if op == 0 {
							s.UpdateHeaders(e, header("X-Updated", "1"), e.Times, e.Freshness)
						}
					case fill != nil:
						fillWith(t, fill, key, rng.IntN(10<<10))
					default:
						assert.ErrorIs(t, err, ErrFillAborted)
					}
				case op < 8:
					if e := s.Lookup(key, req); e != nil {
						checkHit(t, s, e)
					}
				case op < 9:
					s.Invalidate(key)
				default:
					w, err := s.Begin(key, req, response(-1, "Vary", "Accept-Encoding"))
					if assert.NoError(t, err) {
						io.WriteString(w, bodyFor(key, rng.IntN(4<<10)))
						w.Abort()
					}
				}
			}
		})
	}
	wg.Wait()
	st := s.Stats()
	for name, n := range map[string]int64{"hits": st.Hits, "stores": st.Stores, "evictions": st.Evictions, "aborts": st.Aborted} {
		assert.Positive(t, n, "the run had %s", name)
	}
	assertConsistent(t, s)
	require.NoError(t, s.Close())
	s2, _ := open(t, dir, Options{MaxEntries: 20, MaxSize: 40 << 10})
	assertConsistent(t, s2)
	assert.Equal(t, s.Stats().Entries, s2.Stats().Entries, "a restart finds what was there")
	assert.Zero(t, s2.Stats().Errors)
}

// bodyFor is a body of n bytes that names its key, so a hit can tell
// whether it got its own key's body.
func bodyFor(key string, n int) string {
	return strings.Repeat(key+"|", n/(len(key)+1)+1)[:n]
}

// fillWith stores a body of n bytes (possibly too large) for key.
func fillWith(t *testing.T, fill *Fill, key string, n int) {
	w, err := fill.Begin(response(n, "Vary", "Accept-Encoding", "X-Len", strconv.Itoa(n)))
	if err != nil {
		assert.ErrorIs(t, err, ErrTooLarge)
		return
	}
	defer w.Abort()
	io.WriteString(w, bodyFor(key, n))
	if _, err := w.Commit(); err != nil {
		assert.ErrorIs(t, err, ErrInvalidated)
	}
}

// checkHit reads a hit through Body, from memory or from its file; it may
// have been evicted meanwhile.
func checkHit(t *testing.T, s *Store, e *Entry) {
	b, f, err := s.Body(e)
	if err == ErrGone {
		return
	}
	if !assert.NoError(t, err) {
		return
	}
	if f != nil {
		defer f.Close()
		b, err = io.ReadAll(&io.LimitedReader{R: f, N: e.Size})
		assert.NoError(t, err)
	}
	assert.Equal(t, bodyFor(e.Key, int(e.Size)), string(b))
	assert.Equal(t, strconv.FormatInt(e.Size, 10), string(e.Header.Get("X-Len")))
}

// assertConsistent checks that the queue, the key map, the counters and
// the files on disk describe the same entries, within the limits.
func assertConsistent(t *testing.T, s *Store) {
	t.Helper()
	s.mu.RLock()
	defer s.mu.RUnlock()
	var want []string
	count, bytes, memory := 0, int64(0), int64(0)
	for n := s.tail; n != nil; n = n.next {
		e := n.entry
		require.NotNil(t, e)
		assert.Same(t, n, e.node)
		if m := n.memory.Load(); m != nil {
			assert.Equal(t, e.bodyGen, m.bodyGen, "the body in memory is the entry's")
			memory += int64(len(m.b))
		}
		assert.Contains(t, s.keys[e.Key], n)
		count++
		bytes += e.diskSize()
		want = append(want,
			filepath.Join(fanOut(e.id[0]), fileName(e.id, e.gen, metaSuffix)),
			filepath.Join(fanOut(e.id[0]), fileName(e.id, e.bodyGen, bodySuffix)))
	}
	inMap := 0
	for _, variants := range s.keys {
		inMap += len(variants)
	}
	assert.Equal(t, count, inMap)
	assert.Equal(t, count, s.entries)
	assert.Equal(t, bytes, s.bytes)
	assert.LessOrEqual(t, count, s.opts.MaxEntries)
	assert.LessOrEqual(t, bytes, s.opts.MaxSize)
	assert.Equal(t, memory, s.memory.Load(), "the memory budget counts the bodies in the index")
	assert.LessOrEqual(t, memory, s.opts.MaxMemory)
	got := diskFiles(t, filepath.Dir(s.root))
	slices.Sort(got)
	slices.Sort(want)
	assert.Equal(t, want, got, "the files on disk are exactly the entries'")
}
