package ping

import (
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSummaryStatistics(t *testing.T) {
	var s Summary
	s.Sent = 6
	for _, ms := range []time.Duration{3, 1, 4, 2} {
		s.Add(Event{Kind: Reply, RTT: ms * time.Millisecond})
	}
	s.Add(Event{Kind: Duplicate, RTT: time.Hour})
	s.Add(Event{Kind: Late, RTT: time.Hour})
	s.Add(Event{Kind: Timeout, RTT: time.Second})
	s.Add(Event{Kind: Malformed})
	s.Add(Event{Kind: Failed})
	s.Add(Event{Kind: Failed})

	assert.Equal(t, 4, s.Received, "duplicates and late replies are not received")
	assert.Equal(t, 1, s.Duplicates)
	assert.Equal(t, 1, s.Late)
	assert.Equal(t, 1, s.Malformed)
	assert.Equal(t, 2, s.Errors)
	assert.Equal(t, time.Millisecond, s.Min)
	assert.Equal(t, 4*time.Millisecond, s.Max, "the hour-long late reply is not in the round trips")
	assert.Equal(t, 2500*time.Microsecond, s.Avg())
	// ping(8): sqrt(E[x²] − E[x]²) = sqrt(7.5 − 6.25) ms² = 1.118034 ms.
	assert.Equal(t, 1118034*time.Nanosecond, s.Mdev())
	assert.InDelta(t, 100.0/3, s.Loss(), 1e-9)
}

func TestSummaryMdevOfEqualRoundTrips(t *testing.T) {
	// Large, equal samples: E[x²] − E[x]² computed naively loses every
	// digit to cancellation and may even go negative.
	var s Summary
	for range 1000 {
		s.Add(Event{Kind: Reply, RTT: 987654321 * time.Nanosecond})
	}
	assert.Equal(t, time.Duration(0), s.Mdev())
	assert.Equal(t, 987654321*time.Nanosecond, s.Avg())
}

func TestSummaryWrite(t *testing.T) {
	for _, tt := range []struct {
		name string
		s    Summary
		want string
	}{
		{"nothing sent", Summary{Elapsed: 3 * time.Millisecond},
			"0 packets transmitted, 0 received, time 3ms\n"},
		{"all lost", Summary{Sent: 3, Errors: 2, Elapsed: 2004 * time.Millisecond},
			"3 packets transmitted, 0 received, +2 errors, 100% packet loss, time 2004ms\n"},
		{"some lost", Summary{Sent: 3, Received: 2, Duplicates: 1, Late: 1, Malformed: 4, Elapsed: 2 * time.Second,
			Min: 45 * time.Microsecond, Max: 1234567 * time.Nanosecond, mean: 100e3},
			"3 packets transmitted, 2 received, +1 duplicates, +1 late, +4 ignored, 33.3333% packet loss, time 2000ms\n" +
				"rtt min/avg/max/mdev = 0.045/0.100/1.234/0.000 ms\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			require.NoError(t, tt.s.Write(&b, "localhost:12000"))
			assert.Equal(t, "--- localhost:12000 ping statistics ---\n"+tt.want, b.String())
		})
	}
}

func TestEventFormat(t *testing.T) {
	from := "127.0.0.1:12000"
	for _, tt := range []struct {
		e    Event
		want string
	}{
		{Event{Kind: Reply, Seq: 1, Size: 20, RTT: 1234567}, "20 bytes from 127.0.0.1:12000: seq=1 time=1.234 ms"},
		{Event{Kind: Duplicate, Seq: 1, Size: 20, RTT: 2 * time.Millisecond}, "20 bytes from 127.0.0.1:12000: seq=1 time=2.000 ms (DUP!)"},
		{Event{Kind: Late, Seq: 2, Size: 20, RTT: 1500 * time.Millisecond}, "20 bytes from 127.0.0.1:12000: seq=2 time=1500.000 ms (late: counted as lost)"},
		{Event{Kind: Timeout, Seq: 3, RTT: time.Second}, "no reply from 127.0.0.1:12000: seq=3 timed out after 1s"},
		{Event{Kind: Malformed, Size: 5, Err: errors.New("wrong length")}, "5 bytes from 127.0.0.1:12000 ignored: wrong length"},
		{Event{Kind: Failed, Err: refusal(syscall.ECONNREFUSED)},
			"from 127.0.0.1:12000: port unreachable: nothing listens there (connection refused)"},
		{Event{Kind: Failed, Seq: 4, Err: refusal(syscall.ENETUNREACH)}, "from 127.0.0.1:12000: seq=4: network unreachable (network is unreachable)"},
	} {
		assert.Equal(t, tt.want, tt.e.Format(from))
	}
}
