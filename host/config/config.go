// Package config is the TOML schema of wasmhttpd: its defaults, strict
// decoding and validation. Loading is strict because a misspelt key that is
// silently ignored leaves the server running with a default the operator
// believes they changed; and every error names the file, line and key at
// fault, because whoever fixes a config at 3 a.m. should not have to search.
//
// Each table has one place for its defaults (Default, or DefaultRootSettings
// for roots) and one check method; a new table adds a field to Config, its
// defaults to Default and a call to its check in Config.check.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Config is the whole configuration. Paths in it are absolute once Load or
// Parse returns (Default leaves them relative to the working directory).
type Config struct {
	Origin   Origin             `toml:"origin"`
	Roots    map[string]*Root   `toml:"roots"` // by name; never empty
	Limits   Limits             `toml:"limits"`
	Timeouts Timeouts           `toml:"timeouts"`
	Log      Log                `toml:"log"`
	Wasm     Wasm               `toml:"wasm"`
	Policies map[string]*Policy `toml:"policies"` // by name
	Proxy    Proxy              `toml:"proxy"`
	Cache    Cache              `toml:"cache"`
	Admin    Admin              `toml:"admin"`
	Ping     Ping               `toml:"ping"`
	Mail     Mail               `toml:"mail"`
}

// Admin is the admin listener: metrics, health checks and the status page,
// on an address of its own so that they stay off the public listeners.
type Admin struct {
	Listen string `toml:"listen"` // "" runs no admin listener
}

// Origin is the origin-server listener.
type Origin struct {
	// Listen is host:port. The host is empty (every interface), an IP
	// address or "localhost": a DNS name could resolve to several
	// addresses, or to none at the next start.
	Listen string `toml:"listen"`
	// Root names the entry of Config.Roots served when nothing more
	// specific matches; Parse guarantees that it exists.
	Root string `toml:"root"`
	// Policies names the [policies.NAME] entries every request passes
	// through, in order (handle_response runs in reverse).
	Policies []string `toml:"policies"`
}

// Wasm configures the one WebAssembly runtime all policies share.
type Wasm struct {
	// CacheDir keeps compiled machine code across restarts and swaps:
	// compiling a standard-Go guest takes about half a second. "" keeps
	// it in memory only.
	CacheDir    string   `toml:"cache_dir"`
	MemoryLimit Size     `toml:"memory_limit"` // linear memory of each instance
	CallTimeout Duration `toml:"call_timeout"` // each guest call
}

// Policy is one WebAssembly policy module, [policies.NAME].
type Policy struct {
	Name string `toml:"-"` // the NAME of its table
	// Wasm is the module file; it is watched, and a changed file is
	// swapped in while the server runs.
	Wasm string `toml:"wasm"`
	// OnError is what a failing guest costs its request: "fail-closed"
	// answers 500, "fail-open" carries on as if the guest had said next.
	OnError string `toml:"on_error"`
	// PoolSize bounds the instances of the module; 0 sizes it from
	// GOMAXPROCS.
	PoolSize int `toml:"pool_size"`
	// Config is handed to the guest as JSON through get_config; its shape
	// is the policy's business.
	Config map[string]any `toml:"config"`
}

// Root is one named document root, [roots.NAME]. Roots are named so that
// listeners and, later, routes can share one by reference.
type Root struct {
	Name            string   `toml:"-"` // the NAME of its table
	Path            string   `toml:"path"`
	Index           []string `toml:"index"`   // file names tried, in order, for a directory
	Listing         bool     `toml:"listing"` // list directories that have no index file
	Writes          bool     `toml:"writes"`  // allow PUT, POST and DELETE
	Compress        bool     `toml:"compress"`
	CompressMinSize Size     `toml:"compress_min_size"` // below it gzip costs more than it saves
	CompressTypes   []string `toml:"compress_types"`    // "type/subtype" or "type/*"
	Precompressed   bool     `toml:"precompressed"`     // serve fresh x.br, x.zst, x.gz beside x
}

// Limits bound what one client may send and hold, so that no client can
// exhaust memory or file descriptors.
type Limits struct {
	MaxConnections           int  `toml:"max_connections"`
	MaxRequestsPerConnection int  `toml:"max_requests_per_connection"` // 0 = unlimited
	MaxRequestLine           Size `toml:"max_request_line"`            // 414 above
	MaxHeaderBytes           Size `toml:"max_header_bytes"`            // 431 above
	MaxHeaders               int  `toml:"max_headers"`                 // 431 above
	MaxBody                  Size `toml:"max_body"`                    // 413 above
	MaxDrain                 Size `toml:"max_drain"`                   // unread body discarded to keep a connection
}

// Timeouts bound how long a client may take, so that slow or silent
// clients cannot hold connections forever. All are positive.
type Timeouts struct {
	Header   Duration `toml:"header"`   // the whole request head
	Body     Duration `toml:"body"`     // the longest gap between body reads
	Write    Duration `toml:"write"`    // the longest gap between response writes
	Idle     Duration `toml:"idle"`     // keep-alive wait for the next request
	Shutdown Duration `toml:"shutdown"` // grace for in-flight requests on SIGINT/SIGTERM
}

// Log configures the server log, which goes to stderr, and the access log.
type Log struct {
	Level  string    `toml:"level"`  // debug, info, warn, error
	Format string    `toml:"format"` // text, json
	Access AccessLog `toml:"access"`
}

// AccessLog configures the access log and the rotation of its file.
type AccessLog struct {
	// Path is "stdout", "stderr", "off" or a file, made absolute by Parse.
	Path     string   `toml:"path"`
	Format   string   `toml:"format"`   // combined, json
	MaxSize  Size     `toml:"max_size"` // 0 = no rotation by size
	MaxAge   Duration `toml:"max_age"`  // 0 = no rotation by age
	Keep     int      `toml:"keep"`     // rotated files kept; 0 keeps them all
	Compress bool     `toml:"compress"` // gzip rotated files
}

// SlogLevel converts Level, which Parse has checked, for slog.
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

// DefaultRoot is the name, and the path, of the root a file gets when it
// declares none, so that an empty config serves ./www.
const DefaultRoot = "www"

// Default returns the configuration of an empty file, with the default
// root's path left relative to the working directory and not checked.
func Default() *Config {
	return &Config{
		Origin: Origin{Listen: "127.0.0.1:8080", Root: DefaultRoot},
		Roots:  map[string]*Root{DefaultRoot: DefaultRootSettings(DefaultRoot)},
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
			Header:   Duration{10 * time.Second},
			Body:     Duration{30 * time.Second},
			Write:    Duration{30 * time.Second},
			Idle:     Duration{75 * time.Second},
			Shutdown: Duration{10 * time.Second},
		},
		Log: Log{
			Level:  "info",
			Format: "text",
			Access: AccessLog{
				Path:     "stdout",
				Format:   "combined",
				MaxSize:  100 * MiB,
				MaxAge:   Duration{24 * time.Hour},
				Keep:     7,
				Compress: true,
			},
		},
		Wasm: Wasm{
			CacheDir:    "cachedir/wasm",
			MemoryLimit: 64 * MiB,
			CallTimeout: Duration{50 * time.Millisecond},
		},
		Proxy: defaultProxy(),
		Cache: defaultCache(),
		Admin: Admin{Listen: "127.0.0.1:9090"},
		Ping:  defaultPing(),
		Mail:  defaultMail(),
	}
}

// DefaultRootSettings is what a [roots.NAME] table starts from: each root
// gets every default it does not override, whatever other roots say.
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

// check validates what the types alone cannot and makes paths absolute
// against dir. It reports every problem rather than stopping at the first,
// so that the caller can pick the earliest in the file.
func (c *Config) check(p *problems, dir string) {
	c.Origin.check(p, c.Roots)
	for _, name := range slices.Sorted(maps.Keys(c.Roots)) {
		c.Roots[name].check(p, dir)
	}
	c.Limits.check(p)
	c.Timeouts.check(p)
	c.Log.check(p, dir)
	c.Wasm.check(p, dir)
	for _, name := range slices.Sorted(maps.Keys(c.Policies)) {
		c.Policies[name].check(p, name, dir)
	}
	checkPolicyRefs(p, "origin.policies", c.Origin.Policies, c.Policies)
	c.Proxy.check(p, c.Policies)
	c.Cache.check(p, dir, c.Policies)
	c.Mail.check(p)
	checkListen(p, "admin.listen", c.Admin.Listen)
	c.Ping.check(p)
}

func (w *Wasm) check(p *problems, dir string) {
	w.CacheDir = resolve(dir, w.CacheDir)
	inRange(p, "wasm.memory_limit", w.MemoryLimit, MiB, 4*GiB)
	positive(p, "wasm.call_timeout", w.CallTimeout)
}

func (pol *Policy) check(p *problems, name, dir string) {
	key := func(field string) string { return toml.Key{"policies", name, field}.String() }
	pol.Name = name
	if pol.OnError == "" {
		pol.OnError = "fail-closed"
	}
	oneOf(p, key("on_error"), pol.OnError, "fail-closed", "fail-open")
	atLeast(p, key("pool_size"), pol.PoolSize, 0)
	pol.Wasm = resolve(dir, pol.Wasm)
	if pol.Wasm == "" {
		p.add(key("wasm"), "a policy needs a .wasm file")
	} else if fi, err := os.Stat(pol.Wasm); err != nil || fi.IsDir() {
		p.add(key("wasm"), "%s is not a readable file (build policies with make)", pol.Wasm)
	}
}

func (o *Origin) check(p *problems, roots map[string]*Root) {
	if err := checkAddress(o.Listen); err != nil {
		p.add("origin.listen", "bad address %q: %v", o.Listen, err)
	}
	checkRootRef(p, "origin.root", o.Root, roots)
}

// checkRootRef reports a reference to a root that no table defines.
func checkRootRef(p *problems, key, name string, roots map[string]*Root) {
	if _, ok := roots[name]; !ok {
		p.add(key, "no root named %q: define a [roots.%s] table, or use one of %s",
			name, toml.Key{name}, strings.Join(slices.Sorted(maps.Keys(roots)), ", "))
	}
}

func (r *Root) check(p *problems, dir string) {
	key := func(field string) string { return toml.Key{"roots", r.Name, field}.String() }
	r.Path = resolve(dir, r.Path)
	fi, err := os.Stat(r.Path)
	switch {
	case r.Path == "":
		p.add(key("path"), "a root needs a directory")
	case errors.Is(err, os.ErrNotExist):
		p.add(key("path"), "directory %s does not exist", r.Path)
	case err != nil:
		p.add(key("path"), "%v", err)
	case !fi.IsDir():
		p.add(key("path"), "%s is not a directory", r.Path)
	}
	for _, name := range r.Index {
		if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\\\x00") {
			p.add(key("index"), "%q is not a plain file name", name)
		}
	}
	for _, t := range r.CompressTypes {
		typ, sub, ok := strings.Cut(t, "/")
		if !ok || typ == "" || typ == "*" || sub == "" || strings.ContainsAny(t, " \t;,") || strings.Count(t, "/") > 1 {
			p.add(key("compress_types"), "%q is not a media type like \"text/*\" or \"application/json\"", t)
		}
	}
}

func (l *Limits) check(p *problems) {
	atLeast(p, "limits.max_connections", l.MaxConnections, 1)
	atLeast(p, "limits.max_requests_per_connection", l.MaxRequestsPerConnection, 0)
	inRange(p, "limits.max_request_line", l.MaxRequestLine, 256, MiB)
	inRange(p, "limits.max_header_bytes", l.MaxHeaderBytes, KiB, 16*MiB)
	inRange(p, "limits.max_headers", l.MaxHeaders, 1, 10000)
	// Zero would mean "the built-in default" to the server, not "nothing".
	atLeast(p, "limits.max_body", l.MaxBody, 1)
	atLeast(p, "limits.max_drain", l.MaxDrain, 1)
}

func (t *Timeouts) check(p *problems) {
	positive(p, "timeouts.header", t.Header)
	positive(p, "timeouts.body", t.Body)
	positive(p, "timeouts.write", t.Write)
	positive(p, "timeouts.idle", t.Idle)
	positive(p, "timeouts.shutdown", t.Shutdown)
}

func (l *Log) check(p *problems, dir string) {
	oneOf(p, "log.level", l.Level, "debug", "info", "warn", "error")
	oneOf(p, "log.format", l.Format, "text", "json")
	a := &l.Access
	oneOf(p, "log.access.format", a.Format, "combined", "json")
	atLeast(p, "log.access.keep", a.Keep, 0)
	switch a.Path {
	case "":
		p.add("log.access.path", `must be "stdout", "stderr", "off" or a file`)
	case "stdout", "stderr", "off":
	default:
		// A missing directory is not an error: the access log creates it.
		a.Path = resolve(dir, a.Path)
	}
}

// checkListen checks an optional listener address: "" runs none.
func checkListen(p *problems, key, addr string) {
	if addr == "" {
		return
	}
	if err := checkAddress(addr); err != nil {
		p.add(key, "bad address %q: %v", addr, err)
	}
}

// checkAddress accepts host:port where the port is numeric and the host is
// empty, an IP address or localhost.
func checkAddress(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		var ae *net.AddrError
		if errors.As(err, &ae) {
			return errors.New(ae.Err)
		}
		return err
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("port %q is not a number from 0 to 65535", port)
	}
	if _, err := netip.ParseAddr(host); err != nil && host != "" && host != "localhost" {
		return fmt.Errorf("host %q is not an IP address or localhost", host)
	}
	return nil
}

// resolve makes a relative path relative to dir, the config file's
// directory, so that a config means the same whichever directory the
// server starts in.
func resolve(dir, path string) string {
	if path == "" || filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(dir, path)
}

func atLeast[T int | Size](p *problems, key string, v, lo T) {
	if v < lo {
		p.add(key, "%v is too small: the minimum is %v", v, lo)
	}
}

func inRange[T int | Size](p *problems, key string, v, lo, hi T) {
	if v < lo || v > hi {
		p.add(key, "%v is out of range: it must be from %v to %v", v, lo, hi)
	}
}

func positive(p *problems, key string, d Duration) {
	if d.Duration <= 0 {
		p.add(key, "must be longer than 0s")
	}
}

func oneOf(p *problems, key, v string, allowed ...string) {
	if !slices.Contains(allowed, v) {
		p.add(key, "%q is not one of %s", v, strings.Join(allowed, ", "))
	}
}
