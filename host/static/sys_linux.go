//go:build linux

package static

import (
	"fmt"
	"os"
	"syscall"
	"unsafe"
)

// openHow is struct open_how of openat2(2).
type openHow struct {
	flags   uint64
	mode    uint64
	resolve uint64
}

const (
	resolveNoMagicLinks = 0x02 // RESOLVE_NO_MAGICLINKS: no /proc/self/fd/N tricks
	resolveBeneath      = 0x08 // RESOLVE_BENEATH: every step stays under dirfd
)

// readFlags opens for reading without blocking (a FIFO planted in the
// root must not hang the server) and without acquiring a terminal.
const readFlags = syscall.O_RDONLY | syscall.O_CLOEXEC | syscall.O_NONBLOCK | syscall.O_NOCTTY | syscall.O_LARGEFILE

// openBeneath opens the NUL-terminated path relative to dirfd with
// RESOLVE_BENEATH: the kernel walks the path, follows symbolic links that
// stay beneath dirfd, and fails with EXDEV for any that leave it (and for
// absolute ones). One system call, however deep the path, and no window
// between a check and a use.
func openBeneath(dirfd int, path *byte) (int, error) {
	how := openHow{flags: readFlags, resolve: resolveBeneath | resolveNoMagicLinks}
	for range 4 {
		r, _, e := syscall.Syscall6(sysOpenat2, uintptr(dirfd), uintptr(unsafe.Pointer(path)),
			uintptr(unsafe.Pointer(&how)), unsafe.Sizeof(how), 0, 0)
		switch e {
		case 0:
			return int(r), nil
		case syscall.EINTR, syscall.EAGAIN:
			// EAGAIN: a concurrent rename or mount raced the lookup;
			// the kernel asks for a retry.
			continue
		}
		return -1, e
	}
	return -1, syscall.EAGAIN
}

// openRootFD opens the root for openat2 and checks that openat2 works
// here; when it does not, reads fall back to os.Root.
func (h *Handler) openRootFD(root string) error {
	fd, err := syscall.Open(root, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("static: root %s: %w", root, err)
	}
	dot := [2]byte{'.', 0}
	probe, err := openBeneath(fd, &dot[0])
	if err != nil {
		syscall.Close(fd)
		return nil
	}
	syscall.Close(probe)
	h.rootFD = fd
	if sysStatAt != 0 {
		h.cache = newFDCache()
	}
	return nil
}

func (h *Handler) closeRootFD() {
	if h.cache != nil {
		h.cache.close()
		h.cache = nil
	}
	if h.rootFD >= 0 {
		syscall.Close(h.rootFD)
		h.rootFD = -1
	}
}

// statFD fills f's identity from fstat(2).
func statFD(f *file) error {
	var st syscall.Stat_t
	if err := syscall.Fstat(f.fd, &st); err != nil {
		return err
	}
	fillStat(f, &st)
	return nil
}

// statAt fills f's identity from fstatat(2) of the NUL-terminated path
// relative to dirfd, following symbolic links. It is for revalidating a
// cached descriptor only: it does not confine the path to dirfd.
func statAt(dirfd int, path *byte, f *file) error {
	if sysStatAt == 0 {
		return syscall.ENOSYS
	}
	var st syscall.Stat_t
	_, _, e := syscall.Syscall6(sysStatAt, uintptr(dirfd), uintptr(unsafe.Pointer(path)),
		uintptr(unsafe.Pointer(&st)), 0, 0, 0)
	if e != 0 {
		return e
	}
	fillStat(f, &st)
	return nil
}

func fillStat(f *file, st *syscall.Stat_t) {
	switch st.Mode & syscall.S_IFMT {
	case syscall.S_IFREG:
		f.kind = kindRegular
	case syscall.S_IFDIR:
		f.kind = kindDir
	default:
		f.kind = kindOther
	}
	f.dev = uint64(st.Dev)
	f.ino = uint64(st.Ino)
	f.size = st.Size
	f.mtime = int64(st.Mtim.Sec)*1e9 + int64(st.Mtim.Nsec)
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
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		f.dev, f.ino = uint64(st.Dev), uint64(st.Ino)
	}
}
