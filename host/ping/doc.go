// Package ping is a UDP echo responder and the client that measures round
// trips against it, as ping(8) does with ICMP: `wasmhttpd ping` and the
// [ping] listener.
//
// # Wire format
//
// The client sends datagrams of exactly Size (20) bytes, all integers
// big-endian:
//
//	offset  size  field
//	0       4     magic "WHP1" (wasmhttpd ping, format 1)
//	4       8     sequence number, from 1
//	12      8     send time: nanoseconds since the client started
//
// The responder echoes any datagram unchanged, whatever it holds, so that
// it also serves other echo clients; only the client reads the format.
//
// # Rationale
//
// The send time is read from the monotonic clock relative to the client's
// start, not the wall clock, so that a clock step during a run cannot make
// a round trip negative or huge. The client also remembers what it sent
// and accepts a reply only if it carries the same send time: a corrupted
// or forged reply is reported and ignored instead of skewing the
// statistics.
//
// The client remembers the last 16384 datagrams in a ring, so that a run
// without -c holds constant memory (400 KB). A reply to a datagram sent
// earlier than that is reported as late without telling whether it is
// also a duplicate, and a datagram still waiting when its place is needed
// (a timeout longer than 16384 intervals) is reported as timed out then;
// at the minimum interval that is 16 s after it was sent.
//
// A datagram is answered once, within its timeout, or it is lost: a late
// reply does not turn a loss, already reported, back into a reply, and a
// duplicate is not a second reply. Both are counted and printed apart, as
// ping(8) prints "+N duplicates", and neither enters the round-trip
// statistics. Errors the network reports through ICMP (port or host
// unreachable) arrive on the connected socket without saying which
// datagram they answer, and are counted as errors.
//
// The responder delays replies with timers rather than goroutines, so that
// a held reply holds back no other and thousands cost little; it holds at
// most 4096 at once, so that a flood cannot exhaust memory. Its counters
// are atomics, cheap enough to be read by the metrics on every scrape.
package ping
