package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"wasmhttpd/guest"
	"wasmhttpd/guest/guesttest"
)

func TestGreetsAndCounts(t *testing.T) {
	p, err := newPolicy([]byte(`{"greeting":"hi","forbidden":"/private/"}`))
	require.NoError(t, err)

	h := guesttest.NewRequest("GET", "/index.html").Install()
	next, _ := h.Request(p)
	assert.True(t, next)
	assert.Equal(t, "hi (v1)", h.Get(guest.KindResponseHeaders, "x-hello"))
	assert.Equal(t, map[string]int64{"requests_get": 1}, h.Counters)

	h = guesttest.NewRequest("POST", "/private/x").Install()
	next, _ = h.Request(p)
	assert.False(t, next, "answered by the policy")
	assert.Equal(t, uint32(403), h.StatusCode())
	assert.Equal(t, "not here\n", string(h.RespBody))
}

func TestConfigErrors(t *testing.T) {
	_, err := newPolicy([]byte(`{"forbidden":"private"}`))
	assert.ErrorContains(t, err, "starting with /")
	_, err = newPolicy([]byte(`{"greting":"x"}`))
	assert.ErrorContains(t, err, "unknown field")
}
