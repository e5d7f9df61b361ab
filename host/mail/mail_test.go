package mail

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	netmail "net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// withSubject is message() with subject, and its header section.
func withSubject(t *testing.T, subject string) (*Message, []byte) {
	t.Helper()
	m := message()
	m.Subject = subject
	data, err := m.Bytes()
	require.NoError(t, err)
	head, _, _ := bytes.Cut(data, []byte("\r\n\r\n"))
	return m, head
}

func message() *Message {
	return &Message{
		From:    Address{Name: "wasmhttpd", Addr: "ops@example.org"},
		To:      []Address{{Addr: "a@example.com"}, {Name: "Zoë Bäcker", Addr: "z@example.com"}},
		Subject: "hello",
		Text:    "hi there\n",
	}
}

// parse reads composed bytes back with the standard library, an
// independent reader.
func parse(t *testing.T, m *Message) *netmail.Message {
	t.Helper()
	data, err := m.Bytes()
	require.NoError(t, err)
	for line := range bytes.Lines(data) {
		require.True(t, bytes.HasSuffix(line, []byte("\r\n")), "every line ends in CRLF: %q", line)
		require.LessOrEqual(t, len(line), maxLine+2, "line too long: %q", line)
		for _, c := range line {
			require.Less(t, c, byte(0x80), "8-bit byte in %q", line)
		}
	}
	msg, err := netmail.ReadMessage(bytes.NewReader(data))
	require.NoError(t, err)
	return msg
}

// decodeBody undoes a part's Content-Transfer-Encoding.
func decodeBody(t *testing.T, cte string, r io.Reader) []byte {
	t.Helper()
	switch cte {
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, r)
	case "quoted-printable":
		r = quotedprintable.NewReader(r)
	default:
		require.Equal(t, "7bit", cte)
	}
	b, err := io.ReadAll(r)
	require.NoError(t, err)
	return b
}

func TestHeaders(t *testing.T) {
	m := message()
	m.Date = time.Date(2026, 11, 29, 12, 0, 0, 0, time.FixedZone("", 3600))
	msg := parse(t, m)
	h := msg.Header
	assert.Equal(t, "Sun, 29 Nov 2026 12:00:00 +0100", h.Get("Date"))
	date, err := h.Date()
	require.NoError(t, err)
	assert.True(t, date.Equal(m.Date))
	from, err := h.AddressList("From")
	require.NoError(t, err)
	assert.Equal(t, []*netmail.Address{{Name: "wasmhttpd", Address: "ops@example.org"}}, from)
	to, err := h.AddressList("To")
	require.NoError(t, err)
	assert.Equal(t, []*netmail.Address{{Address: "a@example.com"}, {Name: "Zoë Bäcker", Address: "z@example.com"}}, to)
	assert.Equal(t, "1.0", h.Get("MIME-Version"))
	assert.Regexp(t, `^<[0-9a-f]{32}@example\.org>$`, h.Get("Message-ID"))
	assert.NotEqual(t, h.Get("Message-ID"), parse(t, m).Header.Get("Message-ID"), "each message gets its own id")
	assert.Equal(t, "text/plain; charset=utf-8", h.Get("Content-Type"))
	assert.Equal(t, []string{"a@example.com", "z@example.com"}, m.Recipients())

	m.MessageID = "fixed@example.org"
	assert.Equal(t, "<fixed@example.org>", parse(t, m).Header.Get("Message-ID"))
}

func TestSubjectRoundTrip(t *testing.T) {
	dec := new(mime.WordDecoder)
	for _, subject := range []string{
		"plain ASCII",
		"Grüße aus Köln: Cache voll",
		"日本語の件名、かなり長いものでも折り返されて正しく戻ること、確かめる。日本語の件名、かなり長いもの",
		strings.Repeat("long ascii subject words ", 10),
		"=?utf-8?q?looks_encoded?=",
	} {
		m, head := withSubject(t, subject)
		for line := range bytes.Lines(head) {
			assert.LessOrEqual(t, len(line), 78+2, "header line too long: %q", line)
		}
		got, err := dec.DecodeHeader(parse(t, m).Header.Get("Subject"))
		require.NoError(t, err)
		if strings.HasPrefix(subject, "=?") {
			// A literal that looks like an encoded word reads as one:
			// RFC 2047's own ambiguity, harmless here.
			continue
		}
		assert.Equal(t, strings.TrimSpace(subject), got)
	}
}

func TestBodyEncodings(t *testing.T) {
	tests := []struct {
		name, text, cte string
	}{
		{"ascii", "hello\n.dot line\nbye", "7bit"},
		{"latin", "Grüße aus Köln: the cache is full again.\n", "quoted-printable"},
		{"cjk", "日本語のテキストです。\nもう一行。\n", "base64"},
		{"long ascii line", strings.Repeat("x", 1200) + "\n", "quoted-printable"},
		{"empty", "", "7bit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := message()
			m.Text = tt.text
			msg := parse(t, m)
			cte := msg.Header.Get("Content-Transfer-Encoding")
			assert.Equal(t, tt.cte, cte)
			got := string(decodeBody(t, cte, msg.Body))
			if cte != "quoted-printable" { // whose reader gives LF
				assert.NotContains(t, strings.ReplaceAll(got, "\r\n", ""), "\n", "line ends are CRLF")
			}
			want := tt.text
			if want != "" && !strings.HasSuffix(want, "\n") {
				want += "\n"
			}
			assert.Equal(t, want, strings.ReplaceAll(got, "\r\n", "\n"))
		})
	}
}

func TestAttachmentsByteForByte(t *testing.T) {
	bin := make([]byte, 100_003)
	rand.Read(bin)
	dir := t.TempDir()
	path := filepath.Join(dir, "data.bin")
	require.NoError(t, os.WriteFile(path, bin, 0o644))
	fromFile, err := ReadAttachment(path)
	require.NoError(t, err)

	m := message()
	m.Text = "see attached\n"
	m.Attachments = []Attachment{
		fromFile,
		{Name: "report.pdf", Data: []byte("%PDF-1.4 fake")},
		{Name: "notes.txt", Data: []byte("line 1\r\nline 2\n")},
		{Name: "résumé 2026.unknownext", Data: []byte{0, 1, 2, 0xff}},
		{Name: "typed", ContentType: "image/png", Data: []byte("\x89PNG")},
		{Name: "empty.bin", Data: nil},
	}
	msg := parse(t, m)
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	require.NoError(t, err)
	require.Equal(t, "multipart/mixed", mt)
	mr := multipart.NewReader(msg.Body, params["boundary"])

	text, err := mr.NextPart()
	require.NoError(t, err)
	assert.Equal(t, "text/plain; charset=utf-8", text.Header.Get("Content-Type"))
	assert.Equal(t, "see attached\r\n", string(decodeBody(t, text.Header.Get("Content-Transfer-Encoding"), text)))

	wantTypes := []string{"application/octet-stream", "application/pdf", "text/plain", "application/octet-stream", "image/png", "application/octet-stream"}
	for i, a := range m.Attachments {
		part, err := mr.NextPart()
		require.NoError(t, err)
		// FileName decodes RFC 2231 itself.
		assert.Equal(t, a.Name, part.FileName())
		ct, ctParams, err := mime.ParseMediaType(part.Header.Get("Content-Type"))
		require.NoError(t, err)
		assert.Equal(t, wantTypes[i], ct, a.Name)
		name, err := new(mime.WordDecoder).DecodeHeader(ctParams["name"])
		require.NoError(t, err)
		assert.Equal(t, a.Name, name)
		raw, err := io.ReadAll(part)
		require.NoError(t, err)
		for line := range bytes.Lines(raw) {
			assert.LessOrEqual(t, len(bytes.TrimRight(line, "\r\n")), 76)
		}
		assert.Equal(t, "base64", part.Header.Get("Content-Transfer-Encoding"))
		got := decodeBody(t, "base64", bytes.NewReader(raw))
		assert.True(t, bytes.Equal(a.Data, got), "attachment %s differs", a.Name)
	}
	_, err = mr.NextPart()
	assert.Equal(t, io.EOF, err)

	_, err = ReadAttachment(filepath.Join(dir, "missing"))
	assert.ErrorContains(t, err, "mail: attachment:")
}

func TestHeaderInjectionRefused(t *testing.T) {
	tests := map[string]func(m *Message){
		"subject LF":        func(m *Message) { m.Subject = "hi\nBcc: victim@example.com" },
		"subject CR":        func(m *Message) { m.Subject = "hi\rBcc: victim@example.com" },
		"display name":      func(m *Message) { m.From.Name = "x\r\nBcc: v@example.com" },
		"recipient address": func(m *Message) { m.To[0].Addr = "a@example.com\r\nBcc: v@example.com" },
		"attachment name":   func(m *Message) { m.Attachments = []Attachment{{Name: "a\r\nX-Evil: 1"}} },
		"attachment type":   func(m *Message) { m.Attachments = []Attachment{{Name: "a", ContentType: "text/plain\r\nX: 1"}} },
		"message id":        func(m *Message) { m.MessageID = "a@b>\r\nX: <c" },
	}
	for name, spoil := range tests {
		m := message()
		spoil(m)
		_, err := m.Bytes()
		require.Error(t, err, name)
		assert.Regexp(t, `line break|address`, err.Error(), name)
	}
	_, err := ParseAddress("a@example.com\r\nBcc: v@example.com")
	assert.ErrorContains(t, err, "line break")
	_, err = ParseAddressList("a@example.com,\nb@example.com")
	assert.ErrorContains(t, err, "line break")
}

func TestRefusals(t *testing.T) {
	m := message()
	m.To = nil
	_, err := m.Bytes()
	assert.ErrorContains(t, err, "no recipients")

	m = message()
	m.Text = "\xff\xfe"
	_, err = m.Bytes()
	assert.ErrorContains(t, err, "not valid UTF-8")

	m = message()
	m.From.Addr = "nobody"
	_, err = m.Bytes()
	assert.ErrorContains(t, err, "mail: From: smtp: address")

	m = message()
	m.Attachments = []Attachment{{Data: []byte("x")}}
	_, err = m.Bytes()
	assert.ErrorContains(t, err, "no file name")
}

func TestParseAddresses(t *testing.T) {
	a, err := ParseAddress("Zoë <z@example.com>")
	require.NoError(t, err)
	assert.Equal(t, Address{Name: "Zoë", Addr: "z@example.com"}, a)
	list, err := ParseAddressList("a@example.com, B <b@example.com>")
	require.NoError(t, err)
	assert.Equal(t, []Address{{Addr: "a@example.com"}, {Name: "B", Addr: "b@example.com"}}, list)
	_, err = ParseAddress("not an address")
	assert.ErrorContains(t, err, `mail: address "not an address"`)
	_, err = ParseAddressList("a@example.com, nope")
	assert.Error(t, err)
}

// TestParseAddressRefusesWhatCannotBeSent: net/mail accepts these, the
// SMTP envelope does not, so they are refused when read.
func TestParseAddressRefusesWhatCannotBeSent(t *testing.T) {
	for _, s := range []string{
		"zoë@example.com",   // RFC 6532 UTF-8 local part
		"Z <z@exämple.com>", // non-ASCII domain, not in A-labels
		`"a b"@example.com`, // a quoted local part with a space
		`"<x>"@example.com`, // angle brackets in a quoted local part
	} {
		_, err := ParseAddress(s)
		assert.ErrorContains(t, err, "mail: smtp: address", s)
		_, err = ParseAddressList("ok@example.com, " + s)
		assert.ErrorContains(t, err, "mail: smtp: address", s)
	}
}

// TestParseAddressLocalPartNeedingQuotes: net/mail unquotes a quoted
// local part, and the envelope carries the address as it is, so one that
// needs its quotes (RFC 5321 4.1.2) would go out as another address or
// none: refused. One that does not is read unquoted.
func TestParseAddressLocalPartNeedingQuotes(t *testing.T) {
	for _, s := range []string{
		`"a,b"@example.com`,
		`"a\"b"@example.com`,
		`".a"@example.com`,
		`"a..b"@example.com`,
		`Name <"a(b)"@example.com>`,
	} {
		_, err := ParseAddress(s)
		assert.ErrorContains(t, err, "needs quotes", s)
		_, err = ParseAddressList("ok@example.com, " + s)
		assert.ErrorContains(t, err, "needs quotes", s)
	}
	a, err := ParseAddress(`"o'brien.x+y"@example.com`)
	require.NoError(t, err)
	assert.Equal(t, "o'brien.x+y@example.com", a.Addr)
}

func TestWriteBase64(t *testing.T) {
	for _, n := range []int{0, 1, 56, 57, 58, 114, 1000, 64 * 57, 64*57 + 1, 100_000} {
		data := bytes.Repeat([]byte{0xa5}, n)
		var b bytes.Buffer
		writeBase64(&b, data)
		enc := b.Bytes()
		lines := strings.Split(strings.TrimSuffix(string(enc), "\r\n"), "\r\n")
		for i, l := range lines {
			if i < len(lines)-1 {
				assert.Len(t, l, 76, "n=%d", n)
			}
		}
		got, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(string(enc), "\r\n", ""))
		require.NoError(t, err)
		assert.Equal(t, data, got, "n=%d", n)
	}
}

func TestControlCharactersAreEncoded(t *testing.T) {
	// RFC 5322 allows only printable ASCII and white space in a header's
	// text, and RFC 2045 no NUL in 7bit data: a control character that
	// came in text must go out encoded, and come back decoded.
	m := message()
	m.Subject = "bell\a and escape\x1b[1m"
	m.Text = "a NUL\x00 here\n"
	m.Attachments = []Attachment{{Name: "odd\x7fname.bin", Data: []byte("x")}}
	data, err := m.Bytes()
	require.NoError(t, err)
	for line := range bytes.Lines(data) {
		for _, c := range bytes.TrimRight(line, "\r\n") {
			require.True(t, c >= ' ' && c < 0x7f || c == '\t', "control byte %q in %q", c, line)
		}
	}

	msg := parse(t, m)
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	require.NoError(t, err)
	assert.Equal(t, m.Subject, subject)
	_, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	require.NoError(t, err)
	mr := multipart.NewReader(msg.Body, params["boundary"])
	text, err := mr.NextRawPart() // NextPart would hide quoted-printable
	require.NoError(t, err)
	cte := text.Header.Get("Content-Transfer-Encoding")
	assert.Contains(t, []string{"quoted-printable", "base64"}, cte)
	assert.Equal(t, m.Text, strings.ReplaceAll(string(decodeBody(t, cte, text)), "\r\n", "\n"))
	att, err := mr.NextPart()
	require.NoError(t, err)
	assert.Equal(t, m.Attachments[0].Name, att.FileName())
	_, ctParams, err := mime.ParseMediaType(att.Header.Get("Content-Type"))
	require.NoError(t, err)
	name, err := new(mime.WordDecoder).DecodeHeader(ctParams["name"])
	require.NoError(t, err)
	assert.Equal(t, m.Attachments[0].Name, name)
}

func TestFoldMakesNoBlankLine(t *testing.T) {
	// RFC 5322 3.2.2: folding must not leave a line of white space only,
	// which runs of spaces at a fold would.
	for _, subject := range []string{"x" + strings.Repeat(" ", 100), strings.Repeat("a ", 30) + strings.Repeat(" ", 90) + "b"} {
		m, head := withSubject(t, subject)
		for line := range bytes.Lines(head) {
			assert.NotEmpty(t, bytes.TrimSpace(line), "a blank header line in %q", head)
		}
		// net/textproto collapses the white space around a fold.
		got := parse(t, m).Header.Get("Subject")
		assert.Equal(t, strings.Fields(subject), strings.Fields(got))
	}
}
