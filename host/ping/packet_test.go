package ping

import (
	"bytes"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPacketRoundTrip(t *testing.T) {
	for _, p := range []Packet{{Seq: 1, Sent: 0}, {Seq: 42, Sent: 1_234_567_890}, {Seq: math.MaxUint64, Sent: math.MaxInt64}, {Seq: 7, Sent: -1}} {
		b := p.Append(nil)
		require.Len(t, b, Size)
		got, err := Decode(b)
		require.NoError(t, err)
		assert.Equal(t, p, got)
	}
	assert.Equal(t, []byte("xWHP1\x00\x00\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x00\x00\x00\x03"),
		Packet{Seq: 0x102, Sent: 3}.Append([]byte("x")), "appended, big-endian, after the magic")
}

func TestDecodeRefuses(t *testing.T) {
	valid := Packet{Seq: 1, Sent: 2}.Append(nil)
	for _, tt := range []struct {
		name string
		data []byte
		is   error
		msg  string
	}{
		{"empty", nil, ErrLength, "wrong length: 0 bytes, want 20"},
		{"short", valid[:Size-1], ErrLength, "19 bytes"},
		{"long", append(bytes.Clone(valid), 0), ErrLength, "21 bytes"},
		{"text", []byte("PING 1 1700000000.00"), ErrMagic, `it opens with "PING", not "WHP1"`},
		{"other version", append([]byte("WHP2"), valid[4:]...), ErrMagic, `"WHP2"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode(tt.data)
			require.ErrorIs(t, err, tt.is)
			assert.ErrorContains(t, err, tt.msg)
		})
	}
}

// FuzzDecode checks that no datagram makes Decode panic, and that what it
// accepts is exactly what Append writes.
func FuzzDecode(f *testing.F) {
	f.Add(Packet{Seq: 1, Sent: 1000}.Append(nil))
	f.Add(Packet{Seq: math.MaxUint64, Sent: -1}.Append(nil))
	f.Add([]byte("WHP1"))
	f.Add([]byte("PING 1 1700000000.00"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Decode(data)
		if err != nil {
			assert.Equal(t, Packet{}, p)
			return
		}
		assert.Equal(t, data, p.Append(nil))
	})
}
