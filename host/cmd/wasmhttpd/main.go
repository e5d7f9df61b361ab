// Command wasmhttpd is the server: an HTTP/1.1 origin for a document root,
// configured by one TOML file.
//
// Usage:
//
//	wasmhttpd [-config FILE] [-listen ADDR] [-root NAME=DIR]... [-check] [-version]
//	wasmhttpd ping [-c N] [-i interval] [-W timeout] HOST[:PORT]
//	wasmhttpd mail -to ADDR[,ADDR] -subject TEXT [-body TEXT] [-attach FILE]... [-config FILE]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"wasmhttpd/host/admin"
	"wasmhttpd/host/cache"
	"wasmhttpd/host/config"
	"wasmhttpd/host/http1"
	"wasmhttpd/host/policy"
	"wasmhttpd/host/server"
	"wasmhttpd/host/site"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// Exit codes: 2 for a configuration the server refuses to start with, as
// command-line tools do for usage errors; 1 for failures at run time.
const (
	exitRuntime = 1
	exitConfig  = 2
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "ping":
			return runPing(args[1:], stdout, stderr)
		case "mail":
			return runMail(args[1:], os.Stdin, stdout, stderr)
		}
	}
	flags := flag.NewFlagSet("wasmhttpd", flag.ContinueOnError)
	flags.SetOutput(stderr)
	configPath := flags.String("config", "config.toml", "the configuration `file`")
	check := flags.Bool("check", false, "validate the configuration and exit")
	showVersion := flags.Bool("version", false, "print the version and exit")
	var overrides config.Overrides
	flags.StringVar(&overrides.Listen, "listen", "", "serve the origin on `host:port` instead of origin.listen")
	flags.Var(rootFlag(&overrides), "root", "serve `NAME=DIR`: root NAME from DIR instead of roots.NAME.path (repeatable)")
	flags.Usage = func() {
		fmt.Fprintf(stderr, "wasmhttpd %s: a programmable HTTP/1.1 server.\n\nUsage: wasmhttpd [flags]\n"+
			"       wasmhttpd ping [-c N] [-i interval] [-W timeout] HOST[:PORT]   (wasmhttpd ping -help)\n"+
			"       wasmhttpd mail -to ADDR[,ADDR] -subject TEXT [-body TEXT] [-attach FILE]... [-config FILE]\n\n", version)
		flags.PrintDefaults()
		fmt.Fprintf(stderr, "\nSignals: INT or TERM drains in-flight requests and exits 0; HUP reloads the configuration.\n")
	}
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return exitConfig
	}
	if *showVersion {
		fmt.Fprintf(stdout, "wasmhttpd %s\n", version)
		return 0
	}

	cfg, err := config.LoadWith(*configPath, overrides)
	if err != nil {
		fmt.Fprintf(stderr, "wasmhttpd: %v\n", err)
		return exitConfig
	}
	logger := newLogger(cfg.Log, stderr)
	if *check {
		// Everything but the listeners and the cache's store, which
		// belong to the server that may be running.
		s, err := site.Build(cfg, site.Env{Logger: logger})
		if err != nil {
			fmt.Fprintf(stderr, "wasmhttpd: %v\n", err)
			return exitConfig
		}
		site.NewLive(s).Close()
		fmt.Fprintf(stdout, "%s: configuration ok\n", *configPath)
		return 0
	}

	accessLog, err := admin.NewAccessLog(admin.AccessLogOptions{
		Path:     cfg.Log.Access.Path,
		Format:   cfg.Log.Access.Format,
		MaxSize:  int64(cfg.Log.Access.MaxSize),
		MaxAge:   cfg.Log.Access.MaxAge.Duration,
		Keep:     cfg.Log.Access.Keep,
		Compress: cfg.Log.Access.Compress,
	})
	if err != nil {
		fmt.Fprintf(stderr, "wasmhttpd: log.access: %v\n", err)
		return exitConfig
	}
	defer accessLog.Close()

	pinger, err := listenPing(cfg.Ping)
	if err != nil {
		fmt.Fprintf(stderr, "wasmhttpd: %v\n", err)
		return exitRuntime
	}
	defer pinger.close()
	alerts, err := startAlerts(cfg.Mail, logger)
	if err != nil {
		fmt.Fprintf(stderr, "wasmhttpd: %s: %v\n", *configPath, err)
		return exitConfig
	}
	defer alerts.Close() // last: mails what the shutdown raised
	listeners, err := listen(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "wasmhttpd: %v\n", err)
		return exitRuntime
	}
	events := admin.NewEvents(64)
	env := site.Env{Logger: logger, Notify: func(e policy.Event) {
		events.Add(eventKind(e.Kind), e.Policy, e.Detail)
		alerts.Policy(e)
	}}
	for _, l := range listeners {
		if l.name == "proxy" {
			env.ProxyAddrs = append(env.ProxyAddrs, l.ln.Addr().String())
		}
	}
	if cfg.Cache.Policy != "" {
		store, err := cache.Open(cfg.Cache.Dir, cache.Options{
			MaxSize:       int64(cfg.Cache.MaxSize),
			MaxEntries:    cfg.Cache.MaxEntries,
			MaxObjectSize: int64(cfg.Cache.MaxObjectSize),
			MaxMemory:     int64(cfg.Cache.MaxMemory),
			Logger:        logger,
			NoSpace:       alerts.NoSpace,
		})
		if err != nil {
			fmt.Fprintf(stderr, "wasmhttpd: cache.dir: %v\n", err)
			return exitRuntime
		}
		defer store.Close()
		env.Store = store
		st := store.Stats()
		logger.Info("cache opened", "dir", cfg.Cache.Dir, "entries", st.Entries, "bytes", st.Bytes)
	}

	first, err := site.Build(cfg, env)
	if err != nil {
		fmt.Fprintf(stderr, "wasmhttpd: %v\n", err)
		return exitConfig
	}
	live := site.NewLive(first)
	defer live.Close()
	logSummary(logger, cfg)
	metrics := admin.NewMetrics(admin.Sources{
		Servers: func() map[string]server.Stats {
			stats := make(map[string]server.Stats, len(listeners))
			for _, l := range listeners {
				if l.name != "admin" {
					stats[l.name] = l.srv.Stats()
				}
			}
			return stats
		},
		Cache:    live.Cache,
		Policies: live.Policies,
		Upstream: live.Upstream,
	})
	var draining atomic.Bool
	observe := admin.Observers(accessLog.Observe, metrics.Observe)
	for _, l := range listeners {
		var h http1.Handler
		switch l.name {
		case "origin":
			h = live.Origin()
		case "proxy":
			h = live.Forward()
		case "admin":
			h = admin.Handler(metrics, events, func() bool { return !draining.Load() })
		}
		l.srv = server.New(serverConfig(cfg, l.name, h, logger, observe))
		logger.Info("serving", "listener", l.name, "addr", l.ln.Addr().String(), "version", version)
	}
	pinger.serve(logger)

	reload := func() { reloadSite(*configPath, overrides, cfg, live, env, logger) }
	return serveUntilSignal(listeners, cfg.Timeouts.Shutdown.Duration, reload, func() { draining.Store(true); pinger.close() }, logger)
}

// logSummary says at start what the configuration serves, beside the
// listeners' own lines: the roots, the policy chains and the cache.
func logSummary(logger *slog.Logger, cfg *config.Config) {
	roots := make([]string, 0, len(cfg.Roots))
	for _, name := range slices.Sorted(maps.Keys(cfg.Roots)) {
		r := cfg.Roots[name]
		mode := "read-only"
		if r.Writes {
			mode = "writable"
		}
		roots = append(roots, name+"="+r.Path+" ("+mode+")")
	}
	cache := "off"
	if cfg.Cache.Policy != "" {
		cache = fmt.Sprintf("%s in %s, up to %v and %d entries", cfg.Cache.Policy, cfg.Cache.Dir, cfg.Cache.MaxSize, cfg.Cache.MaxEntries)
	}
	logger.Info("site", "roots", strings.Join(roots, ", "), "origin.root", cfg.Origin.Root,
		"origin.policies", cfg.Origin.Policies, "proxy.policies", cfg.Proxy.Policies, "cache", cache)
}

// eventKind names a policy event as the status page lists it.
func eventKind(k policy.EventKind) string {
	switch k {
	case policy.EventRejected:
		return admin.EventRejected
	case policy.EventFailed:
		return admin.EventError
	}
	return admin.EventSwap
}

// listener is one of the server's listening sockets and what serves it.
type listener struct {
	name string // "origin", "proxy" or "admin", as the logs and metrics say
	ln   net.Listener
	srv  *server.Server
}

// listen opens the origin's listener and, when configured, the forward
// proxy's and the admin one.
func listen(cfg *config.Config) ([]*listener, error) {
	var ls []*listener
	for _, l := range []struct{ name, key, addr string }{
		{"origin", "origin.listen", cfg.Origin.Listen},
		{"proxy", "proxy.listen", cfg.Proxy.Listen},
		{"admin", "admin.listen", cfg.Admin.Listen},
	} {
		if l.addr == "" {
			continue
		}
		ln, err := net.Listen("tcp", l.addr)
		if err != nil {
			for _, open := range ls {
				open.ln.Close()
			}
			return nil, fmt.Errorf("%s: %w", l.key, err)
		}
		ls = append(ls, &listener{name: l.name, ln: ln})
	}
	return ls, nil
}

// reloadSite rebuilds the site from the config file on SIGHUP. A config
// that does not load, or a site that does not build, is logged and the
// running one kept.
func reloadSite(path string, overrides config.Overrides, running *config.Config, live *site.Live, env site.Env, logger *slog.Logger) {
	cfg, err := config.LoadWith(path, overrides)
	if err != nil {
		logger.Error("reload rejected; keeping the running configuration", "err", err)
		return
	}
	next, err := site.Build(cfg, env)
	if err != nil {
		logger.Error("reload rejected; keeping the running configuration", "err", err)
		return
	}
	live.Swap(next)
	if keys := site.RestartOnly(running, cfg); len(keys) > 0 {
		logger.Warn("reloaded, but these settings take effect only after a restart", "keys", keys)
	}
	logger.Info("configuration reloaded", "root", cfg.Roots[cfg.Origin.Root].Path, "policies", cfg.Origin.Policies)
}

// serveUntilSignal serves every listener until INT or TERM, then calls
// drain and drains them all within grace; HUP calls reload. A listener
// that fails stops the others.
func serveUntilSignal(listeners []*listener, grace time.Duration, reload, drain func(), logger *slog.Logger) int {
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(signals)

	type failure struct {
		name string
		err  error
	}
	failed := make(chan failure, len(listeners))
	var running sync.WaitGroup
	for _, l := range listeners {
		running.Go(func() {
			if err := l.srv.Serve(l.ln); err != nil && !errors.Is(err, server.ErrServerClosed) {
				failed <- failure{l.name, err}
			}
		})
	}
	code := -1
	for code < 0 {
		select {
		case f := <-failed:
			logger.Error("listener failed", "listener", f.name, "err", f.err)
			code, grace = exitRuntime, 0
		case sig := <-signals:
			if sig == syscall.SIGHUP {
				reload()
				continue
			}
			logger.Info("shutting down", "signal", sig.String(), "grace", grace)
			code = 0
		}
	}
	drain()
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	var drained sync.WaitGroup
	for _, l := range listeners {
		drained.Go(func() {
			if err := l.srv.Shutdown(ctx); err != nil {
				logger.Warn("grace period over; remaining connections closed", "listener", l.name, "err", err)
			}
		})
	}
	drained.Wait()
	running.Wait()
	logger.Info("stopped")
	return code
}

func newLogger(cfg config.Log, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.SlogLevel()}
	if cfg.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func serverConfig(cfg *config.Config, name string, h http1.Handler, logger *slog.Logger,
	observe func(*http1.Exchange, time.Duration)) server.Config {
	return server.Config{
		Name:    name,
		Handler: h,
		Limits: http1.Limits{
			MaxRequestLine: int(cfg.Limits.MaxRequestLine),
			MaxHeaderBytes: int(cfg.Limits.MaxHeaderBytes),
			MaxHeaders:     cfg.Limits.MaxHeaders,
			MaxBody:        int64(cfg.Limits.MaxBody),
		},
		MaxConnections:           cfg.Limits.MaxConnections,
		MaxRequestsPerConnection: cfg.Limits.MaxRequestsPerConnection,
		MaxDrain:                 int64(cfg.Limits.MaxDrain),
		HeaderTimeout:            cfg.Timeouts.Header.Duration,
		BodyTimeout:              cfg.Timeouts.Body.Duration,
		WriteTimeout:             cfg.Timeouts.Write.Duration,
		IdleTimeout:              cfg.Timeouts.Idle.Duration,
		Logger:                   logger,
		Observe:                  observe,
	}
}

// rootFlagValue collects -root NAME=DIR flags into o.Roots.
type rootFlagValue struct{ o *config.Overrides }

func rootFlag(o *config.Overrides) flag.Value { return rootFlagValue{o} }

// String implements flag.Value.
func (r rootFlagValue) String() string {
	if r.o == nil {
		return ""
	}
	var parts []string
	for name, dir := range r.o.Roots {
		parts = append(parts, name+"="+dir)
	}
	return strings.Join(parts, ",")
}

// Set implements flag.Value.
func (r rootFlagValue) Set(v string) error {
	name, dir, ok := strings.Cut(v, "=")
	if !ok || name == "" || dir == "" {
		return fmt.Errorf("%q is not NAME=DIR", v)
	}
	if r.o.Roots == nil {
		r.o.Roots = map[string]string{}
	}
	r.o.Roots[name] = dir
	return nil
}
