package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAuthoringGuide follows docs/authoring.md: build the example policy
// with the guide's own command, deploy it, see it answer, swap in a second
// build and watch the swap on the status page.
func TestAuthoringGuide(t *testing.T) {
	dir := t.TempDir()
	live := filepath.Join(dir, "hello.wasm")
	runGuideBuild(t, "GOOS=wasip1 GOARCH=wasm go build", live)
	inst := startHello(t, live)

	buildWasm(t, "examples/policy-hello", live+".new", "-X main.version=2")
	require.NoError(t, os.Rename(live+".new", live))
	require.Eventually(t, func() bool {
		resp, _ := get(t, "HEAD", inst.url("/"), nil)
		return resp.Header.Get("X-Hello") == "hi (v2)"
	}, 20*time.Second, 50*time.Millisecond)

	_, body := get(t, "GET", "http://"+inst.admin()+"/status.json", nil)
	var status struct {
		Policies []struct {
			Name       string           `json:"name"`
			Generation uint64           `json:"generation"`
			Counters   map[string]int64 `json:"counters"`
		} `json:"policies"`
		Events []struct{ Kind, Policy string } `json:"events"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &status))
	require.Len(t, status.Policies, 1)
	assert.Equal(t, uint64(2), status.Policies[0].Generation)
	assert.Positive(t, status.Policies[0].Counters["requests_head"])
	require.NotEmpty(t, status.Events)
	assert.Equal(t, "swap", status.Events[0].Kind, "the newest event is the swap")
	assert.Equal(t, "hello", status.Events[0].Policy)
}

// TestAuthoringGuideTinyGoBuild builds the example with the guide's TinyGo
// command and deploys it, where TinyGo is installed.
func TestAuthoringGuideTinyGoBuild(t *testing.T) {
	if _, err := exec.LookPath("tinygo"); err != nil {
		t.Skip("tinygo is not on PATH: the guide's TinyGo build is not exercised here")
	}
	live := filepath.Join(t.TempDir(), "hello.wasm")
	runGuideBuild(t, "tinygo build", live)
	startHello(t, live)
}

// runGuideBuild runs the command of docs/authoring.md that starts with
// prefix, from the repository's root, writing the module to out rather
// than to the guide's hello.wasm.
func runGuideBuild(t *testing.T, prefix, out string) {
	t.Helper()
	guide, err := os.ReadFile("../docs/authoring.md")
	require.NoError(t, err)
	var line string
	for l := range strings.Lines(string(guide)) {
		if strings.HasPrefix(l, prefix+" ") {
			line = strings.TrimSpace(l)
			break
		}
	}
	require.NotEmpty(t, line, "the guide has no %q command", prefix)
	words := strings.Fields(strings.Replace(line, "-o hello.wasm", "-o "+out, 1))
	require.Contains(t, words, out, "the guide's command writes hello.wasm")
	var env []string
	for strings.Contains(words[0], "=") {
		env, words = append(env, words[0]), words[1:]
	}
	cmd := exec.Command(words[0], words[1:]...)
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), env...)
	output, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s\n%s", line, output)
}

// startHello deploys the guide's policy from module as the guide does and
// checks that it answers as the guide says.
func startHello(t *testing.T, module string) *instance {
	t.Helper()
	inst := startServer(t, withAdmin(withOriginPolicies(defaultConfig(fmt.Sprintf(`
[policies.hello]
wasm = %q
config = { greeting = "hi", forbidden = "/private/" }
`, module)), "hello")))
	resp, _ := get(t, "HEAD", inst.url("/"), nil)
	assert.Equal(t, "hi (v1)", resp.Header.Get("X-Hello"))
	resp, body := get(t, "GET", inst.url("/private/x"), nil)
	assert.Equal(t, 403, resp.StatusCode)
	assert.Equal(t, "not here\n", body)
	return inst
}

// TestAuthoringGuideShowsTheExample keeps the guide's listing true: every
// line of its first Go block is a line of the example's source.
func TestAuthoringGuideShowsTheExample(t *testing.T) {
	guide, err := os.ReadFile("../docs/authoring.md")
	require.NoError(t, err)
	source, err := os.ReadFile("../examples/policy-hello/main.go")
	require.NoError(t, err)
	_, block, ok := strings.Cut(string(guide), "```go\n")
	require.True(t, ok)
	block, _, _ = strings.Cut(block, "```")
	lines := map[string]bool{}
	for _, l := range strings.Split(string(source), "\n") {
		lines[strings.TrimSpace(l)] = true
	}
	for _, l := range strings.Split(block, "\n") {
		assert.True(t, lines[strings.TrimSpace(l)], "the guide shows a line the example does not have: %q", l)
	}
}
