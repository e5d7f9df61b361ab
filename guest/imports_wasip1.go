//go:build wasip1

package guest

import (
	"strings"
	"unsafe"
)

//go:wasmimport http_handler enable_features
func enableFeatures(features uint32) uint32

//go:wasmimport http_handler get_config
func getConfig(buf unsafe.Pointer, limit uint32) uint32

//go:wasmimport http_handler log_enabled
func logEnabled(level int32) uint32

//go:wasmimport http_handler log
func logMessage(level int32, msg unsafe.Pointer, msgLen uint32)

//go:wasmimport http_handler get_method
func getMethod(buf unsafe.Pointer, limit uint32) uint32

//go:wasmimport http_handler set_method
func setMethod(p unsafe.Pointer, n uint32)

//go:wasmimport http_handler get_uri
func getURI(buf unsafe.Pointer, limit uint32) uint32

//go:wasmimport http_handler set_uri
func setURI(p unsafe.Pointer, n uint32)

//go:wasmimport http_handler get_protocol_version
func getProtocolVersion(buf unsafe.Pointer, limit uint32) uint32

//go:wasmimport http_handler get_header_names
func getHeaderNames(kind uint32, buf unsafe.Pointer, limit uint32) uint64

//go:wasmimport http_handler get_header_values
func getHeaderValues(kind uint32, name unsafe.Pointer, nameLen uint32, buf unsafe.Pointer, limit uint32) uint64

//go:wasmimport http_handler set_header_value
func setHeaderValue(kind uint32, name unsafe.Pointer, nameLen uint32, value unsafe.Pointer, valueLen uint32)

//go:wasmimport http_handler add_header_value
func addHeaderValue(kind uint32, name unsafe.Pointer, nameLen uint32, value unsafe.Pointer, valueLen uint32)

//go:wasmimport http_handler remove_header
func removeHeader(kind uint32, name unsafe.Pointer, nameLen uint32)

//go:wasmimport http_handler read_body
func readBody(kind uint32, buf unsafe.Pointer, limit uint32) uint64

//go:wasmimport http_handler write_body
func writeBody(kind uint32, buf unsafe.Pointer, n uint32)

//go:wasmimport http_handler get_status_code
func getStatusCode() uint32

//go:wasmimport http_handler set_status_code
func setStatusCode(code uint32)

//go:wasmimport http_handler get_source_addr
func getSourceAddr(buf unsafe.Pointer, limit uint32) uint32

//go:wasmimport wasmhttpd_v1 route_static
func routeStatic(root unsafe.Pointer, rootLen uint32, path unsafe.Pointer, pathLen uint32)

//go:wasmimport wasmhttpd_v1 route_upstream
func routeUpstream(url unsafe.Pointer, urlLen uint32)

//go:wasmimport wasmhttpd_v1 route_forward
func routeForward()

//go:wasmimport wasmhttpd_v1 counter_add
func counterAdd(name unsafe.Pointer, nameLen uint32, delta int64)

//go:wasmimport wasmhttpd_v1 cache_set_key
func cacheSetKey(key unsafe.Pointer, keyLen uint32)

//go:wasmimport wasmhttpd_v1 cache_set_lifetime
func cacheSetLifetime(fresh, staleWhileRevalidate, staleIfError int64)

//go:wasmimport wasmhttpd_v1 cache_reusable
func cacheReusable()

// imports is the Host of a wasip1 build: the imports of both modules.
type imports struct{}

// wasmHost is the one imports value, stored in host at start-up.
var wasmHost Host = imports{}

func init() { host = wasmHost }

//go:wasmexport handle_request
func handleRequest() uint64 { return DispatchRequest(wasmHost) }

//go:wasmexport handle_response
func handleResponse(reqCtx uint32, isError uint32) {
	DispatchResponse(wasmHost, reqCtx, isError != 0)
}

// scratch is the shared receive buffer. An instance runs one call at a
// time, so one buffer serves every get_*; it grows to the largest value
// seen and stays, sparing an allocation per call.
var scratch = make([]byte, 2048)

// The strings the imports return live in an arena that every call into
// the module starts afresh (BeginCall), because a heap allocation costs a
// standard-Go guest about a microsecond — as much as the call itself —
// and a policy reads a few strings a request. The arena grows by
// replacement, never in place, so a string handed out earlier in a call
// stays valid to its end; what outlives the call must be copied.
var (
	arena       = make([]byte, 0, 4096)
	stringArena = make([]string, 0, 64)
)

func beginCall() {
	arena, stringArena = arena[:0], stringArena[:0]
}

// keep returns b as a string in the arena.
func keep(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if cap(arena)-len(arena) < len(b) {
		arena = make([]byte, 0, max(2*cap(arena), len(b)+4096))
	}
	start := len(arena)
	arena = append(arena, b...)
	return unsafe.String(&arena[start], len(b))
}

// keepList returns the strings of count NUL-terminated values in b as a
// slice of the string arena, capped so that a caller's append copies. The
// bytes are copied into the arena once, and the values are substrings.
func keepList(b []byte, count uint32) []string {
	if cap(stringArena)-len(stringArena) < int(count) {
		stringArena = make([]string, 0, max(2*cap(stringArena), int(count)+64))
	}
	start := len(stringArena)
	for rest := keep(b); rest != ""; {
		i := strings.IndexByte(rest, 0)
		if i < 0 {
			break
		}
		stringArena = append(stringArena, rest[:i])
		rest = rest[i+1:]
	}
	return stringArena[start:len(stringArena):len(stringArena)]
}

// methods are the methods returned without copying.
var methods = [...]string{"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE", "PURGE"}

// ptr returns the address of b's first byte (nil for an empty slice, which
// the host never dereferences with a zero length).
func ptr(b []byte) unsafe.Pointer {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Pointer(&b[0])
}

// strPtr returns the address of s's bytes without copying.
func strPtr(s string) unsafe.Pointer {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Pointer(unsafe.StringData(s))
}

// grow makes scratch at least n bytes.
func grow(n uint32) {
	if int(n) > len(scratch) {
		scratch = make([]byte, n)
	}
}

// getBytes calls a get_* function that returns the full length and writes
// only when it fits, retrying once with a large enough buffer.
func getBytes(get func(unsafe.Pointer, uint32) uint32) []byte {
	n := get(ptr(scratch), uint32(len(scratch)))
	if int(n) > len(scratch) {
		grow(n)
		n = get(ptr(scratch), uint32(len(scratch)))
	}
	return scratch[:n]
}

func getString(get func(unsafe.Pointer, uint32) uint32) string {
	return keep(getBytes(get))
}

// EnableFeatures implements Host.
func (imports) EnableFeatures(f Features) Features { return Features(enableFeatures(uint32(f))) }

// Config implements Host; the bytes are copied, as scratch is reused.
func (imports) Config() []byte {
	b := getBytes(getConfig)
	return append([]byte(nil), b...)
}

// LogEnabled implements Host.
func (imports) LogEnabled(l LogLevel) bool { return logEnabled(int32(l)) == 1 }

// Log implements Host.
func (imports) Log(l LogLevel, msg string) { logMessage(int32(l), strPtr(msg), uint32(len(msg))) }

// Method implements Host.
func (imports) Method() string {
	b := getBytes(getMethod)
	for _, m := range methods {
		if string(b) == m {
			return m
		}
	}
	return keep(b)
}

// SetMethod implements Host.
func (imports) SetMethod(m string) { setMethod(strPtr(m), uint32(len(m))) }

// URI implements Host.
func (imports) URI() string { return getString(getURI) }

// SetURI implements Host.
func (imports) SetURI(u string) { setURI(strPtr(u), uint32(len(u))) }

// ProtocolVersion implements Host.
func (imports) ProtocolVersion() string { return getString(getProtocolVersion) }

// HeaderNames implements Host.
func (imports) HeaderNames(kind HeaderKind) []string {
	r := getHeaderNames(uint32(kind), ptr(scratch), uint32(len(scratch)))
	if n := uint32(r); int(n) > len(scratch) {
		grow(n)
		r = getHeaderNames(uint32(kind), ptr(scratch), uint32(len(scratch)))
	}
	return keepList(scratch[:uint32(r)], uint32(r>>32))
}

// HeaderValues implements Host.
func (imports) HeaderValues(kind HeaderKind, name string) []string {
	r := getHeaderValues(uint32(kind), strPtr(name), uint32(len(name)), ptr(scratch), uint32(len(scratch)))
	if n := uint32(r); int(n) > len(scratch) {
		grow(n)
		r = getHeaderValues(uint32(kind), strPtr(name), uint32(len(name)), ptr(scratch), uint32(len(scratch)))
	}
	if r>>32 == 0 {
		return nil
	}
	return keepList(scratch[:uint32(r)], uint32(r>>32))
}

// SetHeaderValue implements Host.
func (imports) SetHeaderValue(kind HeaderKind, name, value string) {
	setHeaderValue(uint32(kind), strPtr(name), uint32(len(name)), strPtr(value), uint32(len(value)))
}

// AddHeaderValue implements Host.
func (imports) AddHeaderValue(kind HeaderKind, name, value string) {
	addHeaderValue(uint32(kind), strPtr(name), uint32(len(name)), strPtr(value), uint32(len(value)))
}

// RemoveHeader implements Host.
func (imports) RemoveHeader(kind HeaderKind, name string) {
	removeHeader(uint32(kind), strPtr(name), uint32(len(name)))
}

// ReadBody implements Host; p must not be empty (the host refuses a zero
// limit).
func (imports) ReadBody(kind BodyKind, p []byte) (int, bool) {
	r := readBody(uint32(kind), ptr(p), uint32(len(p)))
	return int(uint32(r)), r>>32&1 == 1
}

// WriteBody implements Host.
func (imports) WriteBody(kind BodyKind, p []byte) { writeBody(uint32(kind), ptr(p), uint32(len(p))) }

// StatusCode implements Host.
func (imports) StatusCode() uint32 { return getStatusCode() }

// SetStatusCode implements Host.
func (imports) SetStatusCode(c uint32) { setStatusCode(c) }

// SourceAddr implements Host.
func (imports) SourceAddr() string { return getString(getSourceAddr) }

// Route implements Host.
func (imports) Route(kind RouteKind, target, path string) {
	switch kind {
	case RouteStatic:
		routeStatic(strPtr(target), uint32(len(target)), strPtr(path), uint32(len(path)))
	case RouteUpstream:
		routeUpstream(strPtr(target), uint32(len(target)))
	case RouteForward:
		routeForward()
	}
}

// CounterAdd implements Host.
func (imports) CounterAdd(name string, delta int64) {
	counterAdd(strPtr(name), uint32(len(name)), delta)
}

// CacheSetKey implements Host.
func (imports) CacheSetKey(key string) { cacheSetKey(strPtr(key), uint32(len(key))) }

// CacheSetLifetime implements Host.
func (imports) CacheSetLifetime(fresh, staleWhileRevalidate, staleIfError int64) {
	cacheSetLifetime(fresh, staleWhileRevalidate, staleIfError)
}

// CacheReusable implements Host.
func (imports) CacheReusable() { cacheReusable() }
