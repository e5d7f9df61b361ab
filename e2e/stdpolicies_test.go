package e2e

import (
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// policyConfig puts the named standard policies, built by make, in front
// of a writable copy of www/; tables holds their [policies.NAME] config.
func policyConfig(t *testing.T, tables string, names ...string) string {
	t.Helper()
	dir, err := filepath.Abs("../policies")
	require.NoError(t, err)
	var defs strings.Builder
	for _, name := range names {
		fmt.Fprintf(&defs, "\n[policies.%s]\nwasm = %q\n", name, filepath.Join(dir, name+".wasm"))
	}
	return withOriginPolicies(strings.Replace(defaultConfig(defs.String()+tables), "[roots.www]\n", "[roots.www]\nwrites = true\n", 1), names...)
}

// TestDefaultSitePolicies runs the shipped chain: redirects and basicauth
// with no users, which refuses every write.
func TestDefaultSitePolicies(t *testing.T) {
	inst := startServer(t, policyConfig(t, "", "redirects", "basicauth"))

	resp, _ := get(t, "GET", inst.url("/old.html?x=1"), nil)
	assert.Equal(t, 301, resp.StatusCode)
	assert.Equal(t, "/new.html", resp.Header.Get("Location"))

	resp, body := get(t, "GET", inst.url("/new.html"), nil)
	assert.Equal(t, 200, resp.StatusCode, "other requests pass through to the root")
	assert.Contains(t, body, "<html")

	resp, _ = get(t, "PUT", inst.url("/upload.txt"), strings.NewReader("x"))
	assert.Equal(t, 403, resp.StatusCode, "with no users configured, writes are refused")
	assert.NoFileExists(t, filepath.Join(inst.dir, "www", "upload.txt"))
}

func TestBasicAuthWithUsers(t *testing.T) {
	// bcrypt of "secret" at cost 4, so the check fits the call deadline.
	const hash = "$2a$04$pGzddwTs/B5YEmGhchzY1.89s95yasnOpeh5ASfxwgvaCPM6Ute1K"
	inst := startServer(t, policyConfig(t, fmt.Sprintf(`config = { realm = "test", users = [{ name = "alice", hash = %q, paths = ["/alice/"] }] }
`, hash), "basicauth"))

	resp, _ := get(t, "PUT", inst.url("/alice/a.txt"), strings.NewReader("x"))
	assert.Equal(t, 401, resp.StatusCode)
	assert.Contains(t, resp.Header.Get("WWW-Authenticate"), `realm="test"`)

	resp, _ = get(t, "PUT", inst.url("/alice/a.txt"), strings.NewReader("x"), "Authorization", basic("alice", "wrong"))
	assert.Equal(t, 401, resp.StatusCode)

	resp, _ = get(t, "PUT", inst.url("/alice/a.txt"), strings.NewReader("hello"), "Authorization", basic("alice", "secret"))
	assert.Equal(t, 201, resp.StatusCode)
	assert.FileExists(t, filepath.Join(inst.dir, "www", "alice", "a.txt"))

	resp, _ = get(t, "PUT", inst.url("/bob/b.txt"), strings.NewReader("x"), "Authorization", basic("alice", "secret"))
	assert.Equal(t, 403, resp.StatusCode, "authenticated, but not for this path")

	resp, _ = get(t, "GET", inst.url("/index.html"), nil)
	assert.Equal(t, 200, resp.StatusCode, "reads are not guarded")
}

func TestCookieTypeguardEcho(t *testing.T) {
	inst := startServer(t, policyConfig(t, "", "cookie", "typeguard", "echo"))

	resp, _ := get(t, "GET", inst.url("/index.html"), nil)
	require.Equal(t, 200, resp.StatusCode)
	cookie := resp.Header.Get("Set-Cookie")
	assert.Regexp(t, `^session=[0-9a-zA-Z_-]{16,}`, cookie)
	assert.Contains(t, cookie, "HttpOnly")
	assert.Contains(t, cookie, "Max-Age=")
	resp, _ = get(t, "GET", inst.url("/index.html"), nil, "Cookie", strings.Split(cookie, ";")[0])
	assert.Empty(t, resp.Header.Get("Set-Cookie"), "no new cookie for a client that has one")

	resp, _ = get(t, "GET", inst.url("/tool.exe"), nil)
	assert.Equal(t, 415, resp.StatusCode)

	resp, body := get(t, "GET", inst.url("/echo/hello"), nil)
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "hello", body)
	resp, body = get(t, "GET", inst.url("/echo/zipped"), nil, "Accept-Encoding", "gzip")
	assert.Equal(t, "gzip", resp.Header.Get("Content-Encoding"))
	zr, err := gzip.NewReader(strings.NewReader(body))
	require.NoError(t, err)
	plain, _ := io.ReadAll(zr)
	assert.Equal(t, "zipped", string(plain))
	resp, body = get(t, "GET", inst.url("/user-agent"), nil, "User-Agent", "e2e/1.0")
	assert.Equal(t, "e2e/1.0", body)
}

func basic(user, password string) string {
	req, _ := http.NewRequest("GET", "http://x/", nil)
	req.SetBasicAuth(user, password)
	return req.Header.Get("Authorization")
}
