package static

import (
	"bufio"
	"bytes"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wasmhttpd/host/http1"
)

// fixture files, relative to the root.
var fixture = map[string]string{
	"index.html":               "<!doctype html><title>home</title>\n",
	"about.html":               "<!doctype html><title>about</title>\n",
	"docs/readme.txt":          "read me\n",
	"docs/r&d.txt":             "research\n",
	"docs/archive/old.txt":     "old\n",
	"noindex/a.txt":            "a\n",
	"noext-text":               "just some words\nand more\n",
	"noext-html":               "  <!DOCTYPE html><p>hi</p>",
	".env":                     "SECRET=1\n",
	".git/config":              "[core]\n",
	".well-known/security.txt": "Contact: mailto:x@example.org\n",
	"empty.txt":                "",
	"evil.com/index.html":      "not a redirect target\n",
}

// pngBytes is the start of a real PNG (signature and IHDR).
var pngBytes = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89")

// siteCSS is compressible and above the default minimum size.
var siteCSS = strings.Repeat("body { color: #333; margin: 0 auto; }\n", 40)

// makeRoot writes the fixture into a new directory and returns its path.
func makeRoot(t testing.TB) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "www")
	for name, content := range fixture {
		write(t, root, name, content)
	}
	write(t, root, "css/site.css", siteCSS)
	write(t, root, "img/logo.png", string(pngBytes))
	write(t, root, "noext-png", string(pngBytes))
	write(t, root, "noext-bin", "\x00\x01\x02\x03binary\x00")
	data := make([]byte, 10000)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(rng.UintN(256))
	}
	write(t, root, "data.bin", string(data))
	return root
}

func write(t testing.TB, root, name, content string) {
	t.Helper()
	p := filepath.Join(root, filepath.FromSlash(name))
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
}

func readFile(t testing.TB, root, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(name)))
	require.NoError(t, err)
	return string(b)
}

// touch sets a file's modification time.
func touch(t testing.TB, root, name string, mtime time.Time) {
	t.Helper()
	require.NoError(t, os.Chtimes(filepath.Join(root, filepath.FromSlash(name)), mtime, mtime))
}

// newHandler returns a Handler over root (a fresh fixture when empty).
// fallback switches reads to os.Root, as on a kernel without openat2.
func newHandler(t testing.TB, cfg Config, fallback bool) *Handler {
	t.Helper()
	if cfg.Root == "" {
		cfg.Root = makeRoot(t)
	}
	h, err := New(cfg)
	require.NoError(t, err)
	if fallback {
		h.closeRootFD()
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// modes runs f once per way of opening files.
func modes(t *testing.T, f func(t *testing.T, fallback bool)) {
	t.Run("openat2", func(t *testing.T) { f(t, false) })
	t.Run("os.Root", func(t *testing.T) { f(t, true) })
}

// result is a parsed response.
type result struct {
	*http.Response
	body    string
	wire    string // everything written to the connection
	cont    string // what went out as 100 Continue
	readErr error  // the error the handler met reading the request, if any
}

// serve feeds raw (a request head, and body) through http1 into h and
// parses what h wrote with net/http as an independent client would.
func serve(t testing.TB, h http1.Handler, raw string) result {
	t.Helper()
	return serveLimits(t, h, raw, http1.Limits{})
}

func serveLimits(t testing.TB, h http1.Handler, raw string, limits http1.Limits) result {
	t.Helper()
	var cont bytes.Buffer
	r := http1.NewReader(bufio.NewReader(strings.NewReader(raw)), &cont, limits)
	var req http1.Request
	require.NoError(t, r.ReadRequest(&req), "request parses")
	var out bytes.Buffer
	w := http1.NewResponseWriter(bufio.NewWriter(&out), &out)
	w.Reset(&req)
	h.Serve(&http1.Exchange{Request: &req, Response: w})
	w.Finish()
	wire := out.String()
	resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(wire)), &http.Request{Method: req.Method})
	require.NoError(t, err, "response parses: %q", wire)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err, "body reads: %q", wire)
	return result{Response: resp, body: string(body), wire: wire, cont: cont.String(), readErr: req.Body.Err()}
}

// parseRequest parses a GET with the given header lines.
func parseRequest(t testing.TB, headers ...string) *http1.Request {
	t.Helper()
	raw := "GET / HTTP/1.1\r\nHost: a\r\n" + strings.Join(headers, "\r\n")
	if len(headers) > 0 {
		raw += "\r\n"
	}
	r := http1.NewReader(bufio.NewReader(strings.NewReader(raw+"\r\n")), io.Discard, http1.Limits{})
	req := new(http1.Request)
	require.NoError(t, r.ReadRequest(req))
	return req
}

// get is serve for a bodiless request with extra header lines
// ("Name: value").
func get(t testing.TB, h http1.Handler, method, target string, headers ...string) result {
	t.Helper()
	var b strings.Builder
	b.WriteString(method + " " + target + " HTTP/1.1\r\nHost: a\r\n")
	for _, hl := range headers {
		b.WriteString(hl + "\r\n")
	}
	b.WriteString("\r\n")
	return serve(t, h, b.String())
}

// withBody builds a request with a Content-Length body.
func withBody(method, target, body string, headers ...string) string {
	var b strings.Builder
	b.WriteString(method + " " + target + " HTTP/1.1\r\nHost: a\r\n")
	for _, hl := range headers {
		b.WriteString(hl + "\r\n")
	}
	b.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body)
	return b.String()
}

// tempFiles lists the writers' temporary files left under root.
func tempFiles(t testing.TB, root string) []string {
	t.Helper()
	var names []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.Contains(d.Name(), ".tmp-") {
			names = append(names, p)
		}
		return nil
	})
	return names
}
