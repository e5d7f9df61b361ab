// Package e2e tests the real wasmhttpd binary over real sockets: raw bytes
// for protocol edge cases, net/http as an independent client for the rest.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// binary is the wasmhttpd built once for the whole package.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "wasmhttpd-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "wasmhttpd")
	build := exec.Command("go", "build", "-o", binary, "../host/cmd/wasmhttpd")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building wasmhttpd:", err)
		os.Exit(1)
	}
	// The standard policies, as make builds them for the default config.
	policies := exec.Command("make", "-s", "-C", "..", "policies")
	policies.Stdout, policies.Stderr = os.Stderr, os.Stderr
	if err := policies.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building policies:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// instance is one running wasmhttpd.
type instance struct {
	t      *testing.T
	cmd    *exec.Cmd
	addr   string // the origin listener, "127.0.0.1:port"
	dir    string // where its config lives
	stderr *syncBuffer
	exited chan struct{}
}

// syncBuffer collects a process's output while tests read it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// withProxy turns on the forward proxy listener of a defaultConfig, on a
// free port, with more [proxy] keys if given.
func withProxy(config string, keys ...string) string {
	table := "[proxy]\nlisten = \"127.0.0.1:0\"\n"
	for _, k := range keys {
		table += k + "\n"
	}
	return strings.Replace(config, "[proxy]\nlisten = \"\"\n", table, 1)
}

// proxy returns the forward proxy listener's address, once it serves.
func (inst *instance) proxy() string {
	inst.t.Helper()
	return inst.listening("proxy")
}

// listening waits until the instance logs that its listener name serves
// and returns the address; it fails the test when the process exits
// first or the listener is not up within 20 s.
func (inst *instance) listening(name string) string {
	inst.t.Helper()
	serving := regexp.MustCompile(`msg=serving listener=` + regexp.QuoteMeta(name) + ` addr=(\S+)`)
	deadline := time.Now().Add(20 * time.Second)
	for {
		var exited bool
		select {
		case <-inst.exited:
			exited = true // and stderr is complete: check it once more
		default:
		}
		if m := serving.FindStringSubmatch(inst.stderr.String()); m != nil {
			return m[1]
		}
		switch {
		case exited:
			inst.t.Fatalf("wasmhttpd exited before its %s listener served:\n%s", name, inst.stderr.String())
		case time.Now().After(deadline):
			inst.t.Fatalf("wasmhttpd's %s listener did not serve within 20s:\n%s", name, inst.stderr.String())
		}
		select {
		case <-inst.exited:
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// startServer writes config (a TOML body; "{{root}}" stands for a fresh
// copy of www/ unless the config names its own root) to a temp dir, starts
// the binary on it with a free port, and waits until it serves. The server
// is stopped when the test ends.
func startServer(t *testing.T, config string) *instance {
	t.Helper()
	dir := t.TempDir()
	if strings.Contains(config, "{{root}}") {
		root := filepath.Join(dir, "www")
		copyTree(t, "../www", root)
		config = strings.ReplaceAll(config, "{{root}}", root)
	}
	path := filepath.Join(dir, "config.toml")
	require.NoError(t, os.WriteFile(path, []byte(config), 0o644))
	return startBinary(t, dir, "-config", path)
}

// startBinary starts the binary with args and waits until it serves; dir
// is the instance's scratch directory.
func startBinary(t *testing.T, dir string, args ...string) *instance {
	t.Helper()
	inst := &instance{t: t, dir: dir, stderr: &syncBuffer{}, exited: make(chan struct{})}
	inst.cmd = exec.Command(binary, args...)
	inst.cmd.Stdout = io.Discard
	inst.cmd.Stderr = inst.stderr
	require.NoError(t, inst.cmd.Start())
	go func() {
		inst.cmd.Wait()
		close(inst.exited)
	}()
	t.Cleanup(inst.stop)
	inst.addr = inst.listening("origin")
	return inst
}

// defaultConfig serves a copy of www/ with listings and writes as given.
func defaultConfig(extra string) string {
	return `
[origin]
listen = "127.0.0.1:0"
root = "www"

[roots.www]
path = "{{root}}"

[log]
level = "debug"

[log.access]
path = "off"

[admin]
listen = ""

[proxy]
listen = ""
` + extra
}

// stop sends SIGTERM and waits for the exit, killing after a while.
func (inst *instance) stop() {
	select {
	case <-inst.exited:
		return
	default:
	}
	inst.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-inst.exited:
	case <-time.After(15 * time.Second):
		inst.cmd.Process.Kill()
		<-inst.exited
		inst.t.Errorf("wasmhttpd ignored SIGTERM for 15s:\n%s", inst.stderr.String())
	}
}

// url returns the absolute URL of path on the origin.
func (inst *instance) url(path string) string { return "http://" + inst.addr + path }

// dial opens a raw connection with a deadline.
func (inst *instance) dial() net.Conn {
	inst.t.Helper()
	c, err := net.Dial("tcp", inst.addr)
	require.NoError(inst.t, err)
	c.SetDeadline(time.Now().Add(15 * time.Second))
	inst.t.Cleanup(func() { c.Close() })
	return c
}

// raw sends request bytes on a fresh connection and reads one response.
func (inst *instance) raw(request, method string) (*http.Response, string) {
	inst.t.Helper()
	c := inst.dial()
	_, err := io.WriteString(c, request)
	require.NoError(inst.t, err)
	return readResponse(inst.t, bufio.NewReader(c), method)
}

func readResponse(t *testing.T, br *bufio.Reader, method string) (*http.Response, string) {
	t.Helper()
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	resp.Body.Close()
	return resp, string(body)
}

// client is net/http as an independent peer; no proxy from the
// environment, no transparent gzip, so tests see what the server sent.
var client = &http.Client{
	Transport: &http.Transport{Proxy: nil, DisableCompression: true},
	Timeout:   15 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	},
}

// get fetches a URL with optional request headers given as name, value pairs.
func get(t *testing.T, method, url string, body io.Reader, headers ...string) (*http.Response, string) {
	t.Helper()
	return fetch(t, client, method, url, body, headers...)
}

// fetch is get with a client of the caller's.
func fetch(t *testing.T, client *http.Client, method, url string, body io.Reader, headers ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	require.NoError(t, err)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(data)
}

// runCommand runs the binary to its end with args (a subcommand and its
// flags) and stdin, killing it after 30 s, and returns its exit code,
// stdout and stderr.
func runCommand(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), out.String(), errOut.String()
	}
	require.NoError(t, err)
	return 0, out.String(), errOut.String()
}

func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	require.NoError(t, os.CopyFS(dst, os.DirFS(src)))
}

// loopClients sends GETs for url from n goroutines of c until the returned
// stop is called; a response counts as served when it is a 200 that check
// (when not nil) accepts. stop waits for the goroutines and reports the
// counts.
func loopClients(c *http.Client, n int, url string, check func(*http.Response) bool) (stop func() (served, failed int64)) {
	var ok, bad atomic.Int64
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				resp, err := c.Get(url)
				if err != nil {
					bad.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || check != nil && !check(resp) {
					bad.Add(1)
					continue
				}
				ok.Add(1)
			}
		})
	}
	return func() (int64, int64) {
		close(done)
		wg.Wait()
		return ok.Load(), bad.Load()
	}
}
