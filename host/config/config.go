// Package config is the TOML schema of wasmhttpd: its defaults, strict
// decoding and validation. Every error names the file, line and key at
// fault, because an operator fixing a config at 3 a.m. should not have to
// search for it.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// Config is the whole configuration.
type Config struct {
	Origin   Origin           `toml:"origin"`
	Roots    map[string]*Root `toml:"-"`
	Limits   Limits           `toml:"limits"`
	Timeouts Timeouts         `toml:"timeouts"`
	Log      Log              `toml:"log"`
}

// Origin is the origin-server listener.
type Origin struct {
	Listen string `toml:"listen"` // host:port
	Root   string `toml:"root"`   // name of the [roots.NAME] served by default
}

// Root is one named document root, [roots.NAME].
type Root struct {
	Name            string   `toml:"-"`
	Path            string   `toml:"path"`
	Index           []string `toml:"index"`
	Listing         bool     `toml:"listing"`
	Writes          bool     `toml:"writes"`
	Compress        bool     `toml:"compress"`
	CompressMinSize Size     `toml:"compress_min_size"`
	CompressTypes   []string `toml:"compress_types"`
	Precompressed   bool     `toml:"precompressed"`
}

// Limits bound what clients may send and hold.
type Limits struct {
	MaxConnections           int  `toml:"max_connections"`
	MaxRequestsPerConnection int  `toml:"max_requests_per_connection"`
	MaxRequestLine           Size `toml:"max_request_line"`
	MaxHeaderBytes           Size `toml:"max_header_bytes"`
	MaxHeaders               int  `toml:"max_headers"`
	MaxBody                  Size `toml:"max_body"`
	MaxDrain                 Size `toml:"max_drain"`
}

// Timeouts bound how long a client may take.
type Timeouts struct {
	Header   Duration `toml:"header"`
	Body     Duration `toml:"body"`
	Write    Duration `toml:"write"`
	Idle     Duration `toml:"idle"`
	Shutdown Duration `toml:"shutdown"`
}

// Log configures the server log (stderr) and the access log.
type Log struct {
	Level  string    `toml:"level"`
	Format string    `toml:"format"`
	Access AccessLog `toml:"access"`
}

// AccessLog configures the access log and its rotation.
type AccessLog struct {
	Path     string   `toml:"path"` // "stdout", "stderr", "off" or a file
	Format   string   `toml:"format"`
	MaxSize  Size     `toml:"max_size"`
	MaxAge   Duration `toml:"max_age"`
	Keep     int      `toml:"keep"`
	Compress bool     `toml:"compress"`
}

// SlogLevel returns the level as slog's.
func (l Log) SlogLevel() slog.Level {
	switch l.Level {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// DefaultRoot is the name and path of the root used when none is declared.
const DefaultRoot = "www"

// Default returns the configuration used for every key a file leaves out.
func Default() *Config {
	return &Config{
		Origin: Origin{Listen: "127.0.0.1:8080", Root: DefaultRoot},
		Limits: Limits{
			MaxConnections:           10000,
			MaxRequestsPerConnection: 10000,
			MaxRequestLine:           8 * KiB,
			MaxHeaderBytes:           64 * KiB,
			MaxHeaders:               100,
			MaxBody:                  64 * MiB,
			MaxDrain:                 256 * KiB,
		},
		Timeouts: Timeouts{
			Header:   seconds(10),
			Body:     seconds(30),
			Write:    seconds(30),
			Idle:     seconds(75),
			Shutdown: seconds(10),
		},
		Log: Log{
			Level:  "info",
			Format: "text",
			Access: AccessLog{
				Path:     "stdout",
				Format:   "combined",
				MaxSize:  100 * MiB,
				MaxAge:   seconds(24 * 3600),
				Keep:     7,
				Compress: true,
			},
		},
	}
}

// DefaultRootSettings is what a [roots.NAME] table starts from.
func DefaultRootSettings(name string) *Root {
	return &Root{
		Name:            name,
		Path:            name,
		Index:           []string{"index.html"},
		Listing:         true,
		Compress:        true,
		CompressMinSize: 1 * KiB,
		CompressTypes: []string{"text/*", "application/javascript", "application/json",
			"application/xml", "image/svg+xml", "application/wasm"},
		Precompressed: true,
	}
}

// Load reads and validates the file at path. Relative paths inside it are
// resolved against the file's directory, so a config means the same
// whatever directory the server is started from.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &Error{File: path, Msg: err.Error()}
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, &Error{File: path, Msg: err.Error()}
	}
	return Parse(data, path, filepath.Dir(abs))
}

// file is the decoding target: Config with the tables that need
// per-entry defaults left raw.
type file struct {
	Config
	Roots map[string]toml.Primitive `toml:"roots"`
}

// Parse decodes and validates data. name appears in messages; dir is
// where relative paths start.
func Parse(data []byte, name, dir string) (*Config, error) {
	loc := newLocator(data)
	fail := func(key, format string, args ...any) error {
		return &Error{File: name, Line: loc.line(key), Key: key, Msg: fmt.Sprintf(format, args...)}
	}

	f := file{Config: *Default()}
	md, err := toml.Decode(string(data), &f)
	if err != nil {
		return nil, decodeError(name, err, loc)
	}
	cfg := &f.Config
	cfg.Roots = make(map[string]*Root, len(f.Roots))
	for rootName, prim := range f.Roots {
		root := DefaultRootSettings(rootName)
		if err := md.PrimitiveDecode(prim, root); err != nil {
			return nil, decodeError(name, err, loc)
		}
		cfg.Roots[rootName] = root
	}
	if undecoded := md.Undecoded(); len(undecoded) > 0 {
		keys := make([]string, len(undecoded))
		for i, k := range undecoded {
			keys[i] = k.String()
		}
		slices.SortFunc(keys, func(a, b string) int { return loc.line(a) - loc.line(b) })
		return nil, fail(keys[0], "unknown key")
	}
	if len(cfg.Roots) == 0 {
		cfg.Roots[DefaultRoot] = DefaultRootSettings(DefaultRoot)
	}
	if err := cfg.validate(dir, fail); err != nil {
		return nil, err
	}
	return cfg, nil
}

// validate checks what the types alone cannot, table by table.
func (c *Config) validate(dir string, fail func(key, format string, args ...any) error) error {
	if err := checkAddress(c.Origin.Listen); err != nil {
		return fail("origin.listen", "bad address %q: %v", c.Origin.Listen, err)
	}
	if _, ok := c.Roots[c.Origin.Root]; !ok {
		return fail("origin.root", "no [roots.%s] table is defined", c.Origin.Root)
	}
	for _, name := range sortedKeys(c.Roots) {
		if err := c.Roots[name].validate(dir, fail); err != nil {
			return err
		}
	}
	if err := c.Limits.validate(fail); err != nil {
		return err
	}
	if err := c.Timeouts.validate(fail); err != nil {
		return err
	}
	return c.Log.validate(dir, fail)
}

func (r *Root) validate(dir string, fail func(key, format string, args ...any) error) error {
	key := "roots." + r.Name
	if r.Path == "" {
		return fail(key+".path", "a root needs a directory")
	}
	if !filepath.IsAbs(r.Path) {
		r.Path = filepath.Join(dir, r.Path)
	}
	fi, err := os.Stat(r.Path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fail(key+".path", "directory %s does not exist", r.Path)
	case err != nil:
		return fail(key+".path", "%v", err)
	case !fi.IsDir():
		return fail(key+".path", "%s is not a directory", r.Path)
	}
	for _, name := range r.Index {
		if name == "" || strings.ContainsAny(name, "/\\\x00") {
			return fail(key+".index", "%q is not a plain file name", name)
		}
	}
	for _, t := range r.CompressTypes {
		if strings.Count(t, "/") != 1 || strings.ContainsAny(t, " ;") {
			return fail(key+".compress_types", "%q is not a media type like \"text/*\" or \"application/json\"", t)
		}
	}
	return nil
}

func (l *Limits) validate(fail func(key, format string, args ...any) error) error {
	checks := []struct {
		key      string
		value    int64
		min, max int64
	}{
		{"limits.max_connections", int64(l.MaxConnections), 1, 1 << 20},
		{"limits.max_requests_per_connection", int64(l.MaxRequestsPerConnection), 0, 1 << 40},
		{"limits.max_request_line", int64(l.MaxRequestLine), 256, int64(MiB)},
		{"limits.max_header_bytes", int64(l.MaxHeaderBytes), int64(KiB), 16 * int64(MiB)},
		{"limits.max_headers", int64(l.MaxHeaders), 1, 10000},
		{"limits.max_body", int64(l.MaxBody), 0, 1 << 50},
		{"limits.max_drain", int64(l.MaxDrain), 0, 1 << 40},
	}
	for _, c := range checks {
		if c.value < c.min || c.value > c.max {
			return fail(c.key, "%d is out of range [%d, %d]", c.value, c.min, c.max)
		}
	}
	return nil
}

func (t *Timeouts) validate(fail func(key, format string, args ...any) error) error {
	for _, d := range []struct {
		key   string
		value Duration
	}{
		{"timeouts.header", t.Header}, {"timeouts.body", t.Body}, {"timeouts.write", t.Write},
		{"timeouts.idle", t.Idle}, {"timeouts.shutdown", t.Shutdown},
	} {
		if d.value.Duration <= 0 {
			return fail(d.key, "must be greater than zero")
		}
	}
	return nil
}

func (l *Log) validate(dir string, fail func(key, format string, args ...any) error) error {
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, l.Level) {
		return fail("log.level", "%q is not one of debug, info, warn, error", l.Level)
	}
	if !slices.Contains([]string{"text", "json"}, l.Format) {
		return fail("log.format", "%q is not one of text, json", l.Format)
	}
	a := &l.Access
	if !slices.Contains([]string{"combined", "json"}, a.Format) {
		return fail("log.access.format", "%q is not one of combined, json", a.Format)
	}
	if a.Keep < 0 {
		return fail("log.access.keep", "must not be negative")
	}
	switch a.Path {
	case "":
		return fail("log.access.path", `must be "stdout", "stderr", "off" or a file path`)
	case "stdout", "stderr", "off":
	default:
		if !filepath.IsAbs(a.Path) {
			a.Path = filepath.Join(dir, a.Path)
		}
		if fi, err := os.Stat(filepath.Dir(a.Path)); err != nil || !fi.IsDir() {
			return fail("log.access.path", "directory %s does not exist", filepath.Dir(a.Path))
		}
	}
	return nil
}

// checkAddress accepts host:port with a numeric port; the host may be
// empty (every interface), an IP address or a name.
func checkAddress(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return errors.New(strings.TrimPrefix(err.Error(), "address "+addr+": "))
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("port %q is not a number from 0 to 65535", port)
	}
	if strings.ContainsAny(host, " /") {
		return fmt.Errorf("host %q is not an address or name", host)
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Error is a configuration problem with its place in the file.
type Error struct {
	File string
	Line int // 0 when unknown
	Key  string
	Msg  string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":" + strconv.Itoa(e.Line))
	}
	if e.Key != "" {
		b.WriteString(": " + e.Key)
	}
	b.WriteString(": " + e.Msg)
	return b.String()
}

// typeMismatch matches the decoder's type errors, which it reports only
// as text: `toml: line 3 (last key "a.b"): incompatible types: ...`.
var typeMismatch = regexp.MustCompile(`^toml: (?:line (\d+) )?\(last key "([^"]*)"\): (.*)$`)

// decodeError turns the TOML decoder's errors into an *Error.
func decodeError(name string, err error, loc *locator) error {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		line := pe.Position.Line
		if line == 0 && pe.LastKey != "" {
			line = loc.line(pe.LastKey)
		}
		msg := pe.Message
		if inner := errors.Unwrap(pe); inner != nil {
			msg = inner.Error()
		}
		return &Error{File: name, Line: line, Key: pe.LastKey, Msg: msg}
	}
	if m := typeMismatch.FindStringSubmatch(err.Error()); m != nil {
		line, _ := strconv.Atoi(m[1])
		if line == 0 {
			line = loc.line(m[2])
		}
		return &Error{File: name, Line: line, Key: m[2], Msg: m[3]}
	}
	return &Error{File: name, Msg: err.Error()}
}
