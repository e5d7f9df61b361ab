// Package cache is the on-disk store of the caching proxy: the mechanism
// of RFC 9111 storage, without its policy. Whether a response may be
// stored, for how long it is fresh, whether a stale one may be served:
// those are decided elsewhere (by the policy guests) and arrive here as
// plain values (Freshness), which the store keeps beside the response and
// hands back. The store keeps what later decisions need: the status, the
// stored header fields, the request and response times of RFC 9111 4.2.3,
// and the request field values the response varies on.
//
// # Use
//
//	e, fill, err := store.LookupOrFill(ctx, key, req)
//	switch {
//	case e != nil:    // a hit: e.Header, e.OpenBody() (sendfile), e.Freshness, …
//	case fill != nil: // the first miss: fetch, then
//		w, err := fill.Begin(cache.Response{…}) // or fill.Cancel()
//		// stream the body to the client and into w, then w.Commit() or w.Abort()
//	default:          // another request's fill failed or took too long: fetch alone
//	}
//
// Store.Invalidate drops every variant of a key; Store.UpdateHeaders
// applies a 304 revalidation.
//
// # Layout
//
// Under the directory given to Open:
//
//	http/lock                 flock'ed while a process has the store open
//	http/tmp/                 stores in progress; emptied by Open
//	http/00/ … http/ff/       entries, by the first byte of their ID
//	  <id>-<gen>.m            metadata of a variant
//	  <id>-<gen>.b            its body, exactly the body's bytes
//
// <id> is 32 hex digits: 128 bits of SHA-256 over the primary key and the
// variant's Vary'd request fields. <gen> is 16 hex digits, a generation
// that increases with every file written (the nanosecond clock, kept
// monotonic, and seeded at Open above everything on disk), so no file is
// ever overwritten and the newest version of an entry is the one with the
// largest generation.
//
// The body file holds the body and nothing else, so a hit is sent by
// sendfile from offset 0 for Entry.Size bytes.
//
// The metadata file, little-endian:
//
//	"WHC\x01"           magic and format version
//	u32                 payload length (at most 1 MiB)
//	payload:
//	  u64 gen, u64 body gen, u64 body size, u16 status
//	  i64 request time, i64 response time      (Unix nanoseconds)
//	  i64 lifetime, i64 stale-while-revalidate, i64 stale-if-error  (ns)
//	  u32 len, key
//	  u16 count, then per Vary'd field: u16 len, name; u8 present; u32 len, value
//	  u32 count, then per header field: u16 len, name; u32 len, value
//	u32                 CRC-32C of everything before it
//
// A metadata file is trusted only if its checksum holds, it decodes
// exactly (no trailing bytes, canonical values), its generation and the
// ID derived from its key and fields match its file name, and the body it
// names exists as a regular file of the recorded size. Anything else is
// removed at Open with a log line.
//
// # RATIONALE
//
// Two files per entry. A 304 revalidation must replace the stored header
// fields atomically. With headers and body in one file that means either
// rewriting in place (torn on a crash, racy for a concurrent reader) or
// copying the body. With a separate, immutable body file, an update is a
// new metadata file naming the same body, published by rename: atomic,
// and O(header) whatever the body's size. The cost is a second inode per
// entry; Open still reads only metadata files and stats each chosen body.
//
// Commit order and fsync. Commit (1) fsyncs the body in tmp/, (2) renames
// it to its final name, (3) writes the metadata file in tmp/ and renames
// it into place, then (4) publishes the entry in memory and unlinks what it
// replaced. The metadata rename is the commit point: before it, the body is
// an unreferenced file that Open removes. A kill -9 cannot tear anything:
// the kernel keeps every completed write, and a file appears under its
// final name only whole. A power loss can lose writes that were not
// fsynced: the body was (step 1), so a metadata file that survives names a
// complete body; the metadata file itself is not fsynced, because if it is
// lost or torn its checksum, length or name check fails at Open and the
// entry is dropped — for a cache that is a miss, never a wrong answer.
// Directories are not fsynced for the same reason: a lost rename is a lost
// entry. That is one fsync per stored object, off the client's path when
// the proxy commits after the last byte has gone out; nginx and Squid do
// none, and would serve a body torn by a power loss.
//
// Eviction is SIEVE (Zhang et al., NSDI 2024): a FIFO queue with one
// "visited" bit per entry and a hand that moves from the oldest entry to
// the newest, clearing bits and evicting the first entry not visited since
// it last passed. A hit only sets the bit (an atomic store under the read
// lock), where LRU would move the entry to the front under the write lock
// on every hit; so hits never wait for each other or for a store. SIEVE
// also evicts new entries that nobody asks for again (the many one-hit
// objects of web traffic) quickly, and its miss ratio on web traces beats
// LRU's and matches ARC's and S3-FIFO's with a fraction of their
// complexity. The entry just stored is never its own victim.
//
// Locking. One RWMutex guards the index (primary key → variants) and the
// queue; lookups take it for reading. It is never held across file I/O:
// eviction, replacement and invalidation collect the files to unlink and
// unlink them after releasing it, and a body someone is sending stays
// readable because unlinking an open file only drops its name. Entries are
// immutable once published; an update publishes a new one in the same
// slot, so a request that holds an Entry never sees it change.
//
// Vary. A response names the request fields it varies on; the store keeps
// their values from the request that produced it, normalized as RFC 9111
// 4.1 allows (see normalizedValue), with absence distinct from an empty
// value. The variant's ID hashes them, so storing the same variant again
// replaces it. A response with "Vary: *" is refused at Begin: no request
// could ever match it. When several variants match, the most recent
// response wins (RFC 9111 4.1). A key keeps at most 32 variants (the
// oldest makes room), so a response varying on User-Agent cannot make
// every lookup of its key scan an unbounded list.
//
// Invalidation. Invalidate removes every variant of a key, and also
// refuses to publish any store of that key begun before it: the response
// being stored may predate the unsafe request that invalidated the key.
// Begin notes a per-key-slot invalidation generation and Commit compares
// it; keys share 1024 slots, so a collision at worst skips one store.
//
// Collapsed misses. LookupOrFill makes the first miss for a key its
// filler; later misses wait (at most Options.FillWait, and never past
// their context) and then look up again: they hit the committed entry,
// or, if the committed variant does not match them, take their turn as
// filler. If the filler aborts, the waiters are told so and fetch for
// themselves, as nginx's proxy_cache_lock does: an abort usually means the
// response was not storable, and then every one of them needs its own
// fetch. Waiters do not stream from the growing temp file; they wait for
// the commit.
//
// Limits. MaxSize counts bytes on disk (bodies and metadata files) of
// committed entries; bodies being written are not counted until they
// commit, and a body larger than MaxObjectSize (or MaxSize) is refused up
// front when declared, or aborted as soon as it grows past the limit.
package cache
