//go:build unix

package cache

import (
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// rebuildDir is the 100k-entry directory BenchmarkOpen100k builds once;
// TestMain removes it.
var (
	rebuildOnce sync.Once
	rebuildDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if rebuildDir != "" {
		os.RemoveAll(rebuildDir)
	}
	os.Exit(code)
}

func BenchmarkLookupHit(b *testing.B) {
	for _, tc := range []struct {
		name string
		vary []string
	}{
		{"plain", nil},
		{"vary", []string{"Vary", "Accept-Encoding, Accept-Language"}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			s, _ := open(b, b.TempDir(), Options{})
			req := header("Accept-Encoding", "gzip, deflate, br, zstd", "Accept-Language", "en-GB,en;q=0.9", "User-Agent", "bench")
			keys := keyed(100)
			for _, k := range keys {
				put(b, s, k, req, "body", tc.vary...)
			}
			key := keys[50]
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if s.Lookup(key, req) == nil {
						b.Error("miss")
					}
				}
			})
		})
	}
}

func BenchmarkStore(b *testing.B) {
	for _, size := range []int{1 << 10, 1 << 20} {
		b.Run(strconv.Itoa(size>>10)+"KiB", func(b *testing.B) {
			s, _ := open(b, b.TempDir(), Options{MaxEntries: 100})
			body := []byte(strings.Repeat("x", size))
			keys := keyed(1000)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				w, err := s.Begin(keys[i%len(keys)], header(), response(size, "Content-Type", "text/plain"))
				if err != nil {
					b.Fatal(err)
				}
				for off := 0; off < size; off += 32 << 10 {
					w.Write(body[off:min(size, off+32<<10)])
				}
				if _, err := w.Commit(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkOpen100k measures the index rebuild of a store of 100,000
// entries (page cache warm: the files were just written).
func BenchmarkOpen100k(b *testing.B) {
	const n = 100_000
	rebuildOnce.Do(func() { rebuildDir = populate(b, n) })
	if rebuildDir == "" {
		b.Fatal("no directory")
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	cpu := cpuTime()
	for b.Loop() {
		s, err := Open(rebuildDir, Options{Logger: quiet})
		require.NoError(b, err)
		if got := s.Stats().Entries; got != n {
			b.Fatalf("%d entries, want %d", got, n)
		}
		s.Close()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/entry")
	// The machine may be shared: CPU time is the steadier figure.
	b.ReportMetric(float64((cpuTime()-cpu).Nanoseconds())/float64(b.N)/n, "cpu-ns/entry")
}

// cpuTime is the process's user and system time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// populate writes n entries with typical headers straight into place, as
// many commits would, but without their fsyncs.
func populate(b *testing.B, n int) string {
	dir, err := os.MkdirTemp("", "cache-bench-")
	require.NoError(b, err)
	s, err := Open(dir, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(b, err)
	defer s.Close()
	body := []byte(strings.Repeat("b", 2048))
	for i := range n {
		key := "GET http://example.com/static/" + strconv.Itoa(i) + ".js"
		e := &Entry{
			Key: key, Status: 200, Size: int64(len(body)),
			Times:     response(0).Times,
			Freshness: response(0).Freshness,
			vary:      []varyField{{name: "accept-encoding", value: "gzip,br", present: true}},
		}
		for _, kv := range [][2]string{
			{"Content-Type", "text/javascript; charset=utf-8"}, {"ETag", `"` + strconv.Itoa(i) + `-5f3a"`},
			{"Last-Modified", "Sun, 29 Nov 2026 09:00:00 GMT"}, {"Cache-Control", "public, max-age=3600"},
			{"Vary", "Accept-Encoding"}, {"Date", "Sun, 29 Nov 2026 10:00:00 GMT"}, {"Server", "origin"},
		} {
			e.Header.Add(kv[0], kv[1])
		}
		e.id = idOf(key, e.vary)
		e.bodyGen = s.nextGen()
		e.gen = s.nextGen()
		require.NoError(b, os.WriteFile(bodyPath(s.root, e.id, e.bodyGen), body, 0o644))
		require.NoError(b, s.writeMeta(e))
	}
	return dir
}
