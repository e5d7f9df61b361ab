package static

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"syscall"
)

type fileKind uint8

const (
	kindOther fileKind = iota // FIFOs, sockets, devices: never served
	kindRegular
	kindDir
)

// file is an open file of the root and what fstat said about it. It holds
// a bare descriptor; an *os.File is made only when a body is large enough
// for sendfile to pay for it (os.File costs allocations, a finalizer and
// fcntl calls that a 1 KiB body does not need).
type file struct {
	fd     int
	osf    *os.File
	cached *cachedFD // the descriptor belongs to the open-file cache
	open   bool
	kind   fileKind
	dev    uint64
	ino    uint64
	size   int64
	mtime  int64 // nanoseconds since the epoch
}

func (f *file) close() {
	if !f.open {
		return
	}
	switch {
	case f.cached != nil:
		f.cached.release()
	case f.osf != nil:
		f.osf.Close()
	default:
		syscall.Close(f.fd)
	}
	f.open, f.osf, f.cached = false, nil, nil
}

// openAt opens name, a path relative to the root as resolve returns it,
// and stats it. Containment is the kernel's (openat2 RESOLVE_BENEATH) or
// os.Root's business; either refuses a symbolic link that leaves the root.
func (h *Handler) openAt(s *scratch, name []byte, f *file) error {
	f.cached = nil
	if h.rootFD < 0 {
		osf, err := h.root.OpenFile(string(name), os.O_RDONLY|syscall.O_NONBLOCK, 0)
		if err != nil {
			return err
		}
		f.fd, f.osf, f.open = int(osf.Fd()), osf, true
		if err := statFD(f); err != nil {
			f.close()
			return err
		}
		return nil
	}

	s.cpath = append(append(s.cpath[:0], name...), 0)
	if h.cache != nil {
		if e := h.cache.acquire(name); e != nil {
			// Revalidate: the path must still name the inode we hold.
			err := statAt(h.rootFD, &s.cpath[0], f)
			if err == nil && f.kind == kindRegular && f.dev == e.dev && f.ino == e.ino && f.size <= smallBody {
				f.fd, f.osf, f.cached, f.open = e.fd, nil, e, true
				return nil
			}
			h.cache.drop(name, e)
			e.release()
		}
	}
	fd, err := openBeneath(h.rootFD, &s.cpath[0])
	if err != nil {
		return err
	}
	f.fd, f.osf, f.open = fd, nil, true
	if err := statFD(f); err != nil {
		f.close()
		return err
	}
	if h.cache != nil && f.kind == kindRegular && f.size <= smallBody {
		f.cached = h.cache.insert(name, fd, f.dev, f.ino)
	}
	return nil
}

// smallBody is the largest body read through a bare descriptor into the
// connection's buffer; larger ones go as an *os.File so that the writer
// can hand them to sendfile. It is well under the server's 8 KiB write
// buffer so that header and body leave in one write.
const smallBody = 4 << 10

// bodyReader returns a reader of n bytes of f from off: a pread-based
// reader for small bodies, the file itself (positioned at off) for large
// ones, which is what makes ResponseWriter.ReadFrom use sendfile.
func (s *scratch) bodyReader(f *file, off, n int64) (io.Reader, error) {
	if n <= smallBody || f.cached != nil {
		s.rd = preader{fd: f.fd, off: off, end: off + n}
		return &s.rd, nil
	}
	if f.osf == nil {
		f.osf = os.NewFile(uintptr(f.fd), "static")
	}
	if _, err := f.osf.Seek(off, io.SeekStart); err != nil {
		return nil, err
	}
	return f.osf, nil
}

// preader reads [off, end) of a descriptor with pread(2), which leaves
// the file offset alone.
type preader struct {
	fd       int
	off, end int64
}

func (r *preader) Read(p []byte) (int, error) {
	if r.off >= r.end {
		return 0, io.EOF
	}
	if rest := r.end - r.off; int64(len(p)) > rest {
		p = p[:rest]
	}
	for {
		n, err := syscall.Pread(r.fd, p, r.off)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return 0, err
		}
		if n == 0 {
			// The file shrank under us: the declared length can no
			// longer be met, and saying so beats padding with zeros.
			return 0, io.ErrUnexpectedEOF
		}
		r.off += int64(n)
		return n, nil
	}
}

// readAt fills p from off, short only at end of file.
func readAt(fd int, p []byte, off int64) (int, error) {
	r := preader{fd: fd, off: off, end: off + int64(len(p))}
	n, err := io.ReadFull(&r, p)
	if err == io.ErrUnexpectedEOF {
		err = nil
	}
	return n, err
}

// openStatus maps an error from opening a file to a status and a reason.
func (h *Handler) openStatus(err error) (int, string) {
	switch {
	case errors.Is(err, syscall.EXDEV), h.escape != nil && errors.Is(err, h.escape):
		return 403, "symbolic link leads outside the document root"
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
		return 404, "no such file"
	case errors.Is(err, syscall.ELOOP):
		return 403, "too many levels of symbolic links"
	case errors.Is(err, fs.ErrPermission):
		return 403, "permission denied"
	case errors.Is(err, syscall.ENAMETOOLONG):
		return 414, "file name too long"
	}
	return 500, "cannot open file"
}
