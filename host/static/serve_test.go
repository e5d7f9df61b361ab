package static

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewValidates(t *testing.T) {
	root := makeRoot(t)
	_, err := New(Config{})
	assert.Error(t, err, "no root")
	_, err = New(Config{Root: filepath.Join(root, "missing")})
	assert.Error(t, err, "missing root")
	_, err = New(Config{Root: filepath.Join(root, "index.html")})
	assert.ErrorContains(t, err, "not a directory")
	_, err = New(Config{Root: root, Index: []string{"../x"}})
	assert.Error(t, err, "index with a slash")
	_, err = New(Config{Root: root, CompressTypes: []string{"text"}})
	assert.Error(t, err, "compress type without a slash")
	h, err := New(Config{Root: root})
	require.NoError(t, err)
	assert.NoError(t, h.Close())
}

func TestGetAndHead(t *testing.T) {
	modes(t, func(t *testing.T, fallback bool) {
		root := makeRoot(t)
		big := bytes.Repeat([]byte("0123456789abcdef"), 100<<10/16+3) // past smallBody: the os.File path
		write(t, root, "big.bin", string(big))
		h := newHandler(t, Config{Root: root}, fallback)

		for _, tt := range []struct {
			path, body string
		}{
			{"/about.html", fixture["about.html"]},
			{"/docs/readme.txt", fixture["docs/readme.txt"]},
			{"/big.bin", string(big)},
			{"/empty.txt", ""},
		} {
			t.Run(tt.path, func(t *testing.T) {
				res := get(t, h, "GET", tt.path)
				require.Equal(t, 200, res.StatusCode)
				assert.Equal(t, tt.body, res.body)
				assert.Equal(t, int64(len(tt.body)), res.ContentLength)
				assert.Equal(t, "bytes", res.Header.Get("Accept-Ranges"))
				assert.Regexp(t, `^"[0-9a-f]+-[0-9a-f]+-[0-9a-f]+"$`, res.Header.Get("ETag"))
				fi, err := os.Stat(filepath.Join(root, tt.path))
				require.NoError(t, err)
				st := fi.Sys().(*syscall.Stat_t)
				assert.Equal(t, fmt.Sprintf(`"%x-%x-%x"`, st.Ino, fi.Size(), fi.ModTime().UnixNano()), res.Header.Get("ETag"))
				assert.Equal(t, fi.ModTime().UTC().Format(http.TimeFormat), res.Header.Get("Last-Modified"))
				assert.Empty(t, res.Header.Get("Cache-Control"), "left to policy")

				head := get(t, h, "HEAD", tt.path)
				require.Equal(t, 200, head.StatusCode)
				assert.Empty(t, head.body)
				assert.True(t, bytes.HasSuffix([]byte(head.wire), []byte("\r\n\r\n")), "HEAD ends with its header")
				for _, k := range []string{"Content-Length", "Content-Type", "ETag", "Last-Modified", "Accept-Ranges"} {
					assert.Equal(t, res.Header.Get(k), head.Header.Get(k), k)
				}
			})
		}
	})
}

func TestETagChangesWithContent(t *testing.T) {
	root := makeRoot(t)
	h := newHandler(t, Config{Root: root}, false)
	first := get(t, h, "GET", "/about.html").Header.Get("ETag")
	write(t, root, "about.html", "changed, same name\n")
	second := get(t, h, "GET", "/about.html").Header.Get("ETag")
	assert.NotEqual(t, first, second)
}

func TestMIME(t *testing.T) {
	root := makeRoot(t)
	for name, content := range map[string]string{
		"a.css": "x", "a.JS": "x", "a.mjs": "x", "a.json": "{}", "a.svg": "<svg/>", "a.jpg": "x", "a.gif": "x",
		"a.webp": "x", "a.avif": "x", "a.ico": "x", "a.md": "x", "a.xml": "x", "a.wasm": "x", "a.woff": "x",
		"a.woff2": "x", "a.pdf": "x", "a.mp4": "x", "a.webm": "x", "a.zip": "x", "a.tar.gz": "x", "a.htm": "x",
		"noext-riff": "RIFF\x00\x00\x00\x00WEBPVP8 ", "noext-pdf": "%PDF-1.7\n", "noext-wasm": "\x00asm\x01\x00\x00\x00",
		"noext-utf8": "caf\xc3\xa9 cr\xc3\xa8me\n", "noext-latin1": "caf\xe9 cr\xe8me\n", "noext-xml": "<?xml version=\"1.0\"?><a/>",
		"noext-mp4": "\x00\x00\x00\x18ftypisom\x00\x00\x02\x00", "noext-empty": "",
	} {
		write(t, root, name, content)
	}
	h := newHandler(t, Config{Root: root}, false)
	for path, want := range map[string]string{
		"/index.html":      "text/html; charset=utf-8",
		"/a.htm":           "text/html; charset=utf-8",
		"/css/site.css":    "text/css; charset=utf-8",
		"/a.JS":            "text/javascript; charset=utf-8",
		"/a.mjs":           "text/javascript; charset=utf-8",
		"/a.json":          "application/json",
		"/a.svg":           "image/svg+xml",
		"/img/logo.png":    "image/png",
		"/a.jpg":           "image/jpeg",
		"/a.gif":           "image/gif",
		"/a.webp":          "image/webp",
		"/a.avif":          "image/avif",
		"/a.ico":           "image/x-icon",
		"/docs/readme.txt": "text/plain; charset=utf-8",
		"/a.md":            "text/markdown; charset=utf-8",
		"/a.xml":           "text/xml; charset=utf-8",
		"/a.wasm":          "application/wasm",
		"/a.woff":          "font/woff",
		"/a.woff2":         "font/woff2",
		"/a.pdf":           "application/pdf",
		"/a.mp4":           "video/mp4",
		"/a.webm":          "video/webm",
		"/a.zip":           "application/zip",
		"/a.tar.gz":        "application/gzip",
		"/noext-text":      "text/plain; charset=utf-8",
		"/noext-html":      "text/html; charset=utf-8",
		"/noext-png":       "image/png",
		"/noext-bin":       "application/octet-stream",
		"/noext-riff":      "image/webp",
		"/noext-pdf":       "application/pdf",
		"/noext-wasm":      "application/wasm",
		"/noext-utf8":      "text/plain; charset=utf-8",
		"/noext-latin1":    "application/octet-stream",
		"/noext-xml":       "text/xml; charset=utf-8",
		"/noext-mp4":       "video/mp4",
		"/noext-empty":     "text/plain; charset=utf-8",
	} {
		res := get(t, h, "HEAD", path)
		assert.Equal(t, 200, res.StatusCode, path)
		assert.Equal(t, want, res.Header.Get("Content-Type"), path)
	}
}

func TestSniff(t *testing.T) {
	for in, want := range map[string]string{
		"\xef\xbb\xbfhello":          "text/plain; charset=utf-8",
		"\xff\xfeh\x00i\x00":         "text/plain; charset=utf-16",
		"<HTML><BODY>":               "text/html; charset=utf-8",
		"<a href=x>":                 "text/html; charset=utf-8",
		"<abc>":                      "text/plain; charset=utf-8",
		"BMW cars are nice":          "text/plain; charset=utf-8",
		"GIF89a......":               "image/gif",
		"\x1f\x8b\x08\x00":           "application/gzip",
		"\x1a\x45\xdf\xa3":           "video/webm",
		"abc\x00def":                 "application/octet-stream",
		"tab\tnewline\nformfeed\x0c": "text/plain; charset=utf-8",
		string(bytes.Repeat([]byte("é"), 300))[:511]: "text/plain; charset=utf-8", // a rune cut by the window
	} {
		assert.Equal(t, want, sniff([]byte(in)), "%q", in)
	}
}

func TestDirectories(t *testing.T) {
	modes(t, func(t *testing.T, fallback bool) {
		root := makeRoot(t)
		h := newHandler(t, Config{Root: root}, fallback)

		res := get(t, h, "GET", "/docs")
		assert.Equal(t, 301, res.StatusCode)
		assert.Equal(t, "/docs/", res.Header.Get("Location"))

		res = get(t, h, "GET", "/docs?sort=size&order=desc")
		assert.Equal(t, 301, res.StatusCode)
		assert.Equal(t, "/docs/?sort=size&order=desc", res.Header.Get("Location"), "query preserved")

		res = get(t, h, "HEAD", "/docs/archive")
		assert.Equal(t, 301, res.StatusCode)
		assert.Equal(t, "/docs/archive/", res.Header.Get("Location"))

		res = get(t, h, "GET", "//evil.com")
		assert.Equal(t, 301, res.StatusCode)
		assert.Equal(t, "/evil.com/", res.Header.Get("Location"), "never protocol-relative")

		res = get(t, h, "GET", "/")
		assert.Equal(t, 200, res.StatusCode)
		assert.Equal(t, fixture["index.html"], res.body)
		assert.Equal(t, "text/html; charset=utf-8", res.Header.Get("Content-Type"))

		res = get(t, h, "GET", "/docs/")
		assert.Equal(t, 403, res.StatusCode, "no index, listings off")
		assert.Contains(t, res.body, "listings are disabled")

		hl := newHandler(t, Config{Root: root, Listing: true}, fallback)
		res = get(t, hl, "GET", "/docs/")
		assert.Equal(t, 200, res.StatusCode)
		assert.Contains(t, res.body, "readme.txt")

		// Index names are tried in order; a directory named like an index
		// is skipped.
		write(t, root, "multi/default.htm", "second choice\n")
		require.NoError(t, os.Mkdir(filepath.Join(root, "multi", "index.html"), 0o755))
		hi := newHandler(t, Config{Root: root, Index: []string{"index.html", "default.htm"}}, fallback)
		res = get(t, hi, "GET", "/multi/")
		assert.Equal(t, 200, res.StatusCode)
		assert.Equal(t, "second choice\n", res.body)
		assert.Equal(t, "text/html; charset=utf-8", res.Header.Get("Content-Type"), "typed by the index's name")
	})
}

func TestDotfiles(t *testing.T) {
	h := newHandler(t, Config{Listing: true, Index: []string{}}, false)
	for path, status := range map[string]int{
		"/.env":                     403,
		"/.git/config":              403,
		"/.git/":                    403,
		"/%2eenv":                   403,
		"/.well-known/security.txt": 200,
	} {
		res := get(t, h, "GET", path)
		assert.Equal(t, status, res.StatusCode, path)
		if status == 403 {
			assert.Contains(t, res.body, "hidden", "the refusal says why")
		}
	}
	res := get(t, h, "GET", "/", "Accept: application/json")
	assert.NotContains(t, res.body, ".env")
	assert.NotContains(t, res.body, ".git")
	assert.Contains(t, res.body, ".well-known")
}

func TestSpecialFilesRefused(t *testing.T) {
	root := makeRoot(t)
	require.NoError(t, syscall.Mkfifo(filepath.Join(root, "fifo"), 0o644))
	h := newHandler(t, Config{Root: root}, false)
	done := make(chan result, 1)
	go func() { done <- get(t, h, "GET", "/fifo") }()
	select {
	case res := <-done:
		assert.Equal(t, 403, res.StatusCode, "a FIFO is not served, and does not hang the handler")
	case <-time.After(5 * time.Second):
		t.Fatal("GET of a FIFO hung")
	}
}

func TestOptionsAnd405(t *testing.T) {
	ro := newHandler(t, Config{}, false)
	rw := newHandler(t, Config{Writes: true}, false)

	res := get(t, ro, "OPTIONS", "/index.html")
	assert.Equal(t, 204, res.StatusCode)
	assert.Equal(t, "GET, HEAD, OPTIONS", res.Header.Get("Allow"))

	res = serve(t, ro, "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n")
	assert.Equal(t, 204, res.StatusCode)
	assert.Equal(t, "GET, HEAD, OPTIONS", res.Header.Get("Allow"))

	res = get(t, rw, "OPTIONS", "/index.html")
	assert.Equal(t, "GET, HEAD, OPTIONS, PUT, POST, DELETE", res.Header.Get("Allow"))
	res = serve(t, rw, "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n")
	assert.Equal(t, "GET, HEAD, OPTIONS, PUT, POST, DELETE", res.Header.Get("Allow"))

	for _, method := range []string{"PUT", "POST", "DELETE"} {
		res = serve(t, ro, withBody(method, "/index.html", "x"))
		assert.Equal(t, 405, res.StatusCode, method)
		assert.Equal(t, "GET, HEAD, OPTIONS", res.Header.Get("Allow"), method)
		assert.Contains(t, res.body, "writes are disabled")
	}
	assert.Equal(t, fixture["index.html"], get(t, ro, "GET", "/index.html").body, "untouched")

	for _, method := range []string{"PATCH", "TRACE", "PROPFIND", "get"} {
		res = get(t, rw, method, "/index.html")
		assert.Equal(t, 405, res.StatusCode, method)
		assert.Equal(t, "GET, HEAD, OPTIONS, PUT, POST, DELETE", res.Header.Get("Allow"), method)
	}
	res = serve(t, ro, "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
	assert.Equal(t, 405, res.StatusCode)
	assert.Equal(t, "GET, HEAD, OPTIONS", res.Header.Get("Allow"))
}

func TestAbsoluteFormTarget(t *testing.T) {
	h := newHandler(t, Config{}, false)
	res := serve(t, h, "GET http://a/about.html HTTP/1.1\r\nHost: a\r\n\r\n")
	assert.Equal(t, 200, res.StatusCode)
	assert.Equal(t, fixture["about.html"], res.body)
}

// TestClientsSeeSameBytesAsDisk covers both body paths (pread into the
// buffer, and the os.File handed to ReadFrom) at their boundaries.
func TestClientsSeeSameBytesAsDisk(t *testing.T) {
	root := makeRoot(t)
	rng := rand.New(rand.NewPCG(3, 4))
	sizes := []int{1, smallBody - 1, smallBody, smallBody + 1, 8 << 10, 1 << 20}
	for _, size := range sizes {
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(rng.UintN(256))
		}
		write(t, root, "f"+strconv.Itoa(size)+".bin", string(data))
	}
	h := newHandler(t, Config{Root: root}, false)
	for _, size := range sizes {
		want := readFile(t, root, "f"+strconv.Itoa(size)+".bin")
		res := get(t, h, "GET", "/f"+strconv.Itoa(size)+".bin")
		require.Equal(t, 200, res.StatusCode)
		assert.True(t, res.body == want, "body of %d bytes matches", size)
	}
}

func TestErrorsDoNotLeakPaths(t *testing.T) {
	root := makeRoot(t)
	h := newHandler(t, Config{Root: root}, false)
	res := get(t, h, "GET", "/nope/x.html")
	assert.Equal(t, 404, res.StatusCode)
	assert.Equal(t, "no such file: /nope/x.html\n", res.body)
	assert.Equal(t, "nosniff", res.Header.Get("X-Content-Type-Options"))
	assert.NotRegexp(t, regexp.MustCompile(regexp.QuoteMeta(root)), res.body)
}
