package proxy

import (
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"wasmhttpd/host/http1"
)

// TunnelStats describes a CONNECT tunnel once it has closed.
type TunnelStats struct {
	Client   string        // the client's address
	Target   string        // host:port tunnelled to
	Up       int64         // bytes from the client to the target, pipelined ones included
	Down     int64         // bytes from the target to the client
	Duration time.Duration // from the tunnel's establishment to its close
	Err      error         // why it ended, when not by both sides closing
}

// errTunnelIdle ends a tunnel that carried nothing for TunnelIdleTimeout.
var errTunnelIdle = errors.New("idle timeout")

// established is the answer that opens a tunnel; a 2xx to CONNECT has no
// body and no framing fields (RFC 9110 9.3.6).
const established = "HTTP/1.1 200 Connection established\r\n\r\n"

// tunnel answers CONNECT: it connects to the target, takes the client's
// connection over and copies bytes both ways until both sides are done.
func (p *Proxy) tunnel(ex *http1.Exchange) {
	req := ex.Request
	addr := string(req.Authority)
	_, portText := splitHostPort(req.Authority)
	port, _ := strconv.Atoi(string(portText))
	switch {
	case !slices.Contains(p.cfg.ConnectPorts, port):
		ex.Response.Error(403, "CONNECT to port "+string(portText)+" is not allowed (allowed: "+p.portList()+")")
		return
	case req.HasBody():
		ex.Response.Error(400, "CONNECT request with a body")
		return
	case ex.Hijack == nil:
		ex.Response.Error(501, "CONNECT is not available on this listener")
		return
	}
	if msg := p.loop(ex, addr); msg != "" {
		ex.Response.Error(508, msg)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.ConnectTimeout)
	upstream, err := dialUpstream(ctx, &p.cfg, hostKey{addr: addr})
	cancel()
	if err != nil {
		p.answerError(ex, addr, err)
		return
	}
	defer upstream.Close()
	client, pipelined, err := ex.Hijack()
	if err != nil {
		ex.Response.Abort()
		return
	}
	ex.Response.SetStatus(200)
	stats := TunnelStats{Client: ex.RemoteAddr.String(), Target: addr}
	start := time.Now()
	t := &pipe{idle: p.cfg.TunnelIdleTimeout}
	if _, err := io.WriteString(client, established); err != nil {
		stats.Err = err
	} else {
		stats.Up, stats.Down, stats.Err = t.run(client, upstream, pipelined)
	}
	stats.Duration = time.Since(start)
	p.cfg.Logger.Info("proxy: tunnel closed", "client", stats.Client, "target", stats.Target,
		"up", stats.Up, "down", stats.Down, "duration", stats.Duration, "err", stats.Err)
	if p.cfg.TunnelDone != nil {
		p.cfg.TunnelDone(stats)
	}
}

func (p *Proxy) portList() string {
	var b []byte
	for i, port := range p.cfg.ConnectPorts {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = strconv.AppendInt(b, int64(port), 10)
	}
	return string(b)
}

// pipe copies between the two ends of a tunnel. The idle timeout is the
// tunnel's, not a direction's: a long download with nothing going up is
// busy, so each direction's reads wait while the other one moves bytes.
//
// Deadlines are not moved per chunk, which would cost two timer updates
// per 32 KiB. A deadline is armed once, for the end of the wait as known
// then; when it fires, the wait's true end is recomputed from the
// progress since, and the deadline re-armed for it unless it has passed.
// So a busy tunnel moves each deadline about once per idle timeout, and
// an idle one still closes exactly when the timeout says.
type pipe struct {
	idle time.Duration
	last atomic.Int64 // unix nanoseconds of the latest byte read either way
}

// run copies both ways, sending pipelined first, until each side has
// closed its half; when either direction fails or the tunnel idles out,
// both connections are closed at once, which ends the other direction.
// The error is the first cause, not the echo of that close.
func (t *pipe) run(client, upstream net.Conn, pipelined []byte) (up, down int64, err error) {
	start := time.Now()
	t.last.Store(start.UnixNano())
	// Also replaces whatever deadline the server left on the client.
	client.SetDeadline(start.Add(t.idle))
	upstream.SetDeadline(start.Add(t.idle))
	abort := func() {
		client.Close()
		upstream.Close()
	}
	downDone := make(chan error, 1)
	go func() {
		n, err := t.copy(client, upstream)
		if err != nil {
			abort()
		}
		down = n
		downDone <- err
	}()
	var upErr error
	if len(pipelined) > 0 {
		var n int
		n, upErr = t.write(upstream, pipelined, start)
		up = int64(n)
	}
	if upErr == nil {
		var n int64
		n, upErr = t.copy(upstream, client)
		up += n
	}
	if upErr != nil {
		abort()
	}
	downErr := <-downDone
	for _, err := range [...]error{upErr, downErr} {
		if err != nil && !errors.Is(err, net.ErrClosed) {
			return up, down, err
		}
	}
	return up, down, nil
}

// copy moves bytes from src to dst until src ends, then half-closes dst
// so the far side sees the end too. src's read deadline stays at most the
// idle timeout after the latest byte either way (see pipe).
func (t *pipe) copy(dst, src net.Conn) (int64, error) {
	buf := getBuffer()
	defer putBuffer(buf)
	var total int64
	for {
		n, err := src.Read(buf[:])
		if n > 0 {
			now := time.Now()
			t.last.Store(now.UnixNano())
			written, werr := t.write(dst, buf[:n], now)
			total += int64(written)
			if werr != nil {
				return total, werr
			}
		}
		switch {
		case err == nil:
		case errors.Is(err, io.EOF):
			if cw, ok := dst.(interface{ CloseWrite() error }); ok {
				cw.CloseWrite()
			}
			return total, nil
		case isTimeout(err):
			end := time.Unix(0, t.last.Load()).Add(t.idle)
			if !time.Now().Before(end) {
				return total, errTunnelIdle
			}
			// A byte moved since the deadline was armed: wait out the rest.
			src.SetReadDeadline(end)
		default:
			return total, err
		}
	}
}

// write writes b, begun at start, to dst, failing when it stalls for the
// idle timeout; it returns how much of b went. dst's write deadline is never later than that (it was
// armed for an earlier write's start, or the tunnel's); when it fires
// sooner, the write resumes under a deadline for its own end. Resuming a
// timed-out write is sound on the TCP connections a tunnel joins (a
// tls.Conn would refuse it, and the tunnel would end early, not wrong).
func (t *pipe) write(dst net.Conn, b []byte, start time.Time) (int, error) {
	end := start.Add(t.idle)
	written := 0
	for {
		n, err := dst.Write(b[written:])
		written += n
		if err == nil || !isTimeout(err) || !time.Now().Before(end) {
			return written, err
		}
		dst.SetWriteDeadline(end)
	}
}
