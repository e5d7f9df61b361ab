package config

import "time"

// Ping is the UDP ping responder, which echoes each datagram back to its
// sender for `wasmhttpd ping` (host/ping). Loss and Delay simulate a bad
// network, for teaching and for testing a client's handling of one.
type Ping struct {
	// Listen is the responder's host:port; "" runs none (the default),
	// since an echo port answers anyone who can reach it.
	Listen string `toml:"listen"`
	// Loss is the probability, from 0 to 1, that a reply is dropped.
	Loss float64 `toml:"loss"`
	// Delay holds each reply back this long, up to maxPingDelay.
	Delay Duration `toml:"delay"`
	// Seed seeds the loss draws, so that a test sees the same drops
	// each run; 0 takes a random seed.
	Seed int64 `toml:"seed"`
}

// maxPingDelay bounds ping.delay: a client gives up on a reply long before
// (ping's -W is 1s by default), so a longer delay could only be a mistake
// that holds replies in memory.
const maxPingDelay = time.Minute

func defaultPing() Ping { return Ping{} }

func (g *Ping) check(p *problems) {
	checkListen(p, "ping.listen", g.Listen)
	// Written so that nan, which TOML allows, fails too.
	if !(g.Loss >= 0 && g.Loss <= 1) {
		p.add("ping.loss", "%v must be between 0 and 1", g.Loss)
	}
	if g.Delay.Duration > maxPingDelay {
		p.add("ping.delay", "%v is too long: the maximum is %v", g.Delay, Duration{maxPingDelay})
	}
}
