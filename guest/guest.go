// Package guest is the SDK for wasmhttpd policy modules: an idiomatic Go API
// over the http-wasm "http_handler" ABI (docs/ABI.md).
//
// A policy is a main package that registers a Handler from an init
// function:
//
//	func main() {}
//
//	func init() { guest.Handle(myPolicy{}) }
//
// Built for wasip1 (TinyGo -target=wasip1 -buildmode=c-shared, or
// GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared), the package exports
// handle_request and handle_response and talks to the host through
// //go:wasmimport functions. Everywhere else there is no host: all policy
// logic talks to the Host interface, so tests drive it with a fake
// (package guesttest) as ordinary Go.
//
// # Strings live for one call
//
// The strings the SDK returns — Method, URI, Path, header names and
// values, ProtocolVersion, SourceAddr — are valid until the call into the
// module (HandleRequest, HandleResponse, a cache hook) returns: they live
// in an arena that the next call reuses, because a heap allocation costs
// a standard-Go guest about as much as the call itself. A policy that
// keeps one longer (in a map, a field) copies it with strings.Clone.
// Config's bytes are always a copy.
package guest

import "encoding/json"

// Handler is a policy. HandleRequest runs before the next handler; it
// returns next=true to pass the request on, or false when it has written
// the response itself. reqCtx is handed back to HandleResponse, which runs
// after the next handler only when next was true; isError reports that the
// next handler failed.
type Handler interface {
	HandleRequest(req Request, resp Response) (next bool, reqCtx uint32)
	HandleResponse(reqCtx uint32, req Request, resp Response, isError bool)
}

// RequestOnly adapts a request-phase function to a Handler whose
// HandleResponse does nothing; most policies decide everything up front.
// Registering one — or a type that embeds it, which must then not define
// HandleResponse — tells the host so (FeatureRequestOnly), which spares
// every request the call into the response phase.
type RequestOnly func(req Request, resp Response) (next bool, reqCtx uint32)

// HandleRequest calls f.
func (f RequestOnly) HandleRequest(req Request, resp Response) (bool, uint32) { return f(req, resp) }

// HandleResponse does nothing.
func (RequestOnly) HandleResponse(uint32, Request, Response, bool) {}

// withoutResponsePhase marks RequestOnly and the types embedding it.
func (RequestOnly) withoutResponsePhase() {}

// handler is what the exports dispatch to; a module without one passes
// every request on, which keeps a half-written policy harmless.
var handler Handler

// host is the ABI in use: the wasm imports in a wasip1 build, a fake in
// tests, nil otherwise.
var host Host

// Handle registers h as the module's policy. Call it from init, so it is in
// place when the host instantiates the module (during _initialize).
func Handle(h Handler) {
	handler = h
	if _, ok := h.(interface{ withoutResponsePhase() }); ok {
		EnableFeatures(FeatureRequestOnly)
	}
}

// HandleConfigured builds the module's policy from its configuration and
// registers it: call it from init. A configuration build refuses panics,
// which fails the module's instantiation, so that the host keeps serving
// the running generation rather than a policy without its rules. name
// prefixes the message.
func HandleConfigured[H Handler](name string, build func(config []byte) (H, error)) H {
	h, err := build(Config())
	if err != nil {
		panic(name + ": " + err.Error())
	}
	Handle(h)
	return h
}

// UseHost makes h the host that the package-level functions (Config, Log,
// EnableFeatures) talk to. The wasip1 build calls it at start-up with the
// real imports; tests call it with a fake.
func UseHost(h Host) { host = h }

// CurrentHost returns the host in use, nil when there is none.
func CurrentHost() Host { return host }

// Registered returns the Handler given to Handle, nil before.
func Registered() Handler { return handler }

// Config returns the policy's configuration (JSON from config.toml), or
// nil when there is no host or no configuration.
func Config() []byte {
	if host == nil {
		return nil
	}
	return host.Config()
}

// DecodeConfig decodes the configuration JSON into v. An empty
// configuration leaves v untouched, so callers set defaults first.
// Unknown fields are an error: a misspelt key must not silently fall back
// to a default (which, for basicauth, could mean an open door).
func DecodeConfig(v any) error { return DecodeJSON(Config(), v) }

// DecodeJSON is DecodeConfig over given bytes, for tests and for policies
// that take their configuration from elsewhere.
func DecodeJSON(raw []byte, v any) error {
	if len(raw) == 0 {
		return nil
	}
	d := json.NewDecoder(bytesReader(raw))
	d.DisallowUnknownFields()
	return d.Decode(v)
}

// Log writes msg to the host log at level (a no-op without a host).
func Log(level LogLevel, msg string) {
	if host != nil {
		host.Log(level, msg)
	}
}

// LogEnabled reports whether the host logs at level, so a policy can skip
// building a message nobody will see.
func LogEnabled(level LogLevel) bool { return host != nil && host.LogEnabled(level) }

// Count adds delta to the policy's counter name ([a-z0-9_], at most 64
// bytes, at most 64 names a policy), which the host exports in its
// metrics. A no-op without a host.
func Count(name string, delta int64) {
	if host != nil {
		host.CounterAdd(name, delta)
	}
}

// EnableFeatures asks the host for features and returns those now enabled.
// Called from init they apply to every request; from HandleRequest, to the
// current one.
func EnableFeatures(f Features) Features {
	if host == nil {
		return 0
	}
	return host.EnableFeatures(f)
}

// BeginCall starts a call into the module: the strings the SDK returned
// during the previous call are released (see the package documentation).
// The export wrappers call it first thing; a package that adds exports of
// its own, such as guest/cache, does too.
func BeginCall() { beginCall() }

// DispatchRequest runs the registered handler's request phase against h
// and returns the handle_request result: reqCtx in the high 32 bits, next
// in the low bit. The wasm export calls it; so do fake hosts.
func DispatchRequest(h Host) uint64 {
	beginCall()
	if handler == nil {
		return 1
	}
	next, ctx := handler.HandleRequest(Request{h}, Response{h})
	r := uint64(ctx) << 32
	if next {
		r |= 1
	}
	return r
}

// DispatchResponse runs the registered handler's response phase against h.
func DispatchResponse(h Host, reqCtx uint32, isError bool) {
	beginCall()
	if handler != nil {
		handler.HandleResponse(reqCtx, Request{h}, Response{h}, isError)
	}
}
