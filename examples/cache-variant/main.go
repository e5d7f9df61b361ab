// Command cache-variant is an operator's cache policy: an example of
// changing what the caching proxy does by swapping one .wasm for another
// while the server runs (docs/caching.md). Beside a small core of
// RFC 9111 rules for a shared cache it has two rules of its own:
//
//   - responses from forcedHost are kept for forcedTTL (an hour) whatever
//     their origin says about freshness (max-age, Expires, no-cache);
//     only no-store and private still keep them out;
//   - requests whose path starts with neverPrefix never use the cache:
//     not stored, not served from it, not even when already stored.
//
// Both are set when the module is built, not in config.toml:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared \
//	  -ldflags "-X main.forcedHost=static.example.com -X main.neverPrefix=/account/" \
//	  -o cache-variant.wasm ./examples/cache-variant
//
// RATIONALE: the variant replaces the standard policy under the same
// [policies.cache] table, and the standard policy refuses keys it does
// not know; settings of the variant's own in that table would make the
// swap back fail. So the variant reads no configuration, and its rules
// live in the module — which is the point of the example: the module is
// the policy.
//
// The core rules are a deliberately small subset of policies/cache's,
// computed with the same RFC 9111 arithmetic, which both take from
// package wasmhttpd/guest/cache/rfc9111: the freshness lifetime is
// s-maxage or max-age only (no Expires, no heuristic), there is no stale
// serving, and PURGE is allowed from loopback. A variant that wants more
// of the standard rules finds their parts there (FreshnessLifetime with
// Expires and the heuristic, MustRevalidate, RequestNoCache with Pragma).
package main

import (
	"net/netip"
	"strconv"
	"strings"

	"wasmhttpd/guest"
	"wasmhttpd/guest/cache"
	"wasmhttpd/guest/cache/rfc9111"
)

// The operator's rules, set with -ldflags "-X main.forcedHost=…".
var (
	forcedHost  = "static.example.com" // host[:port] as in the request's Host field
	neverPrefix = "/account/"          // "" caches every path
)

// forcedTTL is how long a response of forcedHost stays fresh, in
// seconds: an hour.
const forcedTTL = 3600

func main() {}

func init() { cache.Handle(&rules{}) }

// rules is the cache.Handler.
type rules struct {
	// Reused by every call (an instance serves one at a time): a
	// standard-Go guest pays about a microsecond per allocation.
	reqCC  rfc9111.Directives
	stored rfc9111.Response
}

// Request implements cache.Handler. Its decisions, like Lookup's, follow
// from the fields read and the times alone, so the host may reuse them.
func (r *rules) Request(req guest.Request) cache.Access {
	cache.Reusable()
	switch req.Method() {
	case "GET", "HEAD":
	case "PURGE":
		if ap, err := netip.ParseAddrPort(req.SourceAddr()); err == nil && ap.Addr().Unmap().IsLoopback() {
			return cache.Purge
		}
		return 0
	default:
		return 0
	}
	if neverPrefix != "" && strings.HasPrefix(req.Path(), neverPrefix) {
		return 0
	}
	access := cache.Lookup | cache.Store
	rc := r.requestDirectives(req)
	if rc.Has("no-store") {
		access &^= cache.Store
	}
	if rc.Has("only-if-cached") {
		access |= cache.OnlyIfCached
	}
	return access
}

// requestDirectives parses the request's Cache-Control.
func (r *rules) requestDirectives(req guest.Request) rfc9111.Directives {
	r.reqCC = rfc9111.ParseDirectives(r.reqCC, req.Header().Values("Cache-Control"))
	return r.reqCC
}

// forced reports whether the request's host is the one with a forced TTL.
func forced(req guest.Request) bool {
	host, _ := req.Header().Get("Host")
	return strings.EqualFold(host, forcedHost)
}

// Lookup implements cache.Handler. Times and ages are whole seconds, as
// HTTP has them.
func (r *rules) Lookup(req guest.Request, stored guest.Response, t cache.Times) cache.Decision {
	cache.Reusable()
	s := &r.stored
	rfc9111.ReadResponse(s, stored.StatusCode(), stored.Header(), t.Response.Unix())
	life, _ := s.CC.MaxAge(true)
	if forced(req) {
		life = forcedTTL
	}
	age := s.CurrentAge(t.Request.Unix(), t.Response.Unix(), t.Now.Unix())
	stored.Header().Set("Age", strconv.FormatInt(age, 10))
	ttl := "ttl=" + strconv.FormatInt(life-age, 10)

	reqNoCache := r.requestDirectives(req).Has("no-cache")
	if age < life && !reqNoCache && (!s.CC.Has("no-cache") || forced(req)) {
		status(stored, "hit", ttl)
		return cache.Decision{Action: cache.Fresh}
	}
	status(stored, "fwd=stale", ttl)
	if s.HasValidator {
		return cache.Decision{Action: cache.Revalidate}
	}
	return cache.Decision{Action: cache.Miss}
}

// Store implements cache.Handler. A 304 arrives with the stored fields
// refreshed by the origin's.
func (r *rules) Store(req guest.Request, resp guest.Response, t cache.Times) bool {
	code := resp.StatusCode()
	fwd := "fwd=miss"
	if code == 304 {
		fwd = "fwd=stale"
	}
	fwd += "; fwd-status=" + strconv.Itoa(int(code))
	s := &r.stored
	rfc9111.ReadResponse(s, code, resp.Header(), t.Response.Unix())
	refuse := func(reason string) bool {
		status(resp, fwd, "detail="+strconv.Quote(reason))
		return false
	}
	_, auth := req.Header().Get("Authorization")
	switch {
	case req.Method() != "GET":
		return refuse("method")
	case code != 200 && code != 304:
		return refuse("status")
	case r.requestDirectives(req).Has("no-store"):
		return refuse("request no-store")
	case s.CC.Has("no-store"), s.CC.Has("private"):
		return refuse("no-store or private")
	case auth && !s.CC.Has("public"):
		return refuse("authorization")
	case strings.Contains(strings.Join(resp.Header().Values("Vary"), ","), "*"):
		return refuse("vary *")
	}
	life, explicit := s.CC.MaxAge(true)
	detail := ""
	if forced(req) {
		life, explicit, detail = forcedTTL, true, "; detail=forced"
	}
	switch {
	case !explicit:
		return refuse("no lifetime")
	case life == 0 && !s.HasValidator:
		return refuse("never fresh, no validator")
	}
	cache.SetLifetime(life, 0, 0)
	status(resp, fwd, "stored", "ttl="+strconv.FormatInt(life, 10)+detail)
	return true
}

// status sets Cache-Status (RFC 9211).
func status(resp guest.Response, params ...string) {
	resp.Header().Set("Cache-Status", "wasmhttpd; "+strings.Join(params, "; "))
}
