package e2e

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPathContainment(t *testing.T) {
	inst := startServer(t, defaultConfig(""))
	outside := filepath.Join(inst.dir, "secret.txt")
	require.NoError(t, os.WriteFile(outside, []byte("secret"), 0o644))
	require.NoError(t, os.Symlink(outside, filepath.Join(inst.dir, "www", "escape.txt")))
	require.NoError(t, os.Symlink("about.html", filepath.Join(inst.dir, "www", "alias.html")))

	tests := []struct {
		target string
		status int
	}{
		{"/../secret.txt", 400},
		{"/%2e%2e/secret.txt", 400},
		{"/docs/..%2f..%2fsecret.txt", 400},
		{"/docs%2f..%2f..%2fsecret.txt", 400},
		{"/..\\secret.txt", 400},
		{"/%00", 400},
		{"/%zz", 400},
		{"/escape.txt", 403},
		{"/alias.html", 200},
		{"/docs/../about.html", 400},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			resp, body := inst.raw("GET "+tt.target+" HTTP/1.1\r\nHost: a\r\n\r\n", "GET")
			assert.Equal(t, tt.status, resp.StatusCode, body)
			assert.NotContains(t, body, "secret\n")
			assert.NotContains(t, body, inst.dir, "no server paths leak")
		})
	}
}

func TestIndexMIMEAndValidators(t *testing.T) {
	inst := startServer(t, defaultConfig(""))

	resp, body := get(t, "GET", inst.url("/"), nil)
	require.Equal(t, 200, resp.StatusCode)
	index, err := os.ReadFile("../www/index.html")
	require.NoError(t, err)
	assert.Equal(t, string(index), body, "/ serves index.html")
	assert.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"))

	for path, ctype := range map[string]string{
		"/css/site.css":    "text/css; charset=utf-8",
		"/img/logo.png":    "image/png",
		"/js/app.js":       "text/javascript; charset=utf-8",
		"/docs/readme.txt": "text/plain; charset=utf-8",
	} {
		resp, _ := get(t, "HEAD", inst.url(path), nil)
		assert.Equal(t, 200, resp.StatusCode, path)
		assert.Equal(t, ctype, resp.Header.Get("Content-Type"), path)
	}

	resp, _ = get(t, "GET", inst.url("/docs"), nil)
	assert.Equal(t, 301, resp.StatusCode)
	assert.Equal(t, "/docs/", resp.Header.Get("Location"))

	resp, _ = get(t, "GET", inst.url("/about.html"), nil)
	etag, modified := resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
	require.Regexp(t, `^"[0-9a-f-]+"$`, etag, "a strong ETag")
	require.NotEmpty(t, modified)

	tests := []struct {
		name    string
		method  string
		headers []string
		status  int
	}{
		{"if-none-match hit", "GET", []string{"If-None-Match", etag}, 304},
		{"if-none-match list", "GET", []string{"If-None-Match", `"x", ` + etag}, 304},
		{"if-none-match weak", "GET", []string{"If-None-Match", "W/" + etag}, 304},
		{"if-none-match star", "GET", []string{"If-None-Match", "*"}, 304},
		{"if-none-match miss", "GET", []string{"If-None-Match", `"nope"`}, 200},
		{"if-modified-since", "GET", []string{"If-Modified-Since", modified}, 304},
		{"inm beats ims", "GET", []string{"If-None-Match", `"nope"`, "If-Modified-Since", modified}, 200},
		{"if-match miss", "GET", []string{"If-Match", `"nope"`}, 412},
		{"if-match weak never matches", "GET", []string{"If-Match", "W/" + etag}, 412},
		{"if-match hit", "GET", []string{"If-Match", etag}, 200},
		{"if-unmodified-since past", "GET", []string{"If-Unmodified-Since", "Sat, 01 Jan 2000 00:00:00 GMT"}, 412},
		{"if-unmodified-since now", "GET", []string{"If-Unmodified-Since", modified}, 200},
		{"bad date ignored", "GET", []string{"If-Modified-Since", "yesterday"}, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := get(t, tt.method, inst.url("/about.html"), nil, tt.headers...)
			assert.Equal(t, tt.status, resp.StatusCode)
			if tt.status == 304 {
				assert.Empty(t, body)
				assert.Equal(t, etag, resp.Header.Get("ETag"))
			}
		})
	}
}

func TestRanges(t *testing.T) {
	inst := startServer(t, defaultConfig(""))
	data := make([]byte, 10000)
	rand.Read(data)
	require.NoError(t, os.WriteFile(filepath.Join(inst.dir, "www", "data.bin"), data, 0o644))

	resp, body := get(t, "GET", inst.url("/data.bin"), nil, "Range", "bytes=100-199")
	assert.Equal(t, 206, resp.StatusCode)
	assert.Equal(t, "bytes 100-199/10000", resp.Header.Get("Content-Range"))
	assert.Equal(t, data[100:200], []byte(body))

	resp, body = get(t, "GET", inst.url("/data.bin"), nil, "Range", "bytes=-500")
	assert.Equal(t, 206, resp.StatusCode)
	assert.Equal(t, data[9500:], []byte(body))

	resp, body = get(t, "GET", inst.url("/data.bin"), nil, "Range", "bytes=9990-")
	assert.Equal(t, 206, resp.StatusCode)
	assert.Equal(t, data[9990:], []byte(body))

	resp, body = get(t, "GET", inst.url("/data.bin"), nil, "Range", "bytes=0-9,5000-5009")
	require.Equal(t, 206, resp.StatusCode)
	mediaType, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	require.NoError(t, err)
	assert.Equal(t, "multipart/byteranges", mediaType)
	mr := multipart.NewReader(strings.NewReader(body), params["boundary"])
	for _, want := range []struct {
		from, to int
	}{{0, 9}, {5000, 5009}} {
		part, err := mr.NextPart()
		require.NoError(t, err)
		assert.Equal(t, fmt.Sprintf("bytes %d-%d/10000", want.from, want.to), part.Header.Get("Content-Range"))
		got, _ := io.ReadAll(part)
		assert.Equal(t, data[want.from:want.to+1], got)
	}
	_, err = mr.NextPart()
	assert.ErrorIs(t, err, io.EOF)
	assert.Equal(t, int64(len(body)), resp.ContentLength, "multipart length is exact")

	resp, _ = get(t, "GET", inst.url("/data.bin"), nil, "Range", "bytes=20000-")
	assert.Equal(t, 416, resp.StatusCode)
	assert.Equal(t, "bytes */10000", resp.Header.Get("Content-Range"))

	resp, body = get(t, "GET", inst.url("/data.bin"), nil, "Range", "bytes=0-9", "If-Range", `"stale"`)
	assert.Equal(t, 200, resp.StatusCode, "If-Range mismatch sends the whole file")
	assert.Len(t, body, 10000)
}

func TestCompression(t *testing.T) {
	inst := startServer(t, defaultConfig(""))
	css, err := os.ReadFile("../www/css/site.css")
	require.NoError(t, err)

	resp, body := get(t, "GET", inst.url("/css/site.css"), nil, "Accept-Encoding", "br;q=0.5, gzip")
	require.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "gzip", resp.Header.Get("Content-Encoding"))
	assert.Contains(t, resp.Header.Values("Vary"), "Accept-Encoding")
	zr, err := gzip.NewReader(strings.NewReader(body))
	require.NoError(t, err)
	plain, err := io.ReadAll(zr)
	require.NoError(t, err)
	assert.Equal(t, css, plain)
	gzipETag := resp.Header.Get("ETag")

	resp, body = get(t, "GET", inst.url("/css/site.css"), nil, "Accept-Encoding", "gzip;q=0, identity")
	assert.Empty(t, resp.Header.Get("Content-Encoding"))
	assert.Equal(t, string(css), body)
	assert.Contains(t, resp.Header.Values("Vary"), "Accept-Encoding")
	assert.NotEqual(t, gzipETag, resp.Header.Get("ETag"), "each representation has its own ETag")

	resp, _ = get(t, "GET", inst.url("/css/site.css"), nil, "Accept-Encoding", "gzip", "If-None-Match", gzipETag)
	assert.Equal(t, 304, resp.StatusCode)

	resp, _ = get(t, "GET", inst.url("/img/logo.png"), nil, "Accept-Encoding", "gzip")
	assert.Empty(t, resp.Header.Get("Content-Encoding"), "images are not compressed")

	// A fresh precompressed sidecar is preferred and served as is.
	sidecar := filepath.Join(inst.dir, "www", "css", "site.css.gz")
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.Write(css)
	zw.Close()
	require.NoError(t, os.WriteFile(sidecar, buf.Bytes(), 0o644))
	resp, body = get(t, "GET", inst.url("/css/site.css"), nil, "Accept-Encoding", "gzip")
	assert.Equal(t, "gzip", resp.Header.Get("Content-Encoding"))
	assert.Equal(t, buf.String(), body, "the sidecar's bytes")
	assert.Equal(t, int64(buf.Len()), resp.ContentLength)
}

func TestDirectoryListing(t *testing.T) {
	inst := startServer(t, defaultConfig(""))
	resp, body := get(t, "GET", inst.url("/docs/"), nil)
	require.Equal(t, 200, resp.StatusCode)
	assert.Contains(t, resp.Header.Get("Content-Type"), "text/html")
	assert.Contains(t, body, "readme.txt")
	assert.Contains(t, body, `href="archive/"`)
	assert.Contains(t, body, `href="../"`, "a parent link")
	assert.Contains(t, body, "r&amp;d.txt", "names are HTML-escaped")
	assert.NotContains(t, body, "r&d.txt<")

	resp, body = get(t, "GET", inst.url("/docs/"), nil, "Accept", "application/json")
	require.Equal(t, 200, resp.StatusCode)
	assert.Contains(t, resp.Header.Get("Content-Type"), "application/json")
	var entries []struct {
		Name string `json:"name"`
		Dir  bool   `json:"dir"`
		Size int64  `json:"size"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &entries))
	names := map[string]bool{}
	for _, e := range entries {
		names[e.Name] = e.Dir
	}
	assert.Contains(t, names, "readme.txt")
	assert.True(t, names["archive"], "archive is a directory")

	resp, _ = get(t, "GET", inst.url("/docs/r%26d.txt"), nil)
	assert.Equal(t, 200, resp.StatusCode, "the escaped link opens the file")
}

func TestOptionsAnd405(t *testing.T) {
	inst := startServer(t, defaultConfig(""))
	resp, _ := get(t, "OPTIONS", inst.url("/index.html"), nil)
	assert.Contains(t, []int{200, 204}, resp.StatusCode)
	assert.Equal(t, "GET, HEAD, OPTIONS", resp.Header.Get("Allow"))

	resp, _ = inst.raw("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", "OPTIONS")
	assert.Contains(t, []int{200, 204}, resp.StatusCode)
	assert.NotEmpty(t, resp.Header.Get("Allow"))

	resp, _ = get(t, "DELETE", inst.url("/index.html"), nil)
	assert.Equal(t, 405, resp.StatusCode, "writes are off by default")
	assert.Equal(t, "GET, HEAD, OPTIONS", resp.Header.Get("Allow"))
}

const writableRoot = `
[roots.www]
path = "{{root}}"
writes = true
`

func writableConfig() string {
	return strings.Replace(defaultConfig(`
[limits]
max_body = "1MiB"
`), "[roots.www]\npath = \"{{root}}\"\n", writableRoot, 1)
}

func TestWrites(t *testing.T) {
	inst := startServer(t, writableConfig())
	root := filepath.Join(inst.dir, "www")

	resp, _ := get(t, "PUT", inst.url("/up/new.txt"), strings.NewReader("v1"))
	assert.Equal(t, 201, resp.StatusCode)
	assert.Equal(t, "/up/new.txt", resp.Header.Get("Location"))
	resp, _ = get(t, "PUT", inst.url("/up/new.txt"), strings.NewReader("v2"))
	assert.Equal(t, 204, resp.StatusCode)
	got, _ := os.ReadFile(filepath.Join(root, "up", "new.txt"))
	assert.Equal(t, "v2", string(got))

	for i, want := range []string{"/up/post.txt", "/up/post(1).txt", "/up/post(2).txt"} {
		resp, _ = get(t, "POST", inst.url("/up/post.txt"), strings.NewReader(fmt.Sprint(i)))
		assert.Equal(t, 201, resp.StatusCode)
		assert.Equal(t, want, resp.Header.Get("Location"))
	}
	got, _ = os.ReadFile(filepath.Join(root, "up", "post.txt"))
	assert.Equal(t, "0", string(got), "POST never overwrites")

	resp, _ = get(t, "PUT", inst.url("/up/new.txt/child"), strings.NewReader("x"))
	assert.Equal(t, 409, resp.StatusCode, "a file is in the way")
	resp, _ = get(t, "PUT", inst.url("/docs"), strings.NewReader("x"))
	assert.Equal(t, 409, resp.StatusCode, "a directory is in the way")

	resp, _ = inst.raw("PUT /up/nolen.txt HTTP/1.1\r\nHost: a\r\n\r\n", "PUT")
	assert.Equal(t, 411, resp.StatusCode)

	resp, _ = inst.raw("PUT /up/huge.txt HTTP/1.1\r\nHost: a\r\nContent-Length: 2000000\r\n\r\n", "PUT")
	assert.Equal(t, 413, resp.StatusCode)

	chunk := strings.Repeat("x", 512<<10)
	resp, _ = inst.raw("PUT /up/chunked-huge.txt HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"+
		fmt.Sprintf("%x\r\n%s\r\n%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n", len(chunk), chunk, len(chunk), chunk, len(chunk), chunk), "PUT")
	assert.Equal(t, 413, resp.StatusCode)
	assert.NoFileExists(t, filepath.Join(root, "up", "chunked-huge.txt"))

	resp, _ = get(t, "DELETE", inst.url("/up/new.txt"), nil)
	assert.Equal(t, 204, resp.StatusCode)
	assert.NoFileExists(t, filepath.Join(root, "up", "new.txt"))
	resp, _ = get(t, "DELETE", inst.url("/up/new.txt"), nil)
	assert.Equal(t, 404, resp.StatusCode)

	assertNoTempFiles(t, root)
}

// TestPUTRacingPUT has writers race to replace one file while readers
// fetch it: every read sees one writer's complete body, never a mix or a
// torn file, and exactly one version survives.
func TestPUTRacingPUT(t *testing.T) {
	inst := startServer(t, writableConfig())
	root := filepath.Join(inst.dir, "www")
	const writers, size = 8, 256 << 10
	bodies := make([][]byte, writers)
	valid := map[string]bool{}
	for i := range bodies {
		bodies[i] = bytes.Repeat([]byte{byte('a' + i)}, size)
		valid[string(bodies[i])] = true
	}
	resp, _ := get(t, "PUT", inst.url("/race.bin"), bytes.NewReader(bodies[0]))
	require.Equal(t, 201, resp.StatusCode)

	var wg sync.WaitGroup
	for round := range 5 {
		for i := range writers {
			wg.Add(2)
			go func() {
				defer wg.Done()
				resp, _ := get(t, "PUT", inst.url("/race.bin"), bytes.NewReader(bodies[(i+round)%writers]))
				assert.Contains(t, []int{201, 204}, resp.StatusCode)
			}()
			go func() {
				defer wg.Done()
				resp, body := get(t, "GET", inst.url("/race.bin"), nil)
				if assert.Equal(t, 200, resp.StatusCode) {
					assert.True(t, valid[body], "a reader saw a torn or mixed body of %d bytes", len(body))
				}
			}()
		}
		wg.Wait()
	}
	final, err := os.ReadFile(filepath.Join(root, "race.bin"))
	require.NoError(t, err)
	assert.True(t, valid[string(final)], "exactly one complete version remains")
	assertNoTempFiles(t, root)
}

func assertNoTempFiles(t *testing.T, root string) {
	t.Helper()
	var names []string
	filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err == nil && strings.Contains(d.Name(), ".tmp") {
			names = append(names, path)
		}
		return nil
	})
	assert.Empty(t, names, "temporary files left behind")
}

func TestClientsSeeSameBytesAsDisk(t *testing.T) {
	inst := startServer(t, defaultConfig(""))
	for _, size := range []int{0, 1, 1 << 10, 100 << 10, 10 << 20} {
		data := make([]byte, size)
		rand.Read(data)
		name := fmt.Sprintf("/f%d.bin", size)
		require.NoError(t, os.WriteFile(filepath.Join(inst.dir, "www", name), data, 0o644))
		resp, body := get(t, "GET", inst.url(name), nil)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Equal(t, int64(size), resp.ContentLength)
		assert.True(t, bytes.Equal(data, []byte(body)), "body of %d bytes matches", size)
	}
}
