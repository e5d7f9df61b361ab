package policy

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHostile: each misbehaviour fails only its own request (500 with a
// short body, a log line naming the policy and the cause), the instance is
// discarded, and concurrent good requests through the same policy keep
// getting 200s.
func TestHostile(t *testing.T) {
	p := load(t, "hostile", func(o *Options) { o.Name, o.CallTimeout = "hostile-closed", time.Second })
	c := NewChain([]*Policy{p}, echo)

	stop := loadLoop(t, c, 4, func(r response) bool {
		return r.StatusCode == 200 && r.Header.Get("x-echo-method") == "GET"
	})

	cases := []struct{ test, cause string }{
		{"spin", "timeout after 1s"},
		{"bomb", ""}, // the memory cap or the deadline, whichever first: see TestMemoryCap
		{"panic", "guest gave up"},
		{"bigheader", "exceeds the 65536-byte limit"},
		{"hugeheader", "out of memory"},
		{"badheader", "CR, LF or NUL"},
	}
	for _, tc := range cases {
		t.Run(tc.test, func(t *testing.T) {
			before := p.Stats()
			t0 := time.Now()
			r := do(t, c, get(tc.test))
			assert.Equal(t, 500, r.StatusCode)
			assert.Equal(t, "policy hostile-closed failed\n", r.body)
			assert.Less(t, time.Since(t0), 5*time.Second)
			after := p.Stats()
			assert.Equal(t, before.Errors+1, after.Errors)
			if tc.cause != "" {
				assert.Contains(t, logBuf.String(), tc.cause)
			}
			if tc.test == "spin" {
				assert.Equal(t, before.Timeouts+1, after.Timeouts)
			}
		})
	}
	good, bad := stop()
	assert.Zero(t, bad, "good requests failed")
	assert.Positive(t, good)
	assert.LessOrEqual(t, p.Stats().Instances, int64(4), "pool bound")
	require.Contains(t, logBuf.String(), "policy=hostile-closed")
}

// TestFailOpen: a failing fail-open policy is skipped; the request goes on
// to the next handler.
func TestFailOpen(t *testing.T) {
	p := load(t, "hostile", func(o *Options) { o.Name, o.OnError = "hostile-open", FailOpen })
	r := do(t, NewChain([]*Policy{p}, echo), get("panic"))
	assert.Equal(t, 200, r.StatusCode)
	assert.Equal(t, "GET", r.Header.Get("x-echo-method"))
	assert.Contains(t, logBuf.String(), "mode=fail-open")
}

// TestPoolBackPressure: with one instance, a second request waits for it
// rather than instantiating beyond the bound, and gives up at the acquire
// deadline.
func TestPoolBackPressure(t *testing.T) {
	p := load(t, "hostile", func(o *Options) {
		o.Name, o.PoolSize, o.CallTimeout, o.AcquireTimeout = "tiny", 1, 300*time.Millisecond, 50*time.Millisecond
	})
	c := NewChain([]*Policy{p}, echo)
	done := make(chan response)
	go func() { done <- do(t, c, get("spin")) }()
	require.Eventually(t, func() bool { return p.Stats().Calls >= 1 }, 5*time.Second, time.Millisecond)
	r := do(t, c, get("fine"))
	assert.Equal(t, 500, r.StatusCode, "no instance within the acquire timeout")
	assert.Contains(t, logBuf.String(), "no free instance")
	assert.Equal(t, 500, (<-done).StatusCode)
	assert.Equal(t, 200, do(t, c, get("fine")).StatusCode, "a new instance replaces the discarded one")
	assert.Equal(t, int64(1), p.Stats().Instances)
}

// TestMemoryCap: given time, a guest that allocates without bound is
// stopped by the memory limit, not by the deadline.
func TestMemoryCap(t *testing.T) {
	p := load(t, "hostile", func(o *Options) { o.Name, o.CallTimeout = "bomb", 10*time.Second })
	r := do(t, NewChain([]*Policy{p}, echo), get("bomb"))
	assert.Equal(t, 500, r.StatusCode)
	assert.Contains(t, logBuf.String(), "out of memory")
	assert.Zero(t, p.Stats().Timeouts)
}

// TestClosedPolicyFailsClosed: a chain still holding a closed fail-closed
// policy refuses rather than silently skipping it.
func TestClosedPolicyFailsClosed(t *testing.T) {
	p := load(t, "v1", func(o *Options) { o.Name = "closed" })
	c := NewChain([]*Policy{p}, echo)
	require.Equal(t, 200, do(t, c, get("fine")).StatusCode)
	p.Close()
	assert.Equal(t, 500, do(t, c, get("fine")).StatusCode)
	assert.Zero(t, p.Stats().Instances)
}
