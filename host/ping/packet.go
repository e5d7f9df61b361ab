package ping

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Size is the length of every datagram the client sends, and so of every
// reply it accepts.
const Size = 20

// magic opens every datagram; its last byte is the format's version, so
// that a later format is told apart rather than misread.
const magic = "WHP1"

// Packet is what a datagram carries.
type Packet struct {
	Seq uint64 // from 1, one more for each datagram sent
	// Sent is when the client sent it: nanoseconds since the client
	// started, from the monotonic clock, so that a step of the wall clock
	// cannot distort a round trip.
	Sent int64
}

// Append appends the datagram of p to b.
func (p Packet) Append(b []byte) []byte {
	b = append(b, magic...)
	b = binary.BigEndian.AppendUint64(b, p.Seq)
	return binary.BigEndian.AppendUint64(b, uint64(p.Sent))
}

// Errors of Decode, for callers that tell them apart.
var (
	ErrLength = errors.New("wrong length")
	ErrMagic  = errors.New("not a wasmhttpd ping datagram")
)

// Decode reads a datagram. Anything but exactly Size bytes that open with
// the magic is refused, saying why.
func Decode(b []byte) (Packet, error) {
	if len(b) != Size {
		return Packet{}, fmt.Errorf("%w: %d bytes, want %d", ErrLength, len(b), Size)
	}
	if string(b[:len(magic)]) != magic {
		return Packet{}, fmt.Errorf("%w: it opens with %q, not %q", ErrMagic, b[:len(magic)], magic)
	}
	return Packet{
		Seq:  binary.BigEndian.Uint64(b[4:12]),
		Sent: int64(binary.BigEndian.Uint64(b[12:20])),
	}, nil
}
