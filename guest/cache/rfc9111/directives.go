package rfc9111

import (
	"strconv"
	"strings"
)

// Directive is one Cache-Control directive (RFC 9111 5.2): the name
// lower-cased, the value unquoted ("" when it has none).
type Directive struct{ Name, Value string }

// Directives is a parsed Cache-Control field, each name once, in the
// order of first appearance.
type Directives []Directive

// Conflicting is the value of a directive given more than once with
// different values. It is no number, so Seconds reads it as 0: the
// response is stale, as RFC 9111 4.2.1 asks of conflicting freshness
// information.
const Conflicting = "\x00conflict"

// MaxDelta is 2^31 seconds, the value RFC 9111 1.2.2 says a larger
// delta-seconds is to be taken as.
const MaxDelta = 1 << 31

// ParseDirectives appends the directives of every Cache-Control line to
// dst[:0] and returns the result. Names and values are substrings of the
// lines (a value with a quoted-pair, or a name not sent in lower case, is
// the exception, and costs an allocation), so they live as long as the
// lines do.
func ParseDirectives(dst Directives, lines []string) Directives {
	d := dst[:0]
	for _, line := range lines {
		for len(line) > 0 {
			var item string
			item, line = nextItem(line)
			name, value, _ := strings.Cut(item, "=")
			name = strings.ToLower(strings.TrimSpace(name))
			if name == "" {
				continue
			}
			value = unquote(strings.TrimSpace(value))
			if i := d.index(name); i >= 0 {
				if d[i].Value != value {
					d[i].Value = Conflicting
				}
				continue
			}
			d = append(d, Directive{name, value})
		}
	}
	return d
}

// index is the position of the directive name, -1 when absent: a linear
// scan, since a field holds a handful of directives.
func (d Directives) index(name string) int {
	for i := range d {
		if d[i].Name == name {
			return i
		}
	}
	return -1
}

// Get returns a directive's value and whether it is present; name is
// lower-case.
func (d Directives) Get(name string) (string, bool) {
	if i := d.index(name); i >= 0 {
		return d[i].Value, true
	}
	return "", false
}

// Has reports whether the directive is present, with or without a value.
func (d Directives) Has(name string) bool { return d.index(name) >= 0 }

// Seconds returns a delta-seconds directive (RFC 9111 1.2.2); ok is false
// when it is absent. A value that is malformed or Conflicting is 0, so a
// response carrying it is stale (RFC 9111 4.2.1); a value above MaxDelta
// is MaxDelta.
func (d Directives) Seconds(name string) (secs int64, ok bool) {
	v, present := d.Get(name)
	if !present {
		return 0, false
	}
	return deltaSeconds(v), true
}

// deltaSeconds parses delta-seconds (RFC 9111 1.2.2): 0 for anything but
// digits (Conflicting included), MaxDelta for a value above it, however
// long.
func deltaSeconds(v string) int64 {
	if v == "" {
		return 0
	}
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n > MaxDelta {
		return MaxDelta
	}
	return n
}

// MaxAge returns the freshness lifetime a response's Cache-Control gives
// it (RFC 9111 4.2.1): s-maxage in a shared cache, else max-age; ok is
// false when it has neither.
func (d Directives) MaxAge(shared bool) (secs int64, ok bool) {
	if shared {
		if v, ok := d.Seconds("s-maxage"); ok {
			return v, true
		}
	}
	return d.Seconds("max-age")
}

// nextItem splits at the first comma outside a quoted string.
func nextItem(s string) (item, rest string) {
	quoted := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && quoted:
			i++
		case c == '"':
			quoted = !quoted
		case c == ',' && !quoted:
			return s[:i], s[i+1:]
		}
	}
	return s, ""
}

// unquote removes the quotes of a quoted-string (RFC 9110 5.6.4),
// resolving quoted-pairs; anything else is returned as it is.
func unquote(v string) string {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return v
	}
	if strings.IndexByte(v, '\\') < 0 {
		return v[1 : len(v)-1]
	}
	var b strings.Builder
	for i := 1; i < len(v)-1; i++ {
		if v[i] == '\\' && i+1 < len(v)-1 {
			i++
		}
		b.WriteByte(v[i])
	}
	return b.String()
}
