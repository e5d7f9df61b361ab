package interrupt

import (
	"context"
	"encoding/binary"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// The modules below are assembled by hand, section by section, so that
// each test says exactly which bytes it feeds the rewrite.

func uleb(v uint64) []byte { return binary.AppendUvarint(nil, v) }

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// vec is a WebAssembly vector: a count, then the items.
func vec(items ...[]byte) []byte { return cat(uleb(uint64(len(items))), cat(items...)) }

func sec(id byte, payload ...[]byte) []byte {
	p := cat(payload...)
	return cat([]byte{id}, uleb(uint64(len(p))), p)
}

func name(s string) []byte { return cat(uleb(uint64(len(s))), []byte(s)) }

func module(sections ...[]byte) []byte {
	return cat([]byte("\x00asm\x01\x00\x00\x00"), cat(sections...))
}

// body is a function body without locals.
func body(code ...byte) []byte { return bodyWithLocals(vec(), code...) }

// bodyWithLocals is a function body: its local declarations, its code
// and the final end.
func bodyWithLocals(locals []byte, code ...byte) []byte {
	b := cat(locals, code, []byte{end})
	return cat(uleb(uint64(len(b))), b)
}

const (
	i32 = 0x7f
	end = 0x0b
)

var (
	typeVoid   = cat([]byte{0x60}, vec(), vec())            // () -> ()
	typeResult = cat([]byte{0x60}, vec(), vec([]byte{i32})) // () -> i32
)

func exportFunc(n string, index uint64) []byte { return cat(name(n), []byte{0x00}, uleb(index)) }

// memory is a memory section: one memory of one page.
var memory = sec(5, vec([]byte{0x00, 1}))

// spinner exports spin, a loop that never ends, and has no global
// section of its own to extend.
var spinner = module(
	sec(1, vec(typeVoid)),
	sec(3, vec([]byte{0})),
	memory,
	sec(7, vec(exportFunc("spin", 0))),
	sec(10, vec(body(0x03, 0x40, 0x0c, 0x00, end))), // loop br 0 end
)

// counter imports a global and defines one, and exports sum, which adds
// 1..10 in a loop and then both globals: the rewrite must keep the
// loop's result and both global indices.
var counter = module(
	sec(1, vec(typeResult)),
	sec(2, vec(
		cat(name("env"), name("base"), []byte{0x03, i32, 0x00}),
		cat(name("env"), name("memory"), []byte{0x02, 0x00, 0x01}),
	)),
	sec(3, vec([]byte{0})),
	sec(6, vec([]byte{i32, 0x00, 0x41, 50, end})), // (global i32 (i32.const 50))
	sec(7, vec(exportFunc("sum", 0))),
	sec(10, vec(bodyWithLocals(vec([]byte{2, i32}), // two i32 locals: i, total
		0x41, 10, 0x21, 0, // i = 10
		0x03, 0x40, // loop
		0x20, 1, 0x20, 0, 0x6a, 0x21, 1, // total += i
		0x20, 0, 0x41, 1, 0x6b, 0x22, 0, // i-- (tee)
		0x0d, 0, // br_if 0
		end,
		0x20, 1, 0x23, 0, 0x6a, 0x23, 1, 0x6a, // total + global 0 + global 1
	))),
	sec(0, name(".debug_line"), []byte{1, 2, 3}),
	sec(0, name("producers"), []byte{0}),
)

func newRuntime(t testing.TB) wazero.Runtime {
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigCompiler())
	t.Cleanup(func() { rt.Close(ctx) })
	return rt
}

func instantiate(t *testing.T, rt wazero.Runtime, wasm []byte) api.Module {
	t.Helper()
	mod, err := rt.InstantiateWithConfig(context.Background(), wasm, wazero.NewModuleConfig().WithName(""))
	require.NoError(t, err)
	return mod
}

// callInBackground calls mod's export fn with params and returns where
// its error will arrive.
func callInBackground(mod api.Module, fn string, params ...uint64) <-chan error {
	done := make(chan error, 1)
	go func() {
		_, err := mod.ExportedFunction(fn).Call(context.Background(), params...)
		done <- err
	}()
	return done
}

// requireTrapped waits for a call stopped by the flag: an unreachable
// trap, soon.
func requireTrapped(t *testing.T, done <-chan error, what string) {
	t.Helper()
	select {
	case err := <-done:
		require.Error(t, err)
		assert.Contains(t, err.Error(), "unreachable")
	case <-time.After(10 * time.Second):
		t.Fatal(what)
	}
}

// TestInstrumentStopsASpinningLoop: setting the flag from another
// goroutine stops a guest spinning in a loop, with a trap.
func TestInstrumentStopsASpinningLoop(t *testing.T) {
	out, err := Instrument(spinner)
	require.NoError(t, err)
	mod := instantiate(t, newRuntime(t), out)
	flag, ok := mod.ExportedGlobal(Export).(api.MutableGlobal)
	require.True(t, ok, "the flag is an exported mutable global")
	assert.Zero(t, flag.Get())

	done := callInBackground(mod, "spin")
	select {
	case err := <-done:
		t.Fatalf("spin returned before the flag was set: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	// Compiled code cannot be preempted: without its periodic exits the
	// spinning guest would hold up this collection's stop-the-world for
	// good.
	collected := make(chan struct{})
	go func() {
		runtime.GC()
		close(collected)
	}()
	select {
	case <-collected:
	case <-time.After(10 * time.Second):
		t.Fatal("a garbage collection waited for the spinning guest")
	}
	flag.Set(1)
	requireTrapped(t, done, "the flag did not stop the loop")
}

// hidden hides a loop behind a block of type (ref null 12), whose heap
// type byte 0x0c is also the opcode br.
var hidden = func() []byte {
	types := make([][]byte, 13)
	for i := range types {
		types[i] = typeVoid
	}
	return module(
		sec(1, vec(types...)),
		sec(3, vec([]byte{0})),
		memory,
		sec(7, vec(exportFunc("spin", 0))),
		sec(10, vec(body(
			0x02, 0x63, 0x0c, // block (result (ref null 12))
			0x03, 0x40, 0x0c, 0x00, end, // loop br 0 end
			0x00, end, // unreachable end
			0x1a, // drop
		))),
	)
}()

// TestInstrumentReadsReferenceBlockTypes: a block whose type is a
// reference with a heap type, (ref null 12) here, which wazero compiles
// without any feature enabled, takes two bytes; read as one, the heap
// type 0x0c became a br whose label swallowed the loop after it, and
// the loop went unchecked.
func TestInstrumentReadsReferenceBlockTypes(t *testing.T) {
	out, err := Instrument(hidden)
	require.NoError(t, err)
	mod := instantiate(t, newRuntime(t), out)
	flag := mod.ExportedGlobal(Export).(api.MutableGlobal)
	flag.Set(1)
	requireTrapped(t, callInBackground(mod, "spin"), "the loop was not instrumented")
}

// TestCountImportsReadsReferenceTypes: an imported global or table of a
// reference type with a heap type, (ref null func), takes two bytes;
// read as one, the imports after it were misread, and a global import
// could go uncounted, giving the flag the index of another global.
func TestCountImportsReadsReferenceTypes(t *testing.T) {
	refGlobal := cat(name("env"), name("f"), []byte{0x03, 0x63, 0x70, 0x00}) // global (ref null func)
	i32Global := cat(name("env"), name("g"), []byte{0x03, i32, 0x01})        // global (mut i32)
	cases := []struct {
		test              string
		imports           []byte
		globals, memories uint32
	}{
		{"global after a ref global", vec(refGlobal, i32Global), 2, 0},
		{"every kind", vec(
			refGlobal,
			cat(name("env"), name("t"), []byte{0x01, 0x64, 0x70, 0x00, 0x01}), // table (ref func) 1
			i32Global,
			cat(name("env"), name("m"), []byte{0x02, 0x00, 0x01}), // memory 1
		), 2, 1},
	}
	for _, tc := range cases {
		t.Run(tc.test, func(t *testing.T) {
			globals, memories, err := countImports(tc.imports)
			require.NoError(t, err)
			assert.Equal(t, tc.globals, globals)
			assert.Equal(t, tc.memories, memories)
		})
	}
	_, _, err := countImports(vec(cat(name("env"), name("t"), []byte{0x01, 0x40, 0x00, 0x70, 0x00, 0x01})))
	assert.ErrorContains(t, err, "import 0: a table with an initializer")
}

// TestInstrumentStopsRecursion: a function that calls itself twice runs
// 2^62 calls without a loop and without overflowing the stack; the check
// at function entry stops it.
func TestInstrumentStopsRecursion(t *testing.T) {
	halve := []byte{0x20, 0, 0x41, 1, 0x6b, 0x10, 0} // f(n-1)
	fan := module(
		sec(1, vec(cat([]byte{0x60}, vec([]byte{i32}), vec()))), // (i32) -> ()
		sec(3, vec([]byte{0})),
		memory,
		sec(7, vec(exportFunc("fan", 0))),
		sec(10, vec(body(cat([]byte{0x20, 0, 0x04, 0x40}, halve, halve, []byte{end})...))), // if n { f(n-1) f(n-1) }
	)
	out, err := Instrument(fan)
	require.NoError(t, err)
	mod := instantiate(t, newRuntime(t), out)
	done := callInBackground(mod, "fan", 62)
	time.Sleep(50 * time.Millisecond)
	mod.ExportedGlobal(Export).(api.MutableGlobal).Set(1)
	requireTrapped(t, done, "the flag did not stop the recursion")
}

// TestInstrumentRefusesTheNewGlobals: code that names a global past the
// module's own is invalid, but valid once the rewrite has added the flag
// and the budget there; a guest clearing the flag at every iteration, or
// refilling the budget, could never be stopped, so it is refused.
func TestInstrumentRefusesTheNewGlobals(t *testing.T) {
	cases := []struct {
		code []byte
		err  string
	}{
		{[]byte{0x03, 0x40, 0x41, 0, 0x24, 0, 0x0c, 0, end}, "body offset 5: global 0 does not exist"}, // loop flag = 0 br 0 end
		{[]byte{0x03, 0x40, 0x41, 9, 0x24, 1, 0x0c, 0, end}, "body offset 5: global 1 does not exist"}, // loop budget = 9 br 0 end
		{[]byte{0x23, 0, 0x1a}, "body offset 1: global 0 does not exist"},                              // read the flag
	}
	for _, tc := range cases {
		clearing := module(
			sec(1, vec(typeVoid)),
			sec(3, vec([]byte{0})),
			memory,
			sec(7, vec(exportFunc("spin", 0))),
			sec(10, vec(body(tc.code...))),
		)
		_, err := Instrument(clearing)
		assert.ErrorContains(t, err, "code section: function body 0: instruction at "+tc.err)
	}
}

// TestInstrumentKeepsBehaviour: the rewritten module computes what the
// original does, with every global where it was, and loses only its
// DWARF.
func TestInstrumentKeepsBehaviour(t *testing.T) {
	ctx := context.Background()
	out, err := Instrument(counter)
	require.NoError(t, err)
	assert.NotContains(t, string(out), ".debug_line")
	assert.Contains(t, string(out), "producers")

	// env exports what counter imports: (global (export "base") i32
	// (i32.const 7)) and a memory.
	env := module(
		memory,
		sec(6, vec([]byte{i32, 0x00, 0x41, 7, end})),
		sec(7, vec(cat(name("base"), []byte{0x03, 0x00}), cat(name("memory"), []byte{0x02, 0x00}))),
	)
	for _, wasm := range [][]byte{counter, out} {
		rt := newRuntime(t)
		_, err := rt.InstantiateWithConfig(ctx, env, wazero.NewModuleConfig().WithName("env"))
		require.NoError(t, err)
		mod := instantiate(t, rt, wasm)
		res, err := mod.ExportedFunction("sum").Call(ctx)
		require.NoError(t, err)
		assert.Equal(t, uint64(55+7+50), res[0])
	}
}

// TestInstrumentCreatesSections: a module with neither a global nor an
// export section gets both, in their places among the others.
func TestInstrumentCreatesSections(t *testing.T) {
	bare := module(
		sec(1, vec(typeVoid)),
		sec(3, vec([]byte{0})),
		memory,
		sec(12, uleb(0)), // data count: no data
		sec(10, vec(body())),
	)
	out, err := Instrument(bare)
	require.NoError(t, err)
	mod := instantiate(t, newRuntime(t), out)
	_, ok := mod.ExportedGlobal(Export).(api.MutableGlobal)
	assert.True(t, ok)
}

// TestInstrumentRefuses: what cannot be rewritten is refused, saying
// where.
func TestInstrumentRefuses(t *testing.T) {
	cases := []struct {
		test string
		wasm []byte
		err  string
	}{
		{"bad magic", []byte("\x00asn\x01\x00\x00\x00"), "bad magic"},
		{"short", []byte("\x00asm"), "bad magic"},
		{"version", []byte("\x00asm\x02\x00\x00\x00"), "version 2"},
		{"section past the end", cat(module(), []byte{1, 9, 0}), "section at byte 8: 9 bytes run past"},
		{"unknown section", module(sec(14, []byte{0})), "unknown section id 14"},
		{"reserved export", module(memory, sec(7, vec(exportFunc(Export, 0)))), "export section: the module exports \"wasmhttpd.interrupt\""},
		{"unknown opcode", module(memory, sec(10, vec(body(0x06)))), "code section: function body 0: instruction at body offset 1: unknown opcode 0x6"},
		{"truncated immediate", module(memory, sec(10, vec(body(0x44)))), "function body 0: instruction at body offset 1: truncated"},
		{"body past the section", module(memory, sec(10, []byte{1, 9, 0})), "function body 0: 9 bytes run past the section"},
		{"bytes after the bodies", module(memory, sec(10, vec(body()), []byte{0})), "1 bytes after the last function body"},
		{"no memory", module(sec(10, vec(body()))), "no memory"},
		{"start function", module(sec(1, vec(typeVoid)), sec(3, vec([]byte{0})), memory, sec(8, uleb(0)), sec(10, vec(body()))), "start section: a start function would run as the module is instantiated"},
		{"unknown import kind", module(sec(2, vec(cat(name("a"), name("b"), []byte{0x09})))), "import section: import 0: unknown kind 0x9"},
	}
	for _, tc := range cases {
		t.Run(tc.test, func(t *testing.T) {
			_, err := Instrument(tc.wasm)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.err)
		})
	}
}

// TestSkipInstruction: each kind of immediate is skipped whole, so that
// the rewrite never reads an immediate's byte as an opcode.
func TestSkipInstruction(t *testing.T) {
	cases := []struct {
		test string
		code []byte
	}{
		{"nop", []byte{0x01}},
		{"block empty", []byte{0x02, 0x40}},
		{"loop value", []byte{0x03, 0x7b}},
		{"if type index", []byte{0x04, 0x85, 0x01}},
		{"block ref null func", []byte{0x02, 0x63, 0x70}},
		{"loop ref type index", []byte{0x03, 0x64, 0x8c, 0x01}},
		{"block ref null, stretched", []byte{0x02, 0xe3, 0x7f, 0x70}},
		{"block type index, 5 bytes", []byte{0x02, 0x80, 0x80, 0x80, 0x80, 0x00}},
		{"br_table", []byte{0x0e, 0x02, 0x00, 0x81, 0x01, 0x02}},
		{"call_indirect", []byte{0x11, 0x80, 0x01, 0x00}},
		{"return_call", []byte{0x12, 0x03}},
		{"select typed", []byte{0x1c, 0x02, 0x7f, 0x70}},
		{"local.get", []byte{0x20, 0xff, 0x7f}},
		{"i32.load memarg", []byte{0x28, 0x02, 0x80, 0x80, 0x04}},
		{"load with memory index", []byte{0x28, 0x42, 0x01, 0x10}},
		{"memory.grow", []byte{0x40, 0x00}},
		{"i32.const", []byte{0x41, 0x80, 0x80, 0x80, 0x80, 0x78}},
		{"i64.const", []byte{0x42, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00}},
		{"f32.const", []byte{0x43, 0x03, 0x03, 0x03, 0x03}},
		{"f64.const", []byte{0x44, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03}},
		{"i64.extend32_s", []byte{0xc4}},
		{"ref.null", []byte{0xd0, 0x70}},
		{"ref.func", []byte{0xd2, 0x05}},
		{"trunc_sat", []byte{0xfc, 0x07}},
		{"memory.init", []byte{0xfc, 0x08, 0x01, 0x00}},
		{"memory.copy", []byte{0xfc, 0x0a, 0x00, 0x00}},
		{"table.fill", []byte{0xfc, 0x11, 0x00}},
		{"v128.load", []byte{0xfd, 0x00, 0x04, 0x00}},
		{"v128.const", append([]byte{0xfd, 0x0c}, make([]byte, 16)...)},
		{"i8x16.shuffle", append([]byte{0xfd, 0x0d}, make([]byte, 16)...)},
		{"extract_lane", []byte{0xfd, 0x15, 0x0f}},
		{"load8_lane", []byte{0xfd, 0x54, 0x00, 0x00, 0x07}},
		{"load64_zero", []byte{0xfd, 0x5d, 0x03, 0x08}},
		{"i32x4.add (two-byte opcode)", []byte{0xfd, 0xae, 0x01}},
		{"atomic.fence", []byte{0xfe, 0x03, 0x00}},
		{"i32.atomic.rmw.add", []byte{0xfe, 0x1e, 0x02, 0x00}},
	}
	for _, tc := range cases {
		t.Run(tc.test, func(t *testing.T) {
			code := append(append([]byte{}, tc.code...), end)
			next, err := skipInstruction(code, 0)
			require.NoError(t, err)
			assert.Equal(t, len(tc.code), next)
			if len(tc.code) > 1 {
				_, err = skipInstruction(tc.code[:len(tc.code)-1], 0)
				assert.Error(t, err, "a truncated immediate is an error")
			}
		})
	}
}

// FuzzInstrument: no input panics the rewrite, and whatever wazero
// compiles, it compiles rewritten too, checked as walker reads it.
func FuzzInstrument(f *testing.F) {
	for _, seed := range [][]byte{spinner, counter, hidden, module(memory), module(memory, sec(10, vec(body(0x03, 0x40, 0x0b))))} {
		f.Add(seed)
	}
	rt := newRuntime(f)
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, wasm []byte) {
		out, err := Instrument(wasm)
		if !plausible(wasm) {
			return
		}
		compiled, cerr := rt.CompileModule(ctx, wasm)
		if cerr != nil {
			return
		}
		compiled.Close(ctx)
		if errors.Is(err, errNoMemory) || errors.Is(err, errStart) {
			return // refused on purpose
		}
		require.NoError(t, err, "wazero compiles the module, the rewrite must take it")
		compiled, err = rt.CompileModule(ctx, out)
		require.NoError(t, err, "the rewritten module must compile")
		compiled.Close(ctx)
		assertInstrumented(t, wasm, out)
	})
}

// plausible reports whether no section of wasm declares more items than
// it has bytes: wazero's decoder sizes its slices by the declared counts,
// and a fuzzed count of four billion would end the fuzzer out of memory.
func plausible(wasm []byte) bool {
	sections, err := split(wasm)
	if err != nil {
		return false
	}
	for _, s := range sections {
		if s.id == sectionCustom || s.id == 8 || s.id == sectionDataCnt {
			continue // not vectors
		}
		if n, _, err := readU32(s.payload, 0); err != nil || int64(n) > int64(len(s.payload)) {
			return false
		}
	}
	return true
}
