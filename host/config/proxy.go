package config

import (
	"time"

	"github.com/BurntSushi/toml"
)

// Proxy is the forward proxy's listener and the upstream side it shares
// with the reverse routes policies choose on any listener.
type Proxy struct {
	// Listen is the forward proxy's host:port (curl -x, a browser's proxy
	// setting); "" runs no forward proxy listener, while reverse routes
	// still work.
	Listen string `toml:"listen"`
	// Policies names the [policies.NAME] every forward-proxy request
	// passes through, in order.
	Policies []string `toml:"policies"`
	// Name is the pseudonym written in Via and looked for there to detect
	// loops; "" takes the host name.
	Name string `toml:"name"`

	ConnectTimeout        Duration `toml:"connect_timeout"`         // TCP connect and TLS handshake
	ResponseHeaderTimeout Duration `toml:"response_header_timeout"` // request sent to response head
	ReadTimeout           Duration `toml:"read_timeout"`            // the longest gap between upstream reads or writes
	IdleTimeout           Duration `toml:"idle_timeout"`            // a pooled upstream connection unused this long closes
	TunnelIdleTimeout     Duration `toml:"tunnel_idle_timeout"`     // a CONNECT tunnel silent this long closes

	MaxIdlePerHost  int `toml:"max_idle_per_host"`  // idle upstream connections kept per host
	MaxConnsPerHost int `toml:"max_conns_per_host"` // upstream connections per host, busy or idle

	// ConnectPorts are the ports a CONNECT tunnel may reach.
	ConnectPorts []int `toml:"connect_ports"`
	// XForwardedFor names the client in X-Forwarded-For on forwarded
	// requests; off, so browsing through the proxy does not tell every
	// site who browses.
	XForwardedFor bool `toml:"x_forwarded_for"`
	// PreserveHost keeps the client's Host on reverse-proxied requests
	// instead of the upstream's.
	PreserveHost bool `toml:"preserve_host"`
	// XForwarded adds X-Forwarded-For, -Proto and -Host to
	// reverse-proxied requests, which an application behind its own
	// proxy usually wants.
	XForwarded bool `toml:"x_forwarded"`
}

// Cache is the proxy's disk cache. Its decisions are a policy's: the
// [policies.NAME] that Policy names, whose module exports the cache hooks.
type Cache struct {
	// Policy names the deciding policy; "" runs the proxy without a cache.
	Policy        string `toml:"policy"`
	Dir           string `toml:"dir"`             // the entries go in its http/; created if missing
	MaxSize       Size   `toml:"max_size"`        // bytes on disk: bodies and metadata files
	MaxEntries    int    `toml:"max_entries"`     // stored responses
	MaxObjectSize Size   `toml:"max_object_size"` // a larger response is passed on, not stored
	// MaxMemory bounds the small bodies (up to 4 KiB) also kept in
	// memory, so that hits on them read no file; 0 keeps none.
	MaxMemory Size `toml:"max_memory"`
}

func defaultProxy() Proxy {
	return Proxy{
		Listen:                "127.0.0.1:8888",
		Policies:              []string{},
		ConnectTimeout:        Duration{10 * time.Second},
		ResponseHeaderTimeout: Duration{60 * time.Second},
		ReadTimeout:           Duration{60 * time.Second},
		IdleTimeout:           Duration{90 * time.Second},
		TunnelIdleTimeout:     Duration{5 * time.Minute},
		MaxIdlePerHost:        32,
		MaxConnsPerHost:       256,
		ConnectPorts:          []int{443},
	}
}

func defaultCache() Cache {
	return Cache{
		Dir:           "cachedir",
		MaxSize:       1 * GiB,
		MaxEntries:    100000,
		MaxObjectSize: 64 * MiB,
		MaxMemory:     64 * MiB,
	}
}

func (x *Proxy) check(p *problems, policies map[string]*Policy) {
	checkListen(p, "proxy.listen", x.Listen)
	for _, d := range []struct {
		key string
		v   Duration
	}{
		{"proxy.connect_timeout", x.ConnectTimeout},
		{"proxy.response_header_timeout", x.ResponseHeaderTimeout},
		{"proxy.read_timeout", x.ReadTimeout},
		{"proxy.idle_timeout", x.IdleTimeout},
		{"proxy.tunnel_idle_timeout", x.TunnelIdleTimeout},
	} {
		positive(p, d.key, d.v)
	}
	atLeast(p, "proxy.max_idle_per_host", x.MaxIdlePerHost, 0)
	atLeast(p, "proxy.max_conns_per_host", x.MaxConnsPerHost, 1)
	for _, port := range x.ConnectPorts {
		if port < 1 || port > 65535 {
			p.add("proxy.connect_ports", "%d is not a port from 1 to 65535", port)
		}
	}
	checkPolicyRefs(p, "proxy.policies", x.Policies, policies)
}

func (c *Cache) check(p *problems, dir string, policies map[string]*Policy) {
	c.Dir = resolve(dir, c.Dir)
	if c.Policy != "" {
		checkPolicyRefs(p, "cache.policy", []string{c.Policy}, policies)
	}
	if c.Dir == "" {
		p.add("cache.dir", "the cache needs a directory")
	}
	atLeast(p, "cache.max_size", c.MaxSize, MiB)
	atLeast(p, "cache.max_entries", c.MaxEntries, 1)
	atLeast(p, "cache.max_object_size", c.MaxObjectSize, 1)
	if c.MaxObjectSize > c.MaxSize {
		p.add("cache.max_object_size", "%v is larger than cache.max_size (%v)", c.MaxObjectSize, c.MaxSize)
	}
}

// checkPolicyRefs reports names that no [policies.NAME] table defines.
func checkPolicyRefs(p *problems, key string, names []string, policies map[string]*Policy) {
	for _, name := range names {
		if _, ok := policies[name]; !ok {
			p.add(key, "no policy named %q: define a [policies.%s] table", name, toml.Key{name})
		}
	}
}
