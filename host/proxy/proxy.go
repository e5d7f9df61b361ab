package proxy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"wasmhttpd/host/http1"
)

// Proxy forwards requests: absolute-form ones as a forward proxy (Serve),
// CONNECT as a tunnel, and any request to a configured upstream as a
// reverse proxy (ServeUpstream). One Proxy owns one upstream connection
// pool; it is safe for concurrent use.
type Proxy struct {
	cfg  Config
	pool *pool

	via10, via11 string // our Via entries, "1.x <name>"

	errors, timeouts atomic.Int64 // upstream failures, for Stats
	outbounds        sync.Pool
}

// New returns a Proxy for cfg (defaults filled in).
func New(cfg Config) *Proxy {
	p := &Proxy{cfg: cfg.withDefaults()}
	p.pool = newPool(&p.cfg)
	p.via10, p.via11 = "1.0 "+p.cfg.Name, "1.1 "+p.cfg.Name
	return p
}

// Close closes the idle upstream connections; connections in use close
// when their response ends. The Proxy must not be used afterwards.
func (p *Proxy) Close() { p.pool.close() }

// Serve is the forward proxy: it forwards an absolute-form request to the
// server its target names and relays the answer, and opens a tunnel for
// CONNECT.
func (p *Proxy) Serve(ex *http1.Exchange) {
	if ex.Request.Form == http1.AuthorityForm {
		p.tunnel(ex)
		return
	}
	if out := p.Prepare(ex); out != nil {
		p.forward(ex, out)
		p.Release(out)
	}
}

// Prepare builds the Outbound for a forward-proxied request: the target's
// server, the origin-form target, the end-to-end fields with Host, Via and
// (when configured) X-Forwarded-For, and the client's body. It returns nil
// when it has answered the client itself: a request-target that is not
// absolute, a loop, or Max-Forwards 0. The caller sends the Outbound with
// Fetch, or changes it first, and gives it back with Release.
func (p *Proxy) Prepare(ex *http1.Exchange) *Outbound {
	req := ex.Request
	switch req.Form {
	case http1.OriginForm:
		ex.Response.Error(400, "origin-form request-target sent to a forward proxy: "+
			"ask for an absolute URI (GET http://host/path) or open a tunnel with CONNECT host:port")
		return nil
	case http1.AuthorityForm:
		ex.Response.Error(400, "CONNECT opens a tunnel; it cannot be fetched")
		return nil
	case http1.AsteriskForm:
		// "OPTIONS *" names the proxy itself.
		answerOptions(ex, allowForward)
		return nil
	}
	out := p.getOutbound(ex)
	out.Scheme = "http"
	defaultPort := "80"
	if http1.EqualFold(req.Scheme, "https") {
		out.Scheme, defaultPort = "https", "443"
	}
	setAddr(out, req.Authority, defaultPort)
	out.target = append(append(out.target[:0], req.Path...), queryOf(req)...)
	if !p.prepare(ex, out, req.Authority) {
		p.Release(out)
		return nil
	}
	if p.cfg.XForwardedFor {
		p.addForwardedFor(ex, out)
	}
	return out
}

// queryOf returns "?query" of req, or nothing.
func queryOf(req *http1.Request) []byte {
	if req.Query == nil {
		return nil
	}
	return req.Target[len(req.Target)-len(req.Query)-1:]
}

// setAddr sets the address to dial and the TLS name from an authority,
// adding the scheme's default port. The previous request's strings are
// kept when they match, so a run of requests to one host costs no
// allocation for them.
func setAddr(out *Outbound, authority []byte, defaultPort string) {
	host, port := splitHostPort(authority)
	if len(port) == 0 {
		port = []byte(defaultPort)
	}
	n := len(out.Addr)
	if n == 0 || len(port)+1 > n || out.Addr[n-len(port)-1] != ':' || out.Addr[n-len(port):] != string(port) ||
		!http1.EqualFold(host, out.Addr[:n-len(port)-1]) {
		out.Addr = string(host) + ":" + string(port)
	}
	out.ServerName = ""
	if out.Scheme == "https" {
		out.ServerName = strings.Trim(out.Addr[:len(out.Addr)-len(port)-1], "[]")
	}
}

// splitHostPort splits an authority the request parser has validated:
// "host", "host:port", "[v6]" or "[v6]:port".
func splitHostPort(a []byte) (host, port []byte) {
	i := bytes.LastIndexByte(a, ':')
	if i < 0 || bytes.IndexByte(a[i:], ']') >= 0 {
		return a, nil
	}
	return a[:i], a[i+1:]
}

// prepare fills out from the client's request: method, end-to-end fields,
// Host, Via and the body. It answers the client itself, and reports
// false, for a loop and for Max-Forwards 0.
func (p *Proxy) prepare(ex *http1.Exchange, out *Outbound, host []byte) bool {
	req := ex.Request
	if msg := p.loop(ex, out.Addr); msg != "" {
		ex.Response.Error(508, msg)
		return false
	}
	out.Method = req.Method
	out.Target = out.target
	copyEndToEnd(&out.Header, &req.Header)
	// Host is rewritten (RFC 9112 3.2.2), and Expect answered hop by hop:
	// the client's Body sends 100 Continue when the body is first read.
	out.Header.Del("Host")
	out.Header.Del("Expect")
	out.Header.AddBytes([]byte("Host"), host)
	if req.Method == "OPTIONS" || req.Method == "TRACE" {
		if !p.maxForwards(ex, out) {
			return false
		}
	}
	out.Header.Add("Via", p.Via(req.ProtoMinor))
	// The framing goes out in one canonical field, whatever equivalent
	// spelling the client used ("Content-Length: 5, 5"): the next parser
	// may be less forgiving than ours.
	out.Header.Del("Content-Length")
	switch {
	case req.ContentLength < 0:
		out.Header.Add("Transfer-Encoding", "chunked")
		out.Trailer = &req.Trailer
	case req.Header.Has("Content-Length"):
		out.scratch = strconv.AppendInt(out.scratch[:0], req.ContentLength, 10)
		out.Header.AddBytes([]byte("Content-Length"), out.scratch)
	}
	if req.HasBody() {
		out.Body, out.ContentLength = req.Body, req.ContentLength
	}
	return true
}

// Via returns this proxy's Via entry for a message of HTTP/1.minor, for
// responses a cache sends on the proxy's behalf.
func (p *Proxy) Via(minor int) string {
	if minor == 0 {
		return p.via10
	}
	return p.via11
}

// loop explains why forwarding to addr would bring the request back here,
// or returns "".
func (p *Proxy) loop(ex *http1.Exchange, addr string) string {
	for v := range ex.Request.Header.Values("Via") {
		for hop := range http1.CommaList(v) {
			// "1.1 name (comment)": the received-by part is the second word.
			_, rest, _ := bytes.Cut(hop, []byte{' '})
			name, _, _ := bytes.Cut(bytes.TrimLeft(rest, " \t"), []byte{' '})
			if http1.EqualFold(name, p.cfg.Name) {
				return "request loop: Via already names this proxy (" + p.cfg.Name + ")"
			}
		}
	}
	if p.isSelf(ex, addr) {
		return "request loop: " + addr + " is this proxy's own address"
	}
	return ""
}

// isSelf reports whether addr is one the proxy listens on: the address the
// client reached, or one of SelfAddrs (where a wildcard host stands for
// every loopback address).
func (p *Proxy) isSelf(ex *http1.Exchange, addr string) bool {
	target, err := netip.ParseAddrPort(addr)
	if err == nil && ex.LocalAddr.IsValid() && target == ex.LocalAddr {
		return true
	}
	for _, self := range p.cfg.SelfAddrs {
		if strings.EqualFold(self, addr) {
			return true
		}
		s, serr := netip.ParseAddrPort(self)
		if serr != nil || err != nil || s.Port() != target.Port() {
			continue
		}
		if s.Addr().Unmap() == target.Addr().Unmap() || s.Addr().IsUnspecified() && target.Addr().IsLoopback() {
			return true
		}
	}
	return false
}

// maxForwards applies Max-Forwards to OPTIONS and TRACE (RFC 9110 7.6.2):
// at 0 the proxy is the final recipient and answers; otherwise the value
// goes on decremented.
func (p *Proxy) maxForwards(ex *http1.Exchange, out *Outbound) bool {
	v := ex.Request.Header.Get("Max-Forwards")
	if v == nil {
		return true
	}
	n, err := strconv.ParseUint(string(v), 10, 31)
	if err != nil || ex.Request.Header.Count("Max-Forwards") > 1 {
		ex.Response.Error(400, "malformed Max-Forwards")
		return false
	}
	if n == 0 {
		switch {
		case ex.Request.Method == "TRACE":
			answerTrace(ex)
		case ex.Request.Form == http1.AbsoluteForm:
			answerOptions(ex, allowForward)
		default:
			answerOptions(ex, allowReverse)
		}
		return false
	}
	out.scratch = strconv.AppendUint(out.scratch[:0], n-1, 10)
	out.Header.Del("Max-Forwards")
	out.Header.AddBytes([]byte("Max-Forwards"), out.scratch)
	return true
}

// The methods a proxy relays, as Allow lists them: a forward proxy also
// opens tunnels, a reverse one does not.
const (
	allowReverse = "GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS, TRACE"
	allowForward = allowReverse + ", CONNECT"
)

// answerOptions answers an OPTIONS request meant for the proxy itself.
func answerOptions(ex *http1.Exchange, allow string) {
	w := ex.Response
	w.Header().Set("Allow", allow)
	w.SetContentLength(0)
	w.WriteHeader(200)
}

// traceHidden are fields a TRACE echo leaves out: credentials have no
// business in a response body (RFC 9110 9.3.8).
var traceHidden = [...]string{"Authorization", "Proxy-Authorization", "Cookie"}

// answerTrace echoes the request as message/http, as the final recipient
// of a TRACE does.
func answerTrace(ex *http1.Exchange) {
	req := ex.Request
	var b bytes.Buffer
	b.WriteString(req.Method + " " + string(req.Target) + " " + req.Proto() + "\r\n")
fields:
	for name, value := range req.Header.All() {
		for _, hidden := range traceHidden {
			if http1.EqualFold(name, hidden) {
				continue fields
			}
		}
		b.Write(name)
		b.WriteString(": ")
		b.Write(value)
		b.WriteString("\r\n")
	}
	b.WriteString("\r\n")
	w := ex.Response
	w.Header().Set("Content-Type", "message/http")
	w.SetContentLength(int64(b.Len()))
	w.Write(b.Bytes())
}

// addForwardedFor appends the client's address to X-Forwarded-For,
// keeping the list it came with in one field.
func (p *Proxy) addForwardedFor(ex *http1.Exchange, out *Outbound) {
	out.scratch = out.scratch[:0]
	for v := range ex.Request.Header.Values("X-Forwarded-For") {
		out.scratch = append(append(out.scratch, v...), ", "...)
	}
	if !ex.RemoteAddr.IsValid() {
		return // not a TCP client: nothing to add
	}
	out.scratch = ex.RemoteAddr.Addr().Unmap().AppendTo(out.scratch)
	out.Header.Del("X-Forwarded-For")
	out.Header.AddBytes([]byte("X-Forwarded-For"), out.scratch)
}

// forward fetches out and relays the answer, or answers the failure.
func (p *Proxy) forward(ex *http1.Exchange, out *Outbound) {
	resp, err := p.Fetch(out)
	if err != nil {
		p.Fail(ex, out, err)
		return
	}
	defer resp.Close()
	if err := p.Relay(ex, resp); err != nil {
		p.RelayFailed(ex, out, err)
	}
}

// RelayFailed deals with a Relay error: the upstream's is answered, while
// a client that went away only costs the upstream connection, its body
// unread, which resp.Close then closes.
func (p *Proxy) RelayFailed(ex *http1.Exchange, out *Outbound, err error) {
	var upstream *Error
	if errors.As(err, &upstream) {
		p.Fail(ex, out, err)
		return
	}
	p.cfg.Logger.Debug("proxy: client gone", "remote", ex.RemoteAddr.String(), "err", err.Error())
}

// Fail answers an error of Fetch or Relay: a plain-text status naming
// what failed when no response head has gone out yet; otherwise the
// response is aborted, so the client sees a broken response rather than
// a short one that looks whole. Either way it is logged.
func (p *Proxy) Fail(ex *http1.Exchange, out *Outbound, err error) {
	p.answerError(ex, out.Addr, err)
}

func (p *Proxy) answerError(ex *http1.Exchange, addr string, err error) {
	status := 502
	var e *Error
	if errors.As(err, &e) {
		status = e.Status
	}
	level := slog.LevelWarn
	if status < 500 {
		level = slog.LevelInfo // the client's fault, not the upstream's
	}
	p.cfg.Logger.Log(context.Background(), level, "proxy: request failed", "upstream", addr,
		"method", ex.Request.Method, "target", string(ex.Request.Target), "status", status, "err", err.Error())
	if ex.Response.HeaderWritten() {
		ex.Response.Abort()
		return
	}
	ex.Response.Error(status, err.Error())
}

// Relay sends a response to the client: its status and end-to-end fields
// with our Via appended, the body streamed as it arrives, then the
// trailers. A failure reading the body after the head went out aborts the
// client's response; an *Error is returned for it. A failure writing to
// the client is returned as it is. The Response may come from Fetch, or be
// one the caller made (a stored one, say: Header end-to-end only, Body
// and Trailer set); Close does nothing on the latter.
func (p *Proxy) Relay(ex *http1.Exchange, resp *Response) error {
	w := ex.Response
	h := w.Header()
	for name, value := range resp.Header.All() {
		h.AddBytes(name, value)
	}
	h.Add("Via", p.Via(resp.ProtoMinor))
	w.WriteHeader(resp.Status)
	buf := getBuffer()
	defer putBuffer(buf)
	for {
		n, rerr := resp.Body.Read(buf[:])
		if n > 0 {
			if _, err := w.Write(buf[:n]); err != nil {
				return err
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			w.Abort()
			err := &Error{Status: 502, Msg: "response body cut short: " + rootCause(rerr), Err: rerr}
			p.countFailure(err)
			return err
		}
	}
	if resp.Trailer.Len() > 0 {
		w.Trailer().CopyFrom(resp.Trailer)
	}
	return nil
}

// Release gives back an Outbound from Prepare or PrepareUpstream once it
// has been fetched (its Response may still be open).
func (p *Proxy) Release(out *Outbound) { p.putOutbound(out) }

// getOutbound returns a pooled Outbound for a request of ex.
func (p *Proxy) getOutbound(ex *http1.Exchange) *Outbound {
	out, _ := p.outbounds.Get().(*Outbound)
	if out == nil {
		out = new(Outbound)
		out.Interim = out.forwardInterim
	}
	out.ex = ex
	return out
}

func (p *Proxy) putOutbound(out *Outbound) {
	out.Header.Reset()
	out.Body, out.ContentLength, out.Trailer, out.ex = nil, 0, nil, nil
	p.outbounds.Put(out)
}

// forwardInterim passes an interim response such as 103 Early Hints on
// to the client, when it speaks HTTP/1.1 (an HTTP/1.0 client cannot read
// one, RFC 9110 15.2).
func (o *Outbound) forwardInterim(status int, h *http1.Header) {
	if o.ex.Request.ProtoMinor == 0 {
		return
	}
	// The writer sends an interim response from its header and then
	// empties it; what was set for the final response is put back.
	w := o.ex.Response
	o.held.CopyFrom(w.Header())
	w.Header().CopyFrom(h)
	w.WriteHeader(status)
	w.Header().CopyFrom(&o.held)
}

// hopByHop are the fields that describe one connection, not the message
// (RFC 9110 7.6.1), plus the proxy-era ones that behave alike.
var hopByHop = [...]string{
	"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authorization",
	"TE", "Trailer", "Transfer-Encoding", "Upgrade",
}

// copyEndToEnd replaces dst's fields with src's end-to-end ones: the
// hop-by-hop fields and every field the Connection field names are left
// behind.
func copyEndToEnd(dst, src *http1.Header) {
	dst.Reset()
	named := src.Has("Connection") // most messages have none: no scan per field
next:
	for name, value := range src.All() {
		for _, hop := range hopByHop {
			if http1.EqualFold(name, hop) {
				continue next
			}
		}
		if !named {
			dst.AddBytes(name, value)
			continue
		}
		for v := range src.Values("Connection") {
			for elem := range http1.ListElements(v) {
				if bytes.EqualFold(elem, name) {
					continue next
				}
			}
		}
		dst.AddBytes(name, value)
	}
}
