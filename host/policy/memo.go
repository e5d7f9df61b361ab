package policy

import (
	"bytes"
	"context"
	"sync/atomic"

	"wasmhttpd/host/http1"
)

// Reusable decisions (cache_reusable, docs/ABI.md).
//
// # RATIONALE
//
// A cache hit asks the policy twice (cache_request, cache_lookup), and for
// a hot entry both calls see the same inputs and answer the same, second
// after second: a standard-Go guest spends several microseconds per call
// reaching that answer, more than the whole rest of a hit. The proxy must
// not guess the answer — the policy owns the decision — so the policy says
// when guessing is safe: a guest that calls cache_reusable promises that
// its result and its effects are a function of what it read through the
// host in that call and of the call's arguments (the times, in whole
// seconds). The host records every read and every effect of the call
// (a trace); a later call of the same hook, on the same generation, whose
// reads would all return the same and whose arguments are the same, is
// answered from the record: the effects are replayed, the guest is not
// called. Nothing is assumed about which fields matter: a policy that
// reads User-Agent has it compared, one that reads nothing about the URI
// is reused across URIs. Reuse ends with the second (the times
// change), with a swap (the generation changes), and with the stored
// response (the proxy keeps lookup records on the entry).
//
// What a replay cannot repeat spoils the record: a log line, a body read,
// and a read of fields the call itself changed. Reads are done again on
// the new request as it is before the replay, so a read that came after
// a change would be compared with fields the replay has yet to change:
// a value added to a field that already held it, or a name moved to the
// end by a set, would compare equal where the guest would have read
// something else (TestReuseAnswersAsTheGuest). Reading before writing,
// as the standard policy does, keeps a call reusable.

// Memo holds a hook's last few reusable decisions for the calls that may
// reuse them: the caching proxy keeps one for cache_request and one per
// stored response for cache_lookup. The zero value is empty; a Memo is
// safe for concurrent use.
//
// It holds memoSlots records, replaced by second chance (CLOCK): a record
// reused since the hand last passed it is kept, so that the plain GETs'
// decision survives the reloads (max-age=0), only-if-cached requests or
// PURGEs mixed into the same traffic, each of which reads differently.
type Memo struct {
	slots [memoSlots]atomic.Pointer[record]
	hand  atomic.Uint32
}

// memoSlots is how many decisions a Memo keeps: enough for the few ways
// requests differ where a cache policy looks, few enough that a call
// nothing matches costs little (a comparison usually ends at the first
// read, the method or Cache-Control).
const memoSlots = 4

// put stores r in place of a record that can no longer be reused — made
// for other arguments (an earlier second: the times only move forward),
// another generation or another policy — or else of the first record the
// hand finds unused since its last pass (or of the one under the hand
// after two full turns, when every record keeps being used). Replacing the
// dead first keeps a hot entry at one record or so, not memoSlots.
func (m *Memo) put(r *record) {
	for i := range m.slots {
		if old := m.slots[i].Load(); old == nil || old.args != r.args || old.gen != r.gen || old.p != r.p {
			m.slots[i].Store(r)
			return
		}
	}
	for range 2 * memoSlots {
		slot := &m.slots[m.hand.Add(1)%memoSlots]
		if old := slot.Load(); old == nil || !old.used.Swap(false) {
			slot.Store(r)
			return
		}
	}
	m.slots[m.hand.Load()%memoSlots].Store(r)
}

// traceOp is what a trace records of one host call.
type traceOp uint8

const (
	// Reads: recomputed and compared before a record is reused.
	readMethod traceOp = iota
	readURI
	readProtocol
	readSourceAddr
	readStatus
	readHeaderNames
	readHeaderValues
	readLogEnabled
	// Effects: replayed when it is.
	effectSetHeader
	effectAddHeader
	effectRemoveHeader
	effectCounterAdd
	effectSetKey
)

// traceEntry is one recorded host call. name and value are spans of the
// trace's data; n is a read's count or level, or a counter's delta.
type traceEntry struct {
	op          traceOp
	kind        uint8 // header kind
	name, value span
	n           int64
}

type span struct{ start, end uint32 }

// A trace that outgrows these bounds ends, the call not reusable: the
// trace is the instance's, kept across calls, and a guest reading on and
// on for its whole call deadline must not grow the host's memory with it.
// A decision worth reusing reads a few fields, and its record is kept
// with every stored response.
const (
	maxTraceEntries = 256
	maxTraceBytes   = 16 << 10
)

// trace is what an instance records during a hook call that has a Memo.
// Its buffers are kept across calls.
type trace struct {
	on       bool  // the call has a Memo to fill, and nothing spoiled it
	reusable bool  // the guest called cache_reusable
	changed  uint8 // bit k set: the call changed the fields of header kind k
	entries  []traceEntry
	data     []byte
}

func (t *trace) begin(on bool) {
	t.on, t.reusable, t.changed = on, false, 0
	t.entries, t.data = t.entries[:0], t.data[:0]
}

func (t *trace) span(b []byte) span {
	start := uint32(len(t.data))
	t.data = append(t.data, b...)
	return span{start, uint32(len(t.data))}
}

func (t *trace) spanString(s string) span {
	start := uint32(len(t.data))
	t.data = append(t.data, s...)
	return span{start, uint32(len(t.data))}
}

// add records a host call when the trace is on. A read of fields the
// call changed spoils it: such a read cannot be done again on the new
// request, whose fields the replay has not changed yet.
func (t *trace) add(op traceOp, kind uint32, name, value []byte, n int64) {
	if !t.on {
		return
	}
	switch op {
	case readHeaderNames, readHeaderValues:
		if t.changed&(1<<kind) != 0 && (op == readHeaderNames || t.changedField(kind, name)) {
			t.spoil()
			return
		}
	case effectSetHeader, effectAddHeader, effectRemoveHeader:
		t.changed |= 1 << kind
	}
	if t.full(len(name) + len(value)) {
		return
	}
	t.entries = append(t.entries, traceEntry{op: op, kind: uint8(kind), name: t.span(name), value: t.span(value), n: n})
}

// full spoils the trace when an entry of n more bytes would pass its
// bounds, and reports whether it did.
func (t *trace) full(n int) bool {
	if len(t.entries) < maxTraceEntries && len(t.data)+n <= maxTraceBytes {
		return false
	}
	t.spoil()
	return true
}

// changedField reports whether the trace holds a change of the field name
// of header kind.
func (t *trace) changedField(kind uint32, name []byte) bool {
	for i := range t.entries {
		e := &t.entries[i]
		if e.op >= effectSetHeader && e.op <= effectRemoveHeader && uint32(e.kind) == kind &&
			equalFold(t.data[e.name.start:e.name.end], name) {
			return true
		}
	}
	return false
}

// addString is add for a value held as a string.
func (t *trace) addString(op traceOp, value string) {
	if t.on && !t.full(len(value)) {
		t.entries = append(t.entries, traceEntry{op: op, value: t.spanString(value)})
	}
}

// spoil marks the call as not reusable, and ends its recording.
func (t *trace) spoil() { t.on = false }

// record is a reusable decision: the trace of the call that made it, its
// arguments and its result, for one generation of one policy. It is never
// changed once made.
type record struct {
	p       *Policy
	gen     uint64
	phase   callPhase
	args    [3]uint64
	result  uint64
	entries []traceEntry
	data    []byte
	grows   [kindRespTrailers + 1]growth // by header kind, what the effects may add
	key     string                       // the last cache_set_key, made once for every reuse
	used    atomic.Bool                  // reused since the Memo's hand passed it
}

// growth bounds what set and add effects add to a header table.
type growth struct{ fields, bytes int }

// keep turns the trace of a call that ended well into a record, when the
// guest asked for it and nothing spoiled it.
func (t *trace) keep(m *Memo, g *generation, phase callPhase, args [3]uint64, result uint64) {
	if !t.on || !t.reusable {
		return
	}
	r := &record{
		p: g.p, gen: g.id, phase: phase, args: args, result: result,
		entries: append([]traceEntry(nil), t.entries...),
		data:    append([]byte(nil), t.data...),
	}
	for _, e := range r.entries {
		switch e.op {
		case effectSetHeader, effectAddHeader:
			gr := &r.grows[e.kind]
			gr.fields++
			gr.bytes += fieldSize(len(r.bytes(e.name)), len(r.bytes(e.value)))
		case effectSetKey:
			r.key = string(r.bytes(e.value))
		}
	}
	m.put(r)
}

// reuse answers a call from one of m's records when every read it
// recorded reads the same on ex and the arguments are equal: it replays
// the effects on ex and returns the result and the key the guest set. ok
// is false when there is no such record, with nothing changed.
func (m *Memo) reuse(p *Policy, phase callPhase, args [3]uint64, ex *http1.Exchange) (result uint64, key string, ok bool) {
	g := p.cur.Load()
	if g == nil {
		return 0, "", false
	}
	for i := range m.slots {
		r := m.slots[i].Load()
		if r == nil || r.p != p || r.gen != g.id || r.phase != phase || r.args != args || !r.matches(ex, p.maxHeader) {
			continue
		}
		if !r.used.Load() {
			r.used.Store(true)
		}
		r.replay(p, ex)
		return r.result, r.key, true
	}
	return 0, "", false
}

// matches reports whether every read of r reads the same on ex, and the
// effects fit.
func (r *record) matches(ex *http1.Exchange, maxHeader int) bool {
	var scratch [256]byte
	for i := range r.entries {
		e := &r.entries[i]
		if e.op >= effectSetHeader {
			continue
		}
		got, n := r.readAgain(e, ex, scratch[:0])
		if n != e.n || !bytes.Equal(got, r.bytes(e.value)) {
			return false
		}
	}
	return r.fits(ex, maxHeader)
}

// replay performs r's effects on ex.
func (r *record) replay(p *Policy, ex *http1.Exchange) {
	for i := range r.entries {
		e := &r.entries[i]
		switch e.op {
		case effectSetHeader:
			h := headerOf(ex, uint32(e.kind))
			h.Del(string(r.bytes(e.name)))
			h.AddBytes(r.bytes(e.name), r.bytes(e.value))
		case effectAddHeader:
			headerOf(ex, uint32(e.kind)).AddBytes(r.bytes(e.name), r.bytes(e.value))
		case effectRemoveHeader:
			headerOf(ex, uint32(e.kind)).Del(string(r.bytes(e.name)))
		case effectCounterAdd:
			p.counters.add(r.bytes(e.name), e.n)
		}
	}
}

func (r *record) bytes(s span) []byte { return r.data[s.start:s.end] }

// fits reports whether the effects, replayed on ex, keep every table
// within the bounds the host functions enforce. It counts every field set
// or added and none removed, so it may refuse a replay that would fit:
// then the guest is called, and the host functions decide exactly.
func (r *record) fits(ex *http1.Exchange, maxHeader int) bool {
	for kind, gr := range r.grows {
		if gr.fields == 0 {
			continue
		}
		h := headerOf(ex, uint32(kind))
		if h.Len()+gr.fields > maxHeaderFields || headerSize(h)+gr.bytes > maxHeader {
			return false
		}
	}
	return true
}

// readAgain performs a recorded read on ex, as the host function would
// have answered it.
func (r *record) readAgain(e *traceEntry, ex *http1.Exchange, dst []byte) ([]byte, int64) {
	req := ex.Request
	switch e.op {
	case readMethod:
		return append(dst, req.Method...), 0
	case readURI:
		return appendURI(dst, req), 0
	case readProtocol:
		return append(dst, req.Proto()...), 0
	case readSourceAddr:
		return appendSourceAddr(dst, ex), 0
	case readStatus:
		return dst, int64(statusOf(ex.Response))
	case readHeaderNames:
		b, count := appendHeaderNames(dst, headerOf(ex, uint32(e.kind)))
		return b, int64(count)
	case readHeaderValues:
		b, count := appendHeaderValues(dst, headerOf(ex, uint32(e.kind)), r.bytes(e.name))
		return b, int64(count)
	case readLogEnabled:
		if r.p.logs(context.Background(), int32(e.n)) {
			dst = append(dst, 1)
		}
		return dst, e.n
	}
	return dst, -1
}
