package cache

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"
	"time"

	"wasmhttpd/host/http1"
)

// The metadata file: magic, payload length, payload, CRC-32C of all that
// precedes it. See the package documentation for the payload's fields.
const (
	metaMagic = "WHC\x01"
	// metaHead is the magic and the payload length.
	metaHead = len(metaMagic) + 4
	// maxMeta bounds a metadata file, so a corrupt length cannot make
	// the loader allocate without limit. Stored headers are far smaller:
	// the request parser caps a header section at limits.max_header_bytes.
	maxMeta = 1 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errCorrupt is wrapped by every decoding failure.
var errCorrupt = errors.New("corrupt metadata")

// appendMeta encodes e's metadata.
func appendMeta(dst []byte, e *Entry) []byte {
	start := len(dst)
	dst = append(dst, metaMagic...)
	dst = binary.LittleEndian.AppendUint32(dst, 0) // payload length, set below
	dst = binary.LittleEndian.AppendUint64(dst, e.gen)
	dst = binary.LittleEndian.AppendUint64(dst, e.bodyGen)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(e.Size))
	dst = binary.LittleEndian.AppendUint16(dst, uint16(e.Status))
	dst = appendTime(dst, e.Times.Request)
	dst = appendTime(dst, e.Times.Response)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(e.Freshness.Lifetime))
	dst = binary.LittleEndian.AppendUint64(dst, uint64(e.Freshness.StaleWhileRevalidate))
	dst = binary.LittleEndian.AppendUint64(dst, uint64(e.Freshness.StaleIfError))
	dst = appendString32(dst, e.Key)
	dst = binary.LittleEndian.AppendUint16(dst, uint16(len(e.vary)))
	for _, f := range e.vary {
		dst = appendString16(dst, f.name)
		dst = appendBool(dst, f.present)
		dst = appendString32(dst, f.value)
	}
	dst = binary.LittleEndian.AppendUint32(dst, uint32(e.Header.Len()))
	for name, value := range e.Header.All() {
		dst = appendString16(dst, string(name))
		dst = appendString32(dst, string(value))
	}
	binary.LittleEndian.PutUint32(dst[start+len(metaMagic):], uint32(len(dst)-start-metaHead))
	return binary.LittleEndian.AppendUint32(dst, crc32.Checksum(dst[start:], castagnoli))
}

func appendTime(dst []byte, t time.Time) []byte {
	return binary.LittleEndian.AppendUint64(dst, uint64(t.UnixNano()))
}

func appendString16(dst []byte, s string) []byte {
	return append(binary.LittleEndian.AppendUint16(dst, uint16(len(s))), s...)
}

func appendString32(dst []byte, s string) []byte {
	return append(binary.LittleEndian.AppendUint32(dst, uint32(len(s))), s...)
}

func appendBool(dst []byte, b bool) []byte {
	if b {
		return append(dst, 1)
	}
	return append(dst, 0)
}

// fixedPayload is the size of the payload's fixed-width fields: three
// u64 generations and size, the u16 status, five i64 times and durations,
// and the three counts and key length.
const fixedPayload = 3*8 + 2 + 5*8 + 4 + 2 + 4

// checkEncodable reports whether e's metadata fits the format: names
// within u16 lengths, at most 65535 Vary'd fields, and the whole file
// within maxMeta. Begin and UpdateHeaders check it, so that what is
// written can be read back.
func checkEncodable(e *Entry) error {
	size := metaHead + fixedPayload + len(e.Key) + 4
	if len(e.vary) > 0xffff {
		return fmt.Errorf("cache: %d Vary'd fields, at most %d can be stored", len(e.vary), 0xffff)
	}
	for _, f := range e.vary {
		if len(f.name) > 0xffff {
			return fmt.Errorf("cache: a Vary'd field name of %d bytes", len(f.name))
		}
		size += 2 + len(f.name) + 1 + 4 + len(f.value)
	}
	for name, value := range e.Header.All() {
		if len(name) > 0xffff {
			return fmt.Errorf("cache: a header field name of %d bytes", len(name))
		}
		size += 2 + len(name) + 4 + len(value)
	}
	if size > maxMeta {
		return fmt.Errorf("cache: %d bytes of metadata, at most %d can be stored", size, maxMeta)
	}
	return nil
}

// metaLength returns the length of the whole metadata file whose first
// metaHead bytes are head, so the loader knows how much to read.
func metaLength(head []byte) (int, error) {
	if len(head) < metaHead || string(head[:len(metaMagic)]) != metaMagic {
		return 0, fmt.Errorf("%w: bad magic", errCorrupt)
	}
	n := int(binary.LittleEndian.Uint32(head[len(metaMagic):]))
	if n > maxMeta {
		return 0, fmt.Errorf("%w: payload of %d bytes exceeds %d", errCorrupt, n, maxMeta)
	}
	return metaHead + n + 4, nil
}

// decodeMeta decodes a whole metadata file. Only bytes whose checksum
// holds are trusted; past that every length and value is still checked,
// and the encoding is canonical: what decodes re-encodes to the same bytes.
func decodeMeta(b []byte) (*Entry, error) {
	n, err := metaLength(b)
	if err != nil {
		return nil, err
	}
	if len(b) != n {
		return nil, fmt.Errorf("%w: %d bytes, the header says %d", errCorrupt, len(b), n)
	}
	body, sum := b[:n-4], binary.LittleEndian.Uint32(b[n-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return nil, fmt.Errorf("%w: checksum mismatch", errCorrupt)
	}
	d := decoder{b: body[metaHead:]}
	e := &Entry{
		gen:     d.u64(),
		bodyGen: d.u64(),
		Size:    int64(d.u64()),
		Status:  int(d.u16()),
	}
	e.Times.Request = d.time()
	e.Times.Response = d.time()
	e.Freshness.Lifetime = time.Duration(d.u64())
	e.Freshness.StaleWhileRevalidate = time.Duration(d.u64())
	e.Freshness.StaleIfError = time.Duration(d.u64())
	e.Key = string(d.bytes32())
	if nv := int(d.u16()); nv > 0 && d.err == nil {
		e.vary = make([]varyField, 0, min(nv, len(d.b)))
		for range nv {
			f := varyField{name: string(d.bytes16())}
			f.present = d.bool()
			f.value = string(d.bytes32())
			e.vary = append(e.vary, f)
		}
	}
	nh := d.u32()
	// The fields' bytes are what remains of the payload.
	e.Header.Grow(len(d.b))
	for range nh {
		name, value := d.bytes16(), d.bytes32()
		if d.err != nil {
			break
		}
		e.Header.AddBytes(name, value)
	}
	if d.err == nil && len(d.b) > 0 {
		d.fail("%d trailing bytes", len(d.b))
	}
	if d.err == nil {
		d.err = e.validate()
	}
	if d.err != nil {
		return nil, d.err
	}
	e.metaLen = int64(n)
	return e, nil
}

// validate checks what the checksum cannot: that the values make sense.
func (e *Entry) validate() error {
	switch {
	case e.Status < 100 || e.Status > 999:
		return fmt.Errorf("%w: status %d", errCorrupt, e.Status)
	case e.Size < 0:
		return fmt.Errorf("%w: size %d", errCorrupt, e.Size)
	case e.gen == 0 || e.bodyGen == 0 || e.bodyGen > e.gen:
		return fmt.Errorf("%w: generations %d/%d", errCorrupt, e.gen, e.bodyGen)
	}
	for i, f := range e.vary {
		if !http1.IsToken([]byte(f.name)) || strings.ToLower(f.name) != f.name ||
			i > 0 && e.vary[i-1].name >= f.name || !f.present && f.value != "" {
			return fmt.Errorf("%w: Vary field %q", errCorrupt, f.name)
		}
	}
	for name, value := range e.Header.All() {
		if !http1.IsToken(name) || !validValue(value) {
			return fmt.Errorf("%w: header field %q", errCorrupt, name)
		}
	}
	return nil
}

// validValue reports whether v can be a field value: no control bytes but
// HTAB (RFC 9110 5.5).
func validValue(v []byte) bool {
	for _, c := range v {
		if c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// decoder reads little-endian fields, remembering the first shortfall.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: "+format, append([]any{errCorrupt}, args...)...)
	}
	d.b = nil
}

func (d *decoder) take(n int) []byte {
	if n > len(d.b) {
		d.fail("truncated")
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) u16() uint16 {
	if v := d.take(2); v != nil {
		return binary.LittleEndian.Uint16(v)
	}
	return 0
}

func (d *decoder) u32() uint32 {
	if v := d.take(4); v != nil {
		return binary.LittleEndian.Uint32(v)
	}
	return 0
}

func (d *decoder) u64() uint64 {
	if v := d.take(8); v != nil {
		return binary.LittleEndian.Uint64(v)
	}
	return 0
}

func (d *decoder) time() time.Time { return time.Unix(0, int64(d.u64())) }

func (d *decoder) bool() bool {
	v := d.take(1)
	if v != nil && v[0] > 1 {
		d.fail("boolean %d", v[0])
	}
	return v != nil && v[0] == 1
}

func (d *decoder) bytes16() []byte { return d.take(int(d.u16())) }
func (d *decoder) bytes32() []byte { return d.take(int(d.u32())) }
