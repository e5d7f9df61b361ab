//go:build unix

package cache

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockDir takes an exclusive flock on root/lock. Two processes sharing a
// cache directory would each trust an index the other invalidates; the
// kernel drops the lock when its holder dies, even by SIGKILL.
func lockDir(root string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(root, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("cache: %s is in use by another process: %w", root, err)
	}
	return f, nil
}
