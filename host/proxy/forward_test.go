package proxy

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"wasmhttpd/host/http1"
)

// echoOrigin answers with what it received: method, path, how the body
// was framed, the body, and the request trailers; it sends its own body
// chunked with a trailer when asked to by ?chunked.
func echoOrigin(t *testing.T) *countingOrigin {
	return newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		framing := "length=" + strconv.FormatInt(r.ContentLength, 10)
		if len(r.TransferEncoding) > 0 {
			framing = "chunked"
		}
		reply := fmt.Sprintf("%s %s %s trailer=%q body=%s", r.Method, r.URL.RequestURI(), framing, r.Trailer.Get("Checksum"), body)
		if r.URL.Query().Has("chunked") {
			w.Header().Set("Trailer", "Checksum")
			w.Write([]byte(reply))
			w.(http.Flusher).Flush()
			w.Header().Set("Checksum", "sum-of-"+r.Method)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(reply)))
		w.Write([]byte(reply))
	})
}

func TestForwardMethodsAndBodies(t *testing.T) {
	noLeaks(t)
	origin := echoOrigin(t)
	_, addr := startProxy(t, Config{})
	client := proxyClient(t, addr)

	// onlyReader hides the length of a body, so net/http sends it chunked.
	type onlyReader struct{ io.Reader }
	tests := []struct {
		name, method, query string
		body                io.Reader
		trailer             bool
		want                string
	}{
		{"get", "GET", "", nil, false, `GET /p length=0 trailer="" body=`},
		{"head", "HEAD", "", nil, false, ``},
		{"delete", "DELETE", "", nil, false, `DELETE /p length=0 trailer="" body=`},
		{"post sized", "POST", "", strings.NewReader("sized body"), false, `POST /p length=10 trailer="" body=sized body`},
		{"put sized", "PUT", "", strings.NewReader("put"), false, `PUT /p length=3 trailer="" body=put`},
		{"post chunked with trailer", "POST", "", onlyReader{strings.NewReader("streamed")}, true, `POST /p chunked trailer="abc" body=streamed`},
		{"patch chunked", "PATCH", "", onlyReader{strings.NewReader("patch")}, false, `PATCH /p chunked trailer="" body=patch`},
		{"query kept", "GET", "?a=1&b=%2F", nil, false, `GET /p?a=1&b=%2F length=0 trailer="" body=`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, origin.URL+"/p"+tt.query, tt.body)
			require.NoError(t, err)
			if tt.trailer {
				req.Trailer = http.Header{"Checksum": {"abc"}}
			}
			resp, err := client.Do(req)
			require.NoError(t, err)
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.NoError(t, err)
			assert.Equal(t, 200, resp.StatusCode)
			assert.Equal(t, tt.want, string(body))
			assert.Equal(t, "1.1 "+testName, resp.Header.Get("Via"))
		})
	}
}

func TestResponseTrailersAndChunkedBodyRelayed(t *testing.T) {
	noLeaks(t)
	origin := echoOrigin(t)
	_, addr := startProxy(t, Config{})
	resp, err := proxyClient(t, addr).Post(origin.URL+"/t?chunked", "text/plain", strings.NewReader("x"))
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	assert.Equal(t, []string{"chunked"}, resp.TransferEncoding)
	assert.Contains(t, string(body), "POST /t?chunked")
	assert.Equal(t, "sum-of-POST", resp.Trailer.Get("Checksum"), "trailers of a chunked response reach the client")
}

func TestHopByHopFieldsRemovedViaAndForwardedForAdded(t *testing.T) {
	noLeaks(t)
	heads := make(chan string, 1)
	origin := rawOrigin(t, func(c net.Conn) {
		heads <- readHead(t, bufio.NewReader(c))
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"+
			"Connection: X-Private, keep-alive\r\nX-Private: secret\r\nKeep-Alive: timeout=5\r\n"+
			"Proxy-Connection: keep-alive\r\nUpgrade: h2c\r\nTrailer: X-Sum\r\n"+
			"Via: 1.0 upstream-cache\r\nX-Kept: yes\r\n\r\nok")
	})
	_, addr := startProxy(t, Config{XForwardedFor: true})
	resp, body := roundTrip(t, addr, "GET http://"+origin+"/h HTTP/1.1\r\nHost: "+origin+"\r\n"+
		"Connection: X-Secret, TE\r\nX-Secret: 1\r\nKeep-Alive: 300\r\nProxy-Connection: keep-alive\r\n"+
		"Proxy-Authorization: Basic eDp5\r\nTE: trailers\r\nUpgrade: websocket\r\nTrailer: X-Sum\r\n"+
		"Expect: 100-continue\r\n"+
		"Via: 1.1 client-side\r\nX-Forwarded-For: 192.0.2.1\r\nX-End-To-End: kept\r\n\r\n", "GET")

	head := <-heads
	assert.True(t, strings.HasPrefix(head, "GET /h HTTP/1.1\r\n"), "origin-form upstream: %q", head)
	for _, gone := range []string{"Connection:", "X-Secret", "Keep-Alive", "Proxy-Connection", "Proxy-Authorization",
		"TE:", "Upgrade", "Trailer", "Expect"} {
		assert.NotContains(t, head, gone)
	}
	assert.Contains(t, head, "Host: "+origin+"\r\n")
	assert.Contains(t, head, "X-End-To-End: kept\r\n")
	assert.Contains(t, head, "Via: 1.1 client-side\r\n")
	assert.Contains(t, head, "Via: 1.1 "+testName+"\r\nX-Forwarded-For: 192.0.2.1, 127.0.0.1\r\n", "Via appended, XFF appended to")

	assert.Equal(t, "ok", body)
	assert.Equal(t, []string{"1.0 upstream-cache", "1.1 " + testName}, resp.Header.Values("Via"), "our Via is appended")
	assert.Equal(t, "yes", resp.Header.Get("X-Kept"))
	for _, gone := range []string{"X-Private", "Keep-Alive", "Proxy-Connection", "Upgrade", "Trailer"} {
		assert.Empty(t, resp.Header.Values(gone), gone)
	}
}

func TestForwardedForIsOffByDefault(t *testing.T) {
	noLeaks(t)
	heads := make(chan string, 1)
	origin := rawOrigin(t, func(c net.Conn) {
		heads <- readHead(t, bufio.NewReader(c))
		io.WriteString(c, "HTTP/1.1 204 No Content\r\n\r\n")
	})
	_, addr := startProxy(t, Config{})
	resp, _ := roundTrip(t, addr, "GET http://"+origin+"/ HTTP/1.1\r\nHost: x\r\n\r\n", "GET")
	assert.Equal(t, 204, resp.StatusCode)
	assert.NotContains(t, <-heads, "X-Forwarded-For")
}

func TestMaxForwards(t *testing.T) {
	noLeaks(t)
	heads := make(chan string, 4)
	origin := rawOrigin(t, func(c net.Conn) {
		heads <- readHead(t, bufio.NewReader(c))
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\norigin")
	})
	_, addr := startProxy(t, Config{})
	target := "http://" + origin + "/m"

	resp, body := roundTrip(t, addr, "OPTIONS "+target+" HTTP/1.1\r\nHost: x\r\nMax-Forwards: 0\r\n\r\n", "OPTIONS")
	assert.Equal(t, 200, resp.StatusCode)
	assert.Contains(t, resp.Header.Get("Allow"), "CONNECT")
	assert.Empty(t, body)

	resp, body = roundTrip(t, addr, "TRACE "+target+" HTTP/1.1\r\nHost: x\r\nMax-Forwards: 0\r\nCookie: secret\r\nX-Probe: 1\r\n\r\n", "TRACE")
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "message/http", resp.Header.Get("Content-Type"))
	assert.True(t, strings.HasPrefix(body, "TRACE "+target+" HTTP/1.1\r\n"))
	assert.Contains(t, body, "X-Probe: 1\r\n")
	assert.NotContains(t, body, "secret", "credentials are not echoed")
	assert.Empty(t, heads, "Max-Forwards 0 is answered by the proxy")

	resp, body = roundTrip(t, addr, "OPTIONS "+target+" HTTP/1.1\r\nHost: x\r\nMax-Forwards: 5\r\n\r\n", "OPTIONS")
	assert.Equal(t, "origin", body)
	assert.Contains(t, <-heads, "Max-Forwards: 4\r\n")

	resp, _ = roundTrip(t, addr, "GET "+target+" HTTP/1.1\r\nHost: x\r\nMax-Forwards: 0\r\n\r\n", "GET")
	assert.Equal(t, 200, resp.StatusCode, "Max-Forwards binds only OPTIONS and TRACE")
	assert.Contains(t, <-heads, "Max-Forwards: 0\r\n")

	resp, body = roundTrip(t, addr, "TRACE "+target+" HTTP/1.1\r\nHost: x\r\nMax-Forwards: -1\r\n\r\n", "TRACE")
	assert.Equal(t, 400, resp.StatusCode)
	assert.Contains(t, body, "malformed Max-Forwards")
}

func TestLoopsRefused(t *testing.T) {
	noLeaks(t)
	_, addr := startProxy(t, Config{SelfAddrs: []string{"0.0.0.0:1", "proxy.example:8888"}})
	tests := []struct{ name, raw, want string }{
		{"own address", "GET http://" + addr + "/ HTTP/1.1\r\nHost: x\r\n\r\n", "is this proxy's own address"},
		{"own name in Via", "GET http://192.0.2.1/ HTTP/1.1\r\nHost: x\r\nVia: 1.0 a, 1.1 TestProxy (wasmhttpd)\r\n\r\n", "Via already names this proxy"},
		{"configured name", "GET http://proxy.example:8888/ HTTP/1.1\r\nHost: x\r\n\r\n", "own address"},
		{"wildcard listener", "GET http://127.0.0.1:1/ HTTP/1.1\r\nHost: x\r\n\r\n", "own address"},
		{"tunnel to itself", "CONNECT " + addr + " HTTP/1.1\r\nHost: x\r\n\r\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := roundTrip(t, addr, tt.raw, "GET")
			if tt.want == "" {
				assert.Equal(t, 403, resp.StatusCode, "the port check comes first")
				return
			}
			assert.Equal(t, 508, resp.StatusCode)
			assert.Contains(t, body, tt.want)
		})
	}
}

func TestOriginFormRefusedWithAPreciseError(t *testing.T) {
	noLeaks(t)
	_, addr := startProxy(t, Config{})
	resp, body := roundTrip(t, addr, "GET /index.html HTTP/1.1\r\nHost: example.test\r\n\r\n", "GET")
	assert.Equal(t, 400, resp.StatusCode)
	assert.Contains(t, body, "origin-form request-target sent to a forward proxy")
	resp, _ = roundTrip(t, addr, "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", "OPTIONS")
	assert.Equal(t, 200, resp.StatusCode, "OPTIONS * asks the proxy itself")
}

func TestUpstreamFailures(t *testing.T) {
	noLeaks(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	refused := ln.Addr().String()
	ln.Close()
	silent := rawOrigin(t, func(c net.Conn) { io.Copy(io.Discard, c) })
	garbage := rawOrigin(t, func(c net.Conn) {
		readHead(t, bufio.NewReader(c))
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx")
	})
	hangup := rawOrigin(t, func(c net.Conn) { readHead(t, bufio.NewReader(c)) })
	p, addr := startProxy(t, Config{ResponseHeaderTimeout: 200 * time.Millisecond})

	tests := []struct {
		name, target string
		status       int
		want         string
	}{
		{"refused", refused, 502, "connect to " + refused + ": connection refused"},
		{"silent", silent, 504, silent + " did not answer within 200ms"},
		{"malformed", garbage, 502, "bad response from " + garbage + ": conflicting Content-Length values"},
		{"hang-up", hangup, 502, hangup + " closed the connection without a complete response head"},
		{"unknown host", "no-such-host.invalid:80", 502, "connect to no-such-host.invalid:80: lookup no-such-host.invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := roundTrip(t, addr, "GET http://"+tt.target+"/ HTTP/1.1\r\nHost: x\r\n\r\n", "GET")
			assert.Equal(t, tt.status, resp.StatusCode)
			assert.Equal(t, "text/plain; charset=utf-8", resp.Header.Get("Content-Type"))
			assert.Contains(t, body, tt.want)
		})
	}
	assert.Equal(t, Stats{Errors: int64(len(tests)), Timeouts: 1}, p.Stats(), "every failure counted, the silent one as a timeout")
}

func TestBodyCutShortAbortsTheClientResponse(t *testing.T) {
	noLeaks(t)
	origin := rawOrigin(t, func(c net.Conn) {
		readHead(t, bufio.NewReader(c))
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b")
	})
	chunked := rawOrigin(t, func(c net.Conn) {
		readHead(t, bufio.NewReader(c))
		io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
	})
	p, addr := startProxy(t, Config{})
	client := proxyClient(t, addr)
	for _, target := range []string{origin, chunked} {
		resp, err := client.Get("http://" + target + "/")
		require.NoError(t, err)
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.ErrorIs(t, err, io.ErrUnexpectedEOF, "a truncated upstream body is never presented as complete")
	}
	assert.Equal(t, int64(2), p.Stats().Errors)
}

func TestInterimResponses(t *testing.T) {
	noLeaks(t)
	origin := rawOrigin(t, func(c net.Conn) {
		readHead(t, bufio.NewReader(c))
		io.WriteString(c, "HTTP/1.1 100 Continue\r\n\r\n"+
			"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"+
			"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody")
	})
	p, _ := startProxy(t, Config{})
	// A field set before the proxy runs (as a policy would) belongs to the
	// final response, not to the interim one.
	addr := serve(t, http1.HandlerFunc(func(ex *http1.Exchange) {
		ex.Response.Header().Set("X-Policy", "set-early")
		p.Serve(ex)
	}))
	c, br := dialProxy(t, addr)
	io.WriteString(c, "GET http://"+origin+"/ HTTP/1.1\r\nHost: x\r\n\r\n")
	early := readHead(t, br)
	assert.True(t, strings.HasPrefix(early, "HTTP/1.1 103 Early Hints\r\n"), "the 103 is relayed, the 100 is not: %q", early)
	assert.Contains(t, early, "Link: </style.css>; rel=preload\r\n")
	assert.NotContains(t, early, "X-Policy")
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "body", string(body))
	assert.Equal(t, "set-early", resp.Header.Get("X-Policy"))
	assert.Empty(t, resp.Header.Get("Link"))
}

func TestClientGoneClosesTheUpstreamConnection(t *testing.T) {
	noLeaks(t)
	origin := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		chunk := bytes.Repeat([]byte("x"), 64<<10)
		for {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	_, addr := startProxy(t, Config{})
	c, br := dialProxy(t, addr)
	io.WriteString(c, "GET "+origin.URL+"/endless HTTP/1.1\r\nHost: x\r\n\r\n")
	readHead(t, br)
	_, err := io.CopyN(io.Discard, br, 1<<20)
	require.NoError(t, err)
	c.Close()
	require.Eventually(t, func() bool { return origin.open.Load() == 0 }, 5*time.Second, 10*time.Millisecond,
		"a response nobody reads any more is not kept flowing, nor its connection pooled")
}

func TestExpectContinueAnsweredByTheProxy(t *testing.T) {
	noLeaks(t)
	origin := echoOrigin(t)
	_, addr := startProxy(t, Config{})
	c, br := dialProxy(t, addr)
	io.WriteString(c, "PUT "+origin.URL+"/e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
	assert.Equal(t, "HTTP/1.1 100 Continue\r\n\r\n", readHead(t, br))
	io.WriteString(c, "hello")
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	assert.Equal(t, `PUT /e length=5 trailer="" body=hello`, string(body))
}

func TestKeepAliveReusesUpstreamConnections(t *testing.T) {
	noLeaks(t)
	origin := echoOrigin(t)
	_, addr := startProxy(t, Config{})
	client := proxyClient(t, addr)
	for i := range 5 {
		resp, err := client.Get(origin.URL + "/" + strconv.Itoa(i))
		require.NoError(t, err)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	// A POST with a body and a HEAD reuse it too.
	resp, err := client.Post(origin.URL+"/p", "text/plain", strings.NewReader("data"))
	require.NoError(t, err)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	resp, err = client.Head(origin.URL + "/h")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, int64(1), origin.accepted.Load(), "seven requests, one upstream connection")
}

func TestPerHostConnectionLimit(t *testing.T) {
	noLeaks(t)
	release := make(chan struct{})
	var inFlight, peak atomic.Int64
	origin := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		<-release
		inFlight.Add(-1)
		io.WriteString(w, "ok")
	})
	_, addr := startProxy(t, Config{MaxConnsPerHost: 2})
	client := proxyClient(t, addr)
	const requests = 6
	results := make(chan int, requests)
	for range requests {
		go func() {
			resp, err := client.Get(origin.URL + "/")
			if err != nil {
				results <- 0
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			results <- resp.StatusCode
		}()
	}
	require.Eventually(t, func() bool { return inFlight.Load() == 2 }, 5*time.Second, 5*time.Millisecond)
	time.Sleep(50 * time.Millisecond) // let the other four reach the queue
	assert.Equal(t, int64(2), inFlight.Load(), "the others wait for a connection")
	close(release)
	for range requests {
		assert.Equal(t, 200, <-results)
	}
	assert.Equal(t, int64(2), peak.Load())
	assert.Equal(t, int64(2), origin.accepted.Load(), "waiters are served on the freed connections")
}

func TestPerHostQueueIsBounded(t *testing.T) {
	noLeaks(t)
	release := make(chan struct{})
	origin := newOrigin(t, func(w http.ResponseWriter, r *http.Request) { <-release })
	_, addr := startProxy(t, Config{MaxConnsPerHost: 1, MaxWaitingPerHost: 1, ConnectTimeout: 300 * time.Millisecond})
	client := proxyClient(t, addr)
	go func() {
		if resp, err := client.Get(origin.URL + "/busy"); err == nil {
			resp.Body.Close()
		}
	}()
	require.Eventually(t, func() bool { return origin.open.Load() == 1 }, 5*time.Second, 5*time.Millisecond)
	waited := make(chan *http.Response, 1)
	go func() {
		resp, err := client.Get(origin.URL + "/queued")
		if err != nil {
			waited <- nil
			return
		}
		waited <- resp
	}()
	time.Sleep(50 * time.Millisecond)
	resp, err := client.Get(origin.URL + "/refused")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, 503, resp.StatusCode)
	assert.Contains(t, string(body), "too many requests waiting for a connection to "+origin.host())

	queued := <-waited
	require.NotNil(t, queued)
	body, _ = io.ReadAll(queued.Body)
	queued.Body.Close()
	assert.Equal(t, 504, queued.StatusCode, "the wait for a connection is bounded")
	assert.Contains(t, string(body), "no connection to "+origin.host()+" free within 300ms")
	close(release)
}

// oneShotOrigin answers one request per connection, claiming keep-alive,
// then closes and says so on closed: every pooled connection to it goes
// stale. It counts the connections it accepted.
func oneShotOrigin(t *testing.T, accepted *atomic.Int64, closed chan<- struct{}) string {
	return rawOrigin(t, func(c net.Conn) {
		accepted.Add(1)
		br := bufio.NewReader(c)
		head := readHead(t, br)
		if strings.Contains(head, "Content-Length: 4") {
			io.CopyN(io.Discard, br, 4)
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		c.Close()
		closed <- struct{}{}
	})
}

func TestStaleConnections(t *testing.T) {
	noLeaks(t)
	var accepted atomic.Int64
	closed := make(chan struct{}, 1)
	origin := oneShotOrigin(t, &accepted, closed)
	_, addr := startProxy(t, Config{})
	c, br := dialProxy(t, addr)
	send := func(raw, method string) (int, string) {
		t.Helper()
		io.WriteString(c, raw)
		resp, err := http.ReadResponse(br, &http.Request{Method: method})
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	get := "GET http://" + origin + "/ HTTP/1.1\r\nHost: x\r\n\r\n"
	status, _ := send(get, "GET")
	require.Equal(t, 200, status)
	<-closed

	status, body := send(get, "GET")
	assert.Equal(t, 200, status, "a GET on a stale connection is retried on a fresh one")
	assert.Equal(t, "ok", body)
	assert.Equal(t, int64(2), accepted.Load())
	<-closed

	status, body = send("POST http://"+origin+"/ HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", "POST")
	assert.Equal(t, 502, status, "a POST is never sent twice")
	assert.Contains(t, body, origin+" closed the connection without a complete response head")
	assert.Equal(t, int64(2), accepted.Load())

	status, _ = send(get, "GET")
	assert.Equal(t, 200, status, "a 502 does not cost the client its connection")
	<-closed

	status, body = send("PUT http://"+origin+"/ HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\ndata", "PUT")
	assert.Equal(t, 200, status, "a stale connection is found before a body is sent on it")
	assert.Equal(t, "ok", body)
	assert.Equal(t, int64(4), accepted.Load())
	<-closed
}

func TestLargeBodiesAreStreamed(t *testing.T) {
	noLeaks(t)
	const size = 64 << 20
	var sent atomic.Int64
	origin := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "PUT" {
			n, _ := io.Copy(io.Discard, r.Body)
			fmt.Fprint(w, n)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(size))
		chunk := bytes.Repeat([]byte("x"), 64<<10)
		for i := 0; i < size/len(chunk); i++ {
			if _, err := w.Write(chunk); err != nil {
				return
			}
			sent.Add(int64(len(chunk)))
		}
	})
	_, addr := startProxy(t, Config{})
	client := proxyClient(t, addr)

	var before, after runtimeStats
	before.read()
	resp, err := client.Get(origin.URL + "/big")
	require.NoError(t, err)
	_, err = io.CopyN(io.Discard, resp.Body, 1<<20)
	require.NoError(t, err)
	time.Sleep(200 * time.Millisecond) // a slow reader: the proxy must wait for it
	assert.Less(t, sent.Load(), int64(size/2), "the origin is held back by the slow client, not buffered ahead")
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	assert.Equal(t, int64(size-1<<20), n)
	after.read()
	assert.Less(t, after.alloc-before.alloc, uint64(size/4), "a 64 MiB body costs far less than 64 MiB of allocation")

	resp, err = client.Do(mustRequest(t, "PUT", origin.URL+"/up", io.LimitReader(zeros{}, size)))
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, strconv.Itoa(size), string(body), "a 64 MiB chunked upload arrives whole")
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func mustRequest(t *testing.T, method, url string, body io.Reader) *http.Request {
	req, err := http.NewRequest(method, url, body)
	require.NoError(t, err)
	return req
}

func TestRequestFramingIsCanonical(t *testing.T) {
	noLeaks(t)
	heads := make(chan string, 1)
	origin := rawOrigin(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			if _, err := br.Peek(1); err != nil {
				return // the proxy closed its pooled connection
			}
			head := readHead(t, br)
			if strings.Contains(head, "Content-Length: 3") {
				io.CopyN(io.Discard, br, 3)
			}
			heads <- head
			io.WriteString(c, "HTTP/1.1 204 No Content\r\n\r\n")
		}
	})
	_, addr := startProxy(t, Config{})
	roundTrip(t, addr, "POST http://"+origin+"/ HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 3\r\nContent-Length: 3\r\n\r\nabc", "POST")
	head := <-heads
	assert.Equal(t, 1, strings.Count(head, "Content-Length"), head)
	assert.Contains(t, head, "\r\nContent-Length: 3\r\n")

	roundTrip(t, addr, "POST http://"+origin+"/ HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", "POST")
	assert.Contains(t, <-heads, "\r\nContent-Length: 0\r\n", "an empty body keeps its explicit length")
}

func TestForwardToHTTPSAbsoluteURI(t *testing.T) {
	noLeaks(t)
	origin := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "tls "+r.URL.Path)
	}))
	defer origin.Close()
	roots := x509.NewCertPool()
	roots.AddCert(origin.Certificate())
	_, addr := startProxy(t, Config{TLS: &tls.Config{RootCAs: roots}})
	resp, body := roundTrip(t, addr, "GET "+origin.URL+"/secure HTTP/1.1\r\nHost: x\r\n\r\n", "GET")
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "tls /secure", body, "the proxy speaks TLS to an https target")
}

func TestBadRequestBodyIsTheClientsFault(t *testing.T) {
	noLeaks(t)
	var accepted atomic.Int64
	origin := rawOrigin(t, func(c net.Conn) {
		accepted.Add(1)
		io.Copy(io.Discard, c)
	})
	_, addr := startProxy(t, Config{})
	resp, body := roundTrip(t, addr, "POST http://"+origin+"/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"+
		"3\r\nabc\r\nzz\r\n", "POST")
	assert.Equal(t, 400, resp.StatusCode)
	assert.Contains(t, body, "reading the request body: malformed chunk size")
	assert.True(t, resp.Close, "a connection whose body broke cannot carry another request")
	// The origin's accept may run after the client has the 400.
	assert.Eventually(t, func() bool { return accepted.Load() == 1 }, 5*time.Second, time.Millisecond, "the request was sent upstream once")
}

func TestUnsolicitedSwitchingProtocolsRefused(t *testing.T) {
	noLeaks(t)
	origin := rawOrigin(t, func(c net.Conn) {
		readHead(t, bufio.NewReader(c))
		io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	})
	_, addr := startProxy(t, Config{})
	resp, body := roundTrip(t, addr, "GET http://"+origin+"/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", "GET")
	assert.Equal(t, 502, resp.StatusCode)
	assert.Contains(t, body, origin+" switched protocols (101) though no upgrade was asked for")
}
