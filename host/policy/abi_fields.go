package policy

import (
	"context"

	"github.com/tetratelabs/wazero/api"

	"wasmhttpd/host/http1"
)

// maxHeaderFields bounds how many fields a guest may leave in one header
// table, beside the byte bound of Options.MaxHeaderBytes.
const maxHeaderFields = 1000

// header returns the table a header kind names, checking that the guest
// may change it now when mutate is set: request fields only before the
// next handler, response fields after it only with buffer_response — or
// in a cache hook, where they are the response about to be sent.
func (in *instance) header(kind uint32, mutate bool, what string) *http1.Header {
	st := in.inRequest(what)
	switch kind {
	case kindRequest, kindRequestTrailers:
		if mutate && st.afterNext {
			in.trap("%s: request fields cannot change after the next handler", what)
		}
	case kindResponse, kindRespTrailers:
		if mutate && st.afterNext && !st.ex.Response.Buffering() && st.phase == phaseRequest {
			in.trap("%s: response fields cannot change after the next handler without buffer_response", what)
		}
	default:
		in.trap("%s: unknown header kind %d", what, kind)
	}
	return headerOf(st.ex, kind)
}

// headerOf returns the table of a valid header kind.
func headerOf(ex *http1.Exchange, kind uint32) *http1.Header {
	switch kind {
	case kindRequest:
		return &ex.Request.Header
	case kindRequestTrailers:
		return &ex.Request.Trailer
	case kindResponse:
		return ex.Response.Header()
	}
	return ex.Response.Trailer()
}

// get_header_names(kind, buf, buf_limit i32) -> count_len i64: each
// distinct name once, lower-cased, NUL-terminated.
func getHeaderNames(ctx context.Context, mod api.Module, stack []uint64) {
	in := instanceOf(ctx)
	kind := uint32(stack[0])
	h := in.header(kind, false, "get_header_names")
	st := &in.st
	var count int
	st.scratch, count = appendHeaderNames(st.scratch[:0], h)
	st.trace.add(readHeaderNames, kind, nil, st.scratch, int64(count))
	in.writeList(mod, stack, uint32(stack[1]), uint32(stack[2]), count, st.scratch)
}

// writeList answers a call returning count<<32|len: the list is written
// only when it fits, as writeIfFits does.
func (in *instance) writeList(mod api.Module, stack []uint64, buf, limit uint32, count int, list []byte) {
	stack[0] = uint64(count)<<32 | in.writeIfFits(mod, buf, limit, list)
}

// appendHeaderNames appends each distinct name of h once, lower-cased and
// NUL-terminated, and returns how many there are.
func appendHeaderNames(dst []byte, h *http1.Header) ([]byte, int) {
	count := 0
	for i := range h.Len() {
		name, _ := h.Field(i)
		if seenBefore(h, i, name) {
			continue
		}
		count++
		for _, c := range name {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			dst = append(dst, c)
		}
		dst = append(dst, 0)
	}
	return dst, count
}

// seenBefore reports whether a field before i has the same name.
func seenBefore(h *http1.Header, i int, name []byte) bool {
	for j := range i {
		if n, _ := h.Field(j); equalFold(n, name) {
			return true
		}
	}
	return false
}

func equalFold(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// get_header_values(kind, name, name_len, buf, buf_limit i32) ->
// count_len i64: every value of the name, in order, NUL-terminated.
func getHeaderValues(ctx context.Context, mod api.Module, stack []uint64) {
	in := instanceOf(ctx)
	kind := uint32(stack[0])
	h := in.header(kind, false, "get_header_values")
	name := in.read(mod, uint32(stack[1]), uint32(stack[2]), "header name")
	if len(name) == 0 {
		in.trap("get_header_values: empty header name")
	}
	st := &in.st
	var count int
	st.scratch, count = appendHeaderValues(st.scratch[:0], h, name)
	st.trace.add(readHeaderValues, kind, name, st.scratch, int64(count))
	in.writeList(mod, stack, uint32(stack[3]), uint32(stack[4]), count, st.scratch)
}

// appendHeaderValues appends every value of name in h, in order and
// NUL-terminated, and returns how many there are.
func appendHeaderValues(dst []byte, h *http1.Header, name []byte) ([]byte, int) {
	count := 0
	for i := range h.Len() {
		if n, v := h.Field(i); equalFold(n, name) {
			count++
			dst = append(append(dst, v...), 0)
		}
	}
	return dst, count
}

// nameValue reads and checks a field a guest wants to add: the name a
// token, the value free of CR, LF and NUL (which would let a guest inject
// fields or split the response), both within the size bounds.
func (in *instance) nameValue(mod api.Module, stack []uint64, what string) (name, value []byte) {
	name = in.read(mod, uint32(stack[1]), uint32(stack[2]), "header name")
	if len(name) == 0 || !http1.IsToken(name) {
		in.trap("%s: %q is not a header name", what, name)
	}
	if l := uint64(uint32(stack[4])); l > uint64(in.gen.p.maxHeader) {
		in.trap("%s: %s value of %d bytes exceeds the %d-byte limit", what, name, l, in.gen.p.maxHeader)
	}
	value = in.read(mod, uint32(stack[3]), uint32(stack[4]), "header value")
	for _, c := range value {
		if c == '\r' || c == '\n' || c == 0 {
			in.trap("%s: %s value holds CR, LF or NUL", what, name)
		}
	}
	return name, value
}

// checkSize traps when a table grew past the bounds.
func (in *instance) checkSize(h *http1.Header, what string) {
	if h.Len() > maxHeaderFields {
		in.trap("%s: more than %d fields", what, maxHeaderFields)
	}
	if total := headerSize(h); total > in.gen.p.maxHeader {
		in.trap("%s: header section of %d bytes exceeds the %d-byte limit", what, total, in.gen.p.maxHeader)
	}
}

// headerSize is the size of h as the bound on a header section counts it.
func headerSize(h *http1.Header) int {
	total := 0
	for i := range h.Len() {
		n, v := h.Field(i)
		total += fieldSize(len(n), len(v))
	}
	return total
}

// fieldSize is a field's share of the bound: name, value, ": " and CRLF.
func fieldSize(name, value int) int { return name + value + 4 }

// set_header_value(kind, name, name_len, value, value_len i32)
func setHeaderValue(ctx context.Context, mod api.Module, stack []uint64) {
	in := instanceOf(ctx)
	h := in.header(uint32(stack[0]), true, "set_header_value")
	name, value := in.nameValue(mod, stack, "set_header_value")
	h.Del(string(name))
	h.AddBytes(name, value)
	in.checkSize(h, "set_header_value")
	in.st.trace.add(effectSetHeader, uint32(stack[0]), name, value, 0)
}

// add_header_value(kind, name, name_len, value, value_len i32)
func addHeaderValue(ctx context.Context, mod api.Module, stack []uint64) {
	in := instanceOf(ctx)
	h := in.header(uint32(stack[0]), true, "add_header_value")
	name, value := in.nameValue(mod, stack, "add_header_value")
	h.AddBytes(name, value)
	in.checkSize(h, "add_header_value")
	in.st.trace.add(effectAddHeader, uint32(stack[0]), name, value, 0)
}

// remove_header(kind, name, name_len i32)
func removeHeader(ctx context.Context, mod api.Module, stack []uint64) {
	in := instanceOf(ctx)
	h := in.header(uint32(stack[0]), true, "remove_header")
	name := in.read(mod, uint32(stack[1]), uint32(stack[2]), "header name")
	if len(name) == 0 {
		in.trap("remove_header: empty header name")
	}
	h.Del(string(name))
	in.st.trace.add(effectRemoveHeader, uint32(stack[0]), name, nil, 0)
}

// read_body(kind, buf, buf_limit i32) -> eof_len i64: the next bytes of
// the body from this guest's position; bit 32 set once they reach the end.
// The request body is read into memory once (http1.Body.Bytes), so every
// guest and the next handler still see all of it; the response body can
// only be read while it is held (buffer_response).
func readBody(ctx context.Context, mod api.Module, stack []uint64) {
	in := instanceOf(ctx)
	st := in.inRequest("read_body")
	st.trace.spoil() // bodies are not compared
	kind, buf, limit := uint32(stack[0]), uint32(stack[1]), uint32(stack[2])
	if limit == 0 {
		in.trap("read_body: buf_limit is zero")
	}
	var data []byte
	var pos *int
	switch kind {
	case kindRequest:
		b, err := st.ex.Request.Body.Bytes(in.gen.p.maxBody)
		if err != nil {
			in.trap("read_body: request body: %v", err)
		}
		data, pos = b, &st.reqPos
	case kindResponse:
		w := st.ex.Response
		if !w.Buffering() {
			if st.afterNext {
				in.trap("read_body: the response body is readable only with buffer_response")
			}
			stack[0] = 1 << 32
			return
		}
		data, pos = w.BufferedBody(), &st.respPos
	default:
		in.trap("read_body: unknown body kind %d", kind)
	}
	rest := data[min(*pos, len(data)):]
	n := min(uint32(len(rest)), limit)
	if n > 0 {
		if !mod.Memory().Write(buf, rest[:n]) {
			in.trap("read_body: %d bytes at %#x are outside guest memory", n, buf)
		}
	}
	*pos += int(n)
	stack[0] = uint64(n)
	if int(n) == len(rest) {
		stack[0] |= 1 << 32
	}
}

// write_body(kind, buf, buf_len i32): the first write of a request
// replaces the body, later ones append. A response written by a guest
// answering in handle_request goes straight out unless it is held.
func writeBody(ctx context.Context, mod api.Module, stack []uint64) {
	in := instanceOf(ctx)
	st := in.inRequest("write_body")
	st.trace.spoil()
	kind, n := uint32(stack[0]), uint32(stack[2])
	p := in.gen.p
	if int64(n) > p.maxBody || st.written+int64(n) > p.maxBody {
		in.trap("write_body: more than %d bytes written", p.maxBody)
	}
	data := in.read(mod, uint32(stack[1]), n, "body")
	st.written += int64(n)
	switch kind {
	case kindRequest:
		if st.afterNext {
			in.trap("write_body: the request body cannot change after the next handler")
		}
		if !st.reqWritten {
			st.reqWritten, st.body = true, st.body[:0]
		}
		st.body = append(st.body, data...)
		st.ex.Request.Body.Replace(st.body)
	case kindResponse:
		w := st.ex.Response
		if w.Buffering() {
			if !st.respWritten {
				st.respWritten = true
				w.SetBufferedBody(data)
				return
			}
			w.SetBufferedBody(append(w.BufferedBody(), data...))
			return
		}
		if st.afterNext {
			in.trap("write_body: the response body can be rewritten only with buffer_response")
		}
		if !w.HeaderWritten() {
			status := w.Status()
			if status == 0 {
				status = 200
			}
			w.WriteHeader(status)
		}
		st.respWritten = true
		w.Write(data) // a failed write is the client's doing, not the guest's
	default:
		in.trap("write_body: unknown body kind %d", kind)
	}
}
