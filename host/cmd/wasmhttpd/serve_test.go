package main

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"wasmhttpd/host/http1"
	"wasmhttpd/host/server"
)

// testListeners opens the origin, proxy and admin listeners on loopback,
// each answering "NAME" to any path but /slow, which answers once
// release is closed; entered hears of each /slow request.
func testListeners(t *testing.T, logger *slog.Logger) (ls []*listener, entered chan string, release chan struct{}) {
	t.Helper()
	entered, release = make(chan string, 3), make(chan struct{})
	for _, name := range []string{"origin", "proxy", "admin"} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		h := http1.HandlerFunc(func(ex *http1.Exchange) {
			if string(ex.Request.Path) == "/slow" {
				entered <- name
				<-release
			}
			ex.Response.SetContentLength(int64(len(name)))
			ex.Response.Write([]byte(name))
		})
		ls = append(ls, &listener{name: name, ln: ln, srv: server.New(server.Config{Name: name, Handler: h, Logger: logger})})
	}
	t.Cleanup(func() {
		for _, l := range ls {
			l.ln.Close()
		}
	})
	return ls, entered, release
}

var testClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}

// getBody GETs path from l and returns the body of a 200.
func getBody(t *testing.T, l *listener, path string) string {
	t.Helper()
	resp, err := testClient.Get("http://" + l.ln.Addr().String() + path)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, 200, resp.StatusCode, string(body))
	return string(body)
}

// refusing reports whether every listener refuses new connections.
func refusing(ls []*listener) bool {
	for _, l := range ls {
		if c, err := net.Dial("tcp", l.ln.Addr().String()); err == nil {
			c.Close()
			return false
		}
	}
	return true
}

// waitCode returns what serveUntilSignal returned, failing after 10 s.
// Its logs may be read once it has returned: every server and connection
// goroutine has ended by then, and slog serialises their writes before.
func waitCode(t *testing.T, code <-chan int) int {
	t.Helper()
	select {
	case c := <-code:
		return c
	case <-time.After(10 * time.Second):
		require.FailNow(t, "serveUntilSignal did not return")
		return 0
	}
}

// TestServeUntilSignalDrainsEveryListener: HUP reloads and keeps serving;
// TERM drains once, closes every listener, lets the request in flight on
// one of them finish, and exits 0.
func TestServeUntilSignalDrainsEveryListener(t *testing.T) {
	logs := &bytes.Buffer{}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	ls, entered, release := testListeners(t, logger)
	reloads, drains := make(chan struct{}, 2), make(chan struct{}, 2)
	code := make(chan int, 1)
	go func() {
		code <- serveUntilSignal(ls, 10*time.Second, func() { reloads <- struct{}{} }, func() { drains <- struct{}{} }, logger)
	}()
	// Each answer also means serveUntilSignal is listening for signals:
	// it does so before serving.
	for _, l := range ls {
		assert.Equal(t, l.name, getBody(t, l, "/"))
	}

	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGHUP))
	<-reloads
	for _, l := range ls {
		assert.Equal(t, l.name, getBody(t, l, "/"), "still serving after a reload")
	}

	type result struct {
		status int
		body   string
		err    error
	}
	slow := make(chan result, 1)
	go func() {
		resp, err := testClient.Get("http://" + ls[1].ln.Addr().String() + "/slow")
		if err != nil {
			slow <- result{err: err}
			return
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		slow <- result{resp.StatusCode, string(body), err}
	}()
	assert.Equal(t, "proxy", <-entered)
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGTERM))
	<-drains
	require.Eventually(t, func() bool { return refusing(ls) }, 5*time.Second, 10*time.Millisecond,
		"every listener is closed, the one with a request in flight too")
	// Right, it cannot return before the handler does; wrong, it would
	// return within the wait.
	require.Never(t, func() bool { return len(code) > 0 }, 200*time.Millisecond, 10*time.Millisecond,
		"returned while a request was in flight")
	close(release)
	assert.Equal(t, result{status: 200, body: "proxy"}, <-slow, "the request in flight finished")
	assert.Equal(t, 0, waitCode(t, code))
	assert.Empty(t, drains, "drained once")
	assert.Empty(t, reloads)
	assert.Contains(t, logs.String(), "msg=stopped")
	assert.NotContains(t, logs.String(), "grace period over")
}

// TestServeUntilSignalListenerFailure: a listener that fails stops the
// others at once and the exit says so.
func TestServeUntilSignalListenerFailure(t *testing.T) {
	logs := &bytes.Buffer{}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	ls, _, _ := testListeners(t, logger)
	drained := make(chan struct{}, 1)
	code := make(chan int, 1)
	go func() {
		code <- serveUntilSignal(ls, 10*time.Second, func() {}, func() { drained <- struct{}{} }, logger)
	}()
	for _, l := range ls {
		getBody(t, l, "/")
	}
	ls[2].ln.Close() // admin's, under its server: Accept fails
	assert.Equal(t, exitRuntime, waitCode(t, code))
	assert.Len(t, drained, 1)
	assert.True(t, refusing(ls), "the origin and proxy listeners are closed too")
	assert.Contains(t, logs.String(), `msg="listener failed" listener=admin`)
}
