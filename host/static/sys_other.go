//go:build !linux

package static

import (
	"os"
	"syscall"
)

// Without openat2, reads go through os.Root, which enforces the same
// containment in user space.

func openBeneath(int, *byte) (int, error) { return -1, syscall.ENOSYS }

func (h *Handler) openRootFD(string) error { return nil }

func statAt(int, *byte, *file) error { return syscall.ENOSYS }

func (h *Handler) closeRootFD() {}

// statFD fills f's identity from the portable FileInfo; the inode is
// unknown, so ETags rest on size and modification time.
func statFD(f *file) error {
	fi, err := f.osf.Stat()
	if err != nil {
		return err
	}
	switch {
	case fi.Mode().IsRegular():
		f.kind = kindRegular
	case fi.IsDir():
		f.kind = kindDir
	default:
		f.kind = kindOther
	}
	f.dev, f.ino = 0, 0
	f.size = fi.Size()
	f.mtime = fi.ModTime().UnixNano()
	return nil
}

// statInfo fills f's identity from a FileInfo (as os.Root.Stat returns).
func statInfo(fi os.FileInfo, f *file) {
	f.kind = kindOther
	switch {
	case fi.Mode().IsRegular():
		f.kind = kindRegular
	case fi.IsDir():
		f.kind = kindDir
	}
	f.size = fi.Size()
	f.mtime = fi.ModTime().UnixNano()
	f.dev, f.ino = 0, 0
}
