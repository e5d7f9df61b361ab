// Command redirects is a wasmhttpd policy that answers requests matching a
// table of rules with a redirect.
//
// Configuration (JSON via get_config; absent means the default below):
//
//	{
//	  "rules": [
//	    {"from": "/old.html", "to": "/new.html"},                       // exact match, 301
//	    {"from": "/docs/", "to": "/manual/", "prefix": true,             // prefix: the rest is appended
//	     "status": 308, "keep_query": true}
//	  ]
//	}
//
// from: the path to match (without query), exact unless prefix is true.
// to: the Location; for a prefix rule, the remainder of the path after from
// is appended. status: 301 (default), 302, 307 or 308. keep_query: append
// the request's query to the Location (default false). The first matching
// rule wins, so list longer prefixes first. Non-matching requests pass on.
//
// Default (no config, or a config without "rules"):
// {"rules":[{"from":"/old.html","to":"/new.html"}]}; "rules": [] turns
// every redirect off.
package main

import (
	"errors"
	"fmt"
	"strings"

	"wasmhttpd/guest"
)

func main() {}

func init() { guest.HandleConfigured("redirects", newPolicy) }

// Rule is one redirect.
type Rule struct {
	From      string `json:"from"`
	To        string `json:"to"`
	Prefix    bool   `json:"prefix"`
	Status    uint32 `json:"status"`
	KeepQuery bool   `json:"keep_query"`
}

// Config is the policy configuration.
type Config struct {
	Rules []Rule `json:"rules"`
}

// defaultConfig is what the default site uses.
func defaultConfig() Config {
	return Config{Rules: []Rule{{From: "/old.html", To: "/new.html", Status: 301}}}
}

type policy struct {
	guest.RequestOnly
	rules []Rule
}

func newPolicy(raw []byte) (*policy, error) {
	// The host hands "{}" when config.toml has no table: that keeps the
	// default rules; a "rules" key replaces them entirely.
	cfg := defaultConfig()
	if err := guest.DecodeJSON(raw, &cfg); err != nil {
		return nil, err
	}
	for i := range cfg.Rules {
		r := &cfg.Rules[i]
		if r.Status == 0 {
			r.Status = 301
		}
		switch r.Status {
		case 301, 302, 307, 308:
		default:
			return nil, fmt.Errorf("rule %d: status %d is not 301, 302, 307 or 308", i, r.Status)
		}
		if !strings.HasPrefix(r.From, "/") {
			return nil, fmt.Errorf("rule %d: from %q must start with /", i, r.From)
		}
		if r.To == "" || strings.ContainsAny(r.To, "\r\n\x00") {
			return nil, errors.New("rule " + fmt.Sprint(i) + ": to must be a non-empty field value")
		}
	}
	p := &policy{rules: cfg.Rules}
	p.RequestOnly = p.handle
	return p, nil
}

// location returns the redirect for a request target, ok=false when no
// rule matches.
func (p *policy) location(uri string) (loc string, status uint32, ok bool) {
	path, query := guest.SplitURI(uri)
	for _, r := range p.rules {
		switch {
		case r.Prefix && strings.HasPrefix(path, r.From):
			loc = r.To + path[len(r.From):]
		case !r.Prefix && path == r.From:
			loc = r.To
		default:
			continue
		}
		if r.KeepQuery && query != "" {
			if strings.Contains(loc, "?") {
				loc += "&" + query
			} else {
				loc += "?" + query
			}
		}
		return loc, r.Status, true
	}
	return "", 0, false
}

func (p *policy) handle(req guest.Request, resp guest.Response) (bool, uint32) {
	loc, status, ok := p.location(req.URI())
	if !ok {
		return true, 0
	}
	resp.SetStatusCode(status)
	resp.Header().Set("Location", loc)
	resp.Header().Set("Content-Length", "0")
	return false, 0
}
