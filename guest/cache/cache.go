// Package cache is the SDK of a cache policy: the guest that makes the
// caching proxy's decisions through wasmhttpd_v1's cache hooks
// (docs/ABI.md, "Cache decisions"). The host owns the mechanism —
// storage, collapsing concurrent misses, conditional requests, 304
// merging — and asks the policy three questions:
//
//   - Request: may this request use the cache, and under which key?
//   - Lookup: may this stored response answer it — fresh, after a
//     revalidation, or stale?
//   - Store: may this response be stored, and for how long?
//
// A module imports this package to become a cache policy: importing it is
// what adds the cache_request, cache_lookup and cache_store exports, so
// policies that do not decide caching do not carry them.
//
//	func init() { cache.Handle(myRules{}) }
package cache

import (
	"time"

	"wasmhttpd/guest"
)

// Access is what a request may do with the cache; zero bypasses it.
type Access uint32

// The bits of Access.
const (
	Lookup       Access = 1 << 0 // a stored response may answer it
	Store        Access = 1 << 1 // its response may be stored
	OnlyIfCached Access = 1 << 2 // on a miss the host answers 504 and does not fetch
	Purge        Access = 1 << 3 // a PURGE the host should carry out
)

// Action is what to do with a stored response.
type Action uint8

// The actions.
const (
	Miss                 Action = iota // ignore it and fetch
	Fresh                              // serve it
	Revalidate                         // ask the origin conditionally; serve it on 304
	StaleWhileRevalidate               // serve it now, revalidate in the background
)

// Decision is Lookup's answer.
type Decision struct {
	Action Action
	// StaleIfError lets the host serve the stored response when fetching
	// or revalidating fails (an error, or a 500, 502, 503 or 504).
	StaleIfError bool
}

// Times are the clock readings of RFC 9111 4.2.3: when the stored (or
// fetched) response was requested and received, and now.
type Times struct {
	Request, Response, Now time.Time
}

// Handler is a cache policy. Request and Response views read the request
// and the stored or fetched response; fields a policy sets on the
// response (Age, Cache-Status) go to the client, never into the store.
type Handler interface {
	// Request decides the request's access; it may call SetKey.
	Request(req guest.Request) Access
	// Lookup decides about a stored response that matches the request
	// (the host has matched Vary already).
	Lookup(req guest.Request, stored guest.Response, t Times) Decision
	// Store decides whether a fetched or revalidated response is stored;
	// it may call SetLifetime.
	Store(req guest.Request, resp guest.Response, t Times) bool
}

// handler is what the exports dispatch to.
var handler Handler

// Handle registers h as the module's cache policy; call it from init.
func Handle(h Handler) { handler = h }

// SetKey replaces the primary cache key of the request (in Request only);
// the host's default is the absolute request URI.
func SetKey(key string) { guest.CurrentHost().CacheSetKey(key) }

// SetLifetime records with the response being stored (in Store only) its
// freshness lifetime and how long after it a stale copy may still be
// served while revalidating or when the origin fails, in seconds, as HTTP
// counts them. They are kept with the entry; Lookup still makes every
// serving decision. A value beyond MaxLifetime is recorded as MaxLifetime
// (an Expires in the year 9999 means "forever", which ten years is as
// good as); a negative one makes the host fail the call.
func SetLifetime(fresh, staleWhileRevalidate, staleIfError int64) {
	guest.CurrentHost().CacheSetLifetime(min(fresh, MaxLifetime), min(staleWhileRevalidate, MaxLifetime), min(staleIfError, MaxLifetime))
}

// MaxLifetime is the longest lifetime cache_set_lifetime takes: ten
// years, in seconds.
const MaxLifetime = 10 * 365 * 24 * 3600

// Reusable tells the host that the decision being made, in Request or
// Lookup, follows from what the policy read of the request and the
// response and from the Times alone — nothing random, no clock of its
// own, nothing remembered from earlier calls — and so may be reused, with
// the fields set, for later requests that read the same: the host then
// answers them without calling the policy. A policy whose decisions are
// pure calls it on every call; it turns a hit's two guest calls into a
// comparison of the fields read (docs/ABI.md, cache_reusable). Counters
// added in a reused call are added again on each reuse; a call that logs
// is not reused.
func Reusable() { guest.CurrentHost().CacheReusable() }

// DispatchRequest runs the handler's Request against h and returns the
// cache_request result. The wasm export calls it; so do fake hosts.
func DispatchRequest(h guest.Host) uint32 {
	guest.BeginCall()
	if handler == nil {
		return 0
	}
	req, _ := guest.NewExchange(h)
	return uint32(handler.Request(req))
}

// DispatchLookup runs the handler's Lookup and returns the cache_lookup
// result. Without a handler nothing is served from the cache.
func DispatchLookup(h guest.Host, t Times) uint32 {
	guest.BeginCall()
	if handler == nil {
		return uint32(Miss)
	}
	req, stored := guest.NewExchange(h)
	d := handler.Lookup(req, stored, t)
	r := uint32(d.Action)
	if d.StaleIfError {
		r |= 1 << 8
	}
	return r
}

// DispatchStore runs the handler's Store and returns the cache_store
// result.
func DispatchStore(h guest.Host, t Times) uint32 {
	guest.BeginCall()
	if handler == nil {
		return 0
	}
	req, resp := guest.NewExchange(h)
	if handler.Store(req, resp, t) {
		return 1
	}
	return 0
}

// TimesOf converts the hooks' Unix-second arguments.
func TimesOf(request, response, now int64) Times {
	return Times{time.Unix(request, 0), time.Unix(response, 0), time.Unix(now, 0)}
}
