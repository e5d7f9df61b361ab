package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"wasmhttpd/host/config"
)

// startPingListener serves a [ping] listener as the server does, until the
// test ends.
func startPingListener(t *testing.T, cfg config.Ping) (addr string, logs *bytes.Buffer) {
	t.Helper()
	p, err := listenPing(cfg)
	require.NoError(t, err)
	logs = &bytes.Buffer{}
	p.serve(slog.New(slog.NewTextHandler(logs, nil)))
	t.Cleanup(p.close)
	return p.conn.LocalAddr().String(), logs
}

func TestPingListener(t *testing.T) {
	p, err := listenPing(config.Ping{})
	require.NoError(t, err)
	assert.Nil(t, p, "ping.listen = \"\" opens nothing")
	p.serve(slog.Default())
	p.close()

	addr, logs := startPingListener(t, config.Ping{Listen: "127.0.0.1:0", Delay: config.Duration{Duration: time.Millisecond}})
	assert.Regexp(t, `msg=serving listener=ping addr=`+regexp.QuoteMeta(addr)+` version=\S+ loss=0 delay=1ms`, logs.String())

	_, err = listenPing(config.Ping{Listen: addr})
	assert.ErrorContains(t, err, "ping.listen: listen udp "+addr+": bind: address already in use")
}

func TestPingListenerClosedBeforeServing(t *testing.T) {
	p, err := listenPing(config.Ping{Listen: "127.0.0.1:0"})
	require.NoError(t, err)
	addr := p.conn.LocalAddr().String()
	p.close()
	p.close()
	again, err := listenPing(config.Ping{Listen: addr})
	require.NoError(t, err, "the socket was closed")
	again.close()
}

// pingOutput runs the subcommand and returns its exit code and output.
func pingOutput(ctx context.Context, args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = pingCommand(ctx, args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestPingCommand(t *testing.T) {
	addr, _ := startPingListener(t, config.Ping{Listen: "127.0.0.1:0"})
	code, out, errOut := pingOutput(t.Context(), "-c", "3", "-i", "1ms", addr)
	assert.Equal(t, 0, code, errOut)
	assert.Empty(t, errOut)
	lines := strings.Split(out, "\n")
	require.Len(t, lines, 9, out)
	assert.Equal(t, "PING "+addr+" ("+addr+"): 20 data bytes", lines[0])
	for i, line := range lines[1:4] {
		assert.Regexp(t, `^20 bytes from `+regexp.QuoteMeta(addr)+`: seq=`+string(rune('1'+i))+` time=\d+\.\d{3} ms$`, line)
	}
	assert.Equal(t, []string{"", "--- " + addr + " ping statistics ---"}, lines[4:6])
	assert.Regexp(t, `^3 packets transmitted, 3 received, 0% packet loss, time \d+ms$`, lines[6])
	assert.Regexp(t, `^rtt min/avg/max/mdev = \d+\.\d{3}/\d+\.\d{3}/\d+\.\d{3}/\d+\.\d{3} ms$`, lines[7])
	assert.Empty(t, lines[8])
}

func TestPingCommandAllLost(t *testing.T) {
	addr, _ := startPingListener(t, config.Ping{Listen: "127.0.0.1:0", Loss: 1})
	code, out, _ := pingOutput(t.Context(), "-c", "2", "-i", "1ms", "-W", "50ms", addr)
	assert.Equal(t, 1, code, "no reply")
	assert.Contains(t, out, "no reply from "+addr+": seq=1 timed out after 50ms\n")
	assert.Contains(t, out, "no reply from "+addr+": seq=2 timed out after 50ms\n")
	assert.Contains(t, out, "2 packets transmitted, 0 received, 100% packet loss")
	assert.NotContains(t, out, "rtt")
}

func TestPingCommandPortUnreachable(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := pc.LocalAddr().String()
	require.NoError(t, pc.Close())
	code, out, _ := pingOutput(t.Context(), "-c", "2", "-i", "10ms", "-W", "100ms", addr)
	assert.Equal(t, 1, code)
	assert.Contains(t, out, "from "+addr+": port unreachable: nothing listens there (connection refused)\n")
	assert.Regexp(t, `2 packets transmitted, 0 received, \+\d errors, 100% packet loss`, out)
}

// cancelAfter is stdout that cancels a run once it has printed n replies.
type cancelAfter struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	n      int
	cancel context.CancelFunc
}

func (c *cancelAfter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if bytes.Contains(p, []byte(" bytes from ")) {
		if c.n--; c.n == 0 {
			c.cancel()
		}
	}
	return c.buf.Write(p)
}

func TestPingCommandInterruptedPrintsSummary(t *testing.T) {
	addr, _ := startPingListener(t, config.Ping{Listen: "127.0.0.1:0"})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	out := &cancelAfter{n: 3, cancel: cancel}
	var errOut bytes.Buffer
	code := pingCommand(ctx, []string{"-i", "1ms", addr}, out, &errOut)
	assert.Equal(t, 0, code, errOut.String())
	assert.Regexp(t, `\n--- `+regexp.QuoteMeta(addr)+` ping statistics ---\n\d+ packets transmitted, \d+ received, .*\nrtt min/avg/max/mdev = `, out.buf.String())
}

func TestPingCommandErrors(t *testing.T) {
	for _, tt := range []struct {
		args []string
		msg  string
	}{
		{nil, "want one HOST[:PORT], got 0 arguments"},
		{[]string{"a", "b"}, "got 2 arguments"},
		{[]string{"-c", "-1", "localhost"}, "count (-c) -1 is negative"},
		{[]string{"-i", "100us", "localhost"}, "interval (-i) 100µs is below the minimum, 1ms"},
		{[]string{"-W", "0s", "localhost"}, "timeout (-W) 0s is not longer than 0s"},
		{[]string{"-x", "localhost"}, "flag provided but not defined: -x"},
		{[]string{"-i", "soon", "localhost"}, `invalid value "soon" for flag -i`},
		{[]string{"localhost:0"}, `port "0" is not a number from 1 to 65535`},
		{[]string{"localhost:echo"}, `port "echo" is not a number`},
		{[]string{":12000"}, `":12000" names no host`},
		// Go refuses to resolve .onion names (RFC 7686): a resolver
		// failure without a query leaving the machine.
		{[]string{"nohost.onion"}, "wasmhttpd ping: cannot resolve nohost.onion:12000: no suitable address found\n"},
	} {
		code, out, errOut := pingOutput(t.Context(), tt.args...)
		assert.Equal(t, 2, code, "%q", tt.args)
		assert.Empty(t, out, "%q", tt.args)
		assert.Contains(t, errOut, tt.msg, "%q", tt.args)
	}

	code, _, errOut := pingOutput(t.Context(), "-help")
	assert.Equal(t, 0, code)
	assert.Contains(t, errOut, "Usage: wasmhttpd ping [-c N] [-i interval] [-W timeout] HOST[:PORT]")
	assert.Contains(t, errOut, "-W timeout")
}

func TestPingTarget(t *testing.T) {
	for arg, want := range map[string]string{
		"localhost":         "localhost:12000",
		"example.com:7":     "example.com:7",
		"127.0.0.1":         "127.0.0.1:12000",
		"127.0.0.1:65535":   "127.0.0.1:65535",
		"::1":               "[::1]:12000",
		"[::1]":             "[::1]:12000",
		"[::1]:9":           "[::1]:9",
		"[fe80::1%eth0]:12": "[fe80::1%eth0]:12",
	} {
		got, err := pingTarget(arg)
		require.NoError(t, err, arg)
		assert.Equal(t, want, got, arg)
	}
	for _, arg := range []string{"", "[]", "h:65536", "h:-1", "h:"} {
		_, err := pingTarget(arg)
		assert.Error(t, err, arg)
	}
}

func TestRunDispatchesPing(t *testing.T) {
	var out, errOut bytes.Buffer
	assert.Equal(t, 2, run([]string{"ping"}, &out, &errOut))
	assert.Contains(t, errOut.String(), "wasmhttpd ping: want one HOST[:PORT]")

	errOut.Reset()
	assert.Equal(t, 0, run([]string{"-help"}, &out, &errOut))
	assert.Contains(t, errOut.String(), "wasmhttpd ping [-c N] [-i interval] [-W timeout] HOST[:PORT]")
}

func TestResolveReason(t *testing.T) {
	assert.EqualError(t, resolveReason(&net.DNSError{Err: "no such host", Name: "x.invalid", Server: "10.0.0.1:53", IsNotFound: true}), "no such host")
	other := errors.New("other")
	assert.Equal(t, other, resolveReason(other))
}

func TestPingCommandInterruptedWhileResolving(t *testing.T) {
	// A name server that takes the query and never answers: INT must end
	// the run at once, not after the resolver's own timeouts.
	dns, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	defer dns.Close()
	saved := net.DefaultResolver
	// DialUDP, unlike a Dialer, reads no net.DefaultResolver: the
	// resolver's queries may outlive the test, which restores it.
	net.DefaultResolver = &net.Resolver{PreferGo: true, Dial: func(context.Context, string, string) (net.Conn, error) {
		return net.DialUDP("udp", nil, dns.LocalAddr().(*net.UDPAddr))
	}}
	defer func() { net.DefaultResolver = saved }()

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	type result struct {
		code   int
		stderr string
	}
	done := make(chan result, 1)
	go func() {
		code, _, errOut := pingOutput(ctx, "-c", "1", "ping-target.example")
		done <- result{code, errOut}
	}()
	queried := make(chan error, 1)
	go func() {
		dns.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, _, err := dns.ReadFrom(make([]byte, 512))
		queried <- err
	}()
	select {
	case err := <-queried:
		require.NoError(t, err, "no query reached the name server")
	case r := <-done:
		t.Skipf("the resolver answered without asking DNS (nsswitch.conf?): %d %s", r.code, r.stderr)
	}
	cancel()
	select {
	case r := <-done:
		assert.Equal(t, 2, r.code)
		assert.Contains(t, r.stderr, "wasmhttpd ping: cannot resolve ping-target.example:12000: ")
	case <-time.After(3 * time.Second):
		t.Fatal("an interrupted run still waits for the name server")
	}
}

func TestResolvePingTarget(t *testing.T) {
	for target, want := range map[string]string{
		"127.0.0.1:9":        "127.0.0.1:9",
		"[::1]:12000":        "[::1]:12000",
		"[fe80::1%lo]:12":    "[fe80::1%lo]:12",
		"localhost:7":        "127.0.0.1:7", // IPv4 first, as the responder's default listens
		"[::ffff:1.2.3.4]:1": "1.2.3.4:1",
	} {
		addr, err := resolvePingTarget(t.Context(), target)
		require.NoError(t, err, target)
		assert.Equal(t, want, addr.String(), target)
	}
}
