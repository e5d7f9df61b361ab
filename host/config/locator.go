package config

import (
	"bytes"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// locator maps keys to the line that first sets them. The TOML decoder
// keeps key positions to itself, yet unknown keys and invalid values must
// be reported with their line, so the locator scans the text again: table
// headers, dotted and quoted keys, and values just far enough to step over
// multi-line strings, arrays and inline tables (whose keys it records too).
// It never fails: on text the decoder rejects it records what it can.
//
// Keys are stored in toml.Key.String form, so `[roots."my site"]` is
// found as roots."my site". Every entry of an array of tables shares the
// first entry's lines.
type locator struct {
	src   []byte
	pos   int
	lines map[string]int
}

func newLocator(data []byte) *locator {
	l := &locator{src: data, lines: make(map[string]int)}
	for _, bom := range []string{"\xef\xbb\xbf", "\xff\xfe", "\xfe\xff"} { // as the decoder does
		if bytes.HasPrefix(data, []byte(bom)) {
			l.pos = len(bom)
		}
	}
	var table toml.Key
	for l.skipBlank(true); l.pos < len(l.src); l.skipBlank(true) {
		if l.accept('[') {
			l.accept('[') // [[array.of.tables]]
			start := l.pos
			table = l.key()
			l.set(table, start)
		} else {
			l.keyValue(table)
		}
		l.skipLine()
	}
	return l
}

// line returns the line of key (in toml.Key.String form), or else of its
// nearest enclosing table that the text names, or 0.
func (l *locator) line(key string) int {
	k := parseKey(key)
	for ; len(k) > 0; k = k[:len(k)-1] {
		if n, ok := l.lines[k.String()]; ok {
			return n
		}
	}
	return 0
}

// set records key and the tables it implies as starting at byte offset
// pos, unless an earlier line already has them.
func (l *locator) set(key toml.Key, pos int) {
	line := 1 + bytes.Count(l.src[:pos], []byte("\n"))
	for i := 1; i <= len(key); i++ {
		if s := key[:i].String(); l.lines[s] == 0 {
			l.lines[s] = line
		}
	}
}

// keyValue reads `key = value` inside table.
func (l *locator) keyValue(table toml.Key) {
	start := l.pos
	key := l.key()
	if len(key) == 0 {
		return
	}
	full := append(append(toml.Key{}, table...), key...)
	l.set(full, start)
	l.skipBlank(false)
	if l.accept('=') {
		l.value(full)
	}
}

// key reads a dotted key: bare, "basic" and 'literal' parts.
func (l *locator) key() toml.Key {
	var key toml.Key
	for {
		l.skipBlank(false)
		start := l.pos
		switch l.peek() {
		case '"', '\'':
			raw := l.str()
			part := strings.TrimSuffix(raw[1:], raw[:1])
			if raw[0] == '"' {
				part = unescape(part)
			}
			key = append(key, part)
		default:
			for l.pos < len(l.src) && isBare(l.src[l.pos]) {
				l.pos++
			}
			if l.pos == start {
				return key
			}
			key = append(key, string(l.src[start:l.pos]))
		}
		l.skipBlank(false)
		if !l.accept('.') {
			return key
		}
	}
}

// value steps over one value, recording the keys of inline tables under
// key.
func (l *locator) value(key toml.Key) {
	l.skipBlank(false)
	switch l.peek() {
	case '"', '\'':
		l.str()
	case '[':
		l.pos++
		for l.skipBlank(true); l.pos < len(l.src) && !l.accept(']'); l.skipBlank(true) {
			l.progress(func() { l.value(key) })
			l.skipBlank(true)
			l.accept(',')
		}
	case '{':
		l.pos++
		for l.skipBlank(true); l.pos < len(l.src) && !l.accept('}'); l.skipBlank(true) {
			l.progress(func() { l.keyValue(key) })
			l.skipBlank(true)
			l.accept(',')
		}
	default: // numbers, booleans, dates (which may contain a space)
		for l.pos < len(l.src) && !strings.ContainsRune(",]}#\r\n", rune(l.src[l.pos])) {
			l.pos++
		}
	}
}

// progress runs step and skips a byte if step did not move, so that text
// the decoder rejects cannot stall the scan.
func (l *locator) progress(step func()) {
	start := l.pos
	step()
	if l.pos == start {
		l.pos++
	}
}

// str steps over a string of any of the four kinds and returns its text,
// quotes included.
func (l *locator) str() string {
	start := l.pos
	q := l.src[l.pos]
	delim := []byte{q}
	if bytes.HasPrefix(l.src[l.pos:], []byte{q, q, q}) {
		delim = []byte{q, q, q}
	}
	l.pos += len(delim)
	for l.pos < len(l.src) {
		switch c := l.src[l.pos]; {
		case c == '\\' && q == '"':
			l.pos += 2
		case c == '\n' && len(delim) == 1:
			return string(l.src[start:l.pos]) // unterminated
		case bytes.HasPrefix(l.src[l.pos:], delim):
			l.pos += len(delim)
			for len(delim) == 3 && l.peek() == q { // """a "quoted" word""""
				l.pos++
			}
			return string(l.src[start:l.pos])
		default:
			l.pos++
		}
	}
	l.pos = len(l.src)
	return string(l.src[start:])
}

// skipBlank steps over spaces, comments and, if newlines, line ends.
func (l *locator) skipBlank(newlines bool) {
	for l.pos < len(l.src) {
		switch l.src[l.pos] {
		case ' ', '\t':
		case '\r', '\n':
			if !newlines {
				return
			}
		case '#':
			for l.pos < len(l.src) && l.src[l.pos] != '\n' {
				l.pos++
			}
			continue
		default:
			return
		}
		l.pos++
	}
}

// skipLine steps past the end of the current line.
func (l *locator) skipLine() {
	if i := bytes.IndexByte(l.src[l.pos:], '\n'); i >= 0 {
		l.pos += i + 1
	} else {
		l.pos = len(l.src)
	}
}

func (l *locator) peek() byte {
	if l.pos < len(l.src) {
		return l.src[l.pos]
	}
	return 0
}

func (l *locator) accept(c byte) bool {
	if l.peek() == c {
		l.pos++
		return true
	}
	return false
}

// unescape decodes the escapes of a TOML basic string; a malformed one
// stays as it is written.
func unescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		if c := strings.IndexByte(`btnfre"\`, s[i]); c >= 0 {
			b.WriteByte("\b\t\n\f\r\x1b\"\\"[c])
			continue
		}
		if n := map[byte]int{'x': 2, 'u': 4, 'U': 8}[s[i]]; n > 0 && i+n < len(s) {
			if r, err := strconv.ParseUint(s[i+1:i+1+n], 16, 32); err == nil {
				b.WriteRune(rune(r))
				i += n
				continue
			}
		}
		b.WriteString(s[i-1 : i+1])
	}
	return b.String()
}

func isBare(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-'
}

// parseKey splits a key written in toml.Key.String form.
func parseKey(s string) toml.Key {
	l := &locator{src: []byte(s)}
	return l.key()
}
