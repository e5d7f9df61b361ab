package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"wasmhttpd/guest/guesttest"
)

func TestTypeguard(t *testing.T) {
	def, err := newPolicy(nil)
	require.NoError(t, err)
	custom, err := newPolicy([]byte(`{"allow":["text/html","image/*","text/markdown"],"types":{"MD":"text/markdown"},"methods":["GET","PUT"]}`))
	require.NoError(t, err)
	for _, tc := range []struct {
		name   string
		p      *policy
		method string
		uri    string
		pass   bool
	}{
		{"html", def, "GET", "/index.html", true},
		{"image upper case ext", def, "GET", "/a/B.PNG", true},
		{"query ignored", def, "GET", "/app.js?v=1.exe", true},
		{"directory", def, "GET", "/docs/", true},
		{"no extension", def, "GET", "/api/users", true},
		{"dotfile", def, "GET", "/.htaccess", true},
		{"executable", def, "GET", "/setup.exe", false},
		{"unknown ext", def, "GET", "/data.bin", false},
		{"php refused", def, "PUT", "/shell.php", false},
		{"custom allows html", custom, "GET", "/a.html", true},
		{"custom refuses css", custom, "GET", "/a.css", false},
		{"custom type added", custom, "GET", "/README.md", true},
		{"custom method unchecked", custom, "DELETE", "/a.css", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := guesttest.NewRequest(tc.method, tc.uri)
			next, _ := h.Request(tc.p)
			assert.Equal(t, tc.pass, next)
			if !tc.pass {
				assert.Equal(t, uint32(415), h.StatusCode())
			}
		})
	}
}

func TestBadConfig(t *testing.T) {
	_, err := newPolicy([]byte(`{"allowed":[]}`))
	assert.Error(t, err)
}
