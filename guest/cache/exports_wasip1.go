//go:build wasip1

package cache

import "wasmhttpd/guest"

//go:wasmexport cache_request
func cacheRequest() uint32 { return DispatchRequest(guest.CurrentHost()) }

//go:wasmexport cache_lookup
func cacheLookup(requestTime, responseTime, now int64) uint32 {
	return DispatchLookup(guest.CurrentHost(), TimesOf(requestTime, responseTime, now))
}

//go:wasmexport cache_store
func cacheStore(requestTime, responseTime, now int64) uint32 {
	return DispatchStore(guest.CurrentHost(), TimesOf(requestTime, responseTime, now))
}
