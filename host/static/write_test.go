package static

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"wasmhttpd/host/http1"
)

func chunked(method, target string, chunks ...string) string {
	var b strings.Builder
	b.WriteString(method + " " + target + " HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
	for _, c := range chunks {
		fmt.Fprintf(&b, "%x\r\n%s\r\n", len(c), c)
	}
	b.WriteString("0\r\n\r\n")
	return b.String()
}

func exists(root, name string) bool {
	_, err := os.Lstat(filepath.Join(root, filepath.FromSlash(name)))
	return err == nil
}

func TestPut(t *testing.T) {
	root := makeRoot(t)
	h := newHandler(t, Config{Root: root, Writes: true, MaxBody: 1000}, false)

	res := serve(t, h, withBody("PUT", "/up/new.txt", "v1"))
	assert.Equal(t, 201, res.StatusCode, res.body)
	assert.Equal(t, "/up/new.txt", res.Header.Get("Location"))
	assert.Equal(t, "v1", readFile(t, root, "up/new.txt"), "missing parents are created")
	created := res.Header.Get("ETag")
	assert.Equal(t, created, get(t, h, "GET", "/up/new.txt").Header.Get("ETag"), "the ETag of what was stored")

	res = serve(t, h, withBody("PUT", "/up/new.txt", "v2"))
	assert.Equal(t, 204, res.StatusCode)
	assert.Equal(t, "v2", readFile(t, root, "up/new.txt"))
	assert.NotEqual(t, created, res.Header.Get("ETag"))

	res = serve(t, h, chunked("PUT", "/up/chunked.txt", "hello, ", "world"))
	assert.Equal(t, 201, res.StatusCode)
	assert.Equal(t, "hello, world", readFile(t, root, "up/chunked.txt"))

	res = serve(t, h, withBody("PUT", "/up/empty.txt", ""))
	assert.Equal(t, 201, res.StatusCode, "Content-Length: 0 is a body")
	assert.Equal(t, "", readFile(t, root, "up/empty.txt"))

	res = serve(t, h, withBody("PUT", "/a%20b/c%26d.txt", "x"))
	assert.Equal(t, 201, res.StatusCode)
	assert.Equal(t, "/a%20b/c%26d.txt", res.Header.Get("Location"))
	assert.Equal(t, "x", readFile(t, root, "a b/c&d.txt"))

	refusals := []struct {
		name, raw string
		status    int
		reason    string
	}{
		{"file in the way", withBody("PUT", "/up/new.txt/child", "x"), 409, "in the way"},
		{"directory in the way", withBody("PUT", "/docs", "x"), 409, "directory"},
		{"directory target", withBody("PUT", "/docs/", "x"), 409, "directory"},
		{"new directory target", withBody("PUT", "/newdir/", "x"), 409, "directory"},
		{"root", withBody("PUT", "/", "x"), 409, "directory"},
		{"no framing", "PUT /up/nolen.txt HTTP/1.1\r\nHost: a\r\n\r\n", 411, "Content-Length"},
		{"declared too large", withBody("PUT", "/up/huge.txt", strings.Repeat("x", 1001)), 413, "limit of 1000"},
		{"chunked too large", chunked("PUT", "/up/huge.txt", strings.Repeat("x", 600), strings.Repeat("x", 600)), 413, "limit"},
		{"partial PUT", withBody("PUT", "/up/new.txt", "x", "Content-Range: bytes 0-0/2"), 400, "Content-Range"},
		{"hidden", withBody("PUT", "/.htaccess", "x"), 403, "hidden"},
		{"dot-dot", withBody("PUT", "/../x", "x"), 400, "dot-dot"},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			res := serve(t, h, tt.raw)
			assert.Equal(t, tt.status, res.StatusCode)
			assert.Contains(t, res.body, tt.reason)
		})
	}
	assert.Equal(t, "v2", readFile(t, root, "up/new.txt"))
	assert.False(t, exists(root, "up/huge.txt"))
	assert.False(t, exists(root, "up/nolen.txt"))
	assert.False(t, exists(root, ".htaccess"))
	assert.False(t, exists(root, "newdir"))
	assert.Empty(t, tempFiles(t, root))
}

func TestPutBodyFailuresLeaveNothing(t *testing.T) {
	root := makeRoot(t)
	h := newHandler(t, Config{Root: root, Writes: true}, false)

	// The wire's own limit stops a chunked body mid-stream.
	res := serveLimits(t, h, chunked("PUT", "/fresh/dir/big.txt", strings.Repeat("x", 800), strings.Repeat("x", 800)),
		http1.Limits{MaxBody: 1000})
	assert.Equal(t, 413, res.StatusCode)
	assert.Equal(t, 413, http1.StatusOf(res.readErr))
	assert.True(t, res.Close, "the rest of the body is not read: Connection: close")

	// A client that goes away mid-upload.
	res = serve(t, h, "PUT /fresh/dir/cut.txt HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nonly part of it")
	assert.Equal(t, 400, res.StatusCode)
	assert.Error(t, res.readErr)

	// A malformed chunk.
	res = serve(t, h, "PUT /fresh/dir/bad.txt HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n")
	assert.Equal(t, 400, res.StatusCode)

	// Replacing an existing file and failing keeps the old one.
	res = serve(t, h, "PUT /about.html HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\ntorn")
	assert.Equal(t, 400, res.StatusCode)
	assert.Equal(t, fixture["about.html"], readFile(t, root, "about.html"))

	assert.False(t, exists(root, "fresh"), "not even the parent directories are left")
	assert.Empty(t, tempFiles(t, root))
}

func TestPutExpectContinue(t *testing.T) {
	root := makeRoot(t)
	h := newHandler(t, Config{Root: root, Writes: true, MaxBody: 100}, false)
	expect := func(target, body string, headers ...string) result {
		return serve(t, h, withBody("PUT", target, body, append(headers, "Expect: 100-continue")...))
	}
	res := expect("/up/ok.txt", "fine")
	assert.Equal(t, 201, res.StatusCode)
	assert.Contains(t, res.cont, "100 Continue")

	for _, tt := range []struct {
		target, body string
		headers      []string
		status       int
	}{
		{"/docs", "x", nil, 409},
		{"/up/big.txt", strings.Repeat("x", 101), nil, 413},
		{"/about.html", "x", []string{"If-None-Match: *"}, 412},
	} {
		res := expect(tt.target, tt.body, tt.headers...)
		assert.Equal(t, tt.status, res.StatusCode, tt.target)
		assert.Empty(t, res.cont, "refused before inviting the body: %s", tt.target)
	}
}

func TestPutPreconditions(t *testing.T) {
	root := makeRoot(t)
	h := newHandler(t, Config{Root: root, Writes: true}, false)
	etag := get(t, h, "GET", "/about.html").Header.Get("ETag")

	tests := []struct {
		name, target string
		headers      []string
		status       int
	}{
		{"create-only on existing", "/about.html", []string{"If-None-Match: *"}, 412},
		{"create-only on new", "/created.txt", []string{"If-None-Match: *"}, 201},
		{"if-match stale", "/about.html", []string{`If-Match: "stale"`}, 412},
		{"if-match star on missing", "/missing.txt", []string{"If-Match: *"}, 412},
		{"if-unmodified-since past", "/about.html", []string{"If-Unmodified-Since: Sat, 01 Jan 2000 00:00:00 GMT"}, 412},
		{"if-match current", "/about.html", []string{"If-Match: " + etag}, 204},
		{"if-match now stale", "/about.html", []string{"If-Match: " + etag}, 412},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := serve(t, h, withBody("PUT", tt.target, "new body", tt.headers...))
			assert.Equal(t, tt.status, res.StatusCode, res.body)
		})
	}
	assert.Equal(t, "new body", readFile(t, root, "about.html"))
	assert.False(t, exists(root, "missing.txt"))
	assert.Empty(t, tempFiles(t, root))
}

func TestPost(t *testing.T) {
	root := makeRoot(t)
	h := newHandler(t, Config{Root: root, Writes: true}, false)
	for i, want := range []string{"/up/post.txt", "/up/post(1).txt", "/up/post(2).txt"} {
		res := serve(t, h, withBody("POST", "/up/post.txt", fmt.Sprint(i)))
		assert.Equal(t, 201, res.StatusCode, res.body)
		assert.Equal(t, want, res.Header.Get("Location"))
		assert.Equal(t, fmt.Sprint(i), get(t, h, "GET", want).body)
	}
	assert.Equal(t, "0", readFile(t, root, "up/post.txt"), "POST never overwrites")

	for target, want := range map[string][]string{
		"/up/a.tar.gz": {"/up/a.tar.gz", "/up/a(1).tar.gz"},
		"/up/README":   {"/up/README", "/up/README(1)"},
		"/up/x%20y.md": {"/up/x%20y.md", "/up/x%20y(1).md"},
	} {
		for _, w := range want {
			res := serve(t, h, withBody("POST", target, "z"))
			assert.Equal(t, 201, res.StatusCode)
			assert.Equal(t, w, res.Header.Get("Location"))
		}
	}

	for _, target := range []string{"/docs", "/docs/", "/", "/index.html/x"} {
		res := serve(t, h, withBody("POST", target, "x"))
		assert.Equal(t, 409, res.StatusCode, target)
	}
	res := serve(t, h, "POST /up/p.txt HTTP/1.1\r\nHost: a\r\n\r\n")
	assert.Equal(t, 411, res.StatusCode)
	assert.Empty(t, tempFiles(t, root))
}

func TestDelete(t *testing.T) {
	root := makeRoot(t)
	require.NoError(t, os.Mkdir(filepath.Join(root, "emptydir"), 0o755))
	require.NoError(t, os.Symlink("about.html", filepath.Join(root, "link.html")))
	h := newHandler(t, Config{Root: root, Writes: true}, false)
	etag := get(t, h, "GET", "/docs/readme.txt").Header.Get("ETag")

	tests := []struct {
		name, target string
		headers      []string
		status       int
	}{
		{"stale if-match", "/docs/readme.txt", []string{`If-Match: "stale"`}, 412},
		{"current if-match", "/docs/readme.txt", []string{"If-Match: " + etag}, 204},
		{"gone", "/docs/readme.txt", nil, 404},
		{"file", "/about.html", nil, 204},
		{"non-empty directory", "/docs", nil, 409},
		{"empty directory", "/emptydir/", nil, 204},
		{"root", "/", nil, 403},
		{"dangling link", "/link.html", nil, 204},
		{"hidden", "/.env", nil, 403},
		{"file with a slash", "/index.html/", nil, 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := get(t, h, "DELETE", tt.target, tt.headers...)
			assert.Equal(t, tt.status, res.StatusCode, res.body)
		})
	}
	assert.False(t, exists(root, "docs/readme.txt"))
	assert.False(t, exists(root, "about.html"))
	assert.False(t, exists(root, "emptydir"))
	assert.False(t, exists(root, "link.html"))
	assert.True(t, exists(root, "docs/r&d.txt"))
	assert.True(t, exists(root, ".env"))
	assert.True(t, exists(root, "index.html"))
}

func TestWritesStayInside(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "www")
	require.NoError(t, os.MkdirAll(filepath.Join(base, "outside"), 0o755))
	require.NoError(t, os.MkdirAll(root, 0o755))
	write(t, base, "outside/victim.txt", "keep")
	require.NoError(t, os.Symlink(filepath.Join(base, "outside"), filepath.Join(root, "out")))
	require.NoError(t, os.Symlink("../outside/victim.txt", filepath.Join(root, "victim.txt")))
	h := newHandler(t, Config{Root: root, Writes: true}, false)

	for _, raw := range []string{
		withBody("PUT", "/out/new.txt", "x"),
		withBody("PUT", "/out/victim.txt", "x"),
		withBody("PUT", "/out/sub/new.txt", "x"),
		withBody("POST", "/out/new.txt", "x"),
		"DELETE /out/victim.txt HTTP/1.1\r\nHost: a\r\n\r\n",
	} {
		res := serve(t, h, raw)
		assert.Equal(t, 403, res.StatusCode, raw)
	}
	// Replacing the link itself is fine: the new file lives in the root.
	res := serve(t, h, withBody("DELETE", "/victim.txt", ""))
	assert.Equal(t, 204, res.StatusCode)
	assert.Equal(t, "keep", readFile(t, base, "outside/victim.txt"))
	entries, _ := os.ReadDir(filepath.Join(base, "outside"))
	assert.Len(t, entries, 1, "nothing written outside the root")
}

// TestConcurrentPut has writers race to replace one file while readers
// fetch it: every read sees one writer's complete body, exactly one
// version survives, and no temporary file is left.
func TestConcurrentPut(t *testing.T) {
	root := makeRoot(t)
	h := newHandler(t, Config{Root: root, Writes: true}, false)
	const writers, size = 8, 256 << 10
	valid := map[string]bool{}
	bodies := make([]string, writers)
	for i := range bodies {
		bodies[i] = strings.Repeat(string(rune('a'+i)), size)
		valid[bodies[i]] = true
	}
	require.Equal(t, 201, serve(t, h, withBody("PUT", "/race.bin", bodies[0])).StatusCode)

	var wg sync.WaitGroup
	var mu sync.Mutex
	var statuses []int
	var torn int
	for round := range 3 {
		for i := range writers {
			wg.Add(2)
			go func() {
				defer wg.Done()
				res := serve(t, h, withBody("PUT", "/race.bin", bodies[(i+round)%writers]))
				mu.Lock()
				statuses = append(statuses, res.StatusCode)
				mu.Unlock()
			}()
			go func() {
				defer wg.Done()
				res := get(t, h, "GET", "/race.bin")
				if res.StatusCode != 200 || !valid[res.body] {
					mu.Lock()
					torn++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
	}
	for _, s := range statuses {
		assert.Equal(t, 204, s)
	}
	assert.Zero(t, torn, "a reader saw a torn, mixed or missing file")
	assert.True(t, valid[readFile(t, root, "race.bin")], "exactly one complete version remains")
	assert.Empty(t, tempFiles(t, root))
}

func TestConcurrentConditionalPut(t *testing.T) {
	root := makeRoot(t)
	h := newHandler(t, Config{Root: root, Writes: true}, false)
	etag := get(t, h, "GET", "/about.html").Header.Get("ETag")
	const n = 16
	var wg sync.WaitGroup
	results := make([]int, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = serve(t, h, withBody("PUT", "/about.html", fmt.Sprintf("edit %d", i), "If-Match: "+etag)).StatusCode
		}()
	}
	wg.Wait()
	wins := 0
	for _, s := range results {
		if s == 204 {
			wins++
		} else {
			assert.Equal(t, 412, s)
		}
	}
	assert.Equal(t, 1, wins, "exactly one edit based on the same version wins: %v", results)
}

func TestConcurrentPost(t *testing.T) {
	root := makeRoot(t)
	h := newHandler(t, Config{Root: root, Writes: true}, false)
	const n = 16
	var wg sync.WaitGroup
	locations := make([]string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := serve(t, h, withBody("POST", "/inbox/msg.txt", fmt.Sprintf("message %d", i)))
			locations[i] = res.Header.Get("Location")
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	bodies := map[string]bool{}
	for _, loc := range locations {
		require.NotEmpty(t, loc)
		assert.False(t, seen[loc], "two POSTs got %s", loc)
		seen[loc] = true
		bodies[get(t, h, "GET", loc).body] = true
	}
	for i := range n {
		assert.True(t, bodies[fmt.Sprintf("message %d", i)], "message %d kept", i)
	}
	entries, err := os.ReadDir(filepath.Join(root, "inbox"))
	require.NoError(t, err)
	assert.Len(t, entries, n)
	assert.Empty(t, tempFiles(t, root))
}

// TestServePath: a route maps /files/{name} to /{name} of the root; what
// the answers say of URLs stays in the client's URL space.
func TestServePath(t *testing.T) {
	root := makeRoot(t)
	h := newHandler(t, Config{Root: root, Writes: true}, false)
	files := http1.HandlerFunc(func(ex *http1.Exchange) {
		h.ServePath(ex, bytes.TrimPrefix(ex.Request.Path, []byte("/files")))
	})
	for i, want := range []string{"/files/up/p.txt", "/files/up/p(1).txt"} {
		res := serve(t, files, withBody("POST", "/files/up/p.txt", fmt.Sprint(i)))
		assert.Equal(t, 201, res.StatusCode, res.body)
		assert.Equal(t, want, res.Header.Get("Location"))
	}
	assert.Equal(t, "0", readFile(t, root, "up/p.txt"))
	assert.Equal(t, "read me\n", get(t, files, "GET", "/files/docs/readme.txt").body)
	res := get(t, files, "GET", "/files/docs?x=1")
	assert.Equal(t, 301, res.StatusCode)
	assert.Equal(t, "/files/docs/?x=1", res.Header.Get("Location"))
	assert.Equal(t, 404, get(t, files, "GET", "/files/nope.txt").StatusCode)

	unrelated := http1.HandlerFunc(func(ex *http1.Exchange) { h.ServePath(ex, []byte("/docs")) })
	res = get(t, unrelated, "GET", "/latest-docs")
	assert.Equal(t, 301, res.StatusCode)
	assert.Equal(t, "/docs/", res.Header.Get("Location"), "no common suffix: the root's URL space")
}
