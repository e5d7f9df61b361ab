package cache

import (
	"errors"
	"io/fs"
	"os"
	"sync/atomic"
	"time"

	"wasmhttpd/host/http1"
)

// Times are the two instants RFC 9111 4.2.3 computes a stored response's
// age from: when the request that produced it was sent, and when its
// response was received.
type Times struct {
	Request, Response time.Time
}

// Freshness holds the policy's verdicts about a stored response. The store
// keeps them and hands them back; it never interprets them. All three are
// durations relative to the response's age, as RFC 9111 4.2 and RFC 5861
// define freshness_lifetime and the stale-while-revalidate and
// stale-if-error windows, so they stay true when a restart reloads them.
type Freshness struct {
	Lifetime             time.Duration
	StaleWhileRevalidate time.Duration
	StaleIfError         time.Duration
}

// Response describes a response about to be stored.
type Response struct {
	// Status is the response's status code.
	Status int
	// Header holds the fields to store. The store copies it; dropping
	// hop-by-hop fields (RFC 9111 3.1) is the caller's business.
	Header *http1.Header
	// Times are the request and response instants of the exchange.
	Times Times
	// Freshness is whatever the policy decided.
	Freshness Freshness
	// Length is the declared body length (Content-Length), or -1 for a
	// body delimited by chunked framing or by the connection's close.
	Length int64
}

// Entry is one stored response: a variant of a primary key. An Entry never
// changes once published; an update publishes a new Entry. Its fields are
// shared by every request that hits it and must not be modified.
type Entry struct {
	// Key is the primary cache key the entry was stored under.
	Key string
	// Status is the stored response's status code.
	Status int
	// Header holds the stored response header fields.
	Header http1.Header
	// Times are the request and response instants of the exchange that
	// produced (or last revalidated) the entry.
	Times Times
	// Freshness is the policy's verdict recorded with the entry.
	Freshness Freshness
	// Size is the body length in bytes.
	Size int64

	id      entryID
	gen     uint64 // of the metadata file, unique and increasing
	bodyGen uint64 // of the body file, shared across header updates
	vary    []varyField
	metaLen int64  // bytes of the metadata file
	epoch   uint64 // of the key's invalidation slot when the store began
	dir     string
	node    *node // its place in the index; nil until published

	attached atomic.Value // see Attach
}

// Attach attaches v to the entry, unless a value is attached already, and
// returns the value attached. It is for the store's user: what it derives
// from the entry and keeps while the entry lives (the caching proxy keeps
// its decider's reusable decisions there). The store never reads it, and
// it is the one thing about an Entry that changes after publication.
func (e *Entry) Attach(v any) any {
	if e.attached.CompareAndSwap(nil, v) {
		return v
	}
	return e.attached.Load()
}

// Attached returns the value attached with Attach, nil when there is none.
func (e *Entry) Attached() any { return e.attached.Load() }

// ErrGone reports that an entry's body disappeared between lookup and open:
// it was evicted, invalidated or replaced. The request is then a miss.
var ErrGone = errors.New("cache: entry no longer stored")

// OpenBody opens the entry's body for reading. The file is positioned at
// the body's first byte and holds exactly Size bytes, so
// &io.LimitedReader{R: f, N: e.Size} goes out by sendfile. The file stays
// readable after the entry is evicted; the caller closes it.
func (e *Entry) OpenBody() (*os.File, error) {
	f, err := openBody(bodyPath(e.dir, e.id, e.bodyGen))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrGone
	}
	return f, err
}

// diskSize is what the entry costs against Options.MaxSize.
func (e *Entry) diskSize() int64 { return e.Size + e.metaLen }

// node is an entry's slot in the index and in the SIEVE queue. The entry
// it holds is swapped, not mutated, when headers are updated.
type node struct {
	entry      *Entry
	visited    atomic.Bool
	prev, next *node // prev is toward the tail (older)

	// memory is the entry's body, once a hit has read a small one and
	// the store's budget allowed keeping it (Store.Body).
	memory atomic.Pointer[memoryBody]
}
