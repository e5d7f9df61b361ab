package static

import (
	"sync"
	"syscall"
)

// fdCache keeps small files open between requests. Opening and closing a
// file costs more than everything else a 1 KiB GET does together (about
// 4 µs of a 7.6 µs request on the reference machine, see
// BenchmarkServe1KiB), so a hit replaces openat2 + fstat + close with
// one fstatat.
//
// A cached descriptor is never trusted on its own: every hit stats the
// path again (fstatat from the root) and uses the descriptor only if the
// path still names the same inode on the same device. Hence:
//   - a file replaced by rename (our PUT, an rsync, a deploy) has a new
//     inode: the entry is dropped and the path opened afresh, through
//     openat2 with its containment checks;
//   - a file rewritten in place is the same inode, and the descriptor
//     reads its current bytes;
//   - a deleted file fails the stat: dropped, and the fresh open says 404;
//   - a path that now leads elsewhere (a symbolic link changed to point
//     outside the root) names another inode: dropped, and openat2 refuses
//     it. fstatat follows links without containment, but it only yields
//     an identity to compare, never something to serve.
//
// What a cached descriptor does not see is a permission change on a file
// it already holds open (chmod 000 stops nothing until the entry goes),
// as with nginx's open_file_cache; entries are evicted as the cache fills.
// Only files up to smallBody are cached: they are read with pread, which
// shares a descriptor safely, while larger ones go to sendfile through an
// *os.File that owns its descriptor.
type fdCache struct {
	shards [16]fdShard
}

type fdShard struct {
	mu sync.Mutex
	m  map[string]*cachedFD
}

// cachedFD is one open file. refs counts the requests using fd; an entry
// dropped from the map while in use is closed by the last of them.
type cachedFD struct {
	shard    *fdShard
	fd       int
	dev, ino uint64
	refs     int
	dropped  bool
}

// fdCacheShardSize bounds each shard: 16 × 64 descriptors in all, far
// below any sane RLIMIT_NOFILE.
const fdCacheShardSize = 64

func newFDCache() *fdCache {
	c := &fdCache{}
	for i := range c.shards {
		c.shards[i].m = make(map[string]*cachedFD, fdCacheShardSize)
	}
	return c
}

func (c *fdCache) shard(key []byte) *fdShard {
	x := uint32(2166136261)
	for _, b := range key {
		x = (x ^ uint32(b)) * 16777619
	}
	return &c.shards[x%uint32(len(c.shards))]
}

// acquire returns the entry for key with a reference taken, or nil.
func (c *fdCache) acquire(key []byte) *cachedFD {
	s := c.shard(key)
	s.mu.Lock()
	e := s.m[string(key)]
	if e != nil {
		e.refs++
	}
	s.mu.Unlock()
	return e
}

// release gives back a reference taken by acquire or insert.
func (e *cachedFD) release() {
	s := e.shard
	s.mu.Lock()
	e.refs--
	closeNow := e.dropped && e.refs == 0
	s.mu.Unlock()
	if closeNow {
		syscall.Close(e.fd)
	}
}

// drop removes e (if it is still key's entry) so that no one acquires it
// again; it is closed once released by all.
func (c *fdCache) drop(key []byte, e *cachedFD) {
	s := e.shard
	s.mu.Lock()
	if s.m[string(key)] == e {
		delete(s.m, string(key))
		e.dropped = true
	}
	s.mu.Unlock()
}

// insert hands fd over to the cache under key and returns the entry with
// one reference, for the caller's request. It returns nil (and the
// caller keeps fd) when key is cached already.
func (c *fdCache) insert(key []byte, fd int, dev, ino uint64) *cachedFD {
	s := c.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[string(key)]; ok {
		return nil
	}
	if len(s.m) >= fdCacheShardSize {
		// Evict one entry; map iteration starts at a random place, which
		// makes this random eviction: no bookkeeping on the hit path.
		for k, old := range s.m {
			delete(s.m, k)
			old.dropped = true
			if old.refs == 0 {
				syscall.Close(old.fd)
			}
			break
		}
	}
	e := &cachedFD{shard: s, fd: fd, dev: dev, ino: ino, refs: 1}
	s.m[string(key)] = e
	return e
}

// close drops every entry; descriptors in use close on release.
func (c *fdCache) close() {
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		for k, e := range s.m {
			delete(s.m, k)
			e.dropped = true
			if e.refs == 0 {
				syscall.Close(e.fd)
			}
		}
		s.mu.Unlock()
	}
}
