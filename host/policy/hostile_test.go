package policy

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
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

// TestInitOverrunThatReturns: a start function that runs past the init
// deadline in one long instruction (memory.fill has no loop header for
// the interruption flag to be read at) returns normally with the flag
// set. Its result stands, and the flag is cleared: the instance's first
// request must not trap as a timeout.
func TestInitOverrunThatReturns(t *testing.T) {
	// A few hundred milliseconds of filling at least, against a 20 ms
	// deadline.
	fill := []byte{0x41, 0, 0x41, 0, 0x41, 0x80, 0x80, 0x80, 0x08, 0xfc, 0x0b, 0} // memory.fill(0, 0, 16 MiB)
	initBody := append(append([]byte{0}, bytes.Repeat(fill, 128)...), 0x0b)
	reqBody := []byte{0, 0x42, 1, 0x0b} // i64.const 1
	section := func(id byte, items int, payload ...byte) []byte {
		p := append([]byte{byte(items)}, payload...)
		return append(append([]byte{id}, binary.AppendUvarint(nil, uint64(len(p)))...), p...)
	}
	name := func(s string) []byte { return append([]byte{byte(len(s))}, s...) }
	var exports []byte
	exports = append(append(exports, name("memory")...), 2, 0)
	exports = append(append(exports, name("_initialize")...), 0, 0)
	exports = append(append(exports, name("handle_request")...), 0, 1)
	var code []byte
	code = append(append(code, binary.AppendUvarint(nil, uint64(len(initBody)))...), initBody...)
	code = append(append(code, binary.AppendUvarint(nil, uint64(len(reqBody)))...), reqBody...)
	var wasm []byte
	for _, s := range [][]byte{
		[]byte("\x00asm\x01\x00\x00\x00"),
		section(1, 2, 0x60, 0, 0, 0x60, 0, 1, 0x7e), // () -> (), () -> i64
		section(3, 2, 0, 1),
		section(5, 1, 0, 0x80, 2), // 256 pages
		section(7, 3, exports...),
		section(10, 2, code...),
	} {
		wasm = append(wasm, s...)
	}
	path := filepath.Join(t.TempDir(), "slowinit.wasm")
	require.NoError(t, os.WriteFile(path, wasm, 0o644))

	p, err := engine.Load(context.Background(), Options{Name: "slowinit", Path: path, PoolSize: 1, Prewarm: 1,
		InitTimeout: 20 * time.Millisecond})
	require.NoError(t, err)
	t.Cleanup(p.Close)
	assert.Equal(t, 200, do(t, NewChain([]*Policy{p}, echo), get("fine")).StatusCode)
	assert.Zero(t, p.Stats().Timeouts)
}

// TestLateTimerSparesTheNextCall: a deadline timer that fires after its
// call ended, once the instance serves the next call, sets no flag; a
// cancelled load's stop does.
func TestLateTimerSparesTheNextCall(t *testing.T) {
	p := load(t, "v1", func(o *Options) { o.Name = "late-timer" })
	g := p.acquire()
	defer g.release()
	in, err := g.get()
	require.NoError(t, err)
	defer g.discard(in)

	in.setCalling(true, time.Now().Add(time.Hour))
	in.stopCall(false) // the previous call's timer, late
	assert.False(t, in.setCalling(false, time.Time{}))
	assert.Zero(t, in.interrupt.Get())

	in.setCalling(true, time.Now().Add(time.Hour))
	in.stopCall(true)
	assert.True(t, in.setCalling(false, time.Time{}))
	assert.Equal(t, uint64(1), in.interrupt.Get())
}
