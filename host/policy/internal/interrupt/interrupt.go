// Package interrupt makes a WebAssembly module stoppable from outside: it
// rewrites the module so that every function entry and every loop header
// reads a flag, an exported mutable i32 global, and traps (unreachable)
// when the flag is set. The host sets the flag when a guest call overruns
// its deadline; the guest then stops at its next call or loop iteration,
// however it got stuck, since code that does neither ends by itself.
// Loop headers alone would not do: a function that calls itself twice
// makes 2^n calls at a depth of only n, never overflowing the stack.
//
// Every yieldEvery checks the rewritten code also leaves native
// code for the host for a moment (a memory.grow by 0 pages, which wazero
// carries out in Go): compiled guest code cannot be preempted by the Go
// scheduler, and a guest that never left it would hold up the next
// garbage collection's stop-the-world, and with it the whole process,
// the timer that was to set the flag included.
//
// # RATIONALE
//
// wazero offers the same guarantee with WithCloseOnContextDone, but at a
// price paid on every call, not just the stuck ones: its compiled code
// leaves native code for Go at every loop header to ask whether the
// module was closed, and it starts a goroutine per call to watch the
// context. A standard-Go guest enters a loop at every function call (the
// Go wasm backend wraps each function body in one), so a cache decision
// that made ~200 such exits cost ~45 µs, of which the guest's own work
// was ~10 µs. The check inserted here is a few loads, stores and
// branches, and one exit per yieldEvery checks. wazero checks at loop
// headers only; the checks at function entries, which close the gap of
// recursion, about double the checks of a standard-Go guest, still a few
// nanoseconds a call.
//
// The rewrite keeps every index (function, type, global, local) as it
// was: the two globals it needs are appended after the module's own, and
// the only bytes that move are inside function bodies, whose sizes are
// re-encoded. DWARF custom sections (.debug_*), which address code by
// byte offset, are dropped rather than left wrong; every other section is
// copied unchanged.
//
// A module with a start function is refused: wazero runs it while it
// instantiates the module, before the host holds the instance's flag, so
// nothing could stop it. Reactors (_initialize) and commands (_start) are
// called by the host, under a deadline.
package interrupt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// Export is the name under which the flag global is exported. A module
// that already exports this name is refused.
const Export = "wasmhttpd.interrupt"

// Section ids (WebAssembly core 3.0, 5.5.2), in the order a module must
// place its non-custom sections; tag (13) sits between memory and global.
const (
	sectionCustom   = 0
	sectionImport   = 2
	sectionMemory   = 5
	sectionGlobal   = 6
	sectionExport   = 7
	sectionStart    = 8
	sectionCode     = 10
	sectionDataCnt  = 12
	sectionTag      = 13
	valueTypeI32    = 0x7f
	externGlobal    = 0x03
	opcodeLoop      = 0x03
	opcodeGlobalGet = 0x23
	opcodeGlobalSet = 0x24
)

// yieldEvery is how many checks the guest passes between two exits to
// the host: rare enough that an exit (a few hundred nanoseconds) costs
// under a nanosecond per check, often enough that a tight loop yields
// every few microseconds.
const yieldEvery = 1000

// order ranks the non-custom sections as they must appear.
var order = map[byte]int{1: 1, 2: 2, 3: 3, 4: 4, 5: 5, sectionTag: 6, 6: 7, 7: 8, 8: 9, 9: 10, sectionDataCnt: 11, 10: 12, 11: 13}

// section is one section of a module: its id and payload.
type section struct {
	id      byte
	payload []byte
}

// errStart refuses a module with a start function (see the package doc).
var errStart = errors.New("a start function would run as the module is instantiated, beyond the host's reach: export _initialize instead")

// errNoMemory refuses a module that has no memory to grow by 0 pages.
var errNoMemory = errors.New("the module has no memory: not an http-wasm guest")

// Instrument returns module with the flag global, exported as Export, and
// a check of it at the top of every function and loop. The input is not
// modified. A module that is not well-formed enough to rewrite is refused
// with an error saying where.
func Instrument(module []byte) ([]byte, error) {
	sections, err := split(module)
	if err != nil {
		return nil, err
	}
	var globals, memories uint32 // imported and defined
	for _, s := range sections {
		var g, m uint32
		switch s.id {
		case sectionImport:
			g, m, err = countImports(s.payload)
		case sectionGlobal:
			g, _, err = readU32(s.payload, 0)
		case sectionMemory:
			m, _, err = readU32(s.payload, 0)
		case sectionExport:
			err = checkNoExport(s.payload)
		case sectionStart:
			err = errStart
		}
		if err != nil {
			return nil, fmt.Errorf("%s section: %w", sectionName(s.id), err)
		}
		globals, memories = globals+g, memories+m
	}
	if memories == 0 {
		return nil, errNoMemory
	}
	flag, budget := globals, globals+1
	sections = withEntries(sections, sectionGlobal, mutableI32(0), mutableI32(yieldEvery))
	sections = withEntries(sections, sectionExport, exportEntry(flag))
	check := loopCheck(flag, budget)
	out := make([]byte, 0, len(module)+len(module)/8)
	out = append(out, module[:8]...)
	for _, s := range sections {
		payload := s.payload
		if s.id == sectionCode {
			if payload, err = instrumentCode(payload, check, globals); err != nil {
				return nil, fmt.Errorf("code section: %w", err)
			}
		}
		out = append(out, s.id)
		out = binary.AppendUvarint(out, uint64(len(payload)))
		out = append(out, payload...)
	}
	return out, nil
}

// sectionName names the sections Instrument reads, for its errors.
func sectionName(id byte) string {
	switch id {
	case sectionImport:
		return "import"
	case sectionGlobal:
		return "global"
	case sectionMemory:
		return "memory"
	case sectionStart:
		return "start"
	}
	return "export"
}

// split cuts module into its sections, dropping DWARF ones.
func split(module []byte) ([]section, error) {
	if len(module) < 8 || !bytes.Equal(module[:4], []byte("\x00asm")) {
		return nil, errors.New("not a WebAssembly module (bad magic)")
	}
	if binary.LittleEndian.Uint32(module[4:8]) != 1 {
		return nil, fmt.Errorf("unsupported binary format version %d", binary.LittleEndian.Uint32(module[4:8]))
	}
	var sections []section
	for pos := 8; pos < len(module); {
		id := module[pos]
		size, next, err := readU32(module, pos+1)
		if err != nil {
			return nil, fmt.Errorf("section at byte %d: %w", pos, err)
		}
		if uint64(next)+uint64(size) > uint64(len(module)) {
			return nil, fmt.Errorf("section at byte %d: %d bytes run past the end of the module", pos, size)
		}
		if _, known := order[id]; !known && id != sectionCustom {
			return nil, fmt.Errorf("section at byte %d: unknown section id %d", pos, id)
		}
		payload := module[next : next+int(size)]
		pos = next + int(size)
		if name, _, err := readName(payload, 0); id == sectionCustom && err == nil && strings.HasPrefix(name, ".debug_") {
			continue
		}
		sections = append(sections, section{id, payload})
	}
	return sections, nil
}

// withEntries appends entries to the vector that is the payload of the
// section id, creating the section in its place if the module has none.
func withEntries(sections []section, id byte, entries ...[]byte) []section {
	for i, s := range sections {
		if s.id != id {
			continue
		}
		n, next, _ := readU32(s.payload, 0) // read once already
		payload := binary.AppendUvarint(nil, uint64(n)+uint64(len(entries)))
		payload = append(payload, s.payload[next:]...)
		for _, e := range entries {
			payload = append(payload, e...)
		}
		sections[i].payload = payload
		return sections
	}
	at := len(sections)
	for i, s := range sections {
		if s.id != sectionCustom && order[s.id] > order[id] {
			at = i
			break
		}
	}
	sections = append(sections[:at], append([]section{{id: id}}, sections[at:]...)...)
	sections[at].payload = binary.AppendUvarint(nil, 0)
	return withEntries(sections, id, entries...)
}

// mutableI32 is a global entry: (mut i32) (i32.const v).
func mutableI32(v int32) []byte {
	return append(i32Const([]byte{valueTypeI32, 1}, v), 0x0b)
}

// i32Const appends the instruction i32.const v.
func i32Const(b []byte, v int32) []byte {
	b = append(b, 0x41)
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v == 0 && c&0x40 == 0 || v == -1 && c&0x40 != 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

// loopCheck is the code inserted at every function entry and loop
// header: trap when the flag is set; count the budget down, and when it
// runs out, refill it and leave native code (memory.grow by 0 pages) so
// that Go can preempt.
func loopCheck(flag, budget uint32) []byte {
	get := func(b []byte, g uint32) []byte { return binary.AppendUvarint(append(b, 0x23), uint64(g)) }
	set := func(b []byte, g uint32) []byte { return binary.AppendUvarint(append(b, 0x24), uint64(g)) }
	b := get(nil, flag)
	b = append(b, 0x04, 0x40, 0x00, 0x0b) // if unreachable end
	b = i32Const(get(b, budget), 1)
	b = get(set(append(b, 0x6b), budget), budget) // i32.sub
	b = append(b, 0x45, 0x04, 0x40)               // i32.eqz, if
	b = set(i32Const(b, yieldEvery), budget)
	b = i32Const(b, 0)
	return append(b, 0x40, 0x00, 0x1a, 0x0b) // memory.grow 0, drop, end
}

// exportEntry exports global index as Export.
func exportEntry(index uint32) []byte {
	b := binary.AppendUvarint(nil, uint64(len(Export)))
	b = append(append(b, Export...), externGlobal)
	return binary.AppendUvarint(b, uint64(index))
}

// countImports counts the global and memory imports, which come before
// the module's own in their index spaces.
func countImports(p []byte) (globals, memories uint32, err error) {
	n, pos, err := readU32(p, 0)
	if err != nil {
		return 0, 0, err
	}
	for i := uint32(0); i < n; i++ {
		for range 2 { // module and field names
			if _, pos, err = readName(p, pos); err != nil {
				return 0, 0, fmt.Errorf("import %d: %w", i, err)
			}
		}
		if pos >= len(p) {
			return 0, 0, fmt.Errorf("import %d: truncated", i)
		}
		kind := p[pos]
		pos++
		switch kind {
		case 0x00: // function: type index
			_, pos, err = readU32(p, pos)
		case 0x01: // table: reference type, limits
			if pos < len(p) && p[pos] == 0x40 {
				return 0, 0, fmt.Errorf("import %d: a table with an initializer", i)
			}
			if pos, err = skipImportType(p, pos); err == nil {
				pos, err = skipLimits(p, pos)
			}
		case 0x02: // memory: limits
			memories++
			pos, err = skipLimits(p, pos)
		case externGlobal: // value type, mutability
			globals++
			if pos, err = skipImportType(p, pos); err == nil {
				pos, err = skipBytes(p, pos, 1)
			}
		case 0x04: // tag: attribute, type index
			_, pos, err = readU32(p, pos+1)
		default:
			return 0, 0, fmt.Errorf("import %d: unknown kind %#x", i, kind)
		}
		if err != nil {
			return 0, 0, fmt.Errorf("import %d: %w", i, err)
		}
	}
	return globals, memories, nil
}

// skipImportType skips the value type of an imported global or table.
// wazero reads one byte, or after ref null or ref (0x63, 0x64) a heap
// type too; skipBlockType reads every such type alike, and what it reads
// differently wazero refuses.
func skipImportType(p []byte, pos int) (int, error) {
	return skipBlockType(p, pos)
}

// skipLimits skips the limits of a table or memory type: a flags byte,
// the minimum and, when flagged, the maximum.
func skipLimits(p []byte, pos int) (int, error) {
	if pos >= len(p) {
		return 0, errors.New("truncated limits")
	}
	flags := p[pos]
	_, pos, err := readU64(p, pos+1)
	if err == nil && flags&1 != 0 {
		_, pos, err = readU64(p, pos)
	}
	return pos, err
}

// checkNoExport refuses a module that already exports Export.
func checkNoExport(p []byte) error {
	n, pos, err := readU32(p, 0)
	if err != nil {
		return err
	}
	for i := uint32(0); i < n; i++ {
		var name string
		if name, pos, err = readName(p, pos); err != nil {
			return fmt.Errorf("export %d: %w", i, err)
		}
		if name == Export {
			return fmt.Errorf("the module exports %q itself, which the host reserves", Export)
		}
		if _, pos, err = readU32(p, pos+1); err != nil { // kind, index
			return fmt.Errorf("export %d: %w", i, err)
		}
	}
	return nil
}

// instrumentCode rewrites every function body of a code section whose
// module has the given number of globals.
func instrumentCode(p, check []byte, globals uint32) ([]byte, error) {
	n, pos, err := readU32(p, 0)
	if err != nil {
		return nil, err
	}
	out := binary.AppendUvarint(make([]byte, 0, len(p)+len(p)/8), uint64(n))
	var body []byte
	for i := uint32(0); i < n; i++ {
		size, next, err := readU32(p, pos)
		if err != nil {
			return nil, fmt.Errorf("function body %d: %w", i, err)
		}
		if uint64(next)+uint64(size) > uint64(len(p)) {
			return nil, fmt.Errorf("function body %d: %d bytes run past the section", i, size)
		}
		if body, err = instrumentBody(body[:0], p[next:next+int(size)], check, globals); err != nil {
			return nil, fmt.Errorf("function body %d: %w", i, err)
		}
		out = binary.AppendUvarint(out, uint64(len(body)))
		out = append(out, body...)
		pos = next + int(size)
	}
	if pos != len(p) {
		return nil, fmt.Errorf("%d bytes after the last function body", len(p)-pos)
	}
	return out, nil
}

// instrumentBody appends to out the function body fn with check after
// its locals and after every loop instruction's block type. Code that
// names a global past the module's own is refused: invalid as it is, it
// would be valid once rewritten, and could clear the flag or refill the
// budget.
func instrumentBody(out, fn, check []byte, globals uint32) ([]byte, error) {
	groups, pos, err := readU32(fn, 0)
	if err != nil {
		return nil, fmt.Errorf("locals: %w", err)
	}
	for range groups {
		if _, pos, err = readU32(fn, pos); err != nil {
			return nil, fmt.Errorf("locals: %w", err)
		}
		if pos, err = skipValueType(fn, pos); err != nil {
			return nil, fmt.Errorf("locals: %w", err)
		}
	}
	out = append(append(out, fn[:pos]...), check...)
	start := pos
	for pos < len(fn) {
		op := fn[pos]
		next, err := skipInstruction(fn, pos)
		if err != nil {
			return nil, fmt.Errorf("instruction at body offset %d: %w", pos, err)
		}
		if op == opcodeGlobalGet || op == opcodeGlobalSet {
			if g, _, _ := readU32(fn, pos+1); g >= globals { // read once already
				return nil, fmt.Errorf("instruction at body offset %d: global %d does not exist", pos, g)
			}
		}
		if op == opcodeLoop {
			out = append(append(out, fn[start:next]...), check...)
			start = next
		}
		pos = next
	}
	return append(out, fn[start:]...), nil
}
