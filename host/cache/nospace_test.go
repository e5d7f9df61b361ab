package cache

import (
	"os"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestNoSpace fills no disk: the body's temp file is swapped for
// /dev/full, whose every write fails with ENOSPC, the kernel's own error.
func TestNoSpace(t *testing.T) {
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skip("no /dev/full here:", err)
	}
	var heard []error
	dir := t.TempDir()
	s, logs := open(t, dir, Options{NoSpace: func(err error) { heard = append(heard, err) }})

	w, err := s.Begin("k", header(), response(-1))
	require.NoError(t, err)
	require.NoError(t, w.f.Close())
	w.f = full
	w.Write([]byte("body"))
	require.Len(t, heard, 1)
	assert.ErrorIs(t, heard[0], syscall.ENOSPC)
	assert.ErrorIs(t, w.Err(), syscall.ENOSPC)
	_, err = w.Commit()
	assert.ErrorIs(t, err, syscall.ENOSPC)
	assert.Empty(t, tmpFiles(t, dir), "the failed store leaves nothing behind")
	assert.Contains(t, logs.String(), "no space left on device")

	// Other disk errors are faults, but not a full disk.
	w, err = s.Begin("k", header(), response(-1))
	require.NoError(t, err)
	require.NoError(t, w.f.Close())
	w.Write([]byte("body"))
	require.Error(t, w.Err())
	assert.Len(t, heard, 1)
	w.Abort()
}
