package config

import (
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// siteDir returns a temporary config directory holding the directory www
// and the regular file "file".
func siteDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(dir, "www"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "file"), nil, 0o644))
	return dir
}

// parseFails parses text as c.toml in dir, requires the *Error it fails
// with, checks its key and line, and returns it.
func parseFails(t *testing.T, dir, text, key string, line int) *Error {
	t.Helper()
	_, err := Parse([]byte(text), "c.toml", dir)
	var cerr *Error
	require.ErrorAs(t, err, &cerr, text)
	assert.Equal(t, key, cerr.Key, cerr.Error())
	assert.Equal(t, line, cerr.Line, cerr.Error())
	return cerr
}

// defaultsIn is Default with the paths a file in dir would resolve.
func defaultsIn(dir string) *Config {
	want := Default()
	want.Roots[DefaultRoot].Path = filepath.Join(dir, "www")
	want.Wasm.CacheDir = filepath.Join(dir, "cachedir", "wasm")
	want.Cache.Dir = filepath.Join(dir, "cachedir")
	return want
}

func TestDefault(t *testing.T) {
	cfg := Default()
	assert.Equal(t, "127.0.0.1:8080", cfg.Origin.Listen)
	assert.Equal(t, "www", cfg.Origin.Root)
	require.Contains(t, cfg.Roots, "www")
	assert.Equal(t, &Root{
		Name: "www", Path: "www", Index: []string{"index.html"}, Listing: true, Writes: false,
		Compress: true, CompressMinSize: 1024,
		CompressTypes: []string{"text/*", "application/javascript", "application/json",
			"application/xml", "image/svg+xml", "application/wasm"},
		Precompressed: true,
	}, cfg.Roots["www"])
	assert.Equal(t, Limits{
		MaxConnections: 10000, MaxRequestsPerConnection: 10000, MaxRequestLine: 8 << 10,
		MaxHeaderBytes: 64 << 10, MaxHeaders: 100, MaxBody: 64 << 20, MaxDrain: 256 << 10,
	}, cfg.Limits)
	assert.Equal(t, Timeouts{
		Header: Duration{10 * time.Second}, Body: Duration{30 * time.Second}, Write: Duration{30 * time.Second},
		Idle: Duration{75 * time.Second}, Shutdown: Duration{10 * time.Second},
	}, cfg.Timeouts)
	assert.Equal(t, Log{Level: "info", Format: "text", Access: AccessLog{
		Path: "stdout", Format: "combined", MaxSize: 100 << 20, MaxAge: Duration{24 * time.Hour}, Keep: 7, Compress: true,
	}}, cfg.Log)
	assert.Equal(t, slog.LevelInfo, cfg.Log.SlogLevel())

	Default().Roots["www"].Index[0] = "changed"
	assert.Equal(t, "index.html", Default().Roots["www"].Index[0], "each call returns fresh values")
}

func TestRepoConfigFileIsTheDefault(t *testing.T) {
	// Parsed against a copy of the tree's layout, so that the test does not
	// depend on the policies having been built.
	data, err := os.ReadFile("../../config.toml")
	require.NoError(t, err)
	dir := siteDir(t)
	require.NoError(t, os.Mkdir(filepath.Join(dir, "policies"), 0o755))
	for _, name := range []string{"redirects", "basicauth", "cache"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, "policies", name+".wasm"), nil, 0o644))
	}
	cfg, err := Parse(data, "config.toml", dir)
	require.NoError(t, err)
	// The default site differs from the defaults on purpose in three
	// places, which the file says: writes are on, guarded by basicauth,
	// and the proxy caches with the cache policy.
	assert.Equal(t, []string{"redirects", "basicauth"}, cfg.Origin.Policies)
	require.Contains(t, cfg.Policies, "redirects")
	require.Contains(t, cfg.Policies, "basicauth")
	require.Contains(t, cfg.Policies, "cache")
	assert.Equal(t, filepath.Join(dir, "policies", "redirects.wasm"), cfg.Policies["redirects"].Wasm)
	assert.True(t, cfg.Roots["www"].Writes)
	assert.Equal(t, "cache", cfg.Cache.Policy)
	cfg.Origin.Policies, cfg.Policies, cfg.Roots["www"].Writes, cfg.Cache.Policy = nil, nil, false, ""
	assert.Equal(t, defaultsIn(dir), cfg, "config.toml shows every other default")
}

func TestEmptyFileGivesDefaults(t *testing.T) {
	dir := siteDir(t)
	for _, text := range []string{"", "# nothing\n\n", "[origin]\n[limits]\n"} {
		cfg, err := Parse([]byte(text), "c.toml", dir)
		require.NoError(t, err, text)
		assert.Equal(t, defaultsIn(dir), cfg, text)
	}
}

func TestRootTablesGetPerRootDefaults(t *testing.T) {
	dir := siteDir(t)
	require.NoError(t, os.Mkdir(filepath.Join(dir, "site"), 0o755))
	text := `
[origin]
root = "site"

[roots.site]
path = "site"
writes = true
index = ["home.html", "index.htm"]

[roots."my files"]
path = "www"
listing = false
`
	cfg, err := Parse([]byte(text), "c.toml", dir)
	require.NoError(t, err)
	assert.Len(t, cfg.Roots, 2, "declaring roots replaces the default one")

	site := DefaultRootSettings("site")
	site.Path, site.Writes, site.Index = filepath.Join(dir, "site"), true, []string{"home.html", "index.htm"}
	assert.Equal(t, site, cfg.Roots["site"])

	files := DefaultRootSettings("my files")
	files.Path, files.Listing = filepath.Join(dir, "www"), false
	assert.Equal(t, files, cfg.Roots["my files"], "a root does not inherit what another root sets")
}

func TestEveryKeySet(t *testing.T) {
	dir := siteDir(t)
	text := `
origin = { listen = ":0", root = "www" }
roots.www = { path = "www", index = [], listing = false, writes = true, compress = false, compress_min_size = 0, compress_types = [], precompressed = false }
[limits]
max_connections = 1
max_requests_per_connection = 0
max_request_line = "256 B"
max_header_bytes = "1kib"
max_headers = 10000
max_body = 1
max_drain = "1MB"
[timeouts]
header = "1ms"
body = "1m"
write = "1h"
idle = "1d"
shutdown = "1d1ns"
[log]
level = "debug"
format = "json"
access.path = "/var/log/access.log"
access.format = "json"
access.max_size = 0
access.max_age = "0s"
access.keep = 0
access.compress = false
[wasm]
cache_dir = ""
memory_limit = "1MiB"
call_timeout = "1s"
[proxy]
listen = ""
policies = []
name = "edge-1"
connect_timeout = "1s"
response_header_timeout = "2s"
read_timeout = "3s"
idle_timeout = "4s"
tunnel_idle_timeout = "5s"
max_idle_per_host = 0
max_conns_per_host = 1
connect_ports = [443, 8443]
x_forwarded_for = true
preserve_host = true
x_forwarded = true
[admin]
listen = ""
[cache]
policy = ""
dir = "/var/cache/wasmhttpd"
max_size = "1MiB"
max_entries = 1
max_object_size = 1
max_memory = 0
`
	cfg, err := Parse([]byte(text), "c.toml", dir)
	require.NoError(t, err)
	assert.Equal(t, &Config{
		Origin: Origin{Listen: ":0", Root: "www"},
		Roots: map[string]*Root{"www": {Name: "www", Path: filepath.Join(dir, "www"), Index: []string{},
			Writes: true, CompressTypes: []string{}}},
		Limits: Limits{MaxConnections: 1, MaxRequestLine: 256, MaxHeaderBytes: 1024, MaxHeaders: 10000,
			MaxBody: 1, MaxDrain: 1000000},
		Timeouts: Timeouts{Header: Duration{time.Millisecond}, Body: Duration{time.Minute}, Write: Duration{time.Hour},
			Idle: Duration{24 * time.Hour}, Shutdown: Duration{24*time.Hour + 1}},
		Log:  Log{Level: "debug", Format: "json", Access: AccessLog{Path: "/var/log/access.log", Format: "json"}},
		Wasm: Wasm{MemoryLimit: MiB, CallTimeout: Duration{time.Second}},
		Proxy: Proxy{Policies: []string{}, Name: "edge-1", ConnectTimeout: Duration{time.Second}, ResponseHeaderTimeout: Duration{2 * time.Second},
			ReadTimeout: Duration{3 * time.Second}, IdleTimeout: Duration{4 * time.Second}, TunnelIdleTimeout: Duration{5 * time.Second},
			MaxConnsPerHost: 1, ConnectPorts: []int{443, 8443}, XForwardedFor: true, PreserveHost: true, XForwarded: true},
		Cache: Cache{Dir: "/var/cache/wasmhttpd", MaxSize: MiB, MaxEntries: 1, MaxObjectSize: 1, MaxMemory: 0},
		Mail:  defaultMail(), // every key of [mail] is in mail_test.go
	}, cfg)
	assert.Equal(t, slog.LevelDebug, cfg.Log.SlogLevel())
}

func TestAddresses(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:8080", ":80", "localhost:0", "[::1]:65535", "[fe80::1%eth0]:80", "0.0.0.0:443"} {
		assert.NoError(t, checkAddress(addr), addr)
	}
	for _, addr := range []string{"", "foo", "127.0.0.1", ":http", ":65536", ":-1", "example.com:80", "::1:80", "1.2.3.4:5:6"} {
		assert.Error(t, checkAddress(addr), addr)
	}
}

func TestErrorsNameKeyAndLine(t *testing.T) {
	tests := []struct {
		name, toml string
		key        string
		line       int
		msg        string // a part of the message
	}{
		{"syntax error", "[origin]\nlisten = \n", "origin.listen", 2, "expected value"},
		{"duplicate key", "[log]\nlevel = \"info\"\nlevel = \"info\"\n", "log.level", 3, "already been defined"},

		{"unknown top-level key", "\nfoo = 1\n", "foo", 2, "unknown key"},
		{"unknown key in table", "[origin]\nlisten = \"127.0.0.1:1\"\nlistne = 1\n", "origin.listne", 3, "unknown key"},
		{"unknown key in root", "[roots.www]\npath = \"www\"\n\nindx = []\n", "roots.www.indx", 4, "unknown key"},
		{"unknown key in nested table", "[log]\n[log.access]\nrotate = true\n", "log.access.rotate", 3, "unknown key"},
		{"unknown key in inline table", "origin = {listen = \":1\", port = 1}\n", "origin.port", 1, "unknown key"},
		{"unknown dotted key", "[log]\naccess.size = 1\n", "log.access.size", 2, "unknown key"},
		{"unknown table", "\n[nope]\nx = 1\n", "nope", 2, "unknown key"},
		{"unknown array of tables", "[[origin.routes]]\nx = 1\n", "origin.routes", 1, "unknown key"},
		{"key in wrong case", "[origin]\nListen = \":1\"\n", "origin.Listen", 2, "did you mean listen?"},
		{"table in wrong case", "[Limits]\n", "Limits", 1, "did you mean limits?"},
		{"key below a scalar", "[timeouts.idle]\nx = 1\n", "timeouts.idle", 1, "expected a duration"},

		{"string for integer", "[limits]\nmax_headers = \"many\"\n", "limits.max_headers", 2, "expected an integer, found a string"},
		{"bad proxy address", "[proxy]\nlisten = \"8888\"\n", "proxy.listen", 2, "bad address"},
		{"bad admin address", "\n[admin]\nlisten = \"nowhere:x\"\n", "admin.listen", 3, "bad address"},
		{"connect port", "[proxy]\nconnect_ports = [443, 70000]\n", "proxy.connect_ports", 2, "70000 is not a port"},
		{"proxy policy undefined", "[proxy]\npolicies = [\"nope\"]\n", "proxy.policies", 2, `no policy named "nope"`},
		{"cache policy undefined", "[cache]\npolicy = \"nope\"\n", "cache.policy", 2, `no policy named "nope"`},
		{"object larger than cache", "[cache]\nmax_size = \"1MiB\"\nmax_object_size = \"2MiB\"\n", "cache.max_object_size", 3, "larger than cache.max_size"},
		{"negative memory", "[cache]\nmax_memory = -1\n", "cache.max_memory", 2, "negative"},
		{"zero proxy timeout", "[proxy]\nconnect_timeout = \"0s\"\n", "proxy.connect_timeout", 2, "longer than 0s"},
		{"integer for string", "[origin]\nlisten = 8080\n", "origin.listen", 2, "expected a string, found an integer"},
		{"string for boolean in root", "[roots.www]\nlisting = \"yes\"\n", "roots.www.listing", 2, "expected a boolean"},
		{"string for array", "[roots.www]\nindex = \"index.html\"\n", "roots.www.index", 2, "expected an array"},
		{"integer in array", "[roots.www]\ncompress_types = [\n  \"text/*\",\n  1,\n]\n", "roots.www.compress_types", 2, "expected a string, found an integer"},
		{"scalar for roots", "roots = \"www\"\n", "roots", 1, "expected a table"},
		{"scalar for a root", "[roots]\nwww = \"www\"\n", "roots.www", 2, "expected a table"},
		{"scalar for table", "log = \"debug\"\n", "log", 1, "expected a table"},
		{"integer too big", "[limits]\nmax_headers = 99999999999999999999\n", "limits.max_headers", 2, "out of range"},

		{"address without port", "[origin]\n# c\nlisten = \"nowhere\"\n", "origin.listen", 3, `bad address "nowhere": missing port`},
		{"port out of range", "[origin]\nlisten = \"127.0.0.1:99999\"\n", "origin.listen", 2, "bad address"},
		{"named port", "[origin]\nlisten = \":http\"\n", "origin.listen", 2, "bad address"},
		{"host name", "[origin]\nlisten = \"example.com:80\"\n", "origin.listen", 2, "not an IP address or localhost"},

		{"missing root dir", "[roots.www]\npath = \"missing\"\n", "roots.www.path", 2, "does not exist"},
		{"root is a file", "[roots.www]\n\npath = \"file\"\n", "roots.www.path", 3, "is not a directory"},
		{"empty root path", "[roots.www]\npath = \"\"\n", "roots.www.path", 2, "needs a directory"},
		{"missing dir of quoted root", "[origin]\nroot = \"my site\"\n[roots.\"my site\"]\npath = \"gone\"\n",
			`roots."my site".path`, 4, "does not exist"},
		{"missing default path of a root", "[origin]\nroot = \"site\"\n[roots.site]\nlisting = false\n", "roots.site.path", 3, "does not exist"},
		{"missing default root", "[roots.www]\npath = \"www\"\n[roots.other]\npath = \"missing\"\n", "roots.other.path", 4, "does not exist"},
		{"undefined root name", "[origin]\nroot = \"other\"\n", "origin.root", 2, `no root named "other"`},
		{"default root undefined", "[origin]\nlisten = \":1\"\n[roots.site]\npath = \"www\"\n", "origin.root", 1, `no root named "www"`},
		{"index with slash", "[roots.www]\nindex = [\"a/index.html\"]\n", "roots.www.index", 2, "not a plain file name"},
		{"bad media type", "[roots.www]\ncompress_types = [\"text\"]\n", "roots.www.compress_types", 2, "not a media type"},

		{"bad size", "[limits]\nmax_body = \"lots\"\n", "limits.max_body", 2, "not a size"},
		{"bad size unit", "[limits]\nmax_body = \"10m\"\n", "limits.max_body", 2, "not a size"},
		{"negative size", "[limits]\nmax_body = -1\n", "limits.max_body", 2, "negative"},
		{"negative size string", "[log.access]\nmax_size = \"-1KiB\"\n", "log.access.max_size", 2, "negative"},
		{"size overflow", "[limits]\nmax_body = \"9000000000GiB\"\n", "limits.max_body", 2, "too large"},
		{"float size", "[roots.www]\ncompress_min_size = 1.5\n", "roots.www.compress_min_size", 2, "expected a size"},
		{"bad size in root", "[roots.www]\npath = \"www\"\ncompress_min_size = \"1 KiBi\"\n", "roots.www.compress_min_size", 3, "not a size"},

		{"bad duration", "[timeouts]\nidle = \"soon\"\n", "timeouts.idle", 2, "not a duration"},
		{"duration without unit", "[timeouts]\nidle = \"75\"\n", "timeouts.idle", 2, "not a duration"},
		{"integer duration", "[timeouts]\nidle = 75\n", "timeouts.idle", 2, "expected a duration"},
		{"negative duration", "[log.access]\nmax_age = \"-1h\"\n", "log.access.max_age", 2, "negative"},
		{"zero timeout", "[timeouts]\n\nidle = \"0s\"\n", "timeouts.idle", 3, "longer than 0s"},

		{"max_headers zero", "[limits]\nmax_headers = 0\n", "limits.max_headers", 2, "0 is out of range: it must be from 1 to 10000"},
		{"max_request_line too big", "[limits]\nmax_request_line = \"2MiB\"\n", "limits.max_request_line", 2, "from 256B to 1MiB"},
		{"max_header_bytes too small", "[limits]\nmax_header_bytes = 100\n", "limits.max_header_bytes", 2, "out of range"},
		{"max_connections zero", "[limits]\nmax_connections = 0\n", "limits.max_connections", 2, "the minimum is 1"},
		{"max_requests negative", "[limits]\nmax_requests_per_connection = -1\n", "limits.max_requests_per_connection", 2, "too small"},
		{"max_body zero", "[limits]\nmax_body = 0\n", "limits.max_body", 2, "the minimum is 1B"},
		{"keep negative", "[log.access]\nkeep = -1\n", "log.access.keep", 2, "too small"},

		{"bad level", "[log]\nlevel = \"loud\"\n", "log.level", 2, `"loud" is not one of debug, info, warn, error`},
		{"bad format", "[log]\nformat = \"xml\"\n", "log.format", 2, "not one of text, json"},
		{"bad access format", "[log.access]\nformat = \"common\"\n", "log.access.format", 2, "not one of combined, json"},
		{"empty access path", "[log.access]\npath = \"\"\n", "log.access.path", 2, "off"},
		{"bad enum in dotted key", "log.access.format = \"xml\"\n", "log.access.format", 1, "not one of"},

		// Of several problems of a kind the earliest line wins, whatever
		// the order of the checks or of the decoder; problems of form
		// come before problems of values.
		{"first by line, checks", "[log]\nlevel = \"loud\"\n[origin]\nlisten = \"x\"\n", "log.level", 2, ""},
		{"form before values", "[log]\nlevel = \"loud\"\n[origin]\nlistne = \"x\"\n", "origin.listne", 4, ""},
		{"key in wrong case, bad value", "[origin]\n\nLISTEN = \"x\"\n", "origin.LISTEN", 3, "unknown key"},
		{"first by line, unknown before type", "[limits]\nmax_bodi = 1\nmax_headers = \"x\"\n", "limits.max_bodi", 2, ""},
		{"first by line, type before unknown", "[limits]\nmax_headers = \"x\"\nmax_bodi = 1\n", "limits.max_headers", 2, ""},
		{"first by line, roots", "[roots.b]\npath = \"b\"\n[roots.a]\npath = \"a\"\n", "roots.b.path", 2, ""},
		{"first by line, bad values in roots", "[roots.b]\ncompress_min_size = \"x\"\n[roots.a]\ncompress_min_size = \"y\"\n",
			"roots.b.compress_min_size", 2, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cerr := parseFails(t, siteDir(t), tt.toml, tt.key, tt.line)
			assert.Equal(t, "c.toml", cerr.File)
			assert.Contains(t, cerr.Msg, tt.msg)
			assert.True(t, strings.HasPrefix(cerr.Error(), "c.toml:"), cerr.Error())
		})
	}
}

func TestErrorWithoutLine(t *testing.T) {
	// The default root is not in the file, so its error has no line.
	_, err := Parse([]byte("[origin]\nlisten = \":1\"\n"), "c.toml", t.TempDir())
	var cerr *Error
	require.ErrorAs(t, err, &cerr)
	assert.Equal(t, Error{File: "c.toml", Line: 0, Key: "roots.www.path", Msg: cerr.Msg}, *cerr)
	assert.Regexp(t, `^c\.toml: roots\.www\.path: directory .*www does not exist$`, err.Error())

	// A problem with a line comes before one without.
	_, err = Parse([]byte("[origin]\n\nlisten = \"x\"\n"), "c.toml", t.TempDir())
	require.ErrorAs(t, err, &cerr)
	assert.Equal(t, "origin.listen", cerr.Key)
}

func TestErrorString(t *testing.T) {
	assert.Equal(t, `config.toml:12: origin.listen: bad address "foo": missing port in address`,
		(&Error{File: "config.toml", Line: 12, Key: "origin.listen", Msg: `bad address "foo": missing port in address`}).Error())
	assert.Equal(t, "config.toml: roots.www.path: gone", (&Error{File: "config.toml", Key: "roots.www.path", Msg: "gone"}).Error())
	assert.Equal(t, "config.toml:3: bad", (&Error{File: "config.toml", Line: 3, Msg: "bad"}).Error())
}

func TestLoad(t *testing.T) {
	dir := siteDir(t)
	path := filepath.Join(dir, "c.toml")
	require.NoError(t, os.WriteFile(path, []byte("[limits]\nmax_body = \"huge\"\n"), 0o644))
	_, err := Load(path)
	assert.EqualError(t, err, path+`:2: limits.max_body: "huge" is not a size like "512", "64KiB" or "10MB"`)

	_, err = Load(filepath.Join(dir, "missing.toml"))
	var cerr *Error
	require.ErrorAs(t, err, &cerr)
	assert.Equal(t, filepath.Join(dir, "missing.toml")+": no such file or directory", err.Error())
}

func TestRelativePathsFollowTheFile(t *testing.T) {
	dir := siteDir(t)
	require.NoError(t, os.Mkdir(filepath.Join(dir, "conf"), 0o755))
	require.NoError(t, os.Mkdir(filepath.Join(dir, "conf", "site"), 0o755))
	text := `
[origin]
root = "site"
[roots.site]
path = "site"
[roots.up]
path = "../www"
[roots.abs]
path = "` + filepath.Join(dir, "www") + `"
[log.access]
path = "logs/access.log"
`
	require.NoError(t, os.WriteFile(filepath.Join(dir, "conf", "c.toml"), []byte(text), 0o644))
	t.Chdir(dir) // Load gets a relative path; the working directory is not conf
	cfg, err := Load("conf/c.toml")
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(dir, "conf", "site"), cfg.Roots["site"].Path)
	assert.Equal(t, filepath.Join(dir, "www"), cfg.Roots["up"].Path)
	assert.Equal(t, filepath.Join(dir, "www"), cfg.Roots["abs"].Path)
	assert.Equal(t, filepath.Join(dir, "conf", "logs", "access.log"), cfg.Log.Access.Path,
		"a log file's missing directory is the access log's to create")

	for _, special := range []string{"stdout", "stderr", "off"} {
		cfg, err := Parse([]byte("[log.access]\npath = \""+special+"\"\n"), "c.toml", dir)
		require.NoError(t, err)
		assert.Equal(t, special, cfg.Log.Access.Path)
	}
}

func TestSlogLevel(t *testing.T) {
	for level, want := range map[string]slog.Level{
		"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError,
	} {
		assert.Equal(t, want, Log{Level: level}.SlogLevel(), level)
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want Size
		err  string // a part of the error; "" for none
	}{
		{"0", 0, ""}, {"512", 512, ""}, {"512B", 512, ""}, {"512 b", 512, ""}, {" 64KiB ", 64 << 10, ""},
		{"64 kib", 64 << 10, ""}, {"1MiB", 1 << 20, ""}, {"2GiB", 2 << 30, ""}, {"3TiB", 3 << 40, ""},
		{"10KB", 10e3, ""}, {"10MB", 10e6, ""}, {"10 mb", 10e6, ""}, {"1GB", 1e9, ""}, {"1TB", 1e12, ""},
		{"8388607TiB", 8388607 << 40, ""}, {"9223372036854775807", 1<<63 - 1, ""},

		{"", 0, "not a size"}, {"KiB", 0, "not a size"}, {"1.5MiB", 0, "not a size"}, {"10 parsecs", 0, "not a size"},
		{"1k", 0, "not a size"}, {"1m", 0, "not a size"}, {"0x10", 0, "not a size"}, {"+1", 0, "not a size"},
		{"1 0", 0, "not a size"}, {"KiB1", 0, "not a size"},
		{"-1", 0, "negative"}, {"-1KiB", 0, "negative"},
		{"8388608TiB", 0, "too large"}, {"9223372036854775808", 0, "too large"}, {"99999999999999999999999GB", 0, "too large"},
	}
	for _, tt := range tests {
		got, err := ParseSize(tt.in)
		if tt.err != "" {
			assert.ErrorContains(t, err, tt.err, tt.in)
			continue
		}
		require.NoError(t, err, tt.in)
		assert.Equal(t, tt.want, got, tt.in)
	}
}

func TestSizeString(t *testing.T) {
	for size, want := range map[Size]string{
		0: "0B", 1: "1B", 1000: "1KB", 1023: "1023B", 1024: "1KiB", 1536: "1536B", 64 << 10: "64KiB",
		1 << 20: "1MiB", 10e6: "10MB", 2000 << 10: "2000KiB", 3 << 30: "3GiB", 1 << 40: "1TiB", 1e12: "1TB",
	} {
		assert.Equal(t, want, size.String())
		back, err := ParseSize(want)
		require.NoError(t, err)
		assert.Equal(t, size, back, "String reads back")
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  string
	}{
		{"30s", 30 * time.Second, ""}, {"250ms", 250 * time.Millisecond, ""}, {"1m30s", 90 * time.Second, ""},
		{"1h30m", 90 * time.Minute, ""}, {" 5m ", 5 * time.Minute, ""}, {"0s", 0, ""}, {"0", 0, ""},
		{"7d", 7 * 24 * time.Hour, ""}, {"1d12h", 36 * time.Hour, ""}, {"0d", 0, ""}, {"106751d", 106751 * 24 * time.Hour, ""},

		{"", 0, "not a duration"}, {"soon", 0, "not a duration"}, {"10", 0, "not a duration"}, {"d", 0, "not a duration"},
		{"1.5d", 0, "not a duration"}, {"1d-1h", 0, "not a duration"}, {"1d2d", 0, "not a duration"}, {"s", 0, "not a duration"},
		{"-1s", 0, "negative"}, {"-1d", 0, "negative"},
		{"106752d", 0, "too long"}, {"106751d24h", 0, "too long"},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if tt.err != "" {
			assert.ErrorContains(t, err, tt.err, tt.in)
			continue
		}
		require.NoError(t, err, tt.in)
		assert.Equal(t, tt.want, got, tt.in)
	}
}

func TestDurationString(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", 250 * time.Millisecond: "250ms", 30 * time.Second: "30s", time.Minute: "1m", 90 * time.Second: "1m30s",
		10 * time.Minute: "10m", time.Hour: "1h", 90 * time.Minute: "1h30m", time.Hour + time.Second: "1h0m1s",
		24 * time.Hour: "24h", 168 * time.Hour: "168h",
	} {
		assert.Equal(t, want, Duration{d}.String())
		back, err := ParseDuration(want)
		require.NoError(t, err)
		assert.Equal(t, d, back, "String reads back")
	}
}

// locatorText has a key of every kind; TestLocator knows their lines.
const locatorText = `# a comment with key = value
top = 1
[origin]   # the origin
listen = "a = b"
  indented = 2
"quoted" = 3
'literal.dot' = 4
"with \"escape\"" = 5
a . b = 6
multi = """
fake = 1
[fake]
"""
after = 7
lit = '''
fake2 = 2'''
arr = [
  "x = 1",  # y = 2
  { k = 1, m = [ { n = 2 } ] },
  [1, 2],
]
inline = { p = 1, q.r = 2 }
date = 1979-05-27 07:32:00Z
last = 8

[ roots . "my site" ]
path = "x"
[roots.www]
path = "y"
[[routes]]
match = "/a"
[[routes]]
match = "/b"
extra = 1
[log.access]
path = "z"
[log]
level = "info"
`

func TestLocator(t *testing.T) {
	l := newLocator([]byte(locatorText))
	for key, line := range map[string]int{
		"top": 2, "origin": 3, "origin.listen": 4, "origin.indented": 5, "origin.quoted": 6,
		`origin."literal.dot"`: 7, `origin."with \"escape\""`: 8, "origin.a": 9, "origin.a.b": 9,
		"origin.multi": 10, "origin.after": 14, "origin.lit": 15, "origin.arr": 17,
		"origin.arr.k": 19, "origin.arr.m": 19, "origin.arr.m.n": 19,
		"origin.inline": 22, "origin.inline.p": 22, "origin.inline.q.r": 22, "origin.date": 23, "origin.last": 24,
		"roots": 26, `roots."my site"`: 26, `roots."my site".path`: 27, "roots.www": 28, "roots.www.path": 29,
		"routes": 30, "routes.match": 31, "routes.extra": 34,
		"log": 35, "log.access": 35, "log.access.path": 36, "log.level": 38,
		// Keys the text does not set fall back to their table, or 0.
		"origin.missing": 3, "roots.www.index": 28, "log.access.keep": 35, "nothing": 0, "nothing.below": 0,
		// The strings and comments hide no keys.
		"origin.fake": 3, "fake": 0, "origin.fake2": 3, "origin.y": 3, "x": 0,
	} {
		assert.Equal(t, line, l.line(key), key)
	}
}

func TestLocatorSurvivesBrokenText(t *testing.T) {
	for _, text := range []string{
		"[", "[[", "a", "a =", "a = \"", "a = '''", `a = "\`, "a = [", "a = {", "a = [{", "= 1", "[a.", "\"a", "a.=1",
		"a = [1,,]", "a = {b = }", "[a]]\nb = 1", "\x00\xff", "a = \"\"\"\"\"\"\"\"",
	} {
		assert.NotPanics(t, func() { newLocator([]byte(text)).line("a.b") }, text)
	}
}

func FuzzLocator(f *testing.F) {
	data, err := os.ReadFile("../../config.toml")
	require.NoError(f, err)
	f.Add(data)
	f.Add([]byte(locatorText))
	f.Add([]byte("a = [{b = \"\"\"x\n\"\"\"}]\n[[c]]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		l := newLocator(data)
		for key := range l.lines {
			l.line(key)
		}
		// Every key of a valid file is found, on a line that has its last
		// part when that part is bare and not escaped.
		var v map[string]any
		md, err := toml.Decode(string(data), &v)
		if err != nil {
			return
		}
		lines := strings.Split(string(data), "\n")
		for _, key := range md.Keys() {
			n, ok := l.lines[key.String()]
			if !assert.True(t, ok, "%s not found in %q", key, data) || !assert.LessOrEqual(t, n, len(lines), key.String()) {
				continue
			}
			if last := key[len(key)-1]; (toml.Key{last}).String() == last && !strings.Contains(lines[n-1], `\`) {
				assert.Contains(t, lines[n-1], last, "%s in %q", key, data)
			}
		}
	})
}

func TestPolicies(t *testing.T) {
	dir := siteDir(t)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "p.wasm"), []byte("\x00asm"), 0o644))
	text := `
[origin]
policies = ["redirects", "auth"]

[policies.redirects]
wasm = "p.wasm"
config = { rules = [{ from = "/old.html", to = "/new.html", status = 301 }] }

[policies.auth]
wasm = "p.wasm"
on_error = "fail-open"
pool_size = 3
`
	cfg, err := Parse([]byte(text), "c.toml", dir)
	require.NoError(t, err)
	assert.Equal(t, []string{"redirects", "auth"}, cfg.Origin.Policies)
	red := cfg.Policies["redirects"]
	assert.Equal(t, "redirects", red.Name)
	assert.Equal(t, filepath.Join(dir, "p.wasm"), red.Wasm)
	assert.Equal(t, "fail-closed", red.OnError, "the default")
	asJSON, err := json.Marshal(red.Config)
	require.NoError(t, err)
	assert.JSONEq(t, `{"rules":[{"from":"/old.html","to":"/new.html","status":301}]}`, string(asJSON))
	assert.Equal(t, "fail-open", cfg.Policies["auth"].OnError)
	assert.Equal(t, 3, cfg.Policies["auth"].PoolSize)

	for _, tt := range []struct {
		text, key string
		line      int
	}{
		{"[origin]\npolicies = [\"nope\"]\n", "origin.policies", 2},
		{"[policies.a]\nwasm = \"missing.wasm\"\n", "policies.a.wasm", 2},
		{"[policies.a]\nwasm = \"p.wasm\"\non_error = \"shrug\"\n", "policies.a.on_error", 3},
		{"[policies.a]\nwasm = \"p.wasm\"\nwsm = 1\n", "policies.a.wsm", 3},
		{"[wasm]\nmemory_limit = \"1KiB\"\n", "wasm.memory_limit", 2},
	} {
		parseFails(t, dir, tt.text, tt.key, tt.line)
	}
}

func TestOverrides(t *testing.T) {
	dir := siteDir(t)
	other := t.TempDir()
	file := "[origin]\nlisten = \"127.0.0.1:8080\"\n[roots.www]\npath = \"www\"\n[roots.files]\npath = \"www\"\n"

	cfg, err := ParseWith([]byte(file), "c.toml", dir, Overrides{Listen: "127.0.0.1:4221", Roots: map[string]string{"files": other}})
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:4221", cfg.Origin.Listen)
	assert.Equal(t, other, cfg.Roots["files"].Path)
	assert.Equal(t, filepath.Join(dir, "www"), cfg.Roots["www"].Path, "roots not named keep the file's path")

	for _, tc := range []struct {
		o    Overrides
		want string
	}{
		{Overrides{Listen: "nowhere"}, "c.toml: -listen (origin.listen): bad address"},
		{Overrides{Roots: map[string]string{"files": filepath.Join(other, "missing")}}, "c.toml: -root files (roots.files.path): directory"},
		{Overrides{Roots: map[string]string{"nope": other}}, `c.toml: -root nope=` + other + `: no root named "nope" in the file; it has files, www`},
	} {
		_, err := ParseWith([]byte(file), "c.toml", dir, tc.o)
		assert.ErrorContains(t, err, tc.want)
	}
}
