package admin

import (
	"net/netip"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// maxPooledLine caps the buffers the pool keeps. Ordinary lines are a few
// hundred bytes; a request with a huge, fully escaped target can make one
// of tens of kilobytes, which is used once and then left to the collector.
const maxPooledLine = 16 << 10

// lineBuf is where one line is formatted. It is pooled, and it carries the
// timestamp caches with it: formatting a time costs more than the rest of
// the line, and requests within the same second share it.
type lineBuf struct {
	b   []byte
	clf stampCache // "02/Jan/2006:15:04:05 -0700"
	iso stampCache // "2006-01-02T15:04:05.000Z07:00", milliseconds patched in
}

// stampCache holds a time formatted to the second for one location.
type stampCache struct {
	sec   int64
	loc   *time.Location
	stamp []byte
}

var linePool = sync.Pool{New: func() any {
	return &lineBuf{b: make([]byte, 0, 512)}
}}

const (
	clfLayout = "02/Jan/2006:15:04:05 -0700"
	isoLayout = "2006-01-02T15:04:05.000Z07:00"
	// isoMillis is where the milliseconds sit in isoLayout's output, for
	// years of four digits.
	isoMillis = len("2006-01-02T15:04:05.")
)

// get returns t formatted with layout, reusing the last result when t falls
// in the same second and location. The offset is a function of both, so a
// DST change cannot make a cached stamp wrong.
func (c *stampCache) get(t time.Time, layout string) []byte {
	sec, loc := t.Unix(), t.Location()
	if c.stamp == nil || sec != c.sec || loc != c.loc {
		c.stamp = t.AppendFormat(c.stamp[:0], layout)
		c.sec, c.loc = sec, loc
	}
	return c.stamp
}

// appendCombined formats e in the NCSA Combined Log Format, as nginx and
// Apache write it, so that every log analyser reads it:
//
//	127.0.0.1 - - [22/Nov/2026:18:44:17 +0000] "GET / HTTP/1.1" 200 1234 "referer" "ua"
func (lb *lineBuf) appendCombined(b []byte, e *Entry) []byte {
	b = appendRemoteIP(b, e)
	b = append(b, " - - ["...)
	b = append(b, lb.clf.get(e.Time, clfLayout)...)
	b = append(b, `] "`...)
	if e.Method == "" && len(e.Target) == 0 && e.Proto == "" {
		// A request refused before its request line was read.
		b = append(b, '-')
	} else {
		b = appendCLFEscaped(b, e.Method)
		b = append(b, ' ')
		b = appendCLFEscaped(b, e.Target)
		if e.Proto != "" { // HTTP/0.9 has none
			b = append(b, ' ')
			b = appendCLFEscaped(b, e.Proto)
		}
	}
	b = append(b, `" `...)
	b = strconv.AppendInt(b, int64(e.Status), 10)
	b = append(b, ' ')
	// nginx writes 0 where Apache's %b writes "-"; a number is easier on
	// the tools that sum this column.
	b = strconv.AppendInt(b, e.Bytes, 10)
	b = append(b, ` "`...)
	b = appendCLFField(b, e.Referer)
	b = append(b, `" "`...)
	b = appendCLFField(b, e.UserAgent)
	return append(b, "\"\n"...)
}

// appendRemoteIP writes the peer's address without its port.
func appendRemoteIP(b []byte, e *Entry) []byte {
	if e.Addr.IsValid() {
		var tmp [64]byte
		return appendCLFEscaped(b, e.Addr.Addr().Unmap().AppendTo(tmp[:0]))
	}
	s := e.RemoteAddr
	if s == "" {
		return append(b, '-')
	}
	// Parse as net.SplitHostPort would, without its error allocation:
	// "[v6]:port", "v4:port", or an address with no port at all.
	switch {
	case s[0] == '[':
		for i := 1; i < len(s); i++ {
			if s[i] == ']' {
				s = s[1:i]
				break
			}
		}
	default:
		colon := -1
		for i := 0; i < len(s); i++ {
			if s[i] == ':' {
				if colon >= 0 { // a bare IPv6 address
					colon = -1
					break
				}
				colon = i
			}
		}
		if colon >= 0 {
			s = s[:colon]
		}
	}
	return appendCLFEscaped(b, s)
}

func appendCLFField(b, v []byte) []byte {
	if len(v) == 0 {
		return append(b, '-')
	}
	return appendCLFEscaped(b, v)
}

// clfEscape marks the bytes nginx escapes in its log: control bytes, DEL
// and everything non-ASCII, and the quote and backslash that delimit and
// escape fields. With them escaped, no request can end a quoted field early
// or start a forged line.
var clfEscape = func() (t [256]bool) {
	for c := range 256 {
		t[c] = c < 0x20 || c >= 0x7f || c == '"' || c == '\\'
	}
	return t
}()

const upperHex = "0123456789ABCDEF"

// appendCLFEscaped writes s with hostile bytes as \xHH, as nginx does.
func appendCLFEscaped[T string | []byte](b []byte, s T) []byte {
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !clfEscape[c] {
			continue
		}
		b = append(b, s[start:i]...)
		b = append(b, '\\', 'x', upperHex[c>>4], upperHex[c&0xf])
		start = i + 1
	}
	return append(b, s[start:]...)
}

// appendJSON formats e as one JSON object on one line. It is written by hand
// because encoding/json allocates on every call.
func (lb *lineBuf) appendJSON(b []byte, e *Entry) []byte {
	b = append(b, `{"time":"`...)
	b = lb.appendISOTime(b, e.Time)
	b = append(b, `","remote":`...)
	if e.Addr.IsValid() {
		// An IPv6 zone is an interface name, which may hold almost any byte.
		var tmp [64]byte
		ap := netip.AddrPortFrom(e.Addr.Addr().Unmap(), e.Addr.Port())
		b = appendJSONString(b, ap.AppendTo(tmp[:0]))
	} else {
		b = appendJSONString(b, e.RemoteAddr)
	}
	b = append(b, `,"method":`...)
	b = appendJSONString(b, e.Method)
	b = append(b, `,"target":`...)
	b = appendJSONString(b, e.Target)
	b = append(b, `,"proto":`...)
	b = appendJSONString(b, e.Proto)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(e.Status), 10)
	b = append(b, `,"bytes":`...)
	b = strconv.AppendInt(b, e.Bytes, 10)
	b = append(b, `,"duration_ms":`...)
	// Microsecond resolution: finer is noise next to the syscalls around it.
	b = strconv.AppendFloat(b, float64(e.Duration)/float64(time.Millisecond), 'f', 3, 64)
	b = append(b, `,"host":`...)
	b = appendJSONString(b, e.Host)
	b = append(b, `,"referer":`...)
	b = appendJSONString(b, e.Referer)
	b = append(b, `,"user_agent":`...)
	b = appendJSONString(b, e.UserAgent)
	b = append(b, `,"listener":`...)
	b = appendJSONString(b, e.Listener)
	return append(b, "}\n"...)
}

// appendISOTime writes t as RFC 3339 with milliseconds.
func (lb *lineBuf) appendISOTime(b []byte, t time.Time) []byte {
	stamp := lb.iso.get(t, isoLayout)
	if len(stamp) <= isoMillis+3 || stamp[isoMillis-1] != '.' {
		return t.AppendFormat(b, isoLayout) // a year beyond 9999
	}
	ms := t.Nanosecond() / int(time.Millisecond)
	b = append(b, stamp[:isoMillis]...)
	b = append(b, byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10))
	return append(b, stamp[isoMillis+3:]...)
}

const lowerHex = "0123456789abcdef"

// appendJSONString writes s as a JSON string, escaped by the rules of
// encoding/json without its HTML escaping (a log is not a web page): \" \\
// \b \f \n \r \t, other control bytes as \u00XX, U+2028 and U+2029 escaped
// for JavaScript's sake, and each byte of invalid UTF-8 as \ufffd, so the
// line is always valid JSON whatever the client sent.
func appendJSONString[T string | []byte](b []byte, s T) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', lowerHex[c>>4], lowerHex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := decodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', lowerHex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// decodeRune is utf8.DecodeRune for either kind of byte sequence.
func decodeRune[T string | []byte](s T) (rune, int) {
	switch s := any(s).(type) {
	case string:
		return utf8.DecodeRuneInString(s)
	case []byte:
		return utf8.DecodeRune(s)
	}
	panic("unreachable")
}
