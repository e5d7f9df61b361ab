package cache

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sampleEntry is a representative entry with Vary'd fields and headers.
func sampleEntry() *Entry {
	e := &Entry{
		Key: "GET http://example.com/a?b=c", Status: 200, Size: 1234,
		Times:     Times{Request: epoch, Response: epoch.Add(time.Second)},
		Freshness: Freshness{Lifetime: time.Hour, StaleIfError: time.Minute},
		gen:       2, bodyGen: 1,
		vary: []varyField{
			{name: "accept-encoding", value: "gzip,br", present: true},
			{name: "accept-language"},
		},
	}
	e.Header.Add("Content-Type", "text/html; charset=utf-8")
	e.Header.Add("Vary", "Accept-Encoding, Accept-Language")
	e.Header.Add("ETag", `"abc"`)
	return e
}

func TestMetaRoundTrip(t *testing.T) {
	e := sampleEntry()
	b := appendMeta(nil, e)
	d, err := decodeMeta(b)
	require.NoError(t, err)
	assert.Equal(t, e.Key, d.Key)
	assert.Equal(t, e.Status, d.Status)
	assert.Equal(t, e.Size, d.Size)
	assert.True(t, d.Times.Request.Equal(e.Times.Request))
	assert.True(t, d.Times.Response.Equal(e.Times.Response))
	assert.Equal(t, e.Freshness, d.Freshness)
	assert.Equal(t, e.vary, d.vary)
	assert.Equal(t, e.gen, d.gen)
	assert.Equal(t, e.bodyGen, d.bodyGen)
	assert.Equal(t, b, appendMeta(nil, d))
	assert.EqualValues(t, len(b), d.metaLen)
	require.NoError(t, checkEncodable(e))
}

// TestMetaLimits: what the format cannot hold is refused before a byte
// is written, and the size check agrees with the encoder.
func TestMetaLimits(t *testing.T) {
	e := sampleEntry()
	e.Header.Add("X-Big", strings.Repeat("v", maxMeta-len(appendMeta(nil, e))-2-5-4))
	require.NoError(t, checkEncodable(e))
	assert.Len(t, appendMeta(nil, e), maxMeta, "exactly at the limit")
	e.Header.Add("X", "")
	assert.ErrorContains(t, checkEncodable(e), "at most 1048576 can be stored")

	e = sampleEntry()
	e.Header.Add(strings.Repeat("n", 0x10000), "v")
	assert.ErrorContains(t, checkEncodable(e), "a header field name of 65536 bytes")

	dir := t.TempDir()
	s, _ := open(t, dir, Options{})
	_, err := s.Begin("k", header(), response(0, "Vary", strings.Repeat("n", 0x10000)))
	assert.ErrorContains(t, err, "a Vary'd field name of 65536 bytes")
	stored := put(t, s, "k", header(), "body")
	_, err = s.UpdateHeaders(stored, header("X-Big", strings.Repeat("v", maxMeta)), stored.Times, stored.Freshness)
	assert.ErrorContains(t, err, "can be stored")
	assert.Len(t, diskFiles(t, dir), 2)
}

// TestMetaRejectsDamage: every single-bit flip and every truncation of a
// valid metadata file is refused.
func TestMetaRejectsDamage(t *testing.T) {
	b := appendMeta(nil, sampleEntry())
	for i := range len(b) * 8 {
		c := bytes.Clone(b)
		c[i/8] ^= 1 << (i % 8)
		_, err := decodeMeta(c)
		require.ErrorIs(t, err, errCorrupt, "bit %d", i)
	}
	for n := range len(b) {
		_, err := decodeMeta(b[:n])
		require.ErrorIs(t, err, errCorrupt, "%d bytes", n)
	}
	_, err := decodeMeta(append(bytes.Clone(b), 0))
	require.ErrorIs(t, err, errCorrupt, "a trailing byte")
}

// TestMetaRejectsNonsense: a correct checksum over wrong values is refused.
func TestMetaRejectsNonsense(t *testing.T) {
	for name, spoil := range map[string]func(e *Entry){
		"status":          func(e *Entry) { e.Status = 1000 },
		"size":            func(e *Entry) { e.Size = -1 },
		"generation":      func(e *Entry) { e.gen = 0 },
		"body generation": func(e *Entry) { e.bodyGen = e.gen + 1 },
		"Vary order":      func(e *Entry) { e.vary[0], e.vary[1] = e.vary[1], e.vary[0] },
		"Vary case":       func(e *Entry) { e.vary[0].name = "Accept-Encoding" },
		"absent value":    func(e *Entry) { e.vary[1].value = "x" },
		"field name":      func(e *Entry) { e.Header.Add("Bad Name", "x") },
		"field value":     func(e *Entry) { e.Header.Add("X", "a\r\nb") },
	} {
		e := sampleEntry()
		spoil(e)
		_, err := decodeMeta(appendMeta(nil, e))
		assert.ErrorIs(t, err, errCorrupt, name)
	}
}

// FuzzDecodeMeta: no input makes the decoder panic, and nothing decodes
// unless its checksum holds and it is the canonical encoding of what it
// decodes to.
func FuzzDecodeMeta(f *testing.F) {
	f.Add(appendMeta(nil, sampleEntry()))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := decodeMeta(data)
		if err != nil {
			require.Nil(t, e)
			return
		}
		n := len(data)
		require.Equal(t, crc32.Checksum(data[:n-4], castagnoli), binary.LittleEndian.Uint32(data[n-4:]))
		require.Equal(t, data, appendMeta(nil, e))
		require.NoError(t, e.validate())
	})
}

// FuzzDecodePayload frames arbitrary payloads with a correct checksum, so
// that the fuzzer explores the decoder past it: still no panic, and what
// decodes is canonical and valid.
func FuzzDecodePayload(f *testing.F) {
	f.Add(appendMeta(nil, sampleEntry())[metaHead:])
	f.Add(appendMeta(nil, &Entry{Status: 204, gen: 1, bodyGen: 1})[metaHead:])
	f.Fuzz(func(t *testing.T, payload []byte) {
		if len(payload) > maxMeta {
			return
		}
		data := binary.LittleEndian.AppendUint32([]byte(metaMagic), uint32(len(payload)))
		data = append(data, payload...)
		data = binary.LittleEndian.AppendUint32(data, crc32.Checksum(data, castagnoli))
		e, err := decodeMeta(data)
		if err != nil {
			require.Nil(t, e)
			return
		}
		require.Equal(t, data, appendMeta(nil, e))
	})
}
