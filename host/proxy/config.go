package proxy

import (
	"crypto/tls"
	"log/slog"
	"os"
	"time"
)

// Config is what a Proxy needs to know; a zero field takes the default
// named beside it. The lead's config layer maps config.toml onto it.
type Config struct {
	// Name is the pseudonym this proxy writes in Via (RFC 9110 7.6.3) and
	// looks for there to detect a request that came back to it. Default:
	// the host name. Two proxies chained on one machine need two names.
	Name string

	ConnectTimeout        time.Duration // TCP connect plus TLS handshake, and the wait for a free connection; default 10 s
	ResponseHeaderTimeout time.Duration // from the request sent to the response head received; default 60 s
	ReadTimeout           time.Duration // the longest gap between two reads or two writes on an upstream connection; default 60 s
	IdleTimeout           time.Duration // a pooled connection unused this long is closed; default 90 s
	TunnelIdleTimeout     time.Duration // a CONNECT tunnel with no byte either way this long is closed; default 5 min

	MaxIdlePerHost    int // pooled idle connections kept per upstream; default 32
	MaxConnsPerHost   int // open connections per upstream, busy or idle; default 256
	MaxWaitingPerHost int // requests queued for a connection past MaxConnsPerHost; past it, 503; default 1024

	// ConnectPorts are the ports CONNECT may open a tunnel to; others get
	// 403. Default: 443 only, so the proxy cannot be used to reach mail or
	// SSH servers.
	ConnectPorts []int

	// XForwardedFor appends the client's address to X-Forwarded-For on
	// forwarded requests. Off by default: a forward proxy that names its
	// clients to every site they visit leaks who they are.
	XForwardedFor bool

	// SelfAddrs are the host:port addresses the proxy listens on; a
	// request aimed at one of them would loop and is refused with 508.
	SelfAddrs []string

	// TLS is the client configuration for https upstreams (nil: the system
	// roots). ServerName is set per upstream.
	TLS *tls.Config

	Logger *slog.Logger

	// TunnelDone, when set, is called as each CONNECT tunnel ends.
	TunnelDone func(TunnelStats)
}

// Defaults for zero Config fields.
const (
	DefaultConnectTimeout        = 10 * time.Second
	DefaultResponseHeaderTimeout = 60 * time.Second
	DefaultReadTimeout           = 60 * time.Second
	DefaultIdleTimeout           = 90 * time.Second
	DefaultTunnelIdleTimeout     = 5 * time.Minute
	DefaultMaxIdlePerHost        = 32
	DefaultMaxConnsPerHost       = 256
	DefaultMaxWaitingPerHost     = 1024
)

func (c Config) withDefaults() Config {
	if c.Name == "" {
		c.Name = "wasmhttpd"
		if h, err := os.Hostname(); err == nil && h != "" {
			c.Name = h
		}
	}
	for _, d := range []struct {
		field *time.Duration
		def   time.Duration
	}{
		{&c.ConnectTimeout, DefaultConnectTimeout},
		{&c.ResponseHeaderTimeout, DefaultResponseHeaderTimeout},
		{&c.ReadTimeout, DefaultReadTimeout},
		{&c.IdleTimeout, DefaultIdleTimeout},
		{&c.TunnelIdleTimeout, DefaultTunnelIdleTimeout},
	} {
		if *d.field <= 0 {
			*d.field = d.def
		}
	}
	for _, n := range []struct {
		field *int
		def   int
	}{
		{&c.MaxIdlePerHost, DefaultMaxIdlePerHost},
		{&c.MaxConnsPerHost, DefaultMaxConnsPerHost},
		{&c.MaxWaitingPerHost, DefaultMaxWaitingPerHost},
	} {
		if *n.field <= 0 {
			*n.field = n.def
		}
	}
	if len(c.ConnectPorts) == 0 {
		c.ConnectPorts = []int{443}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}
