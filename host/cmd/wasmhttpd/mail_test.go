package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRunMailPasswordVariable: a password_env naming a variable that is
// unset or empty is refused before any connection, naming the variable,
// with the configuration's exit code.
func TestRunMailPasswordVariable(t *testing.T) {
	const name = "WASMHTTPD_TEST_SMTP_PASSWORD"
	dir := t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(dir, "www"), 0o755))
	path := filepath.Join(dir, "config.toml")
	// A server that would refuse the connection: no test may get that far.
	require.NoError(t, os.WriteFile(path, []byte(`
[mail]
server = "127.0.0.1"
port = 1
tls = "none"
username = "alerts"
password_env = "`+name+`"
from = "ops@example.org"
to = ["oncall@example.org"]
`), 0o644))
	tests := []struct {
		name  string
		set   func(t *testing.T)
		error string
	}{
		{"unset", func(t *testing.T) {
			t.Setenv(name, "") // restored after the test
			require.NoError(t, os.Unsetenv(name))
		}, "the environment variable " + name + " is not set"},
		{"empty", func(t *testing.T) { t.Setenv(name, "") }, "the environment variable " + name + " is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.set(t)
			var stdout, stderr strings.Builder
			code := runMail([]string{"-config", path, "-subject", "s", "-body", "b"}, strings.NewReader(""), &stdout, &stderr)
			assert.Equal(t, exitConfig, code)
			assert.Equal(t, "wasmhttpd mail: "+path+": mail.password_env: "+tt.error+"\n", stderr.String())
			assert.Empty(t, stdout.String())
		})
	}
}
