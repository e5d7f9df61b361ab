package cache

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wasmhttpd/host/http1"
)

// logBuffer collects a store's log lines for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// open opens a store in dir, closed at the end of the test, logging into
// the returned buffer.
func open(t testing.TB, dir string, opts Options) (*Store, *logBuffer) {
	t.Helper()
	logs := new(logBuffer)
	opts.Logger = slog.New(slog.NewTextHandler(logs, nil))
	s, err := Open(dir, opts)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s, logs
}

// header builds a header from name, value pairs.
func header(pairs ...string) *http1.Header {
	h := new(http1.Header)
	for i := 0; i+1 < len(pairs); i += 2 {
		h.Add(pairs[i], pairs[i+1])
	}
	return h
}

var epoch = time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)

// response is a 200 with the given header pairs and body length.
func response(length int, pairs ...string) Response {
	return Response{
		Status:    200,
		Header:    header(pairs...),
		Times:     Times{Request: epoch, Response: epoch.Add(time.Second)},
		Freshness: Freshness{Lifetime: time.Hour, StaleWhileRevalidate: time.Minute, StaleIfError: 2 * time.Minute},
		Length:    int64(length),
	}
}

// put stores body under key with a declared length, answering req with a
// response carrying the header pairs.
func put(t testing.TB, s *Store, key string, req *http1.Header, body string, pairs ...string) *Entry {
	t.Helper()
	w, err := s.Begin(key, req, response(len(body), pairs...))
	require.NoError(t, err)
	_, err = io.WriteString(w, body)
	require.NoError(t, err)
	e, err := w.Commit()
	require.NoError(t, err)
	return e
}

// body reads an entry's body the way the server sends it.
func body(t testing.TB, e *Entry) string {
	t.Helper()
	f, err := e.OpenBody()
	require.NoError(t, err)
	defer f.Close()
	b, err := io.ReadAll(&io.LimitedReader{R: f, N: e.Size})
	require.NoError(t, err)
	return string(b)
}

// diskFiles lists the entry files under dir/http, temp files included, as
// paths relative to it.
func diskFiles(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	root := filepath.Join(dir, "http")
	require.NoError(t, filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() == "lock" {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		out = append(out, rel)
		return nil
	}))
	return out
}

// tmpFiles lists what is in the temp directory.
func tmpFiles(t testing.TB, dir string) []string {
	t.Helper()
	names, err := readNames(filepath.Join(dir, "http", tmpDir))
	require.NoError(t, err)
	return names
}

// keyed returns n distinct keys.
func keyed(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = "http://example.com/" + strconv.Itoa(i)
	}
	return keys
}

// cached reports which of keys have an entry, without counting as a
// visit, as Lookup would.
func cached(s *Store, keys ...string) []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []string
	for _, k := range keys {
		if len(s.keys[k]) > 0 {
			out = append(out, strings.TrimPrefix(k, "http://example.com/"))
		}
	}
	return out
}
