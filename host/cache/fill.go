package cache

import (
	"context"
	"errors"
	"time"

	"wasmhttpd/host/http1"
)

// ErrFillAborted tells a waiting miss that the request filling its key
// ended without storing (the response was not storable, failed or was too
// large): it should fetch for itself rather than wait again.
var ErrFillAborted = errors.New("cache: the fill for this key was abandoned")

// ErrWaitTimeout tells a waiting miss that the fill it waited for took
// longer than Options.FillWait: it should fetch for itself. It need not
// store what it gets, since a fill is still under way.
var ErrWaitTimeout = errors.New("cache: timed out waiting for the fill of this key")

// fill is a key being fetched; waiters block on done, then read ok.
type fill struct {
	key  string
	done chan struct{}
	ok   bool
}

// resolve ends the fill, forgetting it first so that no new waiter
// arrives after done closes. It is nil-safe: a Writer outside
// LookupOrFill has no fill.
func (f *fill) resolve(s *Store, ok bool) {
	if f == nil {
		return
	}
	s.fillMu.Lock()
	if s.fills[f.key] == f {
		delete(s.fills, f.key)
	}
	s.fillMu.Unlock()
	f.ok = ok
	close(f.done)
}

// Fill is the duty, given to the first miss for a key, to fetch the
// response while the other misses for that key wait. It ends with Begin
// (then the Writer's Commit or Abort) or with Cancel; `defer fill.Cancel()`
// is safe after Begin.
type Fill struct {
	s     *Store
	f     *fill
	req   *http1.Header
	ended bool
}

// LookupOrFill is Lookup that collapses concurrent misses. It returns
// either the entry matching req, or the Fill for key when this request is
// the first miss, or — after waiting at most Options.FillWait or until ctx
// ends for another request's fill — ErrFillAborted, ErrWaitTimeout or the
// context's error, all meaning "fetch it yourself". When the committed
// response is a variant that does not match req, the request takes its
// turn to fill. req is read again by Fill.Begin and must not change before.
func (s *Store) LookupOrFill(ctx context.Context, key string, req *http1.Header) (*Entry, *Fill, error) {
	if e := s.find(key, req); e != nil {
		s.count(true)
		return e, nil, nil
	}
	deadline := time.Now().Add(s.opts.FillWait)
	for {
		s.fillMu.Lock()
		// Looked up again under fillMu: a fill publishes its entry
		// before it leaves s.fills, so a miss here is a real one.
		if e := s.find(key, req); e != nil {
			s.fillMu.Unlock()
			s.count(true)
			return e, nil, nil
		}
		f := s.fills[key]
		if f == nil {
			f = &fill{key: key, done: make(chan struct{})}
			s.fills[key] = f
			s.fillMu.Unlock()
			s.count(false)
			return nil, &Fill{s: s, f: f, req: req}, nil
		}
		s.fillMu.Unlock()
		s.waiting.Add(1)
		err := f.wait(ctx, deadline)
		s.waiting.Add(-1)
		if err == nil && !f.ok {
			err = ErrFillAborted
		}
		if err != nil {
			s.count(false)
			return nil, nil, err
		}
	}
}

// wait blocks until the fill ends, ctx is done or the deadline passes.
func (f *fill) wait(ctx context.Context, deadline time.Time) error {
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-f.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return ErrWaitTimeout
	}
}

// Begin starts storing the response as Store.Begin does; the waiters
// wake when the Writer commits or aborts. If Begin refuses the response,
// the waiters are told to fetch for themselves.
func (fl *Fill) Begin(resp Response) (*Writer, error) {
	if fl.ended {
		return nil, errors.New("cache: Begin on an ended Fill")
	}
	fl.ended = true
	return fl.s.begin(fl.f.key, fl.req, resp, fl.f)
}

// Cancel ends a Fill that will not store anything, waking the waiters
// with ErrFillAborted. It does nothing after Begin or Cancel.
func (fl *Fill) Cancel() {
	if !fl.ended {
		fl.ended = true
		fl.f.resolve(fl.s, false)
	}
}
