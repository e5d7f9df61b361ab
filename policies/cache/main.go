// Command cache is the caching proxy's default cache policy: the decisions
// of RFC 9111 (HTTP caching) for a shared cache, with RFC 5861's
// stale-while-revalidate and stale-if-error, reporting each outcome in a
// Cache-Status field (RFC 9211). The proxy does the storing; this module,
// loaded as its decider, says what may be stored, for how long, and when a
// stored response may answer. Swap it for another build to change the
// rules while the server runs (docs/ABI.md, "Cache decisions").
//
// Configuration (JSON via get_config; every key optional):
//
//	{
//	  "shared": true,                 // a shared cache: s-maxage, private and Authorization rules apply
//	  "heuristic_fraction": 0.1,      // heuristic freshness, of the Last-Modified age (RFC 9111 4.2.2)
//	  "max_heuristic": 86400,         // seconds; caps the heuristic
//	  "purge": "loopback"             // who may PURGE: "loopback", "any" or "none"
//	}
//
// What it decides:
//
//   - Requests: GET uses the cache, HEAD is answered from it (never
//     stored); other methods bypass it
//     (the proxy invalidates after a successful unsafe one). A request
//     no-store may be answered from the cache but its response is not
//     stored; only-if-cached answers 504 on a miss; PURGE is allowed per
//     "purge".
//   - Storing (GET responses only): not with no-store, not private in a
//     shared cache, not when the request had Authorization unless the
//     response says public, must-revalidate or s-maxage; not 206 or
//     Vary: *; only with an explicit lifetime (s-maxage, max-age,
//     Expires), public, or a heuristically cacheable status; never when it
//     could neither be fresh nor be revalidated. A no-cache response is
//     recorded with no lifetime: it is validated for every request.
//   - Serving: the age of RFC 9111 4.2.3 against the lifetime of 4.2.1
//     (s-maxage, max-age, Expires, else the heuristic). Fresh responses are
//     served with Age; the request's no-cache (or Pragma: no-cache),
//     max-age and min-fresh, and the response's no-cache, force a
//     revalidation; max-stale, stale-while-revalidate and stale-if-error
//     allow stale serving unless must-revalidate (or, shared,
//     proxy-revalidate or s-maxage) forbids it. A stale response without
//     validators is fetched anew rather than revalidated.
package main

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"wasmhttpd/guest"
	"wasmhttpd/guest/cache"
	"wasmhttpd/guest/cache/rfc9111"
)

func main() {}

func init() {
	p := guest.HandleConfigured("cache", newPolicy)
	cache.Handle(p)
}

// Config is the policy configuration.
type Config struct {
	Shared            bool    `json:"shared"`
	HeuristicFraction float64 `json:"heuristic_fraction"`
	MaxHeuristic      int64   `json:"max_heuristic"`
	Purge             string  `json:"purge"`
}

type policy struct {
	guest.RequestOnly // the proxy asks through the cache hooks only
	cfg               Config
	maxHeuristic      int64 // seconds

	// Reused by every call (an instance serves one at a time): a
	// standard-Go guest pays about a microsecond per allocation.
	reqCC  rfc9111.Directives
	stored rfc9111.Response
	status []byte
	// The last Cache-Status and Age values sent, reused while they do
	// not change (a hot entry's change once a second), sparing the
	// string each hit would otherwise allocate.
	statusText, ageText string
	age                 int64
}

func newPolicy(raw []byte) (*policy, error) {
	cfg := Config{Shared: true, HeuristicFraction: 0.1, MaxHeuristic: 86400, Purge: "loopback"}
	if err := guest.DecodeJSON(raw, &cfg); err != nil {
		return nil, err
	}
	if cfg.HeuristicFraction < 0 || cfg.HeuristicFraction > 1 {
		return nil, fmt.Errorf("heuristic_fraction %v is not between 0 and 1", cfg.HeuristicFraction)
	}
	if cfg.MaxHeuristic < 0 {
		return nil, fmt.Errorf("max_heuristic %d is negative", cfg.MaxHeuristic)
	}
	switch cfg.Purge {
	case "loopback", "any", "none":
	default:
		return nil, fmt.Errorf("purge %q is not loopback, any or none", cfg.Purge)
	}
	p := &policy{cfg: cfg, maxHeuristic: cfg.MaxHeuristic}
	p.RequestOnly = func(guest.Request, guest.Response) (bool, uint32) { return true, 0 }
	return p, nil
}

// Request implements cache.Handler. Its decisions, like Lookup's, follow
// from the fields read and the times: reusable.
func (p *policy) Request(req guest.Request) cache.Access {
	cache.Reusable()
	access := cache.Lookup | cache.Store
	switch req.Method() {
	case "GET":
	case "HEAD":
		// Answered from a stored GET; a HEAD response has no body to
		// store, and a HEAD revalidating a stale entry must not make the
		// refreshed fields fail the storing rules.
		access = cache.Lookup
	case "PURGE":
		if p.mayPurge(req.SourceAddr()) {
			return cache.Purge
		}
		return 0
	default:
		return 0
	}
	rc := p.requestDirectives(req)
	if rc.Has("no-store") {
		access &^= cache.Store
	}
	if rc.Has("only-if-cached") {
		access |= cache.OnlyIfCached
	}
	return access
}

func (p *policy) requestDirectives(req guest.Request) rfc9111.Directives {
	p.reqCC = rfc9111.ParseDirectives(p.reqCC, req.Header().Values("Cache-Control"))
	return p.reqCC
}

func (p *policy) mayPurge(source string) bool {
	switch p.cfg.Purge {
	case "any":
		return true
	case "loopback":
		ap, err := netip.ParseAddrPort(source)
		return err == nil && ap.Addr().Unmap().IsLoopback()
	}
	return false
}

// Lookup implements cache.Handler. Times and ages are whole seconds, as
// HTTP has them.
func (p *policy) Lookup(req guest.Request, resp guest.Response, t cache.Times) cache.Decision {
	cache.Reusable()
	s := &p.stored
	rfc9111.ReadResponse(s, resp.StatusCode(), resp.Header(), t.Response.Unix())
	age := s.CurrentAge(t.Request.Unix(), t.Response.Unix(), t.Now.Unix())
	life, _ := s.FreshnessLifetime(p.cfg.Shared, p.cfg.HeuristicFraction, p.maxHeuristic)
	p.setAge(resp, max(0, age))
	ttl := life - age
	rc := p.requestDirectives(req)

	switch {
	case rfc9111.RequestNoCache(rc, req.Header()):
		return p.revalidate(resp, s, "request", ttl, false)
	case exceeds(rc, "max-age", age):
		return p.revalidate(resp, s, "request", ttl, false)
	case below(rc, "min-fresh", life-age):
		return p.revalidate(resp, s, "request", ttl, false)
	case s.CC.Has("no-cache"):
		return p.revalidate(resp, s, "stale", ttl, false)
	case age < life:
		p.setStatus(resp, "hit", ttl, "")
		return cache.Decision{Action: cache.Fresh}
	case s.MustRevalidate(p.cfg.Shared):
		return p.revalidate(resp, s, "stale", ttl, false)
	}
	staleness := age - life
	if v, ok := rc.Get("max-stale"); ok && (v == "" || !exceeds(rc, "max-stale", staleness)) {
		p.setStatus(resp, "hit", ttl, "max-stale")
		return cache.Decision{Action: cache.Fresh}
	}
	staleIfError := within(s.CC, "stale-if-error", staleness) || within(rc, "stale-if-error", staleness)
	if within(s.CC, "stale-while-revalidate", staleness) && s.HasValidator {
		p.setStatus(resp, "hit", ttl, "stale-while-revalidate")
		return cache.Decision{Action: cache.StaleWhileRevalidate, StaleIfError: staleIfError}
	}
	return p.revalidate(resp, s, "stale", ttl, staleIfError)
}

// exceeds reports whether d holds the delta-seconds directive name and
// secs is more than its value.
func exceeds(d rfc9111.Directives, name string, secs int64) bool {
	v, ok := d.Seconds(name)
	return ok && secs > v
}

// below reports whether d holds the delta-seconds directive name and secs
// is less than its value.
func below(d rfc9111.Directives, name string, secs int64) bool {
	v, ok := d.Seconds(name)
	return ok && secs < v
}

// within reports whether d holds the delta-seconds directive name and
// secs is at most its value.
func within(d rfc9111.Directives, name string, secs int64) bool {
	v, ok := d.Seconds(name)
	return ok && secs <= v
}

// revalidate decides a stored response that needs the origin: a
// conditional request when it has validators, a fetch otherwise.
func (p *policy) revalidate(resp guest.Response, s *rfc9111.Response, fwd string, ttl int64, staleIfError bool) cache.Decision {
	p.setStatus(resp, "fwd="+fwd, ttl, "")
	if !s.HasValidator {
		return cache.Decision{Action: cache.Miss, StaleIfError: staleIfError}
	}
	return cache.Decision{Action: cache.Revalidate, StaleIfError: staleIfError}
}

// Store implements cache.Handler. A response to a conditional request
// that the origin answered 304 arrives as status 304 with the stored
// fields refreshed by the 304's (RFC 9111 4.3.4).
func (p *policy) Store(req guest.Request, resp guest.Response, t cache.Times) bool {
	code := resp.StatusCode()
	revalidated := code == 304
	fwd := "fwd=miss; fwd-status=" + strconv.Itoa(int(code))
	switch {
	case revalidated && p.askedToRevalidate(req):
		fwd = "fwd=request; fwd-status=304"
	case revalidated:
		fwd = "fwd=stale; fwd-status=304"
	}
	s := &p.stored
	rfc9111.ReadResponse(s, code, resp.Header(), t.Response.Unix())
	life, _ := s.FreshnessLifetime(p.cfg.Shared, p.cfg.HeuristicFraction, p.maxHeuristic)
	if s.CC.Has("no-cache") {
		// Never served without the origin's say (RFC 9111 5.2.2.4), so
		// never fresh: recorded with no lifetime, the host validates it
		// for every request rather than share a revalidation whose
		// outcome Lookup would send to the origin again.
		life = 0
	}
	reason := p.refusal(req, resp, s, code, revalidated)
	if reason == "" && life == 0 && !s.HasValidator {
		reason = "never fresh, no validator"
	}
	if reason != "" {
		p.status = append(append(append(p.status[:0], "wasmhttpd; "...), fwd...), "; detail="...)
		p.status = strconv.AppendQuote(p.status, reason)
		p.sendStatus(resp)
		return false
	}
	swr, _ := s.CC.Seconds("stale-while-revalidate")
	sie, _ := s.CC.Seconds("stale-if-error")
	if s.MustRevalidate(p.cfg.Shared) {
		swr, sie = 0, 0
	}
	cache.SetLifetime(life, swr, sie)
	p.setStatus(resp, fwd+"; stored", life-s.CurrentAge(t.Request.Unix(), t.Response.Unix(), t.Now.Unix()), "")
	return true
}

// askedToRevalidate reports a request that forces revalidation whatever
// the stored response's age: no-cache (or Pragma: no-cache) and max-age=0,
// a browser's reload. After the 304 the stored response's former age is
// gone, so a max-age or min-fresh that forced it by comparison with that
// age is reported as fwd=stale.
func (p *policy) askedToRevalidate(req guest.Request) bool {
	rc := p.requestDirectives(req)
	maxAge, ok := rc.Seconds("max-age")
	return rfc9111.RequestNoCache(rc, req.Header()) || ok && maxAge == 0
}

// refusal says why a response must not be stored, "" when it may be.
func (p *policy) refusal(req guest.Request, resp guest.Response, s *rfc9111.Response, code uint32, revalidated bool) string {
	if req.Method() != "GET" {
		return "method"
	}
	if p.requestDirectives(req).Has("no-store") {
		return "request no-store"
	}
	cc := s.CC
	switch {
	case cc.Has("no-store"):
		return "no-store"
	case p.cfg.Shared && cc.Has("private"):
		return "private"
	case code == 206:
		return "partial content"
	case code < 200 || code > 599:
		return "status"
	}
	if _, auth := req.Header().Get("Authorization"); auth && p.cfg.Shared &&
		!cc.Has("public") && !cc.Has("must-revalidate") && !cc.Has("s-maxage") {
		return "authorization"
	}
	h := resp.Header()
	for _, v := range h.Values("Vary") {
		if strings.Contains(v, "*") {
			return "vary *"
		}
	}
	if revalidated || cc.Has("max-age") || cc.Has("s-maxage") && p.cfg.Shared || s.Expires != "" ||
		cc.Has("public") || rfc9111.HeuristicallyCacheable(code) {
		return ""
	}
	return "status not cacheable by default"
}

// setStatus sets Cache-Status (RFC 9211) for this cache: the outcome, the
// remaining freshness, and a detail when there is one.
func (p *policy) setStatus(resp guest.Response, outcome string, ttl int64, detail string) {
	b := append(append(p.status[:0], "wasmhttpd; "...), outcome...)
	b = strconv.AppendInt(append(b, "; ttl="...), ttl, 10)
	if detail != "" {
		b = append(append(b, "; detail="...), detail...)
	}
	p.status = b
	p.sendStatus(resp)
}

// sendStatus sets Cache-Status to the value built in p.status.
func (p *policy) sendStatus(resp guest.Response) {
	if string(p.status) != p.statusText { // compared without a copy
		p.statusText = string(p.status)
	}
	resp.Header().Set("Cache-Status", p.statusText)
}

// setAge sets Age to age seconds.
func (p *policy) setAge(resp guest.Response, age int64) {
	if age != p.age || p.ageText == "" {
		p.age, p.ageText = age, strconv.FormatInt(age, 10)
	}
	resp.Header().Set("Age", p.ageText)
}
