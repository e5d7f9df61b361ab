package cache

import (
	"cmp"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"wasmhttpd/host/http1"
)

// Options bound a Store. A zero limit means no limit.
type Options struct {
	// MaxSize bounds the bytes on disk: bodies plus metadata files.
	MaxSize int64
	// MaxEntries bounds the number of stored variants.
	MaxEntries int
	// MaxObjectSize bounds one body; a larger one is not stored.
	MaxObjectSize int64
	// FillWait bounds how long a collapsed miss waits for the request
	// filling its key (LookupOrFill); 0 means DefaultFillWait.
	FillWait time.Duration
	// Logger receives the store's log lines; nil means slog.Default().
	Logger *slog.Logger
	// NoSpace, when set, hears of every write that failed because the
	// disk is full (ENOSPC), for an alert. It is called synchronously
	// on the request's path and must not block.
	NoSpace func(error)
	// MaxMemory bounds the bytes of small bodies (up to SmallBody) kept
	// in memory beside their files, so that hits on them read no file;
	// 0 keeps none.
	MaxMemory int64
}

// DefaultFillWait is the wait for a filler when Options.FillWait is 0: as
// nginx's proxy_cache_lock_timeout, long enough for a typical origin, short
// enough that a stuck origin does not stall every waiter for long.
const DefaultFillWait = 5 * time.Second

// Errors a Store reports. Disk errors are returned as they come, wrapped.
var (
	// ErrTooLarge refuses a body over Options.MaxObjectSize (or MaxSize).
	ErrTooLarge = errors.New("cache: object exceeds the maximum object size")
	// ErrVaryStar refuses a response with "Vary: *": no later request
	// can match it (RFC 9111 4.1), so storing it would only waste space.
	ErrVaryStar = errors.New("cache: response varies on *")
	// ErrClosed is returned once the Store is closed.
	ErrClosed = errors.New("cache: store closed")
)

// Stats are a Store's counters since Open.
type Stats struct {
	Entries   int   // variants stored now
	Bytes     int64 // bytes on disk now, bodies and metadata
	Hits      int64 // lookups that found an entry
	Misses    int64 // lookups that did not
	Stores    int64 // entries committed
	Evictions int64 // entries evicted to respect the limits
	Aborted   int64 // stores abandoned: aborted, too large, wrong length
	Errors    int64 // disk errors and corrupt files met
	Waiting   int64 // collapsed misses waiting for a fill now
	Memory    int64 // bytes of bodies kept in memory now
}

// Store is the on-disk HTTP cache. All its methods are safe for concurrent
// use.
type Store struct {
	root string // dir/http
	opts Options
	log  *slog.Logger
	lock *os.File // held exclusively while open

	// mu guards the index and the SIEVE queue. It is never held across
	// file I/O: files are unlinked after it is released.
	mu      sync.RWMutex
	keys    map[string][]*node // primary key → its variants
	head    *node              // newest
	tail    *node              // oldest
	hand    *node              // SIEVE's hand; nil means start at the tail
	entries int
	bytes   int64
	closed  bool

	fillMu sync.Mutex
	fills  map[string]*fill // primary keys being filled

	gen atomic.Uint64 // last generation handed out

	// invalidations records, per slot of primary keys, the generation
	// of the last Invalidate, so that a store begun before it is not
	// published after it. Keys share slots: a collision only skips a
	// store, it never keeps a stale one.
	invalidations [1024]atomic.Uint64
	seed          maphash.Seed

	hits, misses, stores, evictions, aborted, errors, waiting atomic.Int64
	memory                                                    atomic.Int64 // bytes of bodies in memory
}

// Open opens (creating if need be) the store in dir/http, removes what a
// crash may have left and rebuilds the index from the metadata files.
// The directory is locked against a second process until Close.
func Open(dir string, opts Options) (*Store, error) {
	s := &Store{
		root:  filepath.Join(dir, "http"),
		opts:  opts,
		log:   opts.Logger,
		keys:  make(map[string][]*node),
		fills: make(map[string]*fill),
		seed:  maphash.MakeSeed(),
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.opts.FillWait <= 0 {
		s.opts.FillWait = DefaultFillWait
	}
	if err := os.MkdirAll(s.root, 0o700); err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	lock, err := lockDir(s.root)
	if err != nil {
		return nil, err
	}
	s.lock = lock
	if err := s.prepare(); err != nil {
		lock.Close()
		return nil, fmt.Errorf("cache: %w", err)
	}
	start := time.Now()
	loaded := s.load()
	for _, e := range loaded {
		garbage, _ := s.publish(e)
		s.unlink(garbage)
	}
	s.log.Info("cache: index rebuilt", "dir", s.root, "entries", s.entries,
		"bytes", s.bytes, "took", time.Since(start).Round(time.Millisecond))
	return s, nil
}

// prepare empties the temp directory, where only unfinished stores can be,
// and creates the fan-out directories.
func (s *Store) prepare() error {
	tmp := filepath.Join(s.root, tmpDir)
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return err
	}
	for i := range 256 {
		if err := os.Mkdir(filepath.Join(s.root, fanOut(byte(i))), 0o700); err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
	}
	return nil
}

// Close releases the directory lock. Stores still being written fail at
// Commit; bodies already open stay readable.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return s.lock.Close()
}

// Stats returns the current counters.
func (s *Store) Stats() Stats {
	s.mu.RLock()
	entries, bytes := s.entries, s.bytes
	s.mu.RUnlock()
	return Stats{
		Entries: entries, Bytes: bytes,
		Hits: s.hits.Load(), Misses: s.misses.Load(), Stores: s.stores.Load(),
		Evictions: s.evictions.Load(), Aborted: s.aborted.Load(), Errors: s.errors.Load(),
		Waiting: s.waiting.Load(), Memory: s.memory.Load(),
	}
}

// Lookup returns the freshest-stored variant of key whose Vary'd fields
// match req, or nil. Whether it may be used as is, needs revalidation or
// is too stale is for the caller to decide from the Entry.
func (s *Store) Lookup(key string, req *http1.Header) *Entry {
	e := s.find(key, req)
	s.count(e != nil)
	return e
}

func (s *Store) count(hit bool) {
	if hit {
		s.hits.Add(1)
	} else {
		s.misses.Add(1)
	}
}

// find is Lookup without the counting. Among several matching variants
// the most recent response wins (RFC 9111 4.1).
func (s *Store) find(key string, req *http1.Header) *Entry {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var best *node
	for _, n := range s.keys[key] {
		if matches(n.entry.vary, req) && (best == nil || newer(n.entry, best.entry)) {
			best = n
		}
	}
	if best == nil {
		return nil
	}
	// A hit costs SIEVE one bit and no lock upgrade; the store is
	// skipped when the bit is set, so hot entries do not bounce a cache
	// line between cores.
	if !best.visited.Load() {
		best.visited.Store(true)
	}
	return best.entry
}

// newer reports whether a's response is more recent than b's; between two
// received at the same instant, the one stored last.
func newer(a, b *Entry) bool {
	if c := a.Times.Response.Compare(b.Times.Response); c != 0 {
		return c > 0
	}
	return a.gen > b.gen
}

// Invalidate removes every variant of key, as after an unsafe request, a
// Location or Content-Location naming it, or a PURGE. It returns how many
// variants it removed. Bodies being served stay readable until closed.
func (s *Store) Invalidate(key string) int {
	s.invalidations[s.slot(key)].Store(s.nextGen())
	s.mu.Lock()
	variants := s.keys[key]
	var garbage []string
	for len(s.keys[key]) > 0 {
		garbage = s.remove(s.keys[key][0], garbage)
	}
	s.mu.Unlock()
	s.unlink(garbage)
	return len(variants)
}

// slot returns the invalidation slot of a primary key.
func (s *Store) slot(key string) uint64 {
	return maphash.String(s.seed, key) % uint64(len(s.invalidations))
}

// maxVariants bounds the variants of one primary key. A response that
// varies on a field with many values (User-Agent, Cookie) would otherwise
// let clients make a key's variant list, scanned by every lookup, as long
// as they like; past the bound the oldest variant makes room.
const maxVariants = 32

// publish makes e visible, replacing the variant with the same ID, and
// evicts until the limits hold again. It returns the files that are no
// longer referenced, for the caller to unlink once the lock is released;
// when e may not be published, those are e's own.
func (s *Store) publish(e *Entry) (garbage []string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		err = ErrClosed
	case s.invalidations[s.slot(e.Key)].Load() > e.epoch:
		err = ErrInvalidated
	}
	if err != nil {
		return []string{metaPath(s.root, e.id, e.gen), bodyPath(s.root, e.id, e.bodyGen)}, err
	}
	variants := s.keys[e.Key]
	var n *node
	for _, v := range variants {
		if v.entry.id == e.id {
			n = v
			break
		}
	}
	if n != nil {
		garbage = s.replace(n, e, garbage)
	} else {
		if len(variants) >= maxVariants {
			oldest := slices.MinFunc(variants, func(a, b *node) int { return cmp.Compare(a.entry.gen, b.entry.gen) })
			garbage = s.remove(oldest, garbage)
			s.evictions.Add(1)
			variants = s.keys[e.Key]
		}
		n = &node{entry: e, prev: s.head}
		if s.head != nil {
			s.head.next = n
		}
		s.head = n
		if s.tail == nil {
			s.tail = n
		}
		s.keys[e.Key] = append(variants, n)
		s.entries++
		s.bytes += e.diskSize()
		e.node = n
	}
	for s.entries > 1 && s.overLimits() {
		garbage = s.remove(s.victim(n), garbage)
		s.evictions.Add(1)
	}
	return garbage, nil
}

// replace puts e in n's place and returns the files of the entry it
// displaces; a header update shares the body, which then stays.
func (s *Store) replace(n *node, e *Entry, garbage []string) []string {
	old := n.entry
	s.forget(n, e.bodyGen)
	n.entry, e.node = e, n
	s.bytes += e.diskSize() - old.diskSize()
	garbage = append(garbage, metaPath(s.root, old.id, old.gen))
	if old.bodyGen != e.bodyGen {
		garbage = append(garbage, bodyPath(s.root, old.id, old.bodyGen))
	}
	return garbage
}

func (s *Store) overLimits() bool {
	return s.opts.MaxEntries > 0 && s.entries > s.opts.MaxEntries ||
		s.opts.MaxSize > 0 && s.bytes > s.opts.MaxSize
}

// victim runs SIEVE's hand from the oldest entry toward the newest,
// clearing visited bits, and returns the first entry not visited since the
// hand last passed it. keep, the entry just stored, is never chosen.
// Called with s.mu held and at least two entries, so the scan ends within
// two laps.
func (s *Store) victim(keep *node) *node {
	n := s.hand
	for {
		if n == nil {
			n = s.tail
		}
		if n != keep && !n.visited.Load() {
			s.hand = n.next
			return n
		}
		if n != keep {
			n.visited.Store(false)
		}
		n = n.next
	}
}

// remove takes n out of the index and the queue, and returns its files.
func (s *Store) remove(n *node, garbage []string) []string {
	e := n.entry
	if s.hand == n {
		s.hand = n.next
	}
	if n.prev != nil {
		n.prev.next = n.next
	} else {
		s.tail = n.next
	}
	if n.next != nil {
		n.next.prev = n.prev
	} else {
		s.head = n.prev
	}
	n.prev, n.next, n.entry = nil, nil, nil
	s.forget(n, 0)
	variants := s.keys[e.Key]
	for i, v := range variants {
		if v == n {
			variants = append(variants[:i], variants[i+1:]...)
			break
		}
	}
	if len(variants) == 0 {
		delete(s.keys, e.Key)
	} else {
		s.keys[e.Key] = variants
	}
	s.entries--
	s.bytes -= e.diskSize()
	return append(garbage, metaPath(s.root, e.id, e.gen), bodyPath(s.root, e.id, e.bodyGen))
}

// unlink removes files no entry references any more. An open descriptor
// keeps a body readable for whoever is still sending it.
func (s *Store) unlink(paths []string) {
	for _, p := range paths {
		s.remove1(p)
	}
}

// fault logs and counts a disk error.
func (s *Store) fault(msg string, err error) {
	s.errors.Add(1)
	s.log.Warn("cache: "+msg, "err", err)
	if s.opts.NoSpace != nil && errors.Is(err, syscall.ENOSPC) {
		s.opts.NoSpace(err)
	}
}

// nextGen returns a generation larger than every one handed out before,
// in this process or (clocks permitting) an earlier one: the nanosecond
// clock, or one more than the last when the clock lags. Open seeds the
// counter with the largest generation found on disk.
func (s *Store) nextGen() uint64 {
	for {
		last := s.gen.Load()
		next := max(last+1, uint64(time.Now().UnixNano()))
		if s.gen.CompareAndSwap(last, next) {
			return next
		}
	}
}
