package e2e

import (
	"bufio"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// startPingServer starts the binary with a [ping] listener on a free port
// (keys are more [ping] keys) and returns it and the listener's address.
func startPingServer(t *testing.T, keys ...string) (*instance, string) {
	t.Helper()
	inst := startServer(t, defaultConfig("\n[ping]\nlisten = \"127.0.0.1:0\"\n"+strings.Join(keys, "\n")+"\n"))
	return inst, inst.listening("ping")
}

func TestPingSubcommandAgainstTheServer(t *testing.T) {
	inst, addr := startPingServer(t, `delay = "5ms"`)
	q := regexp.QuoteMeta(addr)

	code, out, errOut := runCommand(t, "", "ping", "-c", "3", "-i", "10ms", addr)
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	assert.Empty(t, errOut)
	assert.Regexp(t, `^PING `+q+` \(`+q+`\): 20 data bytes
20 bytes from `+q+`: seq=1 time=\d+\.\d{3} ms
20 bytes from `+q+`: seq=2 time=\d+\.\d{3} ms
20 bytes from `+q+`: seq=3 time=\d+\.\d{3} ms

--- `+q+` ping statistics ---
3 packets transmitted, 3 received, 0% packet loss, time \d+ms
rtt min/avg/max/mdev = \d+\.\d{3}/\d+\.\d{3}/\d+\.\d{3}/\d+\.\d{3} ms
$`, out)
	minRTT := regexp.MustCompile(`mdev = (\d+)\.`).FindStringSubmatch(out)
	require.NotNil(t, minRTT)
	ms, err := strconv.Atoi(minRTT[1])
	require.NoError(t, err)
	assert.GreaterOrEqual(t, ms, 5, "ping.delay holds each reply back 5 ms")

	// Once the server has stopped, nothing listens on the port.
	inst.stop()
	code, out, _ = runCommand(t, "", "ping", "-c", "2", "-i", "10ms", "-W", "200ms", addr)
	assert.Equal(t, 1, code, out)
	assert.Contains(t, out, "port unreachable")
	assert.Contains(t, out, "2 packets transmitted, 0 received")
}

func TestPingSubcommandTotalLoss(t *testing.T) {
	_, addr := startPingServer(t, "loss = 1.0")
	code, out, _ := runCommand(t, "", "ping", "-c", "2", "-i", "10ms", "-W", "50ms", addr)
	assert.Equal(t, 1, code, out)
	assert.Contains(t, out, "seq=2 timed out after 50ms")
	assert.Contains(t, out, "2 packets transmitted, 0 received, 100% packet loss")
}

func TestPingSubcommandInterrupted(t *testing.T) {
	_, addr := startPingServer(t)
	cmd := exec.Command(binary, "ping", "-i", "10ms", addr)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	killer := time.AfterFunc(30*time.Second, func() { cmd.Process.Kill() })
	defer killer.Stop()

	lines := bufio.NewScanner(stdout)
	replies := 0
	for replies < 3 && lines.Scan() {
		if strings.Contains(lines.Text(), " bytes from ") {
			replies++
		}
	}
	require.Equal(t, 3, replies)
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	var rest strings.Builder
	for lines.Scan() {
		rest.WriteString(lines.Text() + "\n")
	}
	require.NoError(t, cmd.Wait(), "a run with replies exits 0 on INT")
	assert.Regexp(t, `\n--- `+regexp.QuoteMeta(addr)+` ping statistics ---\n\d+ packets transmitted, \d+ received, .*time \d+ms\nrtt min/avg/max/mdev = `, rest.String())
}
