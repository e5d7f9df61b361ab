package server

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"wasmhttpd/host/http1"
)

// start serves handler on a loopback port and returns its address; the
// server is shut down when the test ends.
func start(t *testing.T, cfg Config) (*Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := New(cfg)
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
		assert.ErrorIs(t, <-done, ErrServerClosed)
	})
	return s, ln.Addr().String()
}

// echoPath answers every request with its method and path.
var echoPath = http1.HandlerFunc(func(ex *http1.Exchange) {
	body := ex.Request.Method + " " + string(ex.Request.Path)
	ex.Response.Header().Set("Content-Type", "text/plain")
	ex.Response.SetContentLength(int64(len(body)))
	ex.Response.WriteString(body)
})

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}

func readResponse(t *testing.T, br *bufio.Reader, method string) (*http.Response, string) {
	t.Helper()
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(body)
}

func TestPipelinedRequestsAnsweredInOrder(t *testing.T) {
	_, addr := start(t, Config{Handler: echoPath})
	c := dial(t, addr)
	_, err := io.WriteString(c, "GET /one HTTP/1.1\r\nHost: a\r\n\r\n"+
		"POST /two HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"+
		"HEAD /three HTTP/1.1\r\nHost: a\r\n\r\n")
	require.NoError(t, err)
	br := bufio.NewReader(c)
	for _, want := range []struct{ method, body string }{{"GET", "GET /one"}, {"POST", "POST /two"}, {"HEAD", ""}} {
		resp, body := readResponse(t, br, want.method)
		assert.Equal(t, 200, resp.StatusCode)
		assert.Equal(t, want.body, body)
	}
}

func TestKeepAliveAndClose(t *testing.T) {
	_, addr := start(t, Config{Handler: echoPath})
	tests := []struct {
		name      string
		request   string
		wantClose bool
	}{
		{"http/1.1 default", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", false},
		{"http/1.1 close", "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", true},
		{"http/1.0 default", "GET / HTTP/1.0\r\n\r\n", true},
		{"http/1.0 keep-alive", "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dial(t, addr)
			br := bufio.NewReader(c)
			io.WriteString(c, tt.request)
			resp, _ := readResponse(t, br, "GET")
			if tt.wantClose {
				assert.True(t, resp.Close)
				_, err := br.ReadByte()
				assert.ErrorIs(t, err, io.EOF, "server closes after the response")
				return
			}
			io.WriteString(c, "GET /again HTTP/1.1\r\nHost: a\r\n\r\n")
			_, body := readResponse(t, br, "GET")
			assert.Equal(t, "GET /again", body)
		})
	}
}

func TestMaxRequestsPerConnection(t *testing.T) {
	_, addr := start(t, Config{Handler: echoPath, MaxRequestsPerConnection: 2})
	c := dial(t, addr)
	br := bufio.NewReader(c)
	io.WriteString(c, strings.Repeat("GET / HTTP/1.1\r\nHost: a\r\n\r\n", 3))
	first, _ := readResponse(t, br, "GET")
	assert.False(t, first.Close)
	second, _ := readResponse(t, br, "GET")
	assert.True(t, second.Close)
	_, err := br.ReadByte()
	assert.ErrorIs(t, err, io.EOF)
}

func TestUnreadBodyIsDrainedOrConnectionCloses(t *testing.T) {
	ignoreBody := http1.HandlerFunc(func(ex *http1.Exchange) { ex.Response.Error(403, "no") })
	_, addr := start(t, Config{Handler: ignoreBody, MaxDrain: 10})

	c := dial(t, addr)
	br := bufio.NewReader(c)
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"+
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello")
	for range 2 {
		resp, _ := readResponse(t, br, "POST")
		assert.Equal(t, 403, resp.StatusCode)
		assert.False(t, resp.Close, "a small unread body is drained")
	}

	c = dial(t, addr)
	br = bufio.NewReader(c)
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 50\r\n\r\n"+strings.Repeat("x", 50))
	resp, _ := readResponse(t, br, "POST")
	assert.True(t, resp.Close, "a body over the drain limit closes")
}

func TestParseErrorAnswersAndCloses(t *testing.T) {
	var observed []int
	var mu sync.Mutex
	_, addr := start(t, Config{Handler: echoPath, Observe: func(ex *http1.Exchange, _ time.Duration) {
		mu.Lock()
		observed = append(observed, ex.Response.Status())
		mu.Unlock()
	}})
	c := dial(t, addr)
	br := bufio.NewReader(c)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
	resp, body := readResponse(t, br, "GET")
	assert.Equal(t, 400, resp.StatusCode)
	assert.Contains(t, body, "more than one Host")
	assert.True(t, resp.Close)
	// Observed once the response is out, so possibly after the client
	// has read it.
	assert.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return slices.Equal(observed, []int{400})
	}, 5*time.Second, time.Millisecond, "refusals reach the access log")
}

func TestHandlerPanicCostsOneRequest(t *testing.T) {
	h := http1.HandlerFunc(func(ex *http1.Exchange) {
		if string(ex.Request.Path) == "/panic" {
			panic("boom")
		}
		echoPath(ex)
	})
	_, addr := start(t, Config{Handler: h})
	c := dial(t, addr)
	io.WriteString(c, "GET /panic HTTP/1.1\r\nHost: a\r\n\r\n")
	resp, _ := readResponse(t, bufio.NewReader(c), "GET")
	assert.Equal(t, 500, resp.StatusCode)

	c = dial(t, addr)
	io.WriteString(c, "GET /fine HTTP/1.1\r\nHost: a\r\n\r\n")
	resp, body := readResponse(t, bufio.NewReader(c), "GET")
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "GET /fine", body)
}

func TestSlowlorisCutOffWhileOthersServed(t *testing.T) {
	for _, opening := range []string{
		"GET / HTTP/1.1\r\nHost: a\r\n",
		"\r\n\r\nGET / HTTP/1.1\r\n", // empty lines must not pass for a whole head
	} {
		t.Run(strconv.Quote(opening), func(t *testing.T) { testSlowloris(t, opening) })
	}
}

func testSlowloris(t *testing.T, opening string) {
	_, addr := start(t, Config{Handler: echoPath, HeaderTimeout: 300 * time.Millisecond, IdleTimeout: time.Minute})
	slow := dial(t, addr)
	slowBr := bufio.NewReader(slow)
	// A first request makes the connection a kept-alive one, whose wait
	// for the next request is the (long) idle timeout; only the header
	// timeout can cut the trickle short.
	io.WriteString(slow, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	readResponse(t, slowBr, "GET")
	io.WriteString(slow, opening)
	began := time.Now()

	fast := dial(t, addr)
	io.WriteString(fast, "GET /fast HTTP/1.1\r\nHost: a\r\n\r\n")
	_, body := readResponse(t, bufio.NewReader(fast), "GET")
	assert.Equal(t, "GET /fast", body)

	// Trickle the slow head byte by byte; the deadline covers the whole
	// head, so trickling does not extend it.
	for range 5 {
		time.Sleep(50 * time.Millisecond)
		io.WriteString(slow, "X")
	}
	resp, _ := readResponse(t, slowBr, "GET")
	assert.Equal(t, 408, resp.StatusCode)
	assert.Less(t, time.Since(began), 5*time.Second)
}

func TestIdleConnectionClosed(t *testing.T) {
	_, addr := start(t, Config{Handler: echoPath, IdleTimeout: 200 * time.Millisecond})
	c := dial(t, addr)
	br := bufio.NewReader(c)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	readResponse(t, br, "GET")
	_, err := br.ReadByte()
	assert.ErrorIs(t, err, io.EOF, "an idle kept-alive connection is closed")
}

func TestAdmissionControl(t *testing.T) {
	release := make(chan struct{})
	blocking := http1.HandlerFunc(func(ex *http1.Exchange) {
		<-release
		echoPath(ex)
	})
	s, addr := start(t, Config{Handler: blocking, MaxConnections: 2})
	defer close(release)

	var held []net.Conn
	for range 2 {
		c := dial(t, addr)
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
		held = append(held, c)
	}
	require.Eventually(t, func() bool { return s.Stats().Open == 2 }, 5*time.Second, 5*time.Millisecond)

	c := dial(t, addr)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	resp, body := readResponse(t, bufio.NewReader(c), "GET")
	assert.Equal(t, 503, resp.StatusCode)
	assert.Contains(t, body, "too many connections")
	assert.Contains(t, []string{"1", "2", "3", "4", "5"}, resp.Header.Get("Retry-After"))
	assert.True(t, resp.Close)
}

func TestShutdownLetsInFlightFinish(t *testing.T) {
	entered := make(chan struct{})
	slow := http1.HandlerFunc(func(ex *http1.Exchange) {
		close(entered)
		time.Sleep(300 * time.Millisecond)
		echoPath(ex)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := New(Config{Handler: slow, Logger: slog.New(slog.DiscardHandler)})
	go s.Serve(ln)

	idle := dial(t, ln.Addr().String())
	busy := dial(t, ln.Addr().String())
	io.WriteString(busy, "GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
	<-entered
	require.Eventually(t, func() bool { return s.Stats().Idle == 1 }, 5*time.Second, 5*time.Millisecond)

	shutdownDone := make(chan error)
	go func() { shutdownDone <- s.Shutdown(context.Background()) }()

	_, err = bufio.NewReader(idle).ReadByte()
	assert.ErrorIs(t, err, io.EOF, "idle connections close at once")

	resp, body := readResponse(t, bufio.NewReader(busy), "GET")
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "GET /slow", body)
	assert.True(t, resp.Close)
	require.NoError(t, <-shutdownDone)

	_, err = net.Dial("tcp", ln.Addr().String())
	assert.Error(t, err, "the listener is closed")
}

func TestShutdownForcesAfterGrace(t *testing.T) {
	block := make(chan struct{})
	defer close(block)
	entered := make(chan struct{})
	stuck := http1.HandlerFunc(func(ex *http1.Exchange) {
		close(entered)
		<-block
	})
	s, addr := start(t, Config{Handler: stuck})
	c := dial(t, addr)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	<-entered

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	began := time.Now()
	assert.ErrorIs(t, s.Shutdown(ctx), context.DeadlineExceeded)
	assert.Less(t, time.Since(began), 5*time.Second)
	_, err := c.Read(make([]byte, 1))
	assert.Error(t, err, "the stuck connection was closed by force")
}

func TestBodyTimeoutBoundsGapsBetweenReads(t *testing.T) {
	readErr := make(chan error, 1)
	readsBody := http1.HandlerFunc(func(ex *http1.Exchange) {
		_, err := io.ReadAll(ex.Request.Body)
		readErr <- err
		if err != nil {
			ex.Response.Error(http1.StatusOf(err), err.Error())
			return
		}
		echoPath(ex)
	})
	_, addr := start(t, Config{Handler: readsBody, BodyTimeout: 200 * time.Millisecond})
	c := dial(t, addr)
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n12")
	began := time.Now()
	err := <-readErr
	assert.Error(t, err, "a stalled body fails the read")
	assert.Less(t, time.Since(began), 5*time.Second)
	resp, _ := readResponse(t, bufio.NewReader(c), "POST")
	assert.Equal(t, 408, resp.StatusCode)
	assert.True(t, resp.Close)
}

func TestWriteTimeoutCutsOffAReaderThatStalls(t *testing.T) {
	done := make(chan error, 1)
	big := http1.HandlerFunc(func(ex *http1.Exchange) {
		chunk := make([]byte, 64<<10)
		ex.Response.SetContentLength(1 << 30)
		var err error
		for err == nil {
			_, err = ex.Response.Write(chunk)
		}
		done <- err
	})
	_, addr := start(t, Config{Handler: big, WriteTimeout: 200 * time.Millisecond})
	c := dial(t, addr)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	// Never read: the socket buffers fill and the server's writes stall.
	select {
	case err := <-done:
		var ne net.Error
		require.ErrorAs(t, err, &ne)
		assert.True(t, ne.Timeout())
	case <-time.After(10 * time.Second):
		t.Fatal("a stalled write was not cut off")
	}
}
