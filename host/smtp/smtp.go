// Package smtp is an SMTP submission client (RFC 5321, 3207, 4954) over
// a raw connection: it delivers one message to one server and reports
// every refusal as an *Error naming the command and the server's text.
//
// RATIONALE
//
//   - An explicit state machine (session.run): each state sends one
//     command and reads its reply, and each reply code either leads to
//     the next state or ends the session. Which transitions exist is
//     visible in one switch rather than spread over a sequence of calls.
//   - TLS modes: "none" never encrypts, even when the server offers
//     STARTTLS (for a local relay that offers it with a certificate
//     nobody can verify); "opportunistic" uses STARTTLS when offered and
//     goes on in clear otherwise, which defends against passive
//     listeners only; "starttls" requires it (the submission port, 587);
//     "tls" starts TLS on connect (port 465, RFC 8314). Certificates are
//     always verified: a mode that encrypts to whoever answers would
//     protect nothing worth the name.
//   - AUTH PLAIN and LOGIN carry the password merely base64-encoded, so
//     they are refused on an unencrypted connection unless the caller
//     sets AllowInsecureAuth (a relay on loopback). PLAIN is preferred
//     when offered: one round trip instead of three.
//   - Every step runs under Timeout, and the context cancels the session
//     at any point, so a server that stops answering costs at most one
//     timeout, never a stuck goroutine.
package smtp

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// TLS modes; see the package documentation.
const (
	TLSNone          = "none"
	TLSOpportunistic = "opportunistic"
	TLSStartTLS      = "starttls"
	TLSImplicit      = "tls"
)

// TLSModes lists the modes, for a configuration's error messages.
var TLSModes = []string{TLSNone, TLSOpportunistic, TLSStartTLS, TLSImplicit}

// DefaultPort is the port a mode uses when none is given: submission with
// STARTTLS (587), submissions (465), and the relay port (25) otherwise.
func DefaultPort(mode string) int {
	switch mode {
	case TLSStartTLS:
		return 587
	case TLSImplicit:
		return 465
	}
	return 25
}

// DefaultTimeout bounds each step when Config.Timeout is 0.
const DefaultTimeout = 30 * time.Second

// Config says where and how to deliver.
type Config struct {
	Addr string // host:port
	TLS  string // one of TLSModes; "" is TLSStartTLS
	// TLSConfig is used for TLS; nil verifies the server's certificate
	// against the system roots for the host of Addr.
	TLSConfig *tls.Config
	// Username, when not empty, authenticates with Password.
	Username, Password string
	// AllowInsecureAuth permits AUTH on an unencrypted connection.
	AllowInsecureAuth bool
	// Helo is the name given in EHLO; "" takes the host name.
	Helo string
	// Timeout bounds each step (connect, handshake, each command and its
	// reply, the message data); 0 means DefaultTimeout.
	Timeout time.Duration
}

// Error is a reply the session did not expect: the command it answered
// (AUTH commands without their credentials, "greeting" for the server's
// first reply, "message data" for the reply to the data's end) and what
// the server said.
type Error struct {
	Command string
	Code    int
	Text    string
}

// Error formats as "smtp: RCPT TO:<x@y>: 550 5.1.1 no such user".
func (e *Error) Error() string {
	return "smtp: " + e.Command + ": " + strconv.Itoa(e.Code) + " " + e.Text
}

// Temporary reports a 4xx reply: the same message may succeed later.
func (e *Error) Temporary() bool { return e.Code >= 400 && e.Code < 500 }

// Send delivers msg, a complete RFC 5322 message, from the envelope
// sender from to each of to, in one session. msg may use LF or CRLF line
// ends; they go out as CRLF, dot-stuffed.
func Send(ctx context.Context, cfg Config, from string, to []string, msg []byte) error {
	if len(to) == 0 {
		return errors.New("smtp: no recipients")
	}
	for _, addr := range append([]string{from}, to...) {
		if err := CheckAddress(addr); err != nil {
			return err
		}
	}
	s := &session{cfg: cfg, from: from, to: to, msg: msg}
	if s.cfg.TLS == "" {
		s.cfg.TLS = TLSStartTLS
	}
	if s.cfg.Timeout <= 0 {
		s.cfg.Timeout = DefaultTimeout
	}
	if !slices.Contains(TLSModes, s.cfg.TLS) {
		return fmt.Errorf("smtp: TLS mode %q is not one of %s", s.cfg.TLS, strings.Join(TLSModes, ", "))
	}
	if s.cfg.Helo == "" {
		s.cfg.Helo = helloName()
	}
	if strings.ContainsFunc(s.cfg.Helo, func(r rune) bool { return r <= ' ' || r >= 0x7f }) {
		return fmt.Errorf("smtp: HELO name %q is not a host name", s.cfg.Helo)
	}
	s.ctx = ctx
	if err := s.dial(); err != nil {
		return err
	}
	defer s.conn.Close()
	// Cancelling ctx makes the current read or write fail at once.
	raw := s.raw
	stop := context.AfterFunc(ctx, func() { raw.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	err := s.run()
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("smtp: %w (%v)", ctx.Err(), err)
	}
	return err
}

// CheckAddress accepts an envelope address: local@domain, ASCII without
// spaces, controls or angle brackets, which would break the command line
// or inject another command.
func CheckAddress(addr string) error {
	local, domain, ok := strings.Cut(addr, "@")
	if !ok || local == "" || domain == "" || strings.Contains(domain, "@") {
		return fmt.Errorf("smtp: address %q is not local@domain", addr)
	}
	for _, r := range addr {
		if r <= ' ' || r >= 0x7f || r == '<' || r == '>' {
			return fmt.Errorf("smtp: address %q contains %q: only printable ASCII without spaces or angle brackets is allowed", addr, r)
		}
	}
	return nil
}

func helloName() string {
	if h, err := os.Hostname(); err == nil && h != "" && !strings.ContainsAny(h, " \r\n") {
		return h
	}
	return "localhost"
}

// state is where a session stands: the next command to send.
type state int

const (
	stateGreeting state = iota
	stateEHLO
	stateHELO
	stateStartTLS
	stateAuth
	stateMail
	stateRcpt
	stateData
	stateQuit
	stateDone
)

// session is one delivery.
type session struct {
	cfg  Config
	from string
	to   []string
	msg  []byte

	ctx  context.Context
	raw  net.Conn // the TCP connection, whose deadlines TLS shares
	conn net.Conn // raw, or TLS over it
	r    *bufio.Reader
	w    *bufio.Writer

	tls  bool              // the connection is encrypted
	ext  map[string]string // EHLO keywords (upper case) and their parameters
	rcpt int               // recipients sent so far

	// broken says that the connection is in no state for another
	// command: a write failed, a reply could not be read, or TLS did not
	// start cleanly.
	broken bool
}

// run drives the session from the greeting to QUIT. A session that ends
// early still says QUIT when the connection allows: RFC 5321 4.1.1.10
// has the client not close the channel before it, even after an error
// reply.
func (s *session) run() error {
	st := stateGreeting
	for st != stateDone {
		var err error
		if st, err = s.step(st); err != nil {
			if !s.broken && s.ctx.Err() == nil {
				s.cmd(221, "QUIT")
			}
			return err
		}
	}
	return nil
}

// step performs the state st and returns the next one.
func (s *session) step(st state) (state, error) {
	switch st {
	case stateGreeting:
		if _, err := s.expect("greeting", 220); err != nil {
			return 0, err
		}
		return stateEHLO, nil
	case stateEHLO:
		return s.ehlo()
	case stateHELO:
		if _, err := s.cmd(250, "HELO "+s.cfg.Helo); err != nil {
			return 0, err
		}
		s.ext = map[string]string{}
		return s.afterHello()
	case stateStartTLS:
		return s.startTLS()
	case stateAuth:
		return stateMail, s.auth()
	case stateMail:
		if err := s.checkSize(); err != nil {
			return 0, err
		}
		_, err := s.cmd(250, "MAIL FROM:<"+s.from+">")
		return stateRcpt, err
	case stateRcpt:
		if _, err := s.cmd(250, "RCPT TO:<"+s.to[s.rcpt]+">", 251); err != nil {
			return 0, err
		}
		if s.rcpt++; s.rcpt < len(s.to) {
			return stateRcpt, nil
		}
		return stateData, nil
	case stateData:
		return stateQuit, s.data()
	case stateQuit:
		// The message is delivered once the data was accepted; a server
		// that answers QUIT badly or hangs up changes nothing.
		s.cmd(221, "QUIT")
		return stateDone, nil
	}
	return 0, fmt.Errorf("smtp: internal error: state %d", st)
}

// ehlo greets with EHLO, falling back to HELO when the server does not
// know EHLO (500 or 502, RFC 5321 4.1.1.1).
func (s *session) ehlo() (state, error) {
	rep, err := s.cmd(250, "EHLO "+s.cfg.Helo, 500, 502)
	if err != nil {
		return 0, err
	}
	if rep.Code != 250 {
		if s.tls && s.cfg.TLS != TLSImplicit {
			// A server that spoke EHLO before STARTTLS must speak it
			// after; on implicit TLS this is the first EHLO, and HELO
			// is as good a fallback as in clear.
			return 0, &Error{Command: "EHLO " + s.cfg.Helo, Code: rep.Code, Text: rep.Text()}
		}
		return stateHELO, nil
	}
	s.ext = map[string]string{}
	for _, line := range rep.Lines[1:] {
		kw, param, _ := strings.Cut(line, " ")
		s.ext[strings.ToUpper(kw)] = param
	}
	return s.afterHello()
}

// afterHello decides on STARTTLS, then AUTH, then the envelope.
func (s *session) afterHello() (state, error) {
	if !s.tls {
		_, offered := s.ext["STARTTLS"]
		switch {
		case s.cfg.TLS == TLSStartTLS && !offered:
			return 0, errors.New("smtp: the server does not offer STARTTLS, which TLS mode starttls requires")
		case s.cfg.TLS == TLSStartTLS, s.cfg.TLS == TLSOpportunistic && offered:
			return stateStartTLS, nil
		}
	}
	if s.cfg.Username != "" {
		return stateAuth, nil
	}
	return stateMail, nil
}

func (s *session) startTLS() (state, error) {
	if _, err := s.cmd(220, "STARTTLS"); err != nil {
		return 0, err
	}
	if s.r.Buffered() > 0 {
		// Bytes sent before the handshake could be injected by a
		// man in the middle to be read as if they came over TLS
		// (CVE-2011-0411).
		s.broken = true
		return 0, errors.New("smtp: STARTTLS: the server sent data before the TLS handshake")
	}
	if err := s.handshake(); err != nil {
		return 0, err
	}
	// RFC 3207 4.2: forget everything learnt before TLS and ask again.
	return stateEHLO, nil
}

// auth authenticates with PLAIN or LOGIN, whichever the server offers.
func (s *session) auth() error {
	if !s.tls && !s.cfg.AllowInsecureAuth {
		return errors.New("smtp: AUTH: refusing to send the password over an unencrypted connection (use a TLS mode, or allow insecure auth for a trusted relay)")
	}
	mechs, ok := s.ext["AUTH"]
	if !ok {
		return errors.New("smtp: AUTH: a username is configured but the server offers no authentication")
	}
	offered := strings.Fields(strings.ToUpper(mechs))
	has := func(m string) bool { return slices.Contains(offered, m) }
	user, pass := s.cfg.Username, s.cfg.Password
	switch {
	case has("PLAIN"):
		ir := base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pass))
		_, err := s.secret(235, "AUTH PLAIN", "AUTH PLAIN "+ir)
		return err
	case has("LOGIN"):
		const cmd = "AUTH LOGIN"
		if _, err := s.secret(334, cmd, cmd); err != nil {
			return err
		}
		if _, err := s.secret(334, cmd, base64.StdEncoding.EncodeToString([]byte(user))); err != nil {
			return err
		}
		_, err := s.secret(235, cmd, base64.StdEncoding.EncodeToString([]byte(pass)))
		return err
	}
	return fmt.Errorf("smtp: AUTH: the server offers %s; this client speaks PLAIN and LOGIN", mechs)
}

// checkSize refuses early a message over the server's SIZE (RFC 1870),
// rather than after sending all of it.
func (s *session) checkSize() error {
	limit, err := strconv.ParseInt(s.ext["SIZE"], 10, 64)
	if err != nil || limit <= 0 || int64(len(s.msg)) <= limit {
		return nil
	}
	return fmt.Errorf("smtp: the message is %d bytes; the server accepts at most %d", len(s.msg), limit)
}

func (s *session) data() error {
	if _, err := s.cmd(354, "DATA"); err != nil {
		return err
	}
	s.deadline()
	dw := &dataWriter{w: s.w, bol: true}
	dw.Write(s.msg)
	if err := dw.Close(); err != nil {
		s.broken = true
		return fmt.Errorf("smtp: message data: %w", err)
	}
	_, err := s.expect("message data", 250)
	return err
}

// cmd sends line and reads its reply, which must have code want or one
// of also (returned for the caller to act on).
func (s *session) cmd(want int, line string, also ...int) (reply, error) {
	return s.send(want, line, line, also...)
}

// secret is cmd for a line whose text must not appear in errors; name
// stands for it.
func (s *session) secret(want int, name, line string) (reply, error) {
	return s.send(want, name, line)
}

func (s *session) send(want int, name, line string, also ...int) (reply, error) {
	s.deadline()
	s.w.WriteString(line)
	s.w.WriteString("\r\n")
	if err := s.w.Flush(); err != nil {
		s.broken = true
		return reply{}, fmt.Errorf("smtp: %s: %w", name, err)
	}
	return s.expect(name, want, also...)
}

// expect reads a reply to name, which must have code want or one of also.
func (s *session) expect(name string, want int, also ...int) (reply, error) {
	s.deadline()
	rep, err := readReply(s.r)
	if err != nil {
		s.broken = true
		return reply{}, fmt.Errorf("smtp: %s: %w", name, err)
	}
	if rep.Code == want {
		return rep, nil
	}
	for _, c := range also {
		if rep.Code == c {
			return rep, nil
		}
	}
	return reply{}, &Error{Command: name, Code: rep.Code, Text: rep.Text()}
}

// deadline gives the next step its time, within the context's. The
// context is checked after the deadline is set, so a cancellation that
// the AfterFunc in Send enforced just before is not undone.
func (s *session) deadline() {
	t := time.Now().Add(s.cfg.Timeout)
	if d, ok := s.ctx.Deadline(); ok && d.Before(t) {
		t = d
	}
	s.raw.SetDeadline(t)
	if s.ctx.Err() != nil {
		s.raw.SetDeadline(time.Unix(1, 0))
	}
}

func (s *session) dial() error {
	d := net.Dialer{Timeout: s.cfg.Timeout}
	conn, err := d.DialContext(s.ctx, "tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("smtp: %w", err)
	}
	s.raw = conn
	s.setConn(conn)
	if s.cfg.TLS == TLSImplicit {
		if err := s.handshake(); err != nil {
			conn.Close()
			return err
		}
	}
	return nil
}

// handshake starts TLS over the connection.
func (s *session) handshake() error {
	cfg := s.cfg.TLSConfig
	if cfg == nil {
		cfg = &tls.Config{}
	}
	if cfg.ServerName == "" {
		cfg = cfg.Clone()
		cfg.ServerName, _, _ = net.SplitHostPort(s.cfg.Addr)
	}
	tc := tls.Client(s.conn, cfg)
	s.deadline()
	// HandshakeContext, not Handshake: on implicit TLS this runs before
	// Send has tied the connection's deadline to ctx.
	if err := tc.HandshakeContext(s.ctx); err != nil {
		s.broken = true
		return fmt.Errorf("smtp: TLS handshake: %w", err)
	}
	s.setConn(tc)
	s.tls = true
	return nil
}

func (s *session) setConn(c net.Conn) {
	s.conn = c
	s.r = bufio.NewReaderSize(c, MaxReplyLine)
	s.w = bufio.NewWriter(c)
}
