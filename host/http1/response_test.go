package http1

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// respond parses raw as a request, lets handle answer it, and returns the
// bytes written to the wire.
func respond(t *testing.T, raw string, handle func(w *ResponseWriter)) string {
	t.Helper()
	req, _, err := parse(t, raw, Limits{})
	require.NoError(t, err)
	var out bytes.Buffer
	w := NewResponseWriter(bufio.NewWriter(&out), &out)
	w.Reset(req)
	handle(w)
	w.Finish()
	return out.String()
}

func readResp(t *testing.T, wire, method string) (*http.Response, string) {
	t.Helper()
	resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(wire)), &http.Request{Method: method})
	require.NoError(t, err)
	var body bytes.Buffer
	body.ReadFrom(resp.Body)
	return resp, body.String()
}

func TestResponseFraming(t *testing.T) {
	hello := func(w *ResponseWriter) { w.WriteString("hello") }
	sized := func(w *ResponseWriter) { w.SetContentLength(5); w.WriteString("hello") }
	tests := []struct {
		name, request string
		handle        func(*ResponseWriter)
		want          []string // substrings of the wire
		absent        []string
	}{
		{"chunked when length unknown", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", hello,
			[]string{"HTTP/1.1 200 OK\r\n", "Transfer-Encoding: chunked\r\n", "\r\n5\r\nhello\r\n0\r\n\r\n"}, []string{"Connection:"}},
		{"content-length when declared", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", sized,
			[]string{"Content-Length: 5\r\n", "\r\n\r\nhello"}, []string{"Transfer-Encoding"}},
		{"http/1.0 body delimited by close", "GET / HTTP/1.0\r\n\r\n", hello,
			[]string{"Connection: close\r\n", "\r\n\r\nhello"}, []string{"Transfer-Encoding"}},
		{"http/1.0 keep-alive acknowledged", "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", sized,
			[]string{"Connection: keep-alive\r\n"}, nil},
		{"head has length but no body", "HEAD / HTTP/1.1\r\nHost: a\r\n\r\n", sized,
			[]string{"Content-Length: 5\r\n"}, []string{"hello"}},
		{"204 has no body", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", func(w *ResponseWriter) { w.WriteHeader(204); w.WriteString("x") },
			[]string{"HTTP/1.1 204 No Content\r\n"}, []string{"Transfer-Encoding", "Content-Length", "\r\nx"}},
		{"304 has no body", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", func(w *ResponseWriter) { w.SetContentLength(5); w.WriteHeader(304) },
			[]string{"HTTP/1.1 304 Not Modified\r\n"}, []string{"Content-Length"}},
		{"date and server", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", sized,
			[]string{"\r\nDate: ", " GMT\r\n", "\r\nServer: wasmhttpd\r\n"}, nil},
		{"empty handler gets empty 200", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", func(*ResponseWriter) {},
			[]string{"HTTP/1.1 200 OK\r\n", "Content-Length: 0\r\n"}, nil},
		{"handler's hop-by-hop fields replaced", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", func(w *ResponseWriter) {
			w.Header().Set("Transfer-Encoding", "gzip")
			w.Header().Set("Connection", "upgrade")
			sized(w)
		}, []string{"Content-Length: 5"}, []string{"gzip", "upgrade"}},
		{"header injection dropped", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", func(w *ResponseWriter) {
			w.Header().Set("X-Evil", "a\r\nSet-Cookie: x=1")
			sized(w)
		}, []string{"hello"}, []string{"Set-Cookie", "X-Evil"}},
		{"interim response", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", func(w *ResponseWriter) {
			w.Header().Set("Link", "</s.css>; rel=preload")
			w.WriteHeader(103)
			sized(w)
		}, []string{"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\n"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wire := respond(t, tt.request, tt.handle)
			for _, s := range tt.want {
				assert.Contains(t, wire, s)
			}
			for _, s := range tt.absent {
				assert.NotContains(t, wire, s)
			}
		})
	}
}

func TestWritePastLengthRefused(t *testing.T) {
	var err error
	wire := respond(t, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", func(w *ResponseWriter) {
		w.SetContentLength(3)
		_, err = w.WriteString("hello")
	})
	assert.ErrorIs(t, err, ErrBodyOverflow)
	_, body := readResp(t, wire, "GET")
	assert.Equal(t, "hel", body)
}

func TestShortBodyReported(t *testing.T) {
	req, _, err := parse(t, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", Limits{})
	require.NoError(t, err)
	var out bytes.Buffer
	w := NewResponseWriter(bufio.NewWriter(&out), &out)
	w.Reset(req)
	w.SetContentLength(10)
	w.WriteString("abc")
	assert.ErrorIs(t, w.Finish(), ErrShortBody)
}

func TestFileBodies(t *testing.T) {
	dir := t.TempDir()
	for _, size := range []int{100, 100 << 10} {
		data := bytes.Repeat([]byte("0123456789"), size/10)
		name := filepath.Join(dir, "f")
		require.NoError(t, os.WriteFile(name, data, 0o644))
		f, err := os.Open(name)
		require.NoError(t, err)
		wire := respond(t, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", func(w *ResponseWriter) {
			w.SetContentLength(int64(size))
			n, err := w.ReadFrom(f)
			assert.NoError(t, err)
			assert.Equal(t, int64(size), n)
		})
		f.Close()
		resp, body := readResp(t, wire, "GET")
		assert.Equal(t, int64(size), resp.ContentLength)
		assert.Equal(t, string(data), body)
	}
}

func TestErrorResponse(t *testing.T) {
	wire := respond(t, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", func(w *ResponseWriter) {
		w.Header().Set("ETag", `"x"`)
		w.Error(404, "no such file: /x")
	})
	resp, body := readResp(t, wire, "GET")
	assert.Equal(t, 404, resp.StatusCode)
	assert.Equal(t, "no such file: /x\n", body)
	assert.Equal(t, "text/plain; charset=utf-8", resp.Header.Get("Content-Type"))
	assert.Empty(t, resp.Header.Get("ETag"), "fields meant for a success are dropped")
}

func BenchmarkParseAndRespond(b *testing.B) {
	raw := "GET /index.html HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: bench/1.0\r\n" +
		"Accept: */*\r\nAccept-Encoding: gzip, deflate\r\nConnection: keep-alive\r\n\r\n"
	src := strings.NewReader("")
	br := bufio.NewReader(src)
	bw := bufio.NewWriter(discard{})
	r := NewReader(br, bw, Limits{})
	w := NewResponseWriter(bw, discard{})
	var req Request
	body := bytes.Repeat([]byte("x"), 1024)
	b.ReportAllocs()
	for b.Loop() {
		src.Reset(raw)
		br.Reset(src)
		if err := r.ReadRequest(&req); err != nil {
			b.Fatal(err)
		}
		w.Reset(&req)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.SetContentLength(int64(len(body)))
		w.Write(body)
		w.Finish()
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func TestAbortLeavesBodyVisiblyIncomplete(t *testing.T) {
	var finishErr error
	req, _, err := parse(t, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", Limits{})
	require.NoError(t, err)
	var out bytes.Buffer
	w := NewResponseWriter(bufio.NewWriter(&out), &out)
	w.Reset(req)
	w.WriteString("partial")
	w.Error(500, "failed midway")
	finishErr = w.Finish()
	assert.ErrorIs(t, finishErr, ErrAborted)
	assert.True(t, w.Closing())
	assert.NotContains(t, out.String(), "0\r\n\r\n", "no last chunk after an abort")
	assert.NotContains(t, out.String(), "failed midway")
}

func TestErrorKeepsDefiningFields(t *testing.T) {
	wire := respond(t, "DELETE / HTTP/1.1\r\nHost: a\r\n\r\n", func(w *ResponseWriter) {
		w.Header().Set("ETag", `"x"`)
		w.Header().Set("Allow", "GET, HEAD")
		w.Error(405, "method not allowed")
	})
	resp, _ := readResp(t, wire, "DELETE")
	assert.Equal(t, "GET, HEAD", resp.Header.Get("Allow"))
	assert.Empty(t, resp.Header.Get("ETag"))
}

func TestReadFromFileSlice(t *testing.T) {
	name := filepath.Join(t.TempDir(), "f")
	data := bytes.Repeat([]byte("abcdefghij"), 2000)
	require.NoError(t, os.WriteFile(name, data, 0o644))
	f, err := os.Open(name)
	require.NoError(t, err)
	defer f.Close()
	wire := respond(t, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", func(w *ResponseWriter) {
		w.SetContentLength(15000)
		f.Seek(100, 0)
		slice := &io.LimitedReader{R: f, N: 10000}
		n, err := w.ReadFrom(slice)
		require.NoError(t, err)
		assert.Equal(t, int64(10000), n)
		assert.Equal(t, int64(0), slice.N, "the caller's reader is consumed")
		f.Seek(0, 0)
		w.ReadFrom(f)
	})
	_, body := readResp(t, wire, "GET")
	assert.Equal(t, string(data[100:10100])+string(data[:5000]), body)
}

func TestBufferedResponseCanBeRewritten(t *testing.T) {
	wire := respond(t, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", func(w *ResponseWriter) {
		w.StartBuffering()
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(200)
		w.WriteString("original")
		assert.True(t, w.Buffering())
		assert.Equal(t, "original", string(w.BufferedBody()))
		w.SetStatus(201)
		w.Header().Set("X-Policy", "seen")
		w.SetBufferedBody([]byte("rewritten body"))
	})
	resp, body := readResp(t, wire, "GET")
	assert.Equal(t, 201, resp.StatusCode)
	assert.Equal(t, "seen", resp.Header.Get("X-Policy"))
	assert.Equal(t, int64(len("rewritten body")), resp.ContentLength)
	assert.Equal(t, "rewritten body", body)
}

func TestBufferedFileBodyAndTrailers(t *testing.T) {
	name := filepath.Join(t.TempDir(), "f")
	data := bytes.Repeat([]byte("z"), 20000)
	require.NoError(t, os.WriteFile(name, data, 0o644))
	f, err := os.Open(name)
	require.NoError(t, err)
	defer f.Close()
	wire := respond(t, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", func(w *ResponseWriter) {
		w.StartBuffering()
		w.SetContentLength(20000)
		w.ReadFrom(f)
		w.Trailer().Set("Checksum", "abc")
	})
	resp, body := readResp(t, wire, "GET")
	assert.Equal(t, string(data), body)
	assert.Equal(t, "abc", resp.Trailer.Get("Checksum"), "trailers make a held response chunked")
}

func TestBodyBytesLimit(t *testing.T) {
	raw := "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
	r := NewReader(bufio.NewReader(strings.NewReader(raw)), io.Discard, Limits{})
	var req Request
	require.NoError(t, r.ReadRequest(&req))
	_, err := req.Body.Bytes(5)
	assert.ErrorIs(t, err, ErrBodyTooLarge)
}

func TestBodyBytesThenRead(t *testing.T) {
	raw := "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n" +
		"GET /next HTTP/1.1\r\nHost: a\r\n\r\n"
	r := NewReader(bufio.NewReader(strings.NewReader(raw)), io.Discard, Limits{})
	var req Request
	require.NoError(t, r.ReadRequest(&req))
	data, err := req.Body.Bytes(1 << 10)
	require.NoError(t, err)
	assert.Equal(t, "hello world", string(data))
	again, err := io.ReadAll(req.Body)
	require.NoError(t, err)
	assert.Equal(t, "hello world", string(again), "reads start over after Bytes")

	req.Body.Replace([]byte("new"))
	assert.Equal(t, int64(3), req.ContentLength)
	assert.Equal(t, "3", string(req.Header.Get("Content-Length")))
	assert.False(t, req.Header.Has("Transfer-Encoding"))
	replaced, _ := io.ReadAll(req.Body)
	assert.Equal(t, "new", string(replaced))
	assert.True(t, req.Body.Drain(0))

	require.NoError(t, r.ReadRequest(&req))
	assert.Equal(t, "/next", string(req.Path), "the stream stays in step")
}

func TestReplaceUnreadBodyStillDrains(t *testing.T) {
	raw := "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello" + "GET /next HTTP/1.1\r\nHost: a\r\n\r\n"
	r := NewReader(bufio.NewReader(strings.NewReader(raw)), io.Discard, Limits{})
	var req Request
	require.NoError(t, r.ReadRequest(&req))
	req.Body.Replace([]byte("xy"))
	got, _ := io.ReadAll(req.Body)
	assert.Equal(t, "xy", string(got))
	require.True(t, req.Body.Drain(100), "the client's bytes are still discarded")
	require.NoError(t, r.ReadRequest(&req))
	assert.Equal(t, "/next", string(req.Path))
}
