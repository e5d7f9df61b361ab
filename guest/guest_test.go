package guest_test

import (
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"wasmhttpd/guest"
	"wasmhttpd/guest/guesttest"
)

type recorder struct {
	next     bool
	ctx      uint32
	gotCtx   uint32
	gotError bool
}

func (r *recorder) HandleRequest(guest.Request, guest.Response) (bool, uint32) { return r.next, r.ctx }
func (r *recorder) HandleResponse(ctx uint32, _ guest.Request, _ guest.Response, isError bool) {
	r.gotCtx, r.gotError = ctx, isError
}

func TestDispatchPacksNextAndContext(t *testing.T) {
	h := guesttest.NewRequest("GET", "/")
	r := &recorder{next: true, ctx: 0xdeadbeef}
	guest.Handle(r)
	defer guest.Handle(nil)
	assert.Equal(t, uint64(0xdeadbeef)<<32|1, guest.DispatchRequest(h))
	r.next, r.ctx = false, 7
	assert.Equal(t, uint64(7)<<32, guest.DispatchRequest(h))
	guest.DispatchResponse(h, 9, true)
	assert.Equal(t, uint32(9), r.gotCtx)
	assert.True(t, r.gotError)
}

func TestNoHandlerPassesOn(t *testing.T) {
	guest.Handle(nil)
	assert.Equal(t, uint64(1), guest.DispatchRequest(guesttest.NewRequest("GET", "/")))
}

func TestViews(t *testing.T) {
	h := guesttest.NewRequest("POST", "/a/b?x=1", "Accept: a", "accept: b", "Host: h")
	h.ReqBody = []byte("hello body")
	req, resp := guest.NewExchange(h)
	assert.Equal(t, "POST", req.Method())
	assert.Equal(t, "/a/b", req.Path())
	assert.Equal(t, []string{"a", "b"}, req.Header().Values("Accept"))
	v, ok := req.Header().Get("HOST")
	assert.True(t, ok)
	assert.Equal(t, "h", v)
	_, ok = req.Header().Get("missing")
	assert.False(t, ok)
	assert.Equal(t, []string{"accept", "host"}, req.Header().Names())
	req.Header().Remove("accept")
	assert.Equal(t, []string{"host"}, req.Header().Names())
	b, err := io.ReadAll(req.Body())
	require.NoError(t, err)
	assert.Equal(t, "hello body", string(b))

	resp.SetStatusCode(418)
	resp.Header().Add("X-A", "1")
	resp.Header().Add("X-A", "2")
	resp.Header().Set("X-B", "3")
	_, _ = resp.Body().WriteString("one ")
	_, _ = resp.Body().WriteString("two")
	assert.Equal(t, uint32(418), resp.StatusCode())
	assert.Equal(t, []string{"1", "2"}, resp.Header().Values("x-a"))
	assert.Equal(t, "one two", string(h.RespBody))
}

func TestDecodeConfig(t *testing.T) {
	type cfg struct {
		A int `json:"a"`
	}
	c := cfg{A: 5}
	require.NoError(t, guest.DecodeJSON(nil, &c))
	assert.Equal(t, 5, c.A, "empty config keeps defaults")
	require.NoError(t, guest.DecodeJSON([]byte(`{"a":2}`), &c))
	assert.Equal(t, 2, c.A)
	assert.Error(t, guest.DecodeJSON([]byte(`{"b":2}`), &c), "unknown keys are refused")

	(&guesttest.Host{ConfigJSON: []byte(`{"a":3}`)}).Install()
	defer guest.UseHost(nil)
	require.NoError(t, guest.DecodeConfig(&c))
	assert.Equal(t, 3, c.A)
	guest.Log(guest.LogInfo, "hi")
	assert.True(t, guest.LogEnabled(guest.LogDebug))
	assert.Equal(t, guest.FeatureBufferResponse, guest.EnableFeatures(guest.FeatureBufferResponse))
}

func TestSplitURI(t *testing.T) {
	p, q := guest.SplitURI("/a?b?c")
	assert.Equal(t, "/a", p)
	assert.Equal(t, "b?c", q)
	p, q = guest.SplitURI("/a")
	assert.Equal(t, "/a", p)
	assert.Equal(t, "", q)
}

func TestRequestOnlyHandlersSkipTheResponsePhase(t *testing.T) {
	type embedding struct{ guest.RequestOnly }
	for _, tc := range []struct {
		name string
		h    guest.Handler
		want guest.Features
	}{
		{"RequestOnly", guest.RequestOnly(func(guest.Request, guest.Response) (bool, uint32) { return true, 0 }), guest.FeatureRequestOnly},
		{"a type embedding it", embedding{}, guest.FeatureRequestOnly},
		{"a handler with a response phase", &recorder{}, 0},
	} {
		h := guesttest.NewRequest("GET", "/").Install()
		guest.Handle(tc.h)
		assert.Equal(t, tc.want, h.Features, tc.name)
	}
	guest.Handle(nil)
}
