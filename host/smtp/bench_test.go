package smtp

import (
	"bufio"
	"bytes"
	"io"
	"testing"
)

// BenchmarkDataWriter measures dot-stuffing and line-end normalisation of
// a 1 MiB message of 76-character lines, some starting with a dot.
func BenchmarkDataWriter(b *testing.B) {
	line := append(bytes.Repeat([]byte("x"), 74), '\r', '\n')
	msg := bytes.Repeat(append(append([]byte(nil), line...), append([]byte("."), line[1:]...)...), 1<<20/len(line)/2)
	w := bufio.NewWriter(io.Discard)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		d := &dataWriter{w: w, bol: true}
		d.Write(msg)
		d.Close()
	}
}
