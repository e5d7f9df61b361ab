package smtp

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// go-smtp is the independent peer: a server written by others that the
// client must satisfy. It is imported only here, in tests.

// received is one message the test server accepted.
type received struct {
	From string
	To   []string
	Data string
	User string // who authenticated, "" for nobody
	TLS  bool   // the message came over TLS
}

// backend records what the server accepts and refuses the recipients in
// reject.
type backend struct {
	mechs  []string // AUTH mechanisms offered
	reject string   // a recipient refused with 550

	mu   sync.Mutex
	msgs []received
}

func (b *backend) NewSession(c *gosmtp.Conn) (gosmtp.Session, error) {
	_, tls := c.TLSConnectionState()
	return &peerSession{b: b, cur: received{TLS: tls}}, nil
}

func (b *backend) messages() []received {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]received(nil), b.msgs...)
}

type peerSession struct {
	b   *backend
	cur received
}

func (s *peerSession) AuthMechanisms() []string { return s.b.mechs }

func (s *peerSession) Auth(mech string) (sasl.Server, error) {
	check := func(user, pass string) error {
		if user != "alice" || pass != "s3cret" {
			return &gosmtp.SMTPError{Code: 535, EnhancedCode: gosmtp.EnhancedCode{5, 7, 8}, Message: "bad credentials"}
		}
		s.cur.User = user
		return nil
	}
	if mech == sasl.Plain {
		return sasl.NewPlainServer(func(_, user, pass string) error { return check(user, pass) }), nil
	}
	return &loginServer{check: check}, nil
}

func (s *peerSession) Mail(from string, _ *gosmtp.MailOptions) error { s.cur.From = from; return nil }

func (s *peerSession) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	if to == s.b.reject {
		return &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	}
	s.cur.To = append(s.cur.To, to)
	return nil
}

func (s *peerSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.cur.Data = string(data)
	s.b.mu.Lock()
	s.b.msgs = append(s.b.msgs, s.cur)
	s.b.mu.Unlock()
	return nil
}

func (s *peerSession) Reset()        { s.cur = received{User: s.cur.User, TLS: s.cur.TLS} }
func (s *peerSession) Logout() error { return nil }

// loginServer is the server side of AUTH LOGIN, which go-sasl lacks.
type loginServer struct {
	check func(user, pass string) error
	user  []byte
	step  int
}

func (l *loginServer) Next(resp []byte) ([]byte, bool, error) {
	l.step++
	switch l.step {
	case 1:
		if resp != nil {
			return nil, false, errors.New("unexpected initial response")
		}
		return []byte("Username:"), false, nil
	case 2:
		l.user = resp
		return []byte("Password:"), false, nil
	}
	return nil, true, l.check(string(l.user), string(resp))
}

// serverOpts shapes a test server.
type serverOpts struct {
	tls      bool // offer STARTTLS
	implicit bool // TLS from the first byte
	insecure bool // allow AUTH in clear
	mechs    []string
	reject   string
	size     int64
}

// testServer starts a go-smtp server on loopback; it stops with the test.
// It returns the address, the backend, and a client TLS config that
// trusts the server's certificate.
func testServer(t *testing.T, o serverOpts) (string, *backend, *tls.Config) {
	t.Helper()
	be := &backend{mechs: o.mechs, reject: o.reject}
	srv := gosmtp.NewServer(be)
	srv.Domain = "mx.test"
	srv.AllowInsecureAuth = o.insecure
	srv.MaxMessageBytes = o.size
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	cert, pool := testCert(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	if o.tls || o.implicit {
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	}
	if o.implicit {
		ln = tls.NewListener(ln, srv.TLSConfig)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return ln.Addr().String(), be, &tls.Config{RootCAs: pool}
}

// testCert makes a self-signed certificate for 127.0.0.1 and a pool that
// trusts it.
func testCert(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "mx.test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	leaf, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

const msg = "Subject: hi\r\n\r\nhello\r\n"

func send(cfg Config, to ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cfg.Timeout = 5 * time.Second
	return Send(ctx, cfg, "ops@example.org", to, []byte(msg))
}

func TestSendModes(t *testing.T) {
	tests := []struct {
		name string
		srv  serverOpts
		mode string
		tls  bool
	}{
		{"plain", serverOpts{}, TLSNone, false},
		{"none ignores an offered STARTTLS", serverOpts{tls: true}, TLSNone, false},
		{"opportunistic without STARTTLS", serverOpts{}, TLSOpportunistic, false},
		{"opportunistic with STARTTLS", serverOpts{tls: true}, TLSOpportunistic, true},
		{"starttls", serverOpts{tls: true}, TLSStartTLS, true},
		{"implicit TLS", serverOpts{implicit: true}, TLSImplicit, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, be, tc := testServer(t, tt.srv)
			require.NoError(t, send(Config{Addr: addr, TLS: tt.mode, TLSConfig: tc}, "a@example.com", "b@example.com"))
			msgs := be.messages()
			require.Len(t, msgs, 1)
			assert.Equal(t, "ops@example.org", msgs[0].From)
			assert.Equal(t, []string{"a@example.com", "b@example.com"}, msgs[0].To)
			assert.Equal(t, msg, msgs[0].Data)
			assert.Equal(t, tt.tls, msgs[0].TLS)
		})
	}
}

func TestStartTLSRequired(t *testing.T) {
	addr, be, tc := testServer(t, serverOpts{})
	err := send(Config{Addr: addr, TLS: TLSStartTLS, TLSConfig: tc}, "a@example.com")
	assert.ErrorContains(t, err, "does not offer STARTTLS")
	assert.Empty(t, be.messages())
}

func TestTLSVerifiesTheCertificate(t *testing.T) {
	addr, be, _ := testServer(t, serverOpts{tls: true})
	_, other := testCert(t)
	err := send(Config{Addr: addr, TLS: TLSOpportunistic, TLSConfig: &tls.Config{RootCAs: other}}, "a@example.com")
	assert.ErrorContains(t, err, "TLS handshake")
	assert.Empty(t, be.messages())
}

func TestAuth(t *testing.T) {
	for _, mech := range []string{sasl.Plain, sasl.Login} {
		t.Run(mech, func(t *testing.T) {
			addr, be, tc := testServer(t, serverOpts{tls: true, mechs: []string{mech}})
			cfg := Config{Addr: addr, TLS: TLSStartTLS, TLSConfig: tc, Username: "alice", Password: "s3cret"}
			require.NoError(t, send(cfg, "a@example.com"))
			require.Len(t, be.messages(), 1)
			assert.Equal(t, "alice", be.messages()[0].User)

			cfg.Password = "wrong"
			err := send(cfg, "a@example.com")
			var se *Error
			require.ErrorAs(t, err, &se)
			assert.Equal(t, Error{Command: "AUTH " + mech, Code: 535, Text: "5.7.8 bad credentials"}, *se)
			assert.Equal(t, "smtp: AUTH "+mech+": 535 5.7.8 bad credentials", err.Error())
			assert.NotContains(t, err.Error(), "wrong")
			assert.Len(t, be.messages(), 1)
		})
	}
}

func TestAuthPrefersPlain(t *testing.T) {
	addr, be, tc := testServer(t, serverOpts{tls: true, mechs: []string{sasl.Login, sasl.Plain}})
	cfg := Config{Addr: addr, TLS: TLSStartTLS, TLSConfig: tc, Username: "alice", Password: "wrong"}
	assert.ErrorContains(t, send(cfg, "a@example.com"), "smtp: AUTH PLAIN: 535")
	assert.Empty(t, be.messages())
}

func TestAuthRefusedInClear(t *testing.T) {
	addr, be, _ := testServer(t, serverOpts{insecure: true, mechs: []string{sasl.Plain}})
	cfg := Config{Addr: addr, TLS: TLSNone, Username: "alice", Password: "s3cret"}
	assert.ErrorContains(t, send(cfg, "a@example.com"), "refusing to send the password over an unencrypted connection")
	assert.Empty(t, be.messages())

	cfg.AllowInsecureAuth = true
	require.NoError(t, send(cfg, "a@example.com"))
	assert.Len(t, be.messages(), 1)
}

func TestAuthMechanismUnsupported(t *testing.T) {
	addr, _, tc := testServer(t, serverOpts{tls: true, mechs: []string{"CRAM-MD5"}})
	cfg := Config{Addr: addr, TLS: TLSStartTLS, TLSConfig: tc, Username: "alice", Password: "s3cret"}
	assert.ErrorContains(t, send(cfg, "a@example.com"), "smtp: AUTH: the server offers CRAM-MD5")
}

func TestRcptRejected(t *testing.T) {
	addr, be, _ := testServer(t, serverOpts{reject: "nobody@example.com"})
	err := send(Config{Addr: addr, TLS: TLSNone}, "a@example.com", "nobody@example.com")
	var se *Error
	require.ErrorAs(t, err, &se)
	assert.Equal(t, "RCPT TO:<nobody@example.com>", se.Command)
	assert.Equal(t, 550, se.Code)
	assert.False(t, se.Temporary())
	assert.Equal(t, "smtp: RCPT TO:<nobody@example.com>: 550 5.1.1 no such user", err.Error())
	assert.Empty(t, be.messages(), "a refused recipient ends the session before DATA")
}

func TestMessageTooLarge(t *testing.T) {
	addr, be, _ := testServer(t, serverOpts{size: 10})
	err := send(Config{Addr: addr, TLS: TLSNone}, "a@example.com")
	assert.ErrorContains(t, err, "the server accepts at most 10")
	assert.Empty(t, be.messages())
}

func TestDotStuffingAndLineEnds(t *testing.T) {
	addr, be, _ := testServer(t, serverOpts{})
	body := "Subject: dots\n\n.\n..two\r\n.\r\nbare\rcr\nend"
	ctx := context.Background()
	require.NoError(t, Send(ctx, Config{Addr: addr, TLS: TLSNone}, "ops@example.org", []string{"a@example.com"}, []byte(body)))
	require.Len(t, be.messages(), 1)
	assert.Equal(t, "Subject: dots\r\n\r\n.\r\n..two\r\n.\r\nbare\r\ncr\r\nend\r\n", be.messages()[0].Data)
}

func TestBadAddressesRefusedBeforeConnecting(t *testing.T) {
	for _, addr := range []string{"a@b>\r\nRCPT TO:<c@d", "nobody", "a b@c", "a@", "@b", "é@example.com", "a@b@c"} {
		err := Send(context.Background(), Config{Addr: "127.0.0.1:1"}, "ops@example.org", []string{addr}, []byte(msg))
		assert.ErrorContains(t, err, "smtp: address", addr)
	}
	assert.ErrorContains(t, Send(context.Background(), Config{Addr: "127.0.0.1:1"}, "ops@example.org", nil, nil), "no recipients")
	assert.ErrorContains(t, Send(context.Background(), Config{Addr: "127.0.0.1:1", TLS: "ssl"}, "a@b", []string{"c@d"}, nil), `TLS mode "ssl"`)
	assert.ErrorContains(t, Send(context.Background(), Config{Addr: "127.0.0.1:1", Helo: "me\r\nRSET"}, "a@b", []string{"c@d"}, nil), "not a host name")
}

func TestDefaultPort(t *testing.T) {
	assert.Equal(t, 587, DefaultPort(TLSStartTLS))
	assert.Equal(t, 465, DefaultPort(TLSImplicit))
	assert.Equal(t, 25, DefaultPort(TLSNone))
	assert.Equal(t, 25, DefaultPort(TLSOpportunistic))
}

// fakeServer answers a client with the script: for each line the client
// sends (after the greeting), the next reply. It records what it heard.
func fakeServer(t *testing.T, greeting string, replies map[string]string) (string, func() []string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	return fakeServerOn(t, ln, greeting, replies)
}

// fakeServerOn is fakeServer on ln, which may be a TLS listener.
func fakeServerOn(t *testing.T, ln net.Listener, greeting string, replies map[string]string) (string, func() []string) {
	t.Helper()
	var mu sync.Mutex
	var heard []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(conn, greeting)
		buf := make([]byte, 4096)
		var pending string
		inData := false
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			pending += string(buf[:n])
			for {
				line, rest, ok := strings.Cut(pending, "\r\n")
				if !ok {
					break
				}
				pending = rest
				mu.Lock()
				heard = append(heard, line)
				mu.Unlock()
				if inData {
					if line == "." {
						inData = false
						io.WriteString(conn, replies["."])
					}
					continue
				}
				verb, _, _ := strings.Cut(line, " ")
				if verb == "MAIL" || verb == "RCPT" {
					verb, _, _ = strings.Cut(line, ":")
				}
				reply, ok := replies[verb]
				if !ok {
					reply = "500 5.5.1 unknown command\r\n"
				}
				inData = verb == "DATA" && strings.HasPrefix(reply, "354")
				io.WriteString(conn, reply)
			}
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	return ln.Addr().String(), func() []string {
		<-done
		mu.Lock()
		defer mu.Unlock()
		return heard
	}
}

var okReplies = map[string]string{
	"HELO":      "250 mx.test\r\n",
	"MAIL FROM": "250 ok\r\n",
	"RCPT TO":   "250 ok\r\n",
	"DATA":      "354 go ahead\r\n",
	".":         "250 queued\r\n",
	"QUIT":      "221 bye\r\n",
}

func with(m map[string]string, kv ...string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

func TestHeloFallback(t *testing.T) {
	for _, code := range []string{"500", "502"} {
		addr, heard := fakeServer(t, "220 old.test ready\r\n", with(okReplies, "EHLO", code+" what?\r\n"))
		require.NoError(t, send(Config{Addr: addr, TLS: TLSNone, Helo: "me.test"}, "a@example.com"))
		h := heard()
		require.GreaterOrEqual(t, len(h), 2)
		assert.Equal(t, []string{"EHLO me.test", "HELO me.test"}, h[:2])
		assert.Contains(t, h, "QUIT")
	}
}

func TestHeloFallbackOnImplicitTLS(t *testing.T) {
	// On implicit TLS the first EHLO is the only one: a server that does
	// not know it gets HELO, as in clear.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	cert, pool := testCert(t)
	ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}})
	addr, heard := fakeServerOn(t, ln, "220 old.test ready\r\n", with(okReplies, "EHLO", "502 what?\r\n"))
	require.NoError(t, send(Config{Addr: addr, TLS: TLSImplicit, TLSConfig: &tls.Config{RootCAs: pool}, Helo: "me.test"}, "a@example.com"))
	assert.Equal(t, []string{"EHLO me.test", "HELO me.test"}, heard()[:2])
}

func TestHeloFallbackStillRequiresTLS(t *testing.T) {
	addr, _ := fakeServer(t, "220 old.test\r\n", with(okReplies, "EHLO", "502 no\r\n"))
	assert.ErrorContains(t, send(Config{Addr: addr, TLS: TLSStartTLS}, "a@example.com"), "does not offer STARTTLS")
}

func TestMultiLineReplies(t *testing.T) {
	addr, heard := fakeServer(t, "220-mx.test welcome\r\n220-second line\r\n220 ready\r\n", with(okReplies,
		"EHLO", "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 100000\r\n250 8BITMIME\r\n",
		"RCPT TO", "550-5.1.1 mailbox\r\n550-unavailable:\r\n550 5.1.1 see https://example.com/x\r\n"))
	err := send(Config{Addr: addr, TLS: TLSNone, Helo: "me.test"}, "a@example.com")
	assert.EqualError(t, err, "smtp: RCPT TO:<a@example.com>: 550 5.1.1 mailbox unavailable: 5.1.1 see https://example.com/x")
	assert.Equal(t, []string{"EHLO me.test", "MAIL FROM:<ops@example.org>", "RCPT TO:<a@example.com>", "QUIT"}, heard())
}

func TestUnexpectedReplies(t *testing.T) {
	tests := []struct {
		name     string
		greeting string
		replies  map[string]string
		want     string
	}{
		{"greeting refused", "554 go away\r\n", okReplies, "smtp: greeting: 554 go away"},
		{"EHLO refused", "220 x\r\n", with(okReplies, "EHLO", "421 busy\r\n"), "smtp: EHLO me.test: 421 busy"},
		{"MAIL refused", "220 x\r\n", with(okReplies, "EHLO", "250 x\r\n", "MAIL FROM", "451 4.3.0 try later\r\n"),
			"smtp: MAIL FROM:<ops@example.org>: 451 4.3.0 try later"},
		{"DATA refused", "220 x\r\n", with(okReplies, "EHLO", "250 x\r\n", "DATA", "554 no\r\n"), "smtp: DATA: 554 no"},
		{"message refused", "220 x\r\n", with(okReplies, "EHLO", "250 x\r\n", ".", "552 too spammy\r\n"), "smtp: message data: 552 too spammy"},
		{"malformed reply", "220 x\r\n", with(okReplies, "EHLO", "25O oops\r\n"), "smtp: EHLO me.test: malformed reply"},
		{"mixed codes", "220-x\r\n250 y\r\n", okReplies, "smtp: greeting: malformed reply"},
		{"STARTTLS refused", "220 x\r\n", with(okReplies, "EHLO", "250-x\r\n250 STARTTLS\r\n", "STARTTLS", "454 not now\r\n"),
			"smtp: STARTTLS: 454 not now"},
		{"data before handshake", "220 x\r\n", with(okReplies, "EHLO", "250-x\r\n250 STARTTLS\r\n", "STARTTLS", "220 go\r\n250 injected\r\n"),
			"sent data before the TLS handshake"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, _ := fakeServer(t, tt.greeting, tt.replies)
			assert.ErrorContains(t, send(Config{Addr: addr, TLS: TLSOpportunistic, Helo: "me.test"}, "a@example.com"), tt.want)
		})
	}
}

func TestQuitAfterARefusal(t *testing.T) {
	// RFC 5321 4.1.1.10: the client does not close the channel before
	// QUIT, even after an error reply, or its own refusal to go on; only
	// a reply it cannot read leaves nothing to say.
	tests := []struct {
		name     string
		greeting string
		replies  map[string]string
		cfg      Config
		last     string
	}{
		{"greeting refused", "554 go away\r\n", okReplies, Config{}, "QUIT"},
		{"MAIL refused", "220 x\r\n", with(okReplies, "EHLO", "250 x\r\n", "MAIL FROM", "451 later\r\n"), Config{}, "QUIT"},
		{"message refused", "220 x\r\n", with(okReplies, "EHLO", "250 x\r\n", ".", "552 no\r\n"), Config{}, "QUIT"},
		{"no STARTTLS", "220 x\r\n", with(okReplies, "EHLO", "250 x\r\n"), Config{TLS: TLSStartTLS}, "QUIT"},
		{"no AUTH", "220 x\r\n", with(okReplies, "EHLO", "250 x\r\n"), Config{Username: "u", AllowInsecureAuth: true}, "QUIT"},
		{"malformed reply", "220 x\r\n", with(okReplies, "EHLO", "25O oops\r\n"), Config{}, "EHLO me.test"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, heard := fakeServer(t, tt.greeting, tt.replies)
			cfg := tt.cfg
			cfg.Addr, cfg.Helo = addr, "me.test"
			if cfg.TLS == "" {
				cfg.TLS = TLSNone
			}
			require.Error(t, send(cfg, "a@example.com"))
			h := heard()
			require.NotEmpty(t, h)
			assert.Equal(t, tt.last, h[len(h)-1], "%q", h)
		})
	}
}

func TestTimeoutAndCancel(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c) // says nothing
		}
	}()
	defer func() {
		ln.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	}()
	err = Send(context.Background(), Config{Addr: ln.Addr().String(), Timeout: 50 * time.Millisecond}, "a@b", []string{"c@d"}, nil)
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	assert.True(t, ne.Timeout())
	assert.ErrorContains(t, err, "smtp: greeting:")

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	err = Send(ctx, Config{Addr: ln.Addr().String(), Timeout: time.Minute}, "a@b", []string{"c@d"}, nil)
	assert.ErrorIs(t, err, context.Canceled)
}

func TestCancelDuringImplicitTLSHandshake(t *testing.T) {
	// A server that takes the ClientHello and never answers it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	result := make(chan error, 1)
	go func() {
		result <- Send(ctx, Config{Addr: ln.Addr().String(), TLS: TLSImplicit, Timeout: time.Hour}, "a@b", []string{"c@d"}, nil)
	}()
	conn, err := ln.Accept()
	require.NoError(t, err)
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = conn.Read(make([]byte, 1))
	require.NoError(t, err, "the ClientHello: the client now waits in the handshake")

	cancel()
	select {
	case err := <-result:
		assert.ErrorIs(t, err, context.Canceled)
		assert.ErrorContains(t, err, "smtp: TLS handshake")
	case <-time.After(10 * time.Second):
		t.Fatal("Send still waits in the TLS handshake after its context was cancelled")
	}
}

func TestCheckAddress(t *testing.T) {
	for _, tc := range []struct {
		addr, err string
	}{
		{"ops@example.test", ""},
		{`"a.b"@example.test`, ""},
		{"ops", "is not local@domain"},
		{"@example.test", "is not local@domain"},
		{"a@b@example.test", "is not local@domain"},
		{"zoë@example.test", `contains 'ë'`},
		{"a b@example.test", `contains ' '`},
		{"<ops@example.test>", `contains '<'`},
		{"ops@example.test\r\nRCPT TO:x", `contains '\r'`},
	} {
		err := CheckAddress(tc.addr)
		if tc.err == "" {
			assert.NoError(t, err, tc.addr)
			continue
		}
		assert.ErrorContains(t, err, tc.err, tc.addr)
	}
}
