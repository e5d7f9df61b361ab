package static

import (
	"sync"
)

// scratch is the per-request working memory: the decoded path, a second
// path for index and sidecar names, the open files, a formatting buffer
// for header values and a copy buffer. It is pooled, so that serving a
// file allocates nothing of its own once the pool is warm.
type scratch struct {
	path  []byte // decoded path relative to the root
	name  []byte // derived paths: index files, sidecars, NUL-terminated copies
	cpath []byte // NUL-terminated path for system calls
	val   [128]byte
	main  file
	side  file
	rd    preader
	buf   []byte // copy and compression buffer, allocated on first use
	mount []byte // URL prefix of the root in this request (ServePath)
}

// appendURL returns in s.name the URL path of rel as the client reaches
// it.
func (s *scratch) appendURL(rel []byte) []byte {
	return appendURLPath(append(s.name[:0], s.mount...), rel)
}

var scratchPool = sync.Pool{New: func() any {
	return &scratch{
		path:  make([]byte, 0, 256),
		name:  make([]byte, 0, 256),
		cpath: make([]byte, 0, 256),
	}
}}

func getScratch() *scratch { return scratchPool.Get().(*scratch) }

// maxPooledPath keeps a request with a freak 8 KiB path from pinning that
// much memory in the pool forever.
const maxPooledPath = 4 << 10

func putScratch(s *scratch) {
	if cap(s.path) > maxPooledPath || cap(s.name) > maxPooledPath || cap(s.cpath) > maxPooledPath {
		return
	}
	s.main, s.side, s.rd, s.mount = file{}, file{}, preader{}, nil
	scratchPool.Put(s)
}

// copyBuf returns the scratch's copy buffer, allocating it the first time.
func (s *scratch) copyBuf() []byte {
	if s.buf == nil {
		s.buf = make([]byte, 32<<10)
	}
	return s.buf
}
