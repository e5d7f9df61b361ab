package main

import (
	"encoding/base64"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"wasmhttpd/guest"
	"wasmhttpd/guest/guesttest"
)

func hash(t *testing.T, pw string) string {
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	require.NoError(t, err)
	return string(h)
}

func basic(user, pass string) string {
	return "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

func TestNoUsersRefusesGuarded(t *testing.T) {
	p, err := newPolicy(nil)
	require.NoError(t, err)
	for _, m := range []string{"PUT", "POST", "DELETE"} {
		h := guesttest.NewRequest(m, "/x", basic("alice", "pw"))
		next, _ := h.Request(p)
		assert.False(t, next, m)
		assert.Equal(t, uint32(403), h.StatusCode(), m)
	}
	h := guesttest.NewRequest("GET", "/x")
	next, _ := h.Request(p)
	assert.True(t, next, "GET is not guarded by default")
}

func TestBasicAuth(t *testing.T) {
	cfg := fmt.Sprintf(`{"realm":"files","paths":["/up/","/priv/"],"users":[
		{"name":"alice","hash":%q},
		{"name":"bob","hash":%q,"paths":["/up/bob/"]}]}`, hash(t, "s3cret"), hash(t, "hunter2"))
	p, err := newPolicy([]byte(cfg))
	require.NoError(t, err)
	for _, tc := range []struct {
		name, method, uri, auth string
		next                    bool
		status                  uint32
	}{
		{"right password", "PUT", "/up/a.txt", basic("alice", "s3cret"), true, 0},
		{"wrong password", "PUT", "/up/a.txt", basic("alice", "nope"), false, 401},
		{"unknown user", "PUT", "/up/a.txt", basic("carol", "s3cret"), false, 401},
		{"user prefix of name", "PUT", "/up/a.txt", basic("alic", "s3cret"), false, 401},
		{"no header", "POST", "/up/a.txt", "", false, 401},
		{"malformed base64", "DELETE", "/up/a.txt", "Authorization: Basic !!!", false, 401},
		{"no colon", "PUT", "/up/a.txt", "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("alice")), false, 401},
		{"other scheme", "PUT", "/up/a.txt", "Authorization: Bearer abc", false, 401},
		{"scheme case-insensitive", "PUT", "/up/a.txt", "Authorization: basic " + base64.StdEncoding.EncodeToString([]byte("alice:s3cret")), true, 0},
		{"unguarded method", "GET", "/up/a.txt", "", true, 0},
		{"unguarded path", "PUT", "/public/a.txt", "", true, 0},
		{"user within paths", "PUT", "/up/bob/a.txt", basic("bob", "hunter2"), true, 0},
		{"user outside paths", "PUT", "/priv/a.txt", basic("bob", "hunter2"), false, 403},
		{"cached right password", "PUT", "/up/b.txt", basic("alice", "s3cret"), true, 0},
		{"cached user, wrong password", "PUT", "/up/b.txt", basic("alice", "s3creT"), false, 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var hdr []string
			if tc.auth != "" {
				hdr = append(hdr, tc.auth)
			}
			h := guesttest.NewRequest(tc.method, tc.uri, hdr...)
			next, _ := h.Request(p)
			assert.Equal(t, tc.next, next)
			if next {
				assert.Empty(t, h.Get(guest.KindRequestHeaders, "authorization"), "credentials must not travel on")
				return
			}
			assert.Equal(t, tc.status, h.StatusCode())
			if tc.status == 401 {
				assert.Equal(t, `Basic realm="files", charset="UTF-8"`, h.Get(guest.KindResponseHeaders, "www-authenticate"))
			} else {
				assert.Empty(t, h.Get(guest.KindResponseHeaders, "www-authenticate"))
			}
		})
	}
}

func TestBadConfig(t *testing.T) {
	for _, raw := range []string{
		`{"users":[{"name":"a","hash":"plaintext"}]}`,
		`{"users":[{"name":"a:b","hash":"$2a$04$abcdefghijklmnopqrstuu5Q0n8Cwq6z2pQ1bq8QZsPm3b2Q8G8y"}]}`,
		`{"realm":"a\"b"}`,
		`{"user":[]}`,
	} {
		_, err := newPolicy([]byte(raw))
		assert.Error(t, err, raw)
	}
}

func TestBcryptCheck(t *testing.T) {
	h := hash(t, "pw")
	assert.NoError(t, bcrypt.CompareHashAndPassword([]byte(h), []byte("pw")))
	assert.Error(t, bcrypt.CompareHashAndPassword([]byte(h), []byte("pW")))
}
