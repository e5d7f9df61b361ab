package cache

import (
	"context"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"wasmhttpd/host/http1"
)

// outcome is what one collapsed miss got.
type outcome struct {
	entry *Entry
	fill  *Fill
	err   error
}

// lookupAll starts n concurrent LookupOrFill calls and returns the
// channel their outcomes arrive on.
func lookupAll(ctx context.Context, s *Store, n int, key string, req *http1.Header) <-chan outcome {
	out := make(chan outcome, n)
	for range n {
		go func() {
			e, f, err := s.LookupOrFill(ctx, key, req)
			out <- outcome{e, f, err}
		}()
	}
	return out
}

// waitForWaiters blocks until n misses wait for a fill, and reports
// whether they did in time.
func waitForWaiters(t *testing.T, s *Store, n int64) bool {
	t.Helper()
	return assert.Eventually(t, func() bool { return s.Stats().Waiting == n }, 10*time.Second, time.Millisecond)
}

func TestCollapsedMisses(t *testing.T) {
	s, _ := open(t, t.TempDir(), Options{})
	const n = 50
	want := strings.Repeat("collapsed ", 1000)
	var fills atomic.Int32
	var wg sync.WaitGroup
	results := make(chan *Entry, n)
	start := make(chan struct{})
	for range n {
		wg.Go(func() {
			<-start
			e, fill, err := s.LookupOrFill(context.Background(), "k", header())
			if !assert.NoError(t, err) {
				return
			}
			if fill != nil {
				fills.Add(1)
				defer fill.Cancel()
				// Hold the fill until everyone else is waiting, so the
				// test shows 49 waiters woken by one commit.
				if !waitForWaiters(t, s, n-1) {
					return
				}
				w, err := fill.Begin(response(len(want)))
				if !assert.NoError(t, err) {
					return
				}
				io.WriteString(w, want)
				e, err = w.Commit()
				assert.NoError(t, err)
			}
			results <- e
		})
	}
	close(start)
	wg.Wait()
	close(results)
	assert.EqualValues(t, 1, fills.Load(), "exactly one fill")
	got := 0
	for e := range results {
		require.NotNil(t, e)
		assert.Equal(t, want, body(t, e))
		got++
	}
	assert.Equal(t, n, got)
	st := s.Stats()
	assert.EqualValues(t, 1, st.Stores)
	assert.EqualValues(t, 1, st.Misses)
	assert.EqualValues(t, n-1, st.Hits)
	assert.Zero(t, st.Waiting)
}

func TestFillAbortWakesWaiters(t *testing.T) {
	for _, tc := range []struct {
		name string
		end  func(t *testing.T, fill *Fill)
	}{
		{"Abort", func(t *testing.T, fill *Fill) {
			w, err := fill.Begin(response(-1))
			require.NoError(t, err)
			io.WriteString(w, "part")
			w.Abort()
		}},
		{"Cancel", func(t *testing.T, fill *Fill) { fill.Cancel() }},
		{"Begin refused", func(t *testing.T, fill *Fill) {
			_, err := fill.Begin(response(0, "Vary", "*"))
			assert.ErrorIs(t, err, ErrVaryStar)
		}},
		{"too large", func(t *testing.T, fill *Fill) {
			w, err := fill.Begin(response(-1))
			require.NoError(t, err)
			io.WriteString(w, strings.Repeat("x", 200))
			// The waiters wake when the writer gives up, not at the
			// end of the download.
		}},
		{"wrong length", func(t *testing.T, fill *Fill) {
			w, err := fill.Begin(response(10))
			require.NoError(t, err)
			io.WriteString(w, "short")
			_, err = w.Commit()
			assert.ErrorIs(t, err, ErrLength)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := open(t, t.TempDir(), Options{MaxObjectSize: 100})
			_, fill, err := s.LookupOrFill(context.Background(), "k", header())
			require.NoError(t, err)
			require.NotNil(t, fill)
			const n = 10
			out := lookupAll(context.Background(), s, n, "k", header())
			require.True(t, waitForWaiters(t, s, n))
			tc.end(t, fill)
			for range n {
				o := <-out
				assert.ErrorIs(t, o.err, ErrFillAborted)
				assert.Nil(t, o.entry)
				assert.Nil(t, o.fill)
			}
			// The next miss becomes a filler again.
			_, again, err := s.LookupOrFill(context.Background(), "k", header())
			require.NoError(t, err)
			require.NotNil(t, again)
			again.Cancel()
		})
	}
}

func TestFillWaitBounds(t *testing.T) {
	s, _ := open(t, t.TempDir(), Options{FillWait: 20 * time.Millisecond})
	_, fill, err := s.LookupOrFill(context.Background(), "k", header())
	require.NoError(t, err)
	defer fill.Cancel()

	_, f, err := s.LookupOrFill(context.Background(), "k", header())
	assert.ErrorIs(t, err, ErrWaitTimeout)
	assert.Nil(t, f)

	ctx, cancel := context.WithCancel(context.Background())
	out := lookupAll(ctx, s, 1, "k", header())
	require.True(t, waitForWaiters(t, s, 1))
	cancel()
	assert.ErrorIs(t, (<-out).err, context.Canceled)

	_, other, err := s.LookupOrFill(context.Background(), "other", header())
	require.NoError(t, err)
	assert.NotNil(t, other, "fills are per key")
	other.Cancel()
}

// TestFillOtherVariant: a waiter whose request does not match the variant
// the filler stored becomes the next filler, for its own variant.
func TestFillOtherVariant(t *testing.T) {
	s, _ := open(t, t.TempDir(), Options{})
	gzip, br := header("Accept-Encoding", "gzip"), header("Accept-Encoding", "br")
	_, fill, err := s.LookupOrFill(context.Background(), "k", gzip)
	require.NoError(t, err)
	require.NotNil(t, fill)
	out := lookupAll(context.Background(), s, 1, "k", br)
	require.True(t, waitForWaiters(t, s, 1))
	w, err := fill.Begin(response(2, "Vary", "Accept-Encoding"))
	require.NoError(t, err)
	io.WriteString(w, "gz")
	_, err = w.Commit()
	require.NoError(t, err)

	o := <-out
	require.NoError(t, o.err)
	assert.Nil(t, o.entry)
	require.NotNil(t, o.fill, "the br request fills its own variant")
	w, err = o.fill.Begin(response(2, "Vary", "Accept-Encoding"))
	require.NoError(t, err)
	io.WriteString(w, "br")
	_, err = w.Commit()
	require.NoError(t, err)
	assert.Equal(t, "br", body(t, s.Lookup("k", br)))
	assert.Equal(t, "gz", body(t, s.Lookup("k", gzip)))
}
