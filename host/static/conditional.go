package static

import (
	"bytes"
	"strconv"
	"time"

	"wasmhttpd/host/http1"
)

// appendETag appends a strong entity-tag for a file identity: inode, size
// and modification time in nanoseconds, in hex. Any change to the bytes a
// client could see changes one of them: an in-place write moves the
// mtime, an atomic replace (ours included) brings a new inode. suffix
// tells representations of one file apart ("-gzip" for on-the-fly gzip),
// since each must have its own tag (RFC 9110 8.8.3).
func appendETag(dst []byte, f *file, suffix string) []byte {
	dst = append(dst, '"')
	dst = strconv.AppendUint(dst, f.ino, 16)
	dst = append(dst, '-')
	dst = strconv.AppendUint(dst, uint64(f.size), 16)
	dst = append(dst, '-')
	dst = strconv.AppendUint(dst, uint64(f.mtime), 16)
	dst = append(dst, suffix...)
	return append(dst, '"')
}

var (
	dayNames   = [...]string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}
	monthNames = [...]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}
)

// appendHTTPDate appends sec as an IMF-fixdate (RFC 9110 5.6.7). It is
// written by hand because time.AppendFormat re-parses its layout on every
// call, which costs more than the rest of a small response's header.
func appendHTTPDate(dst []byte, sec int64) []byte {
	t := time.Unix(sec, 0).UTC()
	y, mo, d := t.Date()
	if y < 0 || y > 9999 {
		return t.AppendFormat(dst, http1.TimeFormat)
	}
	hh, mm, ss := t.Clock()
	dst = append(dst, dayNames[t.Weekday()]...)
	dst = append(dst, ", "...)
	dst = append2(dst, d)
	dst = append(dst, ' ')
	dst = append(dst, monthNames[mo-1]...)
	dst = append(dst, ' ')
	dst = append2(dst, y/100)
	dst = append2(dst, y%100)
	dst = append(dst, ' ')
	dst = append2(dst, hh)
	dst = append(dst, ':')
	dst = append2(dst, mm)
	dst = append(dst, ':')
	dst = append2(dst, ss)
	return append(dst, " GMT"...)
}

func append2(dst []byte, n int) []byte { return append(dst, byte('0'+n/10), byte('0'+n%10)) }

// parseHTTPDate parses the three date formats RFC 9110 5.6.7 obliges a
// recipient to accept. ok is false for anything else, and the caller then
// ignores the field, as RFC 9110 13.1.3 and 13.1.4 require.
func parseHTTPDate(b []byte) (sec int64, ok bool) {
	b = bytes.TrimSpace(b)
	if len(b) == 29 && b[3] == ',' && b[4] == ' ' && b[7] == ' ' && b[11] == ' ' && b[16] == ' ' &&
		b[19] == ':' && b[22] == ':' && string(b[25:]) == " GMT" {
		d, ok1 := atoi2(b[5:7])
		y1, ok2 := atoi2(b[12:14])
		y2, ok3 := atoi2(b[14:16])
		hh, ok4 := atoi2(b[17:19])
		mm, ok5 := atoi2(b[20:22])
		ss, ok6 := atoi2(b[23:25])
		mo := -1
		for i, m := range monthNames {
			if string(b[8:11]) == m {
				mo = i + 1
			}
		}
		if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || mo < 0 || hh > 23 || mm > 59 || ss > 60 {
			return 0, false
		}
		t := time.Date(y1*100+y2, time.Month(mo), d, hh, mm, ss, 0, time.UTC)
		if t.Day() != d { // 31 Feb normalises to March: not a date
			return 0, false
		}
		return t.Unix(), true
	}
	for _, layout := range [...]string{time.RFC850, time.ANSIC} {
		if t, err := time.Parse(layout, string(b)); err == nil {
			return t.Unix(), true
		}
	}
	return 0, false
}

func atoi2(b []byte) (int, bool) {
	if b[0] < '0' || b[0] > '9' || b[1] < '0' || b[1] > '9' {
		return 0, false
	}
	return int(b[0]-'0')*10 + int(b[1]-'0'), true
}

// matchETags reports whether any If-Match or If-None-Match field named
// name lists "*" or an entity-tag matching etag (a strong tag with
// quotes). weak selects the weak comparison of RFC 9110 8.8.3.2, where
// W/"x" matches "x"; the strong one never matches a weak tag. A malformed
// list stops being read at the first malformed element: what came before
// still counts, nothing after it is guessed at.
func matchETags(h *http1.Header, name string, etag []byte, weak bool) bool {
	for v := range h.Values(name) {
		for len(v) > 0 {
			for len(v) > 0 && (v[0] == ' ' || v[0] == '\t' || v[0] == ',') {
				v = v[1:]
			}
			if len(v) == 0 {
				break
			}
			if v[0] == '*' {
				return true
			}
			isWeak := false
			if len(v) >= 2 && v[0] == 'W' && v[1] == '/' {
				isWeak, v = true, v[2:]
			}
			if len(v) == 0 || v[0] != '"' {
				break
			}
			end := bytes.IndexByte(v[1:], '"')
			if end < 0 {
				break
			}
			tag := v[:end+2]
			if (weak || !isWeak) && bytes.Equal(tag, etag) {
				return true
			}
			v = v[end+2:]
		}
	}
	return false
}

// preconditions evaluates the conditional fields of req against the
// target's current state in the order of RFC 9110 13.2.2, and returns 0
// to go on, 304 or 412. exists is false for a PUT to a new name; etag and
// mtime (Unix seconds) are then ignored. mtime < 0 says the resource has
// no modification date (a listing), so the date conditions are ignored
// as RFC 9110 13.1.3 and 13.1.4 require.
//
//  1. If-Match (strong comparison; "*" means "exists") else
//     If-Unmodified-Since: false → 412.
//  2. If-None-Match (weak comparison) else, for GET and HEAD only,
//     If-Modified-Since: a match → 304 for GET and HEAD, 412 otherwise.
//
// If-Range is the range code's business (step 5 of the same list).
func preconditions(req *http1.Request, exists bool, etag []byte, mtime int64) int {
	h := &req.Header
	read := req.Method == "GET" || req.Method == "HEAD"
	if h.Has("If-Match") {
		if !exists || !matchETags(h, "If-Match", etag, false) {
			return 412
		}
	} else if v := h.Get("If-Unmodified-Since"); v != nil && exists && mtime >= 0 {
		if date, ok := parseHTTPDate(v); ok && mtime > date {
			return 412
		}
	}
	if h.Has("If-None-Match") {
		if exists && matchETags(h, "If-None-Match", etag, true) {
			if read {
				return 304
			}
			return 412
		}
	} else if v := h.Get("If-Modified-Since"); v != nil && read && exists && mtime >= 0 {
		if date, ok := parseHTTPDate(v); ok && mtime <= date {
			return 304
		}
	}
	return 0
}

// ifRangeMatches evaluates an If-Range value (RFC 9110 13.1.5) against
// the selected representation: an entity-tag must match strongly (a weak
// one never does); a date must equal Last-Modified exactly, and only
// counts when Last-Modified is itself strong, i.e. at least a second in
// the past, since two writes within that second share it.
func ifRangeMatches(v []byte, etag []byte, mtime int64) bool {
	v = bytes.TrimSpace(v)
	switch {
	case len(v) >= 2 && v[0] == 'W' && v[1] == '/':
		return false
	case len(v) > 0 && v[0] == '"':
		return bytes.Equal(v, etag)
	}
	date, ok := parseHTTPDate(v)
	return ok && date == mtime && time.Now().Unix() > mtime
}
