//go:build !unix

package cache

import (
	"io"
	"os"
)

// readSmall reads the file at path into buf and returns how many bytes it
// got, and whether the file goes on past len(buf).
func readSmall(path string, buf []byte) (n int, more bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false, err
	}
	defer f.Close()
	n, err = io.ReadFull(f, buf)
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return n, false, nil
	}
	if err != nil {
		return n, false, err
	}
	var one [1]byte
	m, _ := f.Read(one[:])
	return n, m > 0, nil
}

// regularSize returns the size of the file at path, which must be a
// regular file (not followed if a symbolic link).
func regularSize(path string) (size int64, regular bool, err error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return 0, false, err
	}
	return fi.Size(), fi.Mode().IsRegular(), nil
}

// openBody opens a body file for a hit.
func openBody(path string) (*os.File, error) { return os.Open(path) }
