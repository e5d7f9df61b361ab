package static

import (
	"bytes"
	"io"
	"math/rand/v2"
	"strconv"

	"wasmhttpd/host/http1"
)

// byteRange is a satisfiable range: length bytes from start.
type byteRange struct {
	start, length int64
}

// maxRanges bounds the ranges honoured in one request. Real clients ask
// for one, PDF viewers for a handful; hundreds of tiny ranges are a way
// to make a server do a lot of work for little output.
const maxRanges = 16

// rangeResult says what to do with a Range field.
type rangeResult uint8

const (
	rangeIgnore      rangeResult = iota // send the whole representation (200)
	rangeSatisfiable                    // send the ranges (206)
	rangeNone                           // nothing satisfiable (416)
)

// parseRange reads a Range value (RFC 9110 14.1.1) against a
// representation of size bytes, appending the satisfiable ranges to out.
//
// A malformed value, another unit, more than maxRanges ranges, or ranges
// that overlap are all answered by ignoring the field (RFC 9110 14.2
// allows that), which sends the whole representation with 200: the
// client gets correct bytes either way, and overlapping requests — the
// amplification trick of CVE-2011-3192 — get nothing more than the file.
// Ranges are not coalesced: that would reorder parts the client asked
// for in a given order.
func parseRange(v []byte, size int64, out []byteRange) ([]byteRange, rangeResult) {
	eq := bytes.IndexByte(v, '=')
	if eq < 0 || !http1.EqualFold(bytes.TrimSpace(v[:eq]), "bytes") {
		return out, rangeIgnore
	}
	v = v[eq+1:]
	specs := 0
	for spec := range http1.CommaList(v) {
		if specs++; specs > maxRanges {
			return out[:0], rangeIgnore
		}
		dash := bytes.IndexByte(spec, '-')
		if dash < 0 {
			return out[:0], rangeIgnore
		}
		first, last := spec[:dash], spec[dash+1:]
		if len(first) == 0 {
			// suffix-range: the last n bytes.
			n, ok := parseDigits(last)
			if !ok {
				return out[:0], rangeIgnore
			}
			if n > 0 && size > 0 {
				n = min(n, size)
				out = append(out, byteRange{size - n, n})
			}
			continue
		}
		start, ok := parseDigits(first)
		if !ok {
			return out[:0], rangeIgnore
		}
		end := int64(-1)
		if len(last) > 0 {
			if end, ok = parseDigits(last); !ok || end < start {
				return out[:0], rangeIgnore
			}
		}
		if start >= size {
			continue // unsatisfiable, but others may be
		}
		if end < 0 || end >= size {
			end = size - 1
		}
		out = append(out, byteRange{start, end - start + 1})
	}
	if specs == 0 {
		return out[:0], rangeIgnore
	}
	if len(out) == 0 {
		return out, rangeNone
	}
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			a, b := out[i], out[j]
			if a.start < b.start+b.length && b.start < a.start+a.length {
				return out[:0], rangeIgnore
			}
		}
	}
	return out, rangeSatisfiable
}

// parseDigits parses 1*DIGIT, refusing what would overflow int64.
func parseDigits(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// appendContentRange appends "bytes first-last/size".
func appendContentRange(dst []byte, r byteRange, size int64) []byte {
	dst = append(dst, "bytes "...)
	dst = strconv.AppendInt(dst, r.start, 10)
	dst = append(dst, '-')
	dst = strconv.AppendInt(dst, r.start+r.length-1, 10)
	dst = append(dst, '/')
	return strconv.AppendInt(dst, size, 10)
}

// newBoundary returns a random multipart boundary. It only has to be
// absent from the body; 128 random bits make a collision with the file's
// bytes practically impossible.
func newBoundary() string {
	var b [32]byte
	const hex = "0123456789abcdef"
	x, y := rand.Uint64(), rand.Uint64()
	for i := range 16 {
		b[i], b[16+i] = hex[x>>(4*i)&15], hex[y>>(4*i)&15]
	}
	return string(b[:])
}

// multipartHeads builds the head of every part of a multipart/byteranges
// body (RFC 9110 14.6) into one buffer and returns it with the offsets
// where each head ends, so that the exact Content-Length is known before
// the first byte goes out; the tail (closing delimiter) is returned too.
func multipartHeads(ranges []byteRange, size int64, ctype, boundary string) (heads []byte, ends []int, tail string) {
	for i, r := range ranges {
		if i > 0 {
			heads = append(heads, "\r\n"...)
		}
		heads = append(heads, "--"...)
		heads = append(heads, boundary...)
		heads = append(heads, "\r\nContent-Type: "...)
		heads = append(heads, ctype...)
		heads = append(heads, "\r\nContent-Range: "...)
		heads = appendContentRange(heads, r, size)
		heads = append(heads, "\r\n\r\n"...)
		ends = append(ends, len(heads))
	}
	return heads, ends, "\r\n--" + boundary + "--\r\n"
}

// serveRanges sends a 206 for the satisfiable ranges of f: one range as
// a plain body with Content-Range, several as multipart/byteranges. The
// caller has set the representation's validator and encoding fields.
func (h *Handler) serveRanges(ex *http1.Exchange, s *scratch, f *file, ctype string, ranges []byteRange) {
	w := ex.Response
	hdr := w.Header()
	if len(ranges) == 1 {
		r := ranges[0]
		hdr.Set("Content-Type", ctype)
		hdr.AddBytes([]byte("Content-Range"), appendContentRange(s.val[:0], r, f.size))
		w.SetContentLength(r.length)
		w.WriteHeader(206)
		if ex.Request.Method == "HEAD" {
			return
		}
		body, err := s.bodyReader(f, r.start, r.length)
		if err != nil {
			w.Abort()
			return
		}
		w.ReadFrom(body)
		return
	}

	boundary := newBoundary()
	heads, ends, tail := multipartHeads(ranges, f.size, ctype, boundary)
	total := int64(len(heads) + len(tail))
	for _, r := range ranges {
		total += r.length
	}
	hdr.Set("Content-Type", "multipart/byteranges; boundary="+boundary)
	w.SetContentLength(total)
	w.WriteHeader(206)
	prev := 0
	for i, r := range ranges {
		w.Write(heads[prev:ends[i]])
		prev = ends[i]
		body, err := s.bodyReader(f, r.start, r.length)
		if err != nil {
			w.Abort()
			return
		}
		if r.length > smallBody {
			// A file limited to this part's length is still a file to
			// ReadFrom, so the part goes by sendfile.
			body = &io.LimitedReader{R: body, N: r.length}
		}
		if _, err := w.ReadFrom(body); err != nil {
			return
		}
	}
	w.WriteString(tail)
}
