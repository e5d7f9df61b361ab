package http1

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// parseResponse reads one response to method from raw and, when the head
// is accepted, its whole body.
func parseResponse(t testing.TB, raw, method string) (*Response, []byte, error) {
	t.Helper()
	r := NewResponseReader(bufio.NewReaderSize(strings.NewReader(raw), 4096), Limits{})
	resp := new(Response)
	if err := r.ReadResponse(resp, method); err != nil {
		return resp, nil, err
	}
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

func TestReadResponseFraming(t *testing.T) {
	tests := []struct {
		name, method, raw string
		status            int // 0 = accepted
		body              string
		length            int64
		keep              bool
	}{
		{"sized", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloEXTRA", 0, "hello", 5, true},
		{"chunked", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n", 0, "abcde", -1, true},
		{"until close", "GET", "HTTP/1.1 200 OK\r\n\r\nall of it", 0, "all of it", -1, false},
		{"http/1.0 until close", "GET", "HTTP/1.0 200 OK\r\n\r\nx", 0, "x", -1, false},
		{"http/1.0 keep-alive sized", "GET", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nx", 0, "x", 1, true},
		{"http/1.0 sized closes", "GET", "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx", 0, "x", 1, false},
		{"connection close", "GET", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx", 0, "x", 1, false},
		{"head ignores length", "HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n", 0, "", 0, true},
		{"head ignores chunked", "HEAD", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 0, "", 0, true},
		{"204 has none", "GET", "HTTP/1.1 204 No Content\r\n\r\n", 0, "", 0, true},
		{"304 has none", "GET", "HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n", 0, "", 0, true},
		{"connect 200 has none", "CONNECT", "HTTP/1.1 200 Connection established\r\n\r\n", 0, "", 0, true},
		{"no reason", "GET", "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", 0, "", 0, true},
		{"empty reason", "GET", "HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n", 0, "", 0, true},
		{"same lengths", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx", 0, "x", 1, true},

		{"te and cl", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 502, "", 0, false},
		{"differing lengths", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxy", 502, "", 0, false},
		{"bad length", "GET", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", 502, "", 0, false},
		{"te in 1.0", "GET", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 502, "", 0, false},
		{"unknown coding", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 502, "", 0, false},
		{"chunked not last", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 502, "", 0, false},
		{"obs-fold", "GET", "HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", 502, "", 0, false},
		{"bare cr", "GET", "HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n", 502, "", 0, false},
		{"bare lf", "GET", "HTTP/1.1 200 OK\nX: a\r\n\r\n", 502, "", 0, false},
		{"bad name", "GET", "HTTP/1.1 200 OK\r\nX Y: a\r\n\r\n", 502, "", 0, false},
		{"space before colon", "GET", "HTTP/1.1 200 OK\r\nX : a\r\n\r\n", 502, "", 0, false},
		{"http/2", "GET", "HTTP/2.0 200 OK\r\n\r\n", 502, "", 0, false},
		{"http/1.2", "GET", "HTTP/1.2 200 OK\r\n\r\n", 502, "", 0, false},
		{"lowercase", "GET", "http/1.1 200 OK\r\n\r\n", 502, "", 0, false},
		{"two-digit code", "GET", "HTTP/1.1 20 OK\r\n\r\n", 502, "", 0, false},
		{"code 099", "GET", "HTTP/1.1 099 X\r\n\r\n", 502, "", 0, false},
		{"four-digit code", "GET", "HTTP/1.1 2000 OK\r\n\r\n", 502, "", 0, false},
		{"control in reason", "GET", "HTTP/1.1 200 O\x01K\r\n\r\n", 502, "", 0, false},
		{"not http", "GET", "SSH-2.0-OpenSSH\r\n\r\n", 502, "", 0, false},
		{"status line too long", "GET", "HTTP/1.1 200 " + strings.Repeat("x", 9000) + "\r\n\r\n", 502, "", 0, false},
		{"too many fields", "GET", "HTTP/1.1 200 OK\r\n" + strings.Repeat("X: 1\r\n", 101) + "\r\n", 502, "", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body, err := parseResponse(t, tt.raw, tt.method)
			if tt.status != 0 {
				require.Error(t, err)
				assert.Equal(t, tt.status, StatusOf(err), "error: %v", err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.body, string(body))
			assert.Equal(t, tt.length, resp.ContentLength)
			assert.Equal(t, tt.keep, resp.KeepAlive)
			assert.True(t, resp.Body.Done())
		})
	}
}

func TestReadResponseErrorsNameTheFault(t *testing.T) {
	_, _, err := parseResponse(t, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", "GET")
	assert.EqualError(t, err, "both Transfer-Encoding and Content-Length")
	_, _, err = parseResponse(t, "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "GET")
	assert.EqualError(t, err, "Transfer-Encoding in an HTTP/1.0 response")
}

func TestReadResponseFieldsAndTrailers(t *testing.T) {
	resp, body, err := parseResponse(t, "HTTP/1.1 201 Created Here\r\nX-A: one\r\nx-a:  two \r\n"+
		"Transfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n5\r\npedia\r\n0\r\nChecksum: abc\r\n\r\n", "POST")
	require.NoError(t, err)
	assert.Equal(t, 201, resp.Status)
	assert.Equal(t, "Created Here", string(resp.Reason))
	assert.True(t, resp.Chunked)
	assert.Equal(t, "Wikipedia", string(body))
	assert.Equal(t, "abc", string(resp.Trailer.Get("Checksum")))
	assert.Equal(t, 2, resp.Header.Count("X-A"))
}

func TestReadResponseInterimThenFinal(t *testing.T) {
	raw := "HTTP/1.1 100 Continue\r\n\r\n" +
		"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n" +
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
	r := NewResponseReader(bufio.NewReader(strings.NewReader(raw)), Limits{})
	var resp Response
	var seen []int
	for {
		require.NoError(t, r.ReadResponse(&resp, "GET"))
		seen = append(seen, resp.Status)
		if !resp.Interim() {
			break
		}
		if resp.Status == 103 {
			assert.Equal(t, "</s.css>; rel=preload", string(resp.Header.Get("Link")))
		}
	}
	assert.Equal(t, []int{100, 103, 200}, seen)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, "ok", string(body))
}

func TestReadResponseKeepAliveSequence(t *testing.T) {
	raw := "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na" +
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nb\r\n0\r\n\r\n"
	r := NewResponseReader(bufio.NewReader(strings.NewReader(raw)), Limits{})
	var resp Response
	var bodies []string
	for {
		err := r.ReadResponse(&resp, "GET")
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		bodies = append(bodies, string(b))
	}
	assert.Equal(t, []string{"a", "b"}, bodies, "io.EOF only at a clean end between responses")
}

func TestReadResponseTruncated(t *testing.T) {
	_, _, err := parseResponse(t, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab", "GET")
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
	_, _, err = parseResponse(t, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", "GET")
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
	_, _, err = parseResponse(t, "HTTP/1.1 200 OK\r\nContent-", "GET")
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
}

func TestWriteRequestHead(t *testing.T) {
	var out bytes.Buffer
	bw := bufio.NewWriter(&out)
	var h Header
	h.Add("Host", "example.test")
	h.Add("X-Bad", "a\r\nInjected: yes")
	h.Add("Transfer-Encoding", "chunked")
	require.NoError(t, WriteRequestHead(bw, "POST", []byte("/p?q=1"), &h))
	cw := ChunkedWriter{W: bw}
	cw.Write([]byte("abc"))
	cw.Write(nil)
	var tr Header
	tr.Add("Checksum", "x")
	require.NoError(t, cw.Close(&tr))
	require.NoError(t, bw.Flush())
	assert.Equal(t, "POST /p?q=1 HTTP/1.1\r\nHost: example.test\r\nTransfer-Encoding: chunked\r\n\r\n"+
		"3\r\nabc\r\n0\r\nChecksum: x\r\n\r\n", out.String())

	// What was written parses back as the same request.
	req, body, err := parse(t, out.String(), Limits{})
	require.NoError(t, err)
	assert.Equal(t, "abc", string(body))
	assert.Equal(t, "x", string(req.Trailer.Get("Checksum")))

	assert.ErrorIs(t, WriteRequestHead(bw, "GE T", []byte("/"), &h), ErrBadOutbound)
	assert.ErrorIs(t, WriteRequestHead(bw, "GET", []byte("/a b"), &h), ErrBadOutbound)
	assert.ErrorIs(t, WriteRequestHead(bw, "", []byte("/"), &h), ErrBadOutbound)
}
