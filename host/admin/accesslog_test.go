package admin

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"wasmhttpd/host/http1"
)

// noLeaks fails the test if goroutines started during it outlive it. Call it
// first, so that its cleanup runs last.
func noLeaks(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(2 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				t.Fatalf("goroutines: %d before, %d after\n%s", before, runtime.NumGoroutine(),
					buf[:runtime.Stack(buf, true)])
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}

func newLog(t *testing.T, opts AccessLogOptions) *AccessLog {
	t.Helper()
	l, err := NewAccessLog(opts)
	require.NoError(t, err)
	return l
}

// numbered returns an entry whose target identifies it.
func numbered(i int) *Entry {
	e := sampleEntry()
	e.Target = fmt.Appendf(nil, "/line/%06d", i)
	return &e
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	require.NoError(t, err)
	return string(b)
}

func gunzip(t *testing.T, name string) string {
	t.Helper()
	f, err := os.Open(name)
	require.NoError(t, err)
	defer f.Close()
	zr, err := gzip.NewReader(f)
	require.NoError(t, err)
	b, err := io.ReadAll(zr)
	require.NoError(t, err)
	return string(b)
}

// rotatedFiles lists the rotated files beside path, oldest first.
func rotatedFiles(t *testing.T, path string) []string {
	t.Helper()
	files, err := listRotated(filepath.Dir(path), filepath.Base(path))
	require.NoError(t, err)
	var names []string
	for _, r := range slices.Backward(files) {
		name := filepath.Join(filepath.Dir(path), r.base)
		if r.gz {
			name += ".gz"
		}
		names = append(names, name)
	}
	return names
}

// allLines reads the current file and its rotated files, oldest first.
func allLines(t *testing.T, path string) []string {
	t.Helper()
	var text strings.Builder
	for _, name := range rotatedFiles(t, path) {
		if strings.HasSuffix(name, ".gz") {
			text.WriteString(gunzip(t, name))
		} else {
			text.WriteString(readFile(t, name))
		}
	}
	text.WriteString(readFile(t, path))
	return lines(text.String())
}

// lines splits text into lines, each with its newline.
func lines(text string) []string {
	l := strings.SplitAfter(text, "\n")
	if l[len(l)-1] == "" {
		l = l[:len(l)-1]
	}
	return l
}

func TestCloseFlushes(t *testing.T) {
	noLeaks(t)
	for _, format := range []string{"combined", "json"} {
		t.Run(format, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "logs", "access.log") // the directory is created
			l := newLog(t, AccessLogOptions{Path: path, Format: format})
			e := sampleEntry()
			l.Log(&e)
			require.NoError(t, l.Close())
			want := combined(e)
			if format == "json" {
				want = jsonLine(e)
			}
			assert.Equal(t, want, readFile(t, path))

			// Close is idempotent, and a closed log drops lines.
			assert.NoError(t, l.Close())
			l.Log(&e)
			assert.ErrorIs(t, l.Rotate(), os.ErrClosed)
			assert.Equal(t, want, readFile(t, path))
		})
	}
}

func TestBufferedUntilFlusherRuns(t *testing.T) {
	noLeaks(t)
	path := filepath.Join(t.TempDir(), "access.log")
	l := newLog(t, AccessLogOptions{Path: path})
	defer l.Close()
	e := sampleEntry()
	l.Log(&e)
	assert.Empty(t, readFile(t, path), "a line costs no syscall of its own")
	assert.Eventually(t, func() bool { return readFile(t, path) == combined(e) },
		3*flushEvery, 10*time.Millisecond, "the flusher writes within a second")
}

func TestAppendsToExistingFile(t *testing.T) {
	noLeaks(t)
	path := filepath.Join(t.TempDir(), "access.log")
	require.NoError(t, os.WriteFile(path, []byte("earlier\n"), 0o600))
	l := newLog(t, AccessLogOptions{Path: path, MaxAge: time.Hour})
	e := sampleEntry()
	l.Log(&e)
	require.NoError(t, l.Close())
	assert.Equal(t, "earlier\n"+combined(e), readFile(t, path))
	assert.Empty(t, rotatedFiles(t, path))
}

func TestOff(t *testing.T) {
	noLeaks(t)
	dir := t.TempDir()
	t.Chdir(dir)
	l := newLog(t, AccessLogOptions{Path: "off", Format: "json", MaxSize: 1, MaxAge: time.Millisecond, Compress: true})
	e := sampleEntry()
	l.Log(&e)
	assert.NoError(t, l.Rotate())
	assert.NoError(t, l.Close())
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, ents, "no file, not even one named \"off\"")
	assert.Zero(t, testing.AllocsPerRun(100, func() { l.Log(&e) }))

	// A nil or zero AccessLog is as quiet, so that wiring can skip it.
	for _, l := range []*AccessLog{nil, {}} {
		l.Log(&e)
		l.Observe(&http1.Exchange{}, time.Second)
		assert.NoError(t, l.Rotate())
		assert.NoError(t, l.Close())
	}
}

func TestStdout(t *testing.T) {
	noLeaks(t)
	// os.Stdout is taken when the log opens, so a file can stand in for it.
	out, err := os.Create(filepath.Join(t.TempDir(), "stdout"))
	require.NoError(t, err)
	defer out.Close()
	saved := os.Stdout
	os.Stdout = out
	l, err := NewAccessLog(AccessLogOptions{Path: "stdout", Format: "json", MaxSize: 10})
	os.Stdout = saved
	require.NoError(t, err)

	e := sampleEntry()
	l.Log(&e)
	l.Log(&e) // MaxSize does not apply to a stream
	require.NoError(t, l.Rotate())
	require.NoError(t, l.Close())
	_, err = out.WriteString("still open\n")
	require.NoError(t, err, "Close must not close stdout")
	assert.Equal(t, jsonLine(e)+jsonLine(e)+"still open\n", readFile(t, out.Name()))
}

func TestOptionErrors(t *testing.T) {
	noLeaks(t)
	dir := t.TempDir()
	for _, opts := range []AccessLogOptions{
		{Path: ""},
		{Path: "stdout", Format: "common"},
		{Path: filepath.Join(dir, "a.log"), MaxSize: -1},
		{Path: filepath.Join(dir, "a.log"), MaxAge: -time.Second},
		{Path: filepath.Join(dir, "a.log"), Keep: -1},
		{Path: dir}, // a directory
	} {
		l, err := NewAccessLog(opts)
		assert.Error(t, err, "%+v", opts)
		assert.Nil(t, l)
	}
}

func TestSizeRotation(t *testing.T) {
	noLeaks(t)
	const maxSize = 1000
	path := filepath.Join(t.TempDir(), "access.log")
	l := newLog(t, AccessLogOptions{Path: path, MaxSize: maxSize})
	var want []string
	for i := range 40 {
		l.Log(numbered(i))
		want = append(want, combined(*numbered(i)))
	}
	require.NoError(t, l.Close())

	rotated := rotatedFiles(t, path)
	lineLen := len(want[0])
	perFile := maxSize / lineLen
	assert.Len(t, rotated, (len(want)-1)/perFile, "each file holds as many whole lines as fit")
	for _, name := range rotated {
		assert.Regexp(t, `/access-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3}\.log$`, filepath.ToSlash(name))
	}
	for _, name := range append(rotated, path) {
		assert.LessOrEqual(t, len(readFile(t, name)), maxSize, name)
	}
	assert.Equal(t, want, allLines(t, path), "no line lost, split or reordered")
}

func TestSizeRotationCompressAndKeep(t *testing.T) {
	noLeaks(t)
	tests := []struct {
		name     string
		keep     int
		compress bool
	}{
		{"compress", 0, true},
		{"keep", 2, false},
		{"keep and compress", 2, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "access.log")
			l := newLog(t, AccessLogOptions{Path: path, MaxSize: 500, Keep: tt.keep, Compress: tt.compress})
			var want []string
			for i := range 30 {
				l.Log(numbered(i))
				want = append(want, combined(*numbered(i)))
			}
			// Close waits for the compressor, so the directory is final.
			require.NoError(t, l.Close())

			rotated := rotatedFiles(t, path)
			if tt.keep > 0 {
				require.Len(t, rotated, tt.keep)
			} else {
				require.Greater(t, len(rotated), 3)
			}
			var got []string
			for _, name := range rotated {
				assert.Equal(t, tt.compress, strings.HasSuffix(name, ".gz"), name)
				text := readFile(t, name)
				if tt.compress {
					text = gunzip(t, name)
				}
				got = append(got, lines(text)...)
			}
			got = append(got, lines(readFile(t, path))...)
			assert.Equal(t, want[len(want)-len(got):], got, "the newest lines survive, whole and in order")
			if tt.keep == 0 {
				assert.Equal(t, want, got)
			}
			ents, err := os.ReadDir(filepath.Dir(path))
			require.NoError(t, err)
			for _, de := range ents {
				assert.NotContains(t, de.Name(), ".tmp")
			}
		})
	}
}

func TestRotate(t *testing.T) {
	noLeaks(t)
	path := filepath.Join(t.TempDir(), "access.log")
	l := newLog(t, AccessLogOptions{Path: path, Format: "json"})
	defer l.Close()
	for i := range 5 {
		l.Log(numbered(i))
		require.NoError(t, l.Rotate()) // several within a millisecond keep distinct names
	}
	rotated := rotatedFiles(t, path)
	require.Len(t, rotated, 5)
	for i, name := range rotated {
		assert.Equal(t, jsonLine(*numbered(i)), readFile(t, name))
	}
	assert.Empty(t, readFile(t, path))

	// A file deleted from under the log is recreated by Rotate.
	require.NoError(t, os.Remove(path))
	require.NoError(t, l.Rotate())
	l.Log(numbered(9))
	require.NoError(t, l.Close())
	assert.Equal(t, jsonLine(*numbered(9)), readFile(t, path))
}

func TestAgeRotation(t *testing.T) {
	noLeaks(t)
	const maxAge = 50 * time.Millisecond
	path := filepath.Join(t.TempDir(), "access.log")
	l := newLog(t, AccessLogOptions{Path: path, MaxAge: maxAge, Compress: true})
	defer l.Close()

	// An idle, empty file is never rotated.
	time.Sleep(4 * maxAge)
	assert.Empty(t, rotatedFiles(t, path))

	l.Log(numbered(1))
	require.Eventually(t, func() bool { return len(rotatedFiles(t, path)) == 1 },
		2*time.Second, 5*time.Millisecond)
	l.Log(numbered(2))
	require.NoError(t, l.Close())
	rotated := rotatedFiles(t, path)
	require.Len(t, rotated, 1)
	assert.Equal(t, combined(*numbered(1)), gunzip(t, rotated[0]))
	assert.Equal(t, combined(*numbered(2)), readFile(t, path))
}

func TestAgeRotationOfFileFromPreviousRun(t *testing.T) {
	noLeaks(t)
	path := filepath.Join(t.TempDir(), "access.log")
	require.NoError(t, os.WriteFile(path, []byte("yesterday\n"), 0o640))
	old := time.Now().Add(-25 * time.Hour)
	require.NoError(t, os.Chtimes(path, old, old))

	l := newLog(t, AccessLogOptions{Path: path, MaxAge: 24 * time.Hour})
	rotated := rotatedFiles(t, path)
	require.Len(t, rotated, 1, "rotated on open, not a day later")
	assert.Equal(t, "yesterday\n", readFile(t, rotated[0]))
	l.Log(numbered(1))
	require.NoError(t, l.Close())
	assert.Equal(t, combined(*numbered(1)), readFile(t, path))
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o640), fi.Mode().Perm(), "the new file inherits the mode")
}

func TestMillTidiesPreviousRun(t *testing.T) {
	noLeaks(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	write := func(name, text string) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644))
	}
	write("access-2026-01-01T00-00-00.000.log", "one\n")   // never compressed
	write("access-2026-01-02T00-00-00.000.log", "two\n")   // crashed after its .gz was complete
	write("access-2026-01-02T00-00-00.000.log.gz", "")     // (content irrelevant here)
	write("access-2026-01-03T00-00-00.000.log", "three\n") // crashed while compressing
	write("access-2026-01-03T00-00-00.000.log.gz.tmp", "x")
	write("access-notatime.log", "other\n") // not ours
	l := newLog(t, AccessLogOptions{Path: path, Compress: true})
	require.NoError(t, l.Close())

	var names []string
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, de := range ents {
		names = append(names, de.Name())
	}
	assert.ElementsMatch(t, []string{
		"access.log",
		"access-2026-01-01T00-00-00.000.log.gz",
		"access-2026-01-02T00-00-00.000.log.gz",
		"access-2026-01-03T00-00-00.000.log.gz",
		"access-notatime.log",
	}, names)
	assert.Equal(t, "one\n", gunzip(t, filepath.Join(dir, "access-2026-01-01T00-00-00.000.log.gz")))
	assert.Equal(t, "three\n", gunzip(t, filepath.Join(dir, "access-2026-01-03T00-00-00.000.log.gz")))
}

func TestConcurrentLog(t *testing.T) {
	noLeaks(t)
	const goroutines, perG = 64, 500
	for _, format := range []string{"combined", "json"} {
		t.Run(format, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "access.log")
			// Small enough to rotate a few dozen times under load.
			l := newLog(t, AccessLogOptions{Path: path, Format: format, MaxSize: 64 << 10, Compress: true, Keep: 0})
			var wg sync.WaitGroup
			for g := range goroutines {
				wg.Go(func() {
					for i := range perG {
						l.Log(numbered(g*perG + i))
					}
				})
			}
			wg.Wait()
			require.NoError(t, l.Close())

			lines := allLines(t, path)
			require.Len(t, lines, goroutines*perG)
			seen := make([]bool, goroutines*perG)
			for _, line := range lines {
				var target string
				if format == "json" {
					var v struct{ Target string }
					require.NoError(t, json.Unmarshal([]byte(line), &v), line)
					target = v.Target
				} else {
					m := combinedLine.FindStringSubmatch(line)
					require.NotNil(t, m, line)
					target = strings.Fields(m[2])[1]
				}
				var n int
				_, err := fmt.Sscanf(target, "/line/%d", &n)
				require.NoError(t, err, line)
				require.False(t, seen[n], "line %d twice", n)
				seen[n] = true
			}
			assert.Greater(t, len(rotatedFiles(t, path)), 10)
		})
	}
}

func TestWriteErrorsAreReported(t *testing.T) {
	noLeaks(t)
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full")
	}
	var mu sync.Mutex
	var reported []error
	l := newLog(t, AccessLogOptions{Path: "/dev/full", OnError: func(err error) {
		mu.Lock()
		defer mu.Unlock()
		reported = append(reported, err)
	}})
	big := sampleEntry()
	big.UserAgent = bytes.Repeat([]byte("x"), 1000)
	for range 200 { // several buffers' worth, each a failed write
		l.Log(&big)
	}
	err := l.Close()
	assert.ErrorIs(t, err, syscall.ENOSPC)
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, reported, 1, "OnError is rate-limited")
	assert.ErrorIs(t, reported[0], syscall.ENOSPC)
}

func TestObserve(t *testing.T) {
	noLeaks(t)
	raw := "GET /hello?x=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: curl/8.5.0\r\nReferer: https://r.example/\r\n\r\n"
	br := bufio.NewReader(strings.NewReader(raw))
	r := http1.NewReader(br, io.Discard, http1.Limits{})
	var req http1.Request
	require.NoError(t, r.ReadRequest(&req))
	w := http1.NewResponseWriter(bufio.NewWriter(io.Discard), io.Discard)
	w.Reset(&req)
	w.SetContentLength(5)
	w.WriteString("hello")
	require.NoError(t, w.Finish())
	ex := &http1.Exchange{
		Request: &req, Response: w,
		RemoteAddr: netip.MustParseAddrPort("192.0.2.1:40000"),
		Listener:   "origin", Start: fixedTime,
	}

	path := filepath.Join(t.TempDir(), "access.log")
	l := newLog(t, AccessLogOptions{Path: path, Format: "json"})
	l.Observe(ex, 2*time.Millisecond)
	if !raceEnabled {
		assert.Zero(t, testing.AllocsPerRun(100, func() { l.Observe(ex, 2*time.Millisecond) }))
	}
	require.NoError(t, l.Close())
	line, _, _ := strings.Cut(readFile(t, path), "\n")
	assert.Equal(t, `{"time":"2026-11-22T18:44:17.123Z","remote":"192.0.2.1:40000","method":"GET","target":"/hello?x=1","proto":"HTTP/1.1","status":200,"bytes":5,"duration_ms":2.000,"host":"example.com","referer":"https://r.example/","user_agent":"curl/8.5.0","listener":"origin"}`, line)

	// A request refused before its request line still gets a line.
	l = newLog(t, AccessLogOptions{Path: path})
	var empty http1.Request
	w.Reset(&empty)
	w.Error(400, "bad request")
	l.Observe(&http1.Exchange{Request: &empty, Response: w, RemoteAddr: ex.RemoteAddr, Start: fixedTime}, 0)
	require.NoError(t, l.Close())
	got := lines(readFile(t, path))
	assert.Regexp(t, `^192\.0\.2\.1 - - \[22/Nov/2026:18:44:17 \+0000\] "-" 400 \d+ "-" "-"\n$`, got[len(got)-1])
}

func TestLogDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop buffers")
	}
	noLeaks(t)
	for _, format := range []string{"combined", "json"} {
		l := newLog(t, AccessLogOptions{Path: filepath.Join(t.TempDir(), "access.log"), Format: format})
		e := hostile()
		e.Addr = netip.MustParseAddrPort("[2001:db8::1%eth0]:80")
		assert.Zero(t, testing.AllocsPerRun(1000, func() {
			e.Time = time.Now()
			l.Log(&e)
		}), format)
		require.NoError(t, l.Close())
	}
}

func benchmarkLog(b *testing.B, format string) {
	b.Run("file", func(b *testing.B) { benchmarkLogTo(b, filepath.Join(b.TempDir(), "access.log"), format) })
	// /dev/null separates the log's own cost from the disk's, which
	// dominates above and varies with the machine's page-cache writeback.
	if _, err := os.Stat(os.DevNull); err == nil {
		b.Run("devnull", func(b *testing.B) { benchmarkLogTo(b, os.DevNull, format) })
	}
}

func benchmarkLogTo(b *testing.B, path, format string) {
	l, err := NewAccessLog(AccessLogOptions{Path: path, Format: format})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	e := sampleEntry()
	size := int64(len(combined(e)))
	if format == "json" {
		size = int64(len(jsonLine(e)))
	}
	// Time advances 10µs a line, so the timestamp cache misses as it would
	// at 100k requests/s, without the clock read in the measurement.
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(size)
		for b.Loop() {
			e.Time = e.Time.Add(10 * time.Microsecond)
			l.Log(&e)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(size)
		b.RunParallel(func(pb *testing.PB) {
			e := sampleEntry()
			for pb.Next() {
				e.Time = e.Time.Add(10 * time.Microsecond)
				l.Log(&e)
			}
		})
	})
}

// BenchmarkAccessLogCombined measures Log to a file, the request path's
// cost of the access log; the target is 0 allocs/op.
func BenchmarkAccessLogCombined(b *testing.B) { benchmarkLog(b, "combined") }

// BenchmarkAccessLogJSON is the same for the JSON format.
func BenchmarkAccessLogJSON(b *testing.B) { benchmarkLog(b, "json") }
