package http1

import (
	"bufio"
	"errors"
	"io"
	"os"
	"strconv"
	"sync/atomic"
	"time"
)

// ServerName is the Server field value the response writer adds.
const ServerName = "wasmhttpd"

// ErrBodyOverflow is returned by Write when a handler writes more than the
// Content-Length it declared; the extra bytes are not sent.
var ErrBodyOverflow = errors.New("http1: write past the declared Content-Length")

// ErrShortBody is returned by Finish when a handler wrote less than the
// Content-Length it declared. The framing is then broken and the
// connection must close.
var ErrShortBody = errors.New("http1: body shorter than the declared Content-Length")

// ResponseWriter serializes one response (RFC 9112 4, 6): status line, the
// handler's fields plus Date, Server and Connection, and the body with the
// framing the request and status allow. Like the Request it is reused for
// every exchange on a connection.
type ResponseWriter struct {
	bw  *bufio.Writer
	raw io.Writer // the connection under bw; file bodies are copied to it directly
	req *Request

	header      Header
	status      int
	wroteHeader bool
	bodyAllowed bool
	chunked     bool
	length      int64 // declared Content-Length, or -1
	written     int64
	close       bool
	maxDrain    int64
	stopping    *atomic.Bool
	err         error

	limited io.LimitedReader // reused by ReadFrom, so a file body costs no allocation
	copyBuf []byte           // for bodies that are not files, allocated on first use

	// While buffering, the status, header and body are held here rather
	// than sent, so that a policy can still change them after the handler
	// has answered.
	buffering bool
	held      []byte
	trailer   Header
}

// NewResponseWriter returns a writer that buffers into bw. raw is the
// writer under bw: large file bodies bypass the buffer and go to it, which
// is how they reach sendfile when raw is (or wraps) a TCP connection.
func NewResponseWriter(bw *bufio.Writer, raw io.Writer) *ResponseWriter {
	return &ResponseWriter{bw: bw, raw: raw}
}

// Reset prepares w for the response to req.
func (w *ResponseWriter) Reset(req *Request) {
	w.req = req
	w.header.Reset()
	w.status, w.wroteHeader, w.bodyAllowed, w.chunked = 0, false, false, false
	w.length, w.written, w.err = -1, 0, nil
	w.close = !req.KeepAlive
	w.buffering, w.held = false, w.held[:0]
	w.trailer.Reset()
}

// Header returns the fields to send. Changes after WriteHeader are ignored.
func (w *ResponseWriter) Header() *Header { return &w.header }

// Status reports the status sent, or 0 before WriteHeader.
func (w *ResponseWriter) Status() int { return w.status }

// Written reports the number of body bytes accepted so far.
func (w *ResponseWriter) Written() int64 { return w.written }

// HeaderWritten reports whether the status line has gone out.
func (w *ResponseWriter) HeaderWritten() bool { return w.wroteHeader }

// Closing reports whether the connection will close after this response.
func (w *ResponseWriter) Closing() bool { return w.close }

// SetClose asks for the connection to close after this response. It has
// effect only before WriteHeader, since the Connection field says so.
func (w *ResponseWriter) SetClose() {
	if !w.wroteHeader {
		w.close = true
	}
}

// CloseWhen makes every response announce Connection: close when stopping
// is set as its header is written, so that clients of a server that is
// shutting down learn it from the responses already in flight.
func (w *ResponseWriter) CloseWhen(stopping *atomic.Bool) { w.stopping = stopping }

// SetDrainLimit tells the writer how much unread request body the server
// will discard to keep the connection; a response to a request with more
// left unread announces Connection: close.
func (w *ResponseWriter) SetDrainLimit(n int64) { w.maxDrain = n }

// SetContentLength declares the body length.
func (w *ResponseWriter) SetContentLength(n int64) {
	var buf [20]byte
	w.header.Del("Content-Length")
	w.header.AddBytes([]byte("Content-Length"), strconv.AppendInt(buf[:0], n, 10))
}

// WriteHeader sends the status line and header section. A 1xx status
// other than 101 is sent at once as an interim response; the final
// response follows.
func (w *ResponseWriter) WriteHeader(status int) {
	if w.wroteHeader || w.err != nil {
		return
	}
	if status < 100 || status > 999 {
		status = 500
	}
	if status < 200 && status != 101 {
		w.writeInterim(status)
		return
	}
	w.wroteHeader = true
	w.status = status
	if w.buffering {
		w.bodyAllowed = status >= 200 && status != 204 && status != 304 && w.req.Method != methodHEAD
		return
	}
	w.decideFraming()
	if w.stopping != nil && w.stopping.Load() ||
		w.req.Body != nil && !w.req.Body.Drainable(w.maxDrain) {
		w.close = true
	}

	w.bw.WriteString(statusLine(status))
	h := &w.header
	for _, hop := range [...]string{"Connection", "Transfer-Encoding", "Keep-Alive"} {
		h.Del(hop)
	}
	h.writeTo(w.bw)
	if !h.Has("Date") {
		w.bw.Write(currentDateLine())
	}
	if !h.Has("Server") {
		w.bw.WriteString("Server: " + ServerName + "\r\n")
	}
	if w.chunked {
		w.bw.WriteString("Transfer-Encoding: chunked\r\n")
	}
	switch {
	case w.close:
		w.bw.WriteString("Connection: close\r\n")
	case w.req.ProtoMinor == 0:
		w.bw.WriteString("Connection: keep-alive\r\n")
	}
	_, w.err = w.bw.WriteString("\r\n")
}

func (w *ResponseWriter) writeInterim(status int) {
	w.bw.WriteString(statusLine(status))
	w.header.writeTo(w.bw)
	w.bw.WriteString("\r\n")
	w.err = w.bw.Flush()
	w.header.Reset()
}

// decideFraming picks how the body is delimited (RFC 9112 6.3): no body
// for HEAD, 1xx, 204 and 304; the declared Content-Length when there is
// one; chunked for HTTP/1.1; and closing the connection for HTTP/1.0.
func (w *ResponseWriter) decideFraming() {
	if v := w.header.Get("Content-Length"); v != nil {
		if n, ok := parseLength(v); ok {
			w.length = n
		} else {
			w.header.Del("Content-Length")
		}
	}
	noBody := w.status < 200 || w.status == 204 || w.status == 304
	if noBody {
		w.header.Del("Content-Length")
		w.length = -1
	}
	w.bodyAllowed = !noBody && w.req.Method != methodHEAD
	if !w.bodyAllowed || w.length >= 0 || w.status == 101 {
		return
	}
	if w.req.ProtoMinor == 1 {
		w.chunked = true
	} else {
		w.close = true
	}
}

// Write sends body bytes, sending a 200 header first if none was sent. For
// HEAD requests and bodiless statuses it discards them.
func (w *ResponseWriter) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(200)
	}
	if w.err != nil {
		return 0, w.err
	}
	if !w.bodyAllowed {
		return len(p), nil
	}
	if w.buffering {
		w.held = append(w.held, p...)
		w.written += int64(len(p))
		return len(p), nil
	}
	if w.length >= 0 && w.written+int64(len(p)) > w.length {
		n, _ := w.Write(p[:w.length-w.written])
		return n, ErrBodyOverflow
	}
	var n int
	var err error
	if w.chunked {
		n, err = writeChunk(w.bw, p)
	} else {
		n, err = w.bw.Write(p)
	}
	w.written += int64(n)
	w.err = err
	return n, err
}

// WriteString is Write for strings.
func (w *ResponseWriter) WriteString(s string) (int, error) {
	if !w.chunked && !w.buffering && w.bodyAllowed && w.err == nil && (w.length < 0 || w.written+int64(len(s)) <= w.length) {
		n, err := w.bw.WriteString(s)
		w.written += int64(n)
		w.err = err
		return n, err
	}
	return w.Write([]byte(s))
}

// ReadFrom copies a body from r. A file body, given as an *os.File or an
// *io.LimitedReader of one (a slice of a file, as for a range), bypasses
// the buffer when it does not fit, so that the copy to the connection can
// be a sendfile; a small one joins the header in a single write.
func (w *ResponseWriter) ReadFrom(r io.Reader) (int64, error) {
	if !w.wroteHeader {
		w.WriteHeader(200)
	}
	if w.err != nil {
		return 0, w.err
	}
	if !w.bodyAllowed {
		return 0, nil
	}
	if w.chunked || w.length < 0 || w.buffering {
		if w.copyBuf == nil {
			w.copyBuf = make([]byte, copyBufferSize)
		}
		return io.CopyBuffer(writerOnly{w}, r, w.copyBuf)
	}
	w.limited = io.LimitedReader{R: r, N: w.length - w.written}
	if lr, ok := r.(*io.LimitedReader); ok {
		w.limited = io.LimitedReader{R: lr.R, N: min(lr.N, w.limited.N)}
	}
	src := &w.limited
	var n int64
	var err error
	if _, isFile := src.R.(*os.File); isFile && src.N > int64(w.bw.Available()) {
		if err = w.bw.Flush(); err == nil {
			n, err = io.Copy(w.raw, src)
		}
	} else {
		n, err = w.bw.ReadFrom(src)
	}
	if lr, ok := r.(*io.LimitedReader); ok {
		lr.N -= n
	}
	w.limited.R = nil
	w.written += n
	if err != nil {
		w.err = err
	}
	return n, err
}

// copyBufferSize is the buffer for bodies copied rather than sent by file.
const copyBufferSize = 16 << 10

// writerOnly hides ReadFrom so that io.Copy inside ReadFrom does not
// recurse into it.
type writerOnly struct{ io.Writer }

// Flush sends what is buffered to the client.
func (w *ResponseWriter) Flush() error {
	if !w.wroteHeader {
		w.WriteHeader(200)
	}
	if w.buffering {
		return w.err
	}
	if w.err != nil {
		return w.err
	}
	w.err = w.bw.Flush()
	return w.err
}

// Finish completes the response: a handler that sent nothing gets an empty
// 200, a chunked body gets its last chunk, and the buffer is flushed. After
// ErrShortBody or a write error the connection must not be reused.
func (w *ResponseWriter) Finish() error {
	if err := w.FinishBuffering(); err != nil {
		return err
	}
	if !w.wroteHeader {
		if !w.header.Has("Content-Length") {
			w.SetContentLength(0)
		}
		w.WriteHeader(200)
	}
	if w.err == ErrAborted {
		w.bw.Flush()
		return w.err
	}
	if w.err != nil {
		return w.err
	}
	if w.chunked {
		writeLastChunk(w.bw, &w.trailer)
	}
	if w.bodyAllowed && w.length >= 0 && w.written < w.length {
		w.err = ErrShortBody
		w.bw.Flush()
		return w.err
	}
	w.err = w.bw.Flush()
	return w.err
}

// StartBuffering holds the response in memory from now on: status,
// header and body are kept, not sent, until FinishBuffering (or Finish)
// sends them with a Content-Length. It is what lets a policy inspect and
// rewrite a response after the handler has produced it. It has no effect
// once the header has been sent.
func (w *ResponseWriter) StartBuffering() {
	if !w.wroteHeader {
		w.buffering = true
	}
}

// Buffering reports whether the response is being held in memory.
func (w *ResponseWriter) Buffering() bool { return w.buffering }

// BufferedBody returns the body held so far; it aliases the writer's
// storage and is valid until the next write.
func (w *ResponseWriter) BufferedBody() []byte { return w.held }

// SetBufferedBody replaces the held body.
func (w *ResponseWriter) SetBufferedBody(body []byte) {
	w.held = append(w.held[:0], body...)
	w.written = int64(len(w.held))
}

// SetStatus changes the status of a response that has not been sent:
// before WriteHeader, or while it is held.
func (w *ResponseWriter) SetStatus(status int) {
	if !w.wroteHeader || w.buffering {
		w.status = status
		if w.wroteHeader {
			w.bodyAllowed = status >= 200 && status != 204 && status != 304 && w.req.Method != methodHEAD
		}
	}
}

// Trailer returns the trailer fields, sent after a chunked body. A held
// response with trailers is sent chunked so that they can follow it.
func (w *ResponseWriter) Trailer() *Header { return &w.trailer }

// FinishBuffering sends a held response: the status (200 if none was
// set), the header with a Content-Length for the held body, and the body.
func (w *ResponseWriter) FinishBuffering() error {
	if !w.buffering {
		return nil
	}
	w.buffering = false
	status := w.status
	if status == 0 {
		status = 200
	}
	// A HEAD response keeps the length the handler declared for GET.
	if w.req.Method != methodHEAD {
		w.header.Del("Content-Length")
		if w.trailer.Len() == 0 || w.req.ProtoMinor == 0 {
			w.SetContentLength(int64(len(w.held)))
		}
	}
	w.wroteHeader, w.written = false, 0
	w.WriteHeader(status)
	if w.err == nil && len(w.held) > 0 {
		w.Write(w.held)
	}
	return w.err
}

// Error sends a complete plain-text response: the status and a one-line
// message saying what was wrong. It is how every refusal looks, so that
// clients and logs get the reason rather than a bare code. Fields that
// describe a successful representation are dropped; the rest stay, since
// some refusals are defined by a field: Allow on 405, Content-Range on 416,
// Location on a redirect, Retry-After on 503.
func (w *ResponseWriter) Error(status int, msg string) {
	if w.buffering {
		w.wroteHeader, w.held, w.written = false, w.held[:0], 0
	}
	if w.wroteHeader {
		w.Abort()
		return
	}
	h := w.Header()
	for _, name := range representationFields {
		h.Del(name)
	}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.SetContentLength(int64(len(msg) + 1))
	w.WriteHeader(status)
	w.WriteString(msg)
	w.WriteString("\n")
}

// representationFields describe the body of a success; an error message
// is a different representation.
var representationFields = [...]string{
	"Content-Type", "Content-Length", "Content-Encoding", "Content-Language",
	"Content-Location", "ETag", "Last-Modified", "Accept-Ranges",
}

// Abort marks the response as failed after its header has gone out: the
// body is left visibly incomplete (no last chunk, or fewer bytes than the
// Content-Length) and the connection closes, so the client cannot mistake
// a truncated body for a whole one.
func (w *ResponseWriter) Abort() {
	w.close = true
	if w.err == nil {
		w.err = ErrAborted
	}
}

// ErrAborted is returned by Finish after Abort.
var ErrAborted = errors.New("http1: response aborted")

// currentDateLine returns "Date: <IMF-fixdate>\r\n" for the current
// second. Formatting a date costs more than the rest of a small response's
// header, so it is done once a second and shared.
func currentDateLine() []byte {
	now := time.Now().Unix()
	if d := dateCache.Load(); d != nil && d.unix == now {
		return d.line
	}
	line := append([]byte("Date: "), time.Unix(now, 0).UTC().AppendFormat(nil, TimeFormat)...)
	line = append(line, "\r\n"...)
	dateCache.Store(&cachedDate{unix: now, line: line})
	return line
}

type cachedDate struct {
	unix int64
	line []byte
}

var dateCache atomic.Pointer[cachedDate]

// TimeFormat is the IMF-fixdate layout of RFC 9110 5.6.7.
const TimeFormat = "Mon, 02 Jan 2006 15:04:05 GMT"
