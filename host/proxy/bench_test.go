package proxy

import (
	"bufio"
	"bytes"
	"net"
	"strconv"
	"testing"

	"wasmhttpd/host/http1"
)

var kibBody = bytes.Repeat([]byte("x"), 1024)

// kib1 answers every request with 1 KiB.
var kib1 = http1.HandlerFunc(func(ex *http1.Exchange) {
	body := kibBody
	ex.Response.Header().Set("Content-Type", "text/plain")
	ex.Response.SetContentLength(int64(len(body)))
	ex.Response.Write(body)
})

// benchGET sends request over one kept-alive connection to addr b.N
// times, reading each response with a client that allocates nothing, so
// that the figures are the servers'.
func benchGET(b *testing.B, addr, request string) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	req := []byte(request)
	b.ReportAllocs()
	b.SetBytes(1024)
	b.ResetTimer()
	for range b.N {
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		length := -1
		for {
			line, err := br.ReadSlice('\n')
			if err != nil {
				b.Fatal(err)
			}
			if len(line) == 2 {
				break
			}
			if v, ok := bytes.CutPrefix(line, []byte("Content-Length: ")); ok {
				length, _ = strconv.Atoi(string(bytes.TrimSpace(v)))
			}
		}
		if length != 1024 {
			b.Fatalf("response length %d", length)
		}
		if _, err := br.Discard(length); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOriginDirect is the baseline: the origin served directly.
func BenchmarkOriginDirect(b *testing.B) {
	origin := serve(b, kib1)
	benchGET(b, origin, "GET /x HTTP/1.1\r\nHost: origin\r\n\r\n")
}

// BenchmarkForwardGET is the same request through the forward proxy,
// over a pooled upstream connection.
func BenchmarkForwardGET(b *testing.B) {
	origin := serve(b, kib1)
	_, addr := startProxy(b, Config{})
	benchGET(b, addr, "GET http://"+origin+"/x HTTP/1.1\r\nHost: "+origin+"\r\n\r\n")
}
