package server

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"wasmhttpd/host/http1"
)

// Buffer sizes. A 4 KiB read buffer holds any ordinary request head; the
// 8 KiB write buffer holds the head and body of a small file, so such a
// response leaves in one write.
const (
	readBufferSize  = 4 << 10
	writeBufferSize = 8 << 10
)

// Connection states, for the graceful drain: only an idle connection may
// be closed under a client's feet.
const (
	stateActive int32 = iota
	stateIdle
	stateClosed
)

// conn is one client connection and everything reused across its
// requests. It is pooled: a new connection costs no allocation once the
// server is warm.
type conn struct {
	srv   *Server
	nc    net.Conn
	state atomic.Int32

	// bodyTimeout, when non-zero, makes every Read push the read deadline
	// out by that much: the body timeout bounds gaps between reads, while
	// the header timeout bounds the whole head and is set once.
	bodyTimeout time.Duration

	// writeRefresh is when the write deadline next needs pushing out.
	// Setting a deadline costs about as much as parsing a request head,
	// so it is refreshed only once an eighth of the timeout has passed:
	// the effective bound on a stalled write is then between 7/8 of the
	// timeout and all of it.
	writeRefresh time.Time

	br     *bufio.Reader
	bw     *bufio.Writer
	reader *http1.Reader
	req    http1.Request
	resp   *http1.ResponseWriter
	ex     http1.Exchange

	// hijacked is set once the handler has taken the connection over
	// (Exchange.Hijack); hijackFn is that method value, made once per
	// pooled conn rather than once per connection.
	hijacked bool
	hijackFn func() (net.Conn, []byte, error)
}

var connPool sync.Pool

func newConn(s *Server, nc net.Conn) *conn {
	c, _ := connPool.Get().(*conn)
	if c == nil {
		c = &conn{
			br: bufio.NewReaderSize(nil, readBufferSize),
			bw: bufio.NewWriterSize(nil, writeBufferSize),
		}
		c.reader = http1.NewReader(c.br, c.bw, s.cfg.Limits)
		c.resp = http1.NewResponseWriter(c.bw, c)
		c.hijackFn = c.hijack
	}
	c.srv, c.nc = s, nc
	c.bodyTimeout, c.writeRefresh, c.hijacked = 0, time.Time{}, false
	c.state.Store(stateIdle)
	c.br.Reset(c)
	c.bw.Reset(c)
	c.reader.Reset(c.br, c.bw, s.cfg.Limits)
	c.resp.CloseWhen(&s.closing)
	c.resp.SetDrainLimit(s.cfg.MaxDrain)
	c.ex = http1.Exchange{
		Request:    &c.req,
		Response:   c.resp,
		Listener:   s.cfg.Name,
		RemoteAddr: addrPort(nc.RemoteAddr()),
		LocalAddr:  addrPort(nc.LocalAddr()),
		Hijack:     c.hijackFn,
	}
	return c
}

func (c *conn) release() {
	c.srv, c.nc = nil, nil
	c.br.Reset(nil)
	c.bw.Reset(nil)
	connPool.Put(c)
}

func addrPort(a net.Addr) netip.AddrPort {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.AddrPort()
	}
	return netip.AddrPort{}
}

// Read implements io.Reader for the bufio.Reader.
func (c *conn) Read(p []byte) (int, error) {
	if c.bodyTimeout > 0 {
		c.nc.SetReadDeadline(time.Now().Add(c.bodyTimeout))
	}
	return c.nc.Read(p)
}

// Write implements io.Writer for the bufio.Writer; the write timeout
// bounds each write, so a slow reader of a big body is cut off only when
// it stalls.
func (c *conn) Write(p []byte) (int, error) {
	c.extendWriteDeadline()
	return c.nc.Write(p)
}

func (c *conn) extendWriteDeadline() {
	now := time.Now()
	if now.Before(c.writeRefresh) {
		return
	}
	timeout := c.srv.cfg.WriteTimeout
	c.nc.SetWriteDeadline(now.Add(timeout))
	c.writeRefresh = now.Add(timeout / 8)
}

// sendfileSlice is how much of a file one sendfile call may send before
// the write deadline is pushed out again. A slice must go out within the
// write timeout, so this sets the slowest client that can still download:
// 512 KiB per 30 s is about 17 KB/s.
const sendfileSlice = 512 << 10

// ReadFrom sends a file body straight from the page cache: the
// connection's ReadFrom turns an *os.File (or an io.LimitedReader of one)
// into sendfile(2). It goes in slices so the write timeout stays a bound
// on stalls, not on the transfer of a large file.
func (c *conn) ReadFrom(r io.Reader) (int64, error) {
	lr, ok := r.(*io.LimitedReader)
	if !ok {
		return io.Copy(writerOnly{c}, r)
	}
	dst, ok := c.nc.(io.ReaderFrom)
	if _, isFile := lr.R.(*os.File); !ok || !isFile {
		return io.Copy(writerOnly{c}, r)
	}
	var total int64
	for lr.N > 0 {
		c.extendWriteDeadline()
		slice := &io.LimitedReader{R: lr.R, N: min(lr.N, sendfileSlice)}
		n, err := dst.ReadFrom(slice)
		total += n
		lr.N -= n
		if err != nil {
			return total, err
		}
		if n == 0 {
			break
		}
	}
	return total, nil
}

type writerOnly struct{ io.Writer }

// closeIfIdle closes the connection if it is waiting for a request; a busy
// one notices the shutdown after its response.
func (c *conn) closeIfIdle() {
	if c.state.CompareAndSwap(stateIdle, stateClosed) {
		c.nc.SetReadDeadline(time.Now())
	}
}

// serve runs the request loop: read a head, let the handler answer, finish
// the response, drain what the handler left of the body, and go again
// while both sides want to keep the connection.
func (c *conn) serve() {
	s := c.srv
	defer func() {
		c.nc.Close()
		if c.state.Load() != stateActive {
			s.idle.Add(-1)
		}
		s.forget(c)
		c.release()
	}()
	s.idle.Add(1)
	for served := 0; ; served++ {
		wait := s.cfg.IdleTimeout
		if served == 0 {
			wait = s.cfg.HeaderTimeout
		}
		if !c.awaitRequest(wait) {
			return
		}
		if !c.serveOne(served) {
			return
		}
		c.state.Store(stateIdle)
		s.idle.Add(1)
	}
}

// awaitRequest waits for the first byte of the next request and marks the
// connection active. It reports false when the connection should close:
// the client went away, stayed idle too long, or the server is shutting
// down.
func (c *conn) awaitRequest(wait time.Duration) bool {
	s := c.srv
	if s.closing.Load() {
		return false
	}
	if !c.reader.Buffered() {
		c.nc.SetReadDeadline(time.Now().Add(wait))
		if _, err := c.br.Peek(1); err != nil {
			return false
		}
	}
	if !c.state.CompareAndSwap(stateIdle, stateActive) {
		return false
	}
	s.idle.Add(-1)
	return true
}

// headBuffered reports whether a whole request head has already arrived.
// Usually it has, in the packet that woke the connection, and then no read
// can block on it and the header deadline need not be set.
func (c *conn) headBuffered() bool {
	head, _ := c.br.Peek(c.br.Buffered())
	// Empty lines before a request line are skipped by the parser, so
	// they must not pass for the end of a head.
	head = bytes.TrimLeft(head, "\r\n")
	return bytes.Contains(head, []byte("\r\n\r\n"))
}

// serveOne reads and answers one request; it reports whether the
// connection can carry another.
func (c *conn) serveOne(served int) bool {
	s := c.srv
	start := time.Now()
	if !c.headBuffered() {
		c.nc.SetReadDeadline(start.Add(s.cfg.HeaderTimeout))
	}
	err := c.reader.ReadRequest(&c.req)
	c.resp.Reset(&c.req)
	c.ex.Start = start
	if err != nil {
		c.refuse(err)
		return false
	}
	last := s.cfg.MaxRequestsPerConnection > 0 && served+1 >= s.cfg.MaxRequestsPerConnection
	if last {
		c.resp.SetClose()
	}

	// The deadline left from the head stays: the body's reads each set
	// their own, and nothing else reads until the next awaitRequest.
	c.bodyTimeout = s.cfg.BodyTimeout
	c.runHandler()
	if c.hijacked {
		// The handler has used the connection up; there is no response of
		// ours to finish and nothing to read after it.
		if s.cfg.Observe != nil {
			s.cfg.Observe(&c.ex, time.Since(start))
		}
		return false
	}
	finishErr := c.resp.Finish()
	keep := finishErr == nil && !c.resp.Closing() && c.req.Body.Drain(s.cfg.MaxDrain)
	c.bodyTimeout = 0
	if s.cfg.Observe != nil {
		s.cfg.Observe(&c.ex, time.Since(start))
	}
	return keep && !s.closing.Load()
}

// runHandler calls the handler, turning a panic into a 500 and a log line:
// one bad request must not take the server down.
func (c *conn) runHandler() {
	defer func() {
		if p := recover(); p != nil {
			c.srv.cfg.Logger.Error("handler panic", "listener", c.srv.cfg.Name,
				"method", c.req.Method, "target", string(c.req.Target), "panic", p, "stack", string(debug.Stack()))
			c.resp.SetClose()
			c.resp.Error(500, "internal error")
		}
	}()
	c.srv.cfg.Handler.Serve(&c.ex)
}

// errHijacked is returned by a second call of Exchange.Hijack.
var errHijacked = errors.New("server: connection already hijacked")

// hijack implements Exchange.Hijack (see its contract).
func (c *conn) hijack() (net.Conn, []byte, error) {
	if c.hijacked {
		return nil, nil, errHijacked
	}
	if err := c.bw.Flush(); err != nil {
		return nil, nil, err
	}
	buffered, _ := c.br.Peek(c.br.Buffered())
	rest := bytes.Clone(buffered)
	c.br.Discard(len(buffered))
	c.hijacked, c.bodyTimeout = true, 0
	c.nc.SetDeadline(time.Time{})
	return c.nc, rest, nil
}

// refuse answers a request the parser rejected, then the connection
// closes: after a framing error nothing that follows can be trusted.
func (c *conn) refuse(err error) {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
		return
	}
	status := http1.StatusOf(err)
	c.srv.cfg.Logger.Debug("request refused", "listener", c.srv.cfg.Name,
		"remote", c.ex.RemoteAddr.String(), "status", status, "reason", err.Error())
	c.resp.SetClose()
	c.resp.Error(status, err.Error())
	c.resp.Finish()
	if c.srv.cfg.Observe != nil {
		c.srv.cfg.Observe(&c.ex, time.Since(c.ex.Start))
	}
}
