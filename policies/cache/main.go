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
//   - Requests: GET and HEAD use the cache; other methods bypass it
//     (the proxy invalidates after a successful unsafe one). A request
//     no-store may be answered from the cache but its response is not
//     stored; only-if-cached answers 504 on a miss; PURGE is allowed per
//     "purge".
//   - Storing (GET responses only): not with no-store, not private in a
//     shared cache, not when the request had Authorization unless the
//     response says public, must-revalidate or s-maxage; not 206 or
//     Vary: *; only with an explicit lifetime (s-maxage, max-age,
//     Expires), public, or a heuristically cacheable status; never when it
//     could neither be fresh nor be revalidated.
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
	"time"

	"wasmhttpd/guest"
	"wasmhttpd/guest/cache"
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
	maxHeuristic      time.Duration
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
	p := &policy{cfg: cfg, maxHeuristic: time.Duration(cfg.MaxHeuristic) * time.Second}
	p.RequestOnly = func(guest.Request, guest.Response) (bool, uint32) { return true, 0 }
	return p, nil
}

// Request implements cache.Handler.
func (p *policy) Request(req guest.Request) cache.Access {
	switch req.Method() {
	case "GET", "HEAD":
	case "PURGE":
		if p.mayPurge(req.SourceAddr()) {
			return cache.Purge
		}
		return 0
	default:
		return 0
	}
	access := cache.Lookup | cache.Store
	rc := parseDirectives(req.Header().Values("Cache-Control"))
	if rc.has("no-store") {
		access &^= cache.Store
	}
	if rc.has("only-if-cached") {
		access |= cache.OnlyIfCached
	}
	return access
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

// storedOf reads the fields the freshness rules need from a response.
func storedOf(resp guest.Response, now time.Time) *stored {
	h := resp.Header()
	s := &stored{status: resp.StatusCode(), cc: parseDirectives(h.Values("Cache-Control")), date: now}
	if v, ok := h.Get("Date"); ok {
		if d, ok := httpDate(v); ok {
			s.date = d
		}
	}
	if v, ok := h.Get("Age"); ok {
		if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil && n >= 0 {
			s.age = min(n, maxDelta)
		}
	}
	s.expires, _ = h.Get("Expires")
	s.lastModified, _ = h.Get("Last-Modified")
	_, etag := h.Get("ETag")
	s.hasValidator = etag || s.lastModified != ""
	return s
}

// requestNoCache reports the request's no-cache, or Pragma: no-cache when
// there is no Cache-Control (RFC 9111 5.4).
func requestNoCache(req guest.Request, rc directives) bool {
	if rc.has("no-cache") {
		return true
	}
	if len(rc) > 0 {
		return false
	}
	for _, v := range req.Header().Values("Pragma") {
		if strings.Contains(strings.ToLower(v), "no-cache") {
			return true
		}
	}
	return false
}

// Lookup implements cache.Handler.
func (p *policy) Lookup(req guest.Request, resp guest.Response, t cache.Times) cache.Decision {
	s := storedOf(resp, t.Response)
	age := s.currentAge(t.Request, t.Response, t.Now)
	life, _ := s.freshnessLifetime(p.cfg.Shared, p.cfg.HeuristicFraction, p.maxHeuristic)
	resp.Header().Set("Age", strconv.FormatInt(int64(max(0, age)/time.Second), 10))
	ttl := int64((life - age) / time.Second)
	rc := parseDirectives(req.Header().Values("Cache-Control"))

	revalidate := func(fwd string, staleIfError bool) cache.Decision {
		status(resp, "fwd="+fwd, "ttl="+strconv.FormatInt(ttl, 10))
		if !s.hasValidator {
			return cache.Decision{Action: cache.Miss, StaleIfError: staleIfError}
		}
		return cache.Decision{Action: cache.Revalidate, StaleIfError: staleIfError}
	}
	if requestNoCache(req, rc) {
		return revalidate("request", false)
	}
	if v, ok := rc.seconds("max-age"); ok && age > time.Duration(v)*time.Second {
		return revalidate("request", false)
	}
	if v, ok := rc.seconds("min-fresh"); ok && life-age < time.Duration(v)*time.Second {
		return revalidate("request", false)
	}
	if s.cc.has("no-cache") {
		return revalidate("stale", false)
	}
	if age < life {
		status(resp, "hit", "ttl="+strconv.FormatInt(ttl, 10))
		return cache.Decision{Action: cache.Fresh}
	}

	staleness := age - life
	within := func(d directives, name string) bool {
		v, ok := d.seconds(name)
		return ok && staleness <= time.Duration(v)*time.Second
	}
	if s.mustRevalidate(p.cfg.Shared) {
		return revalidate("stale", false)
	}
	if v, ok := rc["max-stale"]; ok && (v == "" || within(rc, "max-stale")) {
		status(resp, "hit", "ttl="+strconv.FormatInt(ttl, 10), "detail=max-stale")
		return cache.Decision{Action: cache.Fresh}
	}
	staleIfError := within(s.cc, "stale-if-error") || within(rc, "stale-if-error")
	if within(s.cc, "stale-while-revalidate") && s.hasValidator {
		status(resp, "hit", "ttl="+strconv.FormatInt(ttl, 10), "detail=stale-while-revalidate")
		return cache.Decision{Action: cache.StaleWhileRevalidate, StaleIfError: staleIfError}
	}
	return revalidate("stale", staleIfError)
}

// Store implements cache.Handler. A response to a conditional request
// that the origin answered 304 arrives as status 304 with the stored
// fields refreshed by the 304's (RFC 9111 4.3.4).
func (p *policy) Store(req guest.Request, resp guest.Response, t cache.Times) bool {
	code := resp.StatusCode()
	revalidated := code == 304
	fwd := "fwd=miss"
	if revalidated {
		fwd = "fwd=stale"
	}
	fwdStatus := "fwd-status=" + strconv.Itoa(int(code))
	reason := p.refusal(req, resp, code, revalidated)
	s := storedOf(resp, t.Response)
	life, _ := s.freshnessLifetime(p.cfg.Shared, p.cfg.HeuristicFraction, p.maxHeuristic)
	if reason == "" && life == 0 && !s.hasValidator {
		reason = "never fresh, no validator"
	}
	if reason != "" {
		status(resp, fwd, fwdStatus, "detail="+strconv.Quote(reason))
		return false
	}
	swr, _ := s.cc.seconds("stale-while-revalidate")
	sie, _ := s.cc.seconds("stale-if-error")
	if s.mustRevalidate(p.cfg.Shared) {
		swr, sie = 0, 0
	}
	cache.SetLifetime(life, time.Duration(swr)*time.Second, time.Duration(sie)*time.Second)
	ttl := (life - s.currentAge(t.Request, t.Response, t.Now)) / time.Second
	status(resp, fwd, fwdStatus, "stored", "ttl="+strconv.FormatInt(int64(ttl), 10))
	return true
}

// refusal says why a response must not be stored, "" when it may be.
func (p *policy) refusal(req guest.Request, resp guest.Response, code uint32, revalidated bool) string {
	if req.Method() != "GET" {
		return "method"
	}
	if parseDirectives(req.Header().Values("Cache-Control")).has("no-store") {
		return "request no-store"
	}
	h := resp.Header()
	cc := parseDirectives(h.Values("Cache-Control"))
	switch {
	case cc.has("no-store"):
		return "no-store"
	case p.cfg.Shared && cc.has("private"):
		return "private"
	case code == 206:
		return "partial content"
	case code < 200 || code > 599:
		return "status"
	}
	if _, auth := req.Header().Get("Authorization"); auth && p.cfg.Shared &&
		!cc.has("public") && !cc.has("must-revalidate") && !cc.has("s-maxage") {
		return "authorization"
	}
	for _, v := range h.Values("Vary") {
		if strings.Contains(v, "*") {
			return "vary *"
		}
	}
	_, maxAge := cc["max-age"]
	_, sMaxAge := cc["s-maxage"]
	_, expires := h.Get("Expires")
	if revalidated || maxAge || sMaxAge && p.cfg.Shared || expires || cc.has("public") || heuristicStatuses[code] {
		return ""
	}
	return "status not cacheable by default"
}

// status sets Cache-Status (RFC 9211) for this cache.
func status(resp guest.Response, params ...string) {
	resp.Header().Set("Cache-Status", "wasmhttpd; "+strings.Join(params, "; "))
}
