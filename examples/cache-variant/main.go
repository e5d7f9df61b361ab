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
// The core rules are a deliberately small subset of policies/cache: the
// freshness lifetime is s-maxage or max-age only (no Expires, no
// heuristic), there is no stale serving, and PURGE is allowed from
// loopback. policies/cache is a main package and cannot be imported; a
// variant that wants all of its rules copies them.
package main

import (
	"net/netip"
	"strconv"
	"strings"
	"time"

	"wasmhttpd/guest"
	"wasmhttpd/guest/cache"
)

// The operator's rules, set with -ldflags "-X main.forcedHost=…".
var (
	forcedHost  = "static.example.com" // host[:port] as in the request's Host field
	neverPrefix = "/account/"          // "" caches every path
)

// forcedTTL is how long a response of forcedHost stays fresh.
const forcedTTL = time.Hour

func main() {}

func init() { cache.Handle(rules{}) }

// rules is the cache.Handler.
type rules struct{}

// Request implements cache.Handler. Its decisions, like Lookup's, follow
// from the fields read and the times alone, so the host may reuse them.
func (rules) Request(req guest.Request) cache.Access {
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
	rc := directives(req.Header().Values("Cache-Control"))
	if has(rc, "no-store") {
		access &^= cache.Store
	}
	if has(rc, "only-if-cached") {
		access |= cache.OnlyIfCached
	}
	return access
}

// forced reports whether the request's host is the one with a forced TTL.
func forced(req guest.Request) bool {
	host, _ := req.Header().Get("Host")
	return strings.EqualFold(host, forcedHost)
}

// Lookup implements cache.Handler.
func (rules) Lookup(req guest.Request, stored guest.Response, t cache.Times) cache.Decision {
	cache.Reusable()
	h := stored.Header()
	cc := directives(h.Values("Cache-Control"))
	life, _ := lifetime(cc)
	if forced(req) {
		life = forcedTTL
	}
	age := t.Now.Sub(t.Response)
	if v, ok := h.Get("Age"); ok {
		if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil && n > 0 {
			age += time.Duration(n) * time.Second
		}
	}
	h.Set("Age", strconv.FormatInt(int64(age/time.Second), 10))
	ttl := "ttl=" + strconv.FormatInt(int64((life-age)/time.Second), 10)

	reqNoCache := has(directives(req.Header().Values("Cache-Control")), "no-cache")
	if age < life && !reqNoCache && (!has(cc, "no-cache") || forced(req)) {
		status(stored, "hit", ttl)
		return cache.Decision{Action: cache.Fresh}
	}
	status(stored, "fwd=stale", ttl)
	if hasValidator(h) {
		return cache.Decision{Action: cache.Revalidate}
	}
	return cache.Decision{Action: cache.Miss}
}

// hasValidator reports an ETag or Last-Modified to revalidate with.
func hasValidator(h guest.Header) bool {
	_, etag := h.Get("ETag")
	_, lastModified := h.Get("Last-Modified")
	return etag || lastModified
}

// Store implements cache.Handler. A 304 arrives with the stored fields
// refreshed by the origin's.
func (rules) Store(req guest.Request, resp guest.Response, _ cache.Times) bool {
	code := resp.StatusCode()
	fwd := "fwd=miss"
	if code == 304 {
		fwd = "fwd=stale"
	}
	fwd += "; fwd-status=" + strconv.Itoa(int(code))
	h := resp.Header()
	cc := directives(h.Values("Cache-Control"))
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
	case has(directives(req.Header().Values("Cache-Control")), "no-store"):
		return refuse("request no-store")
	case has(cc, "no-store"), has(cc, "private"):
		return refuse("no-store or private")
	case auth && !has(cc, "public"):
		return refuse("authorization")
	case strings.Contains(strings.Join(h.Values("Vary"), ","), "*"):
		return refuse("vary *")
	}
	life, explicit := lifetime(cc)
	detail := ""
	if forced(req) {
		life, explicit, detail = forcedTTL, true, "; detail=forced"
	}
	switch {
	case !explicit:
		return refuse("no lifetime")
	case life == 0 && !hasValidator(h):
		return refuse("never fresh, no validator")
	}
	cache.SetLifetime(life, 0, 0)
	status(resp, fwd, "stored", "ttl="+strconv.FormatInt(int64(life/time.Second), 10)+detail)
	return true
}

// lifetime is s-maxage, else max-age; explicit is false without either.
func lifetime(cc map[string]string) (life time.Duration, explicit bool) {
	for _, name := range [...]string{"s-maxage", "max-age"} {
		if v, ok := cc[name]; ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				return 0, true // malformed: stale (RFC 9111 4.2.1)
			}
			return time.Duration(min(n, 1<<31)) * time.Second, true
		}
	}
	return 0, false
}

// directives parses Cache-Control lines into lower-cased names and their
// values (quotes removed); commas inside quoted values are not expected
// in the directives these rules read.
func directives(lines []string) map[string]string {
	d := map[string]string{}
	for _, line := range lines {
		for _, item := range strings.Split(line, ",") {
			name, value, _ := strings.Cut(strings.TrimSpace(item), "=")
			if name != "" {
				d[strings.ToLower(name)] = strings.Trim(value, `"`)
			}
		}
	}
	return d
}

func has(d map[string]string, name string) bool {
	_, ok := d[name]
	return ok
}

// status sets Cache-Status (RFC 9211).
func status(resp guest.Response, params ...string) {
	resp.Header().Set("Cache-Status", "wasmhttpd; "+strings.Join(params, "; "))
}
