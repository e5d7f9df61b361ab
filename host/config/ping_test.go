package config

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPingDefaultIsOff(t *testing.T) {
	assert.Equal(t, Ping{}, Default().Ping, "no responder, no loss, no delay, a random seed")
	cfg, err := Parse([]byte(""), "c.toml", siteDir(t))
	require.NoError(t, err)
	assert.Empty(t, cfg.Ping.Listen)
}

func TestPingKeys(t *testing.T) {
	for _, tt := range []struct {
		name, toml string
		want       Ping
	}{
		{"every key", "[ping]\nlisten = \"127.0.0.1:12000\"\nloss = 0.3\ndelay = \"20ms\"\nseed = 42\n",
			Ping{Listen: "127.0.0.1:12000", Loss: 0.3, Delay: Duration{20 * time.Millisecond}, Seed: 42}},
		{"integer loss", "[ping]\nlisten = \":0\"\nloss = 1\n", Ping{Listen: ":0", Loss: 1}},
		{"bounds", "[ping]\nloss = 0.0\ndelay = \"1m\"\nseed = -1\n", Ping{Delay: Duration{time.Minute}, Seed: -1}},
		{"inline", "ping = { listen = \"[::1]:0\" }\n", Ping{Listen: "[::1]:0"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse([]byte(tt.toml), "c.toml", siteDir(t))
			require.NoError(t, err)
			assert.Equal(t, tt.want, cfg.Ping)
		})
	}
}

func TestPingErrorsNameKeyAndLine(t *testing.T) {
	for _, tt := range []struct {
		name, toml string
		key        string
		line       int
		msg        string
	}{
		{"bad address", "[ping]\nlisten = \"12000\"\n", "ping.listen", 2, `bad address "12000"`},
		{"host name", "[ping]\n\nlisten = \"example.com:12000\"\n", "ping.listen", 3, "not an IP address or localhost"},
		{"loss above 1", "[ping]\nloss = 1.5\n", "ping.loss", 2, "1.5 must be between 0 and 1"},
		{"negative loss", "[ping]\nlisten = \":0\"\nloss = -0.1\n", "ping.loss", 3, "must be between 0 and 1"},
		{"nan loss", "[ping]\nloss = nan\n", "ping.loss", 2, "must be between 0 and 1"},
		{"string loss", "[ping]\nloss = \"30%\"\n", "ping.loss", 2, "expected a float, found a string"},
		{"negative delay", "[ping]\ndelay = \"-1s\"\n", "ping.delay", 2, "negative"},
		{"integer delay", "[ping]\ndelay = 20\n", "ping.delay", 2, "expected a duration"},
		{"long delay", "[ping]\ndelay = \"2m\"\n", "ping.delay", 2, "2m is too long: the maximum is 1m"},
		{"float seed", "[ping]\nseed = 1.5\n", "ping.seed", 2, "expected an integer, found a float"},
		{"unknown key", "[ping]\nport = 12000\n", "ping.port", 2, "unknown key"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cerr := parseFails(t, siteDir(t), tt.toml, tt.key, tt.line)
			assert.Contains(t, cerr.Msg, tt.msg)
		})
	}
}
