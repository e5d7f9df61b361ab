package ping

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"
)

// The defaults of `wasmhttpd ping` -i (ping(8)'s) and -W (shorter than
// ping(8)'s 10 s: a UDP round trip to a responder is expected within
// milliseconds), and the least interval.
const (
	DefaultInterval = time.Second
	DefaultTimeout  = time.Second
	// MinInterval keeps a mistaken -i 0 from flooding the network and
	// the responder, and stays well above the granularity of Go's
	// timers, below which the interval would be fiction.
	MinInterval = time.Millisecond
)

// Options configure Ping.
type Options struct {
	Count    int           // datagrams to send; 0 sends until ctx is done
	Interval time.Duration // between two sends; at least MinInterval
	Timeout  time.Duration // how long a datagram waits for its reply
	// OnEvent, if set, is called for every event as it happens, from
	// Ping's goroutine, so that output keeps the order of events.
	OnEvent func(Event)
}

// Validate says what is out of range in o, naming the option as ping(8)'s
// flags do.
func (o Options) Validate() error {
	switch {
	case o.Count < 0:
		return fmt.Errorf("count (-c) %d is negative", o.Count)
	case o.Interval < MinInterval:
		return fmt.Errorf("interval (-i) %v is below the minimum, %v", o.Interval, MinInterval)
	case o.Timeout <= 0:
		return fmt.Errorf("timeout (-W) %v is not longer than 0s", o.Timeout)
	}
	return nil
}

// window is how many recent datagrams the client remembers by sequence
// number: 16 s of sends at MinInterval, hours at the default. A reply to
// an older one is reported Late without telling a duplicate apart.
const window = 1 << 14

// The states of a datagram the client remembers.
const (
	unused     uint8 = iota // a place in the ring never written
	pending                 // sent, waiting for its reply
	answered                // replied within the timeout
	expired                 // timed out, or its send failed
	answerLate              // replied after it timed out
)

// sentDatagram is what the client remembers of a datagram.
type sentDatagram struct {
	seq   uint64
	sent  int64 // as in Packet.Sent
	state uint8
}

// arrival is a datagram, or an error, the reader got.
type arrival struct {
	at      int64 // as Packet.Sent counts
	size    int
	pkt     Packet
	bad     error // why the datagram is not a Packet
	refused error // the network refused a datagram (ICMP)
	fatal   error // conn no longer reads
}

// pinger is the state of one Ping run; its goroutine alone touches it.
type pinger struct {
	conn    net.Conn
	opts    Options
	start   time.Time
	sum     Summary
	ring    [window]sentDatagram
	sent    uint64 // the last seq sent
	oldest  uint64 // no seq below it is pending
	timer   *time.Timer
	sendBuf [Size]byte
}

// Ping sends numbered datagrams on conn, a connected UDP socket, and
// matches the replies, until it has sent Count and each has been answered
// or has timed out, or until ctx is done; it returns the summary so far in
// both cases. An error means that opts are out of range (see Validate) or
// that conn failed; the summary still says what happened until then. Ping
// leaves conn open, with a read deadline in the past: the caller closes
// it.
func Ping(ctx context.Context, conn net.Conn, opts Options) (*Summary, error) {
	if err := opts.Validate(); err != nil {
		return &Summary{}, fmt.Errorf("ping: %w", err)
	}
	p := &pinger{conn: conn, opts: opts, start: time.Now(), oldest: 1, timer: time.NewTimer(time.Hour)}
	p.timer.Stop()
	defer p.timer.Stop()

	arrivals := make(chan arrival, 16)
	done := make(chan struct{})
	var reader sync.WaitGroup
	reader.Go(func() { p.read(arrivals, done) })
	defer func() {
		close(done)
		conn.SetReadDeadline(time.Unix(1, 0)) // wakes the reader
		reader.Wait()
	}()

	ticker := time.NewTicker(opts.Interval)
	defer ticker.Stop()
	err := p.send()
loop:
	for err == nil && !p.finished() {
		select {
		case <-ctx.Done():
			break loop
		case <-ticker.C:
			if opts.Count == 0 || p.sent < uint64(opts.Count) {
				err = p.send()
			}
		case a := <-arrivals:
			err = p.receive(a)
		case <-p.timer.C:
		}
		p.expire()
	}
	p.sum.Elapsed = time.Since(p.start)
	return &p.sum, err
}

// now is the time as Packet.Sent counts it.
func (p *pinger) now() int64 { return int64(time.Since(p.start)) }

// finished says whether Count datagrams have gone out and none is pending.
func (p *pinger) finished() bool {
	return p.opts.Count > 0 && p.sent >= uint64(p.opts.Count) && p.oldest > p.sent
}

func (p *pinger) emit(e Event) {
	p.sum.Add(e)
	if p.opts.OnEvent != nil {
		p.opts.OnEvent(e)
	}
}

// send sends the next datagram.
func (p *pinger) send() error {
	seq := p.sent + 1
	d := &p.ring[seq%window]
	now := p.now()
	if d.state == pending {
		// Its timeout is longer than window sends: it is given up
		// now, so that no datagram is forgotten unreported.
		d.state = expired
		p.emit(Event{Kind: Timeout, Seq: d.seq, RTT: time.Duration(now - d.sent)})
	}
	*d = sentDatagram{seq: seq, sent: now, state: pending}
	p.sent = seq
	p.sum.Sent++
	if _, err := p.conn.Write(Packet{Seq: seq, Sent: now}.Append(p.sendBuf[:0])); err != nil {
		refused := refusal(err)
		if refused == nil {
			return err
		}
		d.state = expired
		p.emit(Event{Kind: Failed, Seq: seq, Err: refused})
	}
	return nil
}

// receive classifies what the reader got.
func (p *pinger) receive(a arrival) error {
	switch {
	case a.fatal != nil:
		return a.fatal
	case a.refused != nil:
		p.emit(Event{Kind: Failed, Err: a.refused})
		return nil
	case a.bad != nil:
		p.emit(Event{Kind: Malformed, Size: a.size, Err: a.bad})
		return nil
	}
	seq := a.pkt.Seq
	if seq == 0 || seq > p.sent {
		p.emit(Event{Kind: Malformed, Size: a.size, Err: fmt.Errorf("seq=%d was never sent", seq)})
		return nil
	}
	d := &p.ring[seq%window]
	e := Event{Kind: Late, Seq: seq, Size: a.size, RTT: time.Duration(a.at - a.pkt.Sent)}
	switch {
	case d.seq != seq:
		// Too old to be remembered: it can only be checked for having
		// been sent before now.
		if a.pkt.Sent < 0 || a.pkt.Sent > a.at {
			e = Event{Kind: Malformed, Size: a.size, Err: fmt.Errorf("seq=%d carries a send time from the future", seq)}
		}
	case a.pkt.Sent != d.sent:
		e = Event{Kind: Malformed, Size: a.size, Err: fmt.Errorf("seq=%d carries a send time that is not the one sent", seq)}
	case d.state == pending:
		d.state, e.Kind = answered, Reply
	case d.state == expired:
		d.state = answerLate
	default:
		e.Kind = Duplicate
	}
	p.emit(e)
	return nil
}

// expire reports the datagrams whose timeout has passed, and sets the
// timer for the next one due. Timeouts are equal, so datagrams fall due in
// the order sent and one timer serves them all.
func (p *pinger) expire() {
	now := p.now()
	timeout := int64(p.opts.Timeout)
	for ; p.oldest <= p.sent; p.oldest++ {
		d := &p.ring[p.oldest%window]
		if d.seq != p.oldest || d.state != pending {
			continue
		}
		if wait := d.sent + timeout - now; wait > 0 {
			p.timer.Reset(time.Duration(wait))
			return
		}
		d.state = expired
		p.emit(Event{Kind: Timeout, Seq: d.seq, RTT: p.opts.Timeout})
	}
}

// read passes what conn receives to arrivals until done, or until conn
// fails for good.
func (p *pinger) read(arrivals chan<- arrival, done <-chan struct{}) {
	// Room for the largest datagram, so that a long one is reported
	// with its true length rather than cut to look valid.
	buf := make([]byte, 64<<10)
	for {
		n, err := p.conn.Read(buf)
		a := arrival{at: p.now(), size: n}
		if err == nil {
			a.pkt, a.bad = Decode(buf[:n])
		} else if a.refused = refusal(err); a.refused == nil {
			a.fatal = err
		}
		select {
		case arrivals <- a:
		case <-done:
			return
		}
		if a.fatal != nil {
			return
		}
	}
}

// refusal describes err if it is the network refusing a datagram, which
// ICMP reports on a connected socket as an errno, once; else it returns
// nil. A closed socket or a deadline is no errno.
func refusal(err error) error {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return nil
	}
	switch errno {
	case syscall.ECONNREFUSED:
		return fmt.Errorf("port unreachable: nothing listens there (%w)", errno)
	case syscall.EHOSTUNREACH, syscall.EHOSTDOWN:
		return fmt.Errorf("host unreachable (%w)", errno)
	case syscall.ENETUNREACH:
		return fmt.Errorf("network unreachable (%w)", errno)
	}
	return fmt.Errorf("refused by the network (%w)", errno)
}
