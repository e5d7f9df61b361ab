package ping

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// Kind says what an Event is.
type Kind uint8

// The kinds of Event.
const (
	Reply     Kind = iota // the first reply to a datagram, within its timeout
	Duplicate             // another reply to a datagram already answered
	Late                  // a reply after its datagram's timeout
	Timeout               // no reply within the timeout
	Malformed             // a datagram that is not a reply to one sent; ignored
	Failed                // the network refused: port unreachable, no route, ...
)

// Event is something the client observed, in the order observed.
type Event struct {
	Kind Kind
	Seq  uint64 // the datagram's; 0 for Malformed and for a Failed receive
	Size int    // bytes received; 0 for Timeout and Failed
	// RTT is the round trip of a reply (Reply, Duplicate, Late), or the
	// time waited for a Timeout.
	RTT time.Duration
	Err error // why, for Malformed and Failed
}

// Format writes e as a line of ping(8)'s kind, without the newline; from
// is the address replies come from.
func (e Event) Format(from string) string {
	switch e.Kind {
	case Reply:
		return fmt.Sprintf("%d bytes from %s: seq=%d time=%s ms", e.Size, from, e.Seq, millis(e.RTT))
	case Duplicate:
		return fmt.Sprintf("%d bytes from %s: seq=%d time=%s ms (DUP!)", e.Size, from, e.Seq, millis(e.RTT))
	case Late:
		return fmt.Sprintf("%d bytes from %s: seq=%d time=%s ms (late: counted as lost)", e.Size, from, e.Seq, millis(e.RTT))
	case Timeout:
		return fmt.Sprintf("no reply from %s: seq=%d timed out after %v", from, e.Seq, e.RTT)
	case Malformed:
		return fmt.Sprintf("%d bytes from %s ignored: %v", e.Size, from, e.Err)
	}
	if e.Seq == 0 {
		return fmt.Sprintf("from %s: %v", from, e.Err)
	}
	return fmt.Sprintf("from %s: seq=%d: %v", from, e.Seq, e.Err)
}

// Summary is the statistics of a run, as ping(8) prints them at its end.
// Late and duplicate replies are counted apart and are not in Received
// or in the round-trip statistics: a datagram is answered once, within
// its timeout, or it is lost.
type Summary struct {
	Sent       int
	Received   int
	Duplicates int
	Late       int
	Malformed  int
	Errors     int // Failed events
	Elapsed    time.Duration

	Min, Max time.Duration // of the replies counted in Received
	// mean and m2 are Welford's running mean and sum of squared
	// deviations: the same mdev as ping(8)'s sqrt(E[x²] − E[x]²), without
	// its cancellation when the round trips barely differ.
	mean, m2 float64
}

// Add counts e.
func (s *Summary) Add(e Event) {
	switch e.Kind {
	case Reply:
		s.Received++
		if s.Received == 1 || e.RTT < s.Min {
			s.Min = e.RTT
		}
		s.Max = max(s.Max, e.RTT)
		x := float64(e.RTT)
		d := x - s.mean
		s.mean += d / float64(s.Received)
		s.m2 += d * (x - s.mean)
	case Duplicate:
		s.Duplicates++
	case Late:
		s.Late++
	case Malformed:
		s.Malformed++
	case Failed:
		s.Errors++
	}
}

// Loss is the percentage of datagrams sent that got no reply in time.
func (s *Summary) Loss() float64 {
	if s.Sent == 0 {
		return 0
	}
	return float64(s.Sent-s.Received) * 100 / float64(s.Sent)
}

// Avg is the mean round trip of the replies received.
func (s *Summary) Avg() time.Duration { return time.Duration(math.Round(s.mean)) }

// Mdev is the standard deviation of those round trips, over all of them
// (not a sample's n−1), as ping(8) computes it.
func (s *Summary) Mdev() time.Duration {
	if s.Received == 0 {
		return 0
	}
	return time.Duration(math.Round(math.Sqrt(s.m2 / float64(s.Received))))
}

// Write prints the summary as ping(8) does, target naming what was pinged:
//
//	--- 127.0.0.1:12000 ping statistics ---
//	5 packets transmitted, 4 received, +1 duplicates, 20% packet loss, time 4005ms
//	rtt min/avg/max/mdev = 0.045/0.060/0.072/0.010 ms
//
// The counts of duplicates, late replies, ignored datagrams and errors
// appear only when there are some; the round trips only with a reply.
func (s *Summary) Write(w io.Writer, target string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "--- %s ping statistics ---\n", target)
	fmt.Fprintf(&b, "%d packets transmitted, %d received", s.Sent, s.Received)
	for _, extra := range []struct {
		n    int
		what string
	}{{s.Duplicates, "duplicates"}, {s.Late, "late"}, {s.Malformed, "ignored"}, {s.Errors, "errors"}} {
		if extra.n > 0 {
			fmt.Fprintf(&b, ", +%d %s", extra.n, extra.what)
		}
	}
	if s.Sent > 0 {
		b.WriteString(", " + strconv.FormatFloat(s.Loss(), 'g', 6, 64) + "% packet loss")
	}
	fmt.Fprintf(&b, ", time %dms\n", s.Elapsed.Milliseconds())
	if s.Received > 0 {
		fmt.Fprintf(&b, "rtt min/avg/max/mdev = %s/%s/%s/%s ms\n", millis(s.Min), millis(s.Avg()), millis(s.Max), millis(s.Mdev()))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// millis writes d in milliseconds with microsecond precision, as ping(8)
// does.
func millis(d time.Duration) string {
	return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 3, 64)
}
