package http1

import (
	"bufio"
	"io"
	"strconv"
)

// Body reads a message body, de-chunking it when needed: a request body
// for a server, or a response body for a client (see ResponseReader). It
// belongs to its Reader and is reused for every message on the connection,
// so a handler must not keep it past its return.
type Body struct {
	br      *bufio.Reader
	req     *Request // the request it is the body of; nil for a response body
	trailer *Header  // where a chunked body's trailer section goes

	cont         io.Writer // where "100 Continue" goes
	continueSent bool
	started      bool // a Read has been attempted

	framing   framing
	remaining int64 // bytes left in the body (sized) or the current chunk
	total     int64 // bytes delivered so far
	done      bool  // the body ended cleanly
	err       error // a sticky framing or I/O error

	limits       Limits
	chunkScratch []byte
	drainBuf     [512]byte

	// replay holds a body read into memory by Bytes or set by Replace;
	// reads then come from it, from offset pos.
	replay    []byte
	replaying bool
	pos       int
}

// framing is how the end of a body is found (RFC 9112 6.3).
type framing uint8

const (
	framedSized   framing = iota // by Content-Length (0 for no body)
	framedChunked                // by the last chunk
	framedByClose                // by the end of the connection: responses only
)

func (b *Body) reset(br *bufio.Reader, req *Request, trailer *Header, limits Limits) {
	b.br, b.req, b.trailer, b.limits = br, req, trailer, limits
	b.continueSent, b.started, b.done, b.err = false, false, false, nil
	b.total, b.remaining, b.framing = 0, 0, framedSized
	b.replay, b.replaying, b.pos = b.replay[:0], false, 0
}

// start arms the body once the head is known: length bytes, or, when
// length is negative, up to the end of what f frames.
func (b *Body) start(f framing, length int64) {
	b.framing = f
	b.remaining = max(length, 0)
	b.done = f == framedSized && length <= 0
}

// Read implements io.Reader. The first Read sends "100 Continue" when the
// client asked for it: the client has told us it will not send the body
// until then, and a handler that never reads the body never invites it.
func (b *Body) Read(p []byte) (int, error) {
	if b.replaying {
		if b.pos >= len(b.replay) {
			return 0, io.EOF
		}
		n := copy(p, b.replay[b.pos:])
		b.pos += n
		return n, nil
	}
	return b.readSource(p)
}

// readSource reads the body as the client sends it, whatever Replace set.
func (b *Body) readSource(p []byte) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	if b.err != nil {
		return 0, b.err
	}
	if !b.started {
		b.started = true
		if err := b.sendContinue(); err != nil {
			b.err = err
			return 0, err
		}
	}
	var n int
	var err error
	switch b.framing {
	case framedChunked:
		n, err = b.readChunked(p)
	case framedByClose:
		n, err = b.readToClose(p)
	default:
		n, err = b.readSized(p)
	}
	b.total += int64(n)
	if err != nil && err != io.EOF {
		b.err = err
	}
	return n, err
}

func (b *Body) sendContinue() error {
	if b.req == nil || !b.req.ExpectContinue || b.continueSent || b.cont == nil {
		return nil
	}
	b.continueSent = true
	if _, err := io.WriteString(b.cont, "HTTP/1.1 100 Continue\r\n\r\n"); err != nil {
		return err
	}
	if f, ok := b.cont.(interface{ Flush() error }); ok {
		return f.Flush()
	}
	return nil
}

func (b *Body) readSized(p []byte) (int, error) {
	if int64(len(p)) > b.remaining {
		p = p[:b.remaining]
	}
	n, err := b.br.Read(p)
	b.remaining -= int64(n)
	if b.remaining == 0 {
		b.done = true
		return n, io.EOF
	}
	if err == io.EOF {
		return n, io.ErrUnexpectedEOF
	}
	return n, err
}

// readToClose reads a response body that the server ends by closing the
// connection; that close is then the body's clean end.
func (b *Body) readToClose(p []byte) (int, error) {
	n, err := b.br.Read(p)
	if err == io.EOF {
		b.done = true
	}
	return n, err
}

func (b *Body) readChunked(p []byte) (int, error) {
	if b.remaining == 0 {
		size, err := b.readChunkHeader()
		if err != nil {
			return 0, err
		}
		if size == 0 {
			if err := readHeaderSection(b.br, b.trailer, &b.chunkScratch, b.limits.MaxHeaderBytes, b.limits.MaxHeaders); err != nil {
				return 0, err
			}
			b.done = true
			return 0, io.EOF
		}
		if b.total+size > b.limits.MaxBody {
			return 0, ErrBodyTooLarge
		}
		b.remaining = size
	}
	if int64(len(p)) > b.remaining {
		p = p[:b.remaining]
	}
	n, err := b.br.Read(p)
	b.remaining -= int64(n)
	if err == io.EOF {
		return n, io.ErrUnexpectedEOF
	}
	if err != nil {
		return n, err
	}
	if b.remaining == 0 {
		if err := b.readChunkEnd(); err != nil {
			return n, err
		}
	}
	return n, nil
}

// maxChunkLine bounds a chunk-size line with its extensions; extensions
// carry nothing we use, so they get little room.
const maxChunkLine = 4 << 10

// readChunkHeader parses "chunk-size [chunk-ext] CRLF" (RFC 9112 7.1).
func (b *Body) readChunkHeader() (int64, error) {
	line, err := readLine(b.br, &b.chunkScratch, maxChunkLine)
	switch err {
	case nil:
	case io.EOF:
		return 0, io.ErrUnexpectedEOF
	case errHeaderTooLarge:
		return 0, errorf(400, "chunk line too long")
	default:
		return 0, err
	}
	var size int64
	i := 0
	for ; i < len(line); i++ {
		d := HexDigit(line[i])
		if d < 0 {
			break
		}
		if size > (1<<62)>>4 {
			return 0, errorf(400, "chunk size overflows")
		}
		size = size<<4 | int64(d)
	}
	if i == 0 {
		return 0, errorf(400, "malformed chunk size")
	}
	if !validChunkExt(line[i:]) {
		return 0, errorf(400, "malformed chunk extension")
	}
	return size, nil
}

// validChunkExt accepts *( BWS ";" BWS name [ BWS "=" BWS value ] ), with
// value a token or quoted-string; the extensions are then ignored.
func validChunkExt(ext []byte) bool {
	for _, c := range ext {
		if c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	ext = trimOWS(ext)
	return len(ext) == 0 || ext[0] == ';'
}

func (b *Body) readChunkEnd() error {
	crlf, err := b.br.Peek(2)
	if err != nil {
		if err == io.EOF {
			return io.ErrUnexpectedEOF
		}
		return err
	}
	if crlf[0] != '\r' || crlf[1] != '\n' {
		return errorf(400, "chunk data not followed by CRLF")
	}
	b.br.Discard(2)
	return nil
}

// Bytes reads the rest of the body into memory, up to limit bytes (else
// ErrBodyTooLarge), and returns it; reads then start over from its first
// byte. The slice is the Body's own and valid until the next request. It
// is how a policy that asked for the request body sees it before the
// handler does.
func (b *Body) Bytes(limit int64) ([]byte, error) {
	if b.replaying {
		return b.replay, nil
	}
	data := b.replay[:0]
	for {
		if int64(len(data)) > limit {
			return nil, ErrBodyTooLarge
		}
		if len(data) == cap(data) {
			data = append(data, 0)[:len(data)]
		}
		n, err := b.readSource(data[len(data):cap(data)])
		data = data[:len(data)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if int64(len(data)) > limit {
		return nil, ErrBodyTooLarge
	}
	b.replay, b.replaying, b.pos = data, true, 0
	return data, nil
}

// Replace makes the body read as data from now on, and, for a request
// body, the request's framing fields describe it. Whatever the client sent
// and nobody read is still drained after the exchange, as for any unread
// body.
func (b *Body) Replace(data []byte) {
	b.replay, b.replaying, b.pos = append(b.replay[:0], data...), true, 0
	if b.req == nil {
		return
	}
	b.req.ContentLength = int64(len(data))
	b.req.Header.Del("Transfer-Encoding")
	var buf [20]byte
	b.req.Header.Del("Content-Length")
	b.req.Header.AddBytes([]byte("Content-Length"), strconv.AppendInt(buf[:0], int64(len(data)), 10))
}

// Started reports whether anything has tried to read the body.
func (b *Body) Started() bool { return b.started }

// Done reports whether the body has been read to its clean end.
func (b *Body) Done() bool { return b.done }

// Err returns the error that stopped the body, if any.
func (b *Body) Err() error { return b.err }

// Unread reports how many body bytes are known to be left, or -1 when that
// is unknown (a chunked body not yet finished, or one that runs to the
// close of the connection).
func (b *Body) Unread() int64 {
	switch {
	case b.done:
		return 0
	case b.framing != framedSized:
		return -1
	}
	return b.remaining
}

// Drainable reports whether Drain(limit) may succeed: false when the body
// already failed, when the client still waits for 100 Continue, or when
// more than limit bytes are known to remain. A chunked body's length is
// unknown until read, so it counts as drainable.
func (b *Body) Drainable(limit int64) bool {
	switch {
	case b.done:
		return true
	case b.err != nil, b.req != nil && b.req.ExpectContinue && !b.continueSent:
		return false
	}
	return b.Unread() <= limit
}

// Drain reads and discards what is left of the body, up to limit bytes,
// so the connection can carry the next request. It reports whether the
// body ended within the limit. A client that was waiting for 100 Continue
// and never got it has sent no body; the connection cannot be reused then
// because we cannot know whether it will, so Drain reports false.
func (b *Body) Drain(limit int64) bool {
	if b.done {
		return true
	}
	if !b.Drainable(limit) {
		return false
	}
	for drained := int64(0); drained <= limit; {
		n, err := b.readSource(b.drainBuf[:])
		drained += int64(n)
		if err == io.EOF {
			return true
		}
		if err != nil {
			return false
		}
	}
	return false
}
