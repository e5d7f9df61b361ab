package proxy

import (
	"errors"
	"io"
	"strconv"
	"sync"
	"syscall"

	"wasmhttpd/host/http1"
)

// Error is a request that could not be forwarded: Status is what the
// proxy answers its client (502, 503 or 504 for upstream trouble, the
// client's own fault otherwise) and Msg says what failed, for the
// response body and the log.
type Error struct {
	Status int
	Msg    string
	Err    error // the underlying error, if any
}

func (e *Error) Error() string { return e.Msg }

func (e *Error) Unwrap() error { return e.Err }

// Outbound is a request on its way upstream. Serve and ServeUpstream fill
// one from the client's request; a cache can fill or amend one itself (to
// make a request conditional, say) and hand it to Fetch.
type Outbound struct {
	Method     string
	Scheme     string // "http" or "https"
	Addr       string // host:port to connect to
	ServerName string // for https: the name the certificate must carry
	Target     []byte // origin-form request-target, "/path?query"

	// Header is sent as it is: Host and the body's framing fields
	// included, hop-by-hop fields already removed.
	Header http1.Header

	// Body, when not nil, is sent after the head: ContentLength bytes, or
	// chunked when ContentLength is negative, followed by Trailer (if not
	// nil, read once Body has returned io.EOF).
	Body          io.Reader
	ContentLength int64
	Trailer       *http1.Header

	// Interim, when set, receives every 1xx response but 100 Continue
	// (which the proxy handles hop by hop) before the final one.
	Interim func(status int, h *http1.Header)

	ex      *http1.Exchange // the exchange it was made from, for forwardInterim
	target  []byte          // storage for Target
	scratch []byte          // for fields built from parts
	held    http1.Header    // the client response's fields while an interim one is sent
}

// idempotent reports whether a request may be sent twice without harm
// (RFC 9110 9.2.2), which is when a stale connection may be retried.
func (o *Outbound) idempotent() bool {
	switch o.Method {
	case "GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE":
		return true
	}
	return false
}

// Response is a response head fetched from upstream with its body still
// on the wire: the caller reads Body (which it may wrap, to tee it into a
// cache) and must Close the Response, which returns the connection to the
// pool when the body was read to its end.
type Response struct {
	Status        int
	ProtoMinor    int           // the upstream's HTTP/1.x; it picks our Via entry
	Header        *http1.Header // end-to-end fields only
	ContentLength int64         // -1 when unknown (chunked or until close)
	Body          io.Reader
	Trailer       *http1.Header // complete once Body has returned io.EOF

	pc   *pconn
	pool *pool
}

// Close releases the connection: back to the pool when the response was
// read to its clean end and the upstream keeps the connection, else
// closed. It is safe to call twice.
func (r *Response) Close() {
	pc := r.pc
	if pc == nil {
		return
	}
	r.pc = nil
	if pc.resp.KeepAlive && pc.resp.Body.Done() {
		r.pool.put(pc)
		return
	}
	r.pool.discard(pc)
}

// maxInterim bounds the 1xx responses accepted before a final one, so an
// upstream cannot keep a request busy with an endless stream of them.
const maxInterim = 16

// Fetch sends out upstream and returns the response head, its body to be
// read. A pooled connection found closed by the upstream is replaced by a
// fresh one and the request sent again, once, when that cannot repeat a
// side effect: the method is idempotent and no body byte was consumed.
// Errors are *Error.
func (p *Proxy) Fetch(out *Outbound) (*Response, error) {
	resp, err := p.fetch(out)
	if err != nil {
		p.countFailure(err)
	}
	return resp, err
}

// countFailure counts a failure that is the upstream's (a 5xx answer to
// the client), not the client's.
func (p *Proxy) countFailure(err error) {
	var e *Error
	if !errors.As(err, &e) || e.Status < 500 {
		return
	}
	p.errors.Add(1)
	if e.Status == 504 {
		p.timeouts.Add(1)
	}
}

// Stats are the proxy's upstream failures since New.
type Stats struct {
	Errors   int64 // fetches and relayed bodies that failed, timeouts included
	Timeouts int64
}

// Stats returns the counters.
func (p *Proxy) Stats() Stats { return Stats{Errors: p.errors.Load(), Timeouts: p.timeouts.Load()} }

func (p *Proxy) fetch(out *Outbound) (*Response, error) {
	key := hostKey{addr: out.Addr, tls: out.Scheme == "https", serverName: out.ServerName}
	fresh := false
	for {
		pc, err := p.pool.get(key, fresh)
		if err != nil {
			return nil, err
		}
		if out.Body != nil && pc.reused && pc.peerClosed() {
			// A body cannot be sent twice, so a stale connection must be
			// found before it is used rather than after.
			p.pool.discard(pc)
			continue
		}
		bodyTaken, err := p.roundTrip(pc, out)
		if err == nil {
			return p.fetched(pc), nil
		}
		p.pool.discard(pc)
		if fresh || !pc.reused || bodyTaken || !out.idempotent() || !staleConn(pc, err) {
			return nil, p.upstreamError(out, err)
		}
		fresh = true
	}
}

// staleConn reports whether err is how a connection the upstream closed
// while it sat idle fails: nothing came back, and the connection ended.
func staleConn(pc *pconn, err error) bool {
	return pc.nread == 0 && (errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE))
}

// roundTrip writes the request and reads up to the final response head.
// It reports whether any body byte was taken from out.Body, after which
// the request cannot be replayed.
func (p *Proxy) roundTrip(pc *pconn, out *Outbound) (bodyTaken bool, err error) {
	pc.nread = 0
	if err := http1.WriteRequestHead(pc.bw, out.Method, out.Target, &out.Header); err != nil {
		if errors.Is(err, http1.ErrBadOutbound) {
			return false, err
		}
		return false, sendError{err}
	}
	if out.Body != nil {
		bodyTaken, err = sendBody(pc, out)
		var clientErr *Error
		if errors.As(err, &clientErr) {
			return bodyTaken, err
		}
		if err != nil {
			// The upstream may have answered early and stopped reading
			// (a 413, say); its answer is worth more than our write error.
			if p.readHead(pc, out) == nil {
				pc.resp.KeepAlive = false
				return bodyTaken, nil
			}
			return bodyTaken, sendError{err}
		}
	}
	if err := pc.bw.Flush(); err != nil {
		return bodyTaken, sendError{err}
	}
	return bodyTaken, p.readHead(pc, out)
}

// sendError marks a failure to write the request upstream, as opposed to
// one met while waiting for the answer.
type sendError struct{ err error }

func (e sendError) Error() string { return e.err.Error() }
func (e sendError) Unwrap() error { return e.err }

// readHead reads responses until a final one, passing interim ones on.
func (p *Proxy) readHead(pc *pconn, out *Outbound) error {
	pc.awaitHead(p.cfg.ResponseHeaderTimeout)
	defer pc.headArrived()
	for range maxInterim {
		if err := pc.rr.ReadResponse(&pc.resp, out.Method); err != nil {
			return err
		}
		switch {
		case pc.resp.Status == 101:
			// Upgrade is never forwarded, so a 101 answers nothing we asked.
			return &Error{Status: 502, Msg: out.Addr + " switched protocols (101) though no upgrade was asked for"}
		case !pc.resp.Interim():
			return nil
		case pc.resp.Status != 100 && out.Interim != nil:
			copyEndToEnd(&pc.header, &pc.resp.Header)
			out.Interim(pc.resp.Status, &pc.header)
		}
	}
	return &Error{Status: 502, Msg: out.Addr + " sent more than " + strconv.Itoa(maxInterim) + " interim responses"}
}

// sendBody copies out.Body to the connection with the framing the head
// announced. A failure to read the body is the client's and comes back as
// an *Error with the client's status; a failure to write is the
// upstream's.
func sendBody(pc *pconn, out *Outbound) (taken bool, err error) {
	buf := getBuffer()
	defer putBuffer(buf)
	var dst io.Writer = pc.bw
	if out.ContentLength < 0 {
		dst = http1.ChunkedWriter{W: pc.bw}
	}
	for {
		n, rerr := out.Body.Read(buf[:])
		if n > 0 {
			taken = true
			if _, err := dst.Write(buf[:n]); err != nil {
				return taken, err
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return taken, &Error{Status: http1.StatusOf(rerr), Msg: "reading the request body: " + rerr.Error(), Err: rerr}
		}
	}
	if out.ContentLength < 0 {
		return taken, http1.ChunkedWriter{W: pc.bw}.Close(out.Trailer)
	}
	return taken, nil
}

// fetched fills the connection's Response from the head just read.
func (p *Proxy) fetched(pc *pconn) *Response {
	copyEndToEnd(&pc.header, &pc.resp.Header)
	pc.fetched = Response{
		Status:        pc.resp.Status,
		ProtoMinor:    pc.resp.ProtoMinor,
		Header:        &pc.header,
		ContentLength: pc.resp.ContentLength,
		Body:          pc.resp.Body,
		Trailer:       &pc.resp.Trailer,
		pc:            pc,
		pool:          p.pool,
	}
	return &pc.fetched
}

// upstreamError turns what went wrong on the way to and from the upstream
// into an *Error naming the upstream and the failure.
func (p *Proxy) upstreamError(out *Outbound, err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var wire *http1.Error
	var send sendError
	switch {
	case errors.As(err, &send) && isTimeout(err):
		return &Error{Status: 504, Msg: "send request to " + out.Addr + ": timed out after " + p.cfg.ReadTimeout.String(), Err: err}
	case errors.As(err, &send):
		return &Error{Status: 502, Msg: "send request to " + out.Addr + ": " + rootCause(err), Err: err}
	case errors.As(err, &wire):
		return &Error{Status: 502, Msg: "bad response from " + out.Addr + ": " + wire.Reason, Err: err}
	case errors.Is(err, http1.ErrBadOutbound):
		return &Error{Status: 400, Msg: "request cannot be forwarded: " + err.Error(), Err: err}
	case isTimeout(err):
		return &Error{Status: 504, Msg: out.Addr + " did not answer within " + p.cfg.ResponseHeaderTimeout.String(), Err: err}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return &Error{Status: 502, Msg: out.Addr + " closed the connection without a complete response head", Err: err}
	}
	return &Error{Status: 502, Msg: "read response from " + out.Addr + ": " + rootCause(err), Err: err}
}

// copyBufferSize is the unit bodies move in, both ways.
const copyBufferSize = 32 << 10

var buffers = sync.Pool{New: func() any { return new([copyBufferSize]byte) }}

func getBuffer() *[copyBufferSize]byte  { return buffers.Get().(*[copyBufferSize]byte) }
func putBuffer(b *[copyBufferSize]byte) { buffers.Put(b) }
