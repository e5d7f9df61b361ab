package site

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"wasmhttpd/host/config"
)

// TestRestartOnly: a reload that changes what shapes the listeners, the
// connections or the cache's store is named key by key; one that changes
// what a rebuilt site applies names nothing.
func TestRestartOnly(t *testing.T) {
	tests := []struct {
		name   string
		change func(*config.Config)
		want   []string // nil: a reload applies it all
	}{
		{"nothing", func(*config.Config) {}, nil},
		{"origin.listen", func(c *config.Config) { c.Origin.Listen = "127.0.0.1:9090" }, []string{"origin.listen"}},
		{"proxy.listen", func(c *config.Config) { c.Proxy.Listen = "127.0.0.1:3128" }, []string{"proxy.listen"}},
		{"admin.listen", func(c *config.Config) { c.Admin.Listen = "127.0.0.1:9091" }, []string{"admin.listen"}},
		{"a cache where there was none", func(c *config.Config) { c.Cache.Policy = "cache" }, []string{"cache"}},
		{"the cache's size", func(c *config.Config) { c.Cache.MaxSize *= 2 }, []string{"cache"}},
		{"the cache's directory", func(c *config.Config) { c.Cache.Dir = "/elsewhere" }, []string{"cache"}},
		{"limits", func(c *config.Config) { c.Limits.MaxConnections = 1 }, []string{"limits"}},
		{"timeouts", func(c *config.Config) { c.Timeouts.Idle = config.Duration{Duration: time.Second} }, []string{"timeouts"}},
		{"log level", func(c *config.Config) { c.Log.Level = "debug" }, []string{"log"}},
		{"access log", func(c *config.Config) { c.Log.Access.Path = "off" }, []string{"log"}},
		{"ping", func(c *config.Config) { c.Ping.Listen = "127.0.0.1:7" }, []string{"ping"}},
		{"mail", func(c *config.Config) { c.Mail.To = []string{"ops@example.org"} }, []string{"mail"}},
		{"several, in table order", func(c *config.Config) {
			c.Mail.Server = "smtp.example.org"
			c.Origin.Listen = "127.0.0.1:9090"
			c.Limits.MaxBody = 1
		}, []string{"origin.listen", "limits", "mail"}},
		// What the rebuilt site applies.
		{"a root's path", func(c *config.Config) { c.Roots[config.DefaultRoot].Path = "/srv/other" }, nil},
		{"the origin's policies", func(c *config.Config) { c.Origin.Policies = []string{"auth"} }, nil},
		{"the proxy's CONNECT ports", func(c *config.Config) { c.Proxy.ConnectPorts = []int{443, 8443} }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next := config.Default()
			tt.change(next)
			assert.Equal(t, tt.want, RestartOnly(config.Default(), next))
		})
	}
}

// TestRestartOnlyCachePolicy: which policy decides for the cache is
// reloadable; whether there is a cache at all is not.
func TestRestartOnlyCachePolicy(t *testing.T) {
	withCache := func(policy string) *config.Config {
		c := config.Default()
		c.Cache.Policy = policy
		return c
	}
	assert.Empty(t, RestartOnly(withCache("cache"), withCache("cache-variant")), "another deciding policy")
	assert.Equal(t, []string{"cache"}, RestartOnly(withCache("cache"), withCache("")), "the cache turned off")
	assert.Equal(t, []string{"cache"}, RestartOnly(withCache(""), withCache("cache")), "the cache turned on")
}
