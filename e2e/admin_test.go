package e2e

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// withAdmin turns on the admin listener of a defaultConfig, on a free port.
func withAdmin(config string) string {
	return strings.Replace(config, "[admin]\nlisten = \"\"\n", "[admin]\nlisten = \"127.0.0.1:0\"\n", 1)
}

// admin returns the admin listener's address, once it serves.
func (inst *instance) admin() string {
	inst.t.Helper()
	return inst.listening("admin")
}

// TestAdminListener: metrics count what the public listeners served, the
// health checks answer, and the status page shows the policies.
func TestAdminListener(t *testing.T) {
	inst := startServer(t, withAdmin(policyConfig(t, "", "redirects")))
	base := "http://" + inst.admin()
	for range 3 {
		resp, _ := get(t, "GET", inst.url("/old.html"), nil)
		require.Equal(t, 301, resp.StatusCode)
	}

	resp, body := get(t, "GET", base+"/metrics", nil)
	assert.Equal(t, 200, resp.StatusCode)
	assert.Contains(t, body, `wasmhttpd_requests_total{code="301",listener="origin",method="GET"} 3`)
	assert.Contains(t, body, `wasmhttpd_policy_calls_total{policy="redirects"} 3`)
	assert.Contains(t, body, `wasmhttpd_policy_generation{policy="redirects"} 1`)
	assert.Contains(t, body, `wasmhttpd_connections{listener="origin",state="idle"}`)
	assert.Contains(t, body, "wasmhttpd_upstream_errors_total 0")

	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/nope": 404} {
		resp, _ := get(t, "GET", base+path, nil)
		assert.Equal(t, want, resp.StatusCode, path)
	}
	resp, body = get(t, "GET", base+"/status", nil)
	assert.Equal(t, 200, resp.StatusCode)
	assert.Contains(t, body, "redirects")
	assert.Contains(t, body, `http-equiv="refresh"`)

	resp, body = get(t, "GET", base+"/status.json", nil)
	require.Equal(t, 200, resp.StatusCode)
	var status struct {
		Policies []struct {
			Name       string `json:"name"`
			Generation uint64 `json:"generation"`
		} `json:"policies"`
		Events []struct {
			Kind   string `json:"kind"`
			Policy string `json:"policy"`
		} `json:"events"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &status))
	require.Len(t, status.Policies, 1)
	assert.Equal(t, "redirects", status.Policies[0].Name)
	require.NotEmpty(t, status.Events, "the load is an event")
	assert.Equal(t, "redirects", status.Events[0].Policy)
}
