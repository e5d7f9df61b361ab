package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"wasmhttpd/host/http1"
)

// Buffer sizes of an upstream connection: a response head fits the read
// buffer, and bodies larger than a buffer bypass it.
const (
	upstreamReadBuffer  = 8 << 10
	upstreamWriteBuffer = 4 << 10
)

// hostKey names one upstream: requests with equal keys may share a
// connection.
type hostKey struct {
	addr       string // host:port dialled
	tls        bool
	serverName string // for TLS: the name the certificate must carry
}

// hostConns is the pool's state for one upstream.
type hostConns struct {
	key  hostKey
	idle []*pconn // the most recently used last, so the warmest goes first
	open int      // connections counted against MaxConnsPerHost: idle, busy or being dialled

	// waiting holds the requests queued for a connection, oldest first. A
	// connection freed while one waits goes straight to it; a nil sent
	// instead hands over the slot of a connection that closed.
	waiting []chan *pconn
}

// pool keeps HTTP/1.1 connections to upstreams alive between requests.
// Idle connections cost no goroutine: a stale one is found when it is next
// used (and the request retried, when that is safe), and one sweep timer
// for the whole pool closes those idle past IdleTimeout.
type pool struct {
	cfg *Config

	mu       sync.Mutex
	hosts    map[hostKey]*hostConns
	sweeper  *time.Timer
	sweeping bool // the sweeper is armed
	closed   bool
}

func newPool(cfg *Config) *pool {
	return &pool{cfg: cfg, hosts: make(map[hostKey]*hostConns)}
}

// get returns a connection to key: a pooled one unless fresh is set, else
// a new one within MaxConnsPerHost, else the first one freed while the
// request waits in a bounded queue.
func (p *pool) get(key hostKey, fresh bool) (*pconn, error) {
	p.mu.Lock()
	h := p.hosts[key]
	if h == nil {
		h = &hostConns{key: key}
		p.hosts[key] = h
	}
	var expired []*pconn
	defer func() {
		for _, pc := range expired {
			pc.nc.Close()
		}
	}()
	if n := len(h.idle); !fresh && n > 0 {
		pc := h.idle[n-1]
		if time.Since(pc.idleSince) < p.cfg.IdleTimeout {
			h.idle = h.idle[:n-1]
			p.mu.Unlock()
			pc.reused = true
			return pc, nil
		}
		// The list is in the order the connections went idle, so when the
		// last is past its time all are; they are closed outside the lock.
		expired, h.idle = h.idle, nil
		h.open -= n
	}
	if h.open < p.cfg.MaxConnsPerHost {
		h.open++
		p.mu.Unlock()
		return p.dial(h)
	}
	if len(h.waiting) >= p.cfg.MaxWaitingPerHost {
		p.mu.Unlock()
		return nil, &Error{Status: 503, Msg: "too many requests waiting for a connection to " + key.addr}
	}
	ch := make(chan *pconn, 1)
	h.waiting = append(h.waiting, ch)
	p.mu.Unlock()
	return p.await(h, ch)
}

// await waits for a connection or a slot handed to ch, for at most
// ConnectTimeout.
func (p *pool) await(h *hostConns, ch chan *pconn) (*pconn, error) {
	timer := time.NewTimer(p.cfg.ConnectTimeout)
	defer timer.Stop()
	select {
	case pc := <-ch:
		return p.handed(h, pc)
	case <-timer.C:
	}
	p.mu.Lock()
	if i := slices.Index(h.waiting, ch); i >= 0 {
		h.waiting = slices.Delete(h.waiting, i, i+1)
		p.mu.Unlock()
		return nil, &Error{Status: 504, Msg: "no connection to " + h.key.addr + " free within " +
			p.cfg.ConnectTimeout.String() + " (at most " + strconv.Itoa(p.cfg.MaxConnsPerHost) + " per host)"}
	}
	p.mu.Unlock()
	// Handed over just as the wait ended: take it rather than waste it.
	return p.handed(h, <-ch)
}

func (p *pool) handed(h *hostConns, pc *pconn) (*pconn, error) {
	if pc == nil {
		return p.dial(h)
	}
	pc.reused = true
	return pc, nil
}

// put returns a connection whose response was read to its end: to the
// first waiting request, else to the idle list.
func (p *pool) put(pc *pconn) {
	h := pc.host
	p.mu.Lock()
	if ch, ok := h.nextWaiter(); ok {
		p.mu.Unlock()
		ch <- pc
		return
	}
	if p.closed || len(h.idle) >= p.cfg.MaxIdlePerHost {
		p.mu.Unlock()
		p.discard(pc)
		return
	}
	pc.idleSince = time.Now()
	h.idle = append(h.idle, pc)
	if !p.sweeping {
		p.sweeping = true
		if p.sweeper == nil {
			p.sweeper = time.AfterFunc(p.cfg.IdleTimeout, p.sweep)
		} else {
			p.sweeper.Reset(p.cfg.IdleTimeout)
		}
	}
	p.mu.Unlock()
}

// discard closes a connection that cannot carry another request.
func (p *pool) discard(pc *pconn) {
	pc.nc.Close()
	p.release(pc.host)
}

// release gives up one connection slot of h: to the first waiting
// request, which then dials, or back to the host's count.
func (p *pool) release(h *hostConns) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if ch, ok := h.nextWaiter(); ok {
		ch <- nil
		return
	}
	h.open--
	p.forgetIfUnused(h)
}

// nextWaiter takes the longest-waiting request off h's queue. Called with
// the pool's mutex held.
func (h *hostConns) nextWaiter() (chan *pconn, bool) {
	if len(h.waiting) == 0 {
		return nil, false
	}
	ch := h.waiting[0]
	h.waiting = slices.Delete(h.waiting, 0, 1)
	return ch, true
}

// forgetIfUnused drops the state of an upstream nobody uses, so that a
// forward proxy's map does not grow with every site ever visited.
func (p *pool) forgetIfUnused(h *hostConns) {
	if h.open == 0 && len(h.waiting) == 0 && p.hosts[h.key] == h {
		delete(p.hosts, h.key)
	}
}

// sweep closes connections idle past IdleTimeout and re-arms itself while
// any idle connection is left.
func (p *pool) sweep() {
	var stale []*pconn
	p.mu.Lock()
	cutoff := time.Now().Add(-p.cfg.IdleTimeout)
	remaining := 0
	for _, h := range p.hosts {
		kept := h.idle[:0]
		for _, pc := range h.idle {
			if pc.idleSince.After(cutoff) {
				kept = append(kept, pc)
			} else {
				stale = append(stale, pc)
				h.open--
			}
		}
		clear(h.idle[len(kept):])
		h.idle = kept
		remaining += len(kept)
		p.forgetIfUnused(h)
	}
	p.sweeping = remaining > 0 && !p.closed
	if p.sweeping {
		p.sweeper.Reset(p.cfg.IdleTimeout / 2)
	}
	p.mu.Unlock()
	for _, pc := range stale {
		pc.nc.Close()
	}
}

// close closes every idle connection; busy ones close when their
// response ends, since put no longer keeps them.
func (p *pool) close() {
	p.mu.Lock()
	p.closed = true
	if p.sweeper != nil {
		p.sweeper.Stop()
	}
	var idle []*pconn
	for _, h := range p.hosts {
		idle = append(idle, h.idle...)
		h.open -= len(h.idle)
		h.idle = nil
		p.forgetIfUnused(h)
	}
	p.mu.Unlock()
	for _, pc := range idle {
		pc.nc.Close()
	}
}

// dial opens a connection to h within ConnectTimeout, TLS handshake
// included. The slot it fills was taken by the caller and is given back
// when dialling fails.
func (p *pool) dial(h *hostConns) (*pconn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.ConnectTimeout)
	defer cancel()
	nc, err := dialUpstream(ctx, p.cfg, h.key)
	if err != nil {
		p.release(h)
		return nil, err
	}
	pc := &pconn{host: h, nc: nc, readTimeout: p.cfg.ReadTimeout}
	pc.br = bufio.NewReaderSize(pc, upstreamReadBuffer)
	pc.bw = bufio.NewWriterSize(pc, upstreamWriteBuffer)
	pc.rr = http1.NewResponseReader(pc.br, http1.Limits{})
	return pc, nil
}

// dialUpstream connects to key.addr, and shakes hands for TLS upstreams.
func dialUpstream(ctx context.Context, cfg *Config, key hostKey) (net.Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", key.addr)
	if err != nil {
		return nil, connectError(key.addr, cfg.ConnectTimeout, err)
	}
	if !key.tls {
		return nc, nil
	}
	tc := &tls.Config{}
	if cfg.TLS != nil {
		tc = cfg.TLS.Clone()
	}
	tc.ServerName = key.serverName
	tc.NextProtos = []string{"http/1.1"}
	conn := tls.Client(nc, tc)
	if err := conn.HandshakeContext(ctx); err != nil {
		nc.Close()
		return nil, connectError(key.addr, cfg.ConnectTimeout, err)
	}
	return conn, nil
}

// connectError says why connecting failed in the words an operator
// needs: "connect to example.test:80: connection refused" (502), or a
// timeout (504).
func connectError(addr string, timeout time.Duration, err error) *Error {
	if isTimeout(err) {
		return &Error{Status: 504, Msg: "connect to " + addr + ": timed out after " + timeout.String(), Err: err}
	}
	return &Error{Status: 502, Msg: "connect to " + addr + ": " + rootCause(err), Err: err}
}

// rootCause strips the layers of a network error down to the part that
// says what happened ("connection refused", "no such host").
func rootCause(err error) string {
	var sys *os.SyscallError
	if errors.As(err, &sys) {
		return sys.Err.Error()
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return "lookup " + dns.Name + ": " + dns.Err
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err.Error()
	}
	return err.Error()
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &t) && t.Timeout()
}

// pconn is one upstream connection and what is reused across its
// requests. It is the io.ReadWriter under its own buffers, so that every
// read and write keeps a deadline without a call per byte.
type pconn struct {
	host      *hostConns
	nc        net.Conn
	br        *bufio.Reader
	bw        *bufio.Writer
	rr        *http1.ResponseReader
	resp      http1.Response
	header    http1.Header // the response's end-to-end fields
	fetched   Response
	idleSince time.Time
	reused    bool // it carried a request before this one

	// readTimeout bounds the gap between reads and writes. Deadlines are
	// pushed out only once an eighth of it has passed, as the server does
	// for its clients: a deadline costs as much as a small read.
	readTimeout  time.Duration
	readRefresh  time.Time
	writeRefresh time.Time
	nread        int64 // bytes read since the request was sent
}

// Read implements io.Reader for br.
func (pc *pconn) Read(b []byte) (int, error) {
	if now := time.Now(); !now.Before(pc.readRefresh) {
		pc.nc.SetReadDeadline(now.Add(pc.readTimeout))
		pc.readRefresh = now.Add(pc.readTimeout / 8)
	}
	n, err := pc.nc.Read(b)
	pc.nread += int64(n)
	return n, err
}

// Write implements io.Writer for bw.
func (pc *pconn) Write(b []byte) (int, error) {
	if now := time.Now(); !now.Before(pc.writeRefresh) {
		pc.nc.SetWriteDeadline(now.Add(pc.readTimeout))
		pc.writeRefresh = now.Add(pc.readTimeout / 8)
	}
	return pc.nc.Write(b)
}

// peerClosed reports whether the upstream closed this idle connection (or
// sent something unasked, as bad). It looks at the raw socket, under TLS
// too, since any byte there now (a close_notify alert, say) means the end.
func (pc *pconn) peerClosed() bool {
	if pc.br.Buffered() > 0 {
		return true
	}
	raw := pc.nc
	if tc, ok := raw.(*tls.Conn); ok {
		raw = tc.NetConn()
	}
	return socketEnded(raw)
}

// awaitHead bounds the wait for the response head by d rather than by
// the gap between reads; headArrived goes back to gaps.
func (pc *pconn) awaitHead(d time.Duration) {
	deadline := time.Now().Add(d)
	pc.nc.SetReadDeadline(deadline)
	pc.readRefresh = deadline
}

func (pc *pconn) headArrived() { pc.readRefresh = time.Time{} }
