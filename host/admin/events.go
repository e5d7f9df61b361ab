package admin

import (
	"sync"
	"time"
	"unicode/utf8"
)

// Event kinds the status page shows; Add accepts any kind.
const (
	EventSwap     = "swap"     // a policy's module was replaced
	EventRejected = "rejected" // a reload was refused, the old module kept
	EventError    = "error"    // a policy call failed or timed out
)

// Event is one thing that happened to a policy, as the status page lists
// it.
type Event struct {
	Time   time.Time `json:"time"`
	Kind   string    `json:"kind"`
	Policy string    `json:"policy"`
	Detail string    `json:"detail"`
}

// maxDetail bounds an event's detail: a guest's error message is its own
// to choose, and the ring must not hold megabytes of it.
const maxDetail = 512

// Events keeps the most recent events in a fixed-size ring. It is safe for
// concurrent use; the zero value and a nil *Events drop everything.
type Events struct {
	mu   sync.Mutex
	ring []Event
	next int // where the next event goes
	full bool
}

// NewEvents returns a ring holding the last size events.
func NewEvents(size int) *Events {
	return &Events{ring: make([]Event, max(size, 0))}
}

// Add records an event now, replacing the oldest one when the ring is
// full.
func (e *Events) Add(kind, policy, detail string) {
	if e == nil {
		return
	}
	ev := Event{Time: time.Now(), Kind: kind, Policy: policy, Detail: truncate(detail, maxDetail)}
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.ring) == 0 {
		return
	}
	e.ring[e.next] = ev
	e.next++
	if e.next == len(e.ring) {
		e.next, e.full = 0, true
	}
}

// Recent returns the events held, newest first.
func (e *Events) Recent() []Event {
	if e == nil {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	n := e.next
	if e.full {
		n = len(e.ring)
	}
	out := make([]Event, 0, n)
	for i := range n {
		out = append(out, e.ring[(e.next-1-i+len(e.ring))%len(e.ring)])
	}
	return out
}

// truncate cuts s to at most n bytes on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const mark = "…"
	cut := n - len(mark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}
