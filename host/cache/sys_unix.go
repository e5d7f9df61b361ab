//go:build unix

package cache

import (
	"os"
	"syscall"
)

// readSmall reads the file at path into buf and returns how many bytes it
// got: the whole file if it fits (a short read of a regular file is its
// end), else len(buf) bytes and more=true. Raw system calls, because
// os.Open's bookkeeping (poller registration, finalizer) costs about as
// much as the open itself, and Open reads one small file per entry.
func readSmall(path string, buf []byte) (n int, more bool, err error) {
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return 0, false, err
	}
	defer syscall.Close(fd)
	for n < len(buf) {
		m, err := syscall.Read(fd, buf[n:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return n, false, err
		}
		if m == 0 {
			return n, false, nil
		}
		n += m
	}
	var one [1]byte
	m, err := syscall.Read(fd, one[:])
	return n, m > 0, err
}

// regularSize returns the size of the file at path, which must be a
// regular file (not followed if a symbolic link).
func regularSize(path string) (size int64, regular bool, err error) {
	var st syscall.Stat_t
	if err := syscall.Lstat(path, &st); err != nil {
		return 0, false, err
	}
	return st.Size, st.Mode&syscall.S_IFMT == syscall.S_IFREG, nil
}

// openBody opens a body file for a hit without os.Open's poller
// registration: a regular file cannot use the poller anyway, and on the
// path of every hit the failed registration and its fcntl calls cost more
// than the open. The *os.File still goes out by sendfile.
func openBody(path string) (*os.File, error) {
	for {
		fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "open", Path: path, Err: err}
		}
		return os.NewFile(uintptr(fd), path), nil
	}
}
