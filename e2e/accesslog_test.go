package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// accessLogConfig writes the access log to a file in the given format.
func accessLogConfig(format string) string {
	return strings.Replace(defaultConfig(""), "[log.access]\npath = \"off\"\n",
		"[log.access]\npath = \"access.log\"\nformat = \""+format+"\"\n", 1)
}

// waitForLines waits for the buffered access log to reach the file.
func waitForLines(t *testing.T, path string, n int) []string {
	t.Helper()
	var lines []string
	require.Eventually(t, func() bool {
		data, err := os.ReadFile(path)
		if err != nil {
			return false
		}
		lines = strings.Split(strings.TrimSpace(string(data)), "\n")
		return len(lines) >= n && lines[0] != ""
	}, 5*time.Second, 50*time.Millisecond)
	return lines
}

func TestAccessLogCombined(t *testing.T) {
	inst := startServer(t, accessLogConfig("combined"))
	get(t, "GET", inst.url("/about.html?x=1"), nil, "Referer", "http://ref.example/", "User-Agent", `evil"agent`)
	inst.raw("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "GET")

	// A line is written once its response is out, so the client may see
	// both answers before either line: match without assuming an order.
	log := strings.Join(waitForLines(t, filepath.Join(inst.dir, "access.log"), 2), "\n")
	assert.Regexp(t, regexp.MustCompile(`(?m)^127\.0\.0\.1 - - \[\d{2}/\w{3}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}\] `+
		`"GET /about.html\?x=1 HTTP/1.1" 200 \d+ "http://ref.example/" "evil\\x22agent"$`), log)
	assert.Regexp(t, regexp.MustCompile(`(?m)^127\.0\.0\.1 .*"GET / HTTP/1.1" 400 `), log, "refused requests are logged too")
}

func TestAccessLogJSON(t *testing.T) {
	inst := startServer(t, accessLogConfig("json"))
	get(t, "HEAD", inst.url("/missing.html"), nil)
	lines := waitForLines(t, filepath.Join(inst.dir, "access.log"), 1)
	var entry struct {
		Method string `json:"method"`
		Target string `json:"target"`
		Status int    `json:"status"`
		Remote string `json:"remote"`
	}
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &entry), lines[0])
	assert.Equal(t, "HEAD", entry.Method)
	assert.Equal(t, "/missing.html", entry.Target)
	assert.Equal(t, 404, entry.Status)
	assert.Contains(t, entry.Remote, "127.0.0.1")
}
