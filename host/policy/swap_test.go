package policy

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// install writes a module into place the way an operator should: a temp
// file renamed over the old one.
func install(t testing.TB, dst string, data []byte) {
	t.Helper()
	tmp := dst + ".tmp"
	require.NoError(t, os.WriteFile(tmp, data, 0o644))
	require.NoError(t, os.Rename(tmp, dst))
}

// TestHotSwap: 20 swaps between two versions while clients loop through
// the chain: no failed request, behaviour follows the swaps, and every
// retired generation is closed once its requests end.
func TestHotSwap(t *testing.T) {
	v1, err := os.ReadFile(guest("v1"))
	require.NoError(t, err)
	v2, err := os.ReadFile(guest("v2"))
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "swap.wasm")
	install(t, path, v1)
	const poolSize = 3
	p, err := engine.Load(t.Context(), Options{Name: "swap", Path: path, PoolSize: poolSize, CallTimeout: time.Second})
	require.NoError(t, err)
	c := NewChain([]*Policy{p}, echo)

	stop := loadLoop(t, c, 3, func(r response) bool {
		v := r.Header.Get("x-version")
		return r.StatusCode == 200 && (v == "v1" || v == "v2") && r.Header.Get("x-echo-method") == "GET"
	})

	want := "v1"
	for i := range 20 {
		data, next := v2, "v2"
		if i%2 == 1 {
			data, next = v1, "v1"
		}
		install(t, path, data)
		require.NoError(t, p.Reload(t.Context()))
		want = next
		assert.Equal(t, uint64(i+2), p.Stats().Generation)
		assert.Equal(t, want, do(t, c, get("fine")).Header.Get("x-version"), "swap %d", i)
	}
	ok, failed := stop()
	assert.Zero(t, failed)
	assert.Positive(t, ok)
	st := p.Stats()
	assert.Equal(t, uint64(20), st.Swaps)
	assert.LessOrEqual(t, st.Instances, int64(poolSize), "retired generations must be closed")
	assert.Contains(t, logBuf.String(), "generation=21")

	// A half-written module is rejected and the running one keeps serving.
	install(t, path, v1[:len(v1)/2])
	err = p.Reload(t.Context())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "generation 21 keeps serving")
	assert.Equal(t, want, do(t, c, get("fine")).Header.Get("x-version"))
	assert.Equal(t, uint64(1), p.Stats().Rejected)

	// Reloading the module already serving is a no-op.
	install(t, path, v1)
	require.NoError(t, p.Reload(t.Context()))
	require.NoError(t, p.Reload(t.Context()))
	assert.Equal(t, uint64(20), p.Stats().Swaps)

	p.Close()
	assert.Zero(t, p.Stats().Instances, "closing the policy closes its last generation")
}

// TestSwapWaitsForInFlight: a request that holds an instance of the old
// generation finishes on it; the generation closes only when it ends.
func TestSwapWaitsForInFlight(t *testing.T) {
	v1, _ := os.ReadFile(guest("v1"))
	v2, _ := os.ReadFile(guest("v2"))
	path := filepath.Join(t.TempDir(), "inflight.wasm")
	install(t, path, v1)
	p, err := engine.Load(t.Context(), Options{Name: "inflight", Path: path, PoolSize: 2, Prewarm: 1})
	require.NoError(t, err)
	defer p.Close()

	old := p.acquire()
	in, err := old.get()
	require.NoError(t, err)
	install(t, path, v2)
	require.NoError(t, p.Reload(t.Context()))
	assert.False(t, old.closed.Load(), "in use: not closed yet")
	assert.Equal(t, int64(2), p.Stats().Instances)
	old.put(in)
	old.release()
	assert.True(t, old.closed.Load())
	assert.Equal(t, int64(1), p.Stats().Instances)
}

// TestWatch: the watcher loads a settled change, and rejects a broken
// file without disturbing the running module.
func TestWatch(t *testing.T) {
	v1, _ := os.ReadFile(guest("v1"))
	v2, _ := os.ReadFile(guest("v2"))
	path := filepath.Join(t.TempDir(), "watch.wasm")
	install(t, path, v1)
	p, err := engine.Load(t.Context(), Options{Name: "watched", Path: path})
	require.NoError(t, err)
	defer p.Close()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go p.Watch(ctx, 20*time.Millisecond)
	c := NewChain([]*Policy{p}, echo)

	require.NoError(t, os.WriteFile(path, v1[:1000], 0o644)) // a cp stalled half-way
	require.Eventually(t, func() bool { return p.Stats().Rejected == 1 }, 10*time.Second, 10*time.Millisecond)
	assert.Equal(t, "v1", do(t, c, get("fine")).Header.Get("x-version"))

	install(t, path, v2)
	require.Eventually(t, func() bool { return p.Stats().Generation == 2 }, 20*time.Second, 10*time.Millisecond)
	assert.Equal(t, "v2", do(t, c, get("fine")).Header.Get("x-version"))
}

func TestEventsReachNotify(t *testing.T) {
	v1, err := os.ReadFile(guest("v1"))
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "events.wasm")
	install(t, path, v1)
	var mu sync.Mutex
	var events []Event
	p, err := engine.Load(t.Context(), Options{Name: "events", Path: path, Notify: func(e Event) {
		mu.Lock()
		events = append(events, e)
		mu.Unlock()
	}})
	require.NoError(t, err)
	defer p.Close()
	install(t, path, v1[:len(v1)/2])
	require.Error(t, p.Reload(t.Context()))

	mu.Lock()
	defer mu.Unlock()
	require.Len(t, events, 2)
	assert.Equal(t, EventLoaded, events[0].Kind)
	assert.Equal(t, uint64(1), events[0].Generation)
	assert.Contains(t, events[0].Detail, "sha256 ")
	assert.Equal(t, EventRejected, events[1].Kind)
	assert.Equal(t, "events", events[1].Policy)
	assert.Contains(t, events[1].Detail, "generation 1 keeps serving")
	events = events[:0]
	mu.Unlock()

	failing := load(t, "conform", func(o *Options) {
		o.Name, o.Notify = "failing", func(e Event) {
			mu.Lock()
			events = append(events, e)
			mu.Unlock()
		}
	})
	assert.Equal(t, 500, do(t, NewChain([]*Policy{failing}, echo), get("route-forward")).StatusCode)
	mu.Lock()
	require.Len(t, events, 2, "loaded, then failed")
	assert.Equal(t, EventFailed, events[1].Kind)
	assert.Contains(t, events[1].Detail, "this listener does not route")
}
