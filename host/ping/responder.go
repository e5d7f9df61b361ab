package ping

import (
	"errors"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// ResponderOptions simulate a bad network between the responder and its
// clients.
type ResponderOptions struct {
	Loss  float64       // the probability, from 0 to 1, that a reply is dropped
	Delay time.Duration // each reply is held back this long
	Seed  uint64        // seeds the loss draws, for repeatable tests; 0 picks one at random
}

// ResponderStats counts datagrams since the responder started. Once it is
// closed, Received == Echoed + Dropped.
type ResponderStats struct {
	Received uint64
	Echoed   uint64
	// Dropped counts datagrams received and not echoed: simulated loss,
	// a failed write, a delayed reply over maxDelayed or abandoned at
	// Close.
	Dropped uint64
}

// ErrClosed is returned by Serve once Close has been called.
var ErrClosed = errors.New("ping: responder closed")

// maxDelayed bounds the replies held back at once, so that a flood of
// datagrams against a delay cannot exhaust memory; past it replies are
// dropped.
const maxDelayed = 4096

// Responder echoes datagrams. Its zero value is not usable: see
// NewResponder.
type Responder struct {
	opts ResponderOptions
	rng  *rand.Rand // Serve's alone

	received, echoed, dropped atomic.Uint64

	mu      sync.Mutex
	closed  bool
	conn    net.PacketConn             // Serve's, once it runs
	delayed map[*delayedReply]struct{} // held back, their timers running
	serving sync.WaitGroup             // Serve and the delayed replies being sent
}

// delayedReply is a reply held back by ResponderOptions.Delay.
type delayedReply struct {
	timer *time.Timer
	send  func() (int, error)
}

// NewResponder returns a responder with opts; Serve starts it.
func NewResponder(opts ResponderOptions) *Responder {
	seed := opts.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	return &Responder{
		opts:    opts,
		rng:     rand.New(rand.NewPCG(seed, seed)),
		delayed: map[*delayedReply]struct{}{},
	}
}

// Serve echoes every datagram that arrives on conn to its sender until
// Close, then returns ErrClosed; another error of conn ends it too. Serve
// closes conn when it returns. It may be called once.
func (r *Responder) Serve(conn net.PacketConn) error {
	r.mu.Lock()
	switch {
	case r.closed:
		r.mu.Unlock()
		conn.Close()
		return ErrClosed
	case r.conn != nil:
		r.mu.Unlock()
		return errors.New("ping: Serve called twice")
	}
	r.conn = conn
	r.serving.Add(1)
	r.mu.Unlock()
	defer r.serving.Done()
	defer conn.Close()

	if uc, ok := conn.(*net.UDPConn); ok {
		// Unlike ReadFrom and WriteTo, these allocate no address per
		// datagram.
		return serve(r, uc.ReadFromUDPAddrPort, uc.WriteToUDPAddrPort)
	}
	return serve(r, conn.ReadFrom, conn.WriteTo)
}

// serve is Serve's loop, over a socket's read and write of addresses of
// type A.
func serve[A any](r *Responder, read func([]byte) (int, A, error), write func([]byte, A) (int, error)) error {
	// 64 KiB holds the largest UDP datagram; a shorter buffer would
	// truncate what is echoed.
	buf := make([]byte, 64<<10)
	for {
		n, from, err := read(buf)
		if err != nil {
			if r.isClosed() {
				return ErrClosed
			}
			return err
		}
		r.received.Add(1)
		switch {
		case r.opts.Loss > 0 && r.rng.Float64() < r.opts.Loss:
			r.dropped.Add(1)
		case r.opts.Delay > 0:
			data := append([]byte(nil), buf[:n]...)
			r.hold(func() (int, error) { return write(data, from) })
		default:
			r.count(write(buf[:n], from))
		}
	}
}

// count counts the outcome of a reply's write.
func (r *Responder) count(_ int, err error) {
	if err != nil {
		r.dropped.Add(1)
		return
	}
	r.echoed.Add(1)
}

// hold schedules send after the delay, on a timer rather than a sleeping
// goroutine, so that one held reply does not hold back others and
// thousands cost little.
func (r *Responder) hold(send func() (int, error)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || len(r.delayed) >= maxDelayed {
		r.dropped.Add(1)
		return
	}
	d := &delayedReply{send: send}
	r.delayed[d] = struct{}{}
	r.serving.Add(1)
	// The timer is set under mu, and fire takes mu before it reads it.
	d.timer = time.AfterFunc(r.opts.Delay, func() { r.fire(d) })
}

// fire is a held reply's timer firing.
func (r *Responder) fire(d *delayedReply) {
	defer r.serving.Done()
	r.mu.Lock()
	delete(r.delayed, d)
	closed := r.closed
	r.mu.Unlock()
	if closed {
		r.dropped.Add(1)
		return
	}
	r.count(d.send())
}

func (r *Responder) isClosed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

// Close stops Serve and the held replies, and returns once Serve has
// returned and no reply is being sent.
func (r *Responder) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	for d := range r.delayed {
		// A timer that has already fired is sending, and finishes
		// by itself; one stopped here never will.
		if d.timer.Stop() {
			delete(r.delayed, d)
			r.dropped.Add(1)
			r.serving.Done()
		}
	}
	var err error
	if r.conn != nil {
		err = r.conn.Close()
	}
	r.mu.Unlock()
	r.serving.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil // Serve closed it on an error of its own
	}
	return err
}

// Stats returns the counts so far.
func (r *Responder) Stats() ResponderStats {
	return ResponderStats{Received: r.received.Load(), Echoed: r.echoed.Load(), Dropped: r.dropped.Load()}
}
