// Package guesttest is a fake host of both import modules (http_handler
// and wasmhttpd_v1), so policy logic is tested as ordinary Go (go test, no
// wasm). It keeps the request, the response and what the policy chose in
// plain fields that a test sets up and inspects.
package guesttest

import (
	"net/textproto"
	"strings"

	"wasmhttpd/guest"
)

// Field is one header field, in order.
type Field struct{ Name, Value string }

// Host is a fake guest.Host. The zero value is a GET / over HTTP/1.1 with
// status 200 and no fields.
type Host struct {
	ConfigJSON []byte
	Features   guest.Features
	Logs       []string

	Method_   string
	URI_      string
	Protocol  string
	Source    string
	Status    uint32
	Fields    [4][]Field // indexed by guest.HeaderKind
	ReqBody   []byte
	RespBody  []byte
	readPos   [2]int
	wroteBody [2]bool

	// What the policy chose through wasmhttpd_v1.
	Routed   Route
	Counters map[string]int64
	CacheKey string
	Lifetime [3]int64 // fresh, stale-while-revalidate, stale-if-error, in seconds
	Reusable bool     // the policy called cache_reusable
}

// Route is a route a policy chose; the zero value means none.
type Route struct {
	Kind         guest.RouteKind
	Target, Path string
}

// NewRequest returns a Host holding a request with method, uri and header
// lines "Name: value".
func NewRequest(method, uri string, header ...string) *Host {
	h := &Host{Method_: method, URI_: uri}
	for _, line := range header {
		name, value, _ := strings.Cut(line, ":")
		h.Fields[guest.KindRequestHeaders] = append(h.Fields[guest.KindRequestHeaders],
			Field{strings.ToLower(strings.TrimSpace(name)), strings.TrimSpace(value)})
	}
	return h
}

// Install makes h the package-level host of guest (Config, Log) and
// returns it.
func (h *Host) Install() *Host {
	guest.UseHost(h)
	return h
}

// Request runs handler's request phase and returns next and reqCtx.
func (h *Host) Request(handler guest.Handler) (next bool, reqCtx uint32) {
	req, resp := guest.NewExchange(h)
	return handler.HandleRequest(req, resp)
}

// Response runs handler's response phase.
func (h *Host) Response(handler guest.Handler, reqCtx uint32, isError bool) {
	req, resp := guest.NewExchange(h)
	handler.HandleResponse(reqCtx, req, resp, isError)
}

// Get returns the first value of name in the kind table, "" if none.
func (h *Host) Get(kind guest.HeaderKind, name string) string {
	v := h.HeaderValues(kind, name)
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

// EnableFeatures implements guest.Host.
func (h *Host) EnableFeatures(f guest.Features) guest.Features {
	h.Features |= f
	return h.Features
}

// Config implements guest.Host.
func (h *Host) Config() []byte { return h.ConfigJSON }

// LogEnabled implements guest.Host.
func (h *Host) LogEnabled(guest.LogLevel) bool { return true }

// Log implements guest.Host.
func (h *Host) Log(_ guest.LogLevel, msg string) { h.Logs = append(h.Logs, msg) }

// Method implements guest.Host.
func (h *Host) Method() string {
	if h.Method_ == "" {
		return "GET"
	}
	return h.Method_
}

// SetMethod implements guest.Host.
func (h *Host) SetMethod(m string) { h.Method_ = m }

// URI implements guest.Host.
func (h *Host) URI() string {
	if h.URI_ == "" {
		return "/"
	}
	return h.URI_
}

// SetURI implements guest.Host.
func (h *Host) SetURI(u string) { h.URI_ = u }

// ProtocolVersion implements guest.Host.
func (h *Host) ProtocolVersion() string {
	if h.Protocol == "" {
		return "HTTP/1.1"
	}
	return h.Protocol
}

// HeaderNames implements guest.Host: distinct, lower-cased.
func (h *Host) HeaderNames(kind guest.HeaderKind) []string {
	var names []string
	seen := map[string]bool{}
	for _, f := range h.Fields[kind] {
		if !seen[f.Name] {
			seen[f.Name] = true
			names = append(names, f.Name)
		}
	}
	return names
}

// HeaderValues implements guest.Host.
func (h *Host) HeaderValues(kind guest.HeaderKind, name string) []string {
	var v []string
	for _, f := range h.Fields[kind] {
		if strings.EqualFold(f.Name, name) {
			v = append(v, f.Value)
		}
	}
	return v
}

// SetHeaderValue implements guest.Host.
func (h *Host) SetHeaderValue(kind guest.HeaderKind, name, value string) {
	h.RemoveHeader(kind, name)
	h.AddHeaderValue(kind, name, value)
}

// AddHeaderValue implements guest.Host.
func (h *Host) AddHeaderValue(kind guest.HeaderKind, name, value string) {
	h.Fields[kind] = append(h.Fields[kind], Field{strings.ToLower(textproto.TrimString(name)), value})
}

// RemoveHeader implements guest.Host.
func (h *Host) RemoveHeader(kind guest.HeaderKind, name string) {
	kept := h.Fields[kind][:0]
	for _, f := range h.Fields[kind] {
		if !strings.EqualFold(f.Name, name) {
			kept = append(kept, f)
		}
	}
	h.Fields[kind] = kept
}

func (h *Host) body(kind guest.BodyKind) *[]byte {
	if kind == guest.KindRequestBody {
		return &h.ReqBody
	}
	return &h.RespBody
}

// ReadBody implements guest.Host.
func (h *Host) ReadBody(kind guest.BodyKind, p []byte) (int, bool) {
	b := *h.body(kind)
	n := copy(p, b[h.readPos[kind]:])
	h.readPos[kind] += n
	return n, h.readPos[kind] == len(b)
}

// WriteBody implements guest.Host: the first write replaces, later ones
// append, as the real host does within a phase.
func (h *Host) WriteBody(kind guest.BodyKind, p []byte) {
	b := h.body(kind)
	if !h.wroteBody[kind] {
		*b = nil
		h.wroteBody[kind] = true
	}
	*b = append(*b, p...)
}

// StatusCode implements guest.Host.
func (h *Host) StatusCode() uint32 {
	if h.Status == 0 {
		return 200
	}
	return h.Status
}

// SetStatusCode implements guest.Host.
func (h *Host) SetStatusCode(c uint32) { h.Status = c }

// SourceAddr implements guest.Host.
func (h *Host) SourceAddr() string {
	if h.Source == "" {
		return "192.0.2.1:40000"
	}
	return h.Source
}

// Route implements guest.Host; the last choice wins, as on the real host.
func (h *Host) Route(kind guest.RouteKind, target, path string) {
	h.Routed = Route{kind, target, path}
}

// CounterAdd implements guest.Host.
func (h *Host) CounterAdd(name string, delta int64) {
	if h.Counters == nil {
		h.Counters = map[string]int64{}
	}
	h.Counters[name] += delta
}

// CacheSetKey implements guest.Host.
func (h *Host) CacheSetKey(key string) { h.CacheKey = key }

// CacheSetLifetime implements guest.Host.
func (h *Host) CacheSetLifetime(fresh, staleWhileRevalidate, staleIfError int64) {
	h.Lifetime = [3]int64{fresh, staleWhileRevalidate, staleIfError}
}

// CacheReusable implements guest.Host.
func (h *Host) CacheReusable() { h.Reusable = true }

// compile-time check
var _ guest.Host = (*Host)(nil)
