package proxy

import (
	"errors"
	"net"
	"net/url"
	"strings"

	"wasmhttpd/host/http1"
)

// Upstream is a reverse-proxy destination, parsed once from a URL such
// as "http://127.0.0.1:9000/prefix" (ParseUpstream), with options set on
// the result.
type Upstream struct {
	Scheme     string // "http" or "https"
	Addr       string // host:port dialled, default port filled in
	Host       string // the URL's authority: the Host sent unless KeepHost
	ServerName string // for https: the name the certificate must carry
	Prefix     string // path prepended to every request path; "" or "/x" without a trailing slash

	// KeepHost forwards the client's Host instead of the upstream's, for
	// upstreams that serve several names.
	KeepHost bool
	// XForwarded adds X-Forwarded-For (appended to), X-Forwarded-Proto
	// and X-Forwarded-Host, for upstreams that want to know the client.
	XForwarded bool
}

// ParseUpstream parses an upstream URL: scheme http or https, a host with
// an optional port, and an optional path prefix; userinfo, a query or a
// fragment are refused, since nothing could honour them.
func ParseUpstream(raw string) (*Upstream, error) {
	bad := func(why string) (*Upstream, error) {
		return nil, errors.New("upstream " + raw + ": " + why)
	}
	if !strings.Contains(raw, "://") {
		return bad("want a URL such as http://host:port/prefix")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return bad(err.Error())
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return bad("scheme must be http or https")
	case u.Host == "" || u.Hostname() == "":
		return bad("no host")
	case u.User != nil:
		return bad("userinfo is not allowed")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return bad("a query or fragment is not allowed")
	case u.Opaque != "":
		return bad("not a hierarchical URL")
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	up := &Upstream{
		Scheme: u.Scheme,
		Addr:   net.JoinHostPort(u.Hostname(), port),
		Host:   u.Host,
		Prefix: strings.TrimRight(u.EscapedPath(), "/"),
	}
	if u.Scheme == "https" {
		up.ServerName = u.Hostname()
	}
	return up, nil
}

// ServeUpstream is the reverse proxy: it forwards the request to up, its
// path joined to up's prefix, and relays the answer.
func (p *Proxy) ServeUpstream(ex *http1.Exchange, up *Upstream) {
	if out := p.PrepareUpstream(ex, up); out != nil {
		p.forward(ex, out)
		p.Release(out)
	}
}

// PrepareUpstream is Prepare for a reverse-proxied request to up: the
// Outbound for it, or nil when the client has been answered (CONNECT, a
// loop, Max-Forwards 0).
func (p *Proxy) PrepareUpstream(ex *http1.Exchange, up *Upstream) *Outbound {
	req := ex.Request
	if req.Form == http1.AuthorityForm {
		ex.Response.Header().Set("Allow", allowReverse)
		ex.Response.Error(405, "CONNECT is not served by a reverse proxy")
		return nil
	}
	out := p.getOutbound(ex)
	out.Scheme, out.Addr, out.ServerName = up.Scheme, up.Addr, up.ServerName
	if req.Form == http1.AsteriskForm {
		out.target = append(out.target[:0], '*')
	} else {
		out.target = append(joinPath(out.target[:0], up.Prefix, req.Path), queryOf(req)...)
	}
	host := req.Host
	if !up.KeepHost {
		// prepare copies host into the header before it uses scratch.
		out.scratch = append(out.scratch[:0], up.Host...)
		host = out.scratch
	}
	if !p.prepare(ex, out, host) {
		p.Release(out)
		return nil
	}
	if up.XForwarded {
		p.addForwardedFor(ex, out)
		out.Header.Set("X-Forwarded-Proto", "http")
		out.Header.Del("X-Forwarded-Host")
		out.Header.AddBytes([]byte("X-Forwarded-Host"), req.Host)
	}
	return out
}

// joinPath appends prefix and path to dst with exactly one slash between
// them: "/app" and "/x" give "/app/x"; "/app" and "/" give "/app/".
func joinPath(dst []byte, prefix string, path []byte) []byte {
	dst = append(dst, prefix...)
	if len(path) == 0 || path[0] != '/' {
		dst = append(dst, '/')
	}
	return append(dst, path...)
}
