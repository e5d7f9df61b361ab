package cache

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"

	"wasmhttpd/host/http1"
)

// varyField is one request field a stored response varies on, as it was in
// the request that produced the response: its name in lower case and its
// value normalized, or present false when the request lacked the field
// (RFC 9111 4.1: an absent field matches only an absent field).
type varyField struct {
	name    string
	value   string
	present bool
}

// varyNames returns the field names the response's Vary lists, lower-cased,
// deduplicated and sorted so that the secondary key does not depend on
// their order, and whether it lists "*".
func varyNames(resp *http1.Header) (names []string, star bool) {
	for v := range resp.Values("Vary") {
		for elem := range http1.ListElements(v) {
			if string(elem) == "*" {
				star = true
				continue
			}
			names = append(names, strings.ToLower(string(elem)))
		}
	}
	slices.Sort(names)
	return slices.Compact(names), star
}

// selectFields records the request's values of the fields names.
func selectFields(req *http1.Header, names []string) []varyField {
	if len(names) == 0 {
		return nil
	}
	fields := make([]varyField, len(names))
	var buf []byte
	for i, name := range names {
		var present bool
		buf, present = normalizedValue(buf[:0], req, name)
		fields[i] = varyField{name: name, value: string(buf), present: present}
	}
	return fields
}

// matches reports whether req presents the same values as the request
// that produced a response varying on fields. Only this lookup path runs
// per hit, so it normalizes into a stack buffer.
func matches(fields []varyField, req *http1.Header) bool {
	var scratch [256]byte
	for _, f := range fields {
		v, present := normalizedValue(scratch[:0], req, f.name)
		if present != f.present || string(v) != f.value {
			return false
		}
	}
	return true
}

// caseInsensitive lists the Vary'd fields whose values compare without
// regard to case: content codings, language tags, charsets and media
// types are all case-insensitive (RFC 9110 8.4.1, 8.5.1, 8.3.1, 8.3.2).
var caseInsensitive = []string{"accept", "accept-charset", "accept-encoding", "accept-language"}

// normalizedValue appends the request's value of the field name to dst in
// a canonical form, so that requests that mean the same thing select the
// same variant (RFC 9111 4.1 allows normalizations that keep the field's
// semantics): every field line of the name combined into one list (RFC
// 9110 5.3), members separated by a bare comma, empty members dropped,
// whitespace outside quoted strings removed (list and parameter syntax
// only allows it as OWS), and the case folded for the fields in
// caseInsensitive. present reports whether the request had the field.
func normalizedValue(dst []byte, req *http1.Header, name string) (_ []byte, present bool) {
	fold := slices.Contains(caseInsensitive, name)
	for v := range req.Values(name) {
		present = true
		for elem := range http1.CommaList(v) {
			if len(dst) > 0 {
				dst = append(dst, ',')
			}
			quoted, escaped := false, false
			for _, c := range elem {
				switch {
				case escaped:
					escaped = false
				case quoted && c == '\\':
					escaped = true
				case c == '"':
					quoted = !quoted
				case !quoted && (c == ' ' || c == '\t'):
					continue
				case !quoted && fold && 'A' <= c && c <= 'Z':
					c += 'a' - 'A'
				}
				dst = append(dst, c)
			}
		}
	}
	return dst, present
}

// entryID names a variant on disk: the first 128 bits of SHA-256 over the
// primary key and the variant's Vary'd fields. 128 bits make a collision
// between two keys a non-event; the metadata still holds the key and the
// fields, and a loaded entry whose ID does not match them is dropped.
type entryID [16]byte

func (id entryID) String() string { return hex.EncodeToString(id[:]) }

// idOf derives the ID of the variant of key that varies on fields. Every
// part is length-prefixed, so no two (key, fields) pairs hash the same
// bytes.
func idOf(key string, fields []varyField) entryID {
	h := sha256.New()
	var buf []byte
	buf = appendString32(buf, key)
	for _, f := range fields {
		buf = appendString16(buf, f.name)
		buf = appendBool(buf, f.present)
		buf = appendString32(buf, f.value)
	}
	h.Write(buf)
	var id entryID
	copy(id[:], h.Sum(nil))
	return id
}
