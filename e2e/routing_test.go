package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRouterPolicy routes by path prefix to a second root, answers a
// health check itself, and fails closed on a rule naming a root the host
// does not have.
func TestRouterPolicy(t *testing.T) {
	assets := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(assets, "app.js"), []byte("console.log(1)\n"), 0o644))
	config := policyConfig(t, `config = { rules = [
	{ prefix = "/static/", root = "assets", strip_prefix = true },
	{ path = "/healthz", status = 200, body = "ok\n" },
	{ prefix = "/gone/", root = "missing" },
] }
[roots.assets]
path = "`+assets+`"
`, "router")
	inst := startServer(t, config)

	for _, tc := range []struct {
		path, body string
		status     int
	}{
		{"/static/app.js", "console.log(1)\n", 200},
		{"/healthz", "ok\n", 200},
		{"/new.html", "<!doctype html>", 200}, // no rule: the default root
		{"/static/nope.js", "", 404},
		{"/gone/x", "", 500},
	} {
		resp, body := get(t, "GET", inst.url(tc.path), nil)
		assert.Equal(t, tc.status, resp.StatusCode, tc.path)
		assert.True(t, strings.HasPrefix(strings.ToLower(body), strings.ToLower(tc.body)), "%s: %q", tc.path, body)
	}
	assert.Eventually(t, func() bool {
		return strings.Contains(inst.stderr.String(), `no root named \"missing\" (the roots are assets, www)`)
	}, 5*time.Second, 10*time.Millisecond, inst.stderr.String())
}

// TestEchoOnPort4221Style runs the README's one-liner: the example config
// with -listen and -root overriding it from the command line.
func TestEchoOnPort4221Style(t *testing.T) {
	files := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(files, "hello.txt"), []byte("hello\n"), 0o644))
	inst := startBinary(t, t.TempDir(), "-config", "../examples/echo.toml", "-listen", "127.0.0.1:0", "-root", "files="+files)

	resp, body := get(t, "GET", inst.url("/echo/abc"), nil)
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "abc", body)

	resp, body = get(t, "GET", inst.url("/user-agent"), nil, "User-Agent", "foobar/1.2.3")
	assert.Equal(t, "foobar/1.2.3", body)
	assert.Equal(t, "12", resp.Header.Get("Content-Length"))

	resp, body = get(t, "GET", inst.url("/files/hello.txt"), nil)
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "hello\n", body)

	resp, _ = get(t, "POST", inst.url("/files/new.txt"), strings.NewReader("posted"))
	assert.Equal(t, 201, resp.StatusCode)
	assert.Equal(t, "/files/new.txt", resp.Header.Get("Location"))
	data, err := os.ReadFile(filepath.Join(files, "new.txt"))
	require.NoError(t, err)
	assert.Equal(t, "posted", string(data))

	resp, _ = get(t, "GET", inst.url("/files/missing.txt"), nil)
	assert.Equal(t, 404, resp.StatusCode)
	resp, _ = get(t, "GET", inst.url("/files/../../etc/passwd"), nil)
	assert.NotEqual(t, 200, resp.StatusCode, "the root confines the route's path")
}
