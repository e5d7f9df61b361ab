package alert

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"wasmhttpd/host/policy"
)

// mail is one mail the test's Send received.
type mail struct{ subject, body string }

// outbox records mails and lets a test wait for them.
type outbox struct {
	mu    sync.Mutex
	mails []mail
	sent  chan struct{}
	err   error
	gate  chan struct{} // when not nil, Send waits for it
	// entered, when not nil, hears each Send begin
	entered chan struct{}
}

func newOutbox() *outbox { return &outbox{sent: make(chan struct{}, 100)} }

func (o *outbox) send(ctx context.Context, subject, body string) error {
	if o.entered != nil {
		o.entered <- struct{}{}
	}
	if o.gate != nil {
		select {
		case <-o.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	o.mu.Lock()
	o.mails = append(o.mails, mail{subject, body})
	o.mu.Unlock()
	o.sent <- struct{}{}
	return o.err
}

func (o *outbox) all() []mail {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]mail(nil), o.mails...)
}

// wait waits for the next mail.
func (o *outbox) wait(t *testing.T) {
	t.Helper()
	select {
	case <-o.sent:
	case <-time.After(10 * time.Second):
		t.Fatal("no mail came")
	}
}

func newAlerter(t *testing.T, o Options, box *outbox) (*Alerter, *bytes.Buffer) {
	t.Helper()
	var logs bytes.Buffer
	var mu sync.Mutex
	o.Send = box.send
	o.SubjectPrefix = "[test] "
	o.Logger = slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, nil))
	if o.Gather == 0 {
		o.Gather = 100 * time.Millisecond
	}
	if o.MinInterval == 0 {
		o.MinInterval = time.Hour
	}
	a := New(o)
	t.Cleanup(a.Close)
	return a, &logs
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func rejected(name, why string) policy.Event {
	return policy.Event{Time: time.Now(), Policy: name, Kind: policy.EventRejected, Detail: why}
}

func TestStormSendsOneMail(t *testing.T) {
	box := newOutbox()
	a, _ := newAlerter(t, Options{Gather: 500 * time.Millisecond}, box)
	for i := range 100 {
		switch i % 3 {
		case 0:
			a.Policy(rejected("router", fmt.Sprintf("compile error %d", i)))
		case 1:
			a.NoSpace(fmt.Errorf("write cachedir/http/tmp/x: %w", syscall.ENOSPC))
		case 2:
			a.Policy(rejected("cache", "bad magic"))
		}
	}
	box.wait(t)
	a.Close()
	mails := box.all()
	require.Len(t, mails, 1, "a storm of 100 alerts is one mail")
	m := mails[0]
	assert.Equal(t, "[test] policy router: new module rejected, the old one still serves (and 99 more)", m.subject)
	assert.Contains(t, m.body, "100 alert(s)")
	assert.Contains(t, m.body, "policy router: new module rejected, the old one still serves (34 times")
	assert.Contains(t, m.body, "compile error 99")
	assert.Contains(t, m.body, "cache: the disk is full (33 times")
	assert.Contains(t, m.body, "no space left on device")
	assert.Contains(t, m.body, "policy cache: new module rejected, the old one still serves (33 times")
}

func TestMinInterval(t *testing.T) {
	// Within MinInterval of a mail, alerts wait; with an hour, only Close
	// can send them. The check cannot fail because the machine is slow,
	// only miss a mail sent too early if the goroutine was starved.
	box := newOutbox()
	a, _ := newAlerter(t, Options{Gather: 10 * time.Millisecond, MinInterval: time.Hour}, box)
	a.Policy(rejected("router", "first"))
	box.wait(t)
	a.Policy(rejected("router", "second"))
	a.Policy(rejected("router", "third"))
	time.Sleep(100 * time.Millisecond) // ten times Gather
	assert.Len(t, box.all(), 1, "the second mail waits out the interval")
	a.Close()
	mails := box.all()
	require.Len(t, mails, 2)
	assert.Contains(t, mails[0].body, "first")
	assert.Contains(t, mails[1].body, "(2 times")
	assert.Contains(t, mails[1].body, "third")
}

func TestMailAfterTheInterval(t *testing.T) {
	// Once MinInterval has passed, the next alert goes by itself.
	box := newOutbox()
	a, _ := newAlerter(t, Options{Gather: 10 * time.Millisecond, MinInterval: 50 * time.Millisecond}, box)
	a.Policy(rejected("router", "first"))
	box.wait(t)
	a.Policy(rejected("router", "second"))
	box.wait(t)
	mails := box.all()
	require.Len(t, mails, 2)
	assert.Contains(t, mails[1].body, "second")
}

func TestKeepsFailing(t *testing.T) {
	box := newOutbox()
	a, _ := newAlerter(t, Options{FailThreshold: 3, FailWindow: time.Minute}, box)
	t0 := time.Now()
	failed := func(name string, at time.Duration) {
		a.Policy(policy.Event{Time: t0.Add(at), Policy: name, Kind: policy.EventFailed, Detail: fmt.Sprintf("trap at %v", at)})
	}
	// Three failures, but never three within a minute.
	failed("auth", 0)
	failed("auth", 40*time.Second)
	failed("auth", 80*time.Second)
	// Two of another policy: below the threshold.
	failed("router", 0)
	failed("router", time.Second)
	// Loads are not alerts.
	a.Policy(policy.Event{Time: t0, Policy: "auth", Kind: policy.EventLoaded})
	// Now three within a minute.
	failed("auth", 90*time.Second)
	a.Close()
	mails := box.all()
	require.Len(t, mails, 1)
	assert.Equal(t, "[test] policy auth: keeps failing", mails[0].subject)
	assert.Contains(t, mails[0].body, "3 failures within 1m0s; the last: trap at 1m30s")
	assert.NotContains(t, mails[0].body, "router")
}

func TestEachKind(t *testing.T) {
	tests := []struct {
		name    string
		raise   func(a *Alerter)
		subject string
		detail  string
	}{
		{"rejected", func(a *Alerter) { a.Policy(rejected("redirects", "wasm: invalid magic number")) },
			"[test] policy redirects: new module rejected, the old one still serves", "wasm: invalid magic number"},
		{"failing", func(a *Alerter) {
			for range 2 {
				a.Policy(policy.Event{Policy: "echo", Kind: policy.EventFailed, Detail: "out of memory"})
			}
		}, "[test] policy echo: keeps failing", "2 failures within 1m0s; the last: out of memory"},
		{"no space", func(a *Alerter) { a.NoSpace(fmt.Errorf("write x: %w", syscall.ENOSPC)) },
			"[test] cache: the disk is full", "write x: no space left on device"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			box := newOutbox()
			a, _ := newAlerter(t, Options{FailThreshold: 2}, box)
			tt.raise(a)
			box.wait(t)
			mails := box.all()
			require.Len(t, mails, 1)
			assert.Equal(t, tt.subject, mails[0].subject)
			assert.Contains(t, mails[0].body, tt.detail)
		})
	}
}

func TestCloseSendsWhatIsPending(t *testing.T) {
	box := newOutbox()
	a, _ := newAlerter(t, Options{Gather: 10 * time.Millisecond}, box)
	a.Policy(rejected("router", "first"))
	box.wait(t)
	a.Policy(rejected("cache", "second")) // would wait an hour
	a.Close()
	mails := box.all()
	require.Len(t, mails, 2)
	assert.Contains(t, mails[1].body, "second")

	a.Policy(rejected("cache", "after close")) // neither blocks nor panics
	a.Close()
	assert.Len(t, box.all(), 2)
}

func TestCloseIsBounded(t *testing.T) {
	box := newOutbox()
	box.gate = make(chan struct{}) // never opens: a mail server that hangs
	a, logs := newAlerter(t, Options{SendTimeout: 50 * time.Millisecond}, box)
	a.Policy(rejected("router", "x"))
	a.Close()
	assert.Empty(t, box.all())
	assert.Contains(t, logs.String(), "alert mail not sent")
	assert.Contains(t, logs.String(), "deadline exceeded")
}

func TestFullQueueDropsAndSays(t *testing.T) {
	box := newOutbox()
	box.gate, box.entered = make(chan struct{}), make(chan struct{}, 2)
	a, _ := newAlerter(t, Options{QueueSize: 4, Gather: time.Millisecond, MinInterval: time.Millisecond}, box)
	a.Policy(rejected("router", "first"))
	<-box.entered // the goroutine is stuck in Send, so the queue fills
	for range 10 {
		a.NoSpace(syscall.ENOSPC)
	}
	assert.Equal(t, int64(6), a.dropped.Load())
	close(box.gate)
	box.wait(t)
	box.wait(t)
	mails := box.all()
	require.Len(t, mails, 2)
	assert.Contains(t, mails[1].body, "cache: the disk is full (4 times")
	assert.Contains(t, mails[1].body, "6 more alert(s) were dropped")
	assert.Equal(t, "[test] cache: the disk is full (and 9 more)", mails[1].subject)
}

func TestSendErrorIsLogged(t *testing.T) {
	box := newOutbox()
	box.err = errors.New("smtp: RCPT TO:<x@y>: 550 no such user")
	a, logs := newAlerter(t, Options{}, box)
	a.Policy(rejected("router", "x"))
	box.wait(t)
	a.Close()
	assert.Contains(t, logs.String(), "550 no such user")
}

func TestDetailThatIsNotUTF8(t *testing.T) {
	// A failure's cause quotes the guest's stderr, any bytes it wrote;
	// the mail's body must be text, or the mail cannot be composed.
	box := newOutbox()
	a, _ := newAlerter(t, Options{FailThreshold: 1}, box)
	a.Policy(policy.Event{Policy: "echo", Kind: policy.EventFailed, Detail: "trap: unreachable (panic: bad byte \xff\xfe)"})
	box.wait(t)
	body := box.all()[0].body
	assert.True(t, utf8.ValidString(body), "%q", body)
	assert.Contains(t, body, "(panic: bad byte \uFFFD)")
}
