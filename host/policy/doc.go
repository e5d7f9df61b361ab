// Package policy runs http-wasm guests (WebAssembly policy modules) inside
// wazero and puts them in front of a handler, as DESIGN.md ("The policy
// ABI", "Sandboxing and hot swap") describes.
//
// # Pieces
//
//   - Engine (engine.go): the one wazero runtime, its on-disk compilation
//     cache, WASI for standard-Go and TinyGo guests, the memory cap, and the
//     http_handler host module.
//   - The ABI (abi.go, abi_fields.go): every import of http_handler.
//   - Policy (policy.go, swap.go): one module, its options (config JSON,
//     fail mode, pool bound, deadlines, size limits) and its generations;
//     Reload compiles a new generation beside the running one and swaps it
//     in atomically; generations are reference-counted and closed when
//     their last request ends. Watch (watch.go) polls the file and reloads.
//   - The pool (pool.go): per generation, a bounded channel-based pool of
//     instances, pre-warmed, grown lazily, with back-pressure; every guest
//     call under a deadline; failed instances are discarded. Deadlines are
//     enforced by rewriting each module before it is compiled (package
//     internal/interrupt): a flag read at every function entry and loop
//     header, set by a timer when a call overruns.
//   - Chain (chain.go): the http1.Handler that runs policies around next,
//     and hands a route a guest chose to next when next is a Router.
//
// # The http_handler ABI as this host implements it
//
// All functions are imported from module "http_handler". Offsets and
// lengths are i32. A function that returns a length writes nothing when the
// value is longer than buf_limit and still returns the length, so the guest
// can retry with a larger buffer. A host refusal (a bad argument, a call not
// allowed now, a size limit) traps the guest: the request fails by the
// policy's fail mode and the instance is discarded.
//
//	enable_features(features) -> enabled       bits: buffer_request=1, buffer_response=2, trailers=4,
//	                                           and wasmhttpd's request_only=1<<31 (handle_response not called)
//	    In _initialize: for every request of the instance; in handle_request:
//	    for that request. All three are supported; the result is what is on.
//	get_config(buf, buf_limit) -> len          the policy's config bytes (JSON)
//	log_enabled(level) -> 0|1                  levels debug=-1 info=0 warn=1 error=2 none=3
//	log(level, msg, msg_len)                   to the host log with policy=<name>; truncated at 4 KiB
//	get_method(buf, buf_limit) -> len
//	set_method(ptr, len)                       a token; before next only
//	get_uri(buf, buf_limit) -> len             path?query (origin form, even for absolute-form requests)
//	set_uri(ptr, len)                          before next only; no spaces or controls; "/" prefixed if missing
//	get_protocol_version(buf, buf_limit) -> len   "HTTP/1.1" | "HTTP/1.0"
//	get_header_names(kind, buf, buf_limit) -> count<<32|len
//	    distinct names, lower-cased, each NUL-terminated
//	get_header_values(kind, name, name_len, buf, buf_limit) -> count<<32|len
//	    all values of the name (case-insensitive), in order, NUL-terminated
//	set_header_value(kind, name, name_len, value, value_len)   replaces every value
//	add_header_value(kind, name, name_len, value, value_len)
//	remove_header(kind, name, name_len)
//	    kinds: request=0 response=1 request trailers=2 response trailers=3.
//	    Request fields change only before next; response fields after next
//	    only while the response is held (buffer_response). Names must be
//	    tokens; values must not hold CR, LF or NUL; a value and a whole
//	    table are limited to Options.MaxHeaderBytes (64 KiB).
//	read_body(kind, buf, buf_limit) -> eof<<32|len
//	    kinds: request=0 response=1; buf_limit must not be 0. The request
//	    body is read into memory once (up to MaxBodyBytes), so reading it
//	    never takes it from the next handler; each guest reads from its own
//	    position. The response body is readable after next only with
//	    buffer_response (else a trap).
//	write_body(kind, buf, buf_len)
//	    The first write in a phase replaces the body, later ones append.
//	    Request: before next only. Response: while held, rewrites the held
//	    body; otherwise (a guest answering in handle_request) it is sent
//	    as written, after the status and fields set so far. At most
//	    MaxBodyBytes per request.
//	get_status_code() -> status                200 until one is set
//	set_status_code(status)                    100..999; after next only while held
//	get_source_addr(buf, buf_limit) -> len     "192.0.2.7:4242", "[2001:db8::1]:4242"
//
// # The wasmhttpd_v1 extension (ext.go, cachehooks.go)
//
//	route_static(root, root_len, path, path_len)   serve from [roots.NAME]; path_len 0: the request's path
//	route_upstream(url, url_len)                    reverse-proxy to http(s)://host:port[/base]
//	route_forward()                                 forward-proxy to the request's own target
//	    In handle_request before next only; the chain's Router checks the
//	    route inside the call (a bad one traps); the last choice wins.
//	counter_add(name, name_len, delta i64)        [a-z0-9_]{1,64}, at most 64 a policy; any call
//	cache_set_key(key, key_len)                     in cache_request only
//	cache_set_lifetime(fresh, swr, sie i64)         seconds, 0..10 years; in cache_store only
//	cache_reusable()                                in cache_request and cache_lookup: the decision
//	                                                follows from the reads and the times alone (memo.go)
//
// A policy loaded with Options.CacheHooks must export cache_request() ->
// i32 (access bits lookup=1 store=2 only-if-cached=4 purge=8),
// cache_lookup(request_time, response_time, now i64) -> i32 (action
// miss=0 fresh=1 revalidate=2 stale-while-revalidate=3, bit 8
// stale-if-error) and cache_store(request_time, response_time, now i64)
// -> i32 (1 store); the caching proxy calls them through
// Policy.CacheRequest, CacheLookup and CacheStore.
//
// Guest exports: handle_request() -> i64 (required; high 32 bits reqCtx,
// low bit next) and handle_response(reqCtx i32, is_error i32) (optional),
// plus memory. _initialize (reactors) or else _start runs at
// instantiation; a _start that exits leaves no usable instance and the
// module is rejected.
package policy
