package mail

import (
	"testing"
)

// BenchmarkBytes composes a message with a short text and a 1 MiB
// attachment.
func BenchmarkBytes(b *testing.B) {
	m := message()
	m.Text = "Grüße aus Köln: the cache is full again.\n"
	m.Attachments = []Attachment{{Name: "log.txt", Data: make([]byte, 1<<20)}}
	b.SetBytes(1 << 20)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Bytes(); err != nil {
			b.Fatal(err)
		}
	}
}
