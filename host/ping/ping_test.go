package ping

import (
	"context"
	"math"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// startResponder serves a responder with opts on a free loopback port
// until the test ends, and checks then that it stopped as documented.
func startResponder(t testing.TB, opts ResponderOptions) (*Responder, string) {
	t.Helper()
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	r := NewResponder(opts)
	served := make(chan error, 1)
	go func() { served <- r.Serve(conn) }()
	t.Cleanup(func() {
		require.NoError(t, r.Close())
		assert.ErrorIs(t, <-served, ErrClosed)
		st := r.Stats()
		assert.Equal(t, st.Received, st.Echoed+st.Dropped, "every datagram echoed or dropped: %+v", st)
	})
	return r, conn.LocalAddr().String()
}

// settled returns r's counts once every datagram received has been echoed
// or dropped: a reply can reach the client before the responder has
// counted its write.
func settled(t *testing.T, r *Responder) ResponderStats {
	t.Helper()
	var st ResponderStats
	require.Eventually(t, func() bool {
		st = r.Stats()
		return st.Received == st.Echoed+st.Dropped
	}, 10*time.Second, time.Millisecond)
	return st
}

// dial opens a connected UDP socket to addr, closed when the test ends.
func dial(t testing.TB, addr string) net.Conn {
	t.Helper()
	conn, err := net.Dial("udp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return conn
}

// run pings addr with opts and returns the summary and every event.
func run(t *testing.T, ctx context.Context, conn net.Conn, opts Options) (*Summary, []Event) {
	t.Helper()
	var events []Event
	next := opts.OnEvent
	opts.OnEvent = func(e Event) {
		events = append(events, e)
		if next != nil {
			next(e)
		}
	}
	sum, err := Ping(ctx, conn, opts)
	require.NoError(t, err)
	return sum, events
}

func kinds(events []Event) []Kind {
	ks := make([]Kind, len(events))
	for i, e := range events {
		ks[i] = e.Kind
	}
	return ks
}

func TestResponderEchoesAnyDatagram(t *testing.T) {
	r, addr := startResponder(t, ResponderOptions{})
	conn := dial(t, addr)
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 64<<10)
	for _, msg := range [][]byte{[]byte("hello"), {}, make([]byte, 60000), Packet{Seq: 1}.Append(nil)} {
		_, err := conn.Write(msg)
		require.NoError(t, err)
		n, err := conn.Read(buf)
		require.NoError(t, err)
		assert.Equal(t, msg, buf[:n])
	}
	assert.Equal(t, ResponderStats{Received: 4, Echoed: 4}, settled(t, r))
}

func TestResponderOnAnyPacketConn(t *testing.T) {
	// Serve reads a *net.UDPConn without allocating addresses; any other
	// PacketConn goes through ReadFrom and WriteTo.
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	r := NewResponder(ResponderOptions{Delay: time.Millisecond})
	served := make(chan error, 1)
	go func() { served <- r.Serve(struct{ net.PacketConn }{conn}) }()
	sum, _ := run(t, t.Context(), dial(t, conn.LocalAddr().String()), Options{Count: 3, Interval: time.Millisecond, Timeout: 5 * time.Second})
	assert.Equal(t, 3, sum.Received)
	assert.Equal(t, ResponderStats{Received: 3, Echoed: 3}, settled(t, r))
	require.NoError(t, r.Close())
	assert.ErrorIs(t, <-served, ErrClosed)
}

func TestNoLossAllReplies(t *testing.T) {
	r, addr := startResponder(t, ResponderOptions{})
	sum, events := run(t, t.Context(), dial(t, addr), Options{Count: 20, Interval: time.Millisecond, Timeout: 5 * time.Second})
	assert.Equal(t, 20, sum.Sent)
	assert.Equal(t, 20, sum.Received)
	assert.Zero(t, sum.Loss())
	require.Len(t, events, 20)
	for i, e := range events {
		assert.Equal(t, Event{Kind: Reply, Seq: uint64(i + 1), Size: Size, RTT: e.RTT}, e)
		assert.Positive(t, e.RTT)
	}
	assert.LessOrEqual(t, sum.Min, sum.Avg())
	assert.LessOrEqual(t, sum.Avg(), sum.Max)
	assert.Equal(t, ResponderStats{Received: 20, Echoed: 20}, settled(t, r))
}

func TestLossEstimate(t *testing.T) {
	// Each reply is dropped independently with p = 0.3, so the loss
	// measured over n = 2000 datagrams has σ = sqrt(p(1−p)/n) ≈ 1.02
	// percentage points. A random seed keeps the test honest; ±5σ makes
	// a false failure a one-in-a-million event (P(|Z| > 5) ≈ 5.7e-7).
	const n, p = 2000, 0.3
	sigma := math.Sqrt(p*(1-p)/n) * 100
	r, addr := startResponder(t, ResponderOptions{Loss: p})
	sum, _ := run(t, t.Context(), dial(t, addr), Options{Count: n, Interval: time.Millisecond, Timeout: time.Second})
	assert.Equal(t, n, sum.Sent)
	assert.InDelta(t, p*100, sum.Loss(), 5*sigma, "loss %.2f%% over %d", sum.Loss(), n)
	// The client counted exactly what the responder did: no reply lost
	// on loopback, none miscounted (a reply slower than the timeout is
	// late, not lost).
	st := settled(t, r)
	assert.Equal(t, uint64(n), st.Received)
	assert.Equal(t, st.Echoed, uint64(sum.Received+sum.Late))
	assert.Zero(t, sum.Duplicates)
}

func TestDelayedReplies(t *testing.T) {
	const delay = 30 * time.Millisecond
	_, addr := startResponder(t, ResponderOptions{Delay: delay})
	// Sends overlap the delay, so a held reply must not hold back the
	// next one for all five to be answered in order.
	sum, events := run(t, t.Context(), dial(t, addr), Options{Count: 5, Interval: 5 * time.Millisecond, Timeout: 5 * time.Second})
	assert.Equal(t, 5, sum.Received)
	assert.GreaterOrEqual(t, sum.Min, delay)
	assert.Equal(t, []Kind{Reply, Reply, Reply, Reply, Reply}, kinds(events))
}

func TestCloseAbandonsHeldReplies(t *testing.T) {
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	r := NewResponder(ResponderOptions{Delay: time.Minute})
	served := make(chan error, 1)
	go func() { served <- r.Serve(conn) }()
	client := dial(t, conn.LocalAddr().String())
	for range 5 {
		_, err := client.Write([]byte("x"))
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool { return r.Stats().Received == 5 }, 10*time.Second, time.Millisecond)

	require.NoError(t, r.Close())
	assert.ErrorIs(t, <-served, ErrClosed)
	assert.Equal(t, ResponderStats{Received: 5, Dropped: 5}, r.Stats())
	assert.Empty(t, r.delayed, "every timer stopped")
	require.NoError(t, r.Close(), "a second Close is harmless")

	assert.ErrorIs(t, r.Serve(conn), ErrClosed, "Serve after Close")
}

// script is a fake responder: it reads datagrams from a socket of its own
// and answers each as reply says, until the test ends.
func script(t *testing.T, reply func(pc net.PacketConn, p Packet, raw []byte, from net.Addr)) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	var wg sync.WaitGroup
	wg.Go(func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			p, err := Decode(buf[:n])
			if assert.NoError(t, err) {
				reply(pc, p, buf[:n], from)
			}
		}
	})
	t.Cleanup(func() {
		pc.Close()
		wg.Wait()
	})
	return pc.LocalAddr().String()
}

func TestDuplicateLateAndMalformedReplies(t *testing.T) {
	// The interval is longer than the timeout, so seq=2 has timed out
	// when seq=3 is sent, and the fake answers it only then.
	var held []byte
	addr := script(t, func(pc net.PacketConn, p Packet, raw []byte, from net.Addr) {
		send := func(b []byte) { pc.WriteTo(b, from) }
		switch p.Seq {
		case 1:
			send(raw)
			send(raw)
		case 2:
			held = append([]byte(nil), raw...)
		case 3:
			send(held)
			send(held)
			send([]byte("hello"))
			send(Packet{Seq: 99, Sent: p.Sent}.Append(nil))
			send(Packet{Seq: 3, Sent: p.Sent + 1}.Append(nil))
			send(raw) // the last reply: Ping returns
		}
	})
	sum, events := run(t, t.Context(), dial(t, addr), Options{Count: 3, Interval: 400 * time.Millisecond, Timeout: 200 * time.Millisecond})

	require.Equal(t, []Kind{Reply, Duplicate, Timeout, Late, Duplicate, Malformed, Malformed, Malformed, Reply}, kinds(events))
	for i, seq := range []uint64{1, 1, 2, 2, 2} {
		assert.Equal(t, seq, events[i].Seq, "event %d", i)
	}
	assert.Equal(t, uint64(3), events[8].Seq)
	assert.Equal(t, 200*time.Millisecond, events[2].RTT, "a timeout reports the time waited")
	assert.GreaterOrEqual(t, events[3].RTT, 200*time.Millisecond, "a late reply is later than the timeout")
	assert.ErrorIs(t, events[5].Err, ErrLength)
	assert.Equal(t, 5, events[5].Size)
	assert.EqualError(t, events[6].Err, "seq=99 was never sent")
	assert.EqualError(t, events[7].Err, "seq=3 carries a send time that is not the one sent")

	assert.Equal(t, &Summary{Sent: 3, Received: 2, Duplicates: 2, Late: 1, Malformed: 3,
		Elapsed: sum.Elapsed, Min: sum.Min, Max: sum.Max, mean: sum.mean, m2: sum.m2}, sum)
	assert.InDelta(t, 100.0/3, sum.Loss(), 1e-9)
}

func TestPortUnreachable(t *testing.T) {
	// A port just closed: the kernel answers with ICMP port unreachable,
	// which a connected socket reports as ECONNREFUSED.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := pc.LocalAddr().String()
	require.NoError(t, pc.Close())

	sum, events := run(t, t.Context(), dial(t, addr), Options{Count: 3, Interval: 20 * time.Millisecond, Timeout: 100 * time.Millisecond})
	assert.Equal(t, 3, sum.Sent)
	assert.Zero(t, sum.Received)
	assert.Positive(t, sum.Errors)
	assert.Equal(t, 100.0, sum.Loss())
	var failed []Event
	for _, e := range events {
		if e.Kind == Failed {
			failed = append(failed, e)
		}
	}
	require.NotEmpty(t, failed)
	assert.ErrorIs(t, failed[0].Err, syscall.ECONNREFUSED)
	assert.Contains(t, failed[0].Format(addr), "port unreachable")
}

func TestCancelReturnsTheSummarySoFar(t *testing.T) {
	_, addr := startResponder(t, ResponderOptions{})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	sum, events := run(t, ctx, dial(t, addr), Options{Interval: time.Millisecond, Timeout: 5 * time.Second,
		OnEvent: func(e Event) {
			if e.Seq == 3 {
				cancel()
			}
		}})
	assert.GreaterOrEqual(t, sum.Received, 3)
	assert.GreaterOrEqual(t, sum.Sent, sum.Received)
	assert.Equal(t, Reply, events[2].Kind)
}

func TestOptionsOutOfRange(t *testing.T) {
	valid := Options{Interval: MinInterval, Timeout: time.Nanosecond}
	require.NoError(t, valid.Validate())
	for _, tt := range []struct {
		change func(*Options)
		msg    string
	}{
		{func(o *Options) { o.Count = -1 }, "count (-c) -1 is negative"},
		{func(o *Options) { o.Interval = time.Microsecond }, "interval (-i) 1µs is below the minimum, 1ms"},
		{func(o *Options) { o.Interval = 0 }, "interval (-i) 0s is below the minimum, 1ms"},
		{func(o *Options) { o.Timeout = 0 }, "timeout (-W) 0s is not longer than 0s"},
	} {
		opts := valid
		tt.change(&opts)
		assert.EqualError(t, opts.Validate(), tt.msg)
		_, err := Ping(t.Context(), nil, opts)
		assert.EqualError(t, err, "ping: "+tt.msg)
	}
}

// discard is a connection whose writes all succeed and go nowhere.
type discard struct{ net.Conn }

func (discard) Write(b []byte) (int, error) { return len(b), nil }

func TestRingForgetsTheOldest(t *testing.T) {
	var events []Event
	p := &pinger{conn: discard{}, start: time.Now(), oldest: 1, timer: time.NewTimer(time.Hour),
		opts: Options{Interval: time.Millisecond, Timeout: time.Hour, OnEvent: func(e Event) { events = append(events, e) }}}
	defer p.timer.Stop()
	require.NoError(t, p.send())
	first := p.ring[1].sent
	for range window - 1 {
		require.NoError(t, p.send())
	}
	assert.Empty(t, events, "the ring holds window datagrams")

	require.NoError(t, p.send())
	require.Len(t, events, 1, "seq=1 is given up when its place is needed")
	assert.Equal(t, Timeout, events[0].Kind)
	assert.Equal(t, uint64(1), events[0].Seq)

	reply := func(sent int64) Event {
		require.NoError(t, p.receive(arrival{at: p.now(), size: Size, pkt: Packet{Seq: 1, Sent: sent}}))
		return events[len(events)-1]
	}
	assert.Equal(t, Late, reply(first).Kind, "a reply to a forgotten datagram is late")
	e := reply(p.now() + int64(time.Hour))
	assert.Equal(t, Malformed, e.Kind)
	assert.EqualError(t, e.Err, "seq=1 carries a send time from the future")
	assert.Equal(t, 1, p.sum.Late)
	assert.Equal(t, window+1, p.sum.Sent)
}
