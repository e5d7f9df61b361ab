package admin

import (
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEventsKeepTheLastNewestFirst(t *testing.T) {
	e := NewEvents(3)
	assert.Empty(t, e.Recent())
	for _, d := range []string{"1", "2", "3", "4", "5"} {
		e.Add(EventSwap, "p", d)
	}
	var got []string
	for _, ev := range e.Recent() {
		got = append(got, ev.Detail)
		assert.Equal(t, EventSwap, ev.Kind)
		assert.Equal(t, "p", ev.Policy)
		assert.WithinDuration(t, time.Now(), ev.Time, time.Minute)
	}
	assert.Equal(t, []string{"5", "4", "3"}, got)
}

func TestEventsZeroSizeAndNilDropEverything(t *testing.T) {
	var nilEvents *Events
	for _, e := range []*Events{nilEvents, NewEvents(0), NewEvents(-1), {}} {
		e.Add(EventError, "p", "d")
		assert.Empty(t, e.Recent())
	}
}

func TestEventsBoundTheDetail(t *testing.T) {
	e := NewEvents(1)
	e.Add(EventError, "p", strings.Repeat("é", maxDetail)) // 2 bytes a rune: the cut falls mid-rune
	d := e.Recent()[0].Detail
	assert.LessOrEqual(t, len(d), maxDetail)
	assert.True(t, utf8.ValidString(d))
	assert.True(t, strings.HasSuffix(d, "…"))
	assert.Equal(t, "short", truncate("short", maxDetail))
}

func TestEventsConcurrentUse(t *testing.T) {
	e := NewEvents(16)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 100 {
				e.Add(EventError, "p", "d")
				e.Recent()
			}
		})
	}
	wg.Wait()
	assert.Len(t, e.Recent(), 16)
}

func TestRateMeter(t *testing.T) {
	start := time.Unix(1000, 0)
	at := func(s float64) time.Time { return start.Add(time.Duration(s * float64(time.Second))) }
	var r rateMeter
	assert.InDelta(t, 10, r.rate(at(10), 100, start), 1e-9, "first view: the average since start")
	assert.InDelta(t, 50, r.rate(at(12), 200, start), 1e-9, "since the sample at 10 s")
	assert.InDelta(t, 50, r.rate(at(12.5), 225, start), 1e-9, "no sample within a second of the last, same base")
	assert.InDelta(t, 325.0/50, r.rate(at(60), 425, start), 1e-9, "the window reaches back to 10 s still")
	assert.InDelta(t, 575.0/60, r.rate(at(72), 775, start), 1e-9, "the 10 s sample has left the window, base 12 s")
	assert.InDelta(t, 1.0, r.rate(at(1072), 1775, start), 1e-9, "all samples old: since the newest of them")
	assert.Zero(t, r.rate(at(1072), 1775, start), "no time elapsed")
	assert.Zero(t, r.rate(at(1073), 1000, start), "a count recorded out of order does not go negative")
}

func TestRateMeterRingWraps(t *testing.T) {
	start := time.Unix(0, 0)
	var r rateMeter
	for i := range 3 * rateSamples {
		r.rate(start.Add(time.Duration(i)*time.Second), uint64(i*10), start)
	}
	require.Equal(t, rateSamples, r.n)
	now := start.Add(time.Duration(3*rateSamples) * time.Second)
	assert.InDelta(t, 10, r.rate(now, uint64(3*rateSamples*10), start), 1e-9)
}
