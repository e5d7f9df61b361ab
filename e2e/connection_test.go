package e2e

import (
	"bufio"
	"crypto/rand"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWireRefusals(t *testing.T) {
	inst := startServer(t, defaultConfig(""))
	tests := []struct {
		name    string
		request string
		status  int
	}{
		{"version 2.0", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505},
		{"method not a token", "G@T / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"no host", "GET / HTTP/1.1\r\n\r\n", 400},
		{"two hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
		{"space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n  2\r\n\r\n", 400},
		{"nul in value", "GET / HTTP/1.1\r\nHost: a\r\nX: \x00\r\n\r\n", 400},
		{"bare lf", "GET / HTTP/1.1\nHost: a\n\n", 400},
		{"differing lengths", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400},
		{"te with cl", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n0\r\n\r\n", 400},
		{"chunked not last", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400},
		{"unknown coding", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: br, chunked\r\n\r\n", 501},
		{"request line too long", "GET /" + strings.Repeat("a", 9000) + " HTTP/1.1\r\nHost: a\r\n\r\n", 414},
		{"header too large", "GET / HTTP/1.1\r\nHost: a\r\nX: " + strings.Repeat("a", 70000) + "\r\n\r\n", 431},
		{"too many headers", "GET / HTTP/1.1\r\nHost: a\r\n" + strings.Repeat("X: y\r\n", 101) + "\r\n", 431},
		{"body too large", "PUT /x HTTP/1.1\r\nHost: a\r\nContent-Length: 999999999999\r\n\r\n", 413},
		{"other expectation", "PUT /x HTTP/1.1\r\nHost: a\r\nExpect: tea\r\nContent-Length: 1\r\n\r\nx", 417},
		{"unknown method", "BREW / HTTP/1.1\r\nHost: a\r\n\r\n", 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := inst.raw(tt.request, "GET")
			assert.Equal(t, tt.status, resp.StatusCode, body)
			assert.NotEmpty(t, strings.TrimSpace(body), "a refusal says what was wrong")
		})
	}
}

func TestThreePipelinedRequestsInOneWrite(t *testing.T) {
	inst := startServer(t, defaultConfig(""))
	c := inst.dial()
	_, err := io.WriteString(c, "GET /index.html HTTP/1.1\r\nHost: a\r\n\r\n"+
		"HEAD /about.html HTTP/1.1\r\nHost: a\r\n\r\n"+
		"GET /missing HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
	require.NoError(t, err)
	br := bufio.NewReader(c)

	first, body := readResponse(t, br, "GET")
	assert.Equal(t, 200, first.StatusCode)
	assert.Contains(t, body, "<html")
	second, body := readResponse(t, br, "HEAD")
	assert.Equal(t, 200, second.StatusCode)
	assert.Empty(t, body)
	third, _ := readResponse(t, br, "GET")
	assert.Equal(t, 404, third.StatusCode)
	assert.True(t, third.Close)
	_, err = br.ReadByte()
	assert.ErrorIs(t, err, io.EOF)
}

func TestContinueBeforeBody(t *testing.T) {
	inst := startServer(t, defaultConfig(""))
	c := inst.dial()
	// Writes are off: the server answers 405 without inviting the body and
	// closes, since the client may or may not send it.
	io.WriteString(c, "PUT /x.txt HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
	resp, _ := readResponse(t, bufio.NewReader(c), "PUT")
	assert.Equal(t, 405, resp.StatusCode)
	assert.True(t, resp.Close)
}

func TestSlowlorisCutOffWhileAnotherClientIsServed(t *testing.T) {
	inst := startServer(t, defaultConfig(`
[timeouts]
header = "500ms"
`))
	slow := inst.dial()
	io.WriteString(slow, "GET / HTTP/1.1\r\n")
	began := time.Now()
	stopTrickle := make(chan struct{})
	go func() {
		for {
			select {
			case <-stopTrickle:
				return
			case <-time.After(100 * time.Millisecond):
				if _, err := io.WriteString(slow, "X"); err != nil {
					return
				}
			}
		}
	}()
	defer close(stopTrickle)

	resp, _ := get(t, "GET", inst.url("/index.html"), nil)
	assert.Equal(t, 200, resp.StatusCode, "another client is served meanwhile")

	resp, _ = readResponse(t, bufio.NewReader(slow), "GET")
	assert.Equal(t, 408, resp.StatusCode)
	elapsed := time.Since(began)
	assert.GreaterOrEqual(t, elapsed, 400*time.Millisecond)
	assert.Less(t, elapsed, 5*time.Second, "cut off near the header timeout despite the trickle")
}

func TestConnectionLimitAnswers503(t *testing.T) {
	inst := startServer(t, defaultConfig(`
[limits]
max_connections = 2
`))
	// Two idle connections fill the server.
	var held []net.Conn
	for range 2 {
		c := inst.dial()
		io.WriteString(c, "GET /index.html HTTP/1.1\r\nHost: a\r\n\r\n")
		readResponse(t, bufio.NewReader(c), "GET")
		held = append(held, c)
	}
	resp, body := inst.raw("GET /index.html HTTP/1.1\r\nHost: a\r\n\r\n", "GET")
	assert.Equal(t, 503, resp.StatusCode)
	assert.Contains(t, body, "too many connections")
	assert.NotEmpty(t, resp.Header.Get("Retry-After"))

	held[0].Close()
	require.Eventually(t, func() bool {
		c, err := net.Dial("tcp", inst.addr)
		if err != nil {
			return false
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, "GET /index.html HTTP/1.1\r\nHost: a\r\n\r\n")
		resp, err := readResponseErr(bufio.NewReader(c))
		return err == nil && resp.StatusCode == 200
	}, 10*time.Second, 50*time.Millisecond, "a freed slot admits a new client")
}

func TestSIGTERMLetsInFlightRequestFinish(t *testing.T) {
	inst := startServer(t, defaultConfig(""))
	big := make([]byte, 32<<20)
	rand.Read(big)
	require.NoError(t, os.WriteFile(filepath.Join(inst.dir, "www", "big.bin"), big, 0o644))

	c := inst.dial()
	io.WriteString(c, "GET /big.bin HTTP/1.1\r\nHost: a\r\n\r\n")
	br := bufio.NewReaderSize(c, 1024)
	head, err := br.Peek(12)
	require.NoError(t, err)
	require.Equal(t, "HTTP/1.1 200", string(head), "the response has started")

	idle := inst.dial()
	io.WriteString(idle, "GET /index.html HTTP/1.1\r\nHost: a\r\n\r\n")
	idleBr := bufio.NewReader(idle)
	readResponse(t, idleBr, "GET")

	require.NoError(t, inst.cmd.Process.Signal(syscall.SIGTERM))
	_, err = idleBr.ReadByte()
	assert.ErrorIs(t, err, io.EOF, "idle connections are closed at once")

	resp, body := readResponse(t, br, "GET")
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, len(big), len(body), "the in-flight response completes")
	assert.True(t, string(big) == body, "with the right bytes")

	select {
	case <-inst.exited:
	case <-time.After(15 * time.Second):
		t.Fatal("server did not exit after draining")
	}
	assert.Equal(t, 0, inst.cmd.ProcessState.ExitCode(), inst.stderr.String())

	_, err = net.DialTimeout("tcp", inst.addr, time.Second)
	assert.Error(t, err, "nothing listens after exit")
}

func TestConfigErrorsExit2NamingKeyAndLine(t *testing.T) {
	tests := []struct {
		name, config, want string
	}{
		{"unknown key", "[origin]\nlisten = \"127.0.0.1:0\"\nlistne = 1\n", "config.toml:3"},
		{"wrong type", "[limits]\nmax_connections = \"many\"\n", "config.toml:2"},
		{"bad address", "[origin]\n\nlisten = \"nowhere\"\n", "config.toml:3"},
		{"missing root", "[roots.www]\npath = \"/does/not/exist\"\n", "config.toml:2"},
		{"bad size", "[limits]\nmax_body = \"12 parsecs\"\n", "config.toml:2"},
		{"bad duration", "[timeouts]\nidle = \"soon\"\n", "config.toml:2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "config.toml")
			require.NoError(t, os.WriteFile(path, []byte(tt.config), 0o644))
			cmd := exec.Command(binary, "-config", path)
			cmd.Dir = dir
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			require.ErrorAs(t, err, &exit, string(out))
			assert.Equal(t, 2, exit.ExitCode())
			assert.Contains(t, string(out), tt.want)
		})
	}
}

func TestDefaultConfigChecks(t *testing.T) {
	out, err := exec.Command(binary, "-config", "../config.toml", "-check").CombinedOutput()
	require.NoError(t, err, string(out))
	assert.Contains(t, string(out), "configuration ok")
}

// TestNetHTTPClientKeepAlive drives the server with many sequential
// requests through net/http's pooled connections.
func TestNetHTTPClientKeepAlive(t *testing.T) {
	inst := startServer(t, defaultConfig(""))
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				resp, body := get(t, "GET", inst.url("/about.html"), nil)
				assert.Equal(t, 200, resp.StatusCode)
				assert.Contains(t, body, "<html")
			}
		}()
	}
	wg.Wait()
}

// readResponseErr is readResponse for use inside polling loops, where a
// failure is a retry rather than a test failure.
func readResponseErr(br *bufio.Reader) (*http.Response, error) {
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return nil, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp, nil
}
