package cache

import (
	"errors"
	"fmt"
	"slices"

	"wasmhttpd/host/http1"
)

// ErrVaryChanged refuses a header update whose merged fields would vary
// on other request fields than the stored response: the variant was
// selected by the old ones, so it has to be fetched again.
var ErrVaryChanged = errors.New("cache: the update changes Vary")

// notUpdated lists the fields a 304 does not update (RFC 9111 3.2): the
// ones never stored (3.1) and Content-Length, which describes the 304
// itself. Fields named by the 304's Connection are skipped as well.
var notUpdated = []string{
	"Connection", "Content-Length", "Keep-Alive", "Proxy-Connection",
	"TE", "Transfer-Encoding", "Upgrade",
}

// UpdateHeaders applies a 304 (Not Modified) revalidation to e, as RFC
// 9111 4.3.4 prescribes: each field of header replaces the stored fields
// of its name, and the times and freshness are the new exchange's. The
// body is not copied: the new metadata file points at the same body file
// and replaces the old one by rename, so the update is atomic on disk and
// in the index. It returns the updated entry, or ErrGone when e was
// evicted, invalidated or replaced meanwhile (the caller then keeps using
// e for this request only).
func (s *Store) UpdateHeaders(e *Entry, header *http1.Header, times Times, fresh Freshness) (*Entry, error) {
	u := &Entry{
		Key: e.Key, Status: e.Status, Times: times, Freshness: fresh, Size: e.Size,
		id: e.id, bodyGen: e.bodyGen, vary: e.vary, dir: e.dir,
	}
	mergeHeader(&u.Header, &e.Header, header)
	names, star := varyNames(&u.Header)
	if star || !slices.EqualFunc(names, e.vary, func(n string, f varyField) bool { return n == f.name }) {
		return nil, ErrVaryChanged
	}
	if err := checkEncodable(u); err != nil {
		return nil, err
	}
	u.gen = s.nextGen()
	if err := s.writeMeta(u); err != nil {
		s.fault("cannot update an entry", err)
		return nil, fmt.Errorf("cache: %w", err)
	}
	s.mu.Lock()
	current := e.node != nil && e.node.entry == e && !s.closed
	var garbage []string
	if current {
		garbage = s.replace(e.node, u, garbage)
	} else {
		garbage = append(garbage, metaPath(s.root, u.id, u.gen))
	}
	s.mu.Unlock()
	s.unlink(garbage)
	if !current {
		return nil, ErrGone
	}
	return u, nil
}

// mergeHeader sets dst to stored with every field of update that a 304
// may update replacing the stored fields of its name.
func mergeHeader(dst, stored, update *http1.Header) {
	skip := func(name []byte) bool {
		for _, n := range notUpdated {
			if http1.EqualFold(name, n) {
				return true
			}
		}
		return update.HasToken("Connection", string(name))
	}
	updated := func(name []byte) bool {
		for n := range update.All() {
			if !skip(n) && http1.EqualFold(name, string(n)) {
				return true
			}
		}
		return false
	}
	for name, value := range stored.All() {
		if !updated(name) {
			dst.AddBytes(name, value)
		}
	}
	for name, value := range update.All() {
		if !skip(name) {
			dst.AddBytes(name, value)
		}
	}
}
