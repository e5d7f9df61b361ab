package static

import (
	"strconv"

	"wasmhttpd/host/http1"
)

// serveRead answers GET and HEAD: a file, a directory's index or listing,
// or the redirect that gives a directory its trailing slash.
func (h *Handler) serveRead(ex *http1.Exchange, s *scratch, rel []byte, dirSlash bool) {
	w := ex.Response
	f := &s.main
	if err := h.openAt(s, rel, f); err != nil {
		status, reason := h.openStatus(err)
		w.Error(status, reason+": "+string(ex.Request.Path))
		return
	}
	defer f.close()

	switch f.kind {
	case kindRegular:
		if dirSlash {
			// "file.txt/" names a directory that does not exist, as
			// the kernel would say of open("file.txt/").
			w.Error(404, "no such file: "+string(ex.Request.Path))
			return
		}
		h.serveFile(ex, s, rel, f)
		return
	case kindOther:
		w.Error(403, "not a regular file: "+string(ex.Request.Path))
		return
	}

	// A directory. Relative links in its index or listing resolve against
	// the URL, so it must end in a slash: redirect (301, as nginx and
	// Caddy do) to the canonical form, keeping the query.
	if !dirSlash {
		loc := s.appendURL(rel)
		if len(rel) > 1 || rel[0] != '.' {
			loc = append(loc, '/')
		}
		if q := ex.Request.Query; q != nil {
			loc = append(loc, '?')
			loc = append(loc, q...)
		}
		s.name = loc
		w.Header().Set("Location", string(loc))
		w.Error(301, "moved to "+string(loc))
		return
	}
	for _, name := range h.index {
		s.name = append(s.name[:0], rel...)
		if len(rel) == 1 && rel[0] == '.' {
			s.name = s.name[:0]
		} else {
			s.name = append(s.name, '/')
		}
		s.name = append(s.name, name...)
		idx := &s.side
		if err := h.openAt(s, s.name, idx); err != nil {
			continue
		}
		if idx.kind != kindRegular {
			idx.close()
			continue
		}
		// The index becomes the file served; its name decides the type.
		indexRel := append(s.path[:0], s.name...)
		s.path = indexRel
		f.close()
		*f, *idx = *idx, file{}
		h.serveFile(ex, s, indexRel, f)
		return
	}
	if !h.listing {
		// 403, as nginx answers: the directory exists, so 404 would be a
		// lie, and saying why tells the owner what to switch on.
		w.Error(403, "directory has no index file and listings are disabled: "+string(ex.Request.Path))
		return
	}
	f.close()
	h.serveListing(ex, s, rel)
}

// serveFile answers GET or HEAD for the regular file f at rel: it picks
// the representation, evaluates the preconditions against it, then sends
// 304, 412, 416, 206 or 200.
func (h *Handler) serveFile(ex *http1.Exchange, s *scratch, rel []byte, f *file) {
	req, w := ex.Request, ex.Response
	hdr := w.Header()

	ctype := typeByName(rel)
	if ctype == "" {
		buf := s.copyBuf()[:min(int64(sniffLen), f.size)]
		n, err := readAt(f.fd, buf, 0)
		if err != nil {
			w.Error(500, "cannot read file: "+string(req.Path))
			return
		}
		ctype = sniff(buf[:n])
	}
	compressible := (h.compress || h.precompressed) && h.types.match(ctype)
	wantsRange := req.Method == "GET" && req.Header.Has("Range")

	// The representation: identity, a sidecar or gzip on the fly.
	rep := f
	var neg negotiation
	if compressible {
		neg = h.negotiate(req, s, rel, f, wantsRange)
		if neg.sidecar {
			rep = &s.side
			defer s.side.close()
		}
	}

	// Validators first: a 304 carries them too (RFC 9110 15.4.5).
	var etag []byte
	switch {
	case neg.onFly:
		etag = appendETag(s.val[:0], f, gzipETagSuffix)
	default:
		etag = appendETag(s.val[:0], rep, etagSuffixes[neg.coding])
	}
	hdr.AddBytes([]byte("ETag"), etag)
	mtime := rep.mtime / 1e9
	hdr.AddBytes([]byte("Last-Modified"), appendHTTPDate(s.val[len(etag):len(etag)], mtime))
	if compressible || neg.coding != codingIdentity {
		// The response depends on Accept-Encoding even when this one is
		// not compressed: a cache must not hand it to the next client
		// unchanged (nor the gzip one to a client without gzip).
		addVary(hdr, "Accept-Encoding")
	}

	switch preconditions(req, true, etag, mtime) {
	case 304:
		w.WriteHeader(304)
		return
	case 412:
		w.Error(412, "precondition failed: "+string(req.Path))
		return
	}

	if neg.coding != codingIdentity {
		hdr.Set("Content-Encoding", codingNames[neg.coding])
	}
	hdr.Set("Accept-Ranges", "bytes")
	if neg.onFly {
		hdr.Set("Content-Type", ctype)
		h.serveGzip(ex, s, f)
		return
	}

	if wantsRange && (!req.Header.Has("If-Range") || ifRangeMatches(req.Header.Get("If-Range"), etag, mtime)) {
		var store [4]byteRange
		ranges, result := parseRange(req.Header.Get("Range"), rep.size, store[:0])
		switch result {
		case rangeSatisfiable:
			h.serveRanges(ex, s, rep, ctype, ranges)
			return
		case rangeNone:
			var b [32]byte
			w.Header().AddBytes([]byte("Content-Range"), strconv.AppendInt(append(b[:0], "bytes */"...), rep.size, 10))
			w.Error(416, "range not satisfiable: the representation is "+strconv.FormatInt(rep.size, 10)+" bytes")
			return
		}
	}

	hdr.Set("Content-Type", ctype)
	w.SetContentLength(rep.size)
	w.WriteHeader(200)
	if req.Method == "HEAD" || rep.size == 0 {
		return
	}
	body, err := s.bodyReader(rep, 0, rep.size)
	if err != nil {
		w.Abort()
		return
	}
	w.ReadFrom(body)
}

// addVary adds token to Vary unless it is there already: a policy that ran
// before the handler may have set Vary for its own reasons.
func addVary(hdr *http1.Header, token string) {
	if !hdr.HasToken("Vary", token) {
		hdr.Add("Vary", token)
	}
}
