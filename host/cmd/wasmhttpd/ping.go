package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"wasmhttpd/host/config"
	"wasmhttpd/host/ping"
)

// defaultPingPort is where `wasmhttpd ping` sends when HOST names no port.
const defaultPingPort = "12000"

// Exit codes of the ping subcommand, as ping(8)'s.
const (
	exitPingNoReply = 1 // nothing answered
	exitPingError   = 2 // usage, or a host that cannot be resolved or reached
)

// runPing is `wasmhttpd ping`: it exits 0 when at least one reply came,
// 1 when none did, and 2 for a usage error or a host that cannot be
// resolved or reached. INT or TERM ends it with the summary so far.
func runPing(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return pingCommand(ctx, args, stdout, stderr)
}

// pingCommand is runPing until ctx is done.
func pingCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("wasmhttpd ping", flag.ContinueOnError)
	flags.SetOutput(stderr)
	opts := ping.Options{}
	flags.IntVar(&opts.Count, "c", 0, "stop after `N` datagrams, once each is answered or timed out (0: until interrupted)")
	flags.DurationVar(&opts.Interval, "i", ping.DefaultInterval, "send a datagram every `interval` (at least "+ping.MinInterval.String()+")")
	flags.DurationVar(&opts.Timeout, "W", ping.DefaultTimeout, "wait `timeout` for each reply; a later one is reported late and counted as lost")
	flags.Usage = func() {
		fmt.Fprintf(stderr, `Usage: wasmhttpd ping [-c N] [-i interval] [-W timeout] HOST[:PORT]

Sends numbered, timestamped UDP datagrams to a [ping] responder (PORT is
%s unless given) and prints each reply's round trip, then a summary: sent,
received, loss, min/avg/max/mdev round trip. Duplicate, late and malformed
replies are reported and counted apart. INT (Ctrl-C) prints the summary so
far. Exit status: 0 with at least one reply, 1 with none, 2 for a usage
error or a host that cannot be resolved or reached.

`, defaultPingPort)
		flags.PrintDefaults()
	}
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return exitPingError
	}
	usage := func(err error) int {
		fmt.Fprintf(stderr, "wasmhttpd ping: %v\n", err)
		flags.Usage()
		return exitPingError
	}
	if flags.NArg() != 1 {
		return usage(fmt.Errorf("want one HOST[:PORT], got %d arguments", flags.NArg()))
	}
	if err := opts.Validate(); err != nil {
		return usage(err)
	}
	target, err := pingTarget(flags.Arg(0))
	if err != nil {
		return usage(err)
	}
	raddr, err := resolvePingTarget(ctx, target)
	if err != nil {
		fmt.Fprintf(stderr, "wasmhttpd ping: cannot resolve %s: %v\n", target, resolveReason(err))
		return exitPingError
	}
	conn, err := net.DialUDP("udp", nil, raddr)
	if err != nil {
		fmt.Fprintf(stderr, "wasmhttpd ping: cannot reach %s: %v\n", raddr, err)
		return exitPingError
	}
	defer conn.Close()

	from := raddr.String()
	fmt.Fprintf(stdout, "PING %s (%s): %d data bytes\n", target, from, ping.Size)
	opts.OnEvent = func(e ping.Event) { fmt.Fprintln(stdout, e.Format(from)) }
	sum, err := ping.Ping(ctx, conn, opts)
	fmt.Fprintln(stdout)
	sum.Write(stdout, target)
	switch {
	case err != nil:
		fmt.Fprintf(stderr, "wasmhttpd ping: %v\n", err)
		return exitPingError
	case sum.Received == 0:
		return exitPingNoReply
	}
	return 0
}

// pingTarget is arg as host:port, with the default port if arg has none.
// An IPv6 address may come bare (::1) or in brackets ([::1]).
func pingTarget(arg string) (string, error) {
	host, port, err := net.SplitHostPort(arg)
	if err != nil {
		host, port = strings.TrimSuffix(strings.TrimPrefix(arg, "["), "]"), defaultPingPort
	}
	if host == "" {
		return "", fmt.Errorf("%q names no host", arg)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("port %q is not a number from 1 to 65535", port)
	}
	return net.JoinHostPort(host, port), nil
}

// resolvePingTarget resolves target, a pingTarget, as net.ResolveUDPAddr
// does (an IPv4 address first) but under ctx, so that INT interrupts a
// name server that does not answer: runPing has taken INT over, and it
// would otherwise be ignored until the resolver gives up.
func resolvePingTarget(ctx context.Context, target string) (*net.UDPAddr, error) {
	host, port, _ := net.SplitHostPort(target)
	n, _ := strconv.ParseUint(port, 10, 16)
	ip, err := netip.ParseAddr(host) // keeps an IPv6 zone, which a lookup drops
	if err != nil {
		ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return nil, err
		}
		for i := range ips {
			ips[i] = ips[i].Unmap() // the hosts file gives IPv4 in IPv6 form
		}
		ip = ips[0]
		if i := slices.IndexFunc(ips, netip.Addr.Is4); i >= 0 {
			ip = ips[i]
		}
	}
	return net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(n))), nil
}

// resolveReason drops from a resolver error the host name and the name
// server, which the caller's message does without.
func resolveReason(err error) error {
	var dnsErr *net.DNSError
	var addrErr *net.AddrError
	switch {
	case errors.As(err, &dnsErr):
		return errors.New(dnsErr.Err)
	case errors.As(err, &addrErr):
		return errors.New(addrErr.Err)
	}
	return err
}

// pingResponder is the [ping] listener. A nil one, when ping.listen is "",
// does nothing.
type pingResponder struct {
	conn      net.PacketConn
	responder *ping.Responder
	cfg       config.Ping
}

// listenPing opens the [ping] listener's socket, before the server serves,
// so that a port in use stops it at start like the other listeners.
func listenPing(cfg config.Ping) (*pingResponder, error) {
	if cfg.Listen == "" {
		return nil, nil
	}
	conn, err := net.ListenPacket("udp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("ping.listen: %w", err)
	}
	opts := ping.ResponderOptions{Loss: cfg.Loss, Delay: cfg.Delay.Duration, Seed: uint64(cfg.Seed)}
	return &pingResponder{conn: conn, responder: ping.NewResponder(opts), cfg: cfg}, nil
}

// serve echoes datagrams until close. A responder that fails is logged
// and the HTTP listeners carry on: an echo port is a diagnostic aid, not
// worth the site.
func (p *pingResponder) serve(logger *slog.Logger) {
	if p == nil {
		return
	}
	logger.Info("serving", "listener", "ping", "addr", p.conn.LocalAddr().String(), "version", version,
		"loss", p.cfg.Loss, "delay", p.cfg.Delay)
	go func() {
		if err := p.responder.Serve(p.conn); !errors.Is(err, ping.ErrClosed) {
			logger.Error("listener failed", "listener", "ping", "err", err)
		}
	}()
}

// close stops the responder, and closes its socket even if serve never
// ran; it may be called more than once.
func (p *pingResponder) close() {
	if p == nil {
		return
	}
	p.responder.Close()
	p.conn.Close()
}
