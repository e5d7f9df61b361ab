// Command basicauth is a wasmhttpd policy that requires HTTP Basic
// authentication for chosen methods under chosen path prefixes; this is
// what turns on writes (PUT, POST, DELETE) on the default site.
//
// Configuration (JSON via get_config):
//
//	{
//	  "realm":   "wasmhttpd",                   // WWW-Authenticate realm (default "wasmhttpd")
//	  "methods": ["PUT", "POST", "DELETE"],     // guarded methods (default these three)
//	  "paths":   ["/"],                         // guarded path prefixes (default ["/"])
//	  "users": [
//	    {"name": "alice", "hash": "$2a$10$...",  // bcrypt hash (htpasswd -B, or bcrypt.GenerateFromPassword)
//	     "paths": ["/uploads/"]}                 // optional: prefixes this user may touch; absent = all guarded ones
//	  ]
//	}
//
// Answers: a guarded request without credentials, with malformed ones or
// with a wrong name or password gets 401 and WWW-Authenticate; an
// authenticated user outside their paths gets 403. There are no default
// credentials: with no users configured every guarded request gets 403 —
// no credential could help, so the client is not invited to retry.
// Unguarded requests pass on untouched. The Authorization field is removed
// before the request moves on, so a password never reaches an upstream.
//
// Cost: bcrypt is slow on purpose, and slower still in wasm: measured here
// through the binary (standard-Go module, wazero), one cost-10 check takes
// about 155 ms — three times the host's default 50 ms call deadline, so a
// guarded request would fail with a timeout. Either raise
// wasm.call_timeout (e.g. "500ms") or use cost 8 (about 40 ms). Successful
// checks are remembered per instance (keyed by a SHA-256 of the
// credentials), so after its first request a client costs about 2 ms; a
// wrong password always pays the full bcrypt price, which is the point.
package main

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/bcrypt"

	"wasmhttpd/guest"
)

func main() {}

func init() {
	if p := guest.HandleConfigured("basicauth", newPolicy); len(p.users) == 0 {
		guest.Log(guest.LogWarn, "basicauth: no users configured: every guarded request is refused")
	}
}

// User is one credential.
type User struct {
	Name  string   `json:"name"`
	Hash  string   `json:"hash"`
	Paths []string `json:"paths"`
}

// Config is the policy configuration.
type Config struct {
	Realm   string   `json:"realm"`
	Methods []string `json:"methods"`
	Paths   []string `json:"paths"`
	Users   []User   `json:"users"`
}

type policy struct {
	guest.RequestOnly
	realm     string
	challenge string
	methods   []string
	paths     []string
	users     []User
	// verified remembers credentials that passed bcrypt, bounded so a
	// client cannot grow it without limit.
	verified map[[32]byte]int
}

const maxVerified = 256

func newPolicy(raw []byte) (*policy, error) {
	cfg := Config{Realm: "wasmhttpd", Methods: []string{"PUT", "POST", "DELETE"}, Paths: []string{"/"}}
	if err := guest.DecodeJSON(raw, &cfg); err != nil {
		return nil, err
	}
	if strings.ContainsAny(cfg.Realm, "\"\\\r\n\x00") {
		return nil, errors.New("realm must not hold quotes, backslashes or line breaks")
	}
	for i, u := range cfg.Users {
		if u.Name == "" || strings.Contains(u.Name, ":") {
			return nil, fmt.Errorf("user %d: name must be non-empty and free of ':'", i)
		}
		if _, err := bcrypt.Cost([]byte(u.Hash)); err != nil {
			return nil, fmt.Errorf("user %q: hash is not bcrypt: %v", u.Name, err)
		}
	}
	return &policy{
		RequestOnly: nil,
		realm:       cfg.Realm,
		challenge:   `Basic realm="` + cfg.Realm + `", charset="UTF-8"`,
		methods:     cfg.Methods,
		paths:       cfg.Paths,
		users:       cfg.Users,
		verified:    map[[32]byte]int{},
	}, nil
}

// HandleRequest implements guest.Handler.
func (p *policy) HandleRequest(req guest.Request, resp guest.Response) (bool, uint32) {
	path := req.Path()
	if !p.guarded(req.Method(), path) {
		return true, 0
	}
	if len(p.users) == 0 {
		return deny(resp, 403, "")
	}
	auth, _ := req.Header().Get("Authorization")
	name, pass, ok := parseBasic(auth)
	if !ok {
		return deny(resp, 401, p.challenge)
	}
	u := p.authenticate(name, pass)
	if u == nil {
		return deny(resp, 401, p.challenge)
	}
	if len(u.Paths) > 0 && !hasPrefix(path, u.Paths) {
		return deny(resp, 403, "")
	}
	req.Header().Remove("Authorization")
	return true, 0
}

// guarded reports whether the method and path need credentials.
func (p *policy) guarded(method, path string) bool {
	for _, m := range p.methods {
		if m == method {
			return hasPrefix(path, p.paths)
		}
	}
	return false
}

func hasPrefix(path string, prefixes []string) bool {
	for _, pre := range prefixes {
		if strings.HasPrefix(path, pre) {
			return true
		}
	}
	return false
}

// authenticate returns the user whose name and password match, or nil.
// Every configured name is compared in constant time, with no early exit,
// and an unknown name still costs a bcrypt comparison, so timing tells an
// attacker neither which names exist nor how much of one matched.
func (p *policy) authenticate(name, pass string) *User {
	var found *User
	for i := range p.users {
		if subtle.ConstantTimeCompare([]byte(p.users[i].Name), []byte(name)) == 1 {
			found = &p.users[i]
		}
	}
	key := sha256.Sum256([]byte(name + "\x00" + pass))
	if found != nil {
		if _, ok := p.verified[key]; ok {
			return found
		}
	}
	hash := p.users[0].Hash
	if found != nil {
		hash = found.Hash
	}
	err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(pass))
	if found == nil || err != nil {
		return nil
	}
	if len(p.verified) >= maxVerified {
		clear(p.verified)
	}
	p.verified[key] = 1
	return found
}

// parseBasic decodes an Authorization value of the Basic scheme.
func parseBasic(v string) (name, pass string, ok bool) {
	scheme, cred, found := strings.Cut(strings.TrimSpace(v), " ")
	if !found || !strings.EqualFold(scheme, "Basic") {
		return "", "", false
	}
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
	if err != nil {
		return "", "", false
	}
	name, pass, ok = strings.Cut(string(b), ":")
	if !ok || name == "" {
		return "", "", false
	}
	return name, pass, true
}

// deny answers the request itself.
func deny(resp guest.Response, status uint32, challenge string) (bool, uint32) {
	resp.SetStatusCode(status)
	if challenge != "" {
		resp.Header().Set("WWW-Authenticate", challenge)
	}
	resp.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if status == 401 {
		_, _ = resp.Body().WriteString("401 Unauthorized\n")
	} else {
		_, _ = resp.Body().WriteString("403 Forbidden\n")
	}
	return false, 0
}
