// Package mail composes Internet messages (RFC 5322) in MIME (RFC 2045-
// 2049): a UTF-8 text body and any number of attachments, ready for
// smtp.Send.
//
// RATIONALE
//
//   - The output is 7-bit clean whatever the input, so that no server's
//     8BITMIME support matters: the body is plain 7bit when it is ASCII
//     with lines a server accepts, quoted-printable when it is mostly
//     ASCII (accented Latin text stays readable and small), base64 when
//     it is not (CJK text, where quoted-printable would triple it).
//     Attachments are always base64.
//   - Header injection is impossible by construction: every value that
//     reaches a header (subject, display names, addresses, file names)
//     is refused if it holds a CR or LF, before anything is written, and
//     non-ASCII text is carried in RFC 2047 encoded words (RFC 2231
//     parameters for file names), so no raw byte of it reaches the
//     header.
//   - The multipart boundary is random (mime/multipart), and every part
//     is base64 or quoted-printable except an ASCII text part; the
//     chance that a text contains the boundary line is 2^-240.
package mail

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	netmail "net/mail"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"wasmhttpd/host/smtp"
)

// Address is a mailbox: an optional display name and an address.
type Address struct {
	Name string // may be non-ASCII
	Addr string // local@domain, ASCII
}

// ParseAddress reads "Name <local@domain>" or a bare address. It accepts
// exactly what a Message can be sent with: no line break anywhere, and an
// address the SMTP envelope takes (ASCII, see smtp.CheckAddress), so that
// a bad address is refused where it is read, not when the mail goes out.
func ParseAddress(s string) (Address, error) {
	if err := noLineBreak("address", s); err != nil {
		return Address{}, err
	}
	a, err := netmail.ParseAddress(s)
	if err != nil {
		return Address{}, fmt.Errorf("mail: address %q: %w", s, err)
	}
	return fromNet(a)
}

// ParseAddressList reads addresses separated by commas, each held to
// ParseAddress's rules.
func ParseAddressList(s string) ([]Address, error) {
	if err := noLineBreak("address list", s); err != nil {
		return nil, err
	}
	list, err := netmail.ParseAddressList(s)
	if err != nil {
		return nil, fmt.Errorf("mail: address list %q: %w", s, err)
	}
	out := make([]Address, len(list))
	for i, a := range list {
		if out[i], err = fromNet(a); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// fromNet converts what net/mail parsed, refusing the addresses it allows
// but the SMTP envelope does not: non-ASCII (RFC 6532) and quoted local
// parts with spaces. net/mail unquotes a quoted local part and the
// envelope carries Addr as it is, so a local part that needs its quotes
// (`"a,b"`) is refused too: unquoted it would be another address or none.
func fromNet(a *netmail.Address) (Address, error) {
	if err := smtp.CheckAddress(a.Address); err != nil {
		return Address{}, fmt.Errorf("mail: %w", err)
	}
	local := a.Address[:strings.LastIndexByte(a.Address, '@')]
	if !dotAtom(local) {
		return Address{}, fmt.Errorf("mail: address %q: the local part %q needs quotes, which the SMTP envelope does not carry", a.Address, local)
	}
	return Address{Name: a.Name, Addr: a.Address}, nil
}

// dotAtom reports whether s is a dot-atom (RFC 5322 3.2.3): atext runs
// joined by single dots. CheckAddress has already held s to printable
// ASCII.
func dotAtom(s string) bool {
	for atom := range strings.SplitSeq(s, ".") {
		if atom == "" || strings.ContainsAny(atom, `"(),:;<>@[\] `) {
			return false
		}
	}
	return true
}

// String formats the address for a header, the name encoded when it is
// not ASCII.
func (a Address) String() string {
	return (&netmail.Address{Name: a.Name, Address: a.Addr}).String()
}

func (a Address) check(field string) error {
	if err := noLineBreak(field+" display name", a.Name); err != nil {
		return err
	}
	if err := smtp.CheckAddress(a.Addr); err != nil {
		return fmt.Errorf("mail: %s: %w", field, err)
	}
	return nil
}

// Attachment is a file carried by a message.
type Attachment struct {
	Name string // the file name offered to the recipient; may be non-ASCII
	// ContentType is the media type; "" takes it from the extension of
	// Name, or application/octet-stream.
	ContentType string
	Data        []byte
}

// ReadAttachment reads the file at path into an attachment named after
// its base name.
func ReadAttachment(path string) (Attachment, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Attachment{}, fmt.Errorf("mail: attachment: %w", err)
	}
	return Attachment{Name: filepath.Base(path), Data: data}, nil
}

// Message is one message to compose.
type Message struct {
	From        Address
	To          []Address
	Subject     string // may be non-ASCII
	Text        string // the body, UTF-8
	Attachments []Attachment
	Date        time.Time // zero means now
	// MessageID is the Message-ID without angle brackets; "" generates
	// a random one at the From address's domain.
	MessageID string
}

// Recipients are the envelope recipients: the To addresses.
func (m *Message) Recipients() []string {
	out := make([]string, len(m.To))
	for i, a := range m.To {
		out[i] = a.Addr
	}
	return out
}

// Bytes composes the message with CRLF line ends. It refuses a header
// value that holds a line break, an invalid address, and a body that is
// not UTF-8.
func (m *Message) Bytes() ([]byte, error) {
	if err := m.check(); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	size := 1024 + len(m.Text)*2
	for _, a := range m.Attachments {
		size += 512 + len(a.Data)/57*78 + 78
	}
	b.Grow(size)
	date := m.Date
	if date.IsZero() {
		date = time.Now()
	}
	id := m.MessageID
	if id == "" {
		id = newMessageID(m.From.Addr)
	}
	to := make([]string, len(m.To))
	for i, a := range m.To {
		to[i] = a.String()
	}
	writeHeader(&b, "Date", date.Format(time.RFC1123Z))
	writeHeader(&b, "From", m.From.String())
	writeHeader(&b, "To", strings.Join(to, ", "))
	writeHeader(&b, "Subject", encodeText(m.Subject))
	writeHeader(&b, "Message-ID", "<"+id+">")
	writeHeader(&b, "MIME-Version", "1.0")
	if len(m.Attachments) == 0 {
		ctype, cte, body := textPart(m.Text)
		writeHeader(&b, "Content-Type", ctype)
		writeHeader(&b, "Content-Transfer-Encoding", cte)
		b.WriteString("\r\n")
		b.Write(body)
		return b.Bytes(), nil
	}
	mw := multipart.NewWriter(&b)
	writeHeader(&b, "Content-Type", mime.FormatMediaType("multipart/mixed", map[string]string{"boundary": mw.Boundary()}))
	b.WriteString("\r\nThis is a message in MIME format.\r\n")
	ctype, cte, body := textPart(m.Text)
	part, _ := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {ctype}, "Content-Transfer-Encoding": {cte}})
	part.Write(body)
	for _, a := range m.Attachments {
		part, _ := mw.CreatePart(attachmentHeader(a))
		writeBase64(part, a.Data)
	}
	mw.Close()
	return b.Bytes(), nil
}

func (m *Message) check() error {
	if err := m.From.check("From"); err != nil {
		return err
	}
	if len(m.To) == 0 {
		return fmt.Errorf("mail: no recipients")
	}
	for _, a := range m.To {
		if err := a.check("To"); err != nil {
			return err
		}
	}
	if err := noLineBreak("Subject", m.Subject); err != nil {
		return err
	}
	if err := noLineBreak("Message-ID", m.MessageID); err != nil {
		return err
	}
	if !utf8.ValidString(m.Text) {
		return fmt.Errorf("mail: the body is not valid UTF-8")
	}
	for _, a := range m.Attachments {
		if a.Name == "" {
			return fmt.Errorf("mail: an attachment has no file name")
		}
		if err := noLineBreak("attachment name", a.Name); err != nil {
			return err
		}
		if err := noLineBreak("attachment content type", a.ContentType); err != nil {
			return err
		}
	}
	return nil
}

// noLineBreak refuses a header value with CR or LF, which would end the
// header line and let the value write headers of its own.
func noLineBreak(field, v string) error {
	if strings.ContainsAny(v, "\r\n") {
		return fmt.Errorf("mail: %s %q contains a line break (CR or LF): refused, as it could inject header fields", field, v)
	}
	return nil
}

// encodeText encodes a header text as RFC 2047 words when it is not
// printable ASCII (a control character may not stand in a header either):
// Q encoding when that stays readable, B encoding when it would not.
func encodeText(s string) string {
	if printable(s) {
		return s
	}
	if qpFriendly([]byte(s)) {
		return mime.QEncoding.Encode("utf-8", s)
	}
	return mime.BEncoding.Encode("utf-8", s)
}

// textPart encodes the body and returns its Content-Type,
// Content-Transfer-Encoding and encoded bytes.
func textPart(text string) (ctype, cte string, body []byte) {
	ctype = "text/plain; charset=utf-8"
	data := []byte(text)
	if len(data) > 0 && data[len(data)-1] != '\n' {
		data = append(data, '\n') // the last line ends like the others
	}
	switch {
	// RFC 2045 2.7: 7bit data is ASCII without NUL, in short lines.
	case isASCII(text) && !strings.ContainsRune(text, 0) && shortLines(data):
		return ctype, "7bit", crlf(data)
	case qpFriendly(data):
		var b bytes.Buffer
		qw := quotedprintable.NewWriter(&b)
		qw.Write(data)
		qw.Close()
		return ctype, "quoted-printable", b.Bytes()
	}
	// Text is encoded in its canonical form, CRLF line ends (RFC 2045
	// 6.8), as the other encodings produce them.
	var b bytes.Buffer
	writeBase64(&b, crlf(data))
	return ctype, "base64", b.Bytes()
}

func attachmentHeader(a Attachment) textproto.MIMEHeader {
	ctype := a.ContentType
	if ctype == "" {
		ctype = mime.TypeByExtension(filepath.Ext(a.Name))
	}
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	// The 2047-encoded name= is what older clients read; filename= in
	// Content-Disposition is the standard place, RFC 2231-encoded by
	// FormatMediaType when not ASCII.
	mt, params, err := mime.ParseMediaType(ctype)
	if err != nil {
		mt, params = "application/octet-stream", map[string]string{}
	}
	params["name"] = encodeText(a.Name)
	return textproto.MIMEHeader{
		"Content-Type":              {partValue("Content-Type", mime.FormatMediaType(mt, params))},
		"Content-Transfer-Encoding": {"base64"},
		"Content-Disposition":       {partValue("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": a.Name}))},
	}
}

// writeBase64 writes data in base64 lines of 76 characters (RFC 2045
// 6.8), each ending in CRLF, through a small buffer rather than an
// encoded copy of the whole.
func writeBase64(w io.Writer, data []byte) {
	const in = 76 / 4 * 3 // input bytes per line
	var buf [64 * 78]byte
	for len(data) > 0 {
		out := buf[:0]
		for len(data) > 0 && len(out) < len(buf) {
			n := min(in, len(data))
			out = append(base64.StdEncoding.AppendEncode(out, data[:n]), '\r', '\n')
			data = data[n:]
		}
		w.Write(out)
	}
}

// maxLine is the longest line a server must accept (RFC 5321 4.5.3.1.6),
// without its CRLF.
const maxLine = 998

// shortLines reports whether every line fits maxLine.
func shortLines(data []byte) bool {
	for line := range bytes.Lines(data) {
		if len(bytes.TrimRight(line, "\r\n")) > maxLine {
			return false
		}
	}
	return true
}

// crlf makes every line end CRLF; the DATA writer would too, but a
// message's bytes should be the same whoever sends them.
func crlf(data []byte) []byte {
	data = bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n"))
	return bytes.ReplaceAll(data, []byte("\n"), []byte("\r\n"))
}

// qpFriendly reports whether quoted-printable suits data: fewer than a
// third of its bytes need escaping (each costs three), so the text stays
// mostly readable and at most about a quarter larger than in base64.
func qpFriendly(data []byte) bool {
	n := 0
	for _, c := range data {
		if c >= 0x80 || c == '=' {
			n++
		}
	}
	return n*3 < len(data)
}

// printable reports whether s holds only printable ASCII and tabs, what
// a header's text may carry as it is (RFC 5322 2.2).
func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < ' ' || c >= 0x7f) && c != '\t' {
			return false
		}
	}
	return true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// newMessageID is a random left part at the sender's domain, as RFC 5322
// 3.6.4 suggests for uniqueness.
func newMessageID(from string) string {
	var r [16]byte
	rand.Read(r[:])
	_, domain, _ := strings.Cut(from, "@")
	return hex.EncodeToString(r[:]) + "@" + domain
}

// writeHeader writes one field, folded.
func writeHeader(b *bytes.Buffer, name, value string) {
	b.WriteString(name + ":" + fold(name, value) + "\r\n")
}

// fold breaks a field's value at spaces to keep lines within 78
// characters (RFC 5322 2.1.1; 76 for lines of encoded words, RFC 2047 2);
// name is the field's name, which starts the first line. It returns what
// follows the colon, starting with a space or a line break. A word
// longer than a line stays whole: every long value here is made of
// encoded words or parameters, so lines stay far below the hard limit of
// 998. A run of spaces stays whole too, a break going only before a
// word, so that no line is white space alone (RFC 5322 3.2.2).
func fold(name, value string) string {
	var b strings.Builder
	line := len(name) + 1
	for _, word := range strings.Split(value, " ") {
		if line+1+len(word) > 76 && len(word) > 0 {
			b.WriteString("\r\n")
			line = 0
		}
		b.WriteByte(' ')
		b.WriteString(word)
		line += 1 + len(word)
	}
	return b.String()
}

// partValue is fold for a part's header, which mime/multipart writes
// after "Name: ".
func partValue(name, value string) string {
	return strings.TrimPrefix(fold(name, value), " ")
}
