// Package server owns listeners and connections: the accept loop,
// admission control, the keep-alive and pipelining loop of each
// connection, its timeouts, and the graceful drain on shutdown. What a
// request means is the Handler's business; how bytes look on the wire is
// http1's.
package server

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"wasmhttpd/host/http1"
)

// Config describes one listener's behaviour.
type Config struct {
	// Name identifies the listener in logs and metrics, e.g. "origin".
	Name    string
	Handler http1.Handler
	Limits  http1.Limits

	// MaxConnections bounds open connections; past it a client gets 503
	// with Retry-After and the connection is closed.
	MaxConnections int
	// MaxRequestsPerConnection closes a connection after that many
	// requests (0 = unlimited), so long-lived clients rebalance.
	MaxRequestsPerConnection int
	// MaxDrain is how much of a request body the handler left unread the
	// server will read and discard to keep the connection; past it, the
	// connection closes instead.
	MaxDrain int64

	HeaderTimeout time.Duration // the whole request head, from its first byte or the connection's start
	BodyTimeout   time.Duration // the longest gap between two body reads
	WriteTimeout  time.Duration // the longest gap between two response writes
	IdleTimeout   time.Duration // the wait for the next request on a kept-alive connection

	Logger *slog.Logger
	// Observe, when set, is called after every exchange, refused ones
	// included, once the response has been written: the access log and
	// metrics hang here.
	Observe func(ex *http1.Exchange, elapsed time.Duration)
}

// Defaults for zero Config fields.
const (
	DefaultMaxConnections = 10000
	DefaultMaxDrain       = 256 << 10
	DefaultHeaderTimeout  = 10 * time.Second
	DefaultBodyTimeout    = 30 * time.Second
	DefaultWriteTimeout   = 30 * time.Second
	DefaultIdleTimeout    = 75 * time.Second
)

func (c Config) withDefaults() Config {
	if c.Name == "" {
		c.Name = "origin"
	}
	if c.MaxConnections <= 0 {
		c.MaxConnections = DefaultMaxConnections
	}
	if c.MaxDrain <= 0 {
		c.MaxDrain = DefaultMaxDrain
	}
	setDefault(&c.HeaderTimeout, DefaultHeaderTimeout)
	setDefault(&c.BodyTimeout, DefaultBodyTimeout)
	setDefault(&c.WriteTimeout, DefaultWriteTimeout)
	setDefault(&c.IdleTimeout, DefaultIdleTimeout)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	c.Limits = c.Limits.WithDefaults()
	return c
}

func setDefault(d *time.Duration, v time.Duration) {
	if *d <= 0 {
		*d = v
	}
}

// Server serves one or more listeners with one Config.
type Server struct {
	cfg Config

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	closing   atomic.Bool
	wg        sync.WaitGroup // connection goroutines, rejections included

	open      atomic.Int64 // admitted connections
	rejecting atomic.Int64 // connections being answered 503
	idle      atomic.Int64 // admitted connections waiting for a request

	refused        atomic.Int64 // refusals not yet logged
	lastRefusalLog atomic.Int64 // unix nanoseconds
}

// New returns a Server for cfg.
func New(cfg Config) *Server {
	return &Server{
		cfg:       cfg.withDefaults(),
		listeners: make(map[net.Listener]struct{}),
		conns:     make(map[*conn]struct{}),
	}
}

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("server: closed")

// Serve accepts connections on ln until Shutdown, then returns
// ErrServerClosed. Other accept errors that are not transient end it too.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	defer s.forgetListener(ln)

	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.closing.Load() {
				return ErrServerClosed
			}
			// Running out of file descriptors is a moment to wait out, not
			// a reason to stop serving everyone else.
			var ne net.Error
			if errors.As(err, &ne) && !errors.Is(err, net.ErrClosed) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.cfg.Logger.Error("accept failed; retrying", "listener", s.cfg.Name, "err", err, "backoff", backoff)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		s.admit(nc)
	}
}

func (s *Server) forgetListener(ln net.Listener) {
	s.mu.Lock()
	delete(s.listeners, ln)
	s.mu.Unlock()
}

// admit starts serving nc, or answers 503 when the server is full.
func (s *Server) admit(nc net.Conn) {
	if s.open.Add(1) > int64(s.cfg.MaxConnections) {
		s.open.Add(-1)
		s.reject(nc)
		return
	}
	c := newConn(s, nc)
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		s.open.Add(-1)
		nc.Close()
		c.release()
		return
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	go c.serve()
}

// maxRejecting bounds the goroutines answering 503, so that a flood past
// MaxConnections cannot make the server spend without limit on refusing.
const maxRejecting = 512

// rejectTimeout bounds the time spent on one refused connection.
const rejectTimeout = 2 * time.Second

// reject answers 503 with a jittered Retry-After, so refused clients do not
// come back in lockstep, and closes. It reads what the client sent until
// the client closes or the timeout expires: closing a socket with unread
// input makes the kernel send RST, and the client would see a reset
// instead of the 503.
func (s *Server) reject(nc net.Conn) {
	if s.rejecting.Add(1) > maxRejecting {
		s.rejecting.Add(-1)
		nc.Close()
		s.logRefusal()
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer s.rejecting.Add(-1)
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(rejectTimeout))
		retry := strconv.Itoa(1 + rand.IntN(5))
		const msg = "server busy: too many connections\n"
		nc.Write([]byte("HTTP/1.1 503 Service Unavailable\r\n" +
			"Content-Type: text/plain; charset=utf-8\r\n" +
			"Content-Length: " + strconv.Itoa(len(msg)) + "\r\n" +
			"Retry-After: " + retry + "\r\n" +
			"Connection: close\r\n\r\n" + msg))
		if cw, ok := nc.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		}
		var sink [1024]byte
		for {
			if _, err := nc.Read(sink[:]); err != nil {
				return
			}
		}
	}()
	s.logRefusal()
}

// logRefusal logs refused connections at most once a second, with the
// count since the last line: a flood must not become a log flood too.
func (s *Server) logRefusal() {
	s.refused.Add(1)
	now := time.Now().UnixNano()
	last := s.lastRefusalLog.Load()
	if now-last < int64(time.Second) || !s.lastRefusalLog.CompareAndSwap(last, now) {
		return
	}
	s.cfg.Logger.Warn("connections refused: at max_connections", "listener", s.cfg.Name,
		"refused", s.refused.Swap(0), "max_connections", s.cfg.MaxConnections)
}

// Shutdown stops accepting, closes idle connections at once, and lets
// requests in flight finish; connections close after their current
// response. When ctx ends first, the remaining connections are closed by
// force and ctx's error is returned.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing.Store(true)
	for ln := range s.listeners {
		ln.Close()
	}
	for c := range s.conns {
		c.closeIfIdle()
	}
	s.mu.Unlock()

	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		// Closing the sockets ends every handler blocked on I/O; one
		// blocked elsewhere is not waited for, since the grace period is
		// over.
		s.mu.Lock()
		for c := range s.conns {
			c.nc.Close()
		}
		s.mu.Unlock()
		return ctx.Err()
	}
}

// Stats is a snapshot of the connection counters.
type Stats struct {
	Open      int64 // admitted connections
	Idle      int64 // of which waiting for a request
	Rejecting int64 // connections being refused with 503
}

// Stats returns the current connection counters.
func (s *Server) Stats() Stats {
	return Stats{Open: s.open.Load(), Idle: s.idle.Load(), Rejecting: s.rejecting.Load()}
}

func (s *Server) forget(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.open.Add(-1)
	s.wg.Done()
}
