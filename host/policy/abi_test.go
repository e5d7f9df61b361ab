package policy

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"wasmhttpd/host/http1"
)

// The conformance cases are modelled on the http-wasm TCK: the conform
// guest performs one ABI operation per request and reports what it saw in
// response fields; the echo handler reports what reached it.
func TestABI(t *testing.T) {
	p := load(t, "conform", func(o *Options) { o.Config = []byte(`{"k":"v"}`) })
	c := NewChain([]*Policy{p}, echo)

	t.Run("get_header_names", func(t *testing.T) {
		r := do(t, c, get("names", "Accept: a\r\nX-Multi: 1\r\nx-multi: 2\r\n"))
		assert.Equal(t, "host,x-test,accept,x-multi", r.Header.Get("x-names"))
	})
	t.Run("get_header_values", func(t *testing.T) {
		r := do(t, c, get("values", "X-Multi: 1\r\nx-multi: 2, 3\r\n"))
		assert.Equal(t, "1,2, 3", r.Header.Get("x-values"))
		assert.Equal(t, "0", r.Header.Get("x-none"))
	})
	t.Run("set_add_remove_request", func(t *testing.T) {
		r := do(t, c, get("set-req", "X-A: old\r\nX-Gone: bye\r\n"))
		assert.Equal(t, []string{"1"}, r.Header.Values("x-echo-h-x-a"))
		assert.Equal(t, []string{"2", "3"}, r.Header.Values("x-echo-h-x-b"))
		assert.Empty(t, r.Header.Values("x-echo-h-x-gone"))
	})
	t.Run("set_add_remove_response", func(t *testing.T) {
		r := do(t, c, get("set-resp"))
		assert.Equal(t, []string{"1", "2"}, r.Header.Values("x-r"))
		assert.Empty(t, r.Header.Values("x-del"))
	})
	t.Run("method", func(t *testing.T) {
		r := do(t, c, get("method"))
		assert.Equal(t, "GET", r.Header.Get("x-method"))
		assert.Equal(t, "POST", r.Header.Get("x-echo-method"))
	})
	t.Run("uri", func(t *testing.T) {
		r := do(t, c, get("uri"))
		assert.Equal(t, "/path?x=1", r.Header.Get("x-uri"))
		assert.Equal(t, "/rewritten?q=1", r.Header.Get("x-echo-uri"))
	})
	t.Run("uri_absolute_form", func(t *testing.T) {
		r := do(t, c, "GET http://example.test/a?b HTTP/1.1\r\nHost: example.test\r\nX-Test: uri\r\n\r\n")
		assert.Equal(t, "/a?b", r.Header.Get("x-uri"))
		assert.Equal(t, "http://example.test/rewritten?q=1", r.Header.Get("x-echo-uri"))
	})
	t.Run("get_protocol_version", func(t *testing.T) {
		r := do(t, c, get("proto"))
		assert.Equal(t, "HTTP/1.1", r.Header.Get("x-proto"))
		r = do(t, c, "GET / HTTP/1.0\r\nX-Test: proto\r\n\r\n")
		assert.Equal(t, "HTTP/1.0", r.Header.Get("x-proto"))
	})
	t.Run("get_source_addr", func(t *testing.T) {
		assert.Equal(t, "192.0.2.7:4242", do(t, c, get("source")).Header.Get("x-source"))
	})
	t.Run("get_config", func(t *testing.T) {
		assert.Equal(t, `{"k":"v"}`, do(t, c, get("config")).Header.Get("x-config"))
	})
	t.Run("log", func(t *testing.T) {
		assert.Equal(t, "10", do(t, c, get("log")).Header.Get("x-log-enabled"))
		assert.Contains(t, logBuf.String(), "hello from the guest")
	})
	t.Run("next=0 answers", func(t *testing.T) {
		r := do(t, c, get("answer"))
		assert.Equal(t, 418, r.StatusCode)
		assert.Equal(t, "short and stout", r.body)
		assert.Empty(t, r.Header.Get("x-echo-method"), "next must not run")
	})
	t.Run("next=0 status without body", func(t *testing.T) {
		r := do(t, c, get("answer-empty"))
		assert.Equal(t, 204, r.StatusCode)
		assert.Empty(t, r.Header.Get("x-echo-method"))
	})
	t.Run("request body read and replaced", func(t *testing.T) {
		r := do(t, c, "POST /up HTTP/1.1\r\nHost: h\r\nX-Test: reqbody\r\nContent-Length: 23\r\n\r\nthe original request!!!")
		assert.Equal(t, "the original request!!!", r.Header.Get("x-body"))
		assert.Equal(t, "replaced body", r.body)
		assert.Equal(t, "13", r.Header.Get("x-echo-h-content-length"))
	})
	t.Run("chunked request body", func(t *testing.T) {
		r := do(t, c, "POST /up HTTP/1.1\r\nHost: h\r\nX-Test: reqbody\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
		assert.Equal(t, "hello world", r.Header.Get("x-body"))
		assert.Equal(t, "replaced body", r.body)
	})
	t.Run("response body buffered and rewritten", func(t *testing.T) {
		r := do(t, c, "POST /x HTTP/1.1\r\nHost: h\r\nX-Test: respbody\r\nContent-Length: 11\r\n\r\nhello world")
		assert.Equal(t, 201, r.StatusCode)
		assert.Equal(t, "HELLO WORLD", r.body)
		assert.Equal(t, "200", r.Header.Get("x-status"))
		assert.Equal(t, "42", r.Header.Get("x-reqctx"))
		assert.Equal(t, "0", r.Header.Get("x-is-error"))
		assert.Equal(t, int64(11), r.ContentLength)
	})
	t.Run("reading response body without buffer_response traps", func(t *testing.T) {
		r := do(t, c, get("readresp-nobuf"))
		// The header went out before handle_response: the response is
		// aborted rather than turned into a 500.
		assert.Equal(t, 200, r.StatusCode)
		assert.Contains(t, logBuf.String(), "response body is readable only with buffer_response")
	})
	t.Run("trailers", func(t *testing.T) {
		r := do(t, c, "POST /x HTTP/1.1\r\nHost: h\r\nX-Test: trailers\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: 1\r\n\r\n")
		assert.Equal(t, "4", r.Header.Get("x-features"))
		assert.Equal(t, "0", r.Header.Get("x-req-trailers"), "trailers arrive after the head, unread here")
	})
	t.Run("response trailers are sent", func(t *testing.T) {
		// A chunked response carries the trailer the guest set.
		stream := http1.HandlerFunc(func(ex *http1.Exchange) { ex.Response.WriteHeader(200); ex.Response.Write([]byte("abc")) })
		r := do(t, NewChain([]*Policy{p}, stream), get("trailers"))
		assert.Equal(t, "abc", r.body)
		assert.Equal(t, "t", r.trailer.Get("x-trailer"))
	})
	t.Run("enable_features", func(t *testing.T) {
		assert.Equal(t, "7", do(t, c, get("features")).Header.Get("x-features"))
	})
	t.Run("a request-only guest's handle_response is not called", func(t *testing.T) {
		before := p.Stats()
		assert.Equal(t, 200, do(t, c, get("request-only")).StatusCode)
		after := p.Stats()
		assert.Equal(t, uint64(1), after.Calls-before.Calls, "handle_request only")
		assert.Equal(t, before.Errors, after.Errors, "handle_response would have trapped")

		do(t, c, get("fine"))
		assert.Equal(t, uint64(2), p.Stats().Calls-after.Calls, "the feature held for that request only")
	})
}

// TestChainOrder: handle_request in order, handle_response in reverse,
// each guest's reqCtx handed back to it.
func TestChainOrder(t *testing.T) {
	var ps []*Policy
	for _, n := range []string{"a", "b", "c"} {
		ps = append(ps, load(t, "conform", func(o *Options) { o.Name, o.Config = n, []byte(n) }))
	}
	r := do(t, NewChain(ps, echo), get("order"))
	require.Equal(t, 200, r.StatusCode)
	assert.Equal(t, []string{"a", "b", "c"}, r.Header.Values("x-echo-h-x-order"))
	assert.Equal(t, []string{"c", "b", "a"}, r.Header.Values("x-order-resp"))
	for _, n := range []string{"a", "b", "c"} {
		assert.Equal(t, "7", r.Header.Get("x-reqctx-"+n))
	}
}

// TestShortCircuitSkipsLater: a guest answering with next=0 stops the
// chain; the guests before it still get handle_response.
func TestShortCircuit(t *testing.T) {
	a := load(t, "conform", func(o *Options) { o.Config = []byte("a") })
	b := load(t, "conform", nil)
	r := do(t, NewChain([]*Policy{a, b}, echo), get("answer"))
	assert.Equal(t, 418, r.StatusCode)
	assert.Equal(t, "short and stout", r.body)
}

func TestLoadRejects(t *testing.T) {
	for name, want := range map[string]string{
		"noexport": "does not export handle_request",
		"inittrap": "initialisation refused",
	} {
		_, err := engine.Load(t.Context(), Options{Name: name, Path: guest(name)})
		require.Error(t, err, name)
		assert.Contains(t, err.Error(), want)
	}
	_, err := engine.Load(t.Context(), Options{Name: "bad", Path: guest("conform"), OnError: "maybe"})
	assert.ErrorContains(t, err, "on_error")
	assert.True(t, strings.Contains(logBuf.String(), "rejected"))
}
