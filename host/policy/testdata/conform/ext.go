package main

import (
	"strconv"
	"strings"
	"unsafe"
)

// The wasmhttpd_v1 extension: routes and counters in handle_request,
// chosen by x-test like the http_handler cases, and the cache hooks,
// driven by request fields.

//go:wasmimport wasmhttpd_v1 route_static
func routeStatic(root unsafe.Pointer, rootLen uint32, path unsafe.Pointer, pathLen uint32)

//go:wasmimport wasmhttpd_v1 route_upstream
func routeUpstream(url unsafe.Pointer, n uint32)

//go:wasmimport wasmhttpd_v1 route_forward
func routeForward()

//go:wasmimport wasmhttpd_v1 counter_add
func counterAdd(name unsafe.Pointer, n uint32, delta int64)

//go:wasmimport wasmhttpd_v1 cache_set_key
func cacheSetKey(key unsafe.Pointer, n uint32)

//go:wasmimport wasmhttpd_v1 cache_set_lifetime
func cacheSetLifetime(fresh, staleWhileRevalidate, staleIfError int64)

//go:wasmimport wasmhttpd_v1 cache_reusable
func cacheReusable()

// extRequest runs the extension cases of handle_request; it reports
// whether test was one of them.
func extRequest() bool {
	switch test {
	case "route-static":
		rp, rn := sp(header(req, "x-root"))
		pp, pn := sp(header(req, "x-path"))
		routeStatic(rp, rn, pp, pn)
	case "route-upstream":
		routeUpstream(sp(header(req, "x-url")))
	case "route-forward":
		routeForward()
	case "route-twice":
		routeForward()
		routeUpstream(sp(header(req, "x-url")))
	case "counter":
		counterAddN(header(req, "x-counter"), 2)
	case "cache-key-outside":
		cacheSetKey(sp("k"))
	case "cache-reusable-outside":
		cacheReusable()
	default:
		return false
	}
	return true
}

// extResponse runs the extension cases of handle_response.
func extResponse() {
	if test == "route-after-next" {
		routeForward()
	}
}

func counterAddN(name string, delta int64) {
	p, n := sp(name)
	counterAdd(p, n, delta)
}

//go:wasmexport cache_request
func cacheRequest() uint32 {
	if k := header(req, "x-cache-key"); k != "" {
		cacheSetKey(sp(k))
	}
	if header(req, "x-cache-status") != "" {
		setStatusCode(200) // traps: no status in a hook
	}
	access, _ := strconv.Atoi(header(req, "x-cache-access"))
	reusable()
	return uint32(access)
}

// reusable declares the hook's decision reusable when the request has
// x-reusable; with x-read-all it reads, and so depends on, everything a
// hook can read, and with x-log it logs, which a reuse cannot repeat.
func reusable() {
	if header(req, "x-reusable") == "" {
		return
	}
	cacheReusable()
	if header(req, "x-read-all") != "" {
		getString(getMethod)
		getString(getURI)
		getString(getProtocolVersion)
		getString(getSourceAddr)
		getStatusCode()
		names(req)
		names(resp)
		logEnabled(-1)
	}
	if l := header(req, "x-log-enabled"); l != "" {
		level, _ := strconv.Atoi(l)
		logEnabled(int32(level))
	}
	if header(req, "x-log") != "" {
		msg := "looked up"
		p, n := sp(msg)
		logMsg(0, p, n)
	}
}

//go:wasmexport cache_lookup
func cacheLookup(requestTime, responseTime, now int64) uint32 {
	reusable() // first: its reads are of the stored fields, not of the ones set here
	changeFields()
	set(resp, "age", strconv.FormatInt(now-responseTime, 10))
	set(resp, "x-times", strconv.FormatInt(requestTime, 10)+","+strconv.FormatInt(responseTime, 10))
	action, _ := strconv.Atoi(header(req, "x-lookup"))
	counterAddN("lookups", 1)
	return uint32(action)
}

// changeFields changes response fields as x-change asks: "values" adds an
// x-seen and reports how many there are then, "names" sets x-a, adds x-b
// and reports the names in order (both read what they changed),
// "add-remove" adds two x-added and removes x-removed.
func changeFields() {
	switch header(req, "x-change") {
	case "values":
		add(resp, "x-seen", "1")
		set(resp, "x-seen-count", strconv.Itoa(len(values(resp, "x-seen"))))
	case "names":
		set(resp, "x-a", "1")
		add(resp, "x-b", "1")
		set(resp, "x-names", strings.Join(names(resp), ","))
	case "add-remove":
		add(resp, "x-added", "1")
		remove(resp, "x-removed")
		add(resp, "x-added", "2")
	}
}

//go:wasmexport cache_store
func cacheStore(requestTime, responseTime, now int64) uint32 {
	if header(resp, "cache-control") == "no-store" {
		return 0
	}
	switch header(req, "x-store") {
	case "bad-lifetime":
		cacheSetLifetime(-1, 0, 0)
	case "reusable":
		cacheReusable() // traps: store decisions are not reused
	}
	cacheSetLifetime(60, 10, 20)
	set(resp, "cache-status", "wasmhttpd; fwd=miss; stored")
	counterAddN("stored", 1)
	return 1
}
