//go:build !unix

package cache

import (
	"fmt"
	"os"
	"path/filepath"
)

// lockDir only opens root/lock where flock is missing: the directory is
// then not protected against a second process.
func lockDir(root string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(root, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	return f, nil
}
