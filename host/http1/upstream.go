package http1

import (
	"bufio"
	"errors"
	"strconv"
)

// This file is the client side of the wire: what a proxy writes to the
// server it forwards to. Reading that server's answer is ResponseReader's.

// ErrBadOutbound is returned by WriteRequestHead for a method that is not
// a token or a request-target with bytes a request line cannot carry:
// writing them would let a caller inject a second request.
var ErrBadOutbound = errors.New("http1: method or request-target not valid on the wire")

// WriteRequestHead writes an HTTP/1.1 request line and header section to
// bw. target is sent as given (origin-form "/path?query", or "*"); h must
// carry Host and the body's framing fields. As for responses, a field
// whose name or value would break the framing is dropped, not sent.
func WriteRequestHead(bw *bufio.Writer, method string, target []byte, h *Header) error {
	if !isTokenString(method) || !validTarget(target) {
		return ErrBadOutbound
	}
	bw.WriteString(method)
	bw.WriteByte(' ')
	bw.Write(target)
	bw.WriteString(" HTTP/1.1\r\n")
	h.writeTo(bw)
	_, err := bw.WriteString("\r\n")
	return err
}

func isTokenString(s string) bool {
	if len(s) == 0 {
		return false
	}
	for i := range len(s) {
		if !tokenChars[s[i]] {
			return false
		}
	}
	return true
}

// ChunkedWriter frames a body of unknown length as chunks (RFC 9112 7.1)
// on its way to W; Close ends it, with trailer fields when there are any.
type ChunkedWriter struct {
	W *bufio.Writer
}

// Write sends p as one chunk; an empty p sends nothing, since an empty
// chunk would end the body.
func (c ChunkedWriter) Write(p []byte) (int, error) { return writeChunk(c.W, p) }

// Close writes the last chunk and the trailer section (trailer may be nil).
func (c ChunkedWriter) Close(trailer *Header) error { return writeLastChunk(c.W, trailer) }

func writeChunk(bw *bufio.Writer, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	var buf [18]byte
	bw.Write(strconv.AppendInt(buf[:0], int64(len(p)), 16))
	bw.WriteString("\r\n")
	n, err := bw.Write(p)
	if err == nil {
		_, err = bw.WriteString("\r\n")
	}
	return n, err
}

func writeLastChunk(bw *bufio.Writer, trailer *Header) error {
	bw.WriteString("0\r\n")
	if trailer != nil {
		trailer.writeTo(bw)
	}
	_, err := bw.WriteString("\r\n")
	return err
}
