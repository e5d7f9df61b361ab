package smtp

import (
	"bufio"
	"errors"
	"fmt"
	"strings"
)

// Bounds on what a server may send in one reply. RFC 5321 4.5.3.1.5 caps a
// reply line at 512 octets; servers that exceed it exist (long EHLO
// keywords, URLs in rejections), so the client allows twice that, and
// enough lines for any real EHLO list. Beyond either, the server is
// broken or hostile and the session ends rather than buffering without
// bound.
const (
	MaxReplyLine  = 1024
	MaxReplyLines = 128
)

// reply is one server reply: its three-digit code and the text of each
// line, without the code and separator.
type reply struct {
	Code  int
	Lines []string
}

// Text is the reply's text as one line, its lines joined by spaces, as an
// error message shows it.
func (r reply) Text() string { return strings.Join(r.Lines, " ") }

// errBadReply is wrapped by every reply the parser refuses.
var errBadReply = errors.New("malformed reply")

// readReply reads one reply, all the lines of a multi-line one ("250-..."
// up to "250 ..."). Lines end in CRLF; a bare LF is accepted too, as
// every widespread client does, since it cannot be misread. Every line
// must carry the same code.
func readReply(r *bufio.Reader) (reply, error) {
	var rep reply
	for {
		line, err := readLine(r)
		if err != nil {
			return reply{}, err
		}
		code, more, text, err := parseLine(line)
		if err != nil {
			return reply{}, err
		}
		if rep.Lines != nil && code != rep.Code {
			return reply{}, fmt.Errorf("%w: line %q has code %d in a reply of code %d", errBadReply, line, code, rep.Code)
		}
		rep.Code = code
		rep.Lines = append(rep.Lines, text)
		if !more {
			return rep, nil
		}
		if len(rep.Lines) == MaxReplyLines {
			return reply{}, fmt.Errorf("%w: more than %d lines", errBadReply, MaxReplyLines)
		}
	}
}

// readLine reads one line without its line end, refusing one longer than
// MaxReplyLine.
func readLine(r *bufio.Reader) (string, error) {
	var b []byte
	for {
		chunk, err := r.ReadSlice('\n')
		if len(b)+len(chunk) > MaxReplyLine {
			return "", fmt.Errorf("%w: a line longer than %d bytes", errBadReply, MaxReplyLine)
		}
		b = append(b, chunk...)
		switch {
		case err == nil:
			b = b[:len(b)-1]
			if n := len(b); n > 0 && b[n-1] == '\r' {
				b = b[:n-1]
			}
			return string(b), nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		default:
			return "", err
		}
	}
}

// parseLine splits "250-text", "250 text" or "250" into the code, whether
// more lines follow, and the text.
func parseLine(line string) (code int, more bool, text string, err error) {
	if len(line) < 3 || line[0] < '2' || line[0] > '5' || !isDigit(line[1]) || !isDigit(line[2]) {
		return 0, false, "", fmt.Errorf("%w: %q does not start with a code from 200 to 599", errBadReply, line)
	}
	code = int(line[0]-'0')*100 + int(line[1]-'0')*10 + int(line[2]-'0')
	if len(line) == 3 {
		return code, false, "", nil
	}
	switch line[3] {
	case '-':
		more = true
	case ' ':
	default:
		return 0, false, "", fmt.Errorf("%w: %q: the code is followed by %q, not a space or '-'", errBadReply, line, line[3])
	}
	for i := 4; i < len(line); i++ {
		if c := line[i]; c < ' ' && c != '\t' || c == 0x7f {
			return 0, false, "", fmt.Errorf("%w: %q contains a control character", errBadReply, line)
		}
	}
	return code, more, line[4:], nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
