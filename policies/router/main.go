// Command router is a wasmhttpd policy that sends each request where a
// table of host and path rules says: to a named document root of the
// host, to an upstream (reverse proxy), on to its own target (forward
// proxy), or to a direct answer. It chooses with wasmhttpd_v1's route
// functions; the host does the serving.
//
// Configuration (JSON via get_config):
//
//	{
//	  "rules": [
//	    {"host": "static.example.test", "root": "assets"},
//	    {"prefix": "/api/", "upstream": "http://127.0.0.1:9000", "strip_prefix": true},
//	    {"prefix": "/docs/", "root": "manual", "strip_prefix": true},
//	    {"path": "/healthz", "status": 200, "body": "ok\n"},
//	    {"host": "*.internal", "methods": ["GET", "HEAD"], "forward": true}
//	  ]
//	}
//
// Matching, all given conditions must hold; the first matching rule wins,
// a request no rule matches goes to the listener's default root:
//
//   - host: the Host field without its port, case-insensitive; "*.x.y"
//     matches any subdomain of x.y (not x.y itself); absent matches all.
//   - path: the exact path; prefix: a path prefix, whole segments only
//     ("/api" takes "/api" and "/api/x", not "/apiary"); give one or
//     neither.
//   - methods: the methods matched; absent matches all.
//
// Exactly one action:
//
//   - root: a [roots.NAME] of the host; with strip_prefix, the path after
//     prefix (from its "/") is served from that root.
//   - upstream: "http://host:port[/base]" or https; with strip_prefix the
//     request's path loses prefix before the upstream's base is joined.
//   - forward: true, to forward-proxy the request to its own target.
//   - status (100..599) with optional body, content_type (default
//     "text/plain; charset=utf-8") and headers, to answer directly.
//
// Each rule that routes counts in the counter "rule_N" (N from 0), so the
// metrics show which rules carry traffic.
package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"wasmhttpd/guest"
)

func main() {}

func init() { guest.HandleConfigured("router", newPolicy) }

// Rule is one routing rule.
type Rule struct {
	Host        string            `json:"host"`
	Path        string            `json:"path"`
	Prefix      string            `json:"prefix"`
	Methods     []string          `json:"methods"`
	Root        string            `json:"root"`
	Upstream    string            `json:"upstream"`
	Forward     bool              `json:"forward"`
	StripPrefix bool              `json:"strip_prefix"`
	Status      uint32            `json:"status"`
	Body        string            `json:"body"`
	ContentType string            `json:"content_type"`
	Headers     map[string]string `json:"headers"`

	counter string
}

// Config is the policy configuration.
type Config struct {
	Rules []Rule `json:"rules"`
}

type policy struct {
	guest.RequestOnly
	rules []Rule
}

func newPolicy(raw []byte) (*policy, error) {
	var cfg Config
	if err := guest.DecodeJSON(raw, &cfg); err != nil {
		return nil, err
	}
	for i := range cfg.Rules {
		if err := cfg.Rules[i].check(); err != nil {
			return nil, fmt.Errorf("rule %d: %w", i, err)
		}
		cfg.Rules[i].counter = "rule_" + strconv.Itoa(i)
	}
	p := &policy{rules: cfg.Rules}
	p.RequestOnly = p.handle
	return p, nil
}

// check validates a rule and normalizes what matching compares.
func (r *Rule) check() error {
	actions := 0
	for _, set := range []bool{r.Root != "", r.Upstream != "", r.Forward, r.Status != 0} {
		if set {
			actions++
		}
	}
	if actions != 1 {
		return errors.New("needs exactly one of root, upstream, forward or status")
	}
	if r.Path != "" && r.Prefix != "" {
		return errors.New("path and prefix exclude each other")
	}
	for what, p := range map[string]string{"path": r.Path, "prefix": r.Prefix} {
		if p != "" && p[0] != '/' {
			return fmt.Errorf("%s %q must start with /", what, p)
		}
	}
	if r.StripPrefix && r.Prefix == "" {
		return errors.New("strip_prefix needs a prefix")
	}
	if r.StripPrefix && r.Root == "" && r.Upstream == "" {
		return errors.New("strip_prefix applies to root and upstream rules only")
	}
	if r.Upstream != "" && !strings.HasPrefix(r.Upstream, "http://") && !strings.HasPrefix(r.Upstream, "https://") {
		return fmt.Errorf("upstream %q is not an http:// or https:// URL", r.Upstream)
	}
	if r.Status != 0 && (r.Status < 100 || r.Status > 599) {
		return fmt.Errorf("status %d is not 100..599", r.Status)
	}
	if r.Status == 0 && (r.Body != "" || r.ContentType != "" || len(r.Headers) > 0) {
		return errors.New("body, content_type and headers belong to status rules")
	}
	r.Host = strings.ToLower(r.Host)
	for i, m := range r.Methods {
		r.Methods[i] = strings.ToUpper(m)
	}
	if r.Status != 0 && r.ContentType == "" {
		r.ContentType = "text/plain; charset=utf-8"
	}
	return nil
}

// matches reports whether the rule applies to a request.
func (r *Rule) matches(method, host, path string) bool {
	switch {
	case r.Host == "":
	case strings.HasPrefix(r.Host, "*."):
		if !strings.HasSuffix(host, r.Host[1:]) {
			return false
		}
	case host != r.Host:
		return false
	}
	if r.Path != "" && path != r.Path || r.Prefix != "" && !underPrefix(path, r.Prefix) {
		return false
	}
	if len(r.Methods) == 0 {
		return true
	}
	for _, m := range r.Methods {
		if m == method {
			return true
		}
	}
	return false
}

// underPrefix reports whether path is prefix or below it, segment by
// segment: "/api" takes "/api" and "/api/x", not "/apiary", which a
// strip_prefix would otherwise turn into "/ary".
func underPrefix(path, prefix string) bool {
	if !strings.HasPrefix(path, prefix) {
		return false
	}
	return len(path) == len(prefix) || strings.HasSuffix(prefix, "/") || path[len(prefix)] == '/'
}

// hostname returns the Host field without port, lower-cased.
func hostname(h string) string {
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.HasSuffix(h, "]") {
		h = h[:i]
	}
	return strings.ToLower(h)
}

func (p *policy) handle(req guest.Request, resp guest.Response) (bool, uint32) {
	host, _ := req.Header().Get("Host")
	uri := req.URI()
	path, query := guest.SplitURI(uri)
	method := req.Method()
	for i := range p.rules {
		r := &p.rules[i]
		if !r.matches(method, hostname(host), path) {
			continue
		}
		guest.Count(r.counter, 1)
		rest := path
		if r.StripPrefix {
			rest = "/" + strings.TrimLeft(path[len(r.Prefix):], "/")
		}
		switch {
		case r.Root != "":
			if r.StripPrefix {
				req.ServeFrom(r.Root, rest)
			} else {
				req.ServeFrom(r.Root, "")
			}
		case r.Upstream != "":
			if r.StripPrefix {
				if query != "" {
					rest += "?" + query
				}
				req.SetURI(rest)
			}
			req.ProxyTo(r.Upstream)
		case r.Forward:
			req.Forward()
		default:
			h := resp.Header()
			for name, v := range r.Headers {
				h.Set(name, v)
			}
			h.Set("Content-Type", r.ContentType)
			h.Set("Content-Length", strconv.Itoa(len(r.Body)))
			resp.SetStatusCode(r.Status)
			if r.Body != "" {
				resp.Body().WriteString(r.Body)
			}
			return false, 0
		}
		return true, 0
	}
	return true, 0
}
