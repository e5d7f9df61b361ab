package guest

import (
	"bytes"
	"io"
)

// LogLevel is an http-wasm log level.
type LogLevel int32

// The http-wasm log levels.
const (
	LogDebug LogLevel = -1
	LogInfo  LogLevel = 0
	LogWarn  LogLevel = 1
	LogError LogLevel = 2
	LogNone  LogLevel = 3
)

// Features are the http-wasm feature bits.
type Features uint32

// The http-wasm features.
const (
	// FeatureBufferRequest lets a guest read the request body without
	// taking it from the next handler.
	FeatureBufferRequest Features = 1
	// FeatureBufferResponse holds the response so HandleResponse can read
	// and rewrite it (status, fields, body). It costs streaming.
	FeatureBufferResponse Features = 2
	// FeatureTrailers enables trailer access.
	FeatureTrailers Features = 4
	// FeatureRequestOnly, wasmhttpd's own, tells the host that
	// HandleResponse does nothing, so it is not called. Handle asks for
	// it for a RequestOnly handler; hosts that do not know the bit ignore
	// it and call handle_response, which then returns at once.
	FeatureRequestOnly Features = 1 << 31
)

// HeaderKind selects a field table.
type HeaderKind uint32

// The http-wasm header kinds.
const (
	KindRequestHeaders   HeaderKind = 0
	KindResponseHeaders  HeaderKind = 1
	KindRequestTrailers  HeaderKind = 2
	KindResponseTrailers HeaderKind = 3
)

// BodyKind selects a body.
type BodyKind uint32

// The http-wasm body kinds.
const (
	KindRequestBody  BodyKind = 0
	KindResponseBody BodyKind = 1
)

// RouteKind says where a request goes after the policies (wasmhttpd_v1).
type RouteKind uint32

// The routes a policy can choose.
const (
	RouteStatic   RouteKind = 1 // a named document root
	RouteUpstream RouteKind = 2 // reverse-proxy to an upstream URL
	RouteForward  RouteKind = 3 // forward-proxy to the request's own target
)

// Host is both import modules one level above raw memory: http_handler
// and wasmhttpd's extension, wasmhttpd_v1. The wasm imports implement it
// in a wasip1 build, guesttest.Host in tests. Policy code should use
// Request, Response, Header and the package functions rather than Host
// directly.
type Host interface {
	EnableFeatures(Features) Features
	Config() []byte
	LogEnabled(LogLevel) bool
	Log(LogLevel, string)
	Method() string
	SetMethod(string)
	URI() string
	SetURI(string)
	ProtocolVersion() string
	HeaderNames(HeaderKind) []string
	HeaderValues(kind HeaderKind, name string) []string
	SetHeaderValue(kind HeaderKind, name, value string)
	AddHeaderValue(kind HeaderKind, name, value string)
	RemoveHeader(kind HeaderKind, name string)
	// ReadBody reads into p; eof reports that the body is exhausted.
	ReadBody(kind BodyKind, p []byte) (n int, eof bool)
	WriteBody(kind BodyKind, p []byte)
	StatusCode() uint32
	SetStatusCode(uint32)
	SourceAddr() string

	// wasmhttpd_v1. A module imports only the functions it calls, so a
	// policy that uses none of these runs on any http-wasm host.

	// Route chooses where the request goes: the named root (target) with
	// path, when not empty, in place of the request's; the upstream URL
	// target; or the request's own target.
	Route(kind RouteKind, target, path string)
	CounterAdd(name string, delta int64)
	CacheSetKey(key string)
	// CacheSetLifetime records, in seconds, the freshness lifetime and
	// the stale-while-revalidate and stale-if-error windows.
	CacheSetLifetime(fresh, staleWhileRevalidate, staleIfError int64)
	// CacheReusable lets the host reuse the current cache decision for
	// later calls that read the same (docs/ABI.md, cache_reusable).
	CacheReusable()
}

// Request is the request in flight.
type Request struct{ h Host }

// Response is the response being built.
type Response struct{ h Host }

// NewExchange returns the Request and Response views over h, for fake
// hosts that call handlers directly.
func NewExchange(h Host) (Request, Response) { return Request{h}, Response{h} }

// Method returns the request method, e.g. "GET".
func (r Request) Method() string { return r.h.Method() }

// SetMethod rewrites the method (before the next handler only).
func (r Request) SetMethod(m string) { r.h.SetMethod(m) }

// URI returns the request target in origin form: path?query.
func (r Request) URI() string { return r.h.URI() }

// SetURI rewrites the request target (before the next handler only).
func (r Request) SetURI(u string) { r.h.SetURI(u) }

// Path returns the URI up to the query, still percent-encoded.
func (r Request) Path() string {
	p, _ := SplitURI(r.h.URI())
	return p
}

// ProtocolVersion returns "HTTP/1.1" or "HTTP/1.0".
func (r Request) ProtocolVersion() string { return r.h.ProtocolVersion() }

// Header returns the request fields.
func (r Request) Header() Header { return Header{r.h, KindRequestHeaders} }

// Trailers returns the request trailers (needs FeatureTrailers).
func (r Request) Trailers() Header { return Header{r.h, KindRequestTrailers} }

// Body returns the request body.
func (r Request) Body() Body { return Body{r.h, KindRequestBody} }

// SourceAddr returns the client address, "ip:port".
func (r Request) SourceAddr() string { return r.h.SourceAddr() }

// ServeFrom sends the request to the named root of the host's
// configuration ([roots.NAME]) once the policies pass it on. path, when
// not empty, is the path under the root to serve instead of the request's
// (the request itself is not rewritten). A root the host does not have
// fails the request.
func (r Request) ServeFrom(root, path string) { r.h.Route(RouteStatic, root, path) }

// ProxyTo sends the request to an upstream, "http://host:port/prefix"
// (https too), whose path prefix goes before the request's path.
func (r Request) ProxyTo(upstream string) { r.h.Route(RouteUpstream, upstream, "") }

// Forward sends the request on to its own target, as a forward proxy.
func (r Request) Forward() { r.h.Route(RouteForward, "", "") }

// StatusCode returns the response status (200 until set).
func (r Response) StatusCode() uint32 { return r.h.StatusCode() }

// SetStatusCode sets the response status.
func (r Response) SetStatusCode(code uint32) { r.h.SetStatusCode(code) }

// Header returns the response fields.
func (r Response) Header() Header { return Header{r.h, KindResponseHeaders} }

// Trailers returns the response trailers (needs FeatureTrailers).
func (r Response) Trailers() Header { return Header{r.h, KindResponseTrailers} }

// Body returns the response body.
func (r Response) Body() Body { return Body{r.h, KindResponseBody} }

// Header is one field table. Names are case-insensitive; the host reports
// them lower-cased.
type Header struct {
	h    Host
	kind HeaderKind
}

// Get returns the first value of name and whether there is one.
func (h Header) Get(name string) (string, bool) {
	v := h.h.HeaderValues(h.kind, name)
	if len(v) == 0 {
		return "", false
	}
	return v[0], true
}

// Values returns every value of name, in order.
func (h Header) Values(name string) []string { return h.h.HeaderValues(h.kind, name) }

// Names returns each field name once, lower-cased.
func (h Header) Names() []string { return h.h.HeaderNames(h.kind) }

// Set replaces every value of name with value.
func (h Header) Set(name, value string) { h.h.SetHeaderValue(h.kind, name, value) }

// Add appends a value of name.
func (h Header) Add(name, value string) { h.h.AddHeaderValue(h.kind, name, value) }

// Remove deletes every value of name.
func (h Header) Remove(name string) { h.h.RemoveHeader(h.kind, name) }

// Body is a request or response body. Read reads from the guest's own
// position; the first Write in a phase replaces the body, later ones append.
type Body struct {
	h    Host
	kind BodyKind
}

// Read implements io.Reader.
func (b Body) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, eof := b.h.ReadBody(b.kind, p)
	if eof && n == 0 {
		return 0, io.EOF
	}
	return n, nil
}

// Write implements io.Writer.
func (b Body) Write(p []byte) (int, error) {
	b.h.WriteBody(b.kind, p)
	return len(p), nil
}

// WriteString writes s.
func (b Body) WriteString(s string) (int, error) { return b.Write([]byte(s)) }

// SplitURI splits a request target at the first '?': path and raw query
// (without the '?'; "" when absent).
func SplitURI(uri string) (path, query string) {
	for i := 0; i < len(uri); i++ {
		if uri[i] == '?' {
			return uri[:i], uri[i+1:]
		}
	}
	return uri, ""
}

// bytesReader keeps the bytes import local to this file.
func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }
