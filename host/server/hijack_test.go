package server

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"wasmhttpd/host/http1"
)

// echoTunnel takes the connection over, answers the way a CONNECT tunnel
// does, and echoes what the client sends, the bytes pipelined behind the
// head first, until the client half-closes.
func echoTunnel() http1.Handler {
	return http1.HandlerFunc(func(ex *http1.Exchange) {
		nc, rest, err := ex.Hijack()
		if err != nil {
			ex.Response.Error(500, err.Error())
			return
		}
		_, again, err := ex.Hijack()
		if again != nil || err == nil {
			panic("a second Hijack must fail")
		}
		ex.Response.SetStatus(200)
		io.WriteString(nc, "HTTP/1.1 200 Connection established\r\n\r\n")
		nc.Write(rest)
		io.Copy(nc, nc)
		nc.(*net.TCPConn).CloseWrite()
	})
}

// readEstablished reads the tunnel's answer, which has no body: what
// follows it is the tunnel's.
func readEstablished(t *testing.T, br *bufio.Reader) {
	t.Helper()
	resp, err := http.ReadResponse(br, &http.Request{Method: "CONNECT"})
	require.NoError(t, err)
	assert.Equal(t, 200, resp.StatusCode)
}

func TestHijackHandsOverConnectionAndBufferedBytes(t *testing.T) {
	observed := make(chan int, 1)
	s, addr := start(t, Config{
		Handler: echoTunnel(),
		Observe: func(ex *http1.Exchange, _ time.Duration) { observed <- ex.Response.Status() },
	})
	c := dial(t, addr)
	_, err := io.WriteString(c, "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\npipelined")
	require.NoError(t, err)
	br := bufio.NewReader(c)
	readEstablished(t, br)

	buf := make([]byte, len("pipelined"))
	_, err = io.ReadFull(br, buf)
	require.NoError(t, err)
	assert.Equal(t, "pipelined", string(buf), "bytes read ahead by the server reach the handler")

	io.WriteString(c, "more")
	_, err = io.ReadFull(br, buf[:4])
	require.NoError(t, err)
	assert.Equal(t, "more", string(buf[:4]))
	assert.Equal(t, int64(0), s.Stats().Idle, "a hijacked connection is busy, not idle")

	c.(*net.TCPConn).CloseWrite()
	_, err = br.ReadByte()
	assert.ErrorIs(t, err, io.EOF, "the server closes the connection when the handler returns")
	assert.Equal(t, 200, <-observed, "the exchange is observed with the status the handler set")
}

func TestShutdownClosesHijackedConnectionAfterGrace(t *testing.T) {
	s, addr := start(t, Config{Handler: echoTunnel()})
	c := dial(t, addr)
	io.WriteString(c, "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n")
	br := bufio.NewReader(c)
	readEstablished(t, br)

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, s.Shutdown(ctx), context.DeadlineExceeded, "graceful shutdown waits for the tunnel")
	_, err := br.ReadByte()
	assert.Error(t, err, "then the tunnel is closed by force")
}
