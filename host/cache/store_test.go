package cache

import (
	"io"
	"net"
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

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	s, _ := open(t, dir, Options{})
	assert.Nil(t, s.Lookup("k", header()), "empty store")

	stored := put(t, s, "k", header(), "hello, cache", "Content-Type", "text/plain", "ETag", `"v1"`)
	e := s.Lookup("k", header())
	require.NotNil(t, e)
	assert.Same(t, stored, e)
	assert.Equal(t, "k", e.Key)
	assert.Equal(t, 200, e.Status)
	assert.Equal(t, "text/plain", string(e.Header.Get("Content-Type")))
	assert.Equal(t, `"v1"`, string(e.Header.Get("ETag")))
	assert.True(t, e.Times.Request.Equal(epoch))
	assert.True(t, e.Times.Response.Equal(epoch.Add(1e9)))
	assert.Equal(t, response(0).Freshness, e.Freshness)
	assert.EqualValues(t, 12, e.Size)
	assert.Equal(t, "hello, cache", body(t, e))

	st := s.Stats()
	assert.Equal(t, 1, st.Entries)
	assert.EqualValues(t, 12+e.metaLen, st.Bytes)
	assert.EqualValues(t, 1, st.Hits)
	assert.EqualValues(t, 1, st.Misses)
	assert.EqualValues(t, 1, st.Stores)
	assert.Empty(t, tmpFiles(t, dir), "nothing left in the temp directory")
	assert.Len(t, diskFiles(t, dir), 2, "one metadata and one body file")
}

func TestReplaceVariant(t *testing.T) {
	dir := t.TempDir()
	s, _ := open(t, dir, Options{})
	old := put(t, s, "k", header(), "old")
	f, err := old.OpenBody()
	require.NoError(t, err)
	defer f.Close()

	put(t, s, "k", header(), "newer")
	assert.Equal(t, "newer", body(t, s.Lookup("k", header())))
	assert.Equal(t, 1, s.Stats().Entries)
	assert.Len(t, diskFiles(t, dir), 2, "the old files are removed")
	b, err := io.ReadAll(f)
	require.NoError(t, err)
	assert.Equal(t, "old", string(b), "a body being sent stays readable")
	_, err = old.OpenBody()
	assert.ErrorIs(t, err, ErrGone)
}

func TestUnknownLength(t *testing.T) {
	s, _ := open(t, t.TempDir(), Options{})
	w, err := s.Begin("k", header(), response(-1))
	require.NoError(t, err)
	for range 3 {
		io.WriteString(w, "chunk")
	}
	e, err := w.Commit()
	require.NoError(t, err)
	assert.EqualValues(t, 15, e.Size)
	assert.Equal(t, "chunkchunkchunk", body(t, e))
}

func TestCommitLength(t *testing.T) {
	for _, tc := range []struct {
		name    string
		written string
	}{
		{"short", "12345"},
		{"long", "12345678901"},
		{"empty", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s, _ := open(t, dir, Options{})
			w, err := s.Begin("k", header(), response(10))
			require.NoError(t, err)
			n, err := io.WriteString(w, tc.written)
			assert.NoError(t, err, "Write never fails")
			assert.Equal(t, len(tc.written), n)
			_, err = w.Commit()
			assert.ErrorIs(t, err, ErrLength)
			assert.Nil(t, s.Lookup("k", header()))
			assert.Empty(t, diskFiles(t, dir), "the temp file is removed")
			assert.EqualValues(t, 1, s.Stats().Aborted)
		})
	}
}

func TestMaxObjectSize(t *testing.T) {
	dir := t.TempDir()
	s, _ := open(t, dir, Options{MaxObjectSize: 100})

	_, err := s.Begin("declared", header(), response(101))
	assert.ErrorIs(t, err, ErrTooLarge, "a declared length over the limit is refused up front")

	w, err := s.Begin("streamed", header(), response(-1))
	require.NoError(t, err)
	chunk := strings.Repeat("x", 60)
	n, err := io.WriteString(w, chunk)
	require.NoError(t, err)
	assert.Equal(t, 60, n)
	assert.NoError(t, w.Err())
	n, err = io.WriteString(w, chunk)
	assert.NoError(t, err, "the proxy's stream to its client goes on")
	assert.Equal(t, 60, n)
	assert.ErrorIs(t, w.Err(), ErrTooLarge)
	assert.Empty(t, diskFiles(t, dir), "the writer aborted itself at once")
	_, err = w.Commit()
	assert.ErrorIs(t, err, ErrTooLarge)
	assert.Nil(t, s.Lookup("streamed", header()))

	put(t, s, "exact", header(), strings.Repeat("y", 100))
	assert.EqualValues(t, 2, s.Stats().Aborted)
}

func TestAbort(t *testing.T) {
	dir := t.TempDir()
	s, _ := open(t, dir, Options{})
	w, err := s.Begin("k", header(), response(-1))
	require.NoError(t, err)
	io.WriteString(w, "partial")
	assert.Len(t, tmpFiles(t, dir), 1)
	assert.Nil(t, s.Lookup("k", header()), "nothing is visible before Commit")
	w.Abort()
	w.Abort()
	assert.Empty(t, diskFiles(t, dir))
	_, err = w.Commit()
	assert.ErrorIs(t, err, ErrAborted)
	assert.Nil(t, s.Lookup("k", header()))
}

func TestBadResponse(t *testing.T) {
	s, _ := open(t, t.TempDir(), Options{})
	for _, resp := range []Response{
		{Status: 99, Header: header(), Length: 0},
		{Status: 200, Length: 0},
		{Status: 200, Header: header(), Length: -2},
	} {
		_, err := s.Begin("k", header(), resp)
		assert.ErrorContains(t, err, "bad response")
	}
}

// TestEvictionOrder follows SIEVE: the hand runs from the oldest entry,
// sparing (and clearing) the ones hit since it last passed.
func TestEvictionOrder(t *testing.T) {
	keys := keyed(6)
	s, _ := open(t, t.TempDir(), Options{MaxEntries: 3})
	for _, k := range keys[:3] {
		put(t, s, k, header(), "body")
	}
	require.NotNil(t, s.Lookup(keys[0], header()))

	put(t, s, keys[3], header(), "body")
	assert.Equal(t, []string{"0", "2", "3"}, cached(s, keys...), "1, the oldest not visited, goes")
	put(t, s, keys[4], header(), "body")
	assert.Equal(t, []string{"0", "3", "4"}, cached(s, keys...), "then 2")
	put(t, s, keys[5], header(), "body")
	assert.Equal(t, []string{"0", "4", "5"}, cached(s, keys...),
		"then 3: 0 waits for the hand's next lap, while new entries that nobody asks for go quickly")
	st := s.Stats()
	assert.EqualValues(t, 3, st.Evictions)
	assert.Equal(t, 3, st.Entries)
}

func TestEvictionBySize(t *testing.T) {
	dir := t.TempDir()
	keys := keyed(5)
	probe, _ := open(t, t.TempDir(), Options{})
	one := put(t, probe, keys[0], header(), strings.Repeat("b", 1000)).diskSize()

	s, _ := open(t, dir, Options{MaxSize: 3 * one})
	for _, k := range keys[:3] {
		put(t, s, k, header(), strings.Repeat("b", 1000))
	}
	assert.Equal(t, 3*one, s.Stats().Bytes)
	assert.Equal(t, []string{"0", "1", "2"}, cached(s, keys...))
	s.Lookup(keys[1], header())
	put(t, s, keys[3], header(), strings.Repeat("b", 1000))
	assert.Equal(t, []string{"1", "2", "3"}, cached(s, keys...))

	// A larger object makes room for itself by evicting more than one.
	put(t, s, keys[4], header(), strings.Repeat("b", 1900))
	assert.LessOrEqual(t, s.Stats().Bytes, 3*one)
	assert.Equal(t, []string{"1", "4"}, cached(s, keys...))
	assert.Len(t, diskFiles(t, dir), 4, "evicted files are removed")

	_, err := s.Begin("huge", header(), response(int(3*one+1)))
	assert.ErrorIs(t, err, ErrTooLarge, "an object larger than the whole cache is refused")
}

func TestEvictedBodyStaysReadable(t *testing.T) {
	s, _ := open(t, t.TempDir(), Options{MaxEntries: 1})
	e := put(t, s, "a", header(), "still here")
	f, err := e.OpenBody()
	require.NoError(t, err)
	defer f.Close()
	put(t, s, "b", header(), "other")
	require.Nil(t, s.Lookup("a", header()))
	b, err := io.ReadAll(&io.LimitedReader{R: f, N: e.Size})
	require.NoError(t, err)
	assert.Equal(t, "still here", string(b))
}

func TestInvalidate(t *testing.T) {
	dir := t.TempDir()
	s, _ := open(t, dir, Options{})
	put(t, s, "k", header("Accept-Encoding", "gzip"), "gz", "Vary", "Accept-Encoding")
	put(t, s, "k", header("Accept-Encoding", "br"), "br", "Vary", "Accept-Encoding")
	put(t, s, "other", header(), "stays")
	require.Equal(t, 3, s.Stats().Entries)

	assert.Equal(t, 2, s.Invalidate("k"))
	assert.Nil(t, s.Lookup("k", header("Accept-Encoding", "gzip")))
	assert.Nil(t, s.Lookup("k", header("Accept-Encoding", "br")))
	assert.Equal(t, "stays", body(t, s.Lookup("other", header())))
	assert.Equal(t, 1, s.Stats().Entries)
	assert.Len(t, diskFiles(t, dir), 2)
	assert.Equal(t, 0, s.Invalidate("k"))
}

func TestUpdateHeaders(t *testing.T) {
	dir := t.TempDir()
	s, _ := open(t, dir, Options{})
	e := put(t, s, "k", header("Accept-Encoding", "gzip"), "the body",
		"Vary", "Accept-Encoding", "ETag", `"v1"`, "Cache-Control", "max-age=60", "Cache-Control", "public", "X-Old", "kept")
	before, err := os.Stat(bodyPath(s.root, e.id, e.bodyGen))
	require.NoError(t, err)

	times := Times{Request: epoch.Add(time.Hour), Response: epoch.Add(time.Hour + time.Second)}
	fresh := Freshness{Lifetime: 2 * time.Hour}
	u, err := s.UpdateHeaders(e, header(
		"Cache-Control", "max-age=120",
		"Content-Length", "0",
		"Connection", "X-Hop",
		"X-Hop", "hop",
		"Date", "Sun, 29 Nov 2026 11:00:00 GMT",
	), times, fresh)
	require.NoError(t, err)
	got := func(e *Entry) map[string][]string {
		m := map[string][]string{}
		for n, v := range e.Header.All() {
			m[string(n)] = append(m[string(n)], string(v))
		}
		return m
	}
	want := map[string][]string{
		"Vary": {"Accept-Encoding"}, "ETag": {`"v1"`}, "X-Old": {"kept"},
		"Cache-Control": {"max-age=120"}, "Date": {"Sun, 29 Nov 2026 11:00:00 GMT"},
	}
	assert.Equal(t, want, got(u))
	assert.Equal(t, times, u.Times)
	assert.Equal(t, fresh, u.Freshness)
	assert.Same(t, u, s.Lookup("k", header("Accept-Encoding", "gzip")))
	assert.Equal(t, "the body", body(t, u))
	assert.Equal(t, `"v1"`, string(e.Header.Get("ETag")), "the old entry is untouched")

	after, err := os.Stat(bodyPath(s.root, u.id, u.bodyGen))
	require.NoError(t, err)
	assert.True(t, os.SameFile(before, after), "the body is not copied")
	assert.Len(t, diskFiles(t, dir), 2, "the old metadata file is gone")
	assert.Equal(t, u.diskSize(), s.Stats().Bytes)

	_, err = s.UpdateHeaders(e, header("X", "y"), times, fresh)
	assert.ErrorIs(t, err, ErrGone, "e was replaced by u")
	_, err = s.UpdateHeaders(u, header("Vary", "Accept-Language"), times, fresh)
	assert.ErrorIs(t, err, ErrVaryChanged)
	_, err = s.UpdateHeaders(u, header("Vary", "*"), times, fresh)
	assert.ErrorIs(t, err, ErrVaryChanged)
	assert.Len(t, diskFiles(t, dir), 2)

	s.Close()
	s2, _ := open(t, dir, Options{})
	r := s2.Lookup("k", header("Accept-Encoding", "gzip"))
	require.NotNil(t, r)
	assert.Equal(t, want, got(r), "the update survives a restart")
	assert.True(t, r.Times.Response.Equal(times.Response))
	assert.Equal(t, "the body", body(t, r))

	s2.Invalidate("k")
	_, err = s2.UpdateHeaders(r, header("X", "y"), times, fresh)
	assert.ErrorIs(t, err, ErrGone)
	assert.Empty(t, diskFiles(t, dir))
}

func TestRestart(t *testing.T) {
	dir := t.TempDir()
	s, _ := open(t, dir, Options{})
	keys := keyed(50)
	for _, k := range keys {
		put(t, s, k, header(), "body of "+k, "X-Key", k)
	}
	put(t, s, keys[0], header("Accept-Language", "fr"), "variant", "Vary", "Accept-Language")
	w, err := s.Begin("unfinished", header(), response(-1))
	require.NoError(t, err)
	io.WriteString(w, "torn")
	stats := s.Stats()
	require.NoError(t, s.Close())
	_, err = w.Commit()
	assert.ErrorIs(t, err, ErrClosed, "a store cannot finish after Close")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "http", tmpDir, "leftover"), []byte("x"), 0o644))

	s2, logs := open(t, dir, Options{})
	assert.Empty(t, tmpFiles(t, dir), "temp files are removed")
	assert.Equal(t, stats.Entries, s2.Stats().Entries)
	assert.Equal(t, stats.Bytes, s2.Stats().Bytes)
	for _, k := range keys {
		e := s2.Lookup(k, header())
		require.NotNil(t, e, k)
		assert.Equal(t, "body of "+k, body(t, e))
		assert.Equal(t, k, string(e.Header.Get("X-Key")))
	}
	assert.Equal(t, "variant", body(t, s2.Lookup(keys[0], header("Accept-Language", "FR"))))
	assert.Nil(t, s2.Lookup("unfinished", header()))
	assert.Contains(t, logs.String(), "entries=51")
	assert.Zero(t, s2.Stats().Errors)

	// New generations stay above the ones on disk.
	e := put(t, s2, "fresh", header(), "x")
	assert.Greater(t, e.gen, s2.Lookup(keys[49], header()).gen)
}

func TestOpenLocks(t *testing.T) {
	dir := t.TempDir()
	s, _ := open(t, dir, Options{})
	_, err := Open(dir, Options{Logger: s.log})
	assert.ErrorContains(t, err, "in use by another process")
	require.NoError(t, s.Close())
	s2, err := Open(dir, Options{Logger: s.log})
	require.NoError(t, err)
	s2.Close()
}

func TestOpenDropsBadFiles(t *testing.T) {
	dir := t.TempDir()
	s, _ := open(t, dir, Options{})
	good := put(t, s, "good", header(), "good body")
	flipped := put(t, s, "flipped", header(), "body")
	truncated := put(t, s, "truncated", header(), "long body")
	noBody := put(t, s, "no-body", header(), "body")
	superseded := put(t, s, "superseded", header(), "body")
	alien := put(t, s, "alien", header(), "body")
	require.NoError(t, s.Close())

	meta := func(e *Entry) string { return metaPath(s.root, e.id, e.gen) }
	b, err := os.ReadFile(meta(flipped))
	require.NoError(t, err)
	b[len(b)/2] ^= 0x40
	require.NoError(t, os.WriteFile(meta(flipped), b, 0o644))
	require.NoError(t, os.Truncate(bodyPath(s.root, truncated.id, truncated.bodyGen), 4))
	require.NoError(t, os.Remove(bodyPath(s.root, noBody.id, noBody.bodyGen)))
	// A crash between publishing a new version and removing the old
	// leaves both: the newer wins, even if the newer is torn.
	older := *superseded
	older.gen--
	require.NoError(t, s.writeMeta(&older))
	torn := *superseded
	torn.gen++
	require.NoError(t, s.writeMeta(&torn))
	require.NoError(t, os.Truncate(meta(&torn), 20))
	// A metadata file copied under another entry's name.
	b, err = os.ReadFile(meta(alien))
	require.NoError(t, err)
	other := *alien
	other.id[1]++
	require.NoError(t, os.WriteFile(meta(&other), b, 0o644))
	orphan := *good
	orphan.bodyGen--
	require.NoError(t, os.WriteFile(bodyPath(s.root, orphan.id, orphan.bodyGen), []byte("orphan"), 0o644))
	stray := filepath.Join(s.root, fanOut(good.id[0]), "stray.txt")
	require.NoError(t, os.WriteFile(stray, []byte("?"), 0o644))

	s2, logs := open(t, dir, Options{})
	assert.Equal(t, "good body", body(t, s2.Lookup("good", header())))
	assert.Equal(t, "body", body(t, s2.Lookup("superseded", header())))
	assert.Equal(t, "body", body(t, s2.Lookup("alien", header())))
	for _, k := range []string{"flipped", "truncated", "no-body"} {
		assert.Nil(t, s2.Lookup(k, header()), k)
	}
	assert.Equal(t, 3, s2.Stats().Entries)
	for _, why := range []string{"checksum mismatch", "its body has 4 bytes, not 9", "its body is missing",
		"does not belong to its file name", "not a cache file", "header says"} {
		assert.Contains(t, logs.String(), why)
	}
	assert.Len(t, diskFiles(t, dir), 6, "only the three good entries' files remain")
	assert.NoFileExists(t, stray)
	assert.EqualValues(t, 6, s2.Stats().Errors)
}

func TestLookupPrefersNewest(t *testing.T) {
	s, _ := open(t, t.TempDir(), Options{})
	// Two variants that both match a request without the fields: the
	// more recent response is chosen (RFC 9111 4.1).
	w, err := s.Begin("k", header(), response(3, "Vary", "X-A"))
	require.NoError(t, err)
	io.WriteString(w, "old")
	_, err = w.Commit()
	require.NoError(t, err)
	resp := response(3, "Vary", "X-B")
	resp.Times.Response = resp.Times.Response.Add(time.Minute)
	w, err = s.Begin("k", header(), resp)
	require.NoError(t, err)
	io.WriteString(w, "new")
	_, err = w.Commit()
	require.NoError(t, err)
	assert.Equal(t, "new", body(t, s.Lookup("k", header())))
	assert.Equal(t, "old", body(t, s.Lookup("k", header("X-B", "1"))))
}

func TestInvalidateDuringStore(t *testing.T) {
	dir := t.TempDir()
	s, _ := open(t, dir, Options{})
	w, err := s.Begin("k", header(), response(5))
	require.NoError(t, err)
	io.WriteString(w, "stale")
	other, err := s.Begin("other", header(), response(4))
	require.NoError(t, err)
	io.WriteString(other, "kept")

	s.Invalidate("k")
	_, err = w.Commit()
	assert.ErrorIs(t, err, ErrInvalidated, "a response begun before an invalidation may be stale")
	assert.Nil(t, s.Lookup("k", header()))
	_, err = other.Commit()
	require.NoError(t, err, "other keys are not affected (slot collisions aside)")
	put(t, s, "k", header(), "fresh")
	assert.Equal(t, "fresh", body(t, s.Lookup("k", header())), "a store begun after it is published")
	assert.Len(t, diskFiles(t, dir), 4)
}

func TestMaxVariants(t *testing.T) {
	s, _ := open(t, t.TempDir(), Options{})
	agent := func(i int) *http1.Header { return header("User-Agent", "agent/"+strconv.Itoa(i)) }
	for i := range maxVariants + 2 {
		put(t, s, "k", agent(i), "for "+strconv.Itoa(i), "Vary", "User-Agent")
	}
	assert.Equal(t, maxVariants, s.Stats().Entries)
	assert.Nil(t, s.Lookup("k", agent(0)), "the oldest variants made room")
	assert.Nil(t, s.Lookup("k", agent(1)))
	assert.Equal(t, "for 2", body(t, s.Lookup("k", agent(2))))
	assert.Equal(t, "for 33", body(t, s.Lookup("k", agent(maxVariants+1))))
	assert.EqualValues(t, 2, s.Stats().Evictions)
}

func TestClosedStore(t *testing.T) {
	s, _ := open(t, t.TempDir(), Options{})
	require.NoError(t, s.Close())
	require.NoError(t, s.Close())
	_, err := s.Begin("k", header(), response(0))
	assert.ErrorIs(t, err, ErrClosed)
}

// TestBodyOverSocket sends a hit the way the server does, an
// io.LimitedReader of the body file handed to a TCP connection's ReadFrom
// (sendfile on Linux), and checks what arrives at the other end.
func TestBodyOverSocket(t *testing.T) {
	s, _ := open(t, t.TempDir(), Options{})
	want := strings.Repeat("0123456789abcdef", 64<<10) // 1 MiB
	e := put(t, s, "k", header(), want)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	got := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- err.Error()
			return
		}
		defer c.Close()
		b, _ := io.ReadAll(c)
		got <- string(b)
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	f, err := e.OpenBody()
	require.NoError(t, err)
	defer f.Close()
	n, err := c.(*net.TCPConn).ReadFrom(&io.LimitedReader{R: f, N: e.Size})
	require.NoError(t, err)
	assert.Equal(t, e.Size, n)
	require.NoError(t, c.Close())
	assert.Equal(t, want, <-got)
}

// TestAttachKeepsTheFirstValue: of values attached at once, one wins and
// every caller gets it.
func TestAttachKeepsTheFirstValue(t *testing.T) {
	e := new(Entry)
	assert.Nil(t, e.Attached())
	got := make([]any, 8)
	var wg sync.WaitGroup
	for i := range got {
		wg.Go(func() { got[i] = e.Attach(new(int)) })
	}
	wg.Wait()
	for _, v := range got {
		assert.Same(t, e.Attached(), v)
	}
	assert.Same(t, e.Attached(), e.Attach(new(int)), "a later value is not attached")
}
