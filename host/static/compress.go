package static

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"io"
	"sync"

	"wasmhttpd/host/http1"
)

// coding is a content coding we can produce.
type coding uint8

const (
	codingIdentity coding = iota
	codingBr
	codingZstd
	codingGzip
	numCodings
)

// codingNames are the Content-Encoding tokens; sidecarExts the file name
// suffixes of precompressed sidecars; etagSuffixes tell the
// representations apart inside the entity-tag.
var (
	codingNames  = [numCodings]string{"identity", "br", "zstd", "gzip"}
	sidecarExts  = [numCodings]string{"", ".br", ".zst", ".gz"}
	etagSuffixes = [numCodings]string{"", "-br", "-zst", "-gz"}
)

// gzipETagSuffix marks gzip made on the fly; a gzip sidecar has its own
// file identity and suffix, since its bytes differ.
const gzipETagSuffix = "-gzip"

// acceptEncoding holds the qualities (0..1000) an Accept-Encoding field
// gives to each coding; -1 means the coding is not mentioned.
type acceptEncoding struct {
	q    [numCodings]int
	star int
}

// parseAcceptEncoding reads every Accept-Encoding field (RFC 9110
// 12.5.3). present is false when there is none: the client then gets
// identity, which every client understands, though the RFC would allow
// any coding.
func parseAcceptEncoding(h *http1.Header) (ae acceptEncoding, present bool) {
	ae.q = [numCodings]int{-1, -1, -1, -1}
	ae.star = -1
	for v := range h.Values("Accept-Encoding") {
		present = true
		for elem := range http1.CommaList(v) {
			name, q := parseQElement(elem)
			if len(name) == 0 {
				continue
			}
			switch {
			case http1.EqualFold(name, "gzip"), http1.EqualFold(name, "x-gzip"):
				ae.q[codingGzip] = q
			case http1.EqualFold(name, "br"):
				ae.q[codingBr] = q
			case http1.EqualFold(name, "zstd"):
				ae.q[codingZstd] = q
			case http1.EqualFold(name, "identity"):
				ae.q[codingIdentity] = q
			case len(name) == 1 && name[0] == '*':
				ae.star = q
			}
		}
	}
	return ae, present
}

// quality is how acceptable c is: its own weight, else the weight of
// "*", else not acceptable — except identity, which RFC 9110 12.5.3
// makes acceptable unless excluded. The RFC gives that implicit
// acceptance no weight; it gets the lowest (0.001), so that a client
// listing only weighted codings ("gzip;q=0.5") gets one of them rather
// than the identity it never asked for.
func (ae *acceptEncoding) quality(c coding) int {
	switch {
	case ae.q[c] >= 0:
		return ae.q[c]
	case ae.star >= 0:
		return ae.star
	case c == codingIdentity:
		return 1
	}
	return 0
}

// parseQElement splits "token;q=0.5;x=y" into the token and its quality
// (1000 when absent). A malformed q makes the element count as absent,
// a q outside 0..1 is clamped.
func parseQElement(elem []byte) (name []byte, q int) {
	q = 1000
	name = elem
	if i := bytes.IndexByte(elem, ';'); i >= 0 {
		name = elem[:i]
		params := elem[i+1:]
		for len(params) > 0 {
			var p []byte
			if j := bytes.IndexByte(params, ';'); j >= 0 {
				p, params = params[:j], params[j+1:]
			} else {
				p, params = params, nil
			}
			p = bytes.Trim(p, " \t")
			if len(p) >= 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=' {
				var ok bool
				if q, ok = parseQValue(p[2:]); !ok {
					return nil, 0
				}
			}
		}
	}
	return bytes.Trim(name, " \t"), q
}

// parseQValue parses a qvalue (RFC 9110 12.4.2): "0", "1", "0.5",
// "0.125", "1.000", as thousandths.
func parseQValue(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 5 || (b[0] != '0' && b[0] != '1') {
		return 0, false
	}
	q := int(b[0]-'0') * 1000
	if len(b) > 1 {
		if b[1] != '.' {
			return 0, false
		}
		scale := 100
		for _, c := range b[2:] {
			if c < '0' || c > '9' {
				return 0, false
			}
			q += int(c-'0') * scale
			scale /= 10
		}
	}
	return min(q, 1000), true
}

// preference orders codings of equal quality: brotli and zstd compress
// better than gzip, and any compression beats identity for text.
var preference = [...]coding{codingBr, codingZstd, codingGzip, codingIdentity}

// negotiation is the outcome of choosing a representation.
type negotiation struct {
	coding  coding
	sidecar bool // served from a precompressed file (in scratch.side)
	onFly   bool // gzip made on the fly
}

// negotiate picks the representation of f (the identity file, served as
// ctype) to send: the acceptable coding with the highest quality that is
// available, ties broken by preference; a sidecar is available when it
// is a fresh regular file; gzip on the fly when compression is on, the
// file is big enough, and no range is asked for (ranges of a stream whose
// bytes are only known by producing them cannot be served cheaply).
//
// When the client excludes identity and nothing else is available, the
// identity is sent all the same, as RFC 9110 12.5.3 permits: a 406 would
// break clients whose Accept-Encoding is sloppy, and a client that truly
// cannot take identity cannot take a 406 page either.
func (h *Handler) negotiate(req *http1.Request, s *scratch, rel []byte, f *file, wantsRange bool) negotiation {
	ae, present := parseAcceptEncoding(&req.Header)
	if !present {
		return negotiation{}
	}
	var order [len(preference)]coding
	n := 0
	for _, c := range preference {
		if ae.quality(c) > 0 || c == codingIdentity {
			order[n] = c
			n++
		}
	}
	// Stable insertion sort by quality, highest first: preference breaks ties.
	for i := 1; i < n; i++ {
		for j := i; j > 0 && ae.quality(order[j]) > ae.quality(order[j-1]); j-- {
			order[j], order[j-1] = order[j-1], order[j]
		}
	}
	for _, c := range order[:n] {
		if c == codingIdentity {
			if ae.quality(c) > 0 {
				return negotiation{}
			}
			continue
		}
		if h.precompressed && h.openSidecar(s, rel, f, c) {
			return negotiation{coding: c, sidecar: true}
		}
		if c == codingGzip && h.compress && !wantsRange && f.size >= h.minSize {
			return negotiation{coding: c, onFly: true}
		}
	}
	return negotiation{}
}

// openSidecar opens rel + ".br" (or ".zst", ".gz") into s.side and keeps
// it when it is a regular file not older than the original: a stale
// sidecar would serve yesterday's stylesheet, so it is ignored rather
// than trusted.
func (h *Handler) openSidecar(s *scratch, rel []byte, f *file, c coding) bool {
	s.name = append(append(s.name[:0], rel...), sidecarExts[c]...)
	if err := h.openAt(s, s.name, &s.side); err != nil {
		return false
	}
	if s.side.kind != kindRegular || s.side.mtime < f.mtime {
		s.side.close()
		return false
	}
	return true
}

// gzipLevel trades ratio for speed as Caddy's default does: level 5 gets
// most of level 9's ratio at a fraction of its cost. Sidecars are the way
// to ship maximally compressed files.
const gzipLevel = 5

var gzipWriters = sync.Pool{New: func() any {
	zw, _ := gzip.NewWriterLevel(io.Discard, gzipLevel)
	return zw
}}

// bufferedGzipMax is the largest file compressed into memory to learn its
// exact length; larger files stream out chunked. A measured length lets
// the response carry Content-Length (keep-alive for HTTP/1.0 clients,
// progress bars) and costs nothing in CPU: see BenchmarkGzip.
var bufferedGzipMax int64 = 64 << 10

var gzipBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// serveGzip sends f compressed with gzip. The caller has set every field
// but the framing.
func (h *Handler) serveGzip(ex *http1.Exchange, s *scratch, f *file) {
	w := ex.Response
	if ex.Request.Method == "HEAD" {
		// The length is known only by compressing; RFC 9110 9.3.2 lets
		// HEAD omit such a field, and a HEAD should not read the file.
		w.WriteHeader(200)
		return
	}
	zw := gzipWriters.Get().(*gzip.Writer)
	defer gzipWriters.Put(zw)
	src := preader{fd: f.fd, off: 0, end: f.size}
	buf := s.copyBuf()

	if f.size <= bufferedGzipMax {
		out := gzipBuffers.Get().(*bytes.Buffer)
		defer func() {
			if out.Cap() <= 256<<10 {
				gzipBuffers.Put(out)
			}
		}()
		out.Reset()
		zw.Reset(out)
		if _, err := io.CopyBuffer(zw, &src, buf); err != nil {
			w.Error(500, "cannot read file")
			return
		}
		zw.Close()
		w.SetContentLength(int64(out.Len()))
		w.WriteHeader(200)
		w.Write(out.Bytes())
		return
	}

	// Streamed: deflate emits many small writes, each of which would be
	// a chunk of its own; a buffer in between makes them 16 KiB chunks.
	w.WriteHeader(200)
	bw := chunkWriters.Get().(*bufio.Writer)
	defer chunkWriters.Put(bw)
	bw.Reset(w)
	zw.Reset(bw)
	if _, err := io.CopyBuffer(zw, &src, buf); err != nil {
		// The status is gone; the only honest signal left is a body that
		// is visibly cut short.
		w.Abort()
		zw.Reset(io.Discard)
		bw.Reset(io.Discard)
		return
	}
	zw.Close()
	bw.Flush()
	bw.Reset(io.Discard)
}

var chunkWriters = sync.Pool{New: func() any { return bufio.NewWriterSize(io.Discard, 16<<10) }}
