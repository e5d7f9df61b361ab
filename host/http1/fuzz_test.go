package http1

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzReadRequest feeds arbitrary bytes to the parser. Whatever comes in,
// it must not panic or hang, and what it accepts must be self-consistent:
// a status it refuses with is a real client or server error code, and an
// accepted request has a sane method, target and framing.
func FuzzReadRequest(f *testing.F) {
	for _, seed := range []string{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET http://a:80/x?y HTTP/1.1\r\nHost: b\r\n\r\n",
		"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n",
		"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: v\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\n X: folded\r\n\r\n",
		"GET / HTTP/1.1\nHost: a\n\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX: \x00\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffff\r\n",
		"GET / HTTP/9.9\r\n\r\n",
		"\r\n\r\nGET / HTTP/1.0\r\n\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bufio.NewReaderSize(bytes.NewReader(data), 64), io.Discard,
			Limits{MaxRequestLine: 256, MaxHeaderBytes: 1024, MaxHeaders: 16, MaxBody: 1 << 16})
		var req Request
		for range 4 {
			err := r.ReadRequest(&req)
			if err != nil {
				if s := StatusOf(err); s < 400 || s > 505 {
					t.Fatalf("status %d for %v", s, err)
				}
				return
			}
			if !IsToken([]byte(req.Method)) || len(req.Target) == 0 {
				t.Fatalf("accepted bad request line %q %q", req.Method, req.Target)
			}
			if req.ContentLength < -1 || req.ContentLength > 1<<16 {
				t.Fatalf("content length %d", req.ContentLength)
			}
			if req.ProtoMinor == 1 && req.Header.Count("Host") != 1 {
				t.Fatal("HTTP/1.1 request accepted without exactly one Host")
			}
			n, err := io.Copy(io.Discard, req.Body)
			if err != nil {
				return
			}
			if req.ContentLength >= 0 && n != req.ContentLength {
				t.Fatalf("read %d body bytes, declared %d", n, req.ContentLength)
			}
		}
	})
}

// FuzzReadResponse feeds arbitrary bytes to the response parser, as a
// hostile upstream would. It must not panic or hang; a refusal is a 502
// or an I/O error; an accepted response has a real status and framing
// that its body honours.
func FuzzReadResponse(f *testing.F) {
	for _, seed := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: v\r\n\r\n",
		"HTTP/1.0 200 OK\r\n\r\nuntil close",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
		"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
		"HTTP/1.1 200 OK\r\n X: folded\r\n\r\n",
		"HTTP/1.1 200 OK\nX: a\n\n",
		"HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffff\r\n",
		"HTTP/2 200\r\n\r\n",
	} {
		f.Add([]byte(seed), false)
	}
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"), true)
	f.Fuzz(func(t *testing.T, data []byte, head bool) {
		method := "GET"
		if head {
			method = "HEAD"
		}
		r := NewResponseReader(bufio.NewReaderSize(bytes.NewReader(data), 64),
			Limits{MaxRequestLine: 256, MaxHeaderBytes: 1024, MaxHeaders: 16, MaxBody: 1 << 16})
		var resp Response
		for range 4 {
			err := r.ReadResponse(&resp, method)
			if err != nil {
				var e *Error
				if errors.As(err, &e) && e.Status != 502 {
					t.Fatalf("status %d for %v", e.Status, err)
				}
				return
			}
			if resp.Status < 100 || resp.Status > 999 {
				t.Fatalf("accepted status %d", resp.Status)
			}
			if resp.ContentLength < -1 || resp.Chunked && resp.ContentLength != -1 {
				t.Fatalf("content length %d, chunked %v", resp.ContentLength, resp.Chunked)
			}
			n, err := io.Copy(io.Discard, resp.Body)
			if err != nil {
				return
			}
			if resp.ContentLength >= 0 && n != resp.ContentLength {
				t.Fatalf("read %d body bytes, declared %d", n, resp.ContentLength)
			}
			if !resp.KeepAlive {
				return
			}
		}
	})
}
