package http1

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"iter"
)

// TargetForm is which of the four request-target forms of RFC 9112 3.2 a
// request used.
type TargetForm uint8

// The request-target forms.
const (
	OriginForm    TargetForm = iota // "/path?query", the usual form
	AbsoluteForm                    // "http://host/path", sent to proxies
	AuthorityForm                   // "host:port", CONNECT only
	AsteriskForm                    // "*", server-wide OPTIONS only
)

// Limits bound what a client may send. A request past a limit is refused
// with the status named beside it.
type Limits struct {
	MaxRequestLine int   // 414 URI Too Long
	MaxHeaderBytes int   // 431, the whole header section (and trailers)
	MaxHeaders     int   // 431, number of fields
	MaxBody        int64 // 413 Content Too Large
}

// DefaultLimits are the limits used when a field of Limits is zero.
var DefaultLimits = Limits{
	MaxRequestLine: 8 << 10,
	MaxHeaderBytes: 64 << 10,
	MaxHeaders:     100,
	MaxBody:        64 << 20,
}

// WithDefaults returns l with zero fields set from DefaultLimits.
func (l Limits) WithDefaults() Limits {
	if l.MaxRequestLine <= 0 {
		l.MaxRequestLine = DefaultLimits.MaxRequestLine
	}
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = DefaultLimits.MaxHeaderBytes
	}
	if l.MaxHeaders <= 0 {
		l.MaxHeaders = DefaultLimits.MaxHeaders
	}
	if l.MaxBody <= 0 {
		l.MaxBody = DefaultLimits.MaxBody
	}
	return l
}

// Request is a parsed request head plus a reader for its body. A Request is
// reused across the requests of a connection: everything in it is valid
// only until the handler returns.
type Request struct {
	Method string // as received; common methods are interned, not allocated
	Target []byte // the request-target exactly as received
	Form   TargetForm

	// Scheme and Authority are set for the absolute form (and Authority for
	// the authority form).
	Scheme    []byte
	Authority []byte

	// Path and Query split an origin- or absolute-form target at the first
	// '?'. They are still percent-encoded: decoding is the business of
	// whoever maps a path to a resource.
	Path  []byte
	Query []byte

	// Host is the effective host: the absolute-form authority when present
	// (RFC 9112 3.2.2), else the Host field.
	Host []byte

	ProtoMinor int // 0 for HTTP/1.0, 1 for HTTP/1.1

	Header  Header
	Trailer Header // filled once a chunked body has been read to its end

	// ContentLength is the body length, or -1 for a chunked body.
	ContentLength int64

	// KeepAlive reports whether the client allows the connection to carry
	// another request after this one.
	KeepAlive bool

	// ExpectContinue is set when the client waits for "100 Continue" before
	// sending the body; the Body sends it on the first Read.
	ExpectContinue bool

	// Body reads the request body; it reads as empty when there is none.
	Body *Body

	line   []byte // scratch for lines longer than the bufio buffer
	target []byte // owned copy of the request-target
}

// Proto returns the protocol version as written on the wire.
func (r *Request) Proto() string {
	if r.ProtoMinor == 0 {
		return "HTTP/1.0"
	}
	return "HTTP/1.1"
}

// HasBody reports whether the request carries body bytes.
func (r *Request) HasBody() bool { return r.ContentLength != 0 }

// reset prepares r for the next request, keeping its buffers.
func (r *Request) reset() {
	r.Method = ""
	r.Target, r.Scheme, r.Authority, r.Path, r.Query, r.Host = nil, nil, nil, nil, nil, nil
	r.Form = OriginForm
	r.ProtoMinor = 1
	r.Header.Reset()
	r.Trailer.Reset()
	r.ContentLength = 0
	r.KeepAlive = false
	r.ExpectContinue = false
}

// Error is a request the server must refuse: Status is the response code
// and Reason says what was wrong, for the log and the response body.
type Error struct {
	Status int
	Reason string
}

func (e *Error) Error() string { return e.Reason }

func errorf(status int, reason string) *Error { return &Error{Status: status, Reason: reason} }

// StatusOf maps an error met while reading a request or its body to the
// status a response should carry: the Error's own status, 408 for a
// timeout, 400 for anything else.
func StatusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	var timeout interface{ Timeout() bool }
	if errors.As(err, &timeout) && timeout.Timeout() {
		return 408
	}
	return 400
}

// ErrBodyTooLarge is returned by Body.Read when a chunked body grows past
// Limits.MaxBody.
var ErrBodyTooLarge = errorf(413, "request body exceeds the limit")

// Errors a client's framing can provoke. They are variables so tests and
// handlers can compare against them.
var (
	errLineTooLong      = errorf(414, "request line too long")
	errHeaderTooLarge   = errorf(431, "header section too large")
	errTooManyHeaders   = errorf(431, "too many header fields")
	errBareLF           = errorf(400, "line not terminated by CRLF")
	errBadRequestLine   = errorf(400, "malformed request line")
	errBadMethod        = errorf(400, "method is not a token")
	errBadTarget        = errorf(400, "malformed request-target")
	errBadVersion       = errorf(400, "malformed HTTP version")
	errVersion          = errorf(505, "HTTP version not supported")
	errObsFold          = errorf(400, "obsolete line folding in header section")
	errBadFieldName     = errorf(400, "malformed header field name")
	errSpaceBeforeColon = errorf(400, "whitespace between header field name and colon")
	errBadFieldValue    = errorf(400, "forbidden byte in header field value")
	errNoHost           = errorf(400, "HTTP/1.1 request without Host")
	errManyHosts        = errorf(400, "more than one Host field")
	errBadHost          = errorf(400, "malformed Host")
	errBadLength        = errorf(400, "malformed Content-Length")
	errManyLengths      = errorf(400, "conflicting Content-Length values")
	errLengthAndTE      = errorf(400, "both Transfer-Encoding and Content-Length")
	errTEHTTP10         = errorf(400, "Transfer-Encoding in an HTTP/1.0 request")
	errChunkedNotLast   = errorf(400, "chunked is not the final transfer coding")
	errUnknownCoding    = errorf(501, "transfer coding not implemented")
	errExpectation      = errorf(417, "unsupported expectation")
	errBodyTooLarge     = ErrBodyTooLarge
)

// Reader reads requests from one connection. It owns the line scratch
// space and the body state, so a connection allocates nothing per request
// once warm.
type Reader struct {
	br     *bufio.Reader
	limits Limits
	body   Body
}

// NewReader returns a Reader over br. The 100-continue interim response,
// when a client asks for one, is written to cont.
func NewReader(br *bufio.Reader, cont io.Writer, limits Limits) *Reader {
	r := &Reader{br: br, limits: limits.WithDefaults()}
	r.body.cont = cont
	return r
}

// Reset points the Reader at a new connection.
func (r *Reader) Reset(br *bufio.Reader, cont io.Writer, limits Limits) {
	r.br = br
	r.body.cont = cont
	r.limits = limits.WithDefaults()
}

// Buffered reports whether bytes of a following request have already
// arrived, as in a pipeline.
func (r *Reader) Buffered() bool { return r.br.Buffered() > 0 }

// ReadRequest parses the next request head into req and sets req.Body to
// read its body. It returns io.EOF when the connection closes cleanly
// between requests, and an *Error for a request to refuse.
func (r *Reader) ReadRequest(req *Request) error {
	req.reset()
	req.Body = &r.body
	r.body.reset(r.br, req, &req.Trailer, r.limits)

	line, err := r.readRequestLine(req)
	if err != nil {
		return err
	}
	if err := parseRequestLine(req, line); err != nil {
		return err
	}
	if err := readHeaderSection(r.br, &req.Header, &req.line, r.limits.MaxHeaderBytes, r.limits.MaxHeaders); err != nil {
		return err
	}
	if err := finishHead(req, r.limits); err != nil {
		return err
	}
	if req.ContentLength < 0 {
		r.body.start(framedChunked, -1)
	} else {
		r.body.start(framedSized, req.ContentLength)
	}
	return nil
}

// readRequestLine returns the request line without its CRLF, skipping the
// empty lines RFC 9112 2.2 asks servers to tolerate before it.
func (r *Reader) readRequestLine(req *Request) ([]byte, error) {
	for range 4 {
		line, err := readLine(r.br, &req.line, r.limits.MaxRequestLine)
		if err == errHeaderTooLarge {
			return nil, errLineTooLong
		}
		if err != nil {
			return nil, err
		}
		if len(line) > 0 {
			return line, nil
		}
	}
	return nil, errBadRequestLine
}

// readLine returns the next CRLF-terminated line without the CRLF. A line
// that fits the bufio buffer aliases it; a longer one is gathered in
// *scratch. Lines longer than limit fail with errHeaderTooLarge, a bare LF
// with errBareLF, and EOF before any byte with io.EOF.
func readLine(br *bufio.Reader, scratch *[]byte, limit int) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		*scratch = append((*scratch)[:0], line...)
		for err == bufio.ErrBufferFull {
			if len(*scratch) > limit {
				return nil, errHeaderTooLarge
			}
			line, err = br.ReadSlice('\n')
			*scratch = append(*scratch, line...)
		}
		line = *scratch
	}
	if err != nil {
		if err == io.EOF && len(line) > 0 {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, err
	}
	if len(line) > limit+2 {
		return nil, errHeaderTooLarge
	}
	if len(line) < 2 || line[len(line)-2] != '\r' {
		return nil, errBareLF
	}
	return line[:len(line)-2], nil
}

var (
	methodGET     = "GET"
	methodHEAD    = "HEAD"
	methodPOST    = "POST"
	methodPUT     = "PUT"
	methodDELETE  = "DELETE"
	methodOPTIONS = "OPTIONS"
	methodCONNECT = "CONNECT"
	methodTRACE   = "TRACE"
	methodPATCH   = "PATCH"
	methodPURGE   = "PURGE"
)

// internMethod returns a shared string for the common methods so that a
// request costs no allocation for its method.
func internMethod(b []byte) string {
	for _, m := range [...]string{methodGET, methodHEAD, methodPOST, methodPUT, methodDELETE,
		methodOPTIONS, methodCONNECT, methodTRACE, methodPATCH, methodPURGE} {
		if string(b) == m {
			return m
		}
	}
	return string(b)
}

// parseRequestLine splits "method SP target SP version" (RFC 9112 3).
// Exactly one SP separates the parts: lenient whitespace handling is where
// parsers start to disagree.
func parseRequestLine(req *Request, line []byte) error {
	method, rest, ok := bytes.Cut(line, []byte{' '})
	if !ok {
		return errBadRequestLine
	}
	target, version, ok := bytes.Cut(rest, []byte{' '})
	if !ok {
		return errBadRequestLine
	}
	if !IsToken(method) {
		return errBadMethod
	}
	if err := parseVersion(req, version); err != nil {
		return err
	}
	if !validTarget(target) {
		return errBadTarget
	}
	req.Method = internMethod(method)
	req.target = append(req.target[:0], target...)
	req.Target = req.target
	return parseTarget(req)
}

func parseVersion(req *Request, v []byte) error {
	if len(v) != 8 || string(v[:5]) != "HTTP/" || !isDigit(v[5]) || v[6] != '.' || !isDigit(v[7]) {
		return errBadVersion
	}
	if v[5] != '1' || v[7] > '1' {
		return errVersion
	}
	req.ProtoMinor = int(v[7] - '0')
	return nil
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// parseTarget classifies the request-target (RFC 9112 3.2).
func parseTarget(req *Request) error {
	t := req.Target
	switch {
	case req.Method == methodCONNECT:
		if !validAuthority(t, true) {
			return errBadTarget
		}
		req.Form, req.Authority = AuthorityForm, t
		return nil
	case t[0] == '/':
		req.Form = OriginForm
		req.Path, req.Query = splitQuery(t)
		return nil
	case len(t) == 1 && t[0] == '*':
		if req.Method != methodOPTIONS {
			return errBadTarget
		}
		req.Form = AsteriskForm
		return nil
	}
	scheme, rest, ok := bytes.Cut(t, []byte("://"))
	if !ok || !(EqualFold(scheme, "http") || EqualFold(scheme, "https")) {
		return errBadTarget
	}
	// The path aliases the target when it has one; only "http://host"
	// and "http://host?q" need a "/" made up, so only they allocate.
	authority := rest
	var path []byte
	switch i := bytes.IndexAny(rest, "/?"); {
	case i < 0:
		path = []byte("/")
	case rest[i] == '/':
		authority, path = rest[:i], rest[i:]
	default:
		authority, path = rest[:i], append([]byte("/"), rest[i:]...)
	}
	if !validAuthority(authority, false) {
		return errBadTarget
	}
	req.Form, req.Scheme, req.Authority = AbsoluteForm, scheme, authority
	req.Path, req.Query = splitQuery(path)
	return nil
}

func splitQuery(t []byte) (path, query []byte) {
	if i := bytes.IndexByte(t, '?'); i >= 0 {
		return t[:i], t[i+1:]
	}
	return t, nil
}

// readHeaderSection reads field lines up to the empty line into h. It
// serves both the request head and a chunked body's trailer section.
func readHeaderSection(br *bufio.Reader, h *Header, scratch *[]byte, maxBytes, maxFields int) error {
	total := 0
	for {
		line, err := readLine(br, scratch, maxBytes-total)
		if err != nil {
			if err == io.EOF {
				return io.ErrUnexpectedEOF
			}
			return err
		}
		total += len(line) + 2
		if len(line) == 0 {
			return nil
		}
		if total > maxBytes {
			return errHeaderTooLarge
		}
		if h.Len() >= maxFields {
			return errTooManyHeaders
		}
		if err := parseFieldLine(h, line); err != nil {
			return err
		}
	}
}

// parseFieldLine checks one "name: value" line (RFC 9112 5) and adds it.
func parseFieldLine(h *Header, line []byte) error {
	if line[0] == ' ' || line[0] == '\t' {
		return errObsFold
	}
	colon := bytes.IndexByte(line, ':')
	if colon < 0 {
		return errBadFieldName
	}
	name := line[:colon]
	if n := len(name); n > 0 && (name[n-1] == ' ' || name[n-1] == '\t') {
		return errSpaceBeforeColon
	}
	if !IsToken(name) {
		return errBadFieldName
	}
	value := trimOWS(line[colon+1:])
	if !validFieldValue(value) {
		return errBadFieldValue
	}
	h.AddBytes(name, value)
	return nil
}

// finishHead applies the rules that need the whole head: Host, framing,
// expectations and persistence.
func finishHead(req *Request, limits Limits) error {
	if err := resolveHost(req); err != nil {
		return err
	}
	if err := resolveFraming(req, limits); err != nil {
		return err
	}
	if req.Header.Has("Expect") {
		expect := trimOWS(req.Header.Get("Expect"))
		if req.Header.Count("Expect") > 1 || !EqualFold(expect, "100-continue") {
			return errExpectation
		}
		// RFC 9110 10.1.1: an HTTP/1.0 client cannot read a 100 response.
		req.ExpectContinue = req.ProtoMinor == 1 && req.ContentLength != 0
	}
	req.KeepAlive = keepAlive(req.ProtoMinor, &req.Header)
	return nil
}

// keepAlive reports whether a message of HTTP/1.minor with header h lets
// its connection carry another exchange (RFC 9112 9.3).
func keepAlive(minor int, h *Header) bool {
	if h.HasToken("Connection", "close") {
		return false
	}
	return minor == 1 || h.HasToken("Connection", "keep-alive")
}

func resolveHost(req *Request) error {
	switch n := req.Header.Count("Host"); {
	case n > 1:
		return errManyHosts
	case n == 0 && req.ProtoMinor == 1:
		return errNoHost
	case n == 1:
		host := req.Header.Get("Host")
		if len(host) > 0 && !validAuthority(host, false) {
			return errBadHost
		}
		req.Host = host
	}
	if req.Form == AbsoluteForm || req.Form == AuthorityForm {
		req.Host = req.Authority
	}
	return nil
}

// resolveFraming decides how long the body is (RFC 9112 6.3), refusing
// every combination that two parsers could read differently.
func resolveFraming(req *Request, limits Limits) error {
	te := req.Header.Has("Transfer-Encoding")
	cl := req.Header.Has("Content-Length")
	if te && cl {
		return errLengthAndTE
	}
	if te {
		if req.ProtoMinor == 0 {
			return errTEHTTP10
		}
		if err := checkChunked(&req.Header); err != nil {
			return err
		}
		req.ContentLength = -1
		return nil
	}
	if !cl {
		req.ContentLength = 0
		return nil
	}
	n, err := contentLength(&req.Header)
	if err != nil {
		return err
	}
	if n > limits.MaxBody {
		return errBodyTooLarge
	}
	req.ContentLength = n
	return nil
}

// contentLength returns the value of the Content-Length fields of h,
// which must all agree (RFC 9112 6.3 item 5).
func contentLength(h *Header) (int64, error) {
	n := int64(-1)
	for v := range h.Values("Content-Length") {
		for elem := range commaSplit(v) {
			m, ok := parseLength(elem)
			if !ok {
				return 0, errBadLength
			}
			if n >= 0 && m != n {
				return 0, errManyLengths
			}
			n = m
		}
	}
	if n < 0 {
		return 0, errBadLength
	}
	return n, nil
}

// commaSplit iterates over comma-separated elements with OWS trimmed but,
// unlike ListElements, keeps empty elements so "5,,5" can be refused.
func commaSplit(v []byte) iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		for {
			elem, rest, more := bytes.Cut(v, []byte{','})
			if !yield(trimOWS(elem)) || !more {
				return
			}
			v = rest
		}
	}
}

// parseLength parses 1*DIGIT into a non-negative int64.
func parseLength(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if !isDigit(c) {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// checkChunked accepts a Transfer-Encoding of exactly "chunked": the
// only coding we decode.
func checkChunked(h *Header) error {
	var codings, chunked int
	var last []byte
	for v := range h.Values("Transfer-Encoding") {
		for elem := range commaSplit(v) {
			if !IsToken(elem) {
				return errorf(400, "malformed Transfer-Encoding")
			}
			codings++
			last = elem
			if EqualFold(elem, "chunked") {
				chunked++
			}
		}
	}
	switch {
	case codings == 0:
		return errorf(400, "empty Transfer-Encoding")
	case !EqualFold(last, "chunked") || chunked > 1:
		return errChunkedNotLast
	case codings > 1:
		// Decoding gzip or deflate transfer codings is left unimplemented:
		// no client sends them, and each one is another decompressor to
		// harden against bombs.
		return errUnknownCoding
	}
	return nil
}
