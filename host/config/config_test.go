package config

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDefaultConfigFileEqualsDefaults(t *testing.T) {
	cfg, err := Load("../../config.toml")
	require.NoError(t, err)
	want := Default()
	root := DefaultRootSettings(DefaultRoot)
	abs, err := filepath.Abs("../../www")
	require.NoError(t, err)
	root.Path = abs
	want.Roots = map[string]*Root{DefaultRoot: root}
	assert.Equal(t, want, cfg, "config.toml documents the defaults")
}

func TestEmptyFileGivesDefaults(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(dir, "www"), 0o755))
	cfg, err := Parse(nil, "empty.toml", dir)
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:8080", cfg.Origin.Listen)
	assert.Equal(t, filepath.Join(dir, "www"), cfg.Roots["www"].Path, "relative to the config's directory")
	assert.Equal(t, 30*time.Second, cfg.Timeouts.Write.Duration)
	assert.Equal(t, 64*MiB, cfg.Limits.MaxBody)
}

func TestRootTablesGetPerRootDefaults(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(dir, "site"), 0o755))
	cfg, err := Parse([]byte("[origin]\nroot = \"site\"\n[roots.site]\npath = \"site\"\nwrites = true\n"), "c.toml", dir)
	require.NoError(t, err)
	site := cfg.Roots["site"]
	assert.Equal(t, "site", site.Name)
	assert.True(t, site.Writes)
	assert.True(t, site.Listing, "unset keys take the per-root default")
	assert.Equal(t, []string{"index.html"}, site.Index)
	assert.NotContains(t, cfg.Roots, "www", "declaring a root replaces the default one")
}

func TestErrorsNameKeyAndLine(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(dir, "www"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "file"), nil, 0o644))
	tests := []struct {
		name, toml string
		key        string
		line       int
	}{
		{"unknown top-level key", "\nfoo = 1\n", "foo", 2},
		{"unknown key in table", "[origin]\nlisten = \"127.0.0.1:1\"\nlistne = 1\n", "origin.listne", 3},
		{"unknown key in root", "[roots.www]\npath = \"www\"\n\nindx = []\n", "roots.www.indx", 4},
		{"unknown table", "\n[nope]\nx = 1\n", "nope", 2},
		{"wrong type", "[limits]\nmax_headers = \"many\"\n", "limits.max_headers", 2},
		{"wrong type in root", "[roots.www]\nlisting = \"yes\"\n", "roots.www.listing", 2},
		{"bad address", "[origin]\n# c\nlisten = \"nowhere\"\n", "origin.listen", 3},
		{"bad port", "[origin]\nlisten = \"127.0.0.1:99999\"\n", "origin.listen", 2},
		{"missing root dir", "[roots.www]\npath = \"missing\"\n", "roots.www.path", 2},
		{"root is a file", "[roots.www]\npath = \"file\"\n", "roots.www.path", 2},
		{"undefined root name", "[origin]\nroot = \"other\"\n", "origin.root", 2},
		{"bad size", "[limits]\nmax_body = \"lots\"\n", "limits.max_body", 2},
		{"negative size", "[limits]\nmax_body = -1\n", "limits.max_body", 2},
		{"bad duration", "[timeouts]\nidle = \"soon\"\n", "timeouts.idle", 2},
		{"zero duration", "[timeouts]\n\nidle = \"0s\"\n", "timeouts.idle", 3},
		{"out of range", "[limits]\nmax_headers = 0\n", "limits.max_headers", 2},
		{"bad enum", "[log]\nlevel = \"loud\"\n", "log.level", 2},
		{"bad nested enum", "[log.access]\nformat = \"xml\"\n", "log.access.format", 2},
		{"bad media type", "[roots.www]\ncompress_types = [\"text\"]\n", "roots.www.compress_types", 2},
		{"dotted key", "origin.listen = \"x\"\n", "origin.listen", 1},
		{"syntax error", "[origin]\nlisten = \n", "", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.toml), "c.toml", dir)
			var cerr *Error
			require.ErrorAs(t, err, &cerr)
			assert.Equal(t, tt.line, cerr.Line, cerr.Error())
			if tt.key != "" {
				assert.Equal(t, tt.key, cerr.Key, cerr.Error())
			}
			assert.Contains(t, cerr.Error(), "c.toml:")
		})
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want Size
		ok   bool
	}{
		{"512", 512, true}, {"512B", 512, true}, {"64KiB", 64 << 10, true}, {"64 kib", 64 << 10, true},
		{"1MiB", 1 << 20, true}, {"10MB", 10e6, true}, {"2GiB", 2 << 30, true}, {"1k", 1024, true},
		{"", 0, false}, {"-1", 0, false}, {"1.5MiB", 0, false}, {"10 parsecs", 0, false},
		{"99999999999999GiB", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseSize(tt.in)
		if !tt.ok {
			assert.Error(t, err, tt.in)
			continue
		}
		require.NoError(t, err, tt.in)
		assert.Equal(t, tt.want, got, tt.in)
	}
	assert.Equal(t, "64KiB", (64 * KiB).String())
	assert.Equal(t, "1000B", Size(1000).String())
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"30s", 30 * time.Second, true}, {"250ms", 250 * time.Millisecond, true},
		{"1h30m", 90 * time.Minute, true}, {"7d", 7 * 24 * time.Hour, true}, {"1d12h", 36 * time.Hour, true},
		{"soon", 0, false}, {"-1s", 0, false}, {"d", 0, false}, {"10", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if !tt.ok {
			assert.Error(t, err, tt.in)
			continue
		}
		require.NoError(t, err, tt.in)
		assert.Equal(t, tt.want, got, tt.in)
	}
}

func TestRelativeAccessLogPath(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(dir, "www"), 0o755))
	cfg, err := Parse([]byte("[log.access]\npath = \"access.log\"\n"), "c.toml", dir)
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(dir, "access.log"), cfg.Log.Access.Path)

	_, err = Parse([]byte("[log.access]\npath = \"no/such/dir/access.log\"\n"), "c.toml", dir)
	var cerr *Error
	require.ErrorAs(t, err, &cerr)
	assert.Equal(t, "log.access.path", cerr.Key)
}
