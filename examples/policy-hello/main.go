// Command policy-hello is the policy of the authoring guide
// (docs/authoring.md): it greets every response with a field, counts
// requests by method, and turns away a configured path prefix.
//
// Configuration (JSON via get_config; unknown keys are refused):
//
//	{"greeting": "hello", "forbidden": "/private/"}
package main

import (
	"errors"
	"strings"

	"wasmhttpd/guest"
)

func main() {}

// version is set at build time (-ldflags "-X main.version=2") to tell
// two builds apart once one is swapped in for the other.
var version = "1"

func init() { guest.HandleConfigured("hello", newPolicy) }

// Config is the policy configuration.
type Config struct {
	Greeting  string `json:"greeting"`
	Forbidden string `json:"forbidden"`
}

type policy struct {
	guest.RequestOnly // no response phase: the host skips it
	cfg               Config
}

func newPolicy(raw []byte) (*policy, error) {
	cfg := Config{Greeting: "hello"}
	if err := guest.DecodeJSON(raw, &cfg); err != nil {
		return nil, err
	}
	if cfg.Forbidden != "" && !strings.HasPrefix(cfg.Forbidden, "/") {
		return nil, errors.New("forbidden must be a path starting with /")
	}
	p := &policy{cfg: cfg}
	p.RequestOnly = p.handle
	return p, nil
}

func (p *policy) handle(req guest.Request, resp guest.Response) (next bool, reqCtx uint32) {
	guest.Count("requests_"+strings.ToLower(req.Method()), 1)
	if p.cfg.Forbidden != "" && strings.HasPrefix(req.Path(), p.cfg.Forbidden) {
		resp.SetStatusCode(403)
		resp.Header().Set("Content-Type", "text/plain; charset=utf-8")
		resp.Body().WriteString("not here\n")
		return false, 0
	}
	// Set before next: the field goes out with whatever answers.
	resp.Header().Set("X-Hello", p.cfg.Greeting+" (v"+version+")")
	return true, 0
}
