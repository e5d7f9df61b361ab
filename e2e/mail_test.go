package e2e

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	netmail "net/mail"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// mailbox is a go-smtp server on loopback, an independent peer that
// records what it accepts and refuses one recipient.
type mailbox struct {
	addr   string
	reject string
	mu     sync.Mutex
	msgs   []*netmail.Message
	rcpts  [][]string
	got    chan struct{}
}

func startMailbox(t *testing.T, reject string) *mailbox {
	t.Helper()
	mb := &mailbox{reject: reject, got: make(chan struct{}, 16)}
	srv := gosmtp.NewServer(mb)
	srv.Domain = "mx.test"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	mb.addr = ln.Addr().String()
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return mb
}

func (mb *mailbox) NewSession(*gosmtp.Conn) (gosmtp.Session, error) {
	return &mailboxSession{mb: mb}, nil
}

// next waits for the next message.
func (mb *mailbox) next(t *testing.T, within time.Duration) (*netmail.Message, []string) {
	t.Helper()
	select {
	case <-mb.got:
	case <-time.After(within):
		t.Fatalf("no mail within %v", within)
	}
	mb.mu.Lock()
	defer mb.mu.Unlock()
	return mb.msgs[len(mb.msgs)-1], mb.rcpts[len(mb.rcpts)-1]
}

type mailboxSession struct {
	mb    *mailbox
	rcpts []string
}

func (s *mailboxSession) Mail(string, *gosmtp.MailOptions) error { return nil }
func (s *mailboxSession) Reset()                                 { s.rcpts = nil }
func (s *mailboxSession) Logout() error                          { return nil }

func (s *mailboxSession) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	if to == s.mb.reject {
		return &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	}
	s.rcpts = append(s.rcpts, to)
	return nil
}

func (s *mailboxSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	msg, err := netmail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		return err
	}
	s.mb.mu.Lock()
	s.mb.msgs = append(s.mb.msgs, msg)
	s.mb.rcpts = append(s.mb.rcpts, s.rcpts)
	s.mb.mu.Unlock()
	s.mb.got <- struct{}{}
	return nil
}

// mailTable is a [mail] table sending to mb in clear, as to a local relay.
func mailTable(mb *mailbox, extra string) string {
	host, port, _ := net.SplitHostPort(mb.addr)
	return fmt.Sprintf(`
[mail]
server = %q
port = %s
tls = "none"
from = "wasmhttpd <ops@example.org>"
to = ["oncall@example.org"]
timeout = "5s"
%s`, host, port, extra)
}

// runMailCommand runs `wasmhttpd mail` with config written to a scratch
// directory, as runCommand does.
func runMailCommand(t *testing.T, config, stdin string, args ...string) (int, string, string) {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(dir, "www"), 0o755))
	path := filepath.Join(dir, "config.toml")
	require.NoError(t, os.WriteFile(path, []byte(config), 0o644))
	return runCommand(t, stdin, append([]string{"mail", "-config", path}, args...)...)
}

func TestMailSubcommand(t *testing.T) {
	mb := startMailbox(t, "")
	dir := t.TempDir()
	report := filepath.Join(dir, "report.pdf")
	blob := make([]byte, 5000)
	for i := range blob {
		blob[i] = byte(i * 7)
	}
	require.NoError(t, os.WriteFile(report, blob, 0o644))

	code, stdout, stderr := runMailCommand(t, mailTable(mb, ""), "Bonjour,\n.the cache is full\n",
		"-to", "a@example.org, Zoë <z@example.org>", "-subject", "Résumé du jour", "-attach", report)
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, "sent to a@example.org, z@example.org\n", stdout)

	msg, rcpts := mb.next(t, 10*time.Second)
	assert.Equal(t, []string{"a@example.org", "z@example.org"}, rcpts)
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	require.NoError(t, err)
	assert.Equal(t, "Résumé du jour", subject)
	assert.Equal(t, `"wasmhttpd" <ops@example.org>`, msg.Header.Get("From"))
	_, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	require.NoError(t, err)
	mr := multipart.NewReader(msg.Body, params["boundary"])
	text, err := mr.NextPart()
	require.NoError(t, err)
	body, err := io.ReadAll(text)
	require.NoError(t, err)
	assert.Equal(t, "Bonjour,\r\n.the cache is full\r\n", string(body), "dot-stuffing undone by the server")
	att, err := mr.NextPart()
	require.NoError(t, err)
	assert.Equal(t, "report.pdf", att.FileName())
	assert.Equal(t, "application/pdf", att.Header.Get("Content-Type")[:len("application/pdf")])
	got, err := io.ReadAll(base64.NewDecoder(base64.StdEncoding, att))
	require.NoError(t, err)
	assert.Equal(t, blob, got, "the attachment arrives byte for byte")
}

func TestMailSubcommandDefaultsAndBody(t *testing.T) {
	mb := startMailbox(t, "")
	code, _, stderr := runMailCommand(t, mailTable(mb, ""), "ignored", "-subject", "hi", "-body", "from the flag")
	require.Equal(t, 0, code, stderr)
	msg, rcpts := mb.next(t, 10*time.Second)
	assert.Equal(t, []string{"oncall@example.org"}, rcpts, "mail.to is the default")
	body, err := io.ReadAll(msg.Body)
	require.NoError(t, err)
	assert.Equal(t, "from the flag\r\n", string(body))
}

func TestMailSubcommandErrors(t *testing.T) {
	mb := startMailbox(t, "nobody@example.org")
	tests := []struct {
		name   string
		config string
		args   []string
		code   int
		stderr string
	}{
		{"refused recipient", mailTable(mb, ""), []string{"-to", "nobody@example.org", "-subject", "x"}, 1,
			"wasmhttpd mail: smtp: RCPT TO:<nobody@example.org>: 550 5.1.1 no such user"},
		{"no subject", mailTable(mb, ""), nil, 2, "-subject is required"},
		{"header injection", mailTable(mb, ""), []string{"-subject", "x", "-to", "a@example.org\r\nBcc: v@example.org"}, 2, "line break"},
		{"no server", "", []string{"-subject", "x"}, 2, "mail.server: not set"},
		{"password in the file", mailTable(mb, "password = \"x\"\n"), []string{"-subject", "x"}, 2, "mail.password: a password never goes in the file"},
		{"password variable missing", mailTable(mb, "username = \"u\"\npassword_env = \"WASMHTTPD_TEST_NO_SUCH_VAR\"\n"),
			[]string{"-subject", "x"}, 2, "mail.password_env: the environment variable WASMHTTPD_TEST_NO_SUCH_VAR is not set"},
		{"missing attachment", mailTable(mb, ""), []string{"-subject", "x", "-attach", "/nonexistent/file"}, 2, "-attach: mail: attachment:"},
		{"nothing listening", mailTable(&mailbox{addr: "127.0.0.1:1"}, ""), []string{"-subject", "x"}, 1, "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runMailCommand(t, tt.config, "body", tt.args...)
			assert.Equal(t, tt.code, code, stderr)
			assert.Contains(t, stderr, tt.stderr)
		})
	}
}

// TestMailAlertOnRejectedModule runs the server with alerts on and writes
// a broken module over a running policy: the rejection arrives as a mail.
func TestMailAlertOnRejectedModule(t *testing.T) {
	mb := startMailbox(t, "")
	dir := t.TempDir()
	live := filepath.Join(dir, "redirects.wasm")
	module, err := os.ReadFile("../policies/redirects.wasm")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(live, module, 0o644))
	inst := startServer(t, withOriginPolicies(defaultConfig(fmt.Sprintf(`
[policies.redirects]
wasm = %q
`, live)), "redirects")+mailTable(mb, "[mail.alerts]\nenabled = true\nsubject_prefix = \"[e2e] \"\n"))

	require.NoError(t, os.WriteFile(live+".tmp", []byte("\x00asm\x01\x00\x00\x00garbage"), 0o644))
	require.NoError(t, os.Rename(live+".tmp", live))

	msg, rcpts := mb.next(t, 20*time.Second)
	assert.Equal(t, []string{"oncall@example.org"}, rcpts)
	assert.Equal(t, "[e2e] policy redirects: new module rejected, the old one still serves", msg.Header.Get("Subject"))
	body, err := io.ReadAll(msg.Body)
	require.NoError(t, err)
	assert.Contains(t, string(body), "policy redirects: new module rejected")
	assert.Eventually(t, func() bool { return strings.Contains(inst.stderr.String(), `msg="alert mail sent"`) },
		10*time.Second, 10*time.Millisecond, "the mail is logged:\n%s", inst.stderr.String())
}
