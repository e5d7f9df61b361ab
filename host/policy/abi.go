package policy

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"wasmhttpd/host/http1"
)

// HostModule is the import module name of the http-wasm handler ABI.
const HostModule = "http_handler"

// Features is the http-wasm feature bit set a guest enables with
// enable_features.
type Features uint32

// The features of the http-wasm ABI, all three supported, and one of
// wasmhttpd's own.
const (
	FeatureBufferRequest  Features = 1 << 0
	FeatureBufferResponse Features = 1 << 1
	FeatureTrailers       Features = 1 << 2

	// FeatureRequestOnly says the guest has no response phase: its
	// handle_response does nothing, so the host does not call it. A call
	// into a guest costs a few microseconds whatever it does, and most
	// policies decide everything in handle_request, so this halves their
	// cost. It is a feature bit rather than a wasmhttpd_v1 import so that
	// a guest asking for it stays portable: other hosts do not enable a
	// bit they do not know, and keep calling handle_response. The top bit
	// keeps clear of the bits http-wasm may define.
	FeatureRequestOnly Features = 1 << 31

	supportedFeatures = FeatureBufferRequest | FeatureBufferResponse | FeatureTrailers | FeatureRequestOnly
)

// Header and body kinds, as the ABI numbers them.
const (
	kindRequest         = 0
	kindResponse        = 1
	kindRequestTrailers = 2
	kindRespTrailers    = 3
)

// Log levels of the ABI: debug=-1, info=0, warn=1, error=2, none=3.
func slogLevel(level int32) (slog.Level, bool) {
	switch {
	case level <= -1:
		return slog.LevelDebug, true
	case level == 0:
		return slog.LevelInfo, true
	case level == 1:
		return slog.LevelWarn, true
	case level == 2:
		return slog.LevelError, true
	}
	return 0, false
}

// instKey finds the calling instance from the context of a guest call.
// Host functions are shared by every instance in the runtime; the context
// is the one per-instance value wazero hands them without a lookup table.
type instKey struct{}

func instanceOf(ctx context.Context) *instance {
	return ctx.Value(instKey{}).(*instance)
}

// trap records why the host refused a guest's call and aborts the call:
// wazero turns the panic into an error from the guest export, and the
// recorded cause is what the failure log line names.
func (in *instance) trap(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	in.fault = msg
	panic(hostFault(msg))
}

type hostFault string

func (f hostFault) Error() string { return string(f) }

// read returns a view of guest memory, trapping when it is out of bounds.
func (in *instance) read(mod api.Module, ptr, n uint32, what string) []byte {
	if n == 0 {
		return nil
	}
	b, ok := mod.Memory().Read(ptr, n)
	if !ok {
		in.trap("%s: %d bytes at %#x are outside guest memory", what, n, ptr)
	}
	return b
}

// writeIfFits writes v at buf when it fits in limit and returns its
// length either way, so the guest can retry with a larger buffer.
func (in *instance) writeIfFits(mod api.Module, buf, limit uint32, v []byte) uint64 {
	n := uint32(len(v))
	if n == 0 || n > limit {
		return uint64(n)
	}
	if !mod.Memory().Write(buf, v) {
		in.trap("%d bytes at %#x are outside guest memory", n, buf)
	}
	return uint64(n)
}

func (in *instance) writeStringIfFits(mod api.Module, buf, limit uint32, v string) uint64 {
	n := uint32(len(v))
	if n == 0 || n > limit {
		return uint64(n)
	}
	if !mod.Memory().WriteString(buf, v) {
		in.trap("%d bytes at %#x are outside guest memory", n, buf)
	}
	return uint64(n)
}

// inRequest traps when there is no request: a guest calling request
// functions from _initialize.
func (in *instance) inRequest(what string) *reqState {
	if in.st.ex == nil {
		in.trap("%s called outside a request", what)
	}
	return &in.st
}

func instantiateHostModule(ctx context.Context, rt wazero.Runtime) error {
	i32, i64 := api.ValueTypeI32, api.ValueTypeI64
	b := rt.NewHostModuleBuilder(HostModule)
	fn := func(name string, f api.GoModuleFunc, params, results []api.ValueType) {
		b.NewFunctionBuilder().WithGoModuleFunction(f, params, results).Export(name)
	}
	v := func(t ...api.ValueType) []api.ValueType { return t }

	fn("enable_features", enableFeatures, v(i32), v(i32))
	fn("get_config", getConfig, v(i32, i32), v(i32))
	fn("log_enabled", logEnabled, v(i32), v(i32))
	fn("log", logMessage, v(i32, i32, i32), nil)
	fn("get_method", getMethod, v(i32, i32), v(i32))
	fn("set_method", setMethod, v(i32, i32), nil)
	fn("get_uri", getURI, v(i32, i32), v(i32))
	fn("set_uri", setURI, v(i32, i32), nil)
	fn("get_protocol_version", getProtocolVersion, v(i32, i32), v(i32))
	fn("get_header_names", getHeaderNames, v(i32, i32, i32), v(i64))
	fn("get_header_values", getHeaderValues, v(i32, i32, i32, i32, i32), v(i64))
	fn("set_header_value", setHeaderValue, v(i32, i32, i32, i32, i32), nil)
	fn("add_header_value", addHeaderValue, v(i32, i32, i32, i32, i32), nil)
	fn("remove_header", removeHeader, v(i32, i32, i32), nil)
	fn("read_body", readBody, v(i32, i32, i32), v(i64))
	fn("write_body", writeBody, v(i32, i32, i32), nil)
	fn("get_status_code", getStatusCode, nil, v(i32))
	fn("set_status_code", setStatusCode, v(i32), nil)
	fn("get_source_addr", getSourceAddr, v(i32, i32), v(i32))
	_, err := b.Instantiate(ctx)
	return err
}

// enable_features(features i32) -> i32: outside a request (in
// _initialize) the features apply to every request of the instance; inside
// handle_request, to the current request only. The result is what is
// enabled now.
func enableFeatures(ctx context.Context, _ api.Module, stack []uint64) {
	in := instanceOf(ctx)
	f := Features(stack[0]) & supportedFeatures
	if in.st.ex != nil {
		in.st.features |= f
		stack[0] = uint64(in.st.features)
		return
	}
	in.initFeatures |= f
	stack[0] = uint64(in.initFeatures)
}

// get_config(buf, buf_limit i32) -> len i32
func getConfig(ctx context.Context, mod api.Module, stack []uint64) {
	in := instanceOf(ctx)
	stack[0] = in.writeIfFits(mod, uint32(stack[0]), uint32(stack[1]), in.gen.p.config)
}

// log_enabled(level i32) -> i32
func logEnabled(ctx context.Context, _ api.Module, stack []uint64) {
	in := instanceOf(ctx)
	level := int32(stack[0])
	stack[0] = 0
	if in.gen.p.logs(ctx, level) {
		stack[0] = 1
	}
	in.st.trace.add(readLogEnabled, 0, nil, enabledByte[:stack[0]], int64(level))
}

// logs reports whether the policy's log takes lines of an ABI level.
func (p *Policy) logs(ctx context.Context, level int32) bool {
	lvl, ok := slogLevel(level)
	return ok && p.log.Enabled(ctx, lvl)
}

// enabledByte[:1] is how a trace records that log_enabled answered 1,
// [:0] that it answered 0, as readAgain appends them.
var enabledByte = []byte{1}

// log(level, message, message_len i32)
func logMessage(ctx context.Context, mod api.Module, stack []uint64) {
	in := instanceOf(ctx)
	in.st.trace.spoil() // a reused decision would not log, whatever the level is then
	lvl, ok := slogLevel(int32(stack[0]))
	if !ok || !in.gen.p.log.Enabled(ctx, lvl) {
		return
	}
	msg := in.read(mod, uint32(stack[1]), min(uint32(stack[2]), maxLogMessage), "log message")
	in.gen.p.log.Log(ctx, lvl, string(msg), "policy", in.gen.p.name)
}

// maxLogMessage truncates guest log lines: a guest must not be able to
// flood the host log with megabyte lines.
const maxLogMessage = 4 << 10

// get_method(buf, buf_limit i32) -> len i32
func getMethod(ctx context.Context, mod api.Module, stack []uint64) {
	in := instanceOf(ctx)
	st := in.inRequest("get_method")
	st.trace.addString(readMethod, st.ex.Request.Method)
	stack[0] = in.writeStringIfFits(mod, uint32(stack[0]), uint32(stack[1]), st.ex.Request.Method)
}

// set_method(method, method_len i32)
func setMethod(ctx context.Context, mod api.Module, stack []uint64) {
	in := instanceOf(ctx)
	st := in.inRequest("set_method")
	if st.afterNext {
		in.trap("set_method after the next handler")
	}
	m := in.read(mod, uint32(stack[0]), uint32(stack[1]), "method")
	if len(m) == 0 || len(m) > 64 || !http1.IsToken(m) {
		in.trap("set_method: %q is not a method token", m)
	}
	st.ex.Request.Method = internMethod(m)
}

// internMethod avoids allocating for the methods every policy uses.
func internMethod(b []byte) string {
	for _, m := range [...]string{"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE"} {
		if string(b) == m {
			return m
		}
	}
	return string(b)
}

// get_uri(buf, buf_limit i32) -> len i32: the path and query, as in an
// origin-form request-target, whatever form the client used.
func getURI(ctx context.Context, mod api.Module, stack []uint64) {
	in := instanceOf(ctx)
	st := in.inRequest("get_uri")
	st.scratch = appendURI(st.scratch[:0], st.ex.Request)
	st.trace.add(readURI, 0, nil, st.scratch, 0)
	stack[0] = in.writeIfFits(mod, uint32(stack[0]), uint32(stack[1]), st.scratch)
}

// appendURI appends the request's path and query to dst.
func appendURI(dst []byte, req *http1.Request) []byte {
	if req.Form != http1.AbsoluteForm {
		return append(dst, req.Target...)
	}
	dst = append(dst, req.Path...)
	if req.Query != nil {
		dst = append(append(dst, '?'), req.Query...)
	}
	return dst
}

// set_uri(uri, uri_len i32): replaces path and query. The bytes are
// copied into a fresh slice because the Request outlives the instance's
// hold on it (the access log reads it after the chain returns).
func setURI(ctx context.Context, mod api.Module, stack []uint64) {
	in := instanceOf(ctx)
	st := in.inRequest("set_uri")
	if st.afterNext {
		in.trap("set_uri after the next handler")
	}
	u := in.read(mod, uint32(stack[0]), uint32(stack[1]), "uri")
	if len(u) > in.gen.p.maxHeader {
		in.trap("set_uri: %d bytes is too long", len(u))
	}
	for _, c := range u {
		if c <= ' ' || c == 0x7f {
			in.trap("set_uri: control or space byte %#x in URI", c)
		}
	}
	req := st.ex.Request
	uri := make([]byte, 0, len(u)+1)
	if len(u) == 0 || u[0] != '/' {
		uri = append(uri, '/')
	}
	uri = append(uri, u...)
	path, query := uri, []byte(nil)
	for i, c := range uri {
		if c == '?' {
			path, query = uri[:i], uri[i+1:]
			break
		}
	}
	req.Path, req.Query = path, query
	if req.Form == http1.AbsoluteForm {
		t := make([]byte, 0, len(req.Scheme)+3+len(req.Authority)+len(uri))
		t = append(append(append(append(t, req.Scheme...), "://"...), req.Authority...), uri...)
		req.Target = t
		return
	}
	req.Form, req.Target = http1.OriginForm, uri
}

// get_protocol_version(buf, buf_limit i32) -> len i32
func getProtocolVersion(ctx context.Context, mod api.Module, stack []uint64) {
	in := instanceOf(ctx)
	st := in.inRequest("get_protocol_version")
	st.trace.addString(readProtocol, st.ex.Request.Proto())
	stack[0] = in.writeStringIfFits(mod, uint32(stack[0]), uint32(stack[1]), st.ex.Request.Proto())
}

// get_source_addr(buf, buf_limit i32) -> len i32: "1.2.3.4:5678" or
// "[::1]:5678".
func getSourceAddr(ctx context.Context, mod api.Module, stack []uint64) {
	in := instanceOf(ctx)
	st := in.inRequest("get_source_addr")
	st.scratch = appendSourceAddr(st.scratch[:0], st.ex)
	st.trace.add(readSourceAddr, 0, nil, st.scratch, 0)
	stack[0] = in.writeIfFits(mod, uint32(stack[0]), uint32(stack[1]), st.scratch)
}

// appendSourceAddr appends the client's address to dst, nothing when it
// is unknown.
func appendSourceAddr(dst []byte, ex *http1.Exchange) []byte {
	if ex.RemoteAddr.IsValid() {
		dst = ex.RemoteAddr.AppendTo(dst)
	}
	return dst
}

// get_status_code() -> i32: the status set so far, 200 when none is.
func getStatusCode(ctx context.Context, _ api.Module, stack []uint64) {
	in := instanceOf(ctx)
	st := in.inRequest("get_status_code")
	s := statusOf(st.ex.Response)
	st.trace.add(readStatus, 0, nil, nil, int64(s))
	stack[0] = uint64(s)
}

// statusOf is the status set so far, 200 when none is.
func statusOf(w *http1.ResponseWriter) int {
	if s := w.Status(); s != 0 {
		return s
	}
	return 200
}

// set_status_code(status_code i32): before next, the status of the
// guest's own answer; after it, only with buffer_response.
func setStatusCode(ctx context.Context, _ api.Module, stack []uint64) {
	in := instanceOf(ctx)
	st := in.inRequest("set_status_code")
	code := uint32(stack[0])
	if code < 100 || code > 999 {
		in.trap("set_status_code: %d is not a status code", code)
	}
	if st.phase != phaseRequest {
		in.trap("set_status_code in a cache hook: the status is the origin's")
	}
	w := st.ex.Response
	if w.HeaderWritten() && !w.Buffering() {
		in.trap("set_status_code after the response was sent; enable buffer_response")
	}
	w.SetStatus(int(code))
}
