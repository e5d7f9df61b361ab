package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// buildWasm compiles the main package at pkg (a path from the
// repository's root) with the standard toolchain, as make builds policies
// without TinyGo.
func buildWasm(t *testing.T, pkg, out, ldflags string) {
	t.Helper()
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-ldflags", ldflags, "-o", out, "./"+pkg)
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	output, err := cmd.CombinedOutput()
	require.NoError(t, err, string(output))
}

// TestPolicyHotSwapUnderLoad swaps a policy module on disk back and forth
// while clients loop: no request fails, and responses follow the module.
func TestPolicyHotSwapUnderLoad(t *testing.T) {
	dir := t.TempDir()
	v1, v2 := filepath.Join(dir, "v1.wasm"), filepath.Join(dir, "v2.wasm")
	buildWasm(t, "host/policy/testdata/version", v1, "-X main.version=v1")
	buildWasm(t, "host/policy/testdata/version", v2, "-X main.version=v2")
	live := filepath.Join(dir, "live.wasm")
	copyFile(t, v1, live)

	inst := startServer(t, withOriginPolicies(defaultConfig(fmt.Sprintf(`
[wasm]
cache_dir = %q

[policies.version]
wasm = %q
`, filepath.Join(dir, "cache"), live)), "version"))

	var mu sync.Mutex
	seen := map[string]int{}
	stop := loopClients(client, 4, inst.url("/index.html"), func(resp *http.Response) bool {
		mu.Lock()
		seen[resp.Header.Get("X-Version")]++
		mu.Unlock()
		return true
	})

	version := func() string {
		resp, _ := get(t, "GET", inst.url("/index.html"), nil)
		return resp.Header.Get("X-Version")
	}
	require.Equal(t, "v1", version())
	for i, next := range []string{v2, v1, v2, v1} {
		// Write beside and rename, as a deploy would: the watcher sees a
		// whole file appear at once.
		copyFile(t, next, live+".tmp")
		require.NoError(t, os.Rename(live+".tmp", live))
		want := []string{"v2", "v1"}[i%2]
		require.Eventually(t, func() bool { return version() == want }, 20*time.Second, 20*time.Millisecond,
			"swap %d to %s", i+1, want)
	}
	served, failed := stop()
	assert.Zero(t, failed, "no request failed across the swaps")
	assert.Greater(t, served, int64(20))
	assert.Positive(t, seen["v1"])
	assert.Positive(t, seen["v2"])
	assert.Contains(t, inst.stderr.String(), "generation=5", "each swap is a new generation, logged")
}

// TestBrokenPolicyModuleKeepsTheOldOne writes garbage over a running
// module: it is rejected with a log line and the old module serves on.
func TestBrokenPolicyModuleKeepsTheOldOne(t *testing.T) {
	dir := t.TempDir()
	live := filepath.Join(dir, "live.wasm")
	buildWasm(t, "host/policy/testdata/version", live, "-X main.version=v1")
	inst := startServer(t, withOriginPolicies(defaultConfig(fmt.Sprintf(`
[policies.version]
wasm = %q
`, live)), "version"))

	require.NoError(t, os.WriteFile(live+".tmp", []byte("\x00asm\x01\x00\x00\x00garbage"), 0o644))
	require.NoError(t, os.Rename(live+".tmp", live))
	require.Eventually(t, func() bool {
		return strings.Contains(inst.stderr.String(), `msg="policy module rejected" policy=version`)
	}, 10*time.Second, 20*time.Millisecond, "the rejection is logged:\n%s", inst.stderr.String())
	resp, _ := get(t, "GET", inst.url("/index.html"), nil)
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "v1", resp.Header.Get("X-Version"), "the old module keeps serving")
}

func TestCheckLoadsPolicies(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.wasm")
	require.NoError(t, os.WriteFile(bad, []byte("not wasm"), 0o644))
	require.NoError(t, os.Mkdir(filepath.Join(dir, "www"), 0o755))
	path := filepath.Join(dir, "config.toml")
	require.NoError(t, os.WriteFile(path, []byte(fmt.Sprintf(
		"[origin]\npolicies = [\"bad\"]\n[policies.bad]\nwasm = %q\n", bad)), 0o644))
	out, err := exec.Command(binary, "-config", path, "-check").CombinedOutput()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, string(out))
	assert.Equal(t, 2, exit.ExitCode())
	assert.Contains(t, string(out), "policies.bad")
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(to, data, 0o644))
}

// withOriginPolicies puts a policy chain on the origin of config.
func withOriginPolicies(config string, names ...string) string {
	list, _ := json.Marshal(names)
	return strings.Replace(config, "root = \"www\"\n", "root = \"www\"\npolicies = "+string(list)+"\n", 1)
}

// TestSIGHUPReloadsConfiguration changes the root's settings and adds a
// policy chain with SIGHUP; a broken config sent the same way is refused
// and the running one kept.
func TestSIGHUPReloadsConfiguration(t *testing.T) {
	inst := startServer(t, defaultConfig(""))
	resp, _ := get(t, "GET", inst.url("/docs/"), nil)
	require.Equal(t, 200, resp.StatusCode, "listings are on at first")

	guest := filepath.Join(inst.dir, "version.wasm")
	buildWasm(t, "host/policy/testdata/version", guest, "-X main.version=v1")
	path := filepath.Join(inst.dir, "config.toml")
	current, err := os.ReadFile(path)
	require.NoError(t, err)
	next := withOriginPolicies(strings.Replace(string(current), "[roots.www]\n", "[roots.www]\nlisting = false\n", 1), "version") +
		fmt.Sprintf("\n[policies.version]\nwasm = %q\n", guest)
	require.NoError(t, os.WriteFile(path, []byte(next), 0o644))
	require.NoError(t, inst.cmd.Process.Signal(syscall.SIGHUP))
	require.Eventually(t, func() bool {
		return strings.Contains(inst.stderr.String(), "configuration reloaded")
	}, 20*time.Second, 20*time.Millisecond, inst.stderr.String())

	resp, _ = get(t, "GET", inst.url("/docs/"), nil)
	assert.Equal(t, 403, resp.StatusCode, "the new root settings apply")
	assert.Equal(t, "v1", resp.Header.Get("X-Version"), "the new chain applies")

	require.NoError(t, os.WriteFile(path, []byte(next+"\nbogus = 1\n"), 0o644))
	require.NoError(t, inst.cmd.Process.Signal(syscall.SIGHUP))
	require.Eventually(t, func() bool {
		return strings.Contains(inst.stderr.String(), "reload rejected")
	}, 10*time.Second, 20*time.Millisecond, inst.stderr.String())
	assert.Contains(t, inst.stderr.String(), "bogus", "the log says what was wrong")
	resp, _ = get(t, "GET", inst.url("/index.html"), nil)
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "v1", resp.Header.Get("X-Version"), "the running configuration is kept")
}
