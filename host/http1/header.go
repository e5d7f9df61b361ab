package http1

import (
	"bufio"
	"iter"
	"slices"
)

// Header is an ordered list of header fields. Names and values live in one
// byte arena owned by the Header, so parsing a request head costs one copy and
// no allocation per field once the arena has grown to fit, and a Header can be
// Reset and reused across requests on a connection.
//
// Names keep the case they were received or added with; lookups are
// ASCII-case-insensitive as RFC 9110 5.1 requires.
type Header struct {
	arena  []byte
	fields []field
}

// field locates one name: value pair in the arena: the name is
// arena[start:colon], the value arena[colon:end].
type field struct {
	start, colon, end uint32
}

// Reset empties the header, keeping its storage for reuse.
func (h *Header) Reset() {
	h.arena = h.arena[:0]
	h.fields = h.fields[:0]
}

// Grow makes room for n more bytes of names and values, so that adding
// fields of a known total size grows the storage once.
func (h *Header) Grow(n int) { h.arena = slices.Grow(h.arena, n) }

// Len reports the number of fields, counting repeated names separately.
func (h *Header) Len() int { return len(h.fields) }

// Field returns the name and value of the i-th field. The slices alias the
// header's storage and are valid until it is next modified.
func (h *Header) Field(i int) (name, value []byte) {
	f := h.fields[i]
	return h.arena[f.start:f.colon], h.arena[f.colon:f.end]
}

// All iterates over every field in order.
func (h *Header) All() iter.Seq2[[]byte, []byte] {
	return func(yield func(name, value []byte) bool) {
		for i := range h.fields {
			if !yield(h.Field(i)) {
				return
			}
		}
	}
}

// Values iterates over the values of every field named name, in order.
func (h *Header) Values(name string) iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		for i := range h.fields {
			n, v := h.Field(i)
			if EqualFold(n, name) && !yield(v) {
				return
			}
		}
	}
}

// index returns the position of the first field named name, or -1.
func (h *Header) index(name string) int {
	for i, f := range h.fields {
		if EqualFold(h.arena[f.start:f.colon], name) {
			return i
		}
	}
	return -1
}

// Get returns the first value of the field named name, or nil when absent.
func (h *Header) Get(name string) []byte {
	if i := h.index(name); i >= 0 {
		_, v := h.Field(i)
		return v
	}
	return nil
}

// Has reports whether a field named name is present (possibly empty).
func (h *Header) Has(name string) bool { return h.index(name) >= 0 }

// Count reports how many fields are named name.
func (h *Header) Count(name string) int {
	n := 0
	for i := range h.fields {
		if k, _ := h.Field(i); EqualFold(k, name) {
			n++
		}
	}
	return n
}

// HasToken reports whether any field named name carries token as one of
// its comma-separated list elements (case-insensitively, parameters after
// ';' ignored), as used by Connection, Transfer-Encoding and Vary.
func (h *Header) HasToken(name, token string) bool {
	for v := range h.Values(name) {
		for elem := range ListElements(v) {
			if EqualFold(elem, token) {
				return true
			}
		}
	}
	return false
}

// Add appends a field. The caller is responsible for valid bytes: Header
// does not check, because the serializer validates on the way out.
func (h *Header) Add(name, value string) {
	start := len(h.arena)
	h.arena = append(h.arena, name...)
	colon := len(h.arena)
	h.arena = append(h.arena, value...)
	h.fields = append(h.fields, field{uint32(start), uint32(colon), uint32(len(h.arena))})
}

// AddBytes is Add for byte slices.
func (h *Header) AddBytes(name, value []byte) {
	start := len(h.arena)
	h.arena = append(h.arena, name...)
	colon := len(h.arena)
	h.arena = append(h.arena, value...)
	h.fields = append(h.fields, field{uint32(start), uint32(colon), uint32(len(h.arena))})
}

// Set replaces every field named name with one field holding value.
func (h *Header) Set(name, value string) {
	h.Del(name)
	h.Add(name, value)
}

// Del removes every field named name. The arena bytes stay until Reset:
// headers are short-lived, and compaction would cost more than it saves.
func (h *Header) Del(name string) {
	kept := h.fields[:0]
	for _, f := range h.fields {
		if !EqualFold(h.arena[f.start:f.colon], name) {
			kept = append(kept, f)
		}
	}
	h.fields = kept
}

// CopyFrom replaces h's fields with a copy of src's.
func (h *Header) CopyFrom(src *Header) {
	h.arena = append(h.arena[:0], src.arena...)
	h.fields = append(h.fields[:0], src.fields...)
}

// writeTo serializes the fields as "Name: value\r\n" lines. Values that
// would break the framing (CR, LF, NUL) are the caller's bug; writeTo drops
// such a field rather than let a handler smuggle a header into the wire.
func (h *Header) writeTo(w *bufio.Writer) {
	for i := range h.fields {
		name, value := h.Field(i)
		if !IsToken(name) || !validFieldValue(value) {
			continue
		}
		w.Write(name)
		w.WriteString(": ")
		w.Write(value)
		w.WriteString("\r\n")
	}
}

// CommaList iterates over the members of a comma-separated field value
// (RFC 9110 5.6.1), trimmed of whitespace, empty members skipped, any
// ";parameters" kept.
func CommaList(v []byte) iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		for len(v) > 0 {
			var elem []byte
			elem, v = cutByte(v, ',')
			if elem = trimOWS(elem); len(elem) > 0 && !yield(elem) {
				return
			}
		}
	}
}

// ListElements is CommaList with the ";parameters" of each member cut
// off, for lists of bare tokens such as Connection and Vary.
func ListElements(v []byte) iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		for elem := range CommaList(v) {
			if i := indexByte(elem, ';'); i >= 0 {
				elem = trimOWS(elem[:i])
			}
			if len(elem) > 0 && !yield(elem) {
				return
			}
		}
	}
}

func cutByte(b []byte, c byte) (before, after []byte) {
	if i := indexByte(b, c); i >= 0 {
		return b[:i], b[i+1:]
	}
	return b, nil
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// EqualFold reports whether b and s are equal under ASCII case folding,
// which is all HTTP field names and tokens need.
func EqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		x, y := b[i], s[i]
		if x == y {
			continue
		}
		if x|0x20 != y|0x20 || x|0x20 < 'a' || x|0x20 > 'z' {
			return false
		}
	}
	return true
}
