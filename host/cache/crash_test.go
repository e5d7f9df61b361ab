//go:build unix

package cache

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// crashDirEnv tells a re-executed test binary to be the child of
// TestKillDuringStore, storing into the directory it names.
const crashDirEnv = "WASMHTTPD_CACHE_CRASH_DIR"

const (
	crashBodySize = 64 << 20
	crashChunk    = 256 << 10
)

// TestKillDuringStore SIGKILLs a process in the middle of storing a 64 MiB
// body, then opens its directory: the entry it committed before is there,
// the one it was writing is not, and no piece of it remains.
func TestKillDuringStore(t *testing.T) {
	if dir := os.Getenv(crashDirEnv); dir != "" {
		crashChild(dir)
		return
	}
	if testing.Short() {
		t.Skip("spawns a child process")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillDuringStore$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	killed := false
	defer func() {
		if !killed {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()

	// The child says how far it got; kill it well into the body.
	lines := bufio.NewScanner(stdout)
	written := 0
	for written < crashBodySize/4 && lines.Scan() {
		fmt.Sscanf(lines.Text(), "written %d", &written)
	}
	require.GreaterOrEqual(t, written, crashBodySize/4, "the child never got going")
	require.NotEmpty(t, tmpFiles(t, dir), "the child is mid-store")
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	err = cmd.Wait()
	killed = true
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit)
	assert.Equal(t, syscall.SIGKILL, exit.Sys().(syscall.WaitStatus).Signal())

	s, _ := open(t, dir, Options{})
	assert.Nil(t, s.Lookup("big", header()), "the unfinished body is not served")
	e := s.Lookup("small", header())
	require.NotNil(t, e, "the committed entry survives")
	assert.Equal(t, "committed before the crash", body(t, e))
	assert.Empty(t, tmpFiles(t, dir), "the temp file is gone")
	assert.Len(t, diskFiles(t, dir), 2, "only the committed entry's files remain")
	assert.Equal(t, 1, s.Stats().Entries)
}

// crashChild commits one entry, then writes a large body slowly, reporting
// its progress, until it is killed. It never commits the large one.
func crashChild(dir string) {
	s, err := Open(dir, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	const small = "committed before the crash"
	w, err := s.Begin("small", header(), response(len(small)))
	if err == nil {
		io.WriteString(w, small)
		_, err = w.Commit()
	}
	if err == nil {
		w, err = s.Begin("big", header(), response(crashBodySize))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	chunk := []byte(strings.Repeat("x", crashChunk))
	for n := 0; n < crashBodySize-crashChunk; n += crashChunk {
		w.Write(chunk)
		fmt.Printf("written %d\n", n+crashChunk)
		time.Sleep(time.Millisecond)
	}
	time.Sleep(time.Hour) // one chunk short of the end: wait to be killed
}
