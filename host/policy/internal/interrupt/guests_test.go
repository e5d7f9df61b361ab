package interrupt

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// The tests in this file check Instrument's output with walker, a second
// reader of the code written apart from decode.go and deliberately plain:
// one table of immediates per opcode, read with encoding/binary. A
// mistake in either reader shows as a disagreement between them.

// immediate is the shape of an instruction's immediates.
type immediate uint8

const (
	immNone      immediate = iota
	immBlockType           // s33, and after ref null or ref (0x63, 0x64) a heap type
	immIndex               // one u32
	immIndex2              // two u32
	immMemArg              // alignment, offset
	immMemLane             // alignment, offset, lane byte
	immSigned              // s32 or s64
	immBytes4
	immBytes8
	immBytes16
	immLane // one byte
	immBrTable
	immSelect  // vector of one-byte value types
	immHeapRef // one-byte reference type
	immMisc    // 0xfc prefix
	immVector  // 0xfd prefix
	immUnknown
)

// opcodes gives the immediates of the one-byte opcodes of WebAssembly 2.0
// (wasm spec 5.4), the tail calls included.
var opcodes = func() (t [256]immediate) {
	for op := range t {
		t[op] = immUnknown
	}
	set := func(imm immediate, ops ...int) {
		for _, op := range ops {
			t[op] = imm
		}
	}
	span := func(imm immediate, from, to int) {
		for op := from; op <= to; op++ {
			t[op] = imm
		}
	}
	set(immNone, 0x00, 0x01, 0x05, 0x0b, 0x0f, 0x1a, 0x1b, 0xd1)
	set(immBlockType, 0x02, 0x03, 0x04)
	set(immIndex, 0x0c, 0x0d, 0x10, 0x12, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x3f, 0x40, 0xd2)
	set(immIndex2, 0x11, 0x13)
	set(immBrTable, 0x0e)
	set(immSelect, 0x1c)
	span(immMemArg, 0x28, 0x3e)
	set(immSigned, 0x41, 0x42)
	set(immBytes4, 0x43)
	set(immBytes8, 0x44)
	span(immNone, 0x45, 0xc4)
	set(immHeapRef, 0xd0)
	set(immMisc, 0xfc)
	set(immVector, 0xfd)
	return t
}()

// miscOpcodes and vectorOpcodes are the 0xfc- and 0xfd-prefixed ones.
var (
	miscOpcodes = map[uint64]immediate{
		0: immNone, 1: immNone, 2: immNone, 3: immNone, 4: immNone, 5: immNone, 6: immNone, 7: immNone,
		8: immIndex2, 9: immIndex, 10: immIndex2, 11: immIndex, 12: immIndex2, 13: immIndex,
		14: immIndex2, 15: immIndex, 16: immIndex, 17: immIndex,
	}
	vectorOpcodes = func() map[uint64]immediate {
		m := map[uint64]immediate{}
		for op := uint64(0); op <= 0xff; op++ {
			switch {
			case op <= 0x0b, op == 0x5c, op == 0x5d:
				m[op] = immMemArg
			case op == 0x0c, op == 0x0d:
				m[op] = immBytes16
			case op >= 0x15 && op <= 0x22:
				m[op] = immLane
			case op >= 0x54 && op <= 0x5b:
				m[op] = immMemLane
			default:
				m[op] = immNone
			}
		}
		return m
	}()
)

// walker reads one function's code.
type walker struct {
	code []byte
	pos  int
	err  error
}

func (w *walker) fail(format string, args ...any) {
	if w.err == nil {
		w.err = fmt.Errorf("at %d: "+format, append([]any{w.pos}, args...)...)
	}
}

func (w *walker) byte() byte {
	if w.pos >= len(w.code) {
		w.fail("truncated")
		return 0
	}
	w.pos++
	return w.code[w.pos-1]
}

func (w *walker) uleb() uint64 {
	v, n := binary.Uvarint(w.code[min(w.pos, len(w.code)):])
	if n <= 0 {
		w.fail("bad unsigned LEB128")
		return 0
	}
	w.pos += n
	return v
}

// sleb skips a signed LEB128 and tells whether it was one byte.
func (w *walker) sleb() (byte, bool) {
	first, n := w.byte(), 1
	for b := first; b&0x80 != 0 && w.err == nil; n++ {
		b = w.byte()
	}
	return first, n == 1
}

func (w *walker) skip(n int) {
	if w.pos+n > len(w.code) {
		w.fail("truncated")
		return
	}
	w.pos += n
}

// instruction reads one instruction and reports whether it was a loop.
func (w *walker) instruction() bool {
	op := w.byte()
	imm := opcodes[op]
	switch imm {
	case immMisc:
		var known bool
		if imm, known = miscOpcodes[w.uleb()]; !known {
			w.fail("unknown 0xfc opcode")
		}
	case immVector:
		var known bool
		if imm, known = vectorOpcodes[w.uleb()]; !known {
			w.fail("unknown 0xfd opcode")
		}
	}
	switch imm {
	case immUnknown:
		w.fail("unknown opcode %#x", op)
	case immBlockType:
		if b, short := w.sleb(); short && (b == 0x63 || b == 0x64) {
			w.sleb()
		}
	case immIndex:
		w.uleb()
	case immIndex2:
		w.uleb()
		w.uleb()
	case immMemArg, immMemLane:
		w.uleb()
		w.uleb()
		if imm == immMemLane {
			w.skip(1)
		}
	case immSigned:
		w.sleb()
	case immBytes4:
		w.skip(4)
	case immBytes8:
		w.skip(8)
	case immBytes16:
		w.skip(16)
	case immLane, immHeapRef:
		w.skip(1)
	case immBrTable:
		for n := w.uleb(); n > 0 && w.err == nil; n-- {
			w.uleb()
		}
		w.uleb()
	case immSelect:
		w.skip(int(min(w.uleb(), uint64(len(w.code)))))
	}
	return op == opcodeLoop
}

// locals skips a body's local declarations.
func (w *walker) locals() {
	for n := w.uleb(); n > 0 && w.err == nil; n-- {
		w.uleb()
		w.skip(1)
	}
}

// countLoops counts the loop instructions of a function body.
func countLoops(body []byte) (int, error) {
	w := &walker{code: body}
	w.locals()
	loops := 0
	for w.err == nil && w.pos < len(body) {
		if w.instruction() {
			loops++
		}
	}
	return loops, w.err
}

// stripChecks checks that an instrumented body starts with check after
// its locals and that every loop is followed by it, and returns the body
// without them and the number of loops.
func stripChecks(body, check []byte) ([]byte, int, error) {
	w := &walker{code: body}
	w.locals()
	if !bytes.HasPrefix(body[min(w.pos, len(body)):], check) {
		return nil, 0, errors.New("the body does not start with the check")
	}
	out := body[:w.pos:w.pos]
	w.pos += len(check)
	start, checks := w.pos, 0
	for w.err == nil && w.pos < len(body) {
		if !w.instruction() || w.err != nil {
			continue
		}
		if !bytes.HasPrefix(body[w.pos:], check) {
			return nil, 0, fmt.Errorf("the loop ending at %d is not followed by the check", w.pos)
		}
		out = append(out, body[start:w.pos]...)
		w.pos += len(check)
		start, checks = w.pos, checks+1
	}
	return append(out, body[start:]...), checks, w.err
}

// parsed is what the tests need of a module, read with encoding/binary.
type parsed struct {
	globals uint32   // imported and defined
	flag    int64    // the index exported as Export; -1 when none is
	bodies  [][]byte // the function bodies, locals included
}

func parse(t testing.TB, wasm []byte) parsed {
	t.Helper()
	p := parsed{flag: -1}
	require.Equal(t, "\x00asm\x01\x00\x00\x00", string(wasm[:8]))
	for r := bytes.NewReader(wasm[8:]); r.Len() > 0; {
		id, err := r.ReadByte()
		require.NoError(t, err)
		size, err := binary.ReadUvarint(r)
		require.NoError(t, err)
		payload := make([]byte, size)
		_, err = r.Read(payload)
		require.NoError(t, err)
		s := bytes.NewReader(payload)
		uleb := func() uint64 {
			v, err := binary.ReadUvarint(s)
			require.NoError(t, err)
			return v
		}
		text := func() string {
			b := make([]byte, uleb())
			_, err := s.Read(b)
			require.NoError(t, err)
			return string(b)
		}
		limits := func() {
			if flags, _ := s.ReadByte(); flags&1 != 0 {
				uleb()
			}
			uleb()
		}
		valueType := func() { // a byte, or ref null or ref and a heap type
			if b, _ := s.ReadByte(); b == 0x63 || b == 0x64 {
				for b, _ = s.ReadByte(); b&0x80 != 0; b, _ = s.ReadByte() {
				}
			}
		}
		switch id {
		case 2:
			for n := uleb(); n > 0; n-- {
				text()
				text()
				switch kind, _ := s.ReadByte(); kind {
				case 0:
					uleb()
				case 1:
					valueType()
					limits()
				case 2:
					limits()
				case 3:
					p.globals++
					valueType()
					s.ReadByte()
				default:
					t.Fatalf("import kind %d", kind)
				}
			}
		case 6:
			p.globals += uint32(uleb())
		case 7:
			for n := uleb(); n > 0; n-- {
				name := text()
				s.ReadByte()
				if index := uleb(); name == Export {
					p.flag = int64(index)
				}
			}
		case 10:
			for n := uleb(); n > 0; n-- {
				b := make([]byte, uleb())
				_, err := s.Read(b)
				require.NoError(t, err)
				p.bodies = append(p.bodies, b)
			}
		}
	}
	return p
}

// assertInstrumented checks out against in with walker: the flag is the
// first new global, every function and loop of in is checked in out, and
// out without the checks is in. It returns the number of loops.
func assertInstrumented(t testing.TB, in, out []byte) int {
	t.Helper()
	before, after := parse(t, in), parse(t, out)
	require.Equal(t, before.globals+2, after.globals, "two globals are added")
	require.Equal(t, int64(before.globals), after.flag, "the flag is the first of them")
	check := loopCheck(before.globals, before.globals+1)
	require.Len(t, after.bodies, len(before.bodies))
	loops, checks := 0, 0
	for i, body := range before.bodies {
		n, err := countLoops(body)
		require.NoError(t, err, "function body %d", i)
		stripped, c, err := stripChecks(after.bodies[i], check)
		require.NoError(t, err, "function body %d", i)
		require.Equal(t, body, stripped, "function body %d without the checks", i)
		require.Equal(t, n, c, "function body %d", i)
		loops, checks = loops+n, checks+c
	}
	assert.Equal(t, loops, checks)
	assert.Equal(t, loops+len(before.bodies), bytes.Count(out, check), "the check appears nowhere else")
	return loops
}

// repoRoot is where the repository's go.mod is.
const repoRoot = "../../../.."

// guestDir holds the guests realGuests built, removed by TestMain.
var guestDir string

func TestMain(m *testing.M) {
	code := m.Run()
	if guestDir != "" {
		os.RemoveAll(guestDir)
	}
	os.Exit(code)
}

// realGuests builds, once per test binary, every guest module of the
// repository with the standard toolchain: the policies and the test
// guests of host/policy. It returns their paths by name.
var realGuests = sync.OnceValues(func() (map[string]string, error) {
	dir, err := os.MkdirTemp("", "interrupt-guests")
	if err != nil {
		return nil, err
	}
	guestDir = dir
	var srcs []string
	for _, pattern := range []string{"policies/*/main.go", "host/policy/testdata/*/main.go"} {
		matches, err := filepath.Glob(filepath.Join(repoRoot, pattern))
		if err != nil {
			return nil, err
		}
		srcs = append(srcs, matches...)
	}
	guests := map[string]string{}
	errs := make([]error, len(srcs))
	var wg sync.WaitGroup
	for i, src := range srcs {
		pkg := filepath.Dir(src)
		name := filepath.Base(filepath.Dir(pkg)) + "-" + filepath.Base(pkg)
		out := filepath.Join(dir, name+".wasm")
		guests[name] = out
		wg.Go(func() {
			cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", out, ".")
			cmd.Dir = pkg
			cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
			if msg, err := cmd.CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("building %s: %v\n%s", pkg, err, msg)
			}
		})
	}
	wg.Wait()
	return guests, errors.Join(errs...)
})

// guestModules reads the modules realGuests built, by name.
func guestModules(t *testing.T) map[string][]byte {
	t.Helper()
	paths, err := realGuests()
	require.NoError(t, err)
	require.NotEmpty(t, paths)
	modules := map[string][]byte{}
	for name, path := range paths {
		wasm, err := os.ReadFile(path)
		require.NoError(t, err)
		modules[name] = wasm
	}
	return modules
}

// newInterpreter is a runtime with wazero's interpreter, which validates
// a module as its compiler does at a fraction of the cost, and runs the
// same: the compiler takes half a minute for a standard-Go guest under
// the race detector.
func newInterpreter(t testing.TB) wazero.Runtime {
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	t.Cleanup(func() { rt.Close(ctx) })
	return rt
}

// TestRealGuests: every guest module of the repository is rewritten with
// a check at the start of each function and after each of its loops, as
// the walker finds them, nothing else changes in its code, and wazero
// takes the result.
func TestRealGuests(t *testing.T) {
	rt := newInterpreter(t)
	for name, wasm := range guestModules(t) {
		t.Run(name, func(t *testing.T) {
			out, err := Instrument(wasm)
			require.NoError(t, err)
			loops := assertInstrumented(t, wasm, out)
			assert.Greater(t, loops, 500, "a standard-Go guest has hundreds of loops")
			compiled, err := rt.CompileModule(context.Background(), out)
			require.NoError(t, err)
			compiled.Close(context.Background())
		})
	}
}

// TestRealGuestsBehaveAlike runs each policy, as built and rewritten, in
// identical surroundings: a host whose functions record their calls and
// return zeros, WASI with wazero's deterministic clocks and randomness.
// Both runs must make the same host calls with the same arguments, return
// the same and leave the same memory.
func TestRealGuestsBehaveAlike(t *testing.T) {
	for name, wasm := range guestModules(t) {
		if !strings.HasPrefix(name, "policies-") {
			continue // the test guests trap or spin on purpose
		}
		t.Run(name, func(t *testing.T) {
			out, err := Instrument(wasm)
			require.NoError(t, err)
			assert.Equal(t, run(t, wasm), run(t, out))
		})
	}
}

// run calls _initialize, handle_request and handle_response and returns
// what the guest did: its host calls, results and final memory digest.
func run(t *testing.T, wasm []byte) []string {
	ctx := context.Background()
	rt := newInterpreter(t)
	wasi_snapshot_preview1.MustInstantiate(ctx, rt)
	compiled, err := rt.CompileModule(ctx, wasm)
	require.NoError(t, err)
	var trace []string
	hosts := map[string]wazero.HostModuleBuilder{}
	for _, fn := range compiled.ImportedFunctions() {
		module, field, _ := fn.Import()
		if module == wasi_snapshot_preview1.ModuleName {
			continue
		}
		if hosts[module] == nil {
			hosts[module] = rt.NewHostModuleBuilder(module)
		}
		params, results := fn.ParamTypes(), fn.ResultTypes()
		hosts[module].NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(_ context.Context, _ api.Module, stack []uint64) {
			call := module + "." + field
			for i, vt := range params {
				if vt == api.ValueTypeI32 {
					stack[i] = uint64(api.DecodeU32(stack[i])) // the upper half is undefined
				}
				call += fmt.Sprint(" ", stack[i])
			}
			trace = append(trace, call)
			clear(stack[:len(results)])
		}), params, results).Export(field)
	}
	for _, h := range hosts {
		_, err := h.Instantiate(ctx)
		require.NoError(t, err)
	}
	mod, err := rt.InstantiateModule(ctx, compiled, wazero.NewModuleConfig().WithName("").WithStartFunctions())
	require.NoError(t, err)
	for _, call := range []struct {
		export string
		params []uint64
	}{{"_initialize", nil}, {"handle_request", nil}, {"handle_response", []uint64{0, 0}}} {
		fn := mod.ExportedFunction(call.export)
		if fn == nil {
			continue
		}
		res, err := fn.Call(ctx, call.params...)
		trace = append(trace, fmt.Sprint(call.export, " -> ", res, err))
	}
	memory, _ := mod.Memory().Read(0, mod.Memory().Size())
	return append(trace, fmt.Sprintf("memory %x", sha256.Sum256(memory)))
}

// TestHandAssembledVectorAndBulkMemory: a module whose immediates are
// full of 0x03, the loop opcode (vector constants and shuffles, lanes,
// offsets, memory.init), with a data count section and no global
// section: exactly its two loops are checked, and it computes the same.
func TestHandAssembledVectorAndBulkMemory(t *testing.T) {
	threes := bytes.Repeat([]byte{0x03}, 16)
	code := cat(
		[]byte{0x41, 0x03, 0x21, 0x01}, // i = 3
		[]byte{0x03, 0x40},             // loop
		[]byte{0xfd, 0x0c}, threes,     // v128.const 0x03…
		[]byte{0xfd, 0x0c}, bytes.Repeat([]byte{0x11}, 16), // v128.const 0x11…
		[]byte{0xfd, 0x0d}, []byte{0, 3, 16, 19, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3}, // i8x16.shuffle
		[]byte{0xfd, 0x0c}, threes, []byte{0xfd, 0x6e}, // v128.const, i8x16.add
		[]byte{0x21, 0x00}, // local.set 0
		[]byte{0x41, 0x00, 0x20, 0x00, 0xfd, 0x0b, 0x04, 0x03},                         // v128.store offset 3
		[]byte{0x41, 0x00, 0x20, 0x00, 0xfd, 0x54, 0x00, 0x03, 0x03},                   // v128.load8_lane offset 3 lane 3
		[]byte{0xfd, 0x16, 0x03, 0x21, 0x02},                                           // i8x16.extract_lane_u 3, local.set 2
		[]byte{0x41, 0xc0, 0x00, 0x41, 0x00, 0x41, 0x04, 0xfc, 0x08, 0x00, 0x00},       // memory.init 0 at 64
		[]byte{0x41, 0xd0, 0x00, 0x41, 0xc0, 0x00, 0x41, 0x04, 0xfc, 0x0a, 0x00, 0x00}, // memory.copy 64 → 80
		[]byte{0x41, 0x03, 0x41, 0x03, 0x41, 0x03, 0xfc, 0x0b, 0x00},                   // memory.fill 3 bytes of 3 at 3
		[]byte{0xfc, 0x10, 0x00, 0x1a},                                                 // table.size 0, drop
		[]byte{0x43}, f32bytes(3.9), []byte{0xfc, 0x00, 0x21, 0x03},                    // i32.trunc_sat_f32_s 3.9 → local 3
		[]byte{0x20, 0x01, 0x41, 0x01, 0x6b, 0x22, 0x01, 0x0d, 0x00}, // i--, br_if 0
		[]byte{end},
		[]byte{0xfc, 0x09, 0x00}, // data.drop 0
		[]byte{0x03, 0x7f, 0x41, 0x00, 0x28, 0x02, 0x50, end}, // loop (result i32) i32.load offset 80 end
		[]byte{0x20, 0x02, 0x6a, 0x20, 0x03, 0x6a},            // + lane + truncated
		[]byte{0x41, 0x03, 0x2d, 0x00, 0x03, 0x6a},            // + the byte filled at 6
	)
	wasm := module(
		sec(1, vec(typeResult)),
		sec(3, vec([]byte{0})),
		sec(4, vec([]byte{0x70, 0x00, 0x01})), // table funcref 1
		memory,
		sec(7, vec(exportFunc("run", 0))),
		sec(12, uleb(1)),
		sec(10, vec(bodyWithLocals(vec([]byte{1, 0x7b}, []byte{3, i32}), code...))),
		sec(11, vec(cat([]byte{0x01}, name("\x03\x03\x03\x03")))), // passive data
	)
	out, err := Instrument(wasm)
	require.NoError(t, err)
	assert.Equal(t, 2, assertInstrumented(t, wasm, out))
	var results []uint64
	for _, m := range [][]byte{wasm, out} {
		res, err := instantiate(t, newRuntime(t), m).ExportedFunction("run").Call(context.Background())
		require.NoError(t, err)
		results = append(results, res[0])
	}
	// The word copied from the data, lane 3 loaded back (6), 3.9
	// truncated, and the byte at 6, stored (0x14) and not filled.
	assert.Equal(t, uint64(0x03030303+6+3+0x14), results[0])
	assert.Equal(t, results[0], results[1])
}

func f32bytes(f float32) []byte { return binary.LittleEndian.AppendUint32(nil, math.Float32bits(f)) }

// TestInstrumentPlacesGlobalsAfterTags: with exception handling, the tag
// section (13) comes between memory and global; a module with tags but
// no globals gets its global section after them.
func TestInstrumentPlacesGlobalsAfterTags(t *testing.T) {
	wasm := module(
		sec(1, vec(typeVoid)),
		sec(3, vec([]byte{0})),
		memory,
		sec(13, vec([]byte{0x00, 0x00})), // tag of type 0
		sec(10, vec(body(0x03, 0x40, end))),
	)
	out, err := Instrument(wasm)
	require.NoError(t, err)
	assertInstrumented(t, wasm, out)
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().
		WithCoreFeatures(api.CoreFeaturesV2|experimental.CoreFeaturesExceptionHandling))
	t.Cleanup(func() { rt.Close(ctx) })
	for _, m := range [][]byte{wasm, out} {
		compiled, err := rt.CompileModule(ctx, m)
		require.NoError(t, err)
		compiled.Close(ctx)
	}
}
