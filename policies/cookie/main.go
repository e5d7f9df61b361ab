// Command cookie is a wasmhttpd policy that issues a session cookie to
// clients that arrive without one.
//
// Configuration (JSON via get_config; every key optional):
//
//	{
//	  "name":      "session",   // cookie name (default "session")
//	  "path":      "/",         // Path attribute (default "/")
//	  "max_age":   86400,       // Max-Age in seconds (default 86400; 0 = session cookie, no Max-Age)
//	  "http_only": true,        // HttpOnly (default true)
//	  "secure":    false,       // Secure (default false: the default site is plain HTTP)
//	  "same_site": "Lax",       // "Strict", "Lax" or "None" (default "Lax"; "None" requires secure)
//	  "domain":    ""           // Domain attribute, omitted when empty
//	}
//
// The id is 128 bits from crypto/rand, base64url without padding. The
// Set-Cookie field is added to the response in handle_request, before the
// next handler runs: the host keeps response fields set then, so the policy
// needs no buffer_response (which would cost every response its streaming
// and zero-copy sendfile) and no handle_response work.
package main

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"

	"wasmhttpd/guest"
)

func main() {}

func init() { guest.HandleConfigured("cookie", newPolicy) }

// Config is the policy configuration.
type Config struct {
	Name     string `json:"name"`
	Path     string `json:"path"`
	MaxAge   int    `json:"max_age"`
	HTTPOnly bool   `json:"http_only"`
	Secure   bool   `json:"secure"`
	SameSite string `json:"same_site"`
	Domain   string `json:"domain"`
}

type policy struct {
	guest.RequestOnly
	name  string
	attrs string // everything after the value, precomputed
	// random is the entropy source, swapped in tests.
	random func([]byte) error
}

func newPolicy(raw []byte) (*policy, error) {
	cfg := Config{Name: "session", Path: "/", MaxAge: 86400, HTTPOnly: true, SameSite: "Lax"}
	if err := guest.DecodeJSON(raw, &cfg); err != nil {
		return nil, err
	}
	if !isToken(cfg.Name) {
		return nil, errors.New("name must be a token")
	}
	if cfg.MaxAge < 0 {
		return nil, errors.New("max_age must not be negative")
	}
	if strings.ContainsAny(cfg.Path+cfg.Domain, ";\r\n\x00") {
		return nil, errors.New("path and domain must not hold ';' or control characters")
	}
	var b strings.Builder
	if cfg.Path != "" {
		b.WriteString("; Path=" + cfg.Path)
	}
	if cfg.Domain != "" {
		b.WriteString("; Domain=" + cfg.Domain)
	}
	if cfg.MaxAge > 0 {
		b.WriteString("; Max-Age=" + strconv.Itoa(cfg.MaxAge))
	}
	if cfg.HTTPOnly {
		b.WriteString("; HttpOnly")
	}
	if cfg.Secure {
		b.WriteString("; Secure")
	}
	switch cfg.SameSite {
	case "Strict", "Lax":
		b.WriteString("; SameSite=" + cfg.SameSite)
	case "None":
		if !cfg.Secure {
			return nil, errors.New(`same_site "None" requires secure (browsers drop it otherwise)`)
		}
		b.WriteString("; SameSite=None")
	case "":
	default:
		return nil, errors.New(`same_site must be "Strict", "Lax" or "None"`)
	}
	return &policy{name: cfg.Name, attrs: b.String(), random: func(p []byte) error {
		_, err := rand.Read(p)
		return err
	}}, nil
}

// HandleRequest implements guest.Handler.
func (p *policy) HandleRequest(req guest.Request, resp guest.Response) (bool, uint32) {
	for _, v := range req.Header().Values("Cookie") {
		if hasCookie(v, p.name) {
			return true, 0
		}
	}
	var id [16]byte
	if err := p.random(id[:]); err != nil {
		// No entropy, no cookie: a guessable session id is worse than none.
		guest.Log(guest.LogError, "cookie: no random id: "+err.Error())
		return true, 0
	}
	resp.Header().Add("Set-Cookie", p.name+"="+base64.RawURLEncoding.EncodeToString(id[:])+p.attrs)
	return true, 0
}

// hasCookie reports whether a Cookie field value carries name with a
// non-empty value.
func hasCookie(field, name string) bool {
	for field != "" {
		var pair string
		pair, field, _ = strings.Cut(field, ";")
		k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if ok && k == name && v != "" {
			return true
		}
	}
	return false
}

// isToken reports whether s is an RFC 9110 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}
