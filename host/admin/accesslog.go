// Package admin holds the server's operational surfaces: the access log,
// metrics, the status page and health checks.
package admin

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Entry is one finished exchange as the access log sees it. The byte slices
// may alias the connection's request buffer, which is reused for the next
// request: Log copies what it needs before it returns and keeps no reference.
type Entry struct {
	Time       time.Time // when the request started
	Duration   time.Duration
	RemoteAddr string // "ip:port"; the combined format logs only the ip
	// Addr, when valid, is used instead of RemoteAddr. It lets a caller that
	// holds the peer as a netip.AddrPort log it without building a string,
	// which would cost an allocation per request.
	Addr      netip.AddrPort
	Method    string
	Target    []byte // the request-target as received
	Proto     string // "HTTP/1.1"
	Status    int
	Bytes     int64 // response body bytes sent
	Host      []byte
	Referer   []byte
	UserAgent []byte
	Listener  string // the listener's name, e.g. "origin"
}

// AccessLogOptions configures NewAccessLog. The zero values of the rotation
// fields switch that kind of rotation off.
type AccessLogOptions struct {
	// Path is "stdout", "stderr", "off", or the path of a file, which is
	// appended to if it exists and created (with its directory) if not.
	// Rotation applies only to regular files.
	Path string
	// Format is "combined" (the default when empty) or "json".
	Format string
	// MaxSize rotates the file before a line would take it past this many
	// bytes. A single line longer than MaxSize still goes out, alone in its
	// file: losing it would be worse than an oversized file.
	MaxSize int64
	// MaxAge rotates the file once its first line is older than this.
	MaxAge time.Duration
	// Keep is how many rotated files to keep; older ones are deleted.
	// 0 keeps them all.
	Keep int
	// Compress gzips rotated files, in the background.
	Compress bool
	// OnError, when set, hears about write, rotation and compression
	// failures, at most once per second, so that a full disk is reported
	// without flooding the error log. Close returns the first failure in
	// any case. It may be called with the log's lock held: it must not call
	// back into the AccessLog.
	OnError func(error)
}

const (
	// bufSize bounds what a crash can lose and how often a busy server
	// makes a write syscall.
	bufSize = 64 << 10
	// flushEvery is the longest a line waits in memory on an idle server.
	flushEvery = time.Second
	// minTick keeps a test-sized MaxAge from turning the flusher into a
	// busy loop.
	minTick = 10 * time.Millisecond
	// errorEvery rate-limits OnError.
	errorEvery = time.Second
	// fileMode matches what nginx and Apache create access logs with, so
	// existing log shippers can read them. A rotated-in file inherits the
	// mode of the file it replaces instead, so an operator's chmod sticks.
	fileMode os.FileMode = 0o644
)

// AccessLog writes one line per exchange. Lines are buffered in memory and
// written at least once a second, when the buffer fills, on Rotate and on
// Close, so that the request path costs no syscall per line. It is safe for
// concurrent use. The zero value and a nil *AccessLog are usable and log
// nothing.
type AccessLog struct {
	// on is false for Path "off" and the zero value: Log returns before
	// doing any work, without touching the lock.
	on      bool
	json    bool
	onError func(error)

	mu     sync.Mutex
	closed bool
	// buf holds whole lines only, so that a flush or a rotation never
	// splits a line between two writes or two files. It is a plain slice
	// rather than a bufio.Writer because bufio keeps its first write error
	// forever: one transient ENOSPC would silence the log until restart,
	// whereas this one drops the failed buffer and tries again.
	buf []byte
	f   *os.File // the open file, or os.Stdout / os.Stderr
	own bool     // f was opened here, so Close closes it

	// Rotation state. rotating is false for stdout and stderr, and for a
	// path that is not a regular file: renaming /dev/null away, as root,
	// would break the whole machine.
	rotating bool
	path     string
	maxSize  int64
	maxAge   time.Duration
	keep     int
	compress bool
	size     int64     // bytes written to the current file
	born     time.Time // when the current file got its first line, roughly
	// rotateRetry holds off size rotation after a failure, so that a
	// directory that refuses renames costs one attempt per second rather
	// than one per line.
	rotateRetry time.Time
	lastBackup  time.Time // the time in the newest rotated file's name

	errMu      sync.Mutex
	firstErr   error
	lastReport time.Time

	stop     chan struct{} // closed by Close: stops the goroutines
	millKick chan struct{} // nil unless rotated files need compressing or pruning
	wg       sync.WaitGroup
}

// NewAccessLog opens the access log that opts describe and starts its
// flusher. Call Close to flush the last lines and stop it.
func NewAccessLog(opts AccessLogOptions) (*AccessLog, error) {
	l := &AccessLog{on: true, onError: opts.OnError}
	switch opts.Format {
	case "", "combined":
	case "json":
		l.json = true
	default:
		return nil, fmt.Errorf("access log format %q: want \"combined\" or \"json\"", opts.Format)
	}
	if opts.MaxSize < 0 || opts.MaxAge < 0 || opts.Keep < 0 {
		return nil, errors.New("access log: max_size, max_age and keep must not be negative")
	}
	switch opts.Path {
	case "off":
		return &AccessLog{}, nil
	case "":
		return nil, errors.New("access log path is empty: use \"off\" to disable the access log")
	case "stdout":
		l.f = os.Stdout
	case "stderr":
		l.f = os.Stderr
	default:
		l.path = opts.Path
		if err := l.open(time.Now()); err != nil {
			return nil, err
		}
		if l.rotating {
			l.maxSize, l.maxAge = opts.MaxSize, opts.MaxAge
			l.keep, l.compress = opts.Keep, opts.Compress
		}
	}
	l.buf = make([]byte, 0, bufSize)
	l.stop = make(chan struct{})

	if l.rotating && (l.keep > 0 || l.compress) {
		l.millKick = make(chan struct{}, 1)
		l.millKick <- struct{}{} // tidy up after a previous run, too
	}
	tick := flushEvery
	if l.rotating && l.maxAge > 0 {
		tick = min(tick, max(l.maxAge, minTick))
		// A file left by a previous run may already be due.
		l.rotateIfOldLocked(time.Now()) // no goroutine can see l yet
	}
	if l.millKick != nil {
		l.wg.Add(1)
		go l.miller()
	}
	l.wg.Add(1)
	go l.flusher(tick)
	return l, nil
}

// open opens (or creates) the log file and takes its size and age.
func (l *AccessLog) open(now time.Time) error {
	if err := os.MkdirAll(filepath.Dir(l.path), 0o755); err != nil {
		return fmt.Errorf("access log: %w", err)
	}
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, fileMode)
	if err != nil {
		return fmt.Errorf("access log: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("access log: %w", err)
	}
	l.f, l.own, l.rotating, l.size = f, true, fi.Mode().IsRegular(), fi.Size()
	// Linux's stat has no birth time, so the age of a file left by a
	// previous run is taken from its mtime, the time of its last line. That
	// undercounts the age of a file that was written right up to the
	// restart (it can then span up to MaxAge more), but it rotates a file
	// that sat idle past MaxAge, e.g. across a night of downtime, at once,
	// and it never rotates a fresh file early.
	l.born = now
	if l.size > 0 {
		l.born = fi.ModTime()
	}
	return nil
}

// Log appends the line for e. It never blocks on the disk except when the
// buffer is full or a rotation is due, and it allocates nothing.
func (l *AccessLog) Log(e *Entry) {
	if l == nil || !l.on {
		return
	}
	// Format outside the lock, in a pooled buffer: concurrent requests
	// then contend only for the copy into the shared buffer.
	lb := linePool.Get().(*lineBuf)
	if l.json {
		lb.b = lb.appendJSON(lb.b[:0], e)
	} else {
		lb.b = lb.appendCombined(lb.b[:0], e)
	}
	l.mu.Lock()
	if !l.closed {
		l.writeLineLocked(lb.b)
	}
	l.mu.Unlock()
	if cap(lb.b) > maxPooledLine {
		lb.b = nil // one hostile request must not pin a huge buffer
	}
	linePool.Put(lb)
}

func (l *AccessLog) writeLineLocked(line []byte) {
	if l.maxSize > 0 {
		pending := l.size + int64(len(l.buf))
		if pending > 0 && pending+int64(len(line)) > l.maxSize {
			if now := time.Now(); now.After(l.rotateRetry) {
				if err := l.rotateLocked(now); err != nil {
					l.rotateRetry = now.Add(time.Second)
				}
			}
		}
	}
	if len(l.buf)+len(line) > cap(l.buf) {
		l.flushLocked()
		if len(line) > cap(l.buf) {
			l.writeLocked(line)
			return
		}
	}
	l.buf = append(l.buf, line...)
}

func (l *AccessLog) flushLocked() {
	if len(l.buf) > 0 {
		l.writeLocked(l.buf)
		l.buf = l.buf[:0]
	}
}

// writeLocked writes p to the file. On failure the lines are dropped rather
// than retried: a log that holds on to them would grow without bound while
// the disk is full.
func (l *AccessLog) writeLocked(p []byte) {
	n, err := l.f.Write(p)
	l.size += int64(n)
	if err != nil {
		l.report(fmt.Errorf("access log: write: %w", err))
	}
}

// Rotate closes the current file under a rotated name and starts a new one,
// whatever its size and age: for tests, and for an operator who wants a
// clean cut. It also reopens a file that was moved or deleted from under
// the server. For stdout, stderr and a path that is not a regular file it
// only flushes; for "off" it does nothing.
func (l *AccessLog) Rotate() error {
	if l == nil || !l.on {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return os.ErrClosed
	}
	if !l.rotating {
		l.flushLocked()
		return nil
	}
	return l.rotateLocked(time.Now())
}

// Close writes out the buffered lines, closes the file and stops the
// background goroutines, waiting for a pending compression to finish. It
// returns the first error the log met since it was opened. Lines logged
// after Close are dropped.
func (l *AccessLog) Close() error {
	if l == nil || !l.on {
		return nil
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	// Mark closed before stopping the goroutines, so that no rotation can
	// start after the miller has made its last pass.
	l.closed = true
	l.flushLocked()
	if l.rotating { // a regular file: devices and pipes cannot sync
		if err := l.f.Sync(); err != nil {
			l.report(fmt.Errorf("access log: %w", err))
		}
	}
	if l.own {
		if err := l.f.Close(); err != nil {
			l.report(fmt.Errorf("access log: %w", err))
		}
	}
	l.mu.Unlock()
	close(l.stop)
	l.wg.Wait()
	l.errMu.Lock()
	defer l.errMu.Unlock()
	return l.firstErr
}

// flusher bounds how long a line waits in memory, and rotates by age.
func (l *AccessLog) flusher(every time.Duration) {
	defer l.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case now := <-t.C:
			l.mu.Lock()
			if !l.closed {
				l.flushLocked()
				l.rotateIfOldLocked(now)
			}
			l.mu.Unlock()
		}
	}
}

func (l *AccessLog) rotateIfOldLocked(now time.Time) {
	if !l.rotating || l.maxAge <= 0 {
		return
	}
	if l.size+int64(len(l.buf)) == 0 {
		// An empty file has no age: start counting at its first line, and
		// never leave a trail of empty rotated files behind an idle server.
		l.born = now
		return
	}
	if now.Sub(l.born) >= l.maxAge {
		l.rotateLocked(now)
	}
}

// report records err for Close and passes it to OnError, at most once per
// errorEvery.
func (l *AccessLog) report(err error) {
	l.errMu.Lock()
	defer l.errMu.Unlock()
	if l.firstErr == nil {
		l.firstErr = err
	}
	if l.onError == nil {
		return
	}
	if now := time.Now(); l.lastReport.IsZero() || now.Sub(l.lastReport) >= errorEvery {
		l.lastReport = now
		l.onError(err)
	}
}
