// Package alert mails the operator when the server needs attention: a
// policy module was rejected, a guest keeps failing, the cache's disk is
// full. It decides when to write, not how: the mail goes through a Send
// function the caller builds.
//
// RATIONALE
//
//   - Nothing on a request's path waits for mail. Reports go into a
//     bounded queue without blocking (a full queue counts what it drops,
//     and the next mail says so); one goroutine reads it and sends.
//   - A storm sends one mail. The first alert of a quiet spell waits
//     Gather (a couple of seconds) so that what comes with it goes in the
//     same mail; after a mail, the next waits until MinInterval has
//     passed, and summarises everything that happened meanwhile, grouped
//     by kind and policy with counts. A failed send is logged and not
//     retried: retrying would turn a broken mail server into a loop, and
//     the next alert will try again.
//   - "Keeps failing" is FailThreshold failures of one policy within
//     FailWindow, by the events' own times. Single failures are the
//     status page's business; the policy host already rations them (20,
//     then 10 a second), so a threshold of a few means a guest that
//     fails on every request rather than one bad input.
//   - Close sends what is pending at once, within SendTimeout, so an
//     alert raised just before a shutdown is not lost.
package alert

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"wasmhttpd/host/policy"
)

// Options configure an Alerter.
type Options struct {
	// Send delivers one mail. It is called from the Alerter's goroutine
	// only, under a context bounded by SendTimeout.
	Send          func(ctx context.Context, subject, body string) error
	SubjectPrefix string
	// MinInterval is the least time between two mails (default 10m).
	MinInterval time.Duration
	// Gather is how long the first alert after a quiet spell waits for
	// company (default 2s).
	Gather time.Duration
	// FailThreshold failures of a policy within FailWindow raise an
	// alert (defaults 10 and 1m).
	FailThreshold int
	FailWindow    time.Duration
	QueueSize     int           // reports waiting for the goroutine (default 256)
	SendTimeout   time.Duration // one Send, including Close's (default 1m)
	Logger        *slog.Logger  // nil means slog.Default()
}

// Alerter collects reports and mails them. Its methods never block and
// are safe for concurrent use. A nil *Alerter ignores every report, so
// that a server without alerts wires the same calls.
type Alerter struct {
	o       Options
	queue   chan report
	dropped atomic.Int64
	closed  atomic.Bool
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once

	// Owned by the goroutine.
	failures map[string][]time.Time // recent failure times by policy
	pending  []*group               // in order of first occurrence
	lastSent time.Time
	host     string
}

// kind is what an alert is about.
type kind int

const (
	kindRejected kind = iota
	kindFailing
	kindNoSpace
)

// report is one thing that happened, as queued.
type report struct {
	kind   kind
	policy string
	detail string
	time   time.Time
}

// group is the alerts of one kind and policy since the last mail.
type group struct {
	report     // the latest
	count  int // how many
	first  time.Time
}

// New starts an Alerter; Close stops it.
func New(o Options) *Alerter {
	if o.MinInterval <= 0 {
		o.MinInterval = 10 * time.Minute
	}
	if o.Gather <= 0 {
		o.Gather = 2 * time.Second
	}
	if o.FailThreshold <= 0 {
		o.FailThreshold = 10
	}
	if o.FailWindow <= 0 {
		o.FailWindow = time.Minute
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 256
	}
	if o.SendTimeout <= 0 {
		o.SendTimeout = time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	host, err := os.Hostname()
	if err != nil {
		host = "unknown host"
	}
	a := &Alerter{
		o:        o,
		queue:    make(chan report, o.QueueSize),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
		failures: map[string][]time.Time{},
		host:     host,
	}
	go a.run()
	return a
}

// Policy hears a policy event (site.Env.Notify): rejected modules raise an
// alert, failures count towards one, loads are ignored.
func (a *Alerter) Policy(e policy.Event) {
	switch e.Kind {
	case policy.EventRejected:
		a.add(report{kindRejected, e.Policy, e.Detail, e.Time})
	case policy.EventFailed:
		a.add(report{kindFailing, e.Policy, e.Detail, e.Time})
	}
}

// NoSpace hears of a cache write that failed because the disk is full
// (cache.Options.NoSpace).
func (a *Alerter) NoSpace(err error) {
	a.add(report{kind: kindNoSpace, detail: err.Error(), time: time.Now()})
}

func (a *Alerter) add(r report) {
	if a == nil {
		return
	}
	if r.time.IsZero() {
		r.time = time.Now()
	}
	if a.closed.Load() {
		return
	}
	select {
	case a.queue <- r:
	default:
		a.dropped.Add(1)
	}
}

// Close stops the Alerter after mailing what is pending, waiting at most
// SendTimeout for that mail.
func (a *Alerter) Close() {
	if a == nil {
		return
	}
	a.once.Do(func() {
		a.closed.Store(true)
		close(a.stop)
	})
	<-a.done
}

func (a *Alerter) run() {
	defer close(a.done)
	timer := time.NewTimer(0)
	<-timer.C
	armed := false
	for {
		select {
		case r := <-a.queue:
			a.note(r)
		case <-timer.C:
			armed = false
			a.drain()
			a.flush()
		case <-a.stop:
			timer.Stop()
			a.drain()
			a.flush()
			return
		}
		if !armed && (len(a.pending) > 0 || a.dropped.Load() > 0) {
			wait := max(a.o.Gather, time.Until(a.lastSent.Add(a.o.MinInterval)))
			timer.Reset(wait)
			armed = true
		}
	}
}

// drain takes every queued report, so that a mail includes what arrived
// up to the moment it is written.
func (a *Alerter) drain() {
	for {
		select {
		case r := <-a.queue:
			a.note(r)
		default:
			return
		}
	}
}

// note records a report, turning failures into an alert once they reach
// the threshold.
func (a *Alerter) note(r report) {
	if r.kind == kindFailing {
		recent := slices.DeleteFunc(append(a.failures[r.policy], r.time), func(t time.Time) bool {
			return r.time.Sub(t) >= a.o.FailWindow
		})
		if len(recent) < a.o.FailThreshold {
			a.failures[r.policy] = recent
			return
		}
		delete(a.failures, r.policy) // the next alert needs as many again
		r.detail = fmt.Sprintf("%d failures within %v; the last: %s", len(recent), a.o.FailWindow, r.detail)
	}
	for _, g := range a.pending {
		if g.kind == r.kind && g.policy == r.policy {
			g.report = r
			g.count++
			return
		}
	}
	a.pending = append(a.pending, &group{report: r, count: 1, first: r.time})
}

// flush mails what is pending, if anything.
func (a *Alerter) flush() {
	dropped := a.dropped.Swap(0)
	if len(a.pending) == 0 && dropped == 0 {
		return
	}
	subject, body := a.compose(dropped)
	a.pending = a.pending[:0]
	a.lastSent = time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), a.o.SendTimeout)
	defer cancel()
	if err := a.o.Send(ctx, subject, body); err != nil {
		a.o.Logger.Error("alert mail not sent", "subject", subject, "err", err)
		return
	}
	a.o.Logger.Info("alert mail sent", "subject", subject)
}

// compose writes the mail: a subject naming the first alert and how many
// others there are, and a body listing each group.
func (a *Alerter) compose(dropped int64) (string, string) {
	total := int64(0)
	for _, g := range a.pending {
		total += int64(g.count)
	}
	var subject string
	if len(a.pending) > 0 {
		subject = headline(a.pending[0].report)
		if more := total - 1 + dropped; more > 0 {
			subject += fmt.Sprintf(" (and %d more)", more)
		}
	} else {
		subject = fmt.Sprintf("%d alerts dropped", dropped)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "wasmhttpd on %s needs attention: %d alert(s).\n", a.host, total)
	for _, g := range a.pending {
		fmt.Fprintf(&b, "\n%s", headline(g.report))
		if g.count > 1 {
			fmt.Fprintf(&b, " (%d times, first at %s)", g.count, g.first.UTC().Format(time.RFC3339))
		}
		// A failure's detail quotes the guest's stderr, whatever bytes
		// it wrote; a mail's body must be UTF-8 to be composed at all.
		fmt.Fprintf(&b, "\n  at %s: %s\n", g.time.UTC().Format(time.RFC3339), strings.ToValidUTF8(g.detail, "\uFFFD"))
	}
	if dropped > 0 {
		fmt.Fprintf(&b, "\n%d more alert(s) were dropped: they came faster than the queue of %d could take.\n", dropped, a.o.QueueSize)
	}
	fmt.Fprintf(&b, "\nAlerts are mailed at most once every %v; the status page lists recent events.\n", a.o.MinInterval)
	return a.o.SubjectPrefix + subject, b.String()
}

// headline says in a few words what a report is about.
func headline(r report) string {
	switch r.kind {
	case kindRejected:
		return "policy " + r.policy + ": new module rejected, the old one still serves"
	case kindFailing:
		return "policy " + r.policy + ": keeps failing"
	}
	return "cache: the disk is full"
}
