package http1

import (
	"bufio"
	"errors"
	"math"
)

// Response is a response head read from an upstream server plus a reader
// for its body: the client-side twin of Request. It is reused across the
// responses of a connection, so everything in it is valid only until the
// next ReadResponse.
type Response struct {
	ProtoMinor int    // 0 for HTTP/1.0, 1 for HTTP/1.1
	Status     int    // 100–999
	Reason     []byte // the reason phrase, which nothing should depend on

	Header  Header
	Trailer Header // filled once a chunked body has been read to its end

	// ContentLength is the body length: 0 when the response has none, -1
	// when it is chunked (Chunked) or runs until the server closes.
	ContentLength int64
	Chunked       bool

	// KeepAlive reports whether the connection can carry another request
	// once this body has been read to its end.
	KeepAlive bool

	// Body reads the response body; it reads as empty when there is none.
	Body *Body

	line   []byte // scratch for a status line longer than the bufio buffer
	reason []byte // owned copy of the reason phrase
}

// Interim reports whether r is a 1xx interim response, which a final
// response follows on the same connection. 101 is final: after it the
// connection speaks another protocol.
func (r *Response) Interim() bool { return r.Status < 200 && r.Status != 101 }

func (r *Response) reset() {
	r.ProtoMinor, r.Status, r.Reason = 1, 0, nil
	r.Header.Reset()
	r.Trailer.Reset()
	r.ContentLength, r.Chunked, r.KeepAlive = 0, false, false
}

// ResponseReader reads responses from one upstream connection, with the
// same parser, limits and strictness as Reader applies to requests: a
// proxy must not be the place where two parsers disagree about framing.
type ResponseReader struct {
	br     *bufio.Reader
	limits Limits
	body   Body
}

// NewResponseReader returns a ResponseReader over br. MaxRequestLine of
// limits bounds the status line; MaxBody bounds a chunked body and, when
// zero, means no limit (a proxy relays what the origin serves).
func NewResponseReader(br *bufio.Reader, limits Limits) *ResponseReader {
	if limits.MaxBody <= 0 {
		limits.MaxBody = math.MaxInt64
	}
	return &ResponseReader{br: br, limits: limits.WithDefaults()}
}

// Reset points the ResponseReader at a new connection.
func (r *ResponseReader) Reset(br *bufio.Reader) { r.br = br }

// Errors of a malformed response head. Every *Error that ReadResponse
// returns carries status 502: what a gateway answers its own client when
// the server it forwarded to misbehaves.
var (
	errStatusLineTooLong = errorf(502, "status line too long")
	errBadStatusLine     = errorf(502, "malformed status line")
	errResponseVersion   = errorf(502, "unsupported HTTP version in status line")
	errTEHTTP10Response  = errorf(502, "Transfer-Encoding in an HTTP/1.0 response")
)

// ReadResponse parses the next response head into resp and sets
// resp.Body to read its body, framed as RFC 9112 6.3 says for a response
// to method: none for HEAD, 1xx, 204, 304 and a 2xx to CONNECT; chunked;
// Content-Length; else up to the end of the connection. A 1xx response is
// returned as it is (see Interim); the caller reads again for the final
// one.
//
// It returns io.EOF when the connection closed before any byte of a
// response, which on a reused connection means the server had closed it
// while idle; other I/O errors pass through, and a malformed head is an
// *Error with status 502.
func (r *ResponseReader) ReadResponse(resp *Response, method string) error {
	resp.reset()
	resp.Body = &r.body
	r.body.reset(r.br, nil, &resp.Trailer, r.limits)

	line, err := readLine(r.br, &resp.line, r.limits.MaxRequestLine)
	switch {
	case err == errHeaderTooLarge:
		return errStatusLineTooLong
	case err != nil:
		return asBadGateway(err)
	}
	if err := parseStatusLine(resp, line); err != nil {
		return err
	}
	if err := readHeaderSection(r.br, &resp.Header, &resp.line, r.limits.MaxHeaderBytes, r.limits.MaxHeaders); err != nil {
		return asBadGateway(err)
	}
	resp.KeepAlive = keepAlive(resp.ProtoMinor, &resp.Header)
	return asBadGateway(r.frame(resp, method))
}

// asBadGateway turns a request-side framing error, whose status speaks of
// a bad client, into the same reason with status 502.
func asBadGateway(err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) && e.Status != 502 {
		return &Error{Status: 502, Reason: e.Reason}
	}
	return err
}

// parseStatusLine splits "HTTP-version SP status-code SP [reason-phrase]"
// (RFC 9112 4). A missing SP after the code is tolerated: the reason is
// ignored by every client, so nothing about framing hangs on it.
func parseStatusLine(resp *Response, line []byte) error {
	if len(line) < 12 || string(line[:7]) != "HTTP/1." || line[8] != ' ' {
		if len(line) >= 8 && string(line[:5]) == "HTTP/" {
			return errResponseVersion
		}
		return errBadStatusLine
	}
	switch line[7] {
	case '0', '1':
		resp.ProtoMinor = int(line[7] - '0')
	default:
		return errResponseVersion
	}
	code := line[9:12]
	if !isDigit(code[0]) || !isDigit(code[1]) || !isDigit(code[2]) || code[0] == '0' {
		return errBadStatusLine
	}
	resp.Status = int(code[0]-'0')*100 + int(code[1]-'0')*10 + int(code[2]-'0')
	rest := line[12:]
	if len(rest) > 0 {
		if rest[0] != ' ' || !validFieldValue(rest[1:]) {
			return errBadStatusLine
		}
		resp.reason = append(resp.reason[:0], rest[1:]...)
		resp.Reason = resp.reason
	}
	return nil
}

// frame decides how the body is delimited (RFC 9112 6.3), refusing the
// same ambiguous combinations a request may not carry.
func (r *ResponseReader) frame(resp *Response, method string) error {
	h := &resp.Header
	if method == methodHEAD || resp.Status < 200 || resp.Status == 204 || resp.Status == 304 ||
		method == methodCONNECT && resp.Status < 300 {
		r.body.start(framedSized, 0)
		return nil
	}
	te, cl := h.Has("Transfer-Encoding"), h.Has("Content-Length")
	switch {
	case te && cl:
		return errLengthAndTE
	case te:
		if resp.ProtoMinor == 0 {
			return errTEHTTP10Response
		}
		if err := checkChunked(h); err != nil {
			return err
		}
		resp.Chunked, resp.ContentLength = true, -1
		r.body.start(framedChunked, -1)
	case cl:
		n, err := contentLength(h)
		if err != nil {
			return err
		}
		resp.ContentLength = n
		r.body.start(framedSized, n)
	default:
		resp.ContentLength, resp.KeepAlive = -1, false
		r.body.start(framedByClose, -1)
	}
	return nil
}
