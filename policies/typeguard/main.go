// Command typeguard is a wasmhttpd policy that answers 415 Unsupported
// Media Type for requested files whose type, derived from the extension of
// the last path segment, is outside an allow-list.
//
// Configuration (JSON via get_config; every key optional):
//
//	{
//	  "allow":   ["text/*", "image/*", "application/json"],  // type patterns: exact or "major/*"
//	  "types":   {".md": "text/markdown"},                     // extra or overriding extension → type
//	  "methods": []                                             // methods checked; empty = all
//	}
//
// Default allow: text/*, image/*, font/*, audio/*, video/*,
// application/javascript, application/json, application/pdf,
// application/wasm, application/xml. A path whose last segment has no
// extension (a directory, "/", "/api/x") passes: it names no file type.
// An unknown extension is application/octet-stream, which is refused unless
// allowed. Extensions are matched case-insensitively.
package main

import (
	"strings"

	"wasmhttpd/guest"
)

func main() {}

func init() { guest.HandleConfigured("typeguard", newPolicy) }

// Config is the policy configuration.
type Config struct {
	Allow   []string          `json:"allow"`
	Types   map[string]string `json:"types"`
	Methods []string          `json:"methods"`
}

// builtinTypes maps the common extensions; it is deliberately small and
// fixed (no mime package, no system tables), so a module behaves the same
// on every host.
var builtinTypes = map[string]string{
	".html": "text/html", ".htm": "text/html", ".css": "text/css", ".txt": "text/plain",
	".csv": "text/csv", ".md": "text/markdown", ".js": "application/javascript",
	".mjs": "application/javascript", ".json": "application/json", ".xml": "application/xml",
	".pdf": "application/pdf", ".wasm": "application/wasm", ".zip": "application/zip",
	".gz": "application/gzip", ".tar": "application/x-tar", ".exe": "application/vnd.microsoft.portable-executable",
	".sh": "application/x-sh", ".php": "application/x-httpd-php",
	".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
	".webp": "image/webp", ".svg": "image/svg+xml", ".ico": "image/x-icon", ".avif": "image/avif",
	".woff": "font/woff", ".woff2": "font/woff2", ".ttf": "font/ttf", ".otf": "font/otf",
	".mp3": "audio/mpeg", ".ogg": "audio/ogg", ".wav": "audio/wav",
	".mp4": "video/mp4", ".webm": "video/webm",
}

type policy struct {
	guest.RequestOnly
	allow   []string
	types   map[string]string
	methods []string
}

func newPolicy(raw []byte) (*policy, error) {
	cfg := Config{Allow: []string{"text/*", "image/*", "font/*", "audio/*", "video/*",
		"application/javascript", "application/json", "application/pdf", "application/wasm", "application/xml"}}
	if err := guest.DecodeJSON(raw, &cfg); err != nil {
		return nil, err
	}
	types := make(map[string]string, len(builtinTypes)+len(cfg.Types))
	for k, v := range builtinTypes {
		types[k] = v
	}
	for k, v := range cfg.Types {
		k = strings.ToLower(k)
		if !strings.HasPrefix(k, ".") {
			k = "." + k
		}
		types[k] = strings.ToLower(v)
	}
	allow := make([]string, len(cfg.Allow))
	for i, a := range cfg.Allow {
		allow[i] = strings.ToLower(a)
	}
	return &policy{allow: allow, types: types, methods: cfg.Methods}, nil
}

// typeOf returns the type of path's last segment, "" when it has no
// extension.
func (p *policy) typeOf(path string) string {
	seg := path[strings.LastIndexByte(path, '/')+1:]
	dot := strings.LastIndexByte(seg, '.')
	if dot <= 0 || dot == len(seg)-1 { // no extension, a dotfile, or a trailing dot
		return ""
	}
	if t, ok := p.types[strings.ToLower(seg[dot:])]; ok {
		return t
	}
	return "application/octet-stream"
}

func (p *policy) allowed(typ string) bool {
	for _, a := range p.allow {
		if a == typ || strings.HasSuffix(a, "/*") && strings.HasPrefix(typ, a[:len(a)-1]) {
			return true
		}
	}
	return false
}

// HandleRequest implements guest.Handler.
func (p *policy) HandleRequest(req guest.Request, resp guest.Response) (bool, uint32) {
	if len(p.methods) > 0 {
		m, found := req.Method(), false
		for _, x := range p.methods {
			found = found || x == m
		}
		if !found {
			return true, 0
		}
	}
	typ := p.typeOf(req.Path())
	if typ == "" || p.allowed(typ) {
		return true, 0
	}
	resp.SetStatusCode(415)
	resp.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = resp.Body().WriteString("415 Unsupported Media Type: " + typ + "\n")
	return false, 0
}
