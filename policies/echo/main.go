// Command echo is a wasmhttpd policy with the classic toy-server
// endpoints, answered by the guest itself:
//
//	GET /echo/{text}    200 text/plain, body {text} (percent-decoded);
//	                    gzip-encoded when Accept-Encoding allows gzip
//	GET /user-agent     200 text/plain, body the User-Agent value
//	GET /files/{name}   the file {name} of the root files_root
//	POST /files/{name}  stores the body as {name} there (201 Created;
//	                    an existing name gets "name(1)" and so on)
//
// /files is routed with wasmhttpd_v1's route_static: the host does the
// file I/O, with everything its static handler knows (ranges, validators,
// sendfile; writes need writes = true on the root). Every other request
// passes on (next=1).
//
// Configuration (unknown keys are refused, like every policy here):
//
//	files_root = "files"   # a [roots.NAME] of the host; "" (default) leaves /files/ alone
package main

import (
	"bytes"
	"compress/gzip"
	"net/url"
	"strconv"
	"strings"

	"wasmhttpd/guest"
)

func main() {}

func init() { guest.HandleConfigured("echo", newPolicy) }

// Config is the policy configuration.
type Config struct {
	FilesRoot string `json:"files_root"`
}

type policy struct {
	guest.RequestOnly
	filesRoot string
	zbuf      bytes.Buffer
	zw        *gzip.Writer // reused: a gzip.Writer costs ~800 KB to allocate
}

func newPolicy(raw []byte) (*policy, error) {
	var cfg Config
	if err := guest.DecodeJSON(raw, &cfg); err != nil {
		return nil, err
	}
	return &policy{filesRoot: cfg.FilesRoot}, nil
}

// filesPrefix is where the files route starts.
const filesPrefix = "/files/"

// HandleRequest implements guest.Handler.
func (p *policy) HandleRequest(req guest.Request, resp guest.Response) (bool, uint32) {
	path := req.Path()
	method := req.Method()
	if p.filesRoot != "" && strings.HasPrefix(path, filesPrefix) && (method == "GET" || method == "HEAD" || method == "POST") {
		// The rest of the path, still percent-encoded: the host decodes
		// and confines it to the root as it does every request path.
		req.ServeFrom(p.filesRoot, path[len(filesPrefix)-1:])
		return true, 0
	}
	if method != "GET" {
		return true, 0
	}
	switch {
	case strings.HasPrefix(path, "/echo/"):
		text := path[len("/echo/"):]
		if t, err := url.PathUnescape(text); err == nil {
			text = t
		}
		ae := strings.Join(req.Header().Values("Accept-Encoding"), ",")
		p.answer(resp, text, acceptsGzip(ae))
	case path == "/user-agent":
		ua, _ := req.Header().Get("User-Agent")
		p.answer(resp, ua, false)
	default:
		return true, 0
	}
	return false, 0
}

// answer writes a 200 text/plain body, gzip-encoded when asked.
func (p *policy) answer(resp guest.Response, body string, gz bool) {
	h := resp.Header()
	resp.SetStatusCode(200)
	h.Set("Content-Type", "text/plain")
	b := []byte(body)
	if gz {
		p.zbuf.Reset()
		if p.zw == nil {
			p.zw = gzip.NewWriter(&p.zbuf)
		} else {
			p.zw.Reset(&p.zbuf)
		}
		_, _ = p.zw.Write(b)
		_ = p.zw.Close()
		b = p.zbuf.Bytes()
		h.Set("Content-Encoding", "gzip")
	}
	// The body differs by Accept-Encoding only on /echo, but saying so
	// on every answer is harmless and keeps caches honest.
	h.Set("Vary", "Accept-Encoding")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	_, _ = resp.Body().Write(b)
}

// acceptsGzip reports whether an Accept-Encoding value allows gzip
// (RFC 9110 §12.5.3): "gzip" or its alias "x-gzip" with q>0, or "*" with
// q>0 when gzip is not listed itself.
func acceptsGzip(v string) bool {
	star, listed, ok := false, false, false
	for _, item := range strings.Split(v, ",") {
		coding, params, _ := strings.Cut(item, ";")
		coding = strings.ToLower(strings.TrimSpace(coding))
		q := qvalue(params)
		switch coding {
		case "gzip", "x-gzip":
			listed = true
			ok = ok || q > 0
		case "*":
			star = q > 0
		}
	}
	if listed {
		return ok
	}
	return star
}

// qvalue returns the q parameter of ";q=0.5"-style params, 1 when absent,
// 0 when malformed (a coding we cannot read is not one we may use).
func qvalue(params string) float64 {
	for _, prm := range strings.Split(params, ";") {
		k, val, _ := strings.Cut(strings.TrimSpace(prm), "=")
		if strings.EqualFold(strings.TrimSpace(k), "q") {
			f, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
			if err != nil || f < 0 || f > 1 {
				return 0
			}
			return f
		}
	}
	return 1
}
