package cache

import (
	"io"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// read returns what Body gives for e, from memory or from the file, and
// whether it came from memory.
func read(t *testing.T, s *Store, e *Entry) (string, bool) {
	t.Helper()
	b, f, err := s.Body(e)
	require.NoError(t, err)
	if b != nil {
		require.Nil(t, f)
		return string(b), true
	}
	defer f.Close()
	got, err := io.ReadAll(&io.LimitedReader{R: f, N: e.Size})
	require.NoError(t, err)
	return string(got), false
}

// TestBodyInMemory: the first hit on a small body reads the file and
// keeps the bytes; later hits read no file (its removal goes unnoticed).
func TestBodyInMemory(t *testing.T) {
	s, _ := open(t, t.TempDir(), Options{MaxMemory: 1 << 20})
	e := put(t, s, "k", header(), "small body")
	got, fromMemory := read(t, s, e)
	assert.Equal(t, "small body", got)
	assert.True(t, fromMemory)
	assert.Equal(t, int64(len("small body")), s.Stats().Memory)

	require.NoError(t, os.Remove(bodyPath(s.root, e.id, e.bodyGen)))
	got, fromMemory = read(t, s, s.Lookup("k", header()))
	assert.Equal(t, "small body", got)
	assert.True(t, fromMemory, "no file read")
}

// TestBodyNotInMemory: large bodies, and small ones past the budget, are
// read from their files.
func TestBodyNotInMemory(t *testing.T) {
	s, _ := open(t, t.TempDir(), Options{MaxMemory: 100})
	large := put(t, s, "large", header(), strings.Repeat("L", SmallBody+1))
	first := put(t, s, "first", header(), strings.Repeat("1", 60))
	second := put(t, s, "second", header(), strings.Repeat("2", 60))
	for _, c := range []struct {
		e          *Entry
		fromMemory bool
	}{{large, false}, {first, true}, {second, false}, {first, true}} {
		got, fromMemory := read(t, s, c.e)
		assert.Equal(t, c.e.Size, int64(len(got)))
		assert.Equal(t, c.fromMemory, fromMemory, c.e.Key)
	}
	assert.Equal(t, int64(60), s.Stats().Memory)

	off, _ := open(t, t.TempDir(), Options{})
	_, fromMemory := read(t, off, put(t, off, "k", header(), "body"))
	assert.False(t, fromMemory, "MaxMemory 0 keeps nothing")
}

// TestBodyMemoryGivenBack: the budget follows the index. A header update
// keeps the body it shares; invalidation, replacement by a new body and
// eviction give the memory back.
func TestBodyMemoryGivenBack(t *testing.T) {
	s, _ := open(t, t.TempDir(), Options{MaxMemory: 1 << 20, MaxEntries: 2})
	e := put(t, s, "k", header(), "12345")
	read(t, s, e)
	u, err := s.UpdateHeaders(e, header("ETag", `"v2"`), e.Times, e.Freshness)
	require.NoError(t, err)
	_, fromMemory := read(t, s, u)
	assert.True(t, fromMemory, "the updated entry shares the body in memory")
	assert.Equal(t, int64(5), s.Stats().Memory)

	read(t, s, put(t, s, "k", header(), "replaced"))
	assert.Equal(t, int64(len("replaced")), s.Stats().Memory, "a new body replaces the old one's memory")

	assert.Equal(t, 1, s.Invalidate("k"))
	assert.Zero(t, s.Stats().Memory)

	read(t, s, put(t, s, "a", header(), "aaaa"))
	read(t, s, put(t, s, "b", header(), "bbbb"))
	put(t, s, "c", header(), "cccc") // evicts one of a and b
	assert.Equal(t, int64(4), s.Stats().Memory)
}

// TestBodyMemoryBudgetUnderConcurrentFirstHits: first hits on different
// small bodies that all passed Body's check before any was kept still keep
// no more than MaxMemory. The hits are interleaved by hand (the read from
// disk done, the keeping not yet) to make the race certain.
func TestBodyMemoryBudgetUnderConcurrentFirstHits(t *testing.T) {
	s, _ := open(t, t.TempDir(), Options{MaxMemory: 100})
	first := put(t, s, "first", header(), strings.Repeat("1", 60))
	second := put(t, s, "second", header(), strings.Repeat("2", 60))
	// Both hits have read their bodies with the budget empty.
	require.LessOrEqual(t, s.Stats().Memory+first.Size, int64(100))
	require.LessOrEqual(t, s.Stats().Memory+second.Size, int64(100))
	s.remember(first, []byte(body(t, first)))
	s.remember(second, []byte(body(t, second)))
	assert.Equal(t, int64(60), s.Stats().Memory, "the second body is past the budget")
	_, fromMemory := read(t, s, second)
	assert.False(t, fromMemory)
	got, fromMemory := read(t, s, first)
	assert.True(t, fromMemory)
	assert.Equal(t, strings.Repeat("1", 60), got)
}
