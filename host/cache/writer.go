package cache

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"wasmhttpd/host/http1"
)

// ErrAborted is what Commit reports after Abort.
var ErrAborted = errors.New("cache: store aborted")

// ErrLength reports a body whose length differs from its declared
// Content-Length: a truncated response must not be stored.
var ErrLength = errors.New("cache: body length differs from Content-Length")

// Writer stores one response body as it streams by. Nothing of it is
// visible until Commit. Write never fails: a Writer that can no longer
// store (the body outgrew the limit, the disk failed) aborts itself,
// discards what follows and reports why from Err and Commit, so that a
// proxy copying the same bytes to its client is never interrupted by the
// cache. Every Writer must end in Commit or Abort; `defer w.Abort()` is
// safe after Commit. A Writer is used by one goroutine.
type Writer struct {
	s      *Store
	e      *Entry // to publish; Size counts the bytes written so far
	f      *os.File
	tmp    string
	length int64 // declared, or -1
	fill   *fill // resolved when the Writer ends; nil outside LookupOrFill
	err    error
	done   bool
}

// Begin starts storing resp as the variant of key selected by the request
// fields req (those the response's Vary names). It refuses a response
// that varies on "*" or declares a body over the size limit.
func (s *Store) Begin(key string, req *http1.Header, resp Response) (*Writer, error) {
	return s.begin(key, req, resp, nil)
}

func (s *Store) begin(key string, req *http1.Header, resp Response, fl *fill) (*Writer, error) {
	w, err := s.start(key, req, resp)
	if err != nil {
		s.aborted.Add(1)
		fl.resolve(s, false)
		return nil, err
	}
	w.fill = fl
	return w, nil
}

func (s *Store) start(key string, req *http1.Header, resp Response) (*Writer, error) {
	if resp.Status < 100 || resp.Status > 999 || resp.Header == nil || resp.Length < -1 {
		return nil, fmt.Errorf("cache: bad response to store: status %d, length %d", resp.Status, resp.Length)
	}
	s.mu.RLock()
	closed := s.closed
	s.mu.RUnlock()
	if closed {
		return nil, ErrClosed
	}
	names, star := varyNames(resp.Header)
	if star {
		return nil, ErrVaryStar
	}
	if s.tooLarge(resp.Length) {
		return nil, ErrTooLarge
	}
	e := &Entry{
		Key:       key,
		Status:    resp.Status,
		Times:     resp.Times,
		Freshness: resp.Freshness,
		vary:      selectFields(req, names),
		bodyGen:   s.nextGen(),
		epoch:     s.invalidations[s.slot(key)].Load(),
		dir:       s.root,
	}
	e.Header.CopyFrom(resp.Header)
	if err := checkEncodable(e); err != nil {
		return nil, err
	}
	e.id = idOf(key, e.vary)
	w := &Writer{s: s, e: e, length: resp.Length, tmp: tmpPath(s.root, e.id, e.bodyGen, bodySuffix)}
	f, err := os.OpenFile(w.tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		s.fault("cannot create a temp file", err)
		return nil, fmt.Errorf("cache: %w", err)
	}
	w.f = f
	return w, nil
}

// tooLarge reports whether a body of n bytes may not be stored.
func (s *Store) tooLarge(n int64) bool {
	return s.opts.MaxObjectSize > 0 && n > s.opts.MaxObjectSize ||
		s.opts.MaxSize > 0 && n > s.opts.MaxSize
}

// Write appends p to the body. It always reports len(p) written: see the
// type's documentation.
func (w *Writer) Write(p []byte) (int, error) {
	if w.done {
		return len(p), nil
	}
	size := w.e.Size + int64(len(p))
	switch {
	case w.length >= 0 && size > w.length:
		w.fail(fmt.Errorf("%w: more than %d bytes", ErrLength, w.length))
	case w.s.tooLarge(size):
		w.fail(ErrTooLarge)
	default:
		n, err := w.f.Write(p)
		w.e.Size += int64(n)
		if err != nil {
			w.s.fault("cannot write a temp file", err)
			w.fail(fmt.Errorf("cache: %w", err))
		}
	}
	return len(p), nil
}

// Err reports why the Writer aborted itself, or nil while it still stores.
func (w *Writer) Err() error { return w.err }

// Commit checks that the body is complete — as long as the declared
// Content-Length, or whatever was written when none was declared — makes
// it durable and publishes the entry atomically, evicting others if the
// limits demand it. On any failure nothing is published and the temp file
// is gone.
func (w *Writer) Commit() (*Entry, error) {
	if w.done {
		if w.err == nil {
			return nil, errors.New("cache: Commit after Commit")
		}
		return nil, w.err
	}
	if w.length >= 0 && w.e.Size != w.length {
		w.fail(fmt.Errorf("%w: %d bytes of %d", ErrLength, w.e.Size, w.length))
		return nil, w.err
	}
	if err := w.persist(); err != nil {
		w.s.fault("cannot commit an entry", err)
		w.fail(fmt.Errorf("cache: %w", err))
		return nil, w.err
	}
	garbage, err := w.s.publish(w.e)
	w.s.unlink(garbage)
	if err != nil {
		w.fail(err)
		return nil, err
	}
	w.done = true
	w.s.stores.Add(1)
	w.end(true)
	return w.e, nil
}

// ErrInvalidated refuses to publish a response whose key was invalidated
// while it was being stored: it may predate the change that caused the
// invalidation (RFC 9111 4.4).
var ErrInvalidated = errors.New("cache: key invalidated during the store")

// persist makes the body durable, moves it into place and writes the
// metadata that makes it an entry. The order is what crash safety rests
// on; the package documentation explains it.
func (w *Writer) persist() error {
	err := w.f.Sync()
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	w.f = nil
	if err != nil {
		return err
	}
	body := bodyPath(w.s.root, w.e.id, w.e.bodyGen)
	if err := os.Rename(w.tmp, body); err != nil {
		return err
	}
	w.tmp = body // so that a failure below removes it
	w.e.gen = w.s.nextGen()
	return w.s.writeMeta(w.e)
}

// Abort abandons the store and removes its temp file. It does nothing
// after Commit or a previous Abort.
func (w *Writer) Abort() {
	if !w.done {
		w.fail(ErrAborted)
	}
}

// fail ends the Writer unsuccessfully with err.
func (w *Writer) fail(err error) {
	w.err, w.done = err, true
	if w.f != nil {
		w.f.Close()
		w.f = nil
	}
	w.s.remove1(w.tmp)
	w.s.aborted.Add(1)
	w.end(false)
}

// end wakes whoever waits for this fill; it runs once, as the Writer
// ends once.
func (w *Writer) end(ok bool) {
	w.fill.resolve(w.s, ok)
	w.fill = nil
}

// writeMeta writes e's metadata file through the temp directory, so that
// it appears whole or not at all, and records its size in e. It is not
// fsynced: after a power loss a torn one fails its checksum at Open and
// the entry is dropped, which for a cache is a miss, not a wrong answer.
func (s *Store) writeMeta(e *Entry) error {
	bp := metaBuffers.Get().(*[]byte)
	defer metaBuffers.Put(bp)
	*bp = appendMeta((*bp)[:0], e)
	e.metaLen = int64(len(*bp))
	tmp := tmpPath(s.root, e.id, e.gen, metaSuffix)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(*bp)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, metaPath(s.root, e.id, e.gen))
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

var metaBuffers = sync.Pool{New: func() any { return new([]byte) }}
