package static

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"wasmhttpd/host/http1"
)

func TestResolve(t *testing.T) {
	tests := []struct {
		in       string
		rel      string
		dirSlash bool
		status   int // 0: resolves
	}{
		{"/", ".", true, 0},
		{"/index.html", "index.html", false, 0},
		{"/a/b/c.txt", "a/b/c.txt", false, 0},
		{"/a/b/", "a/b", true, 0},
		{"//a///b", "a/b", false, 0},
		{"/./a/./b/.", "a/b", false, 0},
		{"/a%20b.txt", "a b.txt", false, 0},
		{"/%41%62c", "Abc", false, 0},
		{"/caf%C3%A9", "café", false, 0},
		{"/.well-known/acme", ".well-known/acme", false, 0},
		{"/a..b", "a..b", false, 0},
		{"/...", "", false, 403},
		{"/../etc/passwd", "", false, 400},
		{"/a/../b", "", false, 400},
		{"/%2e%2e/etc/passwd", "", false, 400},
		{"/%2E%2e", "", false, 400},
		{"/..", "", false, 400},
		{"/a%2fb", "", false, 400},
		{"/a%2F..%2F..%2Fetc", "", false, 400},
		{"/a\\b", "", false, 400},
		{"/a%5cb", "", false, 400},
		{"/..%5c..%5cetc", "", false, 400},
		{"/%00", "", false, 400},
		{"/a%00.html", "", false, 400},
		{"/a%0d%0aSet-Cookie:x", "", false, 400},
		{"/%7f", "", false, 400},
		{"/%zz", "", false, 400},
		{"/%", "", false, 400},
		{"/%4", "", false, 400},
		{"/.env", "", false, 403},
		{"/.git/config", "", false, 403},
		{"/a/.hidden/b", "", false, 403},
		{"/%2egit/config", "", false, 403},
		{"", "", false, 400},
		{"a/b", "", false, 400},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			rel, dirSlash, err := resolve(nil, []byte(tt.in))
			if tt.status != 0 {
				require.NotNil(t, err, "refused")
				assert.Equal(t, tt.status, err.status)
				return
			}
			require.Nil(t, err)
			assert.Equal(t, tt.rel, string(rel))
			assert.Equal(t, tt.dirSlash, dirSlash)
		})
	}
}

func TestAppendURLPath(t *testing.T) {
	for rel, want := range map[string]string{
		".":                 "/",
		"a":                 "/a",
		"docs/r&d.txt":      "/docs/r%26d.txt",
		"a b/\"x\" <y>.txt": "/a%20b/%22x%22%20%3Cy%3E.txt",
		"post(1).txt":       "/post(1).txt",
		"a&b;c=d@e+f":       "/a%26b%3Bc=d@e+f",
		"q?#":               "/q%3F%23",
		"evil.com":          "/evil.com",
		"a:b":               "/a%3Ab",
		"100%":              "/100%25",
	} {
		assert.Equal(t, want, string(appendURLPath(nil, []byte(rel))), rel)
	}
}

// TestTraversal sends hostile paths through the whole handler.
func TestTraversal(t *testing.T) {
	modes(t, func(t *testing.T, fallback bool) {
		base := t.TempDir()
		root := filepath.Join(base, "www")
		require.NoError(t, os.MkdirAll(root, 0o755))
		write(t, base, "secret.txt", "secret\n")
		write(t, root, "inside.txt", "inside\n")
		write(t, root, "sub/deep.txt", "deep\n")
		require.NoError(t, os.Symlink(filepath.Join(base, "secret.txt"), filepath.Join(root, "abs-out.txt")))
		require.NoError(t, os.Symlink("../secret.txt", filepath.Join(root, "rel-out.txt")))
		require.NoError(t, os.Symlink(base, filepath.Join(root, "outdir")))
		require.NoError(t, os.Symlink("inside.txt", filepath.Join(root, "alias.txt")))
		require.NoError(t, os.Symlink("../inside.txt", filepath.Join(root, "sub", "up.txt")))
		require.NoError(t, os.Symlink("sub", filepath.Join(root, "subalias")))
		require.NoError(t, os.Symlink("loop", filepath.Join(root, "loop")))
		h := newHandler(t, Config{Root: root, Listing: true}, fallback)

		tests := []struct {
			target string
			status int
			body   string
		}{
			{"/inside.txt", 200, "inside\n"},
			{"/../secret.txt", 400, ""},
			{"/../../../../etc/passwd", 400, ""},
			{"/%2e%2e/secret.txt", 400, ""},
			{"/sub/..%2f..%2fsecret.txt", 400, ""},
			{"/sub%2f..%2f..%2fsecret.txt", 400, ""},
			{"/a%2fb", 400, ""},
			{"/..\\secret.txt", 400, ""},
			{"/%00", 400, ""},
			{"/inside.txt%00.html", 400, ""},
			{"/%zz", 400, ""},
			{"/abs-out.txt", 403, ""},
			{"/rel-out.txt", 403, ""},
			{"/outdir/secret.txt", 403, ""},
			{"/outdir/", 403, ""},
			{"/alias.txt", 200, "inside\n"},
			{"/sub/up.txt", 200, "inside\n"},
			{"/subalias/deep.txt", 200, "deep\n"},
			{"/loop", 403, ""},
			{"/missing.txt", 404, ""},
			{"/inside.txt/", 404, ""},
			{"/inside.txt/x", 404, ""},
		}
		for _, tt := range tests {
			t.Run(tt.target, func(t *testing.T) {
				res := get(t, h, "GET", tt.target)
				assert.Equal(t, tt.status, res.StatusCode, res.body)
				if tt.status == 200 {
					assert.Equal(t, tt.body, res.body)
				} else {
					assert.NotContains(t, res.body, "secret\n")
					assert.NotContains(t, res.body, base, "no server path in the reason")
					assert.Equal(t, "text/plain; charset=utf-8", res.Header.Get("Content-Type"))
					assert.NotEmpty(t, strings.TrimSpace(res.body), "a reason is given")
				}
			})
		}

		// The listing leaves out links it could not serve.
		res := get(t, h, "GET", "/")
		require.Equal(t, 200, res.StatusCode)
		assert.Contains(t, res.body, `href="alias.txt"`)
		assert.NotContains(t, res.body, "abs-out.txt")
		assert.NotContains(t, res.body, "outdir")
	})
}

// FuzzResolve checks that whatever the request path, a resolved path is
// relative, free of dot-dot, NUL and backslash, and lands inside the
// root when joined to it.
func FuzzResolve(f *testing.F) {
	for _, seed := range []string{"/", "/a/b", "/../x", "/%2e%2e/", "/a%2fb", "/a\\b", "/%00", "/.env",
		"/.well-known/x", "//x//y/", "/./.", "/%", "/%c3%a9"} {
		f.Add([]byte(seed))
	}
	const root = "/srv/www"
	f.Fuzz(func(t *testing.T, p []byte) {
		rel, _, err := resolve(nil, p)
		if err != nil {
			if err.status != 400 && err.status != 403 {
				t.Fatalf("%q: status %d", p, err.status)
			}
			return
		}
		s := string(rel)
		if s != "." && !filepath.IsLocal(s) {
			t.Fatalf("%q resolved to non-local %q", p, s)
		}
		if strings.ContainsAny(s, "\x00\\") {
			t.Fatalf("%q resolved to %q with NUL or backslash", p, s)
		}
		for _, seg := range strings.Split(s, "/") {
			if seg == ".." || seg == "" || (seg != "." && seg[0] == '.' && seg != wellKnown) {
				t.Fatalf("%q resolved to %q with segment %q", p, s, seg)
			}
		}
		joined := filepath.Join(root, s)
		if joined != root && !strings.HasPrefix(joined, root+"/") {
			t.Fatalf("%q escapes: %q", p, joined)
		}
	})
}

// FuzzServePath sends arbitrary request paths through the whole handler
// over a root with links pointing out of it: no response may carry the
// bytes of the file outside, and none may be a 500.
func FuzzServePath(f *testing.F) {
	base := f.TempDir()
	root := filepath.Join(base, "www")
	write(f, base, "secret.txt", "TOP-SECRET")
	write(f, root, "a/b.txt", "b")
	write(f, root, "index.html", "home")
	if err := os.Symlink(filepath.Join(base, "secret.txt"), filepath.Join(root, "abs")); err != nil {
		f.Fatal(err)
	}
	if err := os.Symlink("../../secret.txt", filepath.Join(root, "a", "rel")); err != nil {
		f.Fatal(err)
	}
	if err := os.Symlink("..", filepath.Join(root, "a", "up")); err != nil {
		f.Fatal(err)
	}
	h, err := New(Config{Root: root, Listing: true})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { h.Close() })
	for _, seed := range []string{"/a/b.txt", "/abs", "/a/rel", "/a/up/up/secret.txt", "/a/up/a/up/abs", "/%2e%2e/secret.txt"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if strings.ContainsAny(p, " \r\n") {
			return
		}
		raw := "GET " + p + " HTTP/1.1\r\nHost: a\r\n\r\n"
		r := http1.NewReader(bufio.NewReader(strings.NewReader(raw)), io.Discard, http1.Limits{})
		var req http1.Request
		if r.ReadRequest(&req) != nil || req.Form != http1.OriginForm {
			return
		}
		var out bytes.Buffer
		w := http1.NewResponseWriter(bufio.NewWriter(&out), &out)
		w.Reset(&req)
		h.Serve(&http1.Exchange{Request: &req, Response: w})
		w.Finish()
		if strings.Contains(out.String(), "TOP-SECRET") {
			t.Fatalf("%q leaked the outside file:\n%s", p, out.String())
		}
		if w.Status() >= 500 {
			t.Fatalf("%q: status %d:\n%s", p, w.Status(), out.String())
		}
	})
}
