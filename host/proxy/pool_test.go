package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestIdleConnectionsClosedAfterIdleTimeout(t *testing.T) {
	noLeaks(t)
	origin := echoOrigin(t)
	_, addr := startProxy(t, Config{IdleTimeout: 100 * time.Millisecond})
	resp, body := roundTrip(t, addr, "GET "+origin.URL+"/ HTTP/1.1\r\nHost: x\r\n\r\n", "GET")
	require.Equal(t, 200, resp.StatusCode, body)
	assert.Equal(t, int64(1), origin.open.Load(), "kept alive after the response")
	assert.Eventually(t, func() bool { return origin.open.Load() == 0 }, 5*time.Second, 10*time.Millisecond,
		"the sweeper closes it once idle past the timeout")
}

func TestIdleConnectionsCappedPerHost(t *testing.T) {
	noLeaks(t)
	release := make(chan struct{})
	var arrived sync.WaitGroup
	arrived.Add(3)
	origin := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		arrived.Done()
		<-release
		io.WriteString(w, "ok")
	})
	_, addr := startProxy(t, Config{MaxIdlePerHost: 1})
	client := proxyClient(t, addr)
	var done sync.WaitGroup
	for range 3 {
		done.Add(1)
		go func() {
			defer done.Done()
			if resp, err := client.Get(origin.URL + "/"); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	arrived.Wait()
	assert.Equal(t, int64(3), origin.open.Load())
	close(release)
	done.Wait()
	assert.Eventually(t, func() bool { return origin.open.Load() == 1 }, 5*time.Second, 10*time.Millisecond,
		"only MaxIdlePerHost connections stay")
}

func TestStalledUpstreamBodyAbortsTheClientResponse(t *testing.T) {
	noLeaks(t)
	origin := rawOrigin(t, func(c net.Conn) {
		readHead(t, bufio.NewReader(c))
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab")
		io.Copy(io.Discard, c) // and nothing more, until the proxy gives up

	})
	_, addr := startProxy(t, Config{ReadTimeout: 200 * time.Millisecond})
	c, br := dialProxy(t, addr)
	io.WriteString(c, "GET http://"+origin+"/ HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	_, err = io.ReadAll(resp.Body)
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF, "the client sees a cut, not a short body passed off as whole")
}

func TestEarlyAnswerToAnUploadIsRelayed(t *testing.T) {
	noLeaks(t)
	origin := rawOrigin(t, func(c net.Conn) {
		readHead(t, bufio.NewReader(c))
		io.WriteString(c, "HTTP/1.1 413 Content Too Large\r\nContent-Length: 8\r\nConnection: close\r\n\r\ntoo big\n")
	})
	_, addr := startProxy(t, Config{})
	// A raw client that keeps sending while it reads: net/http gives up on
	// the response as soon as its upload fails.
	c, br := dialProxy(t, addr)
	const size = 32 << 20
	io.WriteString(c, "POST http://"+origin+"/upload HTTP/1.1\r\nHost: x\r\nContent-Length: 33554432\r\n\r\n")
	go io.Copy(c, io.LimitReader(zeros{}, size))
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	assert.Equal(t, 413, resp.StatusCode, "the upstream's answer beats our write error")
	assert.Equal(t, "too big\n", string(body))
	assert.True(t, resp.Close)
}

func TestHTTP10ClientGetsABodyDelimitedByClose(t *testing.T) {
	noLeaks(t)
	origin := echoOrigin(t)
	_, addr := startProxy(t, Config{})
	c, br := dialProxy(t, addr)
	io.WriteString(c, "GET "+origin.URL+"/old?chunked HTTP/1.0\r\n\r\n")
	head := readHead(t, br)
	assert.True(t, strings.HasPrefix(head, "HTTP/1.1 200 OK\r\n"))
	assert.Contains(t, head, "Via: 1.1 "+testName+"\r\n")
	assert.NotContains(t, head, "chunked")
	body, err := io.ReadAll(br)
	require.NoError(t, err)
	assert.Contains(t, string(body), "GET /old?chunked")
}

func TestCloseClosesIdleConnections(t *testing.T) {
	noLeaks(t)
	origin := echoOrigin(t)
	p, addr := startProxy(t, Config{})
	resp, _ := roundTrip(t, addr, "GET "+origin.URL+"/ HTTP/1.1\r\nHost: x\r\n\r\n", "GET")
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, int64(1), origin.open.Load())
	p.Close()
	assert.Eventually(t, func() bool { return origin.open.Load() == 0 }, 5*time.Second, 10*time.Millisecond)
}
