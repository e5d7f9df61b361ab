// Package rfc9111 is the arithmetic of HTTP caching (RFC 9111) that a
// cache policy computes its decisions from: Cache-Control directives,
// HTTP dates, a stored response's current age and freshness lifetime, and
// the rules that forbid serving it stale. It decides nothing itself —
// whether to store, serve or revalidate is the policy's (package
// wasmhttpd/guest/cache) — and knows nothing of the host: it reads header
// fields through the two methods guest.Header has, and takes and returns
// Unix seconds, the whole seconds HTTP has.
//
//	var s rfc9111.Response // kept across calls: its CC array is reused
//	rfc9111.ReadResponse(&s, resp.StatusCode(), resp.Header(), t.Response.Unix())
//	age := s.CurrentAge(t.Request.Unix(), t.Response.Unix(), t.Now.Unix())
//	life, _ := s.FreshnessLifetime(true, 0.1, 86400)
//	fresh := age < life
//
// RATIONALE: a policy runs on every cache hit, and a standard-Go guest
// pays about a microsecond per allocation, more than the arithmetic. So
// parsing appends to slices the caller keeps across calls (Directives,
// Response.CC), IMF-fixdate is parsed by hand, status codes are matched
// by switch rather than map, and the functions that read fields are
// generic over Header instead of taking an interface: a guest.Header
// (a struct) converted to an interface is put on the heap, since a call
// through an interface may keep its receiver — one allocation per call,
// which a type parameter, passing it by value, does not make
// (TestAllocations).
package rfc9111

import (
	"strings"
)

// Header is a table of header fields as the rules read it; names are
// case-insensitive. guest.Header implements it.
type Header interface {
	// Get returns the first value of name and whether there is one.
	Get(name string) (string, bool)
	// Values returns every value of name, in order.
	Values(name string) []string
}

// Response is what the freshness rules read of a stored (or just
// fetched) response. Times are Unix seconds, durations seconds.
type Response struct {
	Status       uint32     // the status code
	CC           Directives // Cache-Control
	Date         int64      // Date, or the response time when absent or invalid
	Age          int64      // Age, 0 when absent or invalid, at most MaxDelta
	Expires      string     // Expires as sent, "" when absent
	LastModified string     // Last-Modified as sent, "" when absent
	HasValidator bool       // an ETag or a Last-Modified to revalidate with
}

// ReadResponse reads into r the fields of a response with status and
// header h that was received at responseTime (Unix seconds), which
// stands in for a missing or invalid Date. r.CC's array is reused, and
// strings are h's, valid as long as h's values are.
func ReadResponse[H Header](r *Response, status uint32, h H, responseTime int64) {
	*r = Response{
		Status: status,
		CC:     ParseDirectives(r.CC, h.Values("Cache-Control")),
		Date:   responseTime,
	}
	if v, ok := h.Get("Date"); ok {
		if d, ok := HTTPDate(v); ok {
			r.Date = d
		}
	}
	if v, ok := h.Get("Age"); ok {
		r.Age = deltaSeconds(strings.TrimSpace(v))
	}
	r.Expires, _ = h.Get("Expires")
	r.LastModified, _ = h.Get("Last-Modified")
	_, etag := h.Get("ETag")
	r.HasValidator = etag || r.LastModified != ""
}

// CurrentAge is RFC 9111 4.2.3: the response's age now, from its Date and
// Age and from when it was requested and received.
func (r *Response) CurrentAge(requestTime, responseTime, now int64) int64 {
	apparent := max(0, responseTime-r.Date)
	delay := responseTime - requestTime
	correctedAgeValue := r.Age + delay
	correctedInitial := max(apparent, correctedAgeValue)
	resident := now - responseTime
	return correctedInitial + resident
}

// FreshnessLifetime is RFC 9111 4.2.1 for a shared cache (s-maxage
// first) or a private one, then 4.2.2's heuristic: heuristic times the
// time since Last-Modified, at most maxHeuristic seconds. explicit says
// whether the lifetime came from the response rather than the heuristic.
func (r *Response) FreshnessLifetime(shared bool, heuristic float64, maxHeuristic int64) (lifetime int64, explicit bool) {
	if v, ok := r.CC.MaxAge(shared); ok {
		return v, true
	}
	if r.Expires != "" {
		exp, ok := HTTPDate(r.Expires)
		if !ok {
			return 0, true // an invalid Expires means already expired
		}
		return max(0, exp-r.Date), true
	}
	// A 304 refreshes a response that was stored already: the heuristic
	// applies as it did to that one.
	if !HeuristicallyCacheable(r.Status) && r.Status != 304 && !r.CC.Has("public") {
		return 0, false
	}
	if lm, ok := HTTPDate(r.LastModified); ok && lm < r.Date {
		return min(int64(float64(r.Date-lm)*heuristic), maxHeuristic), false
	}
	return 0, false
}

// MustRevalidate reports whether a stale response may never be served
// stale (RFC 9111 5.2.2.2, 5.2.2.8, 5.2.2.10: s-maxage implies
// proxy-revalidate in a shared cache).
func (r *Response) MustRevalidate(shared bool) bool {
	return r.CC.Has("must-revalidate") || shared && (r.CC.Has("proxy-revalidate") || r.CC.Has("s-maxage"))
}

// HeuristicallyCacheable reports the status codes RFC 9110 15.1 defines
// as heuristically cacheable.
func HeuristicallyCacheable(status uint32) bool {
	switch status {
	case 200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501:
		return true
	}
	return false
}

// RequestNoCache reports whether a request with Cache-Control cc and
// header h says no-cache, or Pragma: no-cache when it has no Cache-Control
// (RFC 9111 5.4). Pragma is read only then, so a policy that declares its
// decisions reusable (cache.Reusable) reads no more fields than it needs.
func RequestNoCache[H Header](cc Directives, h H) bool {
	if cc.Has("no-cache") {
		return true
	}
	if len(cc) > 0 {
		return false
	}
	// Pragma's directives have Cache-Control's syntax (RFC 9111 5.4), so
	// x-no-cache or a quoted "no-cache" is not one.
	var buf [4]Directive
	return ParseDirectives(buf[:0], h.Values("Pragma")).Has("no-cache")
}
