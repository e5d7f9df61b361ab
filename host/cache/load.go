package cache

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
)

// load reads every fan-out directory, in parallel, and returns the
// entries worth keeping, oldest first. Only metadata files are read; a
// body is checked by its size. Whatever is unreferenced, superseded,
// corrupt or foreign is removed.
func (s *Store) load() []*Entry {
	var (
		next    atomic.Int32
		mu      sync.Mutex
		entries []*Entry
		maxGen  uint64
		wg      sync.WaitGroup
	)
	// Past the CPUs, more workers overlap system calls (one that blocks
	// lets another worker run) and keep a cold disk's queue full.
	for range min(4*runtime.GOMAXPROCS(0), 64) {
		wg.Go(func() {
			buf := make([]byte, 16<<10)
			var found []*Entry
			var top uint64
			for i := next.Add(1) - 1; i < 256; i = next.Add(1) - 1 {
				found, top = s.loadDir(byte(i), found, &buf, top)
			}
			mu.Lock()
			entries = append(entries, found...)
			maxGen = max(maxGen, top)
			mu.Unlock()
		})
	}
	wg.Wait()
	s.gen.Store(maxGen)
	slices.SortFunc(entries, func(a, b *Entry) int { return cmp.Compare(a.gen, b.gen) })
	return entries
}

// files are the generations of one ID's metadata and body files.
type files struct {
	metas, bodies []uint64
}

// loadDir loads one fan-out directory, appending its good entries to
// found; top is the largest generation seen.
func (s *Store) loadDir(b byte, found []*Entry, buf *[]byte, top uint64) ([]*Entry, uint64) {
	dir := filepath.Join(s.root, fanOut(b))
	names, err := readNames(dir)
	if err != nil {
		s.fault("cannot list "+dir, err)
		return found, top
	}
	byID := make(map[entryID]*files, len(names)/2)
	for _, name := range names {
		id, gen, suffix, ok := parseName(name)
		if !ok || id[0] != b {
			s.drop(filepath.Join(dir, name), "not a cache file")
			continue
		}
		top = max(top, gen)
		f := byID[id]
		if f == nil {
			f = new(files)
			byID[id] = f
		}
		if suffix == metaSuffix {
			f.metas = append(f.metas, gen)
		} else {
			f.bodies = append(f.bodies, gen)
		}
	}
	for id, f := range byID {
		e := s.pick(dir, id, f, buf)
		for _, gen := range f.metas {
			if e == nil || gen != e.gen {
				s.remove1(filepath.Join(dir, fileName(id, gen, metaSuffix)))
			}
		}
		for _, gen := range f.bodies {
			if e == nil || gen != e.bodyGen {
				s.remove1(filepath.Join(dir, fileName(id, gen, bodySuffix)))
			}
		}
		if e != nil {
			found = append(found, e)
		}
	}
	return found, top
}

// pick returns the newest of an ID's metadata files that decodes, belongs
// to that ID and whose body is present with the right size. Older ones are
// what a crash left between publishing a new version and removing the old.
func (s *Store) pick(dir string, id entryID, f *files, buf *[]byte) *Entry {
	slices.SortFunc(f.metas, func(a, b uint64) int { return cmp.Compare(b, a) })
	for _, gen := range f.metas {
		path := filepath.Join(dir, fileName(id, gen, metaSuffix))
		e, err := s.readMeta(path, buf)
		if err == nil && (e.gen != gen || idOf(e.Key, e.vary) != id) {
			err = fmt.Errorf("%w: it does not belong to its file name", errCorrupt)
		}
		if err == nil && !slices.Contains(f.bodies, e.bodyGen) {
			err = errors.New("its body is missing")
		}
		if err == nil {
			err = checkBody(filepath.Join(dir, fileName(id, e.bodyGen, bodySuffix)), e.Size)
		}
		if err != nil {
			s.drop(path, err.Error())
			continue
		}
		e.id, e.dir = id, s.root
		return e
	}
	return nil
}

// readMeta reads and decodes one metadata file, through buf, which it
// grows for a file larger than usual.
func (s *Store) readMeta(path string, buf *[]byte) (*Entry, error) {
	n, more, err := readSmall(path, *buf)
	if err != nil {
		return nil, err
	}
	total, err := metaLength((*buf)[:n])
	if err != nil {
		return nil, err
	}
	if more && total > len(*buf) {
		*buf = make([]byte, total)
		if n, more, err = readSmall(path, *buf); err != nil {
			return nil, err
		}
	}
	if n != total || more {
		return nil, fmt.Errorf("%w: the file is longer or shorter than its header says (%d bytes)", errCorrupt, total)
	}
	return decodeMeta((*buf)[:n])
}

// checkBody verifies that a body file is a regular file of size bytes.
func checkBody(path string, size int64) error {
	got, regular, err := regularSize(path)
	switch {
	case err != nil:
		return err
	case !regular:
		return errors.New("its body is not a regular file")
	case got != size:
		return fmt.Errorf("its body has %d bytes, not %d", got, size)
	}
	return nil
}

// readNames lists a directory.
func readNames(dir string) ([]string, error) {
	d, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return d.Readdirnames(-1)
}

// drop removes a bad file and says why.
func (s *Store) drop(path, why string) {
	s.errors.Add(1)
	s.log.Warn("cache: removing a bad file", "file", path, "reason", why)
	s.remove1(path)
}

// remove1 removes a file the store no longer needs.
func (s *Store) remove1(path string) {
	if err := os.RemoveAll(path); err != nil {
		s.fault("cannot remove "+path, err)
	}
}
