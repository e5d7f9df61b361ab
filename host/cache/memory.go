package cache

import (
	"io"
	"os"
)

// SmallBody is the largest body the store keeps in memory as well as on
// disk. A hit on such a body costs an open, a read and a close of its file
// otherwise, more than the rest of the store's work together; larger
// bodies go out by sendfile, where those calls are a small part.
const SmallBody = 4 << 10

// memoryBody is a body kept in memory, with the body file generation it
// is the content of: an entry replaced by a header update shares it.
type memoryBody struct {
	bodyGen uint64
	b       []byte
}

// Body returns e's body: in memory (b) when it is small and the store's
// memory budget (Options.MaxMemory) holds it, else as an open file (f)
// positioned at the body's first byte and holding exactly e.Size bytes,
// which the caller closes. The first hit on a small body reads it from
// disk and keeps it; the bytes are shared and must not be modified.
// ErrGone reports that the entry has left the store meanwhile.
func (s *Store) Body(e *Entry) (b []byte, f *os.File, err error) {
	// e.node was set when e was published, before a lookup could return
	// it, and never changes; the body of a body generation never does.
	if m := e.node.memory.Load(); m != nil && m.bodyGen == e.bodyGen {
		return m.b, nil, nil
	}
	f, err = e.OpenBody()
	if err != nil || e.Size > SmallBody || s.memory.Load()+e.Size > s.opts.MaxMemory {
		return nil, f, err
	}
	defer f.Close()
	b = make([]byte, e.Size)
	if _, err := io.ReadFull(f, b); err != nil {
		return nil, nil, err
	}
	s.remember(e, b)
	return b, nil, nil
}

// remember keeps b as e's body in memory if e is still in the index and
// the budget still holds it: the budget counts only bodies that removing
// their entry gives back. Body's check of the budget, without the lock,
// only spares a read; concurrent first hits on different bodies can all
// pass it, so the check that counts is this one, under s.mu, which every
// change of s.memory holds.
func (s *Store) remember(e *Entry, b []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	size := int64(len(b))
	if s.memory.Load()+size > s.opts.MaxMemory {
		return
	}
	if n := e.node; n.entry == e && n.memory.CompareAndSwap(nil, &memoryBody{e.bodyGen, b}) {
		s.memory.Add(size)
	}
}

// forget gives back the memory of n's body, unless the entry that now
// takes n's place shares it (its body generation is keep; 0, which no
// generation is, keeps nothing). Called with s.mu held.
func (s *Store) forget(n *node, keep uint64) {
	if m := n.memory.Load(); m != nil && m.bodyGen != keep {
		n.memory.Store(nil)
		s.memory.Add(-int64(len(m.b)))
	}
}
