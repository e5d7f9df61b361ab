package ping

import (
	"testing"
	"time"
)

// BenchmarkResponderRoundTrip is one datagram to the responder and back
// over loopback; the allocations are the responder's and the client
// socket's.
func BenchmarkResponderRoundTrip(b *testing.B) {
	_, addr := startResponder(b, ResponderOptions{})
	conn := dial(b, addr)
	require := func(err error) {
		if err != nil {
			b.Fatal(err)
		}
	}
	require(conn.SetDeadline(time.Now().Add(time.Minute)))
	msg := Packet{Seq: 1, Sent: 1}.Append(nil)
	buf := make([]byte, 64)
	b.ReportAllocs()
	for b.Loop() {
		_, err := conn.Write(msg)
		require(err)
		_, err = conn.Read(buf)
		require(err)
	}
}

// BenchmarkSummaryAdd is the client's bookkeeping of one reply.
func BenchmarkSummaryAdd(b *testing.B) {
	var s Summary
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		s.Add(Event{Kind: Reply, RTT: time.Duration(i % 1000)})
	}
}
